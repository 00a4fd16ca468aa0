package netflow

// sFlow decoding of hand-built datagrams: every record this package
// decodes, with the values put in; the Flow fields each record fills; the
// interface formats; counters; JSON.

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

var (
	sfAgent  = netip.MustParseAddr("192.0.2.100")
	sfSrc    = netip.MustParseAddr("198.51.100.1")
	sfDst    = netip.MustParseAddr("203.0.113.2")
	sfSrc6   = netip.MustParseAddr("2001:db8::1")
	sfDst6   = netip.MustParseAddr("2001:db8::2")
	sfHop    = netip.MustParseAddr("192.0.2.254")
	sfBGPHop = netip.MustParseAddr("2001:db8::fe")
)

// sfDecode decodes one datagram with the test clock and returns the packet
// and its flows.
func sfDecode(t *testing.T, cfg Config, data []byte) (*SFlowPacket, []Flow) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = sflowTestNow
	}
	p, err := NewDecoder(cfg).Decode(testExporter, data)
	require.NoError(t, err)
	sp, ok := p.(*SFlowPacket)
	require.True(t, ok, "%T", p)
	return sp, sp.AppendFlows(nil)
}

func sfHead(seq uint32) testkit.SFlowSampleHead {
	return testkit.SFlowSampleHead{Sequence: seq, SourceIndex: 7, SamplingRate: 1000, SamplePool: 5000, Drops: 2, In: 7, Out: 9}
}

// TestSFlowBuiltDatagram: the builder's datagram gives back, in the typed
// packet and the flows, every value it put in.
func TestSFlowBuiltDatagram(t *testing.T) {
	p, flows := sfDecode(t, Config{}, buildSFlow(3))
	require.Equal(t, SFlowHeader{Agent: testkit.SFlowAgent, SubAgentID: 1, SequenceNumber: 42, Uptime: testkit.SysUptime, Samples: 4}, p.Header)
	require.Len(t, p.FlowSamples, 3)
	require.Len(t, p.CounterSamples, 1)
	require.Empty(t, p.OtherSamples)
	require.Len(t, flows, 3)
	for i, f := range flows {
		tf := testFlowN(i)
		s := &p.FlowSamples[i]
		require.Equal(t, uint32(1000+i), s.SequenceNumber)
		require.Equal(t, SFlowDataSource{Type: 0, Index: uint32(tf.In)}, s.Source)
		require.Equal(t, uint32(512), s.SamplingRate)
		require.Equal(t, uint32(512*(i+1)), s.SamplePool)
		require.Equal(t, SFlowInterface{Value: uint32(tf.In)}, s.Input)
		require.Equal(t, SFlowHasHeader|SFlowHasSwitch, s.Has)
		require.Len(t, s.Records, 2)
		require.Equal(t, testkit.SFlowFrame(i), s.Header.Bytes)

		want := Flow{
			Exporter: testExporter, Version: 5, ExportProtocol: ExportSFlow, Agent: testkit.SFlowAgent,
			Domain: 1, Sequence: 42, Packets: 1, Bytes: uint64(1000 + i), Start: sflowTestClock, End: sflowTestClock,
			SamplingInterval: 512, InIf: uint32(tf.In), OutIf: uint32(tf.Out),
			SrcMAC: testkit.MACA, DstMAC: testkit.MACB, EthType: 0x0800, IPVersion: 4,
			SrcAddr: tf.Src, DstAddr: tf.Dst, Proto: tf.Proto, ToS: tf.ToS, SrcPort: tf.SrcPort, DstPort: tf.DstPort,
			TCPFlags: tf.TCPFlags, VLAN: uint16(100 + i), PostVLAN: uint16(200 + i),
			Known: sflowFlowKnown | FieldSamplingInterval | FieldInIf | FieldOutIf | FieldBytes | FieldSrcMAC | FieldDstMAC |
				FieldEthType | FieldIPVersion | FieldSrcAddr | FieldDstAddr | FieldProto | FieldToS | FieldSrcPort |
				FieldDstPort | FieldTCPFlags | FieldVLAN | FieldPostVLAN,
		}
		require.Equal(t, want, f, "flow %d", i)
	}
	c := p.AppendInterfaceCounters(nil)
	require.Equal(t, []SFlowInterfaceCounters{{Agent: testkit.SFlowAgent, SubAgentID: 1, IfIndex: 3, IfType: 6, Speed: 1e10,
		Direction: 1, Status: 3, InOctets: 123456, InUcastPkts: 789, OutOctets: 654321, OutUcastPkts: 987}}, c)
	require.True(t, c[0].AdminUp())
	require.True(t, c[0].OperUp())
}

