package export

import "github.com/flowkit/netflow"

// The information elements the encoder writes, and which Flow value fills
// each: the mirror of the decoder's plan (plan.go in the root package),
// which reads the same elements into the same fields.

// IANA information element IDs (NetFlow v9 field types 1-127 share them).
const (
	ieOctetDeltaCount                  = 1
	iePacketDeltaCount                 = 2
	ieProtocolIdentifier               = 4
	ieIPClassOfService                 = 5
	ieTCPControlBits                   = 6
	ieSourceTransportPort              = 7
	ieSourceIPv4Address                = 8
	ieSourceIPv4PrefixLength           = 9
	ieIngressInterface                 = 10
	ieDestinationTransportPort         = 11
	ieDestinationIPv4Address           = 12
	ieDestinationIPv4PrefixLength      = 13
	ieEgressInterface                  = 14
	ieIPNextHopIPv4Address             = 15
	ieBGPSourceASNumber                = 16
	ieBGPDestinationASNumber           = 17
	ieBGPNextHopIPv4Address            = 18
	ieFlowEndSysUpTime                 = 21
	ieFlowStartSysUpTime               = 22
	iePostOctetDeltaCount              = 23
	iePostPacketDeltaCount             = 24
	ieSourceIPv6Address                = 27
	ieDestinationIPv6Address           = 28
	ieSourceIPv6PrefixLength           = 29
	ieDestinationIPv6PrefixLength      = 30
	ieICMPTypeCodeIPv4                 = 32
	ieSamplingInterval                 = 34
	ieSamplingAlgorithm                = 35
	ieSamplerID                        = 48
	ieSamplerMode                      = 49
	ieSamplerRandomInterval            = 50
	iePostIPClassOfService             = 55
	ieSourceMacAddress                 = 56
	iePostDestinationMacAddress        = 57
	ieVlanID                           = 58
	iePostVlanID                       = 59
	ieIPVersion                        = 60
	ieFlowDirection                    = 61
	ieIPNextHopIPv6Address             = 62
	ieBGPNextHopIPv6Address            = 63
	ieMplsTopLabelStackSection         = 70
	ieDestinationMacAddress            = 80
	iePostSourceMacAddress             = 81
	ieOctetTotalCount                  = 85
	iePacketTotalCount                 = 86
	ieExporterIPv4Address              = 130
	ieExporterIPv6Address              = 131
	ieFlowEndReason                    = 136
	ieICMPTypeCodeIPv6                 = 139
	ieObservationDomainID              = 149
	ieFlowStartSeconds                 = 150
	ieFlowEndSeconds                   = 151
	ieFlowStartMilliseconds            = 152
	ieFlowEndMilliseconds              = 153
	ieFlowStartMicroseconds            = 154
	ieFlowEndMicroseconds              = 155
	ieFlowStartNanoseconds             = 156
	ieFlowEndNanoseconds               = 157
	ieFlowStartDeltaMicroseconds       = 158
	ieFlowEndDeltaMicroseconds         = 159
	ieSystemInitTimeMilliseconds       = 160
	ieICMPTypeIPv4                     = 176
	ieICMPCodeIPv4                     = 177
	ieICMPTypeIPv6                     = 178
	ieICMPCodeIPv6                     = 179
	ieUDPSourcePort                    = 180
	ieUDPDestinationPort               = 181
	ieTCPSourcePort                    = 182
	ieTCPDestinationPort               = 183
	iePaddingOctets                    = 210
	ieExporterTransportPort            = 217
	iePostNATSourceIPv4Address         = 225
	iePostNATDestinationIPv4Address    = 226
	iePostNAPTSourceTransportPort      = 227
	iePostNAPTDestinationTransportPort = 228
	ieInitiatorOctets                  = 231
	ieIngressVRFID                     = 234
	ieEgressVRFID                      = 235
	ieDot1qVlanID                      = 243
	ieIngressPhysicalInterface         = 252
	ieEgressPhysicalInterface          = 253
	iePostDot1qVlanID                  = 254
	ieEthernetType                     = 256
	iePostNATSourceIPv6Address         = 281
	iePostNATDestinationIPv6Address    = 282
	ieInitiatorPackets                 = 298
	ieSelectorID                       = 302
	ieSelectorAlgorithm                = 304
	ieSamplingPacketInterval           = 305
	ieSamplingPacketSpace              = 306
	ieLayer2OctetDeltaCount            = 352
)

