package netflow

// IPFIX packet sections (313, 314, 315) through the sampled-header parser,
// on hand-built messages whose expected values are the bytes of the frames
// put in.

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// sectionFlows decodes one IPFIX message of template 300 (fields) and its
// data records, and returns the flows by both paths, which must agree.
func sectionFlows(t *testing.T, cfg Config, fields []tmplField, records ...[]byte) []Flow {
	t.Helper()
	var data []byte
	for _, r := range records {
		data = append(data, r...)
	}
	msg := ipfixMessage(1, 0, set(2, templateRecord(300, fields...), false), set(300, data, false))
	p, err := NewDecoder(cfg).Decode(testExporter, msg)
	require.NoError(t, err)
	flows := p.AppendFlows(nil)
	fast, err := NewDecoder(cfg).DecodeFlows(nil, nil, testExporter, msg)
	require.NoError(t, err)
	require.Equal(t, flows, fast)
	require.Len(t, flows, len(records))
	return flows
}

func TestIPFIXDataLinkFrameSection(t *testing.T) {
	frame := testkit.Ethernet(testkit.MACB, testkit.MACA, []uint16{42}, etherTypeIPv4, tcp4())
	fields := []tmplField{{ieDataLinkFrameSection, VariableLength, 0}, {ieOctetDeltaCount, 8, 0}, {ieIngressInterface, 4, 0}}
	rec := append(append(varLen(frame), u64(1500, 8)...), u64(7, 4)...)
	f := sectionFlows(t, Config{}, fields, rec, rec)[1]
	wantTCP4(t, f, "dataLinkFrameSection")
	require.Equal(t, MAC(testkit.MACA), f.SrcMAC)
	require.Equal(t, MAC(testkit.MACB), f.DstMAC)
	require.Equal(t, uint16(42), f.VLAN)
	require.Equal(t, uint16(0x0800), f.EthType)
	require.Equal(t, uint64(1500), f.Bytes, "bytes from the element, not the section")
	require.Equal(t, uint32(7), f.InIf)
	require.Equal(t, ExportNetFlow, f.ExportProtocol)

	// A fixed-length section, and a template that carries the source
	// address itself: its own element wins, the rest comes from the frame.
	other := netip.MustParseAddr("192.0.2.77")
	fields = []tmplField{{ieSourceIPv4Address, 4, 0}, {ieDataLinkFrameSection, uint16(len(frame)), 0}}
	f = sectionFlows(t, Config{}, fields, append(other.AsSlice(), frame...))[0]
	require.Equal(t, other, f.SrcAddr)
	require.Equal(t, phDst, f.DstAddr)
	require.Equal(t, [2]uint16{40001, 443}, [2]uint16{f.SrcPort, f.DstPort})

	// Decapsulation applies to sections too.
	for _, c := range tunnelCases() {
		if c.name != "vxlan" {
			continue
		}
		fields = []tmplField{{ieDataLinkFrameSection, VariableLength, 0}}
		f = sectionFlows(t, Config{}, fields, varLen(c.frame))[0]
		require.Equal(t, phTunS, f.SrcAddr)
		require.Equal(t, uint16(portVXLAN), f.DstPort)
		f = sectionFlows(t, Config{Decapsulate: true}, fields, varLen(c.frame))[0]
		wantTCP4(t, f, "decapsulated section")
		require.Equal(t, MAC(phInner), f.SrcMAC)
	}
}

