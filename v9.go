package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

const v9HeaderLen = 20

// V9Header is the NetFlow v9 packet header (RFC 3954 section 5.1).
type V9Header struct {
	// Count is the header's record count. Exporters disagree on what it
	// counts (records, flowsets, or nothing), so the decoder does not use it.
	Count     uint16
	SysUptime uint32 // ms since the exporter booted, at export
	UnixSecs  uint32 // export time, seconds since 1970
	Sequence  uint32 // export packet counter
	SourceID  uint32 // exporter observation domain
}

// ExportTime returns UnixSecs as a UTC time.
func (h *V9Header) ExportTime() time.Time { return time.Unix(int64(h.UnixSecs), 0).UTC() }

// V9Packet is a decoded NetFlow v9 datagram. Its records alias the datagram.
type V9Packet struct {
	Exporter netip.AddrPort
	Header   V9Header
	Sets
}

// Version returns 9.
func (p *V9Packet) Version() uint16 { return 9 }

func (d *Decoder) decodeV9(p *V9Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	p.reset()
	if len(data) < v9HeaderLen {
		return decodeErr(9, len(data), "header", ErrTruncated)
	}
	p.Header = V9Header{
		Count:     binary.BigEndian.Uint16(data[2:]),
		SysUptime: binary.BigEndian.Uint32(data[4:]),
		UnixSecs:  binary.BigEndian.Uint32(data[8:]),
		Sequence:  binary.BigEndian.Uint32(data[12:]),
		SourceID:  binary.BigEndian.Uint32(data[16:]),
	}
	w := setWalker{
		d:   d,
		s:   &p.Sets,
		key: domainOf(d.exporterKey(exporter), 9, p.Header.SourceID),
		ctx: flowContext{
			exporter:   exporter,
			version:    9,
			domain:     p.Header.SourceID,
			sequence:   p.Header.Sequence,
			exportTime: p.Header.ExportTime(),
			exportNs:   p.Header.ExportTime().UnixNano(),
			sysUptime:  p.Header.SysUptime,
		},
	}
	w.walk(data, v9HeaderLen)
	return w.finish()
}
