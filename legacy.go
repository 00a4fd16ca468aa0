package netflow

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
)

// Shared pieces of the fixed-format versions (v1, v5, v6, v7).

// uptimeClock turns exporter uptime milliseconds into absolute UTC times,
// given the export time and the uptime at export.
type uptimeClock struct {
	exportNs int64  // export time, ns since 1970
	uptime   uint32 // sys_uptime at export, ms
}

func newUptimeClock(secs, nsecs, uptime uint32) uptimeClock {
	return uptimeClock{exportNs: int64(secs)*1e9 + int64(nsecs), uptime: uptime}
}

// at returns the absolute time of uptime ms. The difference to the export
// uptime is taken as a signed 32-bit number, so that a counter that wrapped
// between the flow and the export (ms > uptime by almost 2^32) and an
// exporter whose clock runs slightly ahead (ms > uptime by a little) are both
// right.
func (c uptimeClock) at(ms uint32) time.Time {
	return time.Unix(0, c.exportNs-int64(int32(c.uptime-ms))*1e6).UTC()
}

// unixTime returns seconds and nanoseconds as a UTC time.
func unixTime(secs, nsecs uint32) time.Time {
	return time.Unix(int64(secs), int64(nsecs)).UTC()
}

// addr4 reads an IPv4 address at b[0:4].
func addr4(b []byte) netip.Addr {
	return netip.AddrFrom4([4]byte(b[:4]))
}

// fixedHeader holds the header fields shared by v1, v5, v6 and v7.
type fixedHeader struct {
	count     uint16
	sysUptime uint32
	unixSecs  uint32
	unixNsecs uint32
}

// parseFixed validates the header and record framing of a fixed-format
// datagram and returns the record count. The count must be non-zero and the
// datagram must hold count records; bytes after the last record are ignored.
func parseFixed(data []byte, version uint16, headerLen, recordLen int) (fixedHeader, error) {
	if len(data) < headerLen {
		return fixedHeader{}, decodeErr(version, len(data), "header", ErrTruncated)
	}
	h := fixedHeader{
		count:     binary.BigEndian.Uint16(data[2:]),
		sysUptime: binary.BigEndian.Uint32(data[4:]),
		unixSecs:  binary.BigEndian.Uint32(data[8:]),
		unixNsecs: binary.BigEndian.Uint32(data[12:]),
	}
	if h.count == 0 {
		return h, decodeErr(version, 2, "header count", ErrEmpty)
	}
	backed := (len(data) - headerLen) / recordLen
	if int(h.count) > backed {
		return h, decodeErr(version, headerLen+backed*recordLen, recordName(version, backed), ErrTruncated)
	}
	return h, nil
}

func (h fixedHeader) clock() uptimeClock {
	return newUptimeClock(h.unixSecs, h.unixNsecs, h.sysUptime)
}

// recordName names record i of a version for errors.
func recordName(version uint16, i int) string {
	return "v" + strconv.Itoa(int(version)) + " record " + strconv.Itoa(i)
}

// parseV5Layout reads the 48-byte record layout that v5, v6 and v7 share
// (v6 and v7 add four bytes after it and give bytes 36 and 46-47 other
// meanings, which their decoders read themselves).
func parseV5Layout(r *V5Record, b []byte, c uptimeClock) {
	b = b[:48]
	r.SrcAddr = addr4(b[0:])
	r.DstAddr = addr4(b[4:])
	r.NextHop = addr4(b[8:])
	r.Input = binary.BigEndian.Uint16(b[12:])
	r.Output = binary.BigEndian.Uint16(b[14:])
	r.Packets = binary.BigEndian.Uint32(b[16:])
	r.Octets = binary.BigEndian.Uint32(b[20:])
	r.First = binary.BigEndian.Uint32(b[24:])
	r.Last = binary.BigEndian.Uint32(b[28:])
	r.SrcPort = binary.BigEndian.Uint16(b[32:])
	r.DstPort = binary.BigEndian.Uint16(b[34:])
	r.TCPFlags = b[37]
	r.Proto = b[38]
	r.ToS = b[39]
	r.SrcAS = binary.BigEndian.Uint16(b[40:])
	r.DstAS = binary.BigEndian.Uint16(b[42:])
	r.SrcMask = b[44]
	r.DstMask = b[45]
	r.Start = c.at(r.First)
	r.End = c.at(r.Last)
}