// TestSFlowExtendedRecords: every extended record decodes into its typed
// view and fills its Flow fields.
func TestSFlowExtendedRecords(t *testing.T) {
	user := testkit.SFlowStructure(1004, append(append(append(be.AppendUint32(nil, 106), sfString("alice")...),
		be.AppendUint32(nil, 3)...), sfString("bob-")...))
	url := testkit.SFlowStructure(1005, append(append(be.AppendUint32(nil, 2), sfString("/index.html")...), sfString("example.org")...))
	mpls := testkit.SFlowStructure(1006, append(append(testkit.SFlowAddress(sfHop), sfWords(1000, 2000)...), sfWords(3000)...))
	natPort := testkit.SFlowStructure(1020, sfWordsRaw(40000, 8443))
	enterprise := testkit.SFlowStructure(9<<12|77, []byte{1, 2, 3, 4, 5})
	data := testkit.SFlowDatagram(sfAgent, 2, 9, 100, testkit.SFlowFlowSample(sfHead(1),
		enterprise,
		testkit.SFlowRouter(sfHop, 24, 16),
		testkit.SFlowGateway(sfBGPHop, 64500, 64501, 64502, []uint32{64510, 64511, 64512}, []uint32{65000<<16 | 1, 65000<<16 | 2}, 200),
		user, url, mpls,
		testkit.SFlowNAT(netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("192.0.2.60")),
		natPort,
	))
	p, flows := sfDecode(t, Config{}, data)
	s := &p.FlowSamples[0]
	require.Equal(t, SFlowHasRouter|SFlowHasGateway|SFlowHasUser|SFlowHasURL|SFlowHasMPLS|SFlowHasNAT|SFlowHasNATPort, s.Has)
	require.Len(t, s.Records, 8)
	require.Equal(t, SFlowStructure{Enterprise: 9, Format: 77, Data: []byte{1, 2, 3, 4, 5}}, s.Records[0])
	require.Equal(t, SFlowExtendedRouter{NextHop: sfHop, SrcMask: 24, DstMask: 16}, s.Router)
	g := &s.Gateway
	require.Equal(t, sfBGPHop, g.NextHop)
	require.Equal(t, [3]uint32{64500, 64501, 64502}, [3]uint32{g.AS, g.SrcAS, g.SrcPeerAS})
	require.Equal(t, uint32(64512), g.DstAS)
	require.Equal(t, uint32(64510), g.DstPeerAS)
	require.Equal(t, uint32(1), g.Segments)
	require.Equal(t, []uint32{64510, 64511, 64512}, g.AppendASPath(nil))
	require.Equal(t, []uint32{65000<<16 | 1, 65000<<16 | 2}, g.AppendCommunities(nil))
	require.Equal(t, uint32(200), g.LocalPref)
	require.Equal(t, SFlowExtendedUser{SrcCharset: 106, SrcUser: []byte("alice"), DstCharset: 3, DstUser: []byte("bob-")}, s.User)
	require.Equal(t, uint32(2), s.URL.Direction)
	require.Equal(t, "/index.html", string(s.URL.URL))
	require.Equal(t, "example.org", string(s.URL.Host))
	require.Equal(t, sfHop, s.MPLS.NextHop)
	require.Equal(t, []uint32{1000, 2000}, s.MPLS.AppendInStack(nil))
	require.Equal(t, []uint32{3000}, s.MPLS.AppendOutStack(nil))
	require.Equal(t, SFlowExtendedNATPort{SrcPort: 40000, DstPort: 8443}, s.NATPort)

	f := flows[0]
	require.Equal(t, sfHop, f.NextHop)
	require.Equal(t, [2]uint8{24, 16}, [2]uint8{f.SrcMask, f.DstMask})
	require.Equal(t, sfBGPHop, f.BGPNextHop)
	require.Equal(t, [2]uint32{64501, 64512}, [2]uint32{f.SrcAS, f.DstAS})
	require.Equal(t, "192.0.2.50", f.PostNATSrcAddr.String())
	require.Equal(t, "192.0.2.60", f.PostNATDstAddr.String())
	require.Equal(t, [2]uint16{40000, 8443}, [2]uint16{f.PostNATSrcPort, f.PostNATDstPort})
	require.Equal(t, uint32(1000), f.MPLSLabel)
	require.True(t, f.Known.Has(FieldNextHop|FieldSrcMask|FieldDstMask|FieldBGPNextHop|FieldSrcAS|FieldDstAS|
		FieldPostNATSrcAddr|FieldPostNATDstAddr|FieldPostNATSrcPort|FieldPostNATDstPort|FieldMPLSLabel))
	// No header, Ethernet or IP record: no addresses, no bytes.
	require.False(t, f.Known.Has(FieldSrcAddr))
	require.False(t, f.Known.Has(FieldBytes))
	require.False(t, f.Known.Has(FieldVLAN))
}

