package netflow

import (
	"net/netip"
	"time"
)

// NetFlow v1: a 16-byte header and 48-byte records (v1Layout).

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

	sampling samplingRule // the decoder's Config.Sampling policy for Exporter
}

// Version returns 1.
func (p *V1Packet) Version() uint16 { return 1 }

// FlowCount returns the number of records.
func (p *V1Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst. v1 has no sequence
// number, engine, AS numbers or masks.
func (p *V1Packet) AppendFlows(dst []Flow) []Flow {
	c := fixedContext{exporter: p.Exporter, layout: &v1Layout, known: v1Layout.known, rule: p.sampling}
	n := len(dst)
	dst = grow(dst, n+len(p.Records))
	for i := range p.Records {
		r := &p.Records[i]
		v5 := V5Record{
			SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, NextHop: r.NextHop, Input: r.Input, Output: r.Output,
			Packets: r.Packets, Octets: r.Octets, First: r.First, Last: r.Last, SrcPort: r.SrcPort,
			DstPort: r.DstPort, TCPFlags: r.TCPFlags, Proto: r.Proto, ToS: r.ToS, Start: r.Start, End: r.End,
		}
		c.recordFlow(&dst[n+i], &v5)
	}
	return dst
}

func decodeV1(p *V1Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	fh, err := parseFixed(data, &v1Layout)
	if err != nil {
		p.Records = p.Records[:0]
		return err
	}
	p.Header = V1Header{Count: fh.count, SysUptime: fh.sysUptime, UnixSecs: fh.unixSecs, UnixNsecs: fh.unixNsecs}
	c := fh.clock()
	p.Records = grow(p.Records, int(fh.count))
	var v5 V5Record
	for i := range p.Records {
		// Bytes 36-37 are padding; 41-47 padding and reserved.
		readFixedRecord(&v5, data[v1Layout.headerLen+i*v1Layout.recordLen:], &v1Layout, c)
		p.Records[i] = V1Record{
			SrcAddr: v5.SrcAddr, DstAddr: v5.DstAddr, NextHop: v5.NextHop, Input: v5.Input, Output: v5.Output,
			Packets: v5.Packets, Octets: v5.Octets, First: v5.First, Last: v5.Last, SrcPort: v5.SrcPort,
			DstPort: v5.DstPort, Proto: v5.Proto, ToS: v5.ToS, TCPFlags: v5.TCPFlags, Start: v5.Start, End: v5.End,
		}
	}
	return nil
}
