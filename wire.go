package netflow

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"
)

// Byte readers shared by every version. All integers on the wire are
// big-endian.

// beUint reads a big-endian unsigned integer of 1 to 8 bytes (reduced-size
// encoding); longer input reads its last 8 bytes.
func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	if len(b) > 8 {
		b = b[len(b)-8:]
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// loc is where a field sits in a fixed-length record; n == 0: absent.
type loc struct {
	off uint16
	n   uint16
}

// readUint reads the unsigned integer at l: 1, 2, 4 or 8 bytes (a template
// with other widths keeps the general path, see flowPlan.fixedOK); 0 if l
// is absent.
func readUint(rec []byte, l loc) uint64 {
	switch l.n {
	case 0:
		return 0
	case 4:
		return uint64(binary.BigEndian.Uint32(rec[l.off:]))
	case 1:
		return uint64(rec[l.off])
	case 2:
		return uint64(binary.BigEndian.Uint16(rec[l.off:]))
	}
	return binary.BigEndian.Uint64(rec[l.off:])
}

// addr4 reads an IPv4 address at b[0:4].
func addr4(b []byte) netip.Addr {
	return netip.AddrFrom4([4]byte(b[:4]))
}

// addrOf reads a 4- or 16-byte address.
func addrOf(b []byte) netip.Addr {
	if len(b) == 16 {
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.AddrFrom4([4]byte(b))
}

// varLength reads the length prefix of an IPFIX (or H3C v9)
// variable-length field: one byte, or 255 followed by two bytes. It returns
// the content length and the prefix length.
func varLength(b []byte) (n, hdr int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 255 {
		return int(b[0]), 1, true
	}
	if len(b) < 3 {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint16(b[1:])), 3, true
}

// allZero reports whether b holds only zero bytes (padding).
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Times. A time.Time holds any instant, but the decoder only reports times
// that can be right: from 1970 up to the end of the int64-nanosecond range
// (year 2262). Anything outside (a counter of 2^63 milliseconds, a delta
// larger than the export time) leaves the Flow's Known bit clear, and
// Value.Time reports it as not ok.

// maxUnixMilli is the last millisecond whose time has an int64 nanosecond
// count (2262-04-11).
const maxUnixMilli = math.MaxInt64 / 1_000_000

// unixTime returns seconds and nanoseconds as a UTC time. Nanoseconds of a
// second or more cannot be right and are ignored.
func unixTime(secs, nsecs uint32) time.Time {
	if nsecs >= 1e9 {
		nsecs = 0
	}
	return time.Unix(int64(secs), int64(nsecs)).UTC()
}

// exportNanos is unixTime in ns since 1970.
func exportNanos(secs, nsecs uint32) int64 {
	if nsecs >= 1e9 {
		nsecs = 0
	}
	return int64(secs)*1e9 + int64(nsecs)
}

// secondsTime returns a dateTimeSeconds value; ok is false beyond 2262.
func secondsTime(s uint64) (time.Time, bool) {
	if s > maxUnixMilli/1000 {
		return time.Time{}, false
	}
	return time.Unix(int64(s), 0).UTC(), true
}

// milliTime returns a dateTimeMilliseconds value; ok is false beyond 2262.
func milliTime(ms uint64) (time.Time, bool) {
	if ms > maxUnixMilli {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// ntpEpochOffset is the seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffset = 2208988800

// ntpTime decodes the RFC 7011 dateTimeMicroseconds / dateTimeNanoseconds
// encoding: NTP seconds since 1900 and a 32-bit binary fraction. For
// microseconds the fraction's low 11 bits are to be ignored. ok is false
// for a time before 1970.
func ntpTime(b []byte, micro bool) (time.Time, bool) {
	secs := int64(binary.BigEndian.Uint32(b)) - ntpEpochOffset
	if secs < 0 {
		return time.Time{}, false
	}
	frac := uint64(binary.BigEndian.Uint32(b[4:]))
	if micro {
		frac &^= 0x7ff
	}
	ns := int64((frac * 1e9) >> 32)
	return time.Unix(secs, ns).UTC(), true
}

// beforeExport returns the time delta microseconds before the export time
// (flowStartDeltaMicroseconds, flowEndDeltaMicroseconds); ok is false if
// that is before 1970.
func beforeExport(exportNs int64, delta uint64) (time.Time, bool) {
	if delta > uint64(exportNs)/1e3 {
		return time.Time{}, false
	}
	return time.Unix(0, exportNs-int64(delta)*1e3).UTC(), true
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
