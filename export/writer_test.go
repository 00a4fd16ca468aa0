package export_test

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// genFlows returns n random flows of o.
func genFlows(seed uint64, n int, o genOptions) []netflow.Flow {
	r := rand.New(rand.NewPCG(seed, 7))
	flows := make([]netflow.Flow, n)
	for i := range flows {
		flows[i] = randomFlow(r, o)
	}
	return flows
}

// write writes flows with cfg (Now fixed at testExport unless set) and
// returns the messages.
func write(t testing.TB, cfg export.Config, flows []netflow.Flow) [][]byte {
	t.Helper()
	msgs, _ := writeStats(t, cfg, flows)
	return msgs
}

// writeStats is write, with the writer's counters after its Flush.
func writeStats(t testing.TB, cfg export.Config, flows []netflow.Flow) ([][]byte, export.Stats) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	var out messages
	w, err := export.NewWriter(&out, cfg)
	require.NoError(t, err)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	return out.msgs, w.Stats()
}

// TestSequenceNumbers checks each version's sequence number (RFC 3954
// section 5.1: v9 counts export packets; RFC 7011 section 3.1: IPFIX counts
// data records, options data included, sent before the message; Cisco's
// v5 and v7 count flows), per domain, from the decoded headers, and that
// the decoder's loss tracking sees nothing lost.
func TestSequenceNumbers(t *testing.T) {
	for _, v := range []uint16{5, 7, 9, 10} {
		t.Run("v"+itoa(v), func(t *testing.T) {
			n := testkit.SoakSize(3000, 100_000)
			msgs := write(t, export.Config{Version: v}, genFlows(uint64(v), n, genOptions{version: v, ipv6: true, domains: 3, sampling: true}))
			dec := netflow.NewDecoder(netflow.Config{})
			next := map[uint32]uint32{} // per domain: the next sequence number
			for i, m := range msgs {
				p, err := dec.Decode(testExporter, m)
				require.NoError(t, err)
				var dom, seq, count uint32
				switch p := p.(type) {
				case *netflow.V5Packet:
					dom, seq, count = p.Header.Domain(), p.Header.FlowSequence, uint32(len(p.Records))
				case *netflow.V7Packet:
					seq, count = p.Header.FlowSequence, uint32(len(p.Records))
				case *netflow.V9Packet:
					dom, seq, count = p.Header.SourceID, p.Header.Sequence, 1
				case *netflow.IPFIXPacket:
					dom, seq = p.Header.ObservationDomainID, p.Header.Sequence
					for _, ds := range p.DataSets {
						count += uint32(len(ds.Records))
					}
				}
				require.Equal(t, next[dom], seq, "message %d, domain %d", i, dom)
				next[dom] = seq + count
			}
			if v != 7 {
				require.Len(t, next, 3, "domains")
			}
			st := dec.Stats()
			require.NotEmpty(t, st.Sequences)
			for _, s := range st.Sequences {
				require.Zero(t, s.Lost+s.Late+s.Duplicates+s.Restarts, "%+v", s)
			}
		})
	}
}

func itoa(v uint16) string { return string(rune('0'+v/10%10)) + string(rune('0'+v%10)) }

