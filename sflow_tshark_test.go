package netflow

// sFlow against tshark: every datagram of every sFlow fixture
// (testdata/sflow: goflow2's and vflow's test datagrams, three real pmacctd
// sfprobe captures) is decoded and compared, sample by sample and field by
// field, with tshark's independent decode (testdata/expected/sflow, made by
// scripts/tshark_expected.py sflow): the typed samples, the Flow of every
// flow sample (with and without Config.Decapsulate), and the counter
// samples.

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// sflowTestClock is the decode time of the sFlow tests: the Start and End
// of every flow.
var sflowTestClock = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func sflowTestNow() time.Time { return sflowTestClock }

// sflowMalformed lists the datagrams tshark marks malformed, with the
// sentinel our decode must match and why. Neither gives flows from them.
var sflowMalformed = map[string]struct {
	err error
	why string
}{
	"pmacct-sfprobe__pmacct-sfprobe-ipv6export-r3#0": {ErrMalformed, "pmacct 1.7.7 writes the IPv6 agent header over " +
		"its first sample's format, length and sequence words: the sample's length reads 3 (tshark decodes " +
		"garbage from it)"},
}

// tsharkFieldCount counts the values compared with tshark's.
type tsharkFieldCount struct{ n int }

// recordFormats compares a sample's records, as enterprise<<12|format,
// with tshark's list. A sample may hold no record (pmacctd's first counter
// sample, at uptime 0): tshark's decode lists none, ours has none, and a
// nil list and an empty one are equal.
func (c *tsharkFieldCount) recordFormats(t *testing.T, want []uint32, records []SFlowStructure, what string) {
	t.Helper()
	formats := []uint32{}
	for _, r := range records {
		formats = append(formats, r.Enterprise<<12|r.Format)
	}
	c.eq(t, append([]uint32{}, want...), formats, what+" record formats")
}

func (c *tsharkFieldCount) eq(t *testing.T, want, got any, what string) {
	t.Helper()
	require.EqualValues(t, want, got, what)
	c.n++
}

func TestSFlowAgainstTshark(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "expected", "sflow", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	var total tsharkFieldCount
	samples := 0
	for _, path := range paths {
		name := filepath.Base(path)
		name = name[:len(name)-len(".json")]
		t.Run(name, func(t *testing.T) {
			doc := testkit.LoadExpected(t, path)
			payloads := doc.Payloads(t, "testdata")
			outer := NewDecoder(Config{Now: sflowTestNow})
			inner := NewDecoder(Config{Now: sflowTestNow, Decapsulate: true})
			for k := range doc.Datagrams {
				dg := &doc.Datagrams[k]
				what := fmt.Sprintf("%s datagram %d", name, dg.Index)
				p, err := outer.Decode(testExporter, payloads[k])
				if m, ok := sflowMalformed[fmt.Sprintf("%s#%d", name, dg.Index)]; ok {
					require.True(t, dg.Malformed, "%s: tshark does not call it malformed", what)
					require.ErrorIs(t, err, m.err, what+": "+m.why)
					if p != nil {
						require.Zero(t, p.FlowCount(), what)
					}
					continue
				}
				require.False(t, dg.Malformed, what)
				require.NoError(t, err, what)
				sp, ok := p.(*SFlowPacket)
				require.True(t, ok, what)
				pi, err := inner.Decode(testExporter, payloads[k])
				require.NoError(t, err, what)
				compareSFlowDatagram(t, &total, what, dg, sp, pi.(*SFlowPacket))
				samples += len(dg.Flows)
			}
		})
	}
	t.Logf("%d flow samples, %d values equal to tshark's", samples, total.n)
}

