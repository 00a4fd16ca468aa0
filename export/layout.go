package export

import (
	"github.com/flowkit/netflow"
)

// The templates a Writer chooses for Flow values: one per layout, that is
// per set of known fields and per address family of each address, so that
// an IPv4 and an IPv6 flow get separate templates and every field a flow
// knows gets an element (the decoder then sets the same Known bits).

// TimeFormat is how v9 and IPFIX data records carry a flow's start and end.
type TimeFormat uint8

// The time formats. Each has its resolution: decoding gives the flow's
// times cut to it.
const (
	// TimeDefault is TimeUptime for NetFlow v9 and TimeMillis for IPFIX.
	TimeDefault TimeFormat = iota
	// TimeUptime: flowStartSysUpTime and flowEndSysUpTime (22, 21),
	// milliseconds since Config.Boot: in v9 against the header's uptime,
	// in IPFIX against systemInitTimeMilliseconds, which the writer
	// announces in options data.
	TimeUptime
	// TimeSeconds: flowStartSeconds and flowEndSeconds (150, 151).
	TimeSeconds
	// TimeMillis: flowStartMilliseconds and flowEndMilliseconds (152, 153).
	TimeMillis
	// TimeMicros: flowStartMicroseconds and flowEndMicroseconds (154, 155),
	// NTP format.
	TimeMicros
	// TimeNanos: flowStartNanoseconds and flowEndNanoseconds (156, 157),
	// NTP format.
	TimeNanos
	// TimeDeltaMicros: flowStartDeltaMicroseconds and
	// flowEndDeltaMicroseconds (158, 159), microseconds before the export
	// time; a flow may not end after it.
	TimeDeltaMicros
)

// timeElements returns the start and end elements and their length.
func (tf TimeFormat) elements() (start, end, n uint16) {
	switch tf {
	case TimeUptime:
		return ieFlowStartSysUpTime, ieFlowEndSysUpTime, 4
	case TimeSeconds:
		return ieFlowStartSeconds, ieFlowEndSeconds, 4
	case TimeMicros:
		return ieFlowStartMicroseconds, ieFlowEndMicroseconds, 8
	case TimeNanos:
		return ieFlowStartNanoseconds, ieFlowEndNanoseconds, 8
	case TimeDeltaMicros:
		return ieFlowStartDeltaMicroseconds, ieFlowEndDeltaMicroseconds, 4
	}
	return ieFlowStartMilliseconds, ieFlowEndMilliseconds, 8
}

// layoutFields are the Flow fields a default template carries an element
// for.
const layoutFields = netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldNextHop |
	netflow.FieldSrcPort | netflow.FieldDstPort | netflow.FieldProto | netflow.FieldToS |
	netflow.FieldTCPFlags | netflow.FieldSrcMask | netflow.FieldDstMask | netflow.FieldPackets |
	netflow.FieldBytes | netflow.FieldStart | netflow.FieldEnd | netflow.FieldInIf |
	netflow.FieldOutIf | netflow.FieldSrcAS | netflow.FieldDstAS | netflow.FieldSamplingInterval |
	netflow.FieldSrcMAC | netflow.FieldDstMAC | netflow.FieldVLAN | netflow.FieldPostVLAN |
	netflow.FieldDirection | netflow.FieldEndReason | netflow.FieldBGPNextHop |
	netflow.FieldICMPType | netflow.FieldICMPCode | netflow.FieldIPVersion | netflow.FieldInVRF |
	netflow.FieldOutVRF | netflow.FieldMPLSLabel | netflow.FieldEthType |
	netflow.FieldPostNATSrcAddr | netflow.FieldPostNATDstAddr | netflow.FieldPostNATSrcPort |
	netflow.FieldPostNATDstPort

// layoutKey identifies the default template of a flow.
type layoutKey struct {
	known netflow.FlowFields
	v6    uint8 // addrBit: which addresses are IPv6
}

