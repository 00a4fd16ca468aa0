// Package netflow decodes NetFlow v1, v5, v6, v7, v9 (RFC 3954) and IPFIX
// (RFC 7011) export datagrams into typed packets and normalised flows.
//
// A Decoder turns (exporter address, datagram) pairs into one packet value
// per version (*V1Packet, *V5Packet, *V6Packet, *V7Packet, *V9Packet,
// *IPFIXPacket), all of which implement Packet. Packet.AppendFlows gives the
// flows of any version as the same normalised Flow struct.
//
// Two paths: Decode allocates a fresh packet per call and its result holds no
// reference to the datagram of a fixed-format version. DecodeInto decodes
// into a caller-owned Buffer whose capacity is reused, so that a warm decode
// allocates nothing; the packet it returns lives in the Buffer and is
// overwritten by the next DecodeInto with the same Buffer. v9 and IPFIX
// records alias the datagram (their raw field bytes are sub-slices of it), on
// both paths: keep the datagram unchanged while you use them, or copy what
// you keep. Flow values never alias anything.
package netflow

import "net/netip"

// Packet is one decoded export datagram.
type Packet interface {
	// Version returns the export version: 1, 5, 6, 7, 9 or 10 (IPFIX).
	Version() uint16
	// FlowCount returns how many flows AppendFlows appends.
	FlowCount() int
	// AppendFlows appends the packet's flows, normalised, to dst and
	// returns the extended slice. With enough capacity in dst it does not
	// allocate.
	AppendFlows(dst []Flow) []Flow
}

var (
	_ Packet = (*V1Packet)(nil)
	_ Packet = (*V5Packet)(nil)
	_ Packet = (*V6Packet)(nil)
	_ Packet = (*V7Packet)(nil)
	_ Packet = (*V9Packet)(nil)
	_ Packet = (*IPFIXPacket)(nil)
)

// Buffer holds one reusable packet value of every version for
// Decoder.DecodeInto. The zero value is ready to use. A Buffer must not be
// used by two goroutines at once.
type Buffer struct {
	// One packet per version, made on first use.
	v1  *V1Packet
	v5  *V5Packet
	v6  *V6Packet
	v7  *V7Packet
	v9  *V9Packet
	v10 *IPFIXPacket
}

// packet returns *slot, made on first use.
func packet[T any](slot **T) *T {
	if *slot == nil {
		*slot = new(T)
	}
	return *slot
}

// Decode decodes one datagram from exporter with a Decoder that uses store
// (nil: a fresh in-memory store) and default settings. It is a convenience
// for one-off decodes: a collector keeps one Decoder, whose pending data and
// exporter state live across datagrams.
func Decode(exporter netip.AddrPort, data []byte, store TemplateStore) (Packet, error) {
	return NewDecoder(Config{Store: store}).Decode(exporter, data)
}
