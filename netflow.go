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

import (
	"encoding/binary"
	"net/netip"
)

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

// Decode decodes one datagram into a newly allocated packet.
func (d *Decoder) Decode(exporter netip.AddrPort, data []byte) (Packet, error) {
	return d.DecodeInto(nil, exporter, data)
}

// DecodeFlows decodes one datagram and appends its flows to dst: the fast
// path for collectors that want only Flow values. It gives the same flows as
// DecodeInto followed by AppendFlows, skipping the typed v1-v7 records. buf
// serves v9 and IPFIX decoding as in DecodeInto (nil allocates). On error,
// dst comes back unchanged for v1-v7; for v9 and IPFIX it holds the flows of
// the sets that decoded.
func (d *Decoder) DecodeFlows(buf *Buffer, dst []Flow, exporter netip.AddrPort, data []byte) ([]Flow, error) {
	if len(data) < 2 {
		return dst, decodeErr(0, len(data), "version", ErrTruncated)
	}
	if l := fixedLayoutOf(binary.BigEndian.Uint16(data)); l != nil {
		h, err := parseFixed(data, l)
		if err != nil {
			return dst, err
		}
		return appendFixedFlows(dst, data, exporter, h, l), nil
	}
	p, err := d.decodeInto(buf, exporter, data, true)
	if p != nil {
		dst = p.AppendFlows(dst)
	}
	return dst, err
}

// DecodeInto decodes one datagram into buf, reusing its capacity, and returns
// the packet, which lives in buf until the next call with buf. A nil buf
// allocates a new packet, as Decode does.
//
// On error the returned packet is nil for the fixed-format versions and for
// a v9 or IPFIX header that is bad. Past the header, a bad or unknown v9 or
// IPFIX set does not spoil the rest of the datagram: the packet holds every
// set that decoded and the error joins the problems of the others.
func (d *Decoder) DecodeInto(buf *Buffer, exporter netip.AddrPort, data []byte) (Packet, error) {
	return d.decodeInto(buf, exporter, data, false)
}

// decodeInto is DecodeInto; flowsOnly lets v9 and IPFIX skip making the
// Records of fixed-length data sets, which AppendFlows does not need.
func (d *Decoder) decodeInto(buf *Buffer, exporter netip.AddrPort, data []byte, flowsOnly bool) (Packet, error) {
	if len(data) < 2 {
		return nil, decodeErr(0, len(data), "version", ErrTruncated)
	}
	if buf == nil {
		buf = new(Buffer)
	}
	version := binary.BigEndian.Uint16(data)
	var (
		p   Packet
		err error
	)
	switch version {
	case 1:
		v1 := packet(&buf.v1)
		p, err = v1, decodeV1(v1, exporter, data)
	case 5:
		v5 := packet(&buf.v5)
		p, err = v5, decodeV5(v5, exporter, data)
	case 6:
		v6 := packet(&buf.v6)
		p, err = v6, decodeV6(v6, exporter, data)
	case 7:
		v7 := packet(&buf.v7)
		p, err = v7, decodeV7(v7, exporter, data)
	case 9:
		// A packet comes back with a set-level error (it holds the sets
		// that decoded), not with a header error.
		if len(data) < v9HeaderLen {
			return nil, decodeErr(9, len(data), "header", ErrTruncated)
		}
		v9 := packet(&buf.v9)
		v9.flowsOnly = flowsOnly
		return v9, d.decodeV9(v9, exporter, data)
	case 10:
		if _, err := ipfixLength(data); err != nil {
			return nil, err
		}
		v10 := packet(&buf.v10)
		v10.flowsOnly = flowsOnly
		return v10, d.decodeIPFIX(v10, exporter, data)
	default:
		return nil, decodeErr(version, 0, "version", ErrUnsupportedVersion)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
