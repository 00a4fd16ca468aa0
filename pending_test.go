package netflow

// Data sets that arrive before their template: held in the pending buffer,
// bounded, expired, and decoded when the template comes.

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is an injectable Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withExportTime returns a copy of a built v9 or IPFIX datagram whose
// header export time is secs.
func withExportTime(b []byte, secs uint32) []byte {
	b = append([]byte(nil), b...)
	if binary.BigEndian.Uint16(b) == 9 {
		binary.BigEndian.PutUint32(b[8:], secs)
	} else {
		binary.BigEndian.PutUint32(b[4:], secs)
	}
	return b
}

// pendingCase is one export version's template and data datagrams, both
// of source ID / domain 1 and template 256.
type pendingCase struct {
	name             string
	version          uint16
	template         []byte
	data             func(seq uint32, n int) []byte
	sameDatagramData func(n int) []byte // data set first, then the template
}

func pendingCases() []pendingCase {
	return []pendingCase{
		{
			name:     "v9",
			version:  9,
			template: buildV9Template(),
			data: func(seq uint32, n int) []byte {
				return v9Packet(1, seq, set(benchTemplateID, flowRecords(v9BenchFields, n), true))
			},
			sameDatagramData: func(n int) []byte {
				return v9Packet(1, 2,
					set(benchTemplateID, flowRecords(v9BenchFields, n), true),
					set(0, templateRecord(benchTemplateID, v9BenchFields...), false))
			},
		},
		{
			name:     "IPFIX",
			version:  10,
			template: buildIPFIXTemplate(),
			data: func(seq uint32, n int) []byte {
				return ipfixMessage(1, seq, set(benchTemplateID, flowRecords(ipfixBenchFields, n), false))
			},
			sameDatagramData: func(n int) []byte {
				return ipfixMessage(1, 0,
					set(benchTemplateID, flowRecords(ipfixBenchFields, n), false),
					set(2, templateRecord(benchTemplateID, ipfixBenchFields...), false))
			},
		},
	}
}

func packetSets(t *testing.T, p Packet) *Sets {
	t.Helper()
	switch p := p.(type) {
	case *V9Packet:
		return &p.Sets
	case *IPFIXPacket:
		return &p.Sets
	}
	require.Failf(t, "no sets", "packet %T has no sets", p)
	return nil
}

// checkBuiltFlows checks flows decoded from n records of the builders'
// flows, exported at export (the builders' export time shifted).
func checkBuiltFlows(t *testing.T, flows []Flow, n int, version uint16, exporter netip.AddrPort, seq uint32, export time.Time) {
	t.Helper()
	require.Len(t, flows, n)
	shift := export.Sub(buildExport)
	for i, f := range flows {
		w := testFlowN(i)
		require.Equal(t, exporter, f.Exporter)
		require.Equal(t, version, f.Version)
		require.Equal(t, uint32(1), f.Domain)
		require.Equal(t, seq, f.Sequence)
		require.Equal(t, w.Src, f.SrcAddr)
		require.Equal(t, w.Dst, f.DstAddr)
		require.Equal(t, w.SrcPort, f.SrcPort)
		require.Equal(t, w.DstPort, f.DstPort)
		require.Equal(t, uint64(w.Packets), f.Packets)
		require.Equal(t, uint64(w.Octets), f.Bytes)
		if version == 9 {
			// Uptimes are turned into times with the header of the
			// datagram the data came in, not the template's.
			require.Equal(t, w.Start().Add(shift), f.Start)
			require.Equal(t, w.End().Add(shift), f.End)
		} else {
			// flowStart/EndMilliseconds are absolute.
			require.Equal(t, w.Start(), f.Start)
			require.Equal(t, w.End(), f.End)
		}
	}
}