// TestPacking checks that messages hold as many records as the MTU and the
// version allow: v5 datagrams of 1464 bytes hold Cisco's 30 records, of the
// default 1400 bytes 28; IPFIX messages fill to within one record of it.
func TestPacking(t *testing.T) {
	flows := genFlows(1, 300, genOptions{version: 5})
	for _, c := range []struct {
		version uint16
		mtu     int
		per     int
	}{{5, 1500, 30}, {5, 0, 28}, {1, 1500, 24}, {7, 1500, 27}, {7, 0, 26}} {
		msgs := write(t, export.Config{Version: c.version, MTU: c.mtu}, flows)
		for i, m := range msgs[:len(msgs)-1] {
			require.Equal(t, c.per, int(be16(m[2:])), "v%d MTU %d message %d count", c.version, c.mtu, i)
		}
	}
	// IPFIX, one template: every message but the last is full.
	o := genOptions{version: 10}
	msgs := write(t, export.Config{Version: 10, MTU: 600}, genFlows(2, 500, o))
	rec := 0
	for i, m := range msgs {
		require.LessOrEqual(t, len(m), 600)
		p, err := netflow.Decode(testExporter, m, nil)
		if i == 0 {
			// The template went with the first message only; a new
			// decoder per message needs it: decode them in order instead.
			require.NoError(t, err)
			rec = p.(*netflow.IPFIXPacket).DataSets[0].Template.MinRecordLen()
		}
		_ = p
		if i < len(msgs)-1 {
			require.Greater(t, len(m)+rec, 600, "message %d of %d bytes has room for another record", i, len(m))
		}
	}
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// templateCounts decodes msgs in order and returns the templates each
// defined.
func templateCounts(t *testing.T, msgs [][]byte) []int {
	dec := netflow.NewDecoder(netflow.Config{})
	var n []int
	for _, m := range msgs {
		p, err := dec.Decode(testExporter, m)
		require.NoError(t, err)
		switch p := p.(type) {
		case *netflow.V9Packet:
			n = append(n, len(p.Templates))
		case *netflow.IPFIXPacket:
			n = append(n, len(p.Templates))
		}
	}
	return n
}

// TestRefresh checks that templates and options go out again every
// RefreshMessages messages of a domain, and after RefreshInterval, over
// UDP; and once only over a stream.
func TestRefresh(t *testing.T) {
	o := genOptions{version: 10, sampling: true}
	flows := genFlows(3, 20*25, o)
	for i := range flows {
		flows[i].SamplingInterval = 100
		flows[i].Known |= netflow.FieldSamplingInterval
	}
	// Every 5 messages: the data template and the sampler options
	// template.
	counts := templateCounts(t, write(t, export.Config{Version: 10, RefreshMessages: 5, RefreshInterval: -1}, flows))
	require.Greater(t, len(counts), 10)
	for i, n := range counts {
		want := 0
		if i%5 == 0 {
			want = 2
		}
		require.Equal(t, want, n, "message %d: %v", i, counts)
	}
	// By time: a clock that moves 20 s a message, refresh every minute.
	now := testExport
	clock := func() time.Time { now = now.Add(20 * time.Second); return now }
	counts = templateCounts(t, write(t, export.Config{Version: 9, Now: clock, RefreshMessages: -1, RefreshInterval: time.Minute}, flows))
	for i, n := range counts {
		want := 0
		if i%3 == 0 {
			want = 2
		}
		require.Equal(t, want, n, "message %d: %v", i, counts)
	}
	// A stream: once.
	counts = templateCounts(t, write(t, export.Config{Version: 10, Stream: true, MTU: 1400}, flows))
	require.Equal(t, 2, counts[0])
	for _, n := range counts[1:] {
		require.Zero(t, n)
	}
}

// TestMixedTemplates checks that IPv4 and IPv6 flows get separate
// templates and that flows keep their order across sets and messages.
func TestMixedTemplates(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("2001:db8::1")
	known := netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldPackets
	var flows []netflow.Flow
	for i := range 200 {
		f := netflow.Flow{SrcAddr: a, DstAddr: a, Packets: uint64(i), Known: known}
		if i%3 == 1 {
			f.SrcAddr, f.DstAddr = b, b
		}
		flows = append(flows, f)
	}
	for _, v := range []uint16{9, 10} {
		msgs := roundTrip(t, export.Config{Version: v}, flows)
		dec := netflow.NewDecoder(netflow.Config{})
		ids := map[uint16][]netflow.TemplateField{}
		for _, m := range msgs {
			p, err := dec.Decode(testExporter, m)
			require.NoError(t, err)
			for _, tm := range setsOf(p).Templates {
				ids[tm.ID] = tm.Fields
			}
		}
		require.Len(t, ids, 2, "v%d templates", v)
		require.Equal(t, []netflow.TemplateField{{ID: 8, Length: 4}, {ID: 12, Length: 4}, {ID: 2, Length: 8}}, ids[256])
		require.Equal(t, []netflow.TemplateField{{ID: 27, Length: 16}, {ID: 28, Length: 16}, {ID: 2, Length: 8}}, ids[257])
	}
}

// TestRefusals checks that a value the version cannot carry is an error
// errors.Is matches, that the flow is left out, and that the flows around
// it are written.
func TestRefusals(t *testing.T) {
	ok := netflow.Flow{SrcAddr: netip.MustParseAddr("10.0.0.1"), Packets: 5, Known: netflow.FieldSrcAddr | netflow.FieldPackets}
	v6 := ok
	v6.SrcAddr = netip.MustParseAddr("2001:db8::1")
	big := ok
	big.Packets = 1 << 40
	wideIf := ok
	wideIf.InIf, wideIf.Known = 70000, ok.Known|netflow.FieldInIf
	oldStart := ok
	oldStart.Start, oldStart.Known = testExport.Add(-30*24*time.Hour), ok.Known|netflow.FieldStart
	before1970 := ok
	before1970.Start, before1970.Known = time.Unix(-5, 0), ok.Known|netflow.FieldStart
	mpls := ok
	mpls.MPLSLabel, mpls.Known = 1<<20, ok.Known|netflow.FieldMPLSLabel
	sampling := ok
	sampling.SamplingInterval, sampling.Known = 0x4000, ok.Known|netflow.FieldSamplingInterval
	wideDomain := ok
	wideDomain.Domain, wideDomain.Known = 0x10000, ok.Known|netflow.FieldDomain
	ntp := ok
	ntp.Start, ntp.Known = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), ok.Known|netflow.FieldStart
	nothing := netflow.Flow{Known: netflow.FieldScaled}

	for _, c := range []struct {
		name     string
		cfg      export.Config
		bad      netflow.Flow
		sentinel error
	}{
		{"v5 IPv6", export.Config{Version: 5}, v6, export.ErrRange},
		{"v5 packets", export.Config{Version: 5}, big, export.ErrRange},
		{"v5 interface", export.Config{Version: 5}, wideIf, export.ErrRange},
		{"v5 old start", export.Config{Version: 5}, oldStart, export.ErrRange},
		{"v5 sampling", export.Config{Version: 5}, sampling, export.ErrRange},
		{"v5 domain", export.Config{Version: 5}, wideDomain, export.ErrRange},
		{"v1 before 1970", export.Config{Version: 1}, before1970, export.ErrRange},
		{"v9 old start", export.Config{Version: 9}, oldStart, export.ErrRange},
		{"v9 MPLS", export.Config{Version: 9}, mpls, export.ErrRange},
		{"ipfix before 1970", export.Config{Version: 10}, before1970, export.ErrRange},
		{"ipfix NTP era", export.Config{Version: 10, TimeFormat: export.TimeNanos}, ntp, export.ErrRange},
		{"ipfix uptime before boot", export.Config{Version: 10, TimeFormat: export.TimeUptime}, oldStart, export.ErrRange},
		{"ipfix nothing", export.Config{Version: 10}, nothing, netflow.ErrMalformed},
		{"caller template 4-byte packets", export.Config{Version: 10, Fields: []netflow.TemplateField{{ID: 2, Length: 4}}}, big, export.ErrRange},
		{"caller template IPv4 only", export.Config{Version: 10, Fields: []netflow.TemplateField{{ID: 8, Length: 4}}}, v6, export.ErrRange},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Now = fixedNow
			var out messages
			w, err := export.NewWriter(&out, c.cfg)
			require.NoError(t, err)
			err = w.WriteFlows([]netflow.Flow{ok, c.bad, ok, c.bad, ok})
			require.ErrorIs(t, err, c.sentinel)
			require.ErrorIs(t, err, netflow.ErrMalformed, "every refusal of a value is malformed input")
			require.Regexp(t, `^flow 1: netflow: .* \(and 1 more refused\)$`, err.Error())
			require.NoError(t, w.Flush())
			require.Len(t, decodeAll(t, out.msgs), 3, "the good flows")
			require.Equal(t, uint64(2), w.Stats().Refused)
		})
	}
}