func compareSFlowDatagram(t *testing.T, c *tsharkFieldCount, what string, dg *testkit.ExpectedDatagram, p, pi *SFlowPacket) {
	t.Helper()
	h := &p.Header
	c.eq(t, 5, dg.Version, what+" version")
	c.eq(t, *dg.Agent, h.Agent.String(), what+" agent")
	c.eq(t, *dg.SubAgentID, h.SubAgentID, what+" sub-agent")
	c.eq(t, *dg.Sequence, h.SequenceNumber, what+" sequence")
	c.eq(t, *dg.SysUptimeMS, h.Uptime, what+" uptime")
	c.eq(t, *dg.Samples, h.Samples, what+" samples")
	c.eq(t, len(dg.Flows), len(p.FlowSamples), what+" flow samples")
	c.eq(t, len(dg.Counters), len(p.CounterSamples), what+" counter samples")
	c.eq(t, *dg.OtherSamples, len(p.OtherSamples), what+" other samples")
	flows := p.AppendFlows(nil)
	innerFlows := pi.AppendFlows(nil)
	for i := range dg.Flows {
		w := fmt.Sprintf("%s flow sample %d", what, i)
		compareSFlowSample(t, c, w, &dg.Flows[i], &p.FlowSamples[i])
		compareSFlowFlow(t, c, w, p, &dg.Flows[i], &flows[i])
		compareSFlowInner(t, c, w+" (decapsulated)", &dg.Flows[i], &flows[i], &innerFlows[i])
	}
	for i := range dg.Counters {
		compareSFlowCounters(t, c, fmt.Sprintf("%s counter sample %d", what, i), &dg.Counters[i], &p.CounterSamples[i])
	}
}

// compareSFlowSample compares the typed flow sample.
func compareSFlowSample(t *testing.T, c *tsharkFieldCount, what string, ef *testkit.ExpectedFlow, s *SFlowFlowSample) {
	t.Helper()
	e := ef.SFlow
	require.NotNil(t, e, what)
	c.eq(t, e.SampleType == 3, s.Expanded, what+" expanded")
	c.eq(t, e.Sequence, s.SequenceNumber, what+" sequence")
	c.eq(t, e.SourceClass, s.Source.Type, what+" source class")
	c.eq(t, e.SourceIndex, s.Source.Index, what+" source index")
	c.eq(t, e.SamplingRate, s.SamplingRate, what+" sampling rate")
	c.eq(t, e.SamplePool, s.SamplePool, what+" sample pool")
	c.eq(t, e.Drops, s.Drops, what+" drops")
	c.eq(t, e.InFormat, s.Input.Format, what+" input format")
	c.eq(t, e.InValue, s.Input.Value, what+" input value")
	c.eq(t, e.OutFormat, s.Output.Format, what+" output format")
	c.eq(t, e.OutValue, s.Output.Value, what+" output value")
	c.recordFormats(t, e.Records, s.Records, what)
	if e.HeaderProtocol != nil {
		require.NotZero(t, s.Has&SFlowHasHeader, what)
		c.eq(t, *e.HeaderProtocol, s.Header.Protocol, what+" header protocol")
		c.eq(t, *e.FrameLength, s.Header.FrameLength, what+" frame length")
		c.eq(t, *e.Stripped, s.Header.Stripped, what+" stripped")
		c.eq(t, *e.HeaderLength, len(s.Header.Bytes), what+" header length")
	}
	if e.VLANIn != nil {
		require.NotZero(t, s.Has&SFlowHasSwitch, what)
		c.eq(t, *e.VLANIn, s.Switch.SrcVLAN, what+" switch src vlan")
		c.eq(t, *e.PriIn, s.Switch.SrcPriority, what+" switch src priority")
		c.eq(t, *e.VLANOut, s.Switch.DstVLAN, what+" switch dst vlan")
		c.eq(t, *e.PriOut, s.Switch.DstPriority, what+" switch dst priority")
	}
	if ef.SrcMask != nil {
		require.NotZero(t, s.Has&SFlowHasRouter, what)
		c.eq(t, *ef.SrcMask, s.Router.SrcMask, what+" router src mask")
		c.eq(t, *ef.DstMask, s.Router.DstMask, what+" router dst mask")
	}
	if e.RouterAS != nil {
		g := &s.Gateway
		require.NotZero(t, s.Has&SFlowHasGateway, what)
		c.eq(t, *e.RouterAS, g.AS, what+" gateway AS")
		c.eq(t, *ef.SrcAS, g.SrcAS, what+" gateway src AS")
		c.eq(t, *e.SrcPeerAS, g.SrcPeerAS, what+" gateway src peer AS")
		c.eq(t, *e.ASPathSegments, g.Segments, what+" gateway AS path segments")
		c.eq(t, len(e.ASPath), len(g.AppendASPath(nil)), what+" gateway AS path")
		for j, as := range g.AppendASPath(nil) {
			c.eq(t, e.ASPath[j], as, what+" gateway AS path")
		}
		c.eq(t, *e.Communities, g.Communities, what+" gateway communities")
		c.eq(t, *e.LocalPref, g.LocalPref, what+" gateway local pref")
		if e.BGPNextHop != nil {
			c.eq(t, *e.BGPNextHop, g.NextHop.String(), what+" gateway next hop")
		}
	}
}