func TestPendingAcrossDatagrams(t *testing.T) {
	for _, c := range pendingCases() {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			// The data datagram: sequence 7, exported 30 s before the
			// template datagram.
			dataExport := uint32(buildUnixSecs - 30)
			p, err := d.Decode(testExporter, withExportTime(c.data(7, 3), dataExport))
			require.NoError(t, err)
			s := packetSets(t, p)
			require.Equal(t, 1, s.Pending)
			require.Empty(t, s.DataSets)
			require.Zero(t, p.FlowCount())
			require.Empty(t, p.AppendFlows(nil))
			st := d.Stats().Pending
			require.Equal(t, 1, st.Held)
			require.Equal(t, uint64(1), st.Added)
			require.Positive(t, st.Bytes)
			ps := d.PendingSets()
			require.Len(t, ps, 1)
			require.Equal(t, TemplateKey{Exporter: testExporter, Version: c.version, Domain: 1, ID: benchTemplateID}, ps[0].Key)
			require.Positive(t, ps[0].Bytes)
			require.LessOrEqual(t, ps[0].Bytes, st.Bytes)

			// The template datagram brings the flows out, late.
			p, err = d.Decode(testExporter, c.template)
			require.NoError(t, err)
			s = packetSets(t, p)
			require.Zero(t, s.Pending)
			require.Len(t, s.Templates, 1)
			require.Len(t, s.DataSets, 1)
			ds := s.DataSets[0]
			require.True(t, ds.Late)
			require.False(t, ds.Options())
			require.Equal(t, uint16(benchTemplateID), ds.TemplateID)
			require.Equal(t, uint32(7), ds.Sequence)
			require.Equal(t, time.Unix(int64(dataExport), 0).UTC(), ds.ExportTime)
			require.Len(t, ds.Records, 3)
			checkBuiltFlows(t, p.AppendFlows(nil), 3, c.version, testExporter, 7, time.Unix(int64(dataExport), 0).UTC())

			st = d.Stats().Pending
			require.Zero(t, st.Held)
			require.Zero(t, st.Bytes)
			require.Equal(t, uint64(1), st.Matched)
			require.Empty(t, d.PendingSets())

			// Once known, data decodes in its own datagram, not late.
			p, err = d.Decode(testExporter, c.data(8, 2))
			require.NoError(t, err)
			s = packetSets(t, p)
			require.Len(t, s.DataSets, 1)
			require.False(t, s.DataSets[0].Late)
			require.Equal(t, 2, p.FlowCount())
		})
	}
}

func TestPendingSameDatagram(t *testing.T) {
	for _, c := range pendingCases() {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			p, err := d.Decode(testExporter, c.sameDatagramData(4))
			require.NoError(t, err)
			s := packetSets(t, p)
			require.Zero(t, s.Pending)
			require.Len(t, s.DataSets, 1)
			require.True(t, s.DataSets[0].Late, "a set before its template in the same datagram is late")
			seq := uint32(0) // the builders' IPFIX sequence
			if c.version == 9 {
				seq = 2
			}
			checkBuiltFlows(t, p.AppendFlows(nil), 4, c.version, testExporter, seq, buildExport)
			// It never went through the buffer.
			require.Equal(t, PendingStats{}, d.Stats().Pending)
		})
	}
}

// TestPendingArrivalOrder checks that sets held for several templates come
// out in the order they arrived, not grouped by template.
func TestPendingArrivalOrder(t *testing.T) {
	fieldsA := []tmplField{{8, 4, 0}, {12, 4, 0}, {2, 4, 0}}
	fieldsB := []tmplField{{8, 4, 0}, {12, 4, 0}, {1, 4, 0}, {2, 4, 0}}
	d := NewDecoder(Config{})
	// Sets for 258, 257, 258 in one datagram and 257 in the next.
	data1 := ipfixMessage(1, 10,
		set(258, flowRecords(fieldsB, 1), false),
		set(257, flowRecords(fieldsA, 2), false),
		set(258, flowRecords(fieldsB, 3), false))
	data2 := ipfixMessage(1, 16, set(257, flowRecords(fieldsA, 4), false))
	for _, m := range [][]byte{data1, data2} {
		_, err := d.Decode(testExporter, m)
		require.NoError(t, err)
	}
	require.Equal(t, 4, d.Stats().Pending.Held)
	// One message defines 257 and 258 (in that order).
	p, err := d.Decode(testExporter, ipfixMessage(1, 20,
		set(2, append(templateRecord(257, fieldsA...), templateRecord(258, fieldsB...)...), false)))
	require.NoError(t, err)
	s := packetSets(t, p)
	var got []uint16
	var records []int
	var seqs []uint32
	for _, ds := range s.DataSets {
		require.True(t, ds.Late)
		got = append(got, ds.TemplateID)
		records = append(records, len(ds.Records))
		seqs = append(seqs, ds.Sequence)
	}
	require.Equal(t, []uint16{258, 257, 258, 257}, got, "late sets in arrival order")
	require.Equal(t, []int{1, 2, 3, 4}, records)
	require.Equal(t, []uint32{10, 10, 10, 16}, seqs)
}

