package netflow

import (
	"net/netip"
	"time"
)

// NetFlow v5: a 24-byte header and 48-byte records (v5Layout).

// V5Header is the NetFlow v5 header. NetFlow v6 uses the same layout.
type V5Header struct {
	Count        uint16 // records in the datagram
	SysUptime    uint32 // ms since the exporter booted, at export
	UnixSecs     uint32 // export time, seconds since 1970
	UnixNsecs    uint32 // export time, residual nanoseconds
	FlowSequence uint32 // sequence number of the first flow of the datagram
	EngineType   uint8  // type of flow-switching engine
	EngineID     uint8  // slot number of the flow-switching engine
	// SamplingMode is the first two bits of the sampling field (0 none,
	// 1 deterministic, 2 random) and SamplingInterval its other 14 bits.
	SamplingMode     uint8
	SamplingInterval uint16
}

// ExportTime returns the header's export time in UTC.
func (h *V5Header) ExportTime() time.Time { return unixTime(h.UnixSecs, h.UnixNsecs) }

// Domain returns EngineType<<8 | EngineID, the Flow.Domain of its records.
func (h *V5Header) Domain() uint32 { return uint32(h.EngineType)<<8 | uint32(h.EngineID) }

// V5Record is one NetFlow v5 flow record.
type V5Record struct {
	SrcAddr, DstAddr netip.Addr
	NextHop          netip.Addr
	Input, Output    uint16 // SNMP interface indexes
	Packets, Octets  uint32
	First, Last      uint32 // SysUptime at the first and last packet, ms
	SrcPort, DstPort uint16
	TCPFlags         uint8 // cumulative OR of TCP flags
	Proto            uint8
	ToS              uint8
	SrcAS, DstAS     uint16
	SrcMask, DstMask uint8
	// Start and End are First and Last as absolute UTC times.
	Start, End time.Time
}

// V5Packet is a decoded NetFlow v5 datagram. It holds no reference to the
// datagram.
type V5Packet struct {
	Exporter netip.AddrPort
	Header   V5Header
	Records  []V5Record

	sampling samplingRule // the decoder's Config.Sampling policy for Exporter
}

// Version returns 5.
func (p *V5Packet) Version() uint16 { return 5 }

// FlowCount returns the number of records.
func (p *V5Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst.
func (p *V5Packet) AppendFlows(dst []Flow) []Flow {
	c := newFixedContext(p.Exporter, &v5Layout, p.Header.fixed(), p.sampling)
	n := len(dst)
	dst = grow(dst, n+len(p.Records))
	for i := range p.Records {
		c.recordFlow(&dst[n+i], &p.Records[i])
	}
	return dst
}

// fixed returns the header as parseFixed reads it.
func (h *V5Header) fixed() fixedHeader {
	return fixedHeader{
		count: h.Count, sysUptime: h.SysUptime, unixSecs: h.UnixSecs, unixNsecs: h.UnixNsecs,
		sequence: h.FlowSequence, engine: uint16(h.EngineType)<<8 | uint16(h.EngineID),
		sampling: uint16(h.SamplingMode)<<14 | h.SamplingInterval,
	}
}

// v5Header returns the typed v5/v6 header.
func v5Header(fh fixedHeader) V5Header {
	return V5Header{
		Count:            fh.count,
		SysUptime:        fh.sysUptime,
		UnixSecs:         fh.unixSecs,
		UnixNsecs:        fh.unixNsecs,
		FlowSequence:     fh.sequence,
		EngineType:       uint8(fh.engine >> 8),
		EngineID:         uint8(fh.engine),
		SamplingMode:     uint8(fh.sampling >> 14),
		SamplingInterval: fh.sampling & 0x3fff,
	}
}

func decodeV5(p *V5Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	fh, err := parseFixed(data, &v5Layout)
	if err != nil {
		p.Records = p.Records[:0]
		return err
	}
	p.Header = v5Header(fh)
	c := fh.clock()
	p.Records = grow(p.Records, int(fh.count))
	for i := range p.Records {
		readFixedRecord(&p.Records[i], data[v5Layout.headerLen+i*v5Layout.recordLen:], &v5Layout, c)
	}
	return nil
}
