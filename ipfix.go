package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

const ipfixHeaderLen = 16

// IPFIXHeader is the IPFIX message header (RFC 7011 section 3.1).
type IPFIXHeader struct {
	Length              uint16 // message length in bytes, header included
	ExportTime          uint32 // seconds since 1970
	Sequence            uint32 // data records sent before this message, modulo 2^32
	ObservationDomainID uint32
}

// Time returns ExportTime as a UTC time.
func (h *IPFIXHeader) Time() time.Time { return time.Unix(int64(h.ExportTime), 0).UTC() }

// IPFIXPacket is a decoded IPFIX message. Its records alias the datagram.
type IPFIXPacket struct {
	Exporter netip.AddrPort
	Header   IPFIXHeader
	Sets
}

// Version returns 10.
func (p *IPFIXPacket) Version() uint16 { return 10 }

// ipfixLength checks an IPFIX message header and returns the message
// length. Bytes after the message are ignored.
func ipfixLength(data []byte) (int, error) {
	if len(data) < ipfixHeaderLen {
		return 0, decodeErr(10, len(data), "header", ErrTruncated)
	}
	length := int(binary.BigEndian.Uint16(data[2:]))
	switch {
	case length < ipfixHeaderLen:
		return 0, decodeErr(10, 2, "message length", ErrMalformed)
	case length > len(data):
		return 0, decodeErr(10, 2, "message length", ErrTruncated)
	}
	return length, nil
}

func (d *Decoder) decodeIPFIX(p *IPFIXPacket, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	p.reset()
	length, err := ipfixLength(data)
	if err != nil {
		return err
	}
	data = data[:length]
	p.Header = IPFIXHeader{
		Length:              uint16(length),
		ExportTime:          binary.BigEndian.Uint32(data[4:]),
		Sequence:            binary.BigEndian.Uint32(data[8:]),
		ObservationDomainID: binary.BigEndian.Uint32(data[12:]),
	}
	w := setWalker{
		d:   d,
		s:   &p.Sets,
		key: domainOf(d.exporterKey(exporter), 10, p.Header.ObservationDomainID),
		ctx: flowContext{
			exporter:   exporter,
			version:    10,
			domain:     p.Header.ObservationDomainID,
			sequence:   p.Header.Sequence,
			exportTime: p.Header.Time(),
			exportNs:   p.Header.Time().UnixNano(),
		},
	}
	w.walk(data, ipfixHeaderLen)
	return w.finish()
}