// v9 scope field type of an options template: the whole exporter
// (RFC 3954 section 6.1).
const v9ScopeSystem = 1

// source is where a field's value comes from.
type source uint8

const (
	srcNone source = iota
	srcBytes
	srcPackets
	srcProto
	srcToS
	srcTCPFlags
	srcSrcPort
	srcDstPort
	srcSrcAddr
	srcDstAddr
	srcNextHop
	srcSrcMask
	srcDstMask
	srcInIf
	srcOutIf
	srcSrcAS
	srcDstAS
	srcSamplingInterval // the interval itself
	srcSamplerID        // the writer's sampler ID of the flow's interval
	srcSrcMAC
	srcDstMAC
	srcVLAN
	srcPostVLAN
	srcEthType
	srcDirection
	srcEndReason
	srcIPVersion
	srcICMPTypeCode
	srcICMPType
	srcICMPCode
	srcMPLSLabel
	srcInVRF
	srcOutVRF
	srcBGPNextHop
	srcPostNATSrcAddr
	srcPostNATDstAddr
	srcPostNATSrcPort
	srcPostNATDstPort
	srcExporterAddr
	srcExporterPort
	srcSystemInit // the exporter's boot time, ms since 1970
	srcStart      // with a timeKind
	srcEnd
	srcZero // paddingOctets: zeros
	srcCount
)

// timeKind is how a time element encodes a time.
type timeKind uint8

const (
	timeNone timeKind = iota
	timeSeconds
	timeMillis
	timeMicros // NTP format
	timeNanos  // NTP format
	timeDeltaMicros
	timeUptime
)

// element is what the encoder knows of one element: the value that fills
// it, and for a time its encoding.
type element struct {
	src  source
	time timeKind
	ipv6 bool // an address element of 16 bytes
}

