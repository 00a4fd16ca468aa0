package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// NetFlow v1: a 16-byte header and 48-byte records.
const (
	v1HeaderLen = 16
	v1RecordLen = 48
)

// V1Header is the NetFlow v1 header.
type V1Header struct {
	Count     uint16 // records in the datagram
	SysUptime uint32 // ms since the exporter booted, at export
	UnixSecs  uint32 // export time, seconds since 1970
	UnixNsecs uint32 // export time, residual nanoseconds
}

// ExportTime returns the header's export time in UTC.
func (h *V1Header) ExportTime() time.Time { return unixTime(h.UnixSecs, h.UnixNsecs) }

// V1Record is one NetFlow v1 flow record.
type V1Record struct {
	SrcAddr, DstAddr netip.Addr
	NextHop          netip.Addr
	Input, Output    uint16 // SNMP interface indexes
	Packets, Octets  uint32
	First, Last      uint32 // SysUptime at the first and last packet, ms
	SrcPort, DstPort uint16
	Proto            uint8
	ToS              uint8
	TCPFlags         uint8
	// Start and End are First and Last as absolute UTC times.
	Start, End time.Time
}

// V1Packet is a decoded NetFlow v1 datagram. It holds no reference to the
// datagram.
type V1Packet struct {
	Exporter netip.AddrPort
	Header   V1Header
	Records  []V1Record
}

// Version returns 1.
func (p *V1Packet) Version() uint16 { return 1 }

// FlowCount returns the number of records.
func (p *V1Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst. v1 has no sequence
// number, engine, AS numbers or masks.
func (p *V1Packet) AppendFlows(dst []Flow) []Flow {
	n := len(dst)
	dst = grow(dst, n+len(p.Records))
	for i := range p.Records {
		r := &p.Records[i]
		dst[n+i] = Flow{
			Exporter: p.Exporter,
			Version:  1,
			SrcAddr:  r.SrcAddr,
			DstAddr:  r.DstAddr,
			NextHop:  r.NextHop,
			SrcPort:  r.SrcPort,
			DstPort:  r.DstPort,
			Proto:    r.Proto,
			ToS:      r.ToS,
			TCPFlags: r.TCPFlags,
			Packets:  uint64(r.Packets),
			Bytes:    uint64(r.Octets),
			Start:    r.Start,
			End:      r.End,
			InIf:     uint32(r.Input),
			OutIf:    uint32(r.Output),
			Known:    v1Fields,
		}
	}
	return dst
}

// appendV1Flows decodes the records of a v1 datagram, whose framing
// parseFixed checked, straight into Flow values.
func appendV1Flows(dst []Flow, data []byte, exporter netip.AddrPort, h fixedHeader) []Flow {
	c := h.clock()
	n := len(dst)
	dst = grow(dst, n+int(h.count))
	for i := range int(h.count) {
		b := data[v1HeaderLen+i*v1RecordLen:][:v1RecordLen]
		dst[n+i] = Flow{
			Exporter: exporter,
			Version:  1,
			SrcAddr:  addr4(b[0:]),
			DstAddr:  addr4(b[4:]),
			NextHop:  addr4(b[8:]),
			InIf:     uint32(binary.BigEndian.Uint16(b[12:])),
			OutIf:    uint32(binary.BigEndian.Uint16(b[14:])),
			Packets:  uint64(binary.BigEndian.Uint32(b[16:])),
			Bytes:    uint64(binary.BigEndian.Uint32(b[20:])),
			Start:    c.at(binary.BigEndian.Uint32(b[24:])),
			End:      c.at(binary.BigEndian.Uint32(b[28:])),
			SrcPort:  binary.BigEndian.Uint16(b[32:]),
			DstPort:  binary.BigEndian.Uint16(b[34:]),
			Proto:    b[38],
			ToS:      b[39],
			TCPFlags: b[40],
			Known:    v1Fields,
		}
	}
	return dst
}

func decodeV1(p *V1Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	fh, err := parseFixed(data, 1, v1HeaderLen, v1RecordLen)
	if err != nil {
		p.Records = p.Records[:0]
		return err
	}
	p.Header = V1Header{Count: fh.count, SysUptime: fh.sysUptime, UnixSecs: fh.unixSecs, UnixNsecs: fh.unixNsecs}
	c := fh.clock()
	p.Records = grow(p.Records, int(fh.count))
	for i := range p.Records {
		b := data[v1HeaderLen+i*v1RecordLen:][:v1RecordLen]
		r := &p.Records[i]
		// Bytes 36-37 are padding; 41-47 padding and reserved.
		*r = V1Record{
			SrcAddr:  addr4(b[0:]),
			DstAddr:  addr4(b[4:]),
			NextHop:  addr4(b[8:]),
			Input:    binary.BigEndian.Uint16(b[12:]),
			Output:   binary.BigEndian.Uint16(b[14:]),
			Packets:  binary.BigEndian.Uint32(b[16:]),
			Octets:   binary.BigEndian.Uint32(b[20:]),
			First:    binary.BigEndian.Uint32(b[24:]),
			Last:     binary.BigEndian.Uint32(b[28:]),
			SrcPort:  binary.BigEndian.Uint16(b[32:]),
			DstPort:  binary.BigEndian.Uint16(b[34:]),
			Proto:    b[38],
			ToS:      b[39],
			TCPFlags: b[40],
		}
		r.Start = c.at(r.First)
		r.End = c.at(r.Last)
	}
	return nil
}
