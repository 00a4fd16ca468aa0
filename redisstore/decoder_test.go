package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// v9DataOnly returns the data flowsets of a v9 datagram without its
// template and options template flowsets and without options data: what
// an instance that never sees templates or options receives. The header
// count is set to the number of data records.
func v9DataOnly(t testing.TB, dg []byte) []byte {
	t.Helper()
	be := binary.BigEndian
	require.Equal(t, uint16(9), be.Uint16(dg))
	recLen := map[uint16]int{}
	options := map[uint16]bool{}
	type set struct {
		id   uint16
		body []byte
		raw  []byte
	}
	var sets []set
	for off := 20; off+4 <= len(dg); {
		id, n := be.Uint16(dg[off:]), int(be.Uint16(dg[off+2:]))
		require.GreaterOrEqual(t, n, 4)
		require.LessOrEqual(t, off+n, len(dg))
		sets = append(sets, set{id, dg[off+4 : off+n], dg[off : off+n]})
		off += n
	}
	for _, s := range sets {
		b := s.body
		switch s.id {
		case 0: // templates: ID, count, (type, length)...
			for len(b) >= 4 {
				id, n := be.Uint16(b), int(be.Uint16(b[2:]))
				if id == 0 || len(b) < 4+4*n {
					break
				}
				l := 0
				for i := range n {
					l += int(be.Uint16(b[4+4*i+2:]))
				}
				recLen[id] = l
				b = b[4+4*n:]
			}
		case 1: // options templates: ID, scope bytes, option bytes, fields...
			for len(b) >= 6 {
				id, sl, ol := be.Uint16(b), int(be.Uint16(b[2:])), int(be.Uint16(b[4:]))
				if id == 0 || len(b) < 6+sl+ol {
					break
				}
				options[id] = true
				b = b[6+sl+ol:]
			}
		}
	}
	out := slices.Clone(dg[:20])
	records := 0
	for _, s := range sets {
		if s.id < 256 || options[s.id] {
			continue
		}
		require.Positive(t, recLen[s.id], "data set %d of a template the datagram does not define", s.id)
		records += len(s.body) / recLen[s.id]
		out = append(out, s.raw...)
	}
	be.PutUint16(out[2:], uint16(records))
	return out
}

// tsharkFlow is one flow of testdata/expected/*.json (tshark's decode).
type tsharkFlow struct {
	TemplateID uint16 `json:"template_id"`
	Options    bool   `json:"options"`
	SrcAddr    string `json:"src_addr"`
	DstAddr    string `json:"dst_addr"`
	SrcPort    uint16 `json:"src_port"`
	DstPort    uint16 `json:"dst_port"`
	Proto      uint8  `json:"proto"`
	ToS        uint8  `json:"tos"`
	TCPFlags   uint8  `json:"tcp_flags"`
	Packets    uint64 `json:"packets"`
	Bytes      uint64 `json:"bytes"`
}

func tsharkFlows(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Datagrams []struct {
			Flows []tsharkFlow `json:"flows"`
		} `json:"datagrams"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	var out []string
	for _, dg := range doc.Datagrams {
		for _, f := range dg.Flows {
			if !f.Options {
				out = append(out, fmt.Sprintf("%s %s %d %d %d tos=%d flags=%d %d/%d",
					f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto, f.ToS, f.TCPFlags, f.Packets, f.Bytes))
			}
		}
	}
	slices.Sort(out)
	return out
}

func flowStrings(flows []netflow.Flow) []string {
	var out []string
	for _, f := range flows {
		out = append(out, fmt.Sprintf("%s %s %d %d %d tos=%d flags=%d %d/%d",
			f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto, f.ToS, f.TCPFlags, f.Packets, f.Bytes))
	}
	slices.Sort(out)
	return out
}

func decodeAll(t testing.TB, d *netflow.Decoder, exp netip.AddrPort, dg []byte) []netflow.Flow {
	t.Helper()
	p, err := d.Decode(exp, dg)
	require.NoError(t, err)
	return p.AppendFlows(nil)
}

var fixtureExporter = netip.MustParseAddrPort("192.0.2.1:2055")

// TestDecodersShareRedis: decoder A learns softflowd's v9 templates and
// options data (sampling interval 1, from its options template 256) from
// the real capture; decoder B, with its own Store on the same Redis,
// receives only the capture's data flowsets, first before A learned the
// templates (held), then after, and decodes every flow tshark decodes
// from the capture.
func TestDecodersShareRedis(t *testing.T) {
	payloads := testkit.UDPPayloads(t, "../testdata/softflowd/softflowd_v9.pcap")
	require.Len(t, payloads, 1)
	full := payloads[0]
	dataOnly := v9DataOnly(t, full)
	want := tsharkFlows(t, "../testdata/expected/softflowd_v9.json")
	require.Len(t, want, 9)

	r := redistest.Start(t)
	prefix := newPrefix(t)
	sa, sb := openStore(t, r, Config{Prefix: prefix}), openStore(t, r, Config{Prefix: prefix})
	a := netflow.NewDecoder(netflow.Config{Store: sa})
	b := netflow.NewDecoder(netflow.Config{Store: sb})

	// B first: no template anywhere yet.
	p, err := b.Decode(fixtureExporter, dataOnly)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Positive(t, b.Stats().Pending.Held, "B holds the data sets of unknown templates")

	fromA := decodeAll(t, a, fixtureExporter, full)
	for _, f := range fromA {
		require.Equal(t, uint32(1), f.SamplingInterval, "A: softflowd's options data says 1 in 1")
	}
	eventually(t, "B's store has A's templates", func() bool {
		return sb.Stats().Templates == sa.Stats().Templates && sb.Stats().Templates > 0
	})
	domain := netflow.TemplateKey{Exporter: fixtureExporter, Version: 9, Domain: binary.BigEndian.Uint32(full[16:])}
	eventually(t, "B's store has A's options state", func() bool {
		st, ok, err := sb.ExporterState(domain)
		return err == nil && ok && st.SamplingInterval+uint32(len(st.Samplers)) > 0
	})

	// B's next datagram: the sets it held come first (released by A's
	// templates, seen through the store), then its own.
	flows := decodeAll(t, b, fixtureExporter, dataOnly)
	got := flowStrings(flows)
	for _, w := range want {
		require.Contains(t, got, w, "a flow tshark decodes from the capture")
	}
	twice := flowStrings(append(append([]netflow.Flow(nil), fromA...), fromA...))
	require.Equal(t, twice, got, "B decodes what it held and what it got, the same flows as A, which saw the whole datagram")

	t.Run("SamplingFromOtherInstance", func(t *testing.T) {
		for _, f := range flows {
			require.Equal(t, uint32(1), f.SamplingInterval, "B applies the sampling interval A learned")
			require.True(t, f.Known.Has(netflow.FieldSamplingInterval))
		}
	})
	t.Run("HeldSetReleased", func(t *testing.T) {
		st := b.Stats().Pending
		require.Positive(t, st.Matched, "the sets B held were decoded once A's templates reached B")
		require.Zero(t, st.Held)
	})
}