// TestConfigErrors checks what NewWriter refuses.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      export.Config
		sentinel error
	}{
		{"v6", export.Config{Version: 6}, netflow.ErrUnsupportedVersion},
		{"v8", export.Config{Version: 8}, netflow.ErrUnsupportedVersion},
		{"v5 MTU below a record", export.Config{Version: 5, MTU: 71}, netflow.ErrLimit},
		{"MTU above 65535", export.Config{Version: 10, MTU: 70000}, netflow.ErrLimit},
		{"v9 stream", export.Config{Version: 9, Stream: true}, netflow.ErrMalformed},
		{"template larger than the MTU", export.Config{Version: 10, MTU: 40, Fields: []netflow.TemplateField{
			{ID: 8, Length: 4}, {ID: 12, Length: 4}, {ID: 7, Length: 2}, {ID: 11, Length: 2}, {ID: 4, Length: 1}}}, netflow.ErrLimit},
		{"unknown element", export.Config{Version: 10, Fields: []netflow.TemplateField{{ID: 82, Length: 16}}}, netflow.ErrMalformed},
		{"address of 6 bytes", export.Config{Version: 10, Fields: []netflow.TemplateField{{ID: 8, Length: 6}}}, netflow.ErrMalformed},
		{"variable length", export.Config{Version: 10, Fields: []netflow.TemplateField{{ID: 2, Length: netflow.VariableLength}}}, netflow.ErrMalformed},
		{"enterprise element in v9", export.Config{Version: 9, Fields: []netflow.TemplateField{{ID: 2, Length: 8, PEN: 9}}}, netflow.ErrMalformed},
		{"sampling mode", export.Config{Version: 5, SamplingMode: 3}, export.ErrRange},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := export.NewWriter(&messages{}, c.cfg)
			require.ErrorIs(t, err, c.sentinel)
			require.Nil(t, w)
			require.Regexp(t, "^netflow: ", err.Error())
		})
	}
}

// TestNoOutput checks that a Writer needs an output.
func TestNoOutput(t *testing.T) {
	w, err := export.NewWriter(nil, export.Config{Version: 10})
	require.ErrorIs(t, err, netflow.ErrMalformed)
	require.Nil(t, w)
}

