package export_test

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/stretchr/testify/require"
)

// TestCallerTemplate writes flows with a template the caller gives:
// reduced-size counters, alternative elements the decoder also reads,
// both address families in one template, and an enterprise element mapped
// into a Flow field (the decoder given the same mapping reads it back).
func TestCallerTemplate(t *testing.T) {
	const pen = 29305 + 1 // an enterprise of the test's own
	fields := []netflow.TemplateField{
		{ID: 8, Length: 4}, {ID: 27, Length: 16}, // source address, either family
		{ID: 12, Length: 4},
		{ID: 2, Length: 4},   // packets in 4 bytes
		{ID: 85, Length: 6},  // octetTotalCount in 6 bytes
		{ID: 252, Length: 2}, // ingressPhysicalInterface
		{ID: 7, Length: 2}, {ID: 11, Length: 2}, {ID: 4, Length: 1},
		{ID: 100, PEN: pen, Length: 4},             // the source AS, mapped
		{ID: 154, Length: 8}, {ID: 155, Length: 8}, // microseconds
		{ID: 210, Length: 3}, // padding
	}
	mappings := []netflow.FlowMapping{{PEN: pen, ID: 100, Field: netflow.FieldSrcAS}}
	known := netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldPackets | netflow.FieldBytes |
		netflow.FieldInIf | netflow.FieldSrcPort | netflow.FieldDstPort | netflow.FieldProto |
		netflow.FieldSrcAS | netflow.FieldStart | netflow.FieldEnd
	flows := genFlows(9, 200, genOptions{version: 10, ipv6: true})
	for i := range flows {
		f := &flows[i]
		f.Known = known
		zeroUnknown(f)
		f.DstAddr = netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		f.Packets &= 0xffffffff
		f.Bytes &= 0xffffffffffff
		f.InIf &= 0xffff
	}
	cfg := export.Config{Version: 10, Fields: fields, FlowElements: mappings, TimeFormat: export.TimeMicros, Now: fixedNow}
	var out messages
	w, err := export.NewWriter(&out, cfg)
	require.NoError(t, err)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	got := decodeAll(t, out.msgs, mappings...)
	require.Len(t, got, len(flows))
	for i := range flows {
		g := got[i]
		g.Sequence = 0
		g.Start, g.End = g.Start.Truncate(1000), g.End.Truncate(1000)
		require.True(t, equalFlows(want(flows[i], cfg), g), "flow %d:\nwant %v\ngot  %v", i, want(flows[i], cfg), g)
	}
	// Every message's template is the caller's.
	p, err := netflow.Decode(testExporter, out.msgs[0], nil)
	require.NoError(t, err)
	require.Equal(t, fields, p.(*netflow.IPFIXPacket).Templates[0].Fields)
}

// TestMappedTemplate checks that a mapping makes the chosen templates use
// the enterprise element for its field.
func TestMappedTemplate(t *testing.T) {
	mappings := []netflow.FlowMapping{{PEN: 9, ID: 12235, Field: netflow.FieldInVRF}}
	flows := genFlows(11, 50, genOptions{version: 10})
	cfg := export.Config{Version: 10, FlowElements: mappings, Now: fixedNow}
	msgs := roundTrip(t, cfg, flows)
	p, err := netflow.Decode(testExporter, msgs[0], nil)
	require.NoError(t, err)
	tm := p.(*netflow.IPFIXPacket).Templates[0]
	require.Contains(t, tm.Fields, netflow.TemplateField{ID: 12235, PEN: 9, Length: 4})
	require.NotContains(t, tm.Fields, netflow.TemplateField{ID: 234, Length: 4})
}

// TestExporterAddress checks that the exporter's address goes in
// exporterIPv4Address or exporterIPv6Address.
func TestExporterAddress(t *testing.T) {
	a := netip.MustParseAddrPort("198.51.100.1:2055")
	b := netip.MustParseAddrPort("[2001:db8::9]:2055")
	known := netflow.FieldSrcAddr | netflow.FieldPackets
	flows := []netflow.Flow{
		{Exporter: a, SrcAddr: netip.MustParseAddr("10.0.0.1"), Packets: 1, Known: known},
		{Exporter: b, SrcAddr: netip.MustParseAddr("10.0.0.2"), Packets: 2, Known: known},
	}
	var out messages
	w, err := export.NewWriter(&out, export.Config{Version: 10, ExporterAddress: true, Now: fixedNow})
	require.NoError(t, err)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	require.Len(t, out.msgs, 1)
	p, err := netflow.Decode(testExporter, out.msgs[0], nil)
	require.NoError(t, err)
	ds := p.(*netflow.IPFIXPacket).DataSets
	require.Len(t, ds, 2)
	v, ok := ds[0].Records[0].Lookup(130)
	require.True(t, ok)
	require.Equal(t, "198.51.100.1", v.String())
	v, ok = ds[1].Records[0].Lookup(131)
	require.True(t, ok)
	require.Equal(t, "2001:db8::9", v.String())
}

// TestIPFIXFile writes an RFC 5655 file with a stream writer and reads it
// back with MessageReader.
func TestIPFIXFile(t *testing.T) {
	flows := genFlows(12, 5000, genOptions{version: 10, ipv6: true, sampling: true, domains: 2})
	var file bytes.Buffer
	w, err := export.NewWriter(&file, export.Config{Version: 10, Stream: true, Now: fixedNow})
	require.NoError(t, err)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	require.Greater(t, w.Stats().Messages, uint64(3))
	mr := netflow.NewMessageReader(&file)
	var msgs [][]byte
	for {
		m, err := mr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		msgs = append(msgs, bytes.Clone(m))
	}
	require.Len(t, msgs, int(w.Stats().Messages))
	short := 0
	for _, m := range msgs {
		if len(m) < 60000 {
			short++
		}
	}
	require.LessOrEqual(t, short, 2, "stream messages are not cut to a datagram: only each domain's last is short")
	got := byDomain(decodeAll(t, msgs))
	require.Len(t, got, len(flows))
	cfg := export.Config{Version: 10}
	for i := range flows {
		flows[i] = want(flows[i], cfg)
	}
	flows = byDomain(flows)
	for i := range flows {
		g := got[i]
		g.Sequence = 0
		require.True(t, equalFlows(flows[i], g), "flow %d", i)
	}
}
