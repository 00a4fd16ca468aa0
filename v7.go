package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// NetFlow v7 (Catalyst switches): a 24-byte header and 52-byte records
// (v7Layout).

// V7Header is the NetFlow v7 header.
type V7Header struct {
	Count        uint16 // records in the datagram
	SysUptime    uint32 // ms since the exporter booted, at export
	UnixSecs     uint32 // export time, seconds since 1970
	UnixNsecs    uint32 // export time, residual nanoseconds
	FlowSequence uint32 // sequence number of the first flow of the datagram
	Reserved     uint32
}

// ExportTime returns the header's export time in UTC.
func (h *V7Header) ExportTime() time.Time { return unixTime(h.UnixSecs, h.UnixNsecs) }

// V7Record is one NetFlow v7 flow record: the v5 fields, where v5's
// padding carries flags, plus the router shortcut address.
type V7Record struct {
	V5Record
	// Flags (byte 36) marks invalid flows; FieldFlags (bytes 46-47) marks,
	// among other things, which fields are invalid.
	Flags      uint8
	FieldFlags uint16
	// RouterSC is the IP address of the router that is bypassed by the
	// Catalyst 5000 series switch (the shortcut router).
	RouterSC netip.Addr
}

// V7Packet is a decoded NetFlow v7 datagram. It holds no reference to the
// datagram.
type V7Packet struct {
	Exporter netip.AddrPort
	Header   V7Header
	Records  []V7Record

	sampling samplingRule // the decoder's Config.Sampling policy for Exporter
}

// Version returns 7.
func (p *V7Packet) Version() uint16 { return 7 }

// FlowCount returns the number of records.
func (p *V7Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst. v7 has no engine fields:
// Domain is 0.
func (p *V7Packet) AppendFlows(dst []Flow) []Flow {
	c := fixedContext{exporter: p.Exporter, layout: &v7Layout, seq: p.Header.FlowSequence, known: v7Layout.known, rule: p.sampling}
	n := len(dst)
	dst = grow(dst, n+len(p.Records))
	for i := range p.Records {
		c.recordFlow(&dst[n+i], &p.Records[i].V5Record)
	}
	return dst
}

func decodeV7(p *V7Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	fh, err := parseFixed(data, &v7Layout)
	if err != nil {
		p.Records = p.Records[:0]
		return err
	}
	p.Header = V7Header{
		Count:        fh.count,
		SysUptime:    fh.sysUptime,
		UnixSecs:     fh.unixSecs,
		UnixNsecs:    fh.unixNsecs,
		FlowSequence: fh.sequence,
		Reserved:     fh.reserved,
	}
	c := fh.clock()
	p.Records = grow(p.Records, int(fh.count))
	for i := range p.Records {
		b := data[v7Layout.headerLen+i*v7Layout.recordLen:][:v7Layout.recordLen]
		r := &p.Records[i]
		readFixedRecord(&r.V5Record, b, &v7Layout, c)
		r.Flags = b[36]
		r.FieldFlags = binary.BigEndian.Uint16(b[46:])
		r.RouterSC = addr4(b[48:])
	}
	return nil
}