// known asserts that f.Known has field exactly when tshark gave a value,
// and then that it is the value.
func known[T any](t *testing.T, c *tsharkFieldCount, f *Flow, field FlowFields, want *T, got any, what string) {
	t.Helper()
	require.Equal(t, want != nil, f.Known.Has(field), "%s: known %v, tshark has it %v", what, f.Known.Has(field), want != nil)
	if want != nil {
		c.eq(t, *want, got, what)
	}
}

func strOf[T fmt.Stringer](v T) string { return v.String() }

// compareSFlowFlow compares the Flow of a flow sample: every field tshark
// shows a value for is known and equal, every header field it does not
// show is unknown.
func compareSFlowFlow(t *testing.T, c *tsharkFieldCount, what string, p *SFlowPacket, ef *testkit.ExpectedFlow, f *Flow) {
	t.Helper()
	e := ef.SFlow
	c.eq(t, testExporter, f.Exporter, what+" exporter")
	c.eq(t, uint16(5), f.Version, what+" version")
	c.eq(t, ExportSFlow, f.ExportProtocol, what+" protocol")
	c.eq(t, p.Header.Agent, f.Agent, what+" agent")
	c.eq(t, p.Header.SubAgentID, f.Domain, what+" domain")
	c.eq(t, p.Header.SequenceNumber, f.Sequence, what+" sequence")
	require.True(t, f.Known.Has(sflowFlowKnown), what)
	c.eq(t, uint64(1), f.Packets, what+" packets")
	c.eq(t, sflowTestClock, f.Start, what+" start")
	c.eq(t, sflowTestClock, f.End, what+" end")
	c.eq(t, e.SamplingRate, f.SamplingInterval, what+" sampling interval")
	known(t, c, f, FieldBytes, ef.Bytes, f.Bytes, what+" bytes")
	known(t, c, f, FieldInIf, ef.InIf, f.InIf, what+" in_if")
	if e.OutFormat == 1 { // discarded: OutIf 0
		require.True(t, f.Known.Has(FieldOutIf), what)
		c.eq(t, uint32(0), f.OutIf, what+" out_if (discarded)")
	} else {
		known(t, c, f, FieldOutIf, ef.OutIf, f.OutIf, what+" out_if")
	}
	known(t, c, f, FieldSrcAddr, ef.SrcAddr, strOf(f.SrcAddr), what+" src_addr")
	known(t, c, f, FieldDstAddr, ef.DstAddr, strOf(f.DstAddr), what+" dst_addr")
	known(t, c, f, FieldProto, ef.Proto, f.Proto, what+" proto")
	known(t, c, f, FieldToS, ef.ToS, f.ToS, what+" tos")
	known(t, c, f, FieldSrcPort, ef.SrcPort, f.SrcPort, what+" src_port")
	known(t, c, f, FieldDstPort, ef.DstPort, f.DstPort, what+" dst_port")
	known(t, c, f, FieldTCPFlags, ef.TCPFlags, f.TCPFlags, what+" tcp_flags")
	known(t, c, f, FieldSrcMAC, e.SrcMAC, strOf(f.SrcMAC), what+" src_mac")
	known(t, c, f, FieldDstMAC, e.DstMAC, strOf(f.DstMAC), what+" dst_mac")
	known(t, c, f, FieldEthType, e.EthType, f.EthType, what+" eth_type")
	known(t, c, f, FieldIPVersion, e.IPVersion, f.IPVersion, what+" ip_version")
	known(t, c, f, FieldICMPType, e.ICMPType, f.ICMPType, what+" icmp_type")
	known(t, c, f, FieldICMPCode, e.ICMPCode, f.ICMPCode, what+" icmp_code")
	known(t, c, f, FieldMPLSLabel, e.MPLSLabel, f.MPLSLabel, what+" mpls_label")
	// The VLAN: the header's outer tag, else the switch record's input
	// VLAN; PostVLAN the switch record's output VLAN.
	vlan := e.VLAN
	if vlan == nil && e.VLANIn != nil {
		v := uint16(*e.VLANIn)
		vlan = &v
	}
	known(t, c, f, FieldVLAN, vlan, f.VLAN, what+" vlan")
	known(t, c, f, FieldPostVLAN, e.VLANOut, uint32(f.PostVLAN), what+" post_vlan")
	if ef.NextHop != nil && *ef.NextHop != "0.0.0.0" && *ef.NextHop != "::" {
		known(t, c, f, FieldNextHop, ef.NextHop, strOf(f.NextHop), what+" next_hop")
	}
	known(t, c, f, FieldSrcMask, ef.SrcMask, f.SrcMask, what+" src_mask")
	known(t, c, f, FieldDstMask, ef.DstMask, f.DstMask, what+" dst_mask")
	known(t, c, f, FieldSrcAS, ef.SrcAS, f.SrcAS, what+" src_as")
	known(t, c, f, FieldDstAS, ef.DstAS, f.DstAS, what+" dst_as")
	if e.BGPNextHop != nil && *e.BGPNextHop != "0.0.0.0" && *e.BGPNextHop != "::" {
		known(t, c, f, FieldBGPNextHop, e.BGPNextHop, strOf(f.BGPNextHop), what+" bgp_next_hop")
	}
	// Not from sFlow: the fields only NetFlow and IPFIX carry.
	for _, field := range []FlowFields{FieldDirection, FieldEndReason, FieldInVRF, FieldOutVRF, FieldScaled} {
		require.False(t, f.Known.Has(field), "%s: %v", what, field)
	}
}

