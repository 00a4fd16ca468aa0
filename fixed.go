package netflow

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
)

// The fixed formats: NetFlow v1, v5, v6 and v7. Each is a header and a
// count of records of one length. Their records share the layout of bytes
// 0-35 (the rec* offsets below); fixedLayouts holds everything else in which
// they differ, and every version switch and record reader uses it.

// Record offsets that v1, v5, v6 and v7 share.
const (
	recSrcAddr = 0
	recDstAddr = 4
	recNextHop = 8
	recInput   = 12
	recOutput  = 14
	recPackets = 16
	recOctets  = 20
	recFirst   = 24
	recLast    = 28
	recSrcPort = 32
	recDstPort = 34
	// v5, v6 and v7 only (v1 has padding and its TCP flags at 40):
	recSrcAS   = 40
	recDstAS   = 42
	recSrcMask = 44
	recDstMask = 45
)

// fixedLayout is how one fixed format is laid out.
type fixedLayout struct {
	version   uint16
	headerLen int
	recordLen int
	// Header: sequence number at 16 (v5, v6, v7); engine type, engine ID
	// and sampling at 20-23 (v5, v6).
	hasSequence, hasEngine bool
	// Record bytes that moved between versions.
	tcpFlags, proto, tos int
	// hasASMask: AS numbers and masks at recSrcAS..recDstMask.
	hasASMask bool
	known     FlowFields // what every record carries
}

var (
	v1Layout = fixedLayout{
		version: 1, headerLen: 16, recordLen: 48,
		tcpFlags: 40, proto: 38, tos: 39,
		known: v1Fields,
	}
	v5Layout = fixedLayout{
		version: 5, headerLen: 24, recordLen: 48, hasSequence: true, hasEngine: true,
		tcpFlags: 37, proto: 38, tos: 39, hasASMask: true,
		known: fixedFormatFields,
	}
	v6Layout = fixedLayout{
		version: 6, headerLen: 24, recordLen: 52, hasSequence: true, hasEngine: true,
		tcpFlags: 37, proto: 38, tos: 39, hasASMask: true,
		known: fixedFormatFields,
	}
	v7Layout = fixedLayout{
		version: 7, headerLen: 24, recordLen: 52, hasSequence: true,
		tcpFlags: 37, proto: 38, tos: 39, hasASMask: true,
		known: fixedFormatFields &^ FieldDomain, // no engine fields
	}
)

// fixedLayoutOf returns the layout of a fixed-format version, nil for any
// other.
func fixedLayoutOf(version uint16) *fixedLayout {
	switch version {
	case 1:
		return &v1Layout
	case 5:
		return &v5Layout
	case 6:
		return &v6Layout
	case 7:
		return &v7Layout
	}
	return nil
}

// fixedHeader holds the header fields of a fixed-format datagram.
type fixedHeader struct {
	count     uint16
	sysUptime uint32
	unixSecs  uint32
	unixNsecs uint32
	sequence  uint32 // v5, v6, v7
	engine    uint16 // v5, v6: type<<8 | ID
	sampling  uint16 // v5, v6: mode<<14 | interval
	reserved  uint32 // v7: bytes 20-23
}

// parseFixed validates the header and record framing of a fixed-format
// datagram. The count must be non-zero and the datagram must hold count
// records; bytes after the last record are ignored.
func parseFixed(data []byte, l *fixedLayout) (fixedHeader, error) {
	if len(data) < l.headerLen {
		return fixedHeader{}, decodeErr(l.version, len(data), "header", ErrTruncated)
	}
	h := fixedHeader{
		count:     binary.BigEndian.Uint16(data[2:]),
		sysUptime: binary.BigEndian.Uint32(data[4:]),
		unixSecs:  binary.BigEndian.Uint32(data[8:]),
		unixNsecs: binary.BigEndian.Uint32(data[12:]),
	}
	if l.hasSequence {
		h.sequence = binary.BigEndian.Uint32(data[16:])
		h.reserved = binary.BigEndian.Uint32(data[20:])
	}
	if l.hasEngine {
		h.engine = binary.BigEndian.Uint16(data[20:])
		h.sampling = binary.BigEndian.Uint16(data[22:])
		h.reserved = 0
	}
	if h.count == 0 {
		return h, decodeErr(l.version, 2, "header count", ErrEmpty)
	}
	backed := (len(data) - l.headerLen) / l.recordLen
	if int(h.count) > backed {
		return h, decodeErr(l.version, l.headerLen+backed*l.recordLen, recordName(l.version, backed), ErrTruncated)
	}
	return h, nil
}

