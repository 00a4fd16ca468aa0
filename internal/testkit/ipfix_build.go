// Package testkit holds test helpers shared by the module's packages and
// examples: builders of export messages and a certificate authority for TLS
// tests. It does not import the root package.
package testkit

import "encoding/binary"

// IPFIXMessage wraps sets into an IPFIX message (RFC 7011 section 3.1) of
// observation domain domain, export time 1700000000 and sequence seq.
func IPFIXMessage(domain, seq uint32, sets ...[]byte) []byte {
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

// IPFIXTemplateSet is a template set (set ID 2) defining one template whose
// fields are {information element ID, length} pairs without enterprise
// numbers.
func IPFIXTemplateSet(id uint16, fields ...[2]uint16) []byte {
	b := make([]byte, 8+4*len(fields))
	binary.BigEndian.PutUint16(b[0:], 2)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], uint16(len(fields)))
	for i, f := range fields {
		binary.BigEndian.PutUint16(b[8+4*i:], f[0])
		binary.BigEndian.PutUint16(b[10+4*i:], f[1])
	}
	return b
}

// IPFIXDataSet is a data set of template id holding records back to back.
func IPFIXDataSet(id uint16, records ...[]byte) []byte {
	b := make([]byte, 4)
	for _, r := range records {
		b = append(b, r...)
	}
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}