// compareSFlowInner compares the Flow decoded with Config.Decapsulate: the
// innermost IP layer's values where tshark shows a tunnel, the outer
// Flow's otherwise.
func compareSFlowInner(t *testing.T, c *tsharkFieldCount, what string, ef *testkit.ExpectedFlow, outer, f *Flow) {
	t.Helper()
	in := ef.SFlow.Inner
	if in == nil {
		require.Equal(t, *outer, *f, what+": no tunnel, the same flow")
		return
	}
	known(t, c, f, FieldIPVersion, in.IPVersion, f.IPVersion, what+" ip_version")
	known(t, c, f, FieldSrcAddr, in.SrcAddr, strOf(f.SrcAddr), what+" src_addr")
	known(t, c, f, FieldDstAddr, in.DstAddr, strOf(f.DstAddr), what+" dst_addr")
	known(t, c, f, FieldProto, in.Proto, f.Proto, what+" proto")
	known(t, c, f, FieldToS, in.ToS, f.ToS, what+" tos")
	known(t, c, f, FieldSrcPort, in.SrcPort, f.SrcPort, what+" src_port")
	known(t, c, f, FieldDstPort, in.DstPort, f.DstPort, what+" dst_port")
	known(t, c, f, FieldTCPFlags, in.TCPFlags, f.TCPFlags, what+" tcp_flags")
	known(t, c, f, FieldICMPType, in.ICMPType, f.ICMPType, what+" icmp_type")
	known(t, c, f, FieldICMPCode, in.ICMPCode, f.ICMPCode, what+" icmp_code")
	if l2 := ef.SFlow.InnerL2; l2 != nil {
		known(t, c, f, FieldSrcMAC, l2.SrcMAC, strOf(f.SrcMAC), what+" src_mac")
		known(t, c, f, FieldDstMAC, l2.DstMAC, strOf(f.DstMAC), what+" dst_mac")
		known(t, c, f, FieldEthType, l2.EthType, f.EthType, what+" eth_type")
	} else {
		// A tunnel of IP: the frame's fields are the outer ones.
		c.eq(t, outer.SrcMAC, f.SrcMAC, what+" src_mac")
		c.eq(t, outer.DstMAC, f.DstMAC, what+" dst_mac")
		c.eq(t, outer.EthType, f.EthType, what+" eth_type")
		c.eq(t, outer.VLAN, f.VLAN, what+" vlan")
	}
	c.eq(t, outer.Bytes, f.Bytes, what+" bytes (the frame's)")
}

