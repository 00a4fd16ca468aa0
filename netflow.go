package netflow

import "net/netip"

// Packet is one decoded export datagram.
type Packet interface {
	// Version returns the export version: 1, 5, 6, 7, 9 or 10 (IPFIX),
	// or 5 for sFlow v5 (*SFlowPacket: tell it from NetFlow v5 by type).
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
	_ Packet = (*SFlowPacket)(nil)
)

// Buffer holds one reusable packet value of every version for
// Decoder.DecodeInto. The zero value is ready to use. A Buffer must not be
// used by two goroutines at once. Besides the packets, it remembers the
// store's template and the options state of the last v9 or IPFIX message
// it decoded, until they change, so that the next message from the same
// exporter finds them without a look-up.
type Buffer struct {
	// One packet per version, made on first use.
	v1    *V1Packet
	v5    *V5Packet
	v6    *V6Packet
	v7    *V7Packet
	v9    *V9Packet
	v10   *IPFIXPacket
	sflow *SFlowPacket
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
