package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// IPFIX (RFC 7011): a 16-byte message header whose length frames the
// message, then sets. Set 2 holds templates, 3 options templates, 256 and
// above data; 0, 1 and 4-255 are reserved. A field specifier whose ID has
// the enterprise bit set carries a private enterprise number. An options
// template counts its scope fields, which are information elements. A
// template record without fields withdraws its ID (2 and 3: every data or
// options template). Uptimes count from systemInitTimeMilliseconds.
var ipfixDialect = dialect{
	version:       10,
	headerLen:     16,
	templateSet:   2,
	optionsSet:    3,
	enterpriseBit: true,
	withdrawals:   true,
	lists:         true,
	optionsHeader: func(rec []byte) (scope, count, hdr int, err error) {
		// Template ID, field count, scope field count.
		if len(rec) < 6 {
			return 0, 0, 0, ErrTruncated
		}
		return int(binary.BigEndian.Uint16(rec[4:])), int(binary.BigEndian.Uint16(rec[2:])), 6, nil
	},
}

const ipfixHeaderLen = 16

// IPFIXHeader is the IPFIX message header (RFC 7011 section 3.1).
type IPFIXHeader struct {
	Length              uint16 // message length in bytes, header included
	UnixSecs            uint32 // export time, seconds since 1970
	Sequence            uint32 // data records sent before this message, modulo 2^32
	ObservationDomainID uint32
}

// ExportTime returns UnixSecs as a UTC time.
func (h *IPFIXHeader) ExportTime() time.Time { return time.Unix(int64(h.UnixSecs), 0).UTC() }

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

func decodeIPFIX(d *Decoder, p *IPFIXPacket, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	p.reset()
	length, err := ipfixLength(data)
	if err != nil {
		return err
	}
	data = data[:length]
	p.Header = IPFIXHeader{
		Length:              uint16(length),
		UnixSecs:            binary.BigEndian.Uint32(data[4:]),
		Sequence:            binary.BigEndian.Uint32(data[8:]),
		ObservationDomainID: binary.BigEndian.Uint32(data[12:]),
	}
	export := p.Header.ExportTime()
	return walkSets(d, &p.Sets, &ipfixDialect, data, flowContext{
		exporter:   exporter,
		version:    10,
		domain:     p.Header.ObservationDomainID,
		sequence:   p.Header.Sequence,
		exportTime: export,
		exportNs:   export.UnixNano(),
	})
}