func TestPendingLimits(t *testing.T) {
	other := netip.MustParseAddrPort("198.51.100.7:2055")
	t.Run("sets per exporter", func(t *testing.T) {
		d := NewDecoder(Config{Pending: PendingLimits{MaxSetsPerExporter: 2}})
		for seq := range uint32(2) {
			p, err := d.Decode(testExporter, buildIPFIXData(1))
			require.NoError(t, err, "set %d", seq)
			require.Equal(t, 1, packetSets(t, p).Pending)
		}
		p, err := d.Decode(testExporter, buildIPFIXData(1))
		require.ErrorIs(t, err, ErrLimit)
		require.Zero(t, packetSets(t, p).Pending)
		st := d.Stats().Pending
		require.Equal(t, uint64(1), st.Refused)
		require.Equal(t, 2, st.Held)

		// Another exporter is unaffected.
		p, err = d.Decode(other, buildIPFIXData(1))
		require.NoError(t, err)
		require.Equal(t, 1, packetSets(t, p).Pending)
		require.Equal(t, 3, d.Stats().Pending.Held)

		// The template releases the two held sets of its exporter only.
		p, err = d.Decode(testExporter, buildIPFIXTemplate())
		require.NoError(t, err)
		require.Equal(t, 2, p.FlowCount())
		st = d.Stats().Pending
		require.Equal(t, 1, st.Held)
		require.Equal(t, uint64(2), st.Matched)
		require.Equal(t, other, d.PendingSets()[0].Key.Exporter)
	})
	t.Run("bytes per exporter", func(t *testing.T) {
		// What a held set of n records counts against the byte limits,
		// as PendingStats reports it: its body's copy as the allocator
		// sizes it, and the bookkeeping per set; an exporter's queue
		// counts pendingQueueOverhead once.
		record := len(flowRecords(ipfixBenchFields, 1))
		cost := func(n int) int { return cap(append([]byte(nil), make([]byte, n*record)...)) + pendingSetOverhead }
		probe := NewDecoder(Config{})
		_, err := probe.Decode(testExporter, buildIPFIXData(1))
		require.NoError(t, err)
		require.Equal(t, pendingQueueOverhead+cost(1), probe.Stats().Pending.Bytes)
		_, err = probe.Decode(testExporter, buildIPFIXData(2))
		require.NoError(t, err)
		require.Equal(t, pendingQueueOverhead+cost(1)+cost(2), probe.Stats().Pending.Bytes)

		limit := pendingQueueOverhead + cost(2) + cost(1)
		d := NewDecoder(Config{Pending: PendingLimits{MaxBytesPerExporter: limit}})
		_, err = d.Decode(testExporter, buildIPFIXData(2))
		require.NoError(t, err)
		_, err = d.Decode(testExporter, buildIPFIXData(2)) // over
		require.ErrorIs(t, err, ErrLimit)
		_, err = d.Decode(testExporter, buildIPFIXData(1)) // fits exactly
		require.NoError(t, err)
		big := limit/record + 1
		require.Greater(t, cost(big), limit)
		_, err = d.Decode(other, buildIPFIXData(big)) // alone over the limit
		require.ErrorIs(t, err, ErrLimit)
		st := d.Stats().Pending
		require.Equal(t, uint64(2), st.Refused)
		require.Equal(t, 2, st.Held)
		require.Equal(t, limit, st.Bytes)

		_, err = d.Decode(other, buildIPFIXData(3))
		require.NoError(t, err, "another exporter has its own byte budget")
	})
	t.Run("exporters", func(t *testing.T) {
		// Of two exporters, one may be confirmed (2 - max(1, 2/8)): the
		// one whose sets came in two datagrams. A third exporter's set
		// takes the place of the one on probation.
		d := NewDecoder(Config{Pending: PendingLimits{MaxExporters: 2}})
		for range 2 {
			_, err := d.Decode(testExporter, buildIPFIXData(1))
			require.NoError(t, err)
		}
		third := netip.MustParseAddrPort("198.51.100.8:2055")
		for _, e := range []netip.AddrPort{other, third} {
			p, err := d.Decode(e, buildIPFIXData(1))
			require.NoError(t, err)
			require.Equal(t, 1, packetSets(t, p).Pending)
		}
		st := d.Stats().Pending
		require.Zero(t, st.Refused)
		require.Equal(t, uint64(1), st.Evicted)
		require.Equal(t, uint64(1), st.ExportersEvicted)
		require.Equal(t, 3, st.Held)
		_, err := d.Decode(testExporter, buildIPFIXData(1))
		require.NoError(t, err, "a held exporter may add more")
		var held []netip.AddrPort
		for _, s := range d.PendingSets() {
			held = append(held, s.Key.Exporter)
		}
		require.ElementsMatch(t, []netip.AddrPort{testExporter, testExporter, testExporter, third}, held)
	})
}