// Bits of layoutKey.v6.
const (
	v6Src uint8 = 1 << iota
	v6Dst
	v6NextHop
	v6BGPNextHop
	v6PostNATSrc
	v6PostNATDst
	v6Exporter
	hasExporter
)

// layoutOf returns the layout of f; exporter says whether the template
// carries the exporter's address.
func layoutOf(f *netflow.Flow, exporter bool) layoutKey {
	k := layoutKey{known: f.Known & layoutFields}
	if f.SamplingInterval == 0 {
		k.known &^= netflow.FieldSamplingInterval
	}
	if f.SrcAddr.Is6() {
		k.v6 |= v6Src
	}
	if f.DstAddr.Is6() {
		k.v6 |= v6Dst
	}
	if f.NextHop.Is6() {
		k.v6 |= v6NextHop
	}
	if k.known&(netflow.FieldBGPNextHop|netflow.FieldPostNATSrcAddr|netflow.FieldPostNATDstAddr) != 0 {
		if f.BGPNextHop.Is6() {
			k.v6 |= v6BGPNextHop
		}
		if f.PostNATSrcAddr.Is6() {
			k.v6 |= v6PostNATSrc
		}
		if f.PostNATDstAddr.Is6() {
			k.v6 |= v6PostNATDst
		}
	}
	if exporter {
		k.v6 |= hasExporter
		if f.Exporter.Addr().Is6() {
			k.v6 |= v6Exporter
		}
	}
	return k
}