func TestIPFIXIPHeaderSections(t *testing.T) {
	ip6 := testkit.IPv6(phSrc6, phDst6, protoUDP, 0x48, testkit.UDP(5000, 53, nil))
	fields := []tmplField{{ieIpHeaderPacketSection, VariableLength, 0}, {iePacketDeltaCount, 4, 0}}
	f := sectionFlows(t, Config{}, fields, append(varLen(ip6), u64(3, 4)...))[0]
	require.Equal(t, uint8(6), f.IPVersion)
	require.Equal(t, [2]netip.Addr{phSrc6, phDst6}, [2]netip.Addr{f.SrcAddr, f.DstAddr})
	require.Equal(t, [4]uint16{protoUDP, 0x48, 5000, 53}, [4]uint16{uint16(f.Proto), uint16(f.ToS), f.SrcPort, f.DstPort})
	require.Equal(t, uint64(3), f.Packets)
	require.False(t, f.Known.Has(FieldSrcMAC), "an IP section has no frame")

	// ipPayloadPacketSection: the transport header after the IP header,
	// read by the record's protocol.
	fields = []tmplField{{ieProtocolIdentifier, 1, 0}, {ieIpPayloadPacketSection, VariableLength, 0}}
	tcp := testkit.TCP(1234, 80, 0x11, nil)
	icmp := testkit.ICMP(11, 0)
	flows := sectionFlows(t, Config{}, fields, append([]byte{protoTCP}, varLen(tcp)...), append([]byte{protoICMP}, varLen(icmp)...))
	require.Equal(t, [3]uint16{1234, 80, 0x11}, [3]uint16{flows[0].SrcPort, flows[0].DstPort, uint16(flows[0].TCPFlags)})
	require.False(t, flows[0].Known.Has(FieldSrcAddr))
	require.Equal(t, [2]uint8{11, 0}, [2]uint8{flows[1].ICMPType, flows[1].ICMPCode})
	require.True(t, flows[1].Known.Has(FieldICMPType|FieldICMPCode))
	// Without the protocol the payload cannot be read.
	f = sectionFlows(t, Config{}, []tmplField{{ieIpPayloadPacketSection, VariableLength, 0}}, varLen(tcp))[0]
	require.False(t, f.Known.Has(FieldSrcPort))

	// A section cut short fills what it holds; a record shorter than its
	// section's length prefix says gives no section fields.
	f = sectionFlows(t, Config{}, []tmplField{{ieIpHeaderPacketSection, VariableLength, 0}}, varLen(tcp4()[:16]))[0]
	require.Equal(t, FieldProto|FieldToS|FieldIPVersion|FieldSrcAddr, f.Known&headerFields)
}

// TestIPFIXSectionPlans: templates without a section keep the fixed path;
// a section whose fields the template all has is not read.
func TestIPFIXSectionPlans(t *testing.T) {
	tmpl := func(fields ...tmplField) *Template {
		msg := ipfixMessage(1, 0, set(2, templateRecord(300, fields...), false))
		p, err := NewDecoder(Config{}).Decode(testExporter, msg)
		require.NoError(t, err)
		return setsOf(p).Templates[0]
	}
	plain := tmpl(ipfixBenchFields...)
	require.True(t, plain.plan.fixedOK)
	require.False(t, plain.plan.hasSection())
	with := tmpl(append(ipfixBenchFields, tmplField{ieDataLinkFrameSection, 64, 0})...)
	require.False(t, with.plan.fixedOK)
	require.True(t, with.plan.hasSection())
	require.Equal(t, headerL2Fields|FieldMPLSLabel|FieldIPVersion|FieldICMPType|FieldICMPCode, sectionFields(with.plan.known, startEthernet),
		"the fields the 18 elements do not give")
	// 313 beside every header field's element: nothing left to give.
	all := []tmplField{{ieIpVersion, 1, 0}, {ieSourceIPv4Address, 4, 0}, {ieDestinationIPv4Address, 4, 0},
		{ieIpClassOfService, 1, 0}, {ieProtocolIdentifier, 1, 0}, {ieSourceTransportPort, 2, 0},
		{ieDestinationTransportPort, 2, 0}, {ieTcpControlBits, 2, 0}, {ieIcmpTypeCodeIPv4, 2, 0},
		{ieSourceMacAddress, 6, 0}, {ieDestinationMacAddress, 6, 0}, {ieVlanId, 2, 0}, {ieEthernetType, 2, 0},
		{ieMplsTopLabelStackSection, 3, 0}, {ieIpHeaderPacketSection, VariableLength, 0}}
	require.False(t, tmpl(all...).plan.hasSection())
}
