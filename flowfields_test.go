package netflow

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// ffField is one field of a hand-built template: ID, PEN, length, value.
type ffField struct {
	id     uint16
	pen    uint32
	length uint16
	value  []byte
}

// ffIPFIX builds an IPFIX message with a template (ID 300) of fields and
// one data record of their values; a field of length VariableLength is
// written with a one-byte length.
func ffIPFIX(seq uint32, fields []ffField, withTemplate bool) []byte {
	var tpl, rec []byte
	tpl = binary.BigEndian.AppendUint16(tpl, 300)
	tpl = binary.BigEndian.AppendUint16(tpl, uint16(len(fields)))
	for _, f := range fields {
		id := f.id
		if f.pen != 0 {
			id |= 0x8000
		}
		tpl = binary.BigEndian.AppendUint16(tpl, id)
		tpl = binary.BigEndian.AppendUint16(tpl, f.length)
		if f.pen != 0 {
			tpl = binary.BigEndian.AppendUint32(tpl, f.pen)
		}
		if f.length == VariableLength {
			rec = append(rec, byte(len(f.value)))
		}
		rec = append(rec, f.value...)
	}
	var msg []byte
	msg = binary.BigEndian.AppendUint16(msg, 10)
	msg = binary.BigEndian.AppendUint16(msg, 0) // length, below
	msg = binary.BigEndian.AppendUint32(msg, 1700000000)
	msg = binary.BigEndian.AppendUint32(msg, seq)
	msg = binary.BigEndian.AppendUint32(msg, 7)
	if withTemplate {
		msg = binary.BigEndian.AppendUint16(msg, 2)
		msg = binary.BigEndian.AppendUint16(msg, uint16(4+len(tpl)))
		msg = append(msg, tpl...)
	}
	msg = binary.BigEndian.AppendUint16(msg, 300)
	msg = binary.BigEndian.AppendUint16(msg, uint16(4+len(rec)))
	msg = append(msg, rec...)
	binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)))
	return msg
}

func ffU(n uint64, length int) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b[8-length:]
}

func ffAddr(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

// ffDecode decodes msg with a fresh decoder and returns its one flow, by
// DecodeInto+AppendFlows and by DecodeFlows, which must agree.
func ffDecode(t *testing.T, cfg Config, msg []byte) Flow {
	t.Helper()
	d := NewDecoder(cfg)
	p, err := d.Decode(testExporter, msg)
	require.NoError(t, err)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, 1)
	d2 := NewDecoder(cfg)
	fast, err := d2.DecodeFlows(nil, nil, testExporter, msg)
	require.NoError(t, err)
	require.Equal(t, flows, fast)
	return flows[0]
}

// TestNextHopIsIE15Only: a template listing bgpNextHopIPv4Address (18)
// before ipNextHopIPv4Address (15) gives NextHop from 15 and BGPNextHop
// from 18; a template with only 18 has no NextHop.
func TestNextHopIsIE15Only(t *testing.T) {
	for _, variable := range []bool{false, true} {
		extra := ffField{id: ieInterfaceName, length: 4, value: []byte("eth0")}
		if variable {
			extra.length = VariableLength
		}
		f := ffDecode(t, Config{}, ffIPFIX(0, []ffField{
			{id: ieBgpNextHopIPv4Address, length: 4, value: ffAddr("203.0.113.9")},
			{id: ieIpNextHopIPv4Address, length: 4, value: ffAddr("198.51.100.1")},
			extra,
		}, true))
		require.Equal(t, netip.MustParseAddr("198.51.100.1"), f.NextHop)
		require.Equal(t, netip.MustParseAddr("203.0.113.9"), f.BGPNextHop)
		require.True(t, f.Known.Has(FieldNextHop|FieldBGPNextHop))

		f = ffDecode(t, Config{}, ffIPFIX(0, []ffField{
			{id: ieBgpNextHopIPv6Address, length: 16, value: ffAddr("2001:db8::9")}, extra,
		}, true))
		require.False(t, f.Known.Has(FieldNextHop))
		require.False(t, f.NextHop.IsValid())
		require.Equal(t, netip.MustParseAddr("2001:db8::9"), f.BGPNextHop)
	}
}

