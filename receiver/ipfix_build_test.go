package receiver_test

import "encoding/binary"

// Records for IPFIX messages built with internal/testkit.

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

// recordA is a record of layoutA.
func recordA(src, dst [4]byte, sport, dport uint16, proto uint8, packets, bytes uint64) []byte {
	b := make([]byte, 29)
	copy(b[0:], src[:])
	copy(b[4:], dst[:])
	binary.BigEndian.PutUint16(b[8:], sport)
	binary.BigEndian.PutUint16(b[10:], dport)
	b[12] = proto
	binary.BigEndian.PutUint64(b[13:], packets)
	binary.BigEndian.PutUint64(b[21:], bytes)
	return b
}

// recordB is a record of layoutB.
func recordB(src, dst [4]byte, proto uint8, packets, bytes uint32) []byte {
	b := make([]byte, 17)
	binary.BigEndian.PutUint32(b[0:], packets)
	binary.BigEndian.PutUint32(b[4:], bytes)
	copy(b[8:], src[:])
	copy(b[12:], dst[:])
	b[16] = proto
	return b
}
