package netflow

import (
	"net/netip"
	"time"
)

// Flow is the normalised view of one flow record, the same for every export
// version. Fields that the record does not carry are zero and their bit in
// Known is clear; a Flow holds no reference to the datagram it came from.
type Flow struct {
	Exporter netip.AddrPort // who sent the datagram
	Version  uint16         // 1, 5, 6, 7, 9 or 10 (IPFIX)
	// Domain identifies the metering domain inside the exporter: engine
	// type<<8 | engine ID for v5/v6/v7, source ID for v9, observation domain
	// ID for IPFIX.
	Domain   uint32
	Sequence uint32 // the header's sequence number

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
	// (v5 header, or v9/IPFIX options data). Counters are not multiplied.
	SamplingInterval uint32

	Known FlowFields // which of the fields above the record carried
}

// FlowFields is a set of Flow fields, one bit each.
type FlowFields uint32

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
