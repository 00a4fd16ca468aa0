package export

import (
	"math"
	"net/netip"
	"slices"

	"github.com/flowkit/netflow"
)

// Flow values as v1, v5 and v7 records.

// fixedFormat is what the Flow path needs to know of a fixed format.
type fixedFormat struct {
	version    uint16
	headerLen  int
	recordLen  int
	maxRecords int
	asMask     bool // AS numbers and masks (v5, v7; not v1)
}

var (
	v1Format = fixedFormat{version: 1, headerLen: v1HeaderLen, recordLen: v1RecordLen, maxRecords: v1MaxRecords}
	v5Format = fixedFormat{version: 5, headerLen: v5HeaderLen, recordLen: v5RecordLen, maxRecords: v5MaxRecords, asMask: true}
	v7Format = fixedFormat{version: 7, headerLen: v7HeaderLen, recordLen: v7RecordLen, maxRecords: v7MaxRecords, asMask: true}
)

// asTrans is the 16-bit AS number that stands for a 4-byte one (RFC 6793).
const asTrans = 23456

// appendFixedFlow appends f as one record of format ff, its times against
// c. Nothing is appended when it fails: a value does not fit the format
// (an address that is not IPv4, a counter above 2^32-1, an interface
// index or AS number above 65535, a time more than 24.8 days from the
// export) and saturate does not say to cut it (counters and interfaces to
// their largest value, AS numbers to AS_TRANS). Fields the format does not
// have are left out.
func appendFixedFlow(dst []byte, f *netflow.Flow, ff *fixedFormat, c fixedClock, saturate bool) ([]byte, error) {
	var r netflow.V5Record
	var err error
	if r.SrcAddr, err = fixedAddr(f.SrcAddr, f.Known&netflow.FieldSrcAddr != 0, "src_addr"); err != nil {
		return dst, err
	}
	if r.DstAddr, err = fixedAddr(f.DstAddr, f.Known&netflow.FieldDstAddr != 0, "dst_addr"); err != nil {
		return dst, err
	}
	if r.NextHop, err = fixedAddr(f.NextHop, f.Known&netflow.FieldNextHop != 0, "next_hop"); err != nil {
		return dst, err
	}
	in, ok1 := fit16(f.InIf, saturate, math.MaxUint16)
	out, ok2 := fit16(f.OutIf, saturate, math.MaxUint16)
	if !ok1 || !ok2 {
		return dst, rangeErr("v%d interfaces %d, %d: 16 bits", ff.version, f.InIf, f.OutIf)
	}
	r.Input, r.Output = in, out
	pkts, ok1 := fit32(f.Packets, saturate)
	octs, ok2 := fit32(f.Bytes, saturate)
	if !ok1 || !ok2 {
		return dst, rangeErr("v%d packets %d, bytes %d: 32 bits", ff.version, f.Packets, f.Bytes)
	}
	r.Packets, r.Octets = pkts, octs
	r.First, r.Last = c.uptime, c.uptime
	if f.Known&netflow.FieldStart != 0 {
		if r.First, err = c.at(f.Start, "start"); err != nil {
			return dst, err
		}
	}
	if f.Known&netflow.FieldEnd != 0 {
		if r.Last, err = c.at(f.End, "end"); err != nil {
			return dst, err
		}
	}
	r.SrcPort, r.DstPort = fixedPorts(f)
	r.TCPFlags, r.Proto, r.ToS = f.TCPFlags, f.Proto, f.ToS
	if ff.asMask {
		src, ok1 := fit16(f.SrcAS, saturate, asTrans)
		dstAS, ok2 := fit16(f.DstAS, saturate, asTrans)
		if !ok1 || !ok2 {
			return dst, rangeErr("v%d AS numbers %d, %d: 16 bits", ff.version, f.SrcAS, f.DstAS)
		}
		r.SrcAS, r.DstAS = src, dstAS
		r.SrcMask, r.DstMask = f.SrcMask, f.DstMask
	}
	// Written in place: the layout of AppendV1Record, AppendV5Record and
	// AppendV7Record (v7's flags, field flags and shortcut router 0).
	start := len(dst)
	dst = slices.Grow(dst, ff.recordLen)[:start+ff.recordLen]
	rec := dst[start:]
	clear(rec)
	src, dstA, nh := r.SrcAddr.As4(), r.DstAddr.As4(), r.NextHop.As4()
	copy(rec[0:4], src[:])
	copy(rec[4:8], dstA[:])
	copy(rec[8:12], nh[:])
	be.PutUint16(rec[12:], r.Input)
	be.PutUint16(rec[14:], r.Output)
	be.PutUint32(rec[16:], r.Packets)
	be.PutUint32(rec[20:], r.Octets)
	be.PutUint32(rec[24:], r.First)
	be.PutUint32(rec[28:], r.Last)
	be.PutUint16(rec[32:], r.SrcPort)
	be.PutUint16(rec[34:], r.DstPort)
	if ff.version == 1 {
		rec[38], rec[39], rec[40] = r.Proto, r.ToS, r.TCPFlags
		return dst, nil
	}
	rec[37], rec[38], rec[39] = r.TCPFlags, r.Proto, r.ToS
	be.PutUint16(rec[40:], r.SrcAS)
	be.PutUint16(rec[42:], r.DstAS)
	rec[44], rec[45] = r.SrcMask, r.DstMask
	return dst, nil
}

// fixedAddr returns a flow's address for a fixed-format record: an IPv4
// address as it is, an unknown one as 0.0.0.0; a known address of another
// kind is out of range.
func fixedAddr(a netip.Addr, known bool, what string) (netip.Addr, error) {
	switch {
	case a.Is4():
		return a, nil
	case !known:
		return netip.IPv4Unspecified(), nil
	case !a.IsValid():
		return a, rangeErr("%s known but not a valid address", what)
	}
	return a, rangeErr("%s %v: an IPv4 address only", what, a)
}

// fixedPorts returns a flow's ports for a fixed-format record. An ICMP
// flow that knows its type and code but has no ports carries them as
// Cisco does, type<<8 | code in the destination port.
func fixedPorts(f *netflow.Flow) (src, dst uint16) {
	const icmpFields = netflow.FieldICMPType | netflow.FieldICMPCode
	if (f.Proto == 1 || f.Proto == 58) && f.Known&icmpFields != 0 && f.SrcPort == 0 && f.DstPort == 0 {
		return 0, uint16(f.ICMPType)<<8 | uint16(f.ICMPCode)
	}
	return f.SrcPort, f.DstPort
}

// fit16 returns v as 16 bits, or instead when it is wider and saturate is
// set; ok is false when it is wider and saturate is not set.
func fit16(v uint32, saturate bool, instead uint16) (uint16, bool) {
	if v <= math.MaxUint16 {
		return uint16(v), true
	}
	return instead, saturate
}

// fit32 returns v as 32 bits, or 2^32-1 when it is wider and saturate is
// set.
func fit32(v uint64, saturate bool) (uint32, bool) {
	if v <= math.MaxUint32 {
		return uint32(v), true
	}
	return math.MaxUint32, saturate
}