func sfString(s string) []byte {
	b := be.AppendUint32(nil, uint32(len(s)))
	b = append(b, s...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func sfWords(vs ...uint32) []byte {
	b := be.AppendUint32(nil, uint32(len(vs)))
	for _, v := range vs {
		b = be.AppendUint32(b, v)
	}
	return b
}

// TestSFlowSampledRecords: without a raw packet header, the Ethernet and
// IPv4/IPv6 data records give the Flow its addresses and layer 2 fields;
// with one, the header wins.
func TestSFlowSampledRecords(t *testing.T) {
	eth := testkit.SFlowStructure(2, append(append(append(be.AppendUint32(nil, 1514), append(testkit.MACA[:], 0, 0)...),
		append(testkit.MACB[:], 0, 0)...), be.AppendUint32(nil, 0x86dd)...))
	ip6 := testkit.SFlowStructure(4, append(append(append(sfWordsRaw(1500, 17), sfSrc6.AsSlice()...), sfDst6.AsSlice()...),
		sfWordsRaw(5353, 53, 0, 0x20)...))
	ip4 := testkit.SFlowStructure(3, append(append(append(sfWordsRaw(60, 6), sfSrc.AsSlice()...), sfDst.AsSlice()...),
		sfWordsRaw(1234, 80, 0x12, 0x28)...))
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowFlowSample(sfHead(1), eth, ip6), testkit.SFlowFlowSample(sfHead(2), ip4))
	p, flows := sfDecode(t, Config{}, data)
	require.Equal(t, SFlowSampledEthernet{Length: 1514, Src: testkit.MACA, Dst: testkit.MACB, Type: 0x86dd}, p.FlowSamples[0].Ethernet)
	require.Equal(t, SFlowSampledIP{Length: 1500, Protocol: 17, Src: sfSrc6, Dst: sfDst6, SrcPort: 5353, DstPort: 53, ToS: 0x20}, p.FlowSamples[0].IP)
	f := flows[0]
	require.Equal(t, uint64(1514), f.Bytes, "the Ethernet length before the IP length")
	require.Equal(t, [2]MAC{testkit.MACA, testkit.MACB}, [2]MAC{f.SrcMAC, f.DstMAC})
	require.Equal(t, uint16(0x86dd), f.EthType)
	require.Equal(t, [2]netip.Addr{sfSrc6, sfDst6}, [2]netip.Addr{f.SrcAddr, f.DstAddr})
	require.Equal(t, [4]uint64{6, 17, 5353, 53}, [4]uint64{uint64(f.IPVersion), uint64(f.Proto), uint64(f.SrcPort), uint64(f.DstPort)})
	require.Equal(t, uint8(0x20), f.ToS)
	require.False(t, f.Known.Has(FieldTCPFlags), "UDP: no TCP flags")
	f = flows[1]
	require.Equal(t, uint64(60), f.Bytes)
	require.Equal(t, uint8(0x12), f.TCPFlags)
	require.Equal(t, uint8(4), f.IPVersion)
	require.False(t, f.Known.Has(FieldSrcMAC))

	// A header beside an IPv4 record: the header's values.
	frame := testkit.Ethernet(testkit.MACB, testkit.MACA, nil, 0x0800, testkit.IPv4(sfDst, sfSrc, 17, 0, testkit.UDP(53, 999, nil)))
	data = testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowFlowSample(sfHead(1), ip4, testkit.SFlowRawHeader(1, 64, 4, frame)))
	_, flows = sfDecode(t, Config{}, data)
	require.Equal(t, sfDst, flows[0].SrcAddr)
	require.Equal(t, uint8(17), flows[0].Proto)
	require.Equal(t, uint64(64), flows[0].Bytes)
	require.False(t, flows[0].Known.Has(FieldTCPFlags), "the header's UDP has none; the record's TCP flags went with its protocol")
}