// sflowCounterValues is SFlowInterfaceCounters by tshark_expected.py's
// names.
func sflowCounterValues(ic *SFlowInterfaceCounters) map[string]uint64 {
	return map[string]uint64{
		"if_index": uint64(ic.IfIndex), "if_type": uint64(ic.IfType), "speed": ic.Speed,
		"direction": uint64(ic.Direction), "admin_status": uint64(ic.Status & 1), "oper_status": uint64(ic.Status >> 1 & 1),
		"in_octets": ic.InOctets, "in_ucast": uint64(ic.InUcastPkts), "in_mcast": uint64(ic.InMulticastPkts),
		"in_bcast": uint64(ic.InBroadcastPkts), "in_discards": uint64(ic.InDiscards), "in_errors": uint64(ic.InErrors),
		"in_unknown": uint64(ic.InUnknownProtos), "out_octets": ic.OutOctets, "out_ucast": uint64(ic.OutUcastPkts),
		"out_mcast": uint64(ic.OutMulticastPkts), "out_bcast": uint64(ic.OutBroadcastPkts),
		"out_discards": uint64(ic.OutDiscards), "out_errors": uint64(ic.OutErrors), "promiscuous": uint64(ic.Promiscuous),
	}
}

func compareSFlowCounters(t *testing.T, c *tsharkFieldCount, what string, e *testkit.ExpectedSFlowCounters, s *SFlowCounterSample) {
	t.Helper()
	c.eq(t, e.SampleType == 4, s.Expanded, what+" expanded")
	c.eq(t, e.Sequence, s.SequenceNumber, what+" sequence")
	c.eq(t, e.SourceType, s.Source.Type, what+" source type")
	c.eq(t, e.SourceIndex, s.Source.Index, what+" source index")
	c.recordFormats(t, e.Records, s.Records, what)
	if e.Interface == nil {
		require.Zero(t, s.Has&SFlowHasInterfaceCounters, what)
		return
	}
	require.NotZero(t, s.Has&SFlowHasInterfaceCounters, what)
	got := sflowCounterValues(&s.Interface)
	keys := make([]string, 0, len(e.Interface))
	for k := range e.Interface {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	require.Len(t, keys, len(got), what+": every counter")
	for _, k := range keys {
		c.eq(t, e.Interface[k], got[k], what+" "+k)
	}
}

// TestSFlowMalformedListed: every datagram tshark marks malformed is
// listed in sflowMalformed, so none is compared loosely by accident.
func TestSFlowMalformedListed(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "expected", "sflow", "*.json"))
	require.NoError(t, err)
	for _, path := range paths {
		doc := testkit.LoadExpected(t, path)
		name := filepath.Base(path)
		name = name[:len(name)-len(".json")]
		for _, dg := range doc.Datagrams {
			key := fmt.Sprintf("%s#%d", name, dg.Index)
			_, listed := sflowMalformed[key]
			require.Equal(t, dg.Malformed, listed, key)
		}
	}
}
