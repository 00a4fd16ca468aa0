package export

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
)

// The fixed formats, NetFlow v1, v5 and v7: a header and records of one
// length. The Append functions write the typed headers and records of the
// root package byte for byte as its decoder reads them; fixedRecordOf makes
// a record of a Flow.

// Header and record lengths of the fixed formats.
const (
	v1HeaderLen = 16
	v1RecordLen = 48
	v5HeaderLen = 24
	v5RecordLen = 48
	v7HeaderLen = 24
	v7RecordLen = 52
)

// Most records per datagram: v1 24, v5 30 and v7 27, as Cisco defines the
// formats.
const (
	v1MaxRecords = 24
	v5MaxRecords = 30
	v7MaxRecords = 27
)

var be = binary.BigEndian

// AppendV1Header appends the 16-byte NetFlow v1 header h.
func AppendV1Header(dst []byte, h *netflow.V1Header) []byte {
	dst = be.AppendUint16(dst, 1)
	dst = be.AppendUint16(dst, h.Count)
	dst = be.AppendUint32(dst, h.SysUptime)
	dst = be.AppendUint32(dst, h.UnixSecs)
	return be.AppendUint32(dst, h.UnixNsecs)
}

// AppendV5Header appends the 24-byte NetFlow v5 header h. It fails with
// ErrRange for a sampling mode above 3 or an interval above 0x3fff: the
// two share 16 bits.
func AppendV5Header(dst []byte, h *netflow.V5Header) ([]byte, error) {
	if h.SamplingMode > 3 || h.SamplingInterval > 0x3fff {
		return dst, rangeErr("v5 sampling mode %d, interval %d: 2 and 14 bits", h.SamplingMode, h.SamplingInterval)
	}
	dst = be.AppendUint16(dst, 5)
	dst = be.AppendUint16(dst, h.Count)
	dst = be.AppendUint32(dst, h.SysUptime)
	dst = be.AppendUint32(dst, h.UnixSecs)
	dst = be.AppendUint32(dst, h.UnixNsecs)
	dst = be.AppendUint32(dst, h.FlowSequence)
	dst = append(dst, h.EngineType, h.EngineID)
	return be.AppendUint16(dst, uint16(h.SamplingMode)<<14|h.SamplingInterval), nil
}

// AppendV7Header appends the 24-byte NetFlow v7 header h.
func AppendV7Header(dst []byte, h *netflow.V7Header) []byte {
	dst = be.AppendUint16(dst, 7)
	dst = be.AppendUint16(dst, h.Count)
	dst = be.AppendUint32(dst, h.SysUptime)
	dst = be.AppendUint32(dst, h.UnixSecs)
	dst = be.AppendUint32(dst, h.UnixNsecs)
	dst = be.AppendUint32(dst, h.FlowSequence)
	return be.AppendUint32(dst, h.Reserved)
}

// appendFixedCommon appends bytes 0-35 of a fixed-format record, the
// layout v1, v5 and v7 share.
func appendFixedCommon(dst []byte, r *netflow.V5Record) []byte {
	dst = appendAddr4(dst, r.SrcAddr)
	dst = appendAddr4(dst, r.DstAddr)
	dst = appendAddr4(dst, r.NextHop)
	dst = be.AppendUint16(dst, r.Input)
	dst = be.AppendUint16(dst, r.Output)
	dst = be.AppendUint32(dst, r.Packets)
	dst = be.AppendUint32(dst, r.Octets)
	dst = be.AppendUint32(dst, r.First)
	dst = be.AppendUint32(dst, r.Last)
	dst = be.AppendUint16(dst, r.SrcPort)
	return be.AppendUint16(dst, r.DstPort)
}

// appendAddr4 appends an IPv4 address; anything else (which the callers
// have refused or left unknown) as 0.0.0.0.
func appendAddr4(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(dst, b[:]...)
	}
	return append(dst, 0, 0, 0, 0)
}

// AppendV1Record appends the 48-byte NetFlow v1 record r. First and Last
// are written; Start and End, which a decoder computes from them, are not
// read. An address that is not IPv4 is written as 0.0.0.0 (v1Record, the
// Flow path, refuses it instead).
func AppendV1Record(dst []byte, r *netflow.V1Record) []byte {
	v5 := netflow.V5Record{
		SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, NextHop: r.NextHop, Input: r.Input, Output: r.Output,
		Packets: r.Packets, Octets: r.Octets, First: r.First, Last: r.Last, SrcPort: r.SrcPort, DstPort: r.DstPort,
	}
	dst = appendFixedCommon(dst, &v5)
	// 36-37 padding, 38 protocol, 39 ToS, 40 TCP flags, 41-47 padding and
	// reserved.
	return append(dst, 0, 0, r.Proto, r.ToS, r.TCPFlags, 0, 0, 0, 0, 0, 0, 0)
}

// AppendV5Record appends the 48-byte NetFlow v5 record r (see
// AppendV1Record for what is read).
func AppendV5Record(dst []byte, r *netflow.V5Record) []byte {
	dst = appendFixedCommon(dst, r)
	// 36 pad, 37 TCP flags, 38 protocol, 39 ToS, 40-43 AS numbers, 44-45
	// masks, 46-47 pad.
	dst = append(dst, 0, r.TCPFlags, r.Proto, r.ToS)
	dst = be.AppendUint16(dst, r.SrcAS)
	dst = be.AppendUint16(dst, r.DstAS)
	return append(dst, r.SrcMask, r.DstMask, 0, 0)
}

// AppendV7Record appends the 52-byte NetFlow v7 record r: the v5 layout
// with its flags in v5's padding and the shortcut router after it.
func AppendV7Record(dst []byte, r *netflow.V7Record) []byte {
	start := len(dst)
	dst = AppendV5Record(dst, &r.V5Record)
	dst[start+36] = r.Flags
	be.PutUint16(dst[start+46:], r.FieldFlags)
	return appendAddr4(dst, r.RouterSC)
}

// fixedClock is the clock of one fixed-format datagram: its export time in
// milliseconds (the header's seconds and nanoseconds hold it exactly) and
// the exporter's uptime then.
type fixedClock struct {
	exportMs int64
	uptime   uint32
}

// newFixedClock returns the clock of a datagram exported at export (cut to
// the millisecond) by an exporter that booted at boot.
func newFixedClock(export, boot time.Time) fixedClock {
	ms := export.UnixMilli()
	return fixedClock{exportMs: ms, uptime: uint32(ms - boot.UnixMilli())}
}

// at returns the uptime of t: what a decoder turns back into t (to the
// millisecond) with the header's uptime and export time. The difference to
// the export time must fit in 31 bits, about 24.8 days, either way.
func (c fixedClock) at(t time.Time, what string) (uint32, error) {
	d := c.exportMs - t.UnixMilli()
	if d >= 1<<31 || d <= -1<<31 || t.Before(unixEpoch) {
		return 0, rangeErr("%s %v: more than 24.8 days from the export time", what, t)
	}
	return c.uptime - uint32(d), nil
}

// unixEpoch is 1970-01-01, the earliest time any element carries.
var unixEpoch = time.Unix(0, 0)
