package netflow

import (
	"net/netip"
	"strconv"
	"time"
)

// Flow is the normalised view of one flow record, the same for every export
// version. Fields that the record does not carry are zero and their bit in
// Known is clear; a Flow holds no reference to the datagram it came from.
type Flow struct {
	Exporter netip.AddrPort // who sent the datagram
	Version  uint16         // 1, 5, 6, 7, 9 or 10 (IPFIX); 5 for sFlow v5 too
	// ExportProtocol is ExportSFlow for a flow from an sFlow flow sample,
	// which also has Version 5: test it before reading Version as a
	// NetFlow version. It is ExportNetFlow (the zero value) for NetFlow
	// and IPFIX, which Version tells apart.
	ExportProtocol ExportProtocol
	// Domain identifies the metering domain inside the exporter: engine
	// type<<8 | engine ID for v5/v6/v7, source ID for v9, observation domain
	// ID for IPFIX, sub-agent ID for sFlow.
	Domain   uint32
	Sequence uint32 // the header's sequence number (sFlow: the datagram's)

	SrcAddr, DstAddr, NextHop netip.Addr
	SrcPort, DstPort          uint16
	Proto                     uint8
	ToS                       uint8
	TCPFlags                  uint8
	SrcMask, DstMask          uint8

	Packets, Bytes uint64
	// Start and End are absolute UTC times of the first and last packet.
	Start, End time.Time

	InIf, OutIf  uint32
	SrcAS, DstAS uint32
	// SamplingInterval is 1-in-N packet sampling as the exporter declared it
	// (v5 header, or v9/IPFIX options data), or as Config.Sampling set it.
	// Packets and Bytes are multiplied by it only when a SamplingPolicy
	// says so, and then Known has FieldScaled.
	SamplingInterval uint32

	// The fields below come from v9 and IPFIX elements, named with their
	// IANA IDs beside each field (FlowMapping adds others), except ICMPType
	// and ICMPCode: from icmpTypeCodeIPv4 (32), icmpTypeCodeIPv6 (139) or
	// the type and code elements (176-179) of an ICMP or ICMPv6 flow; in a
	// record without them, of any version, from the destination port of an
	// ICMP flow whose source port is 0 (type<<8 | code, as Cisco and
	// softflowd export it). A flow whose source port is not 0 leaves them
	// unknown: fprobe's type in the source port cannot be told from an
	// ICMP identifier there.

	SrcMAC, DstMAC MAC    // sourceMacAddress (56), destinationMacAddress (80)
	VLAN, PostVLAN uint16 // vlanId (58) or dot1qVlanId (243); postVlanId (59) or postDot1qVlanId (254)
	EthType        uint16 // ethernetType (256)
	Direction      uint8  // flowDirection (61): 0 ingress, 1 egress
	EndReason      uint8  // flowEndReason (136)
	IPVersion      uint8  // ipVersion (60)
	ICMPType       uint8
	ICMPCode       uint8
	MPLSLabel      uint32     // the 20-bit label of mplsTopLabelStackSection (70)
	InVRF, OutVRF  uint32     // ingressVRFID (234), egressVRFID (235)
	BGPNextHop     netip.Addr // bgpNextHopIPv4Address (18), bgpNextHopIPv6Address (63)
	// PostNATSrcAddr and the other post-NAT fields are the addresses and
	// ports after network address (and port) translation (225-228, 281,
	// 282).
	PostNATSrcAddr, PostNATDstAddr netip.Addr
	PostNATSrcPort, PostNATDstPort uint16

	// Agent is the sFlow agent address the datagram names (FieldAgent),
	// which is not the datagram's source (Exporter) when the agent sends
	// through NAT or a relay. NetFlow and IPFIX flows have none.
	Agent netip.Addr

	Known FlowFields // which of the fields above the record carried
}

// ExportProtocol is the export protocol a Flow came from.
type ExportProtocol uint8

// The export protocols.
const (
	// ExportNetFlow is NetFlow v1-v9 or IPFIX: Flow.Version says which.
	ExportNetFlow ExportProtocol = iota
	// ExportSFlow is sFlow v5 (sflow.go): one flow per flow sample.
	ExportSFlow
)

// String returns "netflow" or "sflow" (the JSON encoding's "protocol"
// value), or "ExportProtocol(N)" for another value.
func (p ExportProtocol) String() string {
	switch p {
	case ExportNetFlow:
		return "netflow"
	case ExportSFlow:
		return "sflow"
	}
	return "ExportProtocol(" + strconv.Itoa(int(p)) + ")"
}

// FlowFields is a set of Flow fields, one bit each.
type FlowFields uint64

// The fields of Flow that a record may or may not carry.
const (
	FieldDomain FlowFields = 1 << iota
	FieldSequence
	FieldSrcAddr
	FieldDstAddr
	FieldNextHop
	FieldSrcPort
	FieldDstPort
	FieldProto
	FieldToS
	FieldTCPFlags
	FieldSrcMask
	FieldDstMask
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldInIf
	FieldOutIf
	FieldSrcAS
	FieldDstAS
	FieldSamplingInterval
	FieldSrcMAC
	FieldDstMAC
	FieldVLAN
	FieldPostVLAN
	FieldDirection
	FieldEndReason
	FieldBGPNextHop
	FieldICMPType
	FieldICMPCode
	FieldIPVersion
	FieldInVRF
	FieldOutVRF
	FieldMPLSLabel
	FieldEthType
	FieldPostNATSrcAddr
	FieldPostNATDstAddr
	FieldPostNATSrcPort
	FieldPostNATDstPort
	// FieldScaled is not a field: it says that Packets and Bytes were
	// multiplied by SamplingInterval (SamplingPolicy.Scale).
	FieldScaled
	// FieldAgent is Flow.Agent, the sFlow agent address.
	FieldAgent
)

// Has reports whether every field of f is in s.
func (s FlowFields) Has(f FlowFields) bool { return s&f == f }

// fixedFormatFields is what every v5, v6 and v7 record carries.
const fixedFormatFields = FieldDomain | FieldSequence | FieldSrcAddr | FieldDstAddr |
	FieldNextHop | FieldSrcPort | FieldDstPort | FieldProto | FieldToS | FieldTCPFlags |
	FieldSrcMask | FieldDstMask | FieldPackets | FieldBytes | FieldStart | FieldEnd |
	FieldInIf | FieldOutIf | FieldSrcAS | FieldDstAS

// v1Fields is what a v1 record carries: no domain, sequence, AS or masks.
const v1Fields = FieldSrcAddr | FieldDstAddr | FieldNextHop | FieldSrcPort | FieldDstPort |
	FieldProto | FieldToS | FieldTCPFlags | FieldPackets | FieldBytes | FieldStart |
	FieldEnd | FieldInIf | FieldOutIf