// TestExtraFieldsEveryPath: every new field, from a fixed-length template
// (the straight-line path) and a variable-length one (the general path),
// with the values RFC 7012 defines; MPLS label 0x12345 with traffic class
// 5 and bottom-of-stack set is 0x12345b on the wire (RFC 3032).
func TestExtraFieldsEveryPath(t *testing.T) {
	fields := []ffField{
		{id: ieProtocolIdentifier, length: 1, value: ffU(58, 1)},
		{id: ieSourceMacAddress, length: 6, value: []byte{0, 0x1b, 0x21, 0xbc, 0x24, 0xdc}},
		{id: ieDestinationMacAddress, length: 6, value: []byte{0x44, 0xd9, 0xe7, 0xbe, 0xef, 0x89}},
		{id: ieDot1qVlanId, length: 2, value: ffU(872, 2)},
		{id: iePostVlanId, length: 2, value: ffU(12, 2)},
		{id: ieEthernetType, length: 2, value: ffU(0x86dd, 2)},
		{id: ieFlowDirection, length: 1, value: ffU(1, 1)},
		{id: ieFlowEndReason, length: 1, value: ffU(3, 1)},
		{id: ieIpVersion, length: 1, value: ffU(6, 1)},
		{id: ieIcmpTypeCodeIPv4, length: 2, value: ffU(0, 2)},
		{id: ieIcmpTypeCodeIPv6, length: 2, value: ffU(128<<8, 2)}, // echo request, code 0,
		{id: ieMplsTopLabelStackSection, length: 3, value: []byte{0x12, 0x34, 0x5b}},
		{id: ieIngressVRFID, length: 4, value: ffU(1610612736, 4)},
		{id: ieEgressVRFID, length: 4, value: ffU(7, 4)},
		{id: ieBgpNextHopIPv6Address, length: 16, value: ffAddr("2001:db8::1")},
		{id: iePostNATSourceIPv4Address, length: 4, value: ffAddr("192.168.0.1")},
		{id: iePostNATDestinationIPv6Address, length: 16, value: ffAddr("2001:db8::2")},
		{id: iePostNAPTSourceTransportPort, length: 2, value: ffU(56650, 2)},
		{id: iePostNAPTDestinationTransportPort, length: 2, value: ffU(80, 2)},
	}
	want := Flow{
		Exporter: testExporter, Version: 10, Domain: 7, Proto: 58,
		SrcMAC: MAC{0, 0x1b, 0x21, 0xbc, 0x24, 0xdc}, DstMAC: MAC{0x44, 0xd9, 0xe7, 0xbe, 0xef, 0x89},
		VLAN: 872, PostVLAN: 12, EthType: 0x86dd, Direction: 1, EndReason: 3, IPVersion: 6,
		ICMPType: 128, ICMPCode: 0, MPLSLabel: 0x12345, InVRF: 1610612736, OutVRF: 7,
		BGPNextHop:     netip.MustParseAddr("2001:db8::1"),
		PostNATSrcAddr: netip.MustParseAddr("192.168.0.1"), PostNATDstAddr: netip.MustParseAddr("2001:db8::2"),
		PostNATSrcPort: 56650, PostNATDstPort: 80,
		Known: FieldDomain | FieldSequence | FieldProto | FieldSrcMAC | FieldDstMAC | FieldVLAN | FieldPostVLAN |
			FieldEthType | FieldDirection | FieldEndReason | FieldIPVersion | FieldICMPType | FieldICMPCode |
			FieldMPLSLabel | FieldInVRF | FieldOutVRF | FieldBGPNextHop | FieldPostNATSrcAddr |
			FieldPostNATDstAddr | FieldPostNATSrcPort | FieldPostNATDstPort,
	}
	require.Equal(t, "00:1b:21:bc:24:dc", want.SrcMAC.String())
	got := ffDecode(t, Config{}, ffIPFIX(0, fields, true))
	require.Equal(t, want, got)
	variable := append(fields, ffField{id: ieInterfaceName, length: VariableLength, value: []byte("x")})
	require.Equal(t, want, ffDecode(t, Config{}, ffIPFIX(0, variable, true)))

	// A TCP flow of the same template has no ICMP type.
	fields[0].value = ffU(6, 1)
	got = ffDecode(t, Config{}, ffIPFIX(0, fields, true))
	require.False(t, got.Known.Has(FieldICMPType) || got.Known.Has(FieldICMPCode))
	require.Zero(t, got.ICMPType)
}

// TestFastPathWritesEveryField: the straight-line path does not zero the
// Flow; decoding a plain record into a slot that held a flow of every field
// leaves nothing behind.
func TestFastPathWritesEveryField(t *testing.T) {
	d := NewDecoder(Config{})
	rich := ffIPFIX(0, []ffField{
		{id: ieSourceMacAddress, length: 6, value: []byte{1, 2, 3, 4, 5, 6}},
		{id: ieBgpNextHopIPv4Address, length: 4, value: ffAddr("203.0.113.9")},
		{id: iePostNATSourceIPv4Address, length: 4, value: ffAddr("192.168.0.1")},
		{id: ieVlanId, length: 2, value: ffU(5, 2)},
	}, true)
	flows, err := d.DecodeFlows(nil, nil, testExporter, rich)
	require.NoError(t, err)
	require.Len(t, flows, 1)
	plain := ffIPFIX(1, []ffField{{id: ieOctetDeltaCount, length: 8, value: ffU(99, 8)}}, true)
	binary.BigEndian.PutUint16(plain[16:], 2) // template set
	flows, err = d.DecodeFlows(nil, flows[:0], testExporter, plain)
	require.NoError(t, err)
	require.Equal(t, Flow{Exporter: testExporter, Version: 10, Domain: 7, Sequence: 1, Bytes: 99,
		Known: FieldDomain | FieldSequence | FieldBytes}, flows[0])
}

// TestFlowSize logs the size of Flow (224 bytes before issue 14).
func TestFlowSize(t *testing.T) {
	t.Logf("unsafe.Sizeof(Flow{}) = %d", unsafe.Sizeof(Flow{}))
	var a, b Flow
	require.True(t, a == b, "Flow is comparable")
}