// messageLen returns the length of the fixed-format message whose header
// starts data (SplitMessage), without checking that data holds it.
func (l *fixedLayout) messageLen(data []byte) int {
	return l.headerLen + l.recordLen*int(binary.BigEndian.Uint16(data[2:]))
}

func (h fixedHeader) clock() uptimeClock {
	return uptimeClock{exportNs: exportNanos(h.unixSecs, h.unixNsecs), uptime: h.sysUptime}
}

// samplingInterval is the v5/v6 header's interval: the sampling field
// without its two mode bits.
func (h fixedHeader) samplingInterval() uint32 { return uint32(h.sampling & 0x3fff) }

// recordName names record i of a version for errors.
func recordName(version uint16, i int) string {
	return "v" + strconv.Itoa(int(version)) + " record " + strconv.Itoa(i)
}

// uptimeClock turns exporter uptime milliseconds into absolute UTC times,
// given the export time and the uptime at export.
type uptimeClock struct {
	exportNs int64  // export time, ns since 1970
	uptime   uint32 // sys_uptime at export, ms
}

// at returns the absolute time of uptime ms. The difference to the export
// uptime is taken as a signed 32-bit number, so that a counter that wrapped
// between the flow and the export (ms > uptime by almost 2^32) and an
// exporter whose clock runs slightly ahead (ms > uptime by a little) are both
// right.
func (c uptimeClock) at(ms uint32) time.Time {
	return time.Unix(0, c.unixNano(ms)).UTC()
}

// unixNano returns the time of uptime ms in ns since 1970 (see at). The hot
// loops write at out with it.
func (c uptimeClock) unixNano(ms uint32) int64 {
	return c.exportNs - int64(int32(c.uptime-ms))*1e6
}

// readFixedRecord reads the fields every fixed-format record has into r.
func readFixedRecord(r *V5Record, b []byte, l *fixedLayout, c uptimeClock) {
	b = b[:l.recordLen]
	r.SrcAddr = addr4(b[recSrcAddr:])
	r.DstAddr = addr4(b[recDstAddr:])
	r.NextHop = addr4(b[recNextHop:])
	r.Input = binary.BigEndian.Uint16(b[recInput:])
	r.Output = binary.BigEndian.Uint16(b[recOutput:])
	r.Packets = binary.BigEndian.Uint32(b[recPackets:])
	r.Octets = binary.BigEndian.Uint32(b[recOctets:])
	r.First = binary.BigEndian.Uint32(b[recFirst:])
	r.Last = binary.BigEndian.Uint32(b[recLast:])
	r.SrcPort = binary.BigEndian.Uint16(b[recSrcPort:])
	r.DstPort = binary.BigEndian.Uint16(b[recDstPort:])
	r.TCPFlags = b[l.tcpFlags]
	r.Proto = b[l.proto]
	r.ToS = b[l.tos]
	if l.hasASMask {
		r.SrcAS = binary.BigEndian.Uint16(b[recSrcAS:])
		r.DstAS = binary.BigEndian.Uint16(b[recDstAS:])
		r.SrcMask = b[recSrcMask]
		r.DstMask = b[recDstMask]
	} else {
		r.SrcAS, r.DstAS, r.SrcMask, r.DstMask = 0, 0, 0, 0
	}
	r.Start = c.at(r.First)
	r.End = c.at(r.Last)
}

// fixedContext is what the flows of one fixed-format datagram share.
type fixedContext struct {
	exporter              netip.AddrPort
	layout                *fixedLayout
	domain, seq, sampling uint32
	known                 FlowFields
	rule                  samplingRule // Config.Sampling
}

func newFixedContext(exporter netip.AddrPort, l *fixedLayout, h fixedHeader, rule samplingRule) fixedContext {
	c := fixedContext{exporter: exporter, layout: l, domain: uint32(h.engine), seq: h.sequence, sampling: h.samplingInterval(), known: l.known, rule: rule}
	if c.sampling != 0 {
		c.known |= FieldSamplingInterval
	}
	return c
}