// layoutFields returns the fields of the default template of layout k for
// a writer of version with time format tf and the caller's mappings.
func (k layoutKey) fields(version uint16, tf TimeFormat, mappings []netflow.FlowMapping) []netflow.TemplateField {
	var fs []netflow.TemplateField
	has := func(f netflow.FlowFields) bool { return k.known&f != 0 }
	// add appends the element for Flow field f: a mapped enterprise
	// element (IPFIX) or mapped v9 type if there is one, else id.
	add := func(f netflow.FlowFields, id, n uint16) {
		if !has(f) {
			return
		}
		for _, m := range mappings {
			if m.Field == f && (m.PEN == 0 || version == 10) && (m.ID <= maxIPFIXFieldID || version == 9) {
				fs = append(fs, netflow.TemplateField{ID: m.ID, PEN: m.PEN, Length: n})
				return
			}
		}
		fs = append(fs, netflow.TemplateField{ID: id, Length: n})
	}
	addr := func(f netflow.FlowFields, bit uint8, v4, v6 uint16) {
		if k.v6&bit != 0 {
			add(f, v6, 16)
		} else {
			add(f, v4, 4)
		}
	}
	if k.v6&hasExporter != 0 {
		if k.v6&v6Exporter != 0 {
			fs = append(fs, netflow.TemplateField{ID: ieExporterIPv6Address, Length: 16})
		} else {
			fs = append(fs, netflow.TemplateField{ID: ieExporterIPv4Address, Length: 4})
		}
	}
	addr(netflow.FieldSrcAddr, v6Src, ieSourceIPv4Address, ieSourceIPv6Address)
	addr(netflow.FieldDstAddr, v6Dst, ieDestinationIPv4Address, ieDestinationIPv6Address)
	addr(netflow.FieldNextHop, v6NextHop, ieIPNextHopIPv4Address, ieIPNextHopIPv6Address)
	add(netflow.FieldSrcPort, ieSourceTransportPort, 2)
	add(netflow.FieldDstPort, ieDestinationTransportPort, 2)
	add(netflow.FieldProto, ieProtocolIdentifier, 1)
	add(netflow.FieldToS, ieIPClassOfService, 1)
	add(netflow.FieldTCPFlags, ieTCPControlBits, 1)
	v6 := k.v6&(v6Src|v6Dst) != 0
	if v6 {
		add(netflow.FieldSrcMask, ieSourceIPv6PrefixLength, 1)
		add(netflow.FieldDstMask, ieDestinationIPv6PrefixLength, 1)
	} else {
		add(netflow.FieldSrcMask, ieSourceIPv4PrefixLength, 1)
		add(netflow.FieldDstMask, ieDestinationIPv4PrefixLength, 1)
	}
	add(netflow.FieldPackets, iePacketDeltaCount, 8)
	add(netflow.FieldBytes, ieOctetDeltaCount, 8)
	start, end, n := tf.elements()
	if has(netflow.FieldStart) {
		fs = append(fs, netflow.TemplateField{ID: start, Length: n})
	}
	if has(netflow.FieldEnd) {
		fs = append(fs, netflow.TemplateField{ID: end, Length: n})
	}
	add(netflow.FieldInIf, ieIngressInterface, 4)
	add(netflow.FieldOutIf, ieEgressInterface, 4)
	add(netflow.FieldSrcAS, ieBGPSourceASNumber, 4)
	add(netflow.FieldDstAS, ieBGPDestinationASNumber, 4)
	if has(netflow.FieldSamplingInterval) {
		// The sampler's interval comes in options data (samplerOptions).
		id := uint16(ieSelectorID)
		if version == 9 {
			id = ieSamplerID
		}
		fs = append(fs, netflow.TemplateField{ID: id, Length: samplerIDLen})
	}
	add(netflow.FieldSrcMAC, ieSourceMacAddress, 6)
	add(netflow.FieldDstMAC, ieDestinationMacAddress, 6)
	add(netflow.FieldVLAN, ieVlanID, 2)
	add(netflow.FieldPostVLAN, iePostVlanID, 2)
	add(netflow.FieldEthType, ieEthernetType, 2)
	add(netflow.FieldDirection, ieFlowDirection, 1)
	add(netflow.FieldEndReason, ieFlowEndReason, 1)
	add(netflow.FieldIPVersion, ieIPVersion, 1)
	switch icmp := k.known & (netflow.FieldICMPType | netflow.FieldICMPCode); {
	case icmp == netflow.FieldICMPType|netflow.FieldICMPCode && v6:
		fs = append(fs, netflow.TemplateField{ID: ieICMPTypeCodeIPv6, Length: 2})
	case icmp == netflow.FieldICMPType|netflow.FieldICMPCode:
		fs = append(fs, netflow.TemplateField{ID: ieICMPTypeCodeIPv4, Length: 2})
	case v6:
		add(netflow.FieldICMPType, ieICMPTypeIPv6, 1)
		add(netflow.FieldICMPCode, ieICMPCodeIPv6, 1)
	default:
		add(netflow.FieldICMPType, ieICMPTypeIPv4, 1)
		add(netflow.FieldICMPCode, ieICMPCodeIPv4, 1)
	}
	add(netflow.FieldMPLSLabel, ieMplsTopLabelStackSection, 3)
	add(netflow.FieldInVRF, ieIngressVRFID, 4)
	add(netflow.FieldOutVRF, ieEgressVRFID, 4)
	addr(netflow.FieldBGPNextHop, v6BGPNextHop, ieBGPNextHopIPv4Address, ieBGPNextHopIPv6Address)
	addr(netflow.FieldPostNATSrcAddr, v6PostNATSrc, iePostNATSourceIPv4Address, iePostNATSourceIPv6Address)
	addr(netflow.FieldPostNATDstAddr, v6PostNATDst, iePostNATDestinationIPv4Address, iePostNATDestinationIPv6Address)
	add(netflow.FieldPostNATSrcPort, iePostNAPTSourceTransportPort, 2)
	add(netflow.FieldPostNATDstPort, iePostNAPTDestinationTransportPort, 2)
	return fs
}

// samplerIDLen is the length of the sampler ID fields the writer uses:
// FLOW_SAMPLER_ID (48) in v9, selectorId (302, reduced-size) in IPFIX.
const samplerIDLen = 2
