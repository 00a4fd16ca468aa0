package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// NetFlow v5: a 24-byte header and 48-byte records.
const (
	v5HeaderLen = 24
	v5RecordLen = 48
)

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
}

// Version returns 5.
func (p *V5Packet) Version() uint16 { return 5 }

// FlowCount returns the number of records.
func (p *V5Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst.
func (p *V5Packet) AppendFlows(dst []Flow) []Flow {
	return appendV5Flows(dst, p.Records, &p.Header, p.Exporter, 5)
}

func appendV5Flows(dst []Flow, recs []V5Record, h *V5Header, exporter netip.AddrPort, version uint16) []Flow {
	n := len(dst)
	dst = grow(dst, n+len(recs))
	domain, sampling := h.Domain(), uint32(h.SamplingInterval)
	for i := range recs {
		v5Flow(&dst[n+i], &recs[i], exporter, version, domain, h.FlowSequence, sampling)
	}
	return dst
}

// parseV5Header reads the v5/v6 header and checks that the datagram holds
// its records of recordLen bytes.
func parseV5Header(h *V5Header, data []byte, version uint16, recordLen int) error {
	fh, err := parseFixed(data, version, v5HeaderLen, recordLen)
	if err != nil {
		return err
	}
	sampling := binary.BigEndian.Uint16(data[22:])
	*h = V5Header{
		Count:            fh.count,
		SysUptime:        fh.sysUptime,
		UnixSecs:         fh.unixSecs,
		UnixNsecs:        fh.unixNsecs,
		FlowSequence:     binary.BigEndian.Uint32(data[16:]),
		EngineType:       data[20],
		EngineID:         data[21],
		SamplingMode:     uint8(sampling >> 14),
		SamplingInterval: sampling & 0x3fff,
	}
	return nil
}

func decodeV5(p *V5Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	if err := parseV5Header(&p.Header, data, 5, v5RecordLen); err != nil {
		p.Records = p.Records[:0]
		return err
	}
	c := newUptimeClock(p.Header.UnixSecs, p.Header.UnixNsecs, p.Header.SysUptime)
	p.Records = grow(p.Records, int(p.Header.Count))
	b := data[v5HeaderLen:]
	for i := range p.Records {
		parseV5Layout(&p.Records[i], b[i*v5RecordLen:], c)
	}
	return nil
}