// recordFlow fills f from a typed fixed-format record.
func (c *fixedContext) recordFlow(f *Flow, r *V5Record) {
	*f = Flow{
		Exporter:         c.exporter,
		Version:          c.layout.version,
		Domain:           c.domain,
		Sequence:         c.seq,
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
		SamplingInterval: c.sampling,
		Known:            c.known,
	}
	c.finish(f)
}

// finish derives the ICMP type and code from the ports (flowfields.go) and
// applies the sampling policy. Most flows need neither: that test is
// inlined.
func (c *fixedContext) finish(f *Flow) {
	if icmpProto(f.Proto) || c.rule.active {
		c.finishFlow(f)
	}
}

func (c *fixedContext) finishFlow(f *Flow) {
	icmpFromPorts(f)
	if c.rule.active {
		c.rule.apply(f)
	}
}

// appendFixedFlows decodes the records of a fixed-format datagram, whose
// framing parseFixed checked, straight into Flow values: the fast path of
// DecodeFlows that skips the typed records. It reads what readFixedRecord
// reads, by the same layout.
func appendFixedFlows(dst []Flow, data []byte, exporter netip.AddrPort, h fixedHeader, l *fixedLayout, rule samplingRule) []Flow {
	fc := newFixedContext(exporter, l, h, rule)
	c := h.clock()
	n := len(dst)
	dst = grow(dst, n+int(h.count))
	// Every field read here is in the first 48 bytes of a record (v6 and v7
	// add theirs after them): a 48-byte slice lets the compiler drop the
	// bounds checks of the constant offsets.
	// Constant offsets, so that the compiler checks no bounds: the table
	// has protocol and ToS at 38 and 39 in all four layouts and the TCP
	// flags at 37 or (v1) 40; TestFixedLayoutConstants holds it to that.
	flagsAt40 := l.tcpFlags == 40
	hasASMask, recordLen := l.hasASMask, l.recordLen
	records := data[l.headerLen:]
	out := dst[n : n+int(h.count)]
	for i := range out {
		b := records[:48]
		records = records[recordLen:] // parseFixed checked the length
		f := &out[i]
		f.Exporter = exporter
		f.Version = l.version
		f.ExportProtocol = ExportNetFlow
		f.Domain = fc.domain
		f.Sequence = fc.seq
		f.SrcAddr = addr4(b[recSrcAddr:])
		f.DstAddr = addr4(b[recDstAddr:])
		f.NextHop = addr4(b[recNextHop:])
		f.InIf = uint32(binary.BigEndian.Uint16(b[recInput:]))
		f.OutIf = uint32(binary.BigEndian.Uint16(b[recOutput:]))
		f.Packets = uint64(binary.BigEndian.Uint32(b[recPackets:]))
		f.Bytes = uint64(binary.BigEndian.Uint32(b[recOctets:]))
		// c.at written out: a call to it is not inlined.
		f.Start = time.Unix(0, c.unixNano(binary.BigEndian.Uint32(b[recFirst:]))).UTC()
		f.End = time.Unix(0, c.unixNano(binary.BigEndian.Uint32(b[recLast:]))).UTC()
		f.SrcPort = binary.BigEndian.Uint16(b[recSrcPort:])
		f.DstPort = binary.BigEndian.Uint16(b[recDstPort:])
		if flagsAt40 {
			f.TCPFlags = b[40]
		} else {
			f.TCPFlags = b[37]
		}
		f.Proto = b[38]
		f.ToS = b[39]
		if hasASMask {
			f.SrcAS = uint32(binary.BigEndian.Uint16(b[recSrcAS:]))
			f.DstAS = uint32(binary.BigEndian.Uint16(b[recDstAS:]))
			f.SrcMask = b[recSrcMask]
			f.DstMask = b[recDstMask]
		} else {
			f.SrcAS, f.DstAS, f.SrcMask, f.DstMask = 0, 0, 0, 0
		}
		f.SamplingInterval = fc.sampling
		f.Known = fc.known
		f.Agent = netip.Addr{}
		clearExtra(f)
		fc.finish(f)
	}
	return dst
}