// TestRecordTooLarge checks that a record that cannot fit in an empty
// message is refused with ErrLimit, not sent in a message above the MTU.
func TestRecordTooLarge(t *testing.T) {
	f := netflow.Flow{SrcAddr: netip.MustParseAddr("2001:db8::1"), DstAddr: netip.MustParseAddr("2001:db8::2"),
		NextHop: netip.MustParseAddr("2001:db8::3"), Known: netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldNextHop}
	var out messages
	// The template (4+12 bytes) fits in 16+4+16 bytes; with a 48-byte
	// record it does not.
	w, err := export.NewWriter(&out, export.Config{Version: 10, MTU: 60, Now: fixedNow})
	require.NoError(t, err)
	err = w.WriteFlows([]netflow.Flow{f})
	require.ErrorIs(t, err, netflow.ErrLimit)
	require.NoError(t, w.Flush())
	require.Empty(t, out.msgs)
}

// failing is an output that fails every write.
type failing struct{ n int }

func (f *failing) Write(b []byte) (int, error) {
	f.n++
	return 0, errors.New("no route")
}

// TestOutputError checks that an output error ends WriteFlows with that
// error, and that the templates are sent again afterwards.
func TestOutputError(t *testing.T) {
	flows := genFlows(4, 100, genOptions{version: 10})
	var fail failing
	w, err := export.NewWriter(&fail, export.Config{Version: 10, Now: fixedNow})
	require.NoError(t, err)
	err = w.WriteFlows(flows)
	require.EqualError(t, err, "no route")
	require.Equal(t, 1, fail.n)
	var out messages
	w.Reset(&out)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	require.Len(t, decodeAll(t, out.msgs), len(flows))
}

// TestPlacement checks that WriteFlow says where each flow went: its
// message's header values and its record, as the decoder reads them.
func TestPlacement(t *testing.T) {
	for _, v := range []uint16{5, 9, 10} {
		flows := genFlows(31, 200, genOptions{version: v, ipv6: true, domains: 2, sampling: true})
		var out messages
		w, err := export.NewWriter(&out, export.Config{Version: v, Now: fixedNow, TimeFormat: export.TimeUptime})
		require.NoError(t, err)
		type placed struct {
			p       export.Placement
			record  []byte
			options [][]byte
		}
		var ps []placed
		for i := range flows {
			p, err := w.WriteFlow(&flows[i])
			require.NoError(t, err)
			pl := placed{p: p, record: slices.Clone(p.Record)}
			for _, o := range p.Options {
				pl.options = append(pl.options, slices.Clone(o.Data))
			}
			ps = append(ps, pl)
		}
		require.NoError(t, w.Flush())
		// Decode, and find each flow's record by domain order.
		dec := netflow.NewDecoder(netflow.Config{})
		type rec struct {
			domain, seq uint32
			data        []byte
			options     [][]byte
		}
		recs := map[uint32][]rec{}
		for _, m := range out.msgs {
			p, err := dec.Decode(testExporter, m)
			require.NoError(t, err)
			switch p := p.(type) {
			case *netflow.V5Packet:
				for i := range p.Records {
					recs[p.Header.Domain()] = append(recs[p.Header.Domain()], rec{domain: p.Header.Domain(), seq: p.Header.FlowSequence, data: m[24+48*i : 24+48*(i+1)]})
				}
			default:
				h, _ := export.HeaderOf(p)
				var sets *netflow.Sets
				var seq uint32
				if p9, ok := p.(*netflow.V9Packet); ok {
					sets, seq = &p9.Sets, p9.Header.Sequence
				} else {
					sets, seq = &p.(*netflow.IPFIXPacket).Sets, p.(*netflow.IPFIXPacket).Header.Sequence
				}
				var opts [][]byte
				for _, ds := range sets.DataSets {
					for _, r := range ds.Records {
						if ds.Options() {
							opts = append(opts, r.Data)
							continue
						}
						recs[h.Domain] = append(recs[h.Domain], rec{domain: h.Domain, seq: seq, data: r.Data, options: opts})
						opts = nil
					}
				}
			}
		}
		for i, pl := range ps {
			d := pl.p.Domain
			require.NotEmpty(t, recs[d], "flow %d", i)
			r := recs[d][0]
			recs[d] = recs[d][1:]
			require.Equal(t, r.seq, pl.p.Sequence, "v%d flow %d", v, i)
			require.Equal(t, r.data, pl.record, "v%d flow %d", v, i)
			require.Equal(t, r.options, pl.options, "v%d flow %d", v, i)
			require.Equal(t, testExport.Truncate(time.Second).Unix(), pl.p.ExportTime.Unix())
		}
	}
}