// ianaElements maps the IANA elements (and v9 field types) the encoder can
// fill from a Flow. Several elements may fill one field (the decoder reads
// the first of them a template has, see its destCandidates).
var ianaElements = map[uint16]element{
	ieOctetDeltaCount: {src: srcBytes}, iePostOctetDeltaCount: {src: srcBytes}, ieOctetTotalCount: {src: srcBytes},
	ieInitiatorOctets: {src: srcBytes}, ieLayer2OctetDeltaCount: {src: srcBytes},
	iePacketDeltaCount: {src: srcPackets}, iePostPacketDeltaCount: {src: srcPackets},
	iePacketTotalCount: {src: srcPackets}, ieInitiatorPackets: {src: srcPackets},
	ieProtocolIdentifier: {src: srcProto},
	ieIPClassOfService:   {src: srcToS}, iePostIPClassOfService: {src: srcToS},
	ieTCPControlBits:      {src: srcTCPFlags},
	ieSourceTransportPort: {src: srcSrcPort}, ieUDPSourcePort: {src: srcSrcPort}, ieTCPSourcePort: {src: srcSrcPort},
	ieDestinationTransportPort: {src: srcDstPort}, ieUDPDestinationPort: {src: srcDstPort}, ieTCPDestinationPort: {src: srcDstPort},
	ieSourceIPv4Address: {src: srcSrcAddr}, ieSourceIPv6Address: {src: srcSrcAddr, ipv6: true},
	ieDestinationIPv4Address: {src: srcDstAddr}, ieDestinationIPv6Address: {src: srcDstAddr, ipv6: true},
	ieIPNextHopIPv4Address: {src: srcNextHop}, ieIPNextHopIPv6Address: {src: srcNextHop, ipv6: true},
	ieSourceIPv4PrefixLength: {src: srcSrcMask}, ieSourceIPv6PrefixLength: {src: srcSrcMask},
	ieDestinationIPv4PrefixLength: {src: srcDstMask}, ieDestinationIPv6PrefixLength: {src: srcDstMask},
	ieIngressInterface: {src: srcInIf}, ieIngressPhysicalInterface: {src: srcInIf},
	ieEgressInterface: {src: srcOutIf}, ieEgressPhysicalInterface: {src: srcOutIf},
	ieBGPSourceASNumber:      {src: srcSrcAS},
	ieBGPDestinationASNumber: {src: srcDstAS},
	ieSamplingInterval:       {src: srcSamplingInterval}, ieSamplerRandomInterval: {src: srcSamplingInterval},
	ieSamplerID: {src: srcSamplerID}, ieSelectorID: {src: srcSamplerID},
	ieSourceMacAddress: {src: srcSrcMAC}, iePostSourceMacAddress: {src: srcSrcMAC},
	ieDestinationMacAddress: {src: srcDstMAC}, iePostDestinationMacAddress: {src: srcDstMAC},
	ieVlanID: {src: srcVLAN}, ieDot1qVlanID: {src: srcVLAN},
	iePostVlanID: {src: srcPostVLAN}, iePostDot1qVlanID: {src: srcPostVLAN},
	ieEthernetType:     {src: srcEthType},
	ieFlowDirection:    {src: srcDirection},
	ieFlowEndReason:    {src: srcEndReason},
	ieIPVersion:        {src: srcIPVersion},
	ieICMPTypeCodeIPv4: {src: srcICMPTypeCode}, ieICMPTypeCodeIPv6: {src: srcICMPTypeCode},
	ieICMPTypeIPv4: {src: srcICMPType}, ieICMPTypeIPv6: {src: srcICMPType},
	ieICMPCodeIPv4: {src: srcICMPCode}, ieICMPCodeIPv6: {src: srcICMPCode},
	ieMplsTopLabelStackSection: {src: srcMPLSLabel},
	ieIngressVRFID:             {src: srcInVRF},
	ieEgressVRFID:              {src: srcOutVRF},
	ieBGPNextHopIPv4Address:    {src: srcBGPNextHop}, ieBGPNextHopIPv6Address: {src: srcBGPNextHop, ipv6: true},
	iePostNATSourceIPv4Address: {src: srcPostNATSrcAddr}, iePostNATSourceIPv6Address: {src: srcPostNATSrcAddr, ipv6: true},
	iePostNATDestinationIPv4Address: {src: srcPostNATDstAddr}, iePostNATDestinationIPv6Address: {src: srcPostNATDstAddr, ipv6: true},
	iePostNAPTSourceTransportPort:      {src: srcPostNATSrcPort},
	iePostNAPTDestinationTransportPort: {src: srcPostNATDstPort},
	ieExporterIPv4Address:              {src: srcExporterAddr}, ieExporterIPv6Address: {src: srcExporterAddr, ipv6: true},
	ieExporterTransportPort:      {src: srcExporterPort},
	ieSystemInitTimeMilliseconds: {src: srcSystemInit},
	ieFlowStartSeconds:           {src: srcStart, time: timeSeconds}, ieFlowEndSeconds: {src: srcEnd, time: timeSeconds},
	ieFlowStartMilliseconds: {src: srcStart, time: timeMillis}, ieFlowEndMilliseconds: {src: srcEnd, time: timeMillis},
	ieFlowStartMicroseconds: {src: srcStart, time: timeMicros}, ieFlowEndMicroseconds: {src: srcEnd, time: timeMicros},
	ieFlowStartNanoseconds: {src: srcStart, time: timeNanos}, ieFlowEndNanoseconds: {src: srcEnd, time: timeNanos},
	ieFlowStartDeltaMicroseconds: {src: srcStart, time: timeDeltaMicros}, ieFlowEndDeltaMicroseconds: {src: srcEnd, time: timeDeltaMicros},
	ieFlowStartSysUpTime: {src: srcStart, time: timeUptime}, ieFlowEndSysUpTime: {src: srcEnd, time: timeUptime},
	iePaddingOctets: {src: srcZero},
}