func sfWordsRaw(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = be.AppendUint32(b, v)
	}
	return b
}

// TestSFlowInterfaces: the interface formats of compact and expanded
// samples, and what the Flow makes of them.
func TestSFlowInterfaces(t *testing.T) {
	h := sfHead(1)
	discard, multiple, internal := h, h, h
	discard.OutFormat, discard.Out = 1, 258 // discarded: ACL
	multiple.OutFormat, multiple.Out = 2, 3 // three interfaces
	internal.In = 0x3fffffff
	exp := h
	exp.SourceType, exp.SourceIndex, exp.In, exp.Out = 2, 1<<24+5, 1<<30+1, 1<<31
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1,
		testkit.SFlowFlowSample(discard), testkit.SFlowFlowSample(multiple), testkit.SFlowFlowSample(internal),
		testkit.SFlowExpandedFlowSample(exp))
	p, flows := sfDecode(t, Config{}, data)

	r, ok := p.FlowSamples[0].Output.Discarded()
	require.True(t, ok)
	require.Equal(t, uint32(258), r)
	require.True(t, flows[0].Known.Has(FieldOutIf))
	require.Zero(t, flows[0].OutIf, "a discarded packet goes out of interface 0")

	n, ok := p.FlowSamples[1].Output.Multiple()
	require.True(t, ok)
	require.Equal(t, uint32(3), n)
	require.False(t, flows[1].Known.Has(FieldOutIf), "several interfaces: none known")
	_, ok = p.FlowSamples[1].Output.IfIndex()
	require.False(t, ok)

	require.True(t, p.FlowSamples[2].Input.Internal())
	require.Equal(t, uint32(0x3fffffff), flows[2].InIf)

	e := &p.FlowSamples[3]
	require.True(t, e.Expanded)
	require.Equal(t, SFlowDataSource{Type: 2, Index: 1<<24 + 5}, e.Source)
	require.Equal(t, uint32(1<<30+1), flows[3].InIf, "an expanded ifIndex beyond 30 bits")
	require.Equal(t, uint32(1<<31), flows[3].OutIf)
}

// TestSFlowCounterRecords: the counter records decode with the values put
// in; unknown ones stay raw.
func TestSFlowCounterRecords(t *testing.T) {
	ethCtr := testkit.SFlowStructure(2, sfWordsRaw(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13))
	vlanCtr := testkit.SFlowStructure(5, append(append(sfWordsRaw(100), be.AppendUint64(nil, 1<<40)...), sfWordsRaw(1, 2, 3, 4)...))
	cpu := testkit.SFlowStructure(1001, append(append(sfWordsRaw(150, 250, 350), be.AppendUint64(nil, 16<<30)...), be.AppendUint64(nil, 8<<30)...))
	host := testkit.SFlowStructure(2003, sfWordsRaw(1, 2, 3))
	exp := testkit.SFlowStructure(4, append(sfWordsRaw(11, 0, 1<<25, 2), append(ethCtr, cpu...)...))
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowCounterSample(10, 0, 4, ethCtr, vlanCtr, cpu, host), exp)
	p, flows := sfDecode(t, Config{}, data)
	require.Empty(t, flows)
	require.Len(t, p.CounterSamples, 2)
	c := &p.CounterSamples[0]
	require.Equal(t, SFlowHasEthernetCounters|SFlowHasVLANCounters|SFlowHasProcessorCounters, c.Has)
	require.Equal(t, SFlowEthernetCounters{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, c.Ethernet)
	require.Equal(t, SFlowVLANCounters{VLANID: 100, Octets: 1 << 40, UcastPkts: 1, MulticastPkts: 2, BroadcastPkts: 3, Discards: 4}, c.VLAN)
	require.Equal(t, SFlowProcessorCounters{CPU5s: 150, CPU1m: 250, CPU5m: 350, TotalMemory: 16 << 30, FreeMemory: 8 << 30}, c.Processor)
	require.Len(t, c.Records, 4)
	require.Equal(t, uint32(2003), c.Records[3].Format)
	require.Empty(t, p.AppendInterfaceCounters(nil))
	e := &p.CounterSamples[1]
	require.True(t, e.Expanded)
	require.Equal(t, SFlowDataSource{Type: 0, Index: 1 << 25}, e.Source)
	require.Equal(t, uint32(11), e.SequenceNumber)
	require.Equal(t, SFlowHasEthernetCounters|SFlowHasProcessorCounters, e.Has)
}

