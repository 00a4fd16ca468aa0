package export_test

// internal/testkit builds the datagrams of the root package's own tests by
// hand: those tests live inside package netflow, so they cannot import this
// package (it imports netflow), and keep their builders. This test holds
// the two to the same bytes: every message testkit builds, the encoder
// builds identically from the same values, through its stateless pieces
// and, for the flow records, from Flow values through FlowTemplate.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// kitFlow is testkit.FlowN(i) as a Flow.
func kitFlow(i int) netflow.Flow {
	f := testkit.FlowN(i)
	return netflow.Flow{
		SrcAddr: f.Src, DstAddr: f.Dst, NextHop: f.NextHop, InIf: uint32(f.In), OutIf: uint32(f.Out),
		Packets: uint64(f.Packets), Bytes: uint64(f.Octets), Start: f.Start(), End: f.End(),
		SrcPort: f.SrcPort, DstPort: f.DstPort, TCPFlags: f.TCPFlags, Proto: f.Proto, ToS: f.ToS,
		SrcAS: uint32(f.SrcAS), DstAS: uint32(f.DstAS), SrcMask: f.SrcMask, DstMask: f.DstMask,
		Known: v5Known &^ (netflow.FieldDomain | netflow.FieldSequence),
	}
}

// kitTemplate is a template of testkit's fields.
func kitTemplate(t *testing.T, version uint16, fields []testkit.Field) *netflow.Template {
	t.Helper()
	fs := make([]netflow.TemplateField, len(fields))
	for i, f := range fields {
		fs[i] = netflow.TemplateField{ID: f.ID, Length: f.Length, PEN: f.PEN}
	}
	tm, err := netflow.NewTemplate(version, testkit.TemplateID, false, 0, fs)
	require.NoError(t, err)
	return tm
}

// kitBoot is the boot time of testkit's exporter: one hour of uptime at
// its export time.
var kitBoot = testkit.Export.Add(-time.Duration(testkit.SysUptime) * time.Millisecond)

