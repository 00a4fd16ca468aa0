package receiver_test

import (
	"net/netip"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// Records for IPFIX messages built with internal/testkit, encoded by the
// export package from Flow values.

// Information elements (IANA registry) used by the tests.
const (
	ieOctetDeltaCount          = 1
	iePacketDeltaCount         = 2
	ieProtocolIdentifier       = 4
	ieSourceTransportPort      = 7
	ieSourceIPv4Address        = 8
	ieDestinationTransportPort = 11
	ieDestinationIPv4Address   = 12
)

// layoutA is a template of addresses, ports, protocol and 8-byte counters
// (29 bytes a record); layoutB puts 4-byte counters first and has no
// ports (17 bytes).
var (
	layoutA = [][2]uint16{{ieSourceIPv4Address, 4}, {ieDestinationIPv4Address, 4},
		{ieSourceTransportPort, 2}, {ieDestinationTransportPort, 2}, {ieProtocolIdentifier, 1},
		{iePacketDeltaCount, 8}, {ieOctetDeltaCount, 8}}
	layoutB = [][2]uint16{{iePacketDeltaCount, 4}, {ieOctetDeltaCount, 4},
		{ieSourceIPv4Address, 4}, {ieDestinationIPv4Address, 4}, {ieProtocolIdentifier, 1}}
)

// layoutTemplate compiles a layout for the encoder.
func layoutTemplate(layout [][2]uint16) *export.FlowTemplate {
	fields := make([]netflow.TemplateField, len(layout))
	for i, f := range layout {
		fields[i] = netflow.TemplateField{ID: f[0], Length: f[1]}
	}
	t, err := netflow.NewTemplate(10, 256, false, 0, fields)
	if err != nil {
		panic(err)
	}
	ft, err := export.NewFlowTemplate(t, nil)
	if err != nil {
		panic(err)
	}
	return ft
}

var templateA, templateB = layoutTemplate(layoutA), layoutTemplate(layoutB)

// record encodes f as a record of ft.
func record(ft *export.FlowTemplate, f netflow.Flow) []byte {
	b, err := ft.AppendRecord(nil, &f, &export.Context{})
	if err != nil {
		panic(err)
	}
	return b
}

// recordA is a record of layoutA.
func recordA(src, dst [4]byte, sport, dport uint16, proto uint8, packets, bytes uint64) []byte {
	return record(templateA, netflow.Flow{SrcAddr: netip.AddrFrom4(src), DstAddr: netip.AddrFrom4(dst),
		SrcPort: sport, DstPort: dport, Proto: proto, Packets: packets, Bytes: bytes})
}

// recordB is a record of layoutB.
func recordB(src, dst [4]byte, proto uint8, packets, bytes uint32) []byte {
	return record(templateB, netflow.Flow{SrcAddr: netip.AddrFrom4(src), DstAddr: netip.AddrFrom4(dst),
		Proto: proto, Packets: uint64(packets), Bytes: uint64(bytes)})
}