// TestSFlowOtherSamples: samples of other formats and enterprises are kept
// raw, between decoded ones.
func TestSFlowOtherSamples(t *testing.T) {
	drop := testkit.SFlowStructure(5, sfWordsRaw(1, 2, 3))
	ent := testkit.SFlowStructure(4413<<12|1, []byte("xyz"))
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, drop, testkit.SFlowFlowSample(sfHead(1)), ent)
	p, flows := sfDecode(t, Config{}, data)
	require.Len(t, flows, 1)
	require.Equal(t, []SFlowStructure{{Format: 5, Data: sfWordsRaw(1, 2, 3)}, {Enterprise: 4413, Format: 1, Data: []byte("xyz")}}, p.OtherSamples)
}

// TestSFlowIPv6Agent: an IPv6 agent address, and the unknown address type.
func TestSFlowIPv6Agent(t *testing.T) {
	p, flows := sfDecode(t, Config{}, testkit.SFlowDatagram(sfSrc6, 3, 4, 5, testkit.SFlowFlowSample(sfHead(1))))
	require.Equal(t, sfSrc6, p.Header.Agent)
	require.Equal(t, sfSrc6, flows[0].Agent)
	require.Equal(t, uint32(3), flows[0].Domain)
	p, _ = sfDecode(t, Config{}, testkit.SFlowDatagram(netip.Addr{}, 3, 4, 5))
	require.False(t, p.Header.Agent.IsValid())
}

// TestSFlowSamplingPolicy: Config.Sampling scales sFlow counts by the
// sampling rate and overrides it, as for NetFlow.
func TestSFlowSamplingPolicy(t *testing.T) {
	all := netip.MustParsePrefix("192.0.2.0/24")
	_, flows := sfDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: all, Scale: true}}}, buildSFlow(2))
	require.Equal(t, uint64(512), flows[0].Packets)
	require.Equal(t, uint64(512*1000), flows[0].Bytes)
	require.True(t, flows[0].Known.Has(FieldScaled))
	_, flows = sfDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: all, Override: 10, Scale: true}}}, buildSFlow(2))
	require.Equal(t, uint32(10), flows[1].SamplingInterval)
	require.Equal(t, uint64(10*1001), flows[1].Bytes)
	// A sample with sampling rate 0 gets the policy's default.
	h := sfHead(1)
	h.SamplingRate = 0
	_, flows = sfDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: all, Default: 64}}}, testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowFlowSample(h)))
	require.Equal(t, uint32(64), flows[0].SamplingInterval)
}