// fieldSources maps the Flow fields a FlowMapping may name to the source
// that fills them (the decoder's destOfField).
var fieldSources = map[netflow.FlowFields]source{
	netflow.FieldSrcAddr: srcSrcAddr, netflow.FieldDstAddr: srcDstAddr, netflow.FieldNextHop: srcNextHop,
	netflow.FieldSrcPort: srcSrcPort, netflow.FieldDstPort: srcDstPort, netflow.FieldProto: srcProto,
	netflow.FieldToS: srcToS, netflow.FieldTCPFlags: srcTCPFlags, netflow.FieldSrcMask: srcSrcMask,
	netflow.FieldDstMask: srcDstMask, netflow.FieldPackets: srcPackets, netflow.FieldBytes: srcBytes,
	netflow.FieldInIf: srcInIf, netflow.FieldOutIf: srcOutIf, netflow.FieldSrcAS: srcSrcAS,
	netflow.FieldDstAS: srcDstAS, netflow.FieldSamplingInterval: srcSamplingInterval,
	netflow.FieldSrcMAC: srcSrcMAC, netflow.FieldDstMAC: srcDstMAC, netflow.FieldVLAN: srcVLAN,
	netflow.FieldPostVLAN: srcPostVLAN, netflow.FieldDirection: srcDirection, netflow.FieldEndReason: srcEndReason,
	netflow.FieldBGPNextHop: srcBGPNextHop, netflow.FieldICMPType: srcICMPType, netflow.FieldICMPCode: srcICMPCode,
	netflow.FieldIPVersion: srcIPVersion, netflow.FieldInVRF: srcInVRF, netflow.FieldOutVRF: srcOutVRF,
	netflow.FieldMPLSLabel: srcMPLSLabel, netflow.FieldEthType: srcEthType,
	netflow.FieldPostNATSrcAddr: srcPostNATSrcAddr, netflow.FieldPostNATDstAddr: srcPostNATDstAddr,
	netflow.FieldPostNATSrcPort: srcPostNATSrcPort, netflow.FieldPostNATDstPort: srcPostNATDstPort,
}

// isAddrSource reports whether s is an address.
func isAddrSource(s source) bool {
	switch s {
	case srcSrcAddr, srcDstAddr, srcNextHop, srcBGPNextHop, srcPostNATSrcAddr, srcPostNATDstAddr, srcExporterAddr:
		return true
	}
	return false
}

// lengthOK reports whether an element of n bytes can carry what e is
// filled with: addresses 4 or 16 bytes (as the element says, any for a
// mapped enterprise element), MACs 6, MPLS label stack sections 3 to 8,
// the NTP times 8, integers 1 to 8.
func (e element) lengthOK(n uint16, enterprise bool) bool {
	switch {
	case isAddrSource(e.src) && enterprise:
		return n == 4 || n == 16
	case isAddrSource(e.src) && e.ipv6:
		return n == 16
	case isAddrSource(e.src):
		return n == 4
	case e.src == srcSrcMAC || e.src == srcDstMAC:
		return n == 6
	case e.src == srcMPLSLabel:
		return n >= 3 && n <= 8
	case e.time == timeMicros || e.time == timeNanos:
		return n == 8
	case e.src == srcZero:
		return n != netflow.VariableLength
	}
	return n >= 1 && n <= 8
}
