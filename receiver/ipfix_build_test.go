package receiver_test

import (
	"encoding/binary"
)

// Builders of IPFIX messages (RFC 7011 section 3), for the tests.

// ipfixField is a field specifier without enterprise number.
type ipfixField struct{ id, length uint16 }

// ipfixMsg wraps sets into a message of domain with export time
// 1700000000 and sequence seq.
func ipfixMsg(domain, seq uint32, sets ...[]byte) []byte {
	n := 16
	for _, s := range sets {
		n += len(s)
	}
	b := make([]byte, 16, n)
	binary.BigEndian.PutUint16(b[0:], 10)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 1700000000)
	binary.BigEndian.PutUint32(b[8:], seq)
	binary.BigEndian.PutUint32(b[12:], domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	return b
}

// ipfixTemplateSet is a template set (ID 2) defining one template.
func ipfixTemplateSet(id uint16, fields ...ipfixField) []byte {
	b := make([]byte, 8+4*len(fields))
	binary.BigEndian.PutUint16(b[0:], 2)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], uint16(len(fields)))
	for i, f := range fields {
		binary.BigEndian.PutUint16(b[8+4*i:], f.id)
		binary.BigEndian.PutUint16(b[10+4*i:], f.length)
	}
	return b
}

// ipfixDataSet is a data set of template id with the records given.
func ipfixDataSet(id uint16, records ...[]byte) []byte {
	b := make([]byte, 4)
	for _, r := range records {
		b = append(b, r...)
	}
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

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
	layoutA = []ipfixField{{ieSourceIPv4Address, 4}, {ieDestinationIPv4Address, 4},
		{ieSourceTransportPort, 2}, {ieDestinationTransportPort, 2}, {ieProtocolIdentifier, 1},
		{iePacketDeltaCount, 8}, {ieOctetDeltaCount, 8}}
	layoutB = []ipfixField{{iePacketDeltaCount, 4}, {ieOctetDeltaCount, 4},
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