func TestPendingExpiry(t *testing.T) {
	clock := newTestClock()
	d := NewDecoder(Config{Now: clock.Now, Pending: PendingLimits{MaxAge: time.Minute}})
	other := netip.MustParseAddrPort("198.51.100.7:2055")
	_, err := d.Decode(testExporter, buildV9Data(2))
	require.NoError(t, err)
	_, err = d.Decode(other, buildV9Data(2))
	require.NoError(t, err)
	require.Equal(t, 2, d.Stats().Pending.Held)

	clock.Advance(30 * time.Second)
	d.Sweep()
	require.Equal(t, 2, d.Stats().Pending.Held, "not yet expired")

	// Touching an exporter's pending data expires its old sets.
	clock.Advance(45 * time.Second)
	_, err = d.Decode(testExporter, buildV9Data(1))
	require.NoError(t, err)
	st := d.Stats().Pending
	require.Equal(t, uint64(1), st.Expired)
	require.Equal(t, 2, st.Held)

	// Sweep expires the exporter that went quiet.
	d.Sweep()
	st = d.Stats().Pending
	require.Equal(t, uint64(2), st.Expired)
	require.Equal(t, 1, st.Held)
	require.Equal(t, testExporter, d.PendingSets()[0].Key.Exporter)

	// The template brings out only the set that did not expire.
	p, err := d.Decode(testExporter, buildV9Template())
	require.NoError(t, err)
	require.Equal(t, 1, p.FlowCount())
	p, err = d.Decode(other, buildV9Template())
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	st = d.Stats().Pending
	require.Equal(t, PendingStats{Added: 3, Matched: 1, Expired: 2}, st)
}

func TestPendingDisabled(t *testing.T) {
	d := NewDecoder(Config{DisablePending: true})
	p, err := d.Decode(testExporter, buildV9Data(2))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, uint16(9), de.Version)
	require.Zero(t, packetSets(t, p).Pending)
	require.Zero(t, p.FlowCount())
	require.Equal(t, PendingStats{}, d.Stats().Pending)
	require.Nil(t, d.PendingSets())
	d.Sweep() // no buffer: nothing to do, no panic

	p, err = d.Decode(testExporter, buildV9Template())
	require.NoError(t, err)
	require.Zero(t, p.FlowCount(), "dropped data does not come back")

	// Data in the same datagram as its template still decodes.
	p, err = d.Decode(testExporter, pendingCases()[0].sameDatagramData(2))
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
}

func TestPendingIgnoreExporterPort(t *testing.T) {
	dataFrom := netip.MustParseAddrPort("192.0.2.1:40001")
	templateFrom := netip.MustParseAddrPort("192.0.2.1:40002")

	d := NewDecoder(Config{IgnoreExporterPort: true})
	_, err := d.Decode(dataFrom, buildIPFIXData(2))
	require.NoError(t, err)
	ps := d.PendingSets()
	require.Len(t, ps, 1)
	require.Equal(t, netip.AddrPortFrom(dataFrom.Addr(), 0), ps[0].Key.Exporter, "keyed by address alone")
	p, err := d.Decode(templateFrom, buildIPFIXTemplate())
	require.NoError(t, err)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, 2)
	// The flows still name the exporter as it sent them.
	checkBuiltFlows(t, flows, 2, 10, dataFrom, 0, buildExport)
	// And later data from a third port decodes directly.
	p, err = d.Decode(netip.MustParseAddrPort("192.0.2.1:40003"), buildIPFIXData(1))
	require.NoError(t, err)
	require.Equal(t, 1, p.FlowCount())

	// Without the option the port is part of the key: the data waits.
	d = NewDecoder(Config{})
	_, err = d.Decode(dataFrom, buildIPFIXData(2))
	require.NoError(t, err)
	p, err = d.Decode(templateFrom, buildIPFIXTemplate())
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, 1, d.Stats().Pending.Held)
}