// v5Flow fills f from a record of the v5 layout.
func v5Flow(f *Flow, r *V5Record, exporter netip.AddrPort, version uint16, domain, seq, sampling uint32) {
	*f = Flow{
		Exporter:         exporter,
		Version:          version,
		Domain:           domain,
		Sequence:         seq,
		SrcAddr:          r.SrcAddr,
		DstAddr:          r.DstAddr,
		NextHop:          r.NextHop,
		SrcPort:          r.SrcPort,
		DstPort:          r.DstPort,
		Proto:            r.Proto,
		ToS:              r.ToS,
		TCPFlags:         r.TCPFlags,
		SrcMask:          r.SrcMask,
		DstMask:          r.DstMask,
		Packets:          uint64(r.Packets),
		Bytes:            uint64(r.Octets),
		Start:            r.Start,
		End:              r.End,
		InIf:             uint32(r.Input),
		OutIf:            uint32(r.Output),
		SrcAS:            uint32(r.SrcAS),
		DstAS:            uint32(r.DstAS),
		SamplingInterval: sampling,
		Known:            fixedFormatFields,
	}
	if sampling != 0 {
		f.Known |= FieldSamplingInterval
	}
	if version == 7 {
		f.Known &^= FieldDomain // v7 has no engine fields
	}
}

// appendFixedFlows decodes the records of a v5, v6 or v7 datagram, whose
// framing parseFixed checked, straight into Flow values: the fast path that
// skips the typed records.
func appendFixedFlows(dst []Flow, data []byte, exporter netip.AddrPort, h fixedHeader, version uint16, headerLen, recordLen int) []Flow {
	var domain, seq, sampling uint32
	seq = binary.BigEndian.Uint32(data[16:])
	if version != 7 {
		domain = uint32(data[20])<<8 | uint32(data[21])
		sampling = uint32(binary.BigEndian.Uint16(data[22:]) & 0x3fff)
	}
	known := fixedFormatFields
	if version == 7 {
		known &^= FieldDomain // v7 has no engine fields
	}
	if sampling != 0 {
		known |= FieldSamplingInterval
	}
	c := h.clock()
	n := len(dst)
	dst = grow(dst, n+int(h.count))
	for i := range int(h.count) {
		b := data[headerLen+i*recordLen:][:48]
		f := &dst[n+i]
		f.Exporter = exporter
		f.Version = version
		f.Domain = domain
		f.Sequence = seq
		f.SrcAddr = addr4(b[0:])
		f.DstAddr = addr4(b[4:])
		f.NextHop = addr4(b[8:])
		f.InIf = uint32(binary.BigEndian.Uint16(b[12:]))
		f.OutIf = uint32(binary.BigEndian.Uint16(b[14:]))
		f.Packets = uint64(binary.BigEndian.Uint32(b[16:]))
		f.Bytes = uint64(binary.BigEndian.Uint32(b[20:]))
		f.Start = c.at(binary.BigEndian.Uint32(b[24:]))
		f.End = c.at(binary.BigEndian.Uint32(b[28:]))
		f.SrcPort = binary.BigEndian.Uint16(b[32:])
		f.DstPort = binary.BigEndian.Uint16(b[34:])
		f.TCPFlags = b[37]
		f.Proto = b[38]
		f.ToS = b[39]
		f.SrcAS = uint32(binary.BigEndian.Uint16(b[40:]))
		f.DstAS = uint32(binary.BigEndian.Uint16(b[42:]))
		f.SrcMask = b[44]
		f.DstMask = b[45]
		f.SamplingInterval = sampling
		f.Known = known
	}
	return dst
}

// grow returns s with length n, reusing its capacity. When it must
// reallocate it keeps s's elements (AppendFlows appends to them) and at
// least doubles the capacity, as append does.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	t := make([]T, n, max(n, 2*cap(s)))
	copy(t, s)
	return t
}