func TestTestkitV5(t *testing.T) {
	const n = 7
	msg, err := export.AppendV5Header(nil, &netflow.V5Header{
		Count: n, SysUptime: testkit.SysUptime, UnixSecs: testkit.UnixSecs, FlowSequence: 5000, EngineType: 1, EngineID: 2,
	})
	require.NoError(t, err)
	for i := range n {
		f := testkit.FlowN(i)
		msg = export.AppendV5Record(msg, &netflow.V5Record{
			SrcAddr: f.Src, DstAddr: f.Dst, NextHop: f.NextHop, Input: f.In, Output: f.Out, Packets: f.Packets,
			Octets: f.Octets, First: f.First, Last: f.Last, SrcPort: f.SrcPort, DstPort: f.DstPort,
			TCPFlags: f.TCPFlags, Proto: f.Proto, ToS: f.ToS, SrcAS: f.SrcAS, DstAS: f.DstAS, SrcMask: f.SrcMask, DstMask: f.DstMask,
		})
	}
	require.Equal(t, testkit.V5(n), msg)

	// The Writer, from Flow values, with testkit's clock.
	var out messages
	w, err := export.NewWriter(&out, export.Config{Version: 5, Domain: 1<<8 | 2, Boot: kitBoot,
		Now: func() time.Time { return testkit.Export }})
	require.NoError(t, err)
	for i := range n {
		f := kitFlow(i)
		_, err := w.WriteFlow(&f)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	require.Len(t, out.msgs, 1)
	want := testkit.V5(n)
	be := out.msgs[0]
	// The flow sequence is the writer's own (its first message: 0).
	require.Equal(t, want[:16], be[:16])
	require.Equal(t, want[20:], be[20:])
}

func TestTestkitV1V7(t *testing.T) {
	const n = 5
	msg := export.AppendV1Header(nil, &netflow.V1Header{Count: n, SysUptime: testkit.SysUptime, UnixSecs: testkit.UnixSecs})
	for i := range n {
		f := testkit.FlowN(i)
		msg = export.AppendV1Record(msg, &netflow.V1Record{
			SrcAddr: f.Src, DstAddr: f.Dst, NextHop: f.NextHop, Input: f.In, Output: f.Out, Packets: f.Packets,
			Octets: f.Octets, First: f.First, Last: f.Last, SrcPort: f.SrcPort, DstPort: f.DstPort,
			Proto: f.Proto, ToS: f.ToS, TCPFlags: f.TCPFlags,
		})
	}
	require.Equal(t, testkit.V1(n), msg)

	msg = export.AppendV7Header(nil, &netflow.V7Header{Count: n, SysUptime: testkit.SysUptime, UnixSecs: testkit.UnixSecs, FlowSequence: 5000})
	for i := range n {
		f := testkit.FlowN(i)
		msg = export.AppendV7Record(msg, &netflow.V7Record{
			V5Record: netflow.V5Record{
				SrcAddr: f.Src, DstAddr: f.Dst, NextHop: f.NextHop, Input: f.In, Output: f.Out, Packets: f.Packets,
				Octets: f.Octets, First: f.First, Last: f.Last, SrcPort: f.SrcPort, DstPort: f.DstPort,
				TCPFlags: f.TCPFlags, Proto: f.Proto, ToS: f.ToS, SrcAS: f.SrcAS, DstAS: f.DstAS, SrcMask: f.SrcMask, DstMask: f.DstMask,
			},
			Flags: byte(i % 2), FieldFlags: uint16(0x100 + i), RouterSC: netip.AddrFrom4([4]byte{10, 5, byte(i), 5}),
		})
	}
	require.Equal(t, testkit.V7(n), msg)
}

// kitRecords encodes kitFlow(0..n-1) with tm.
func kitRecords(t *testing.T, tm *netflow.Template, n int) []byte {
	t.Helper()
	ft, err := export.NewFlowTemplate(tm, nil)
	require.NoError(t, err)
	var b []byte
	for i := range n {
		f := kitFlow(i)
		b, err = ft.AppendRecord(b, &f, &export.Context{ExportTime: testkit.Export, Boot: kitBoot})
		require.NoError(t, err)
	}
	return b
}

func TestTestkitV9(t *testing.T) {
	const n = 9
	tm := kitTemplate(t, 9, testkit.V9Fields)
	require.Equal(t, testkit.FlowRecords(testkit.V9Fields, n), kitRecords(t, tm, n))

	// testkit counts flowsets in the header; the encoder writes what it is
	// given.
	msg := export.AppendV9Header(nil, &netflow.V9Header{Count: 2, SysUptime: testkit.SysUptime, UnixSecs: testkit.UnixSecs, Sequence: 2, SourceID: 1})
	s := len(msg)
	msg = export.AppendSetHeader(msg, 0)
	msg, err := export.AppendTemplateRecord(msg, tm)
	require.NoError(t, err)
	msg, err = export.FinishSet(msg, s, false)
	require.NoError(t, err)
	s = len(msg)
	msg = export.AppendSetHeader(msg, testkit.TemplateID)
	msg = append(msg, kitRecords(t, tm, n)...)
	msg, err = export.FinishSet(msg, s, true)
	require.NoError(t, err)
	require.Equal(t, testkit.V9(n), msg)

	// An options template: scope types and option fields.
	scope := []testkit.Field{{ID: 1, Length: 4}}
	opts := []testkit.Field{{ID: 48, Length: 2}, {ID: 34, Length: 4}}
	otm, err := netflow.NewTemplate(9, 300, true, 1, []netflow.TemplateField{{ID: 1, Length: 4}, {ID: 48, Length: 2}, {ID: 34, Length: 4}})
	require.NoError(t, err)
	rec, err := export.AppendTemplateRecord(nil, otm)
	require.NoError(t, err)
	require.Equal(t, testkit.V9OptionsTemplate(300, scope, opts), rec)
}

func TestTestkitIPFIX(t *testing.T) {
	const n = 6
	tm := kitTemplate(t, 10, testkit.IPFIXFields)
	require.Equal(t, testkit.FlowRecords(testkit.IPFIXFields, n), kitRecords(t, tm, n))

	msg := export.AppendIPFIXHeader(nil, &netflow.IPFIXHeader{UnixSecs: testkit.UnixSecs, ObservationDomainID: 1})
	s := len(msg)
	msg = export.AppendSetHeader(msg, 2)
	msg, err := export.AppendTemplateRecord(msg, tm)
	require.NoError(t, err)
	msg, err = export.FinishSet(msg, s, false)
	require.NoError(t, err)
	s = len(msg)
	msg = export.AppendSetHeader(msg, testkit.TemplateID)
	msg = append(msg, kitRecords(t, tm, n)...)
	msg, err = export.FinishSet(msg, s, false)
	require.NoError(t, err)
	msg, err = export.FinishIPFIXMessage(msg, 0)
	require.NoError(t, err)
	require.Equal(t, testkit.IPFIX(n), msg)

	// Template records with enterprise elements, options templates, and the
	// small builders of testkit's ipfix_build.go.
	fields := []testkit.Field{{ID: 8, Length: 4}, {ID: 100, Length: 2, PEN: 9}, {ID: 82, Length: netflow.VariableLength}}
	etm, err := netflow.NewTemplate(10, 400, false, 0, []netflow.TemplateField{{ID: 8, Length: 4}, {ID: 100, Length: 2, PEN: 9}, {ID: 82, Length: netflow.VariableLength}})
	require.NoError(t, err)
	rec, err := export.AppendTemplateRecord(nil, etm)
	require.NoError(t, err)
	require.Equal(t, testkit.TemplateRecord(400, fields...), rec)
	otm, err := netflow.NewTemplate(10, 401, true, 1, []netflow.TemplateField{{ID: 149, Length: 4}, {ID: 160, Length: 8}})
	require.NoError(t, err)
	rec, err = export.AppendTemplateRecord(nil, otm)
	require.NoError(t, err)
	require.Equal(t, testkit.IPFIXOptionsTemplate(401, 1, testkit.Field{ID: 149, Length: 4}, testkit.Field{ID: 160, Length: 8}), rec)

	set := export.AppendSetHeader(nil, 2)
	set, err = export.AppendTemplateRecord(set, etm)
	require.NoError(t, err)
	set, err = export.FinishSet(set, 0, false)
	require.NoError(t, err)
	require.Equal(t, testkit.Set(2, testkit.TemplateRecord(400, fields...), false), set)

	v, err := export.AppendVariableLength(nil, []byte("eth0"))
	require.NoError(t, err)
	require.Equal(t, testkit.VarText("eth0"), v)
	u, err := export.AppendUint(nil, 0x0102030405, 5)
	require.NoError(t, err)
	require.Equal(t, testkit.UintBytes(0x0102030405, 5), u)

	data := export.AppendSetHeader(nil, 256)
	data = append(data, 1, 2, 3, 4, 5)
	data, err = export.FinishSet(data, 0, false)
	require.NoError(t, err)
	require.Equal(t, testkit.IPFIXDataSet(256, []byte{1, 2, 3}, []byte{4, 5}), data)
	m := export.AppendIPFIXHeader(nil, &netflow.IPFIXHeader{UnixSecs: testkit.UnixSecs, Sequence: 9, ObservationDomainID: 4})
	m = append(m, data...)
	m, err = export.FinishIPFIXMessage(m, 0)
	require.NoError(t, err)
	require.Equal(t, testkit.IPFIXMessage(4, 9, data), m)
}
