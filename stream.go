package netflow

import (
	"encoding/binary"
	"errors"
	"io"
)

// maxMessage is the largest IPFIX message (its length field is 16 bits).
const maxMessage = 0xffff

// SplitMessage returns the first export message of data and the rest, for
// messages stored back to back (capture files written by `nc -k`, RFC 5655
// IPFIX files, IPFIX over TCP). IPFIX messages are framed by their length
// field, v1/v5/v6/v7 by their record count, and v9 packets, which carry no
// length, by walking their flowsets until the data ends or a flowset header
// reads as the next v9 header (flowset ID 9 is reserved, so it cannot be a
// flowset).
func SplitMessage(data []byte) (msg, rest []byte, err error) {
	if len(data) < 4 {
		return nil, nil, decodeErr(0, len(data), "message header", ErrTruncated)
	}
	version := binary.BigEndian.Uint16(data)
	n := 0
	switch l := fixedLayoutOf(version); {
	case l != nil:
		n = l.messageLen(data)
	case version == 10:
		n = int(binary.BigEndian.Uint16(data[2:]))
		if n < ipfixHeaderLen {
			return nil, nil, decodeErr(10, 2, "message length", ErrMalformed)
		}
	case version == 9:
		n = v9HeaderLen
		for n+4 <= len(data) {
			id, l := binary.BigEndian.Uint16(data[n:]), int(binary.BigEndian.Uint16(data[n+2:]))
			if id == 9 || l < 4 {
				break
			}
			n += l
		}
		if n >= len(data) || allZero(data[n:]) {
			n = len(data) // a zero-filled tail belongs to the packet
		}
	default:
		return nil, nil, decodeErr(version, 0, "version", ErrUnsupportedVersion)
	}
	if n > len(data) {
		return nil, nil, decodeErr(version, len(data), "message", ErrTruncated)
	}
	return data[:n:n], data[n:], nil
}

// MessageReader reads IPFIX messages stored back to back in a byte stream:
// an RFC 5655 IPFIX file or an IPFIX-over-TCP connection. Messages may be
// larger than a UDP datagram, up to the 65535 bytes the length field allows.
type MessageReader struct {
	r   io.Reader
	buf []byte
}

// NewMessageReader returns a MessageReader reading from r.
func NewMessageReader(r io.Reader) *MessageReader {
	return &MessageReader{r: r}
}

// Next returns the next message. The slice is valid until the next call.
// At the end of the stream it returns io.EOF; a stream that ends inside a
// message gives an error matching ErrTruncated, and a header that is not
// IPFIX or whose length is below 16 one matching ErrMalformed.
func (m *MessageReader) Next() ([]byte, error) {
	if cap(m.buf) < maxMessage {
		m.buf = make([]byte, maxMessage)
	}
	hdr := m.buf[:ipfixHeaderLen]
	if _, err := io.ReadFull(m.r, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, decodeErr(10, 0, "message header", ErrTruncated)
		}
		return nil, err
	}
	if v := binary.BigEndian.Uint16(hdr); v != 10 {
		return nil, decodeErr(v, 0, "version", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n < ipfixHeaderLen {
		return nil, decodeErr(10, 2, "message length", ErrMalformed)
	}
	msg := m.buf[:n]
	if _, err := io.ReadFull(m.r, msg[ipfixHeaderLen:]); err != nil {
		return nil, decodeErr(10, ipfixHeaderLen, "message body", ErrTruncated)
	}
	return msg, nil
}