// TestSFlowJSON: an sFlow flow's JSON has "protocol":"sflow" right after
// "version" and "agent" after it; a NetFlow v5 flow's has neither.
func TestSFlowJSON(t *testing.T) {
	_, flows := sfDecode(t, Config{}, buildSFlow(1))
	got := string(flows[0].AppendJSON(nil))
	tf := testFlowN(0)
	want := `{"exporter":"192.0.2.1:2055","version":5,"protocol":"sflow","agent":"192.0.2.100","domain":1,"sequence":42,` +
		`"src_addr":"` + tf.Src.String() + `","dst_addr":"` + tf.Dst.String() + `","src_port":40000,"dst_port":443,"proto":6,"tos":0,` +
		`"tcp_flags":27,"packets":1,"bytes":1000,"start":"2026-01-02T03:04:05.000000006Z","end":"2026-01-02T03:04:05.000000006Z",` +
		`"in_if":100,"out_if":200,"sampling_interval":512,"src_mac":"02:00:00:00:00:0a","dst_mac":"02:00:00:00:00:0b",` +
		`"vlan":100,"post_vlan":200,"ip_version":4,"eth_type":2048}`
	require.Equal(t, want, got)
	var back map[string]any
	require.NoError(t, json.Unmarshal([]byte(got), &back))
	require.Equal(t, "sflow", back["protocol"])
	require.Contains(t, flows[0].String(), " version=5 protocol=sflow agent=192.0.2.100 ")

	v5, err := NewDecoder(Config{}).DecodeFlows(nil, nil, testExporter, buildV5(1))
	require.NoError(t, err)
	require.NotContains(t, string(v5[0].AppendJSON(nil)), "protocol")
	require.NotContains(t, string(v5[0].AppendJSON(nil)), "agent")
	require.Equal(t, ExportNetFlow, v5[0].ExportProtocol)
	require.Equal(t, "netflow", ExportNetFlow.String())
	require.Equal(t, "ExportProtocol(9)", ExportProtocol(9).String())
}

// TestSFlowReusedSlotsAreCleared: a []Flow and a Buffer that held sFlow
// flows give NetFlow and IPFIX flows without the sFlow marker or agent,
// on every fill path, and the other way round.
func TestSFlowReusedSlotsAreCleared(t *testing.T) {
	d := NewDecoder(Config{Now: sflowTestNow})
	_, err := d.Decode(testExporter, buildIPFIXTemplate())
	require.NoError(t, err)
	_, err = d.Decode(testExporter, buildV9Template())
	require.NoError(t, err)
	var buf Buffer
	for _, data := range [][]byte{buildV5(30), buildV9Data(30), buildIPFIXData(30), buildV1(30)} {
		flows, err := d.DecodeFlows(&buf, nil, testExporter, buildSFlow(30))
		require.NoError(t, err)
		flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, data)
		require.NoError(t, err)
		for i := range flows {
			require.Equal(t, ExportNetFlow, flows[i].ExportProtocol)
			require.False(t, flows[i].Agent.IsValid())
			require.False(t, flows[i].Known.Has(FieldAgent))
		}
		p, err := d.DecodeInto(&buf, testExporter, data)
		require.NoError(t, err)
		require.Equal(t, flows, p.AppendFlows(nil))
	}
}

// TestSFlowSequences: sFlow datagram sequence numbers are tracked per
// exporter and sub-agent, apart from a NetFlow v5 domain of the same
// number: a missing datagram is lost, a late one fills its gap.
func TestSFlowSequences(t *testing.T) {
	d := NewDecoder(Config{Now: sflowTestNow})
	for _, seq := range []uint32{1, 2, 4, 5, 3, 6} {
		_, err := d.Decode(testExporter, testkit.SFlowDatagram(sfAgent, 1, seq, 1000+seq, testkit.SFlowFlowSample(sfHead(seq))))
		require.NoError(t, err)
	}
	v5 := buildV5(1) // engine 1/2: domain 0x0102
	_, err := d.Decode(testExporter, v5)
	require.NoError(t, err)
	var sf *SequenceStats
	st := d.Stats().Sequences
	require.Len(t, st, 2)
	for i := range st {
		if st[i].Protocol == ExportSFlow {
			sf = &st[i]
		}
	}
	require.NotNil(t, sf)
	require.Equal(t, SequenceStats{Exporter: testExporter, Version: 5, Protocol: ExportSFlow, Domain: 1, Messages: 6, Late: 1}, *sf)

	// The real captures: consecutive datagrams, nothing lost.
	d = NewDecoder(Config{Now: sflowTestNow})
	for _, data := range fixturePayloads(t, "testdata/sflow/pmacct-sfprobe/pmacct-sfprobe-mixed-r4.pcap") {
		_, err := d.Decode(testExporter, data)
		require.NoError(t, err)
	}
	st = d.Stats().Sequences
	require.Len(t, st, 1)
	require.Equal(t, uint64(32), st[0].Messages)
	require.Zero(t, st[0].Lost+st[0].Late+st[0].Restarts+st[0].Duplicates)
}
