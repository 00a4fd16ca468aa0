package netflow

// Unit tests of the byte readers (wire.go), with values from the RFCs:
// reduced-size encoding (RFC 7011 section 6.2), variable-length fields
// (section 7), the time encodings (section 6.1.7-6.1.10, with the NTP
// timestamp of RFC 5905 section 6), and the delta times of IPFIX IEs
// 158/159.

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBeUintReducedSize: RFC 7011 section 6.2, an unsigned integer may be
// exported in fewer bytes than its type; the value is the same big-endian
// number.
func TestBeUintReducedSize(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want uint64
	}{
		{nil, 0},
		{[]byte{0xab}, 0xab},
		{[]byte{0x01, 0x02}, 0x0102},
		{[]byte{0x01, 0x02, 0x03}, 0x010203},
		{[]byte{0x01, 0x02, 0x03, 0x04}, 0x01020304},
		{[]byte{0x01, 0x02, 0x03, 0x04, 0x05}, 0x0102030405},
		{[]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 0},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<56 - 1},
		{[]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}, 0x0102030405060708},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, math.MaxUint64},
		// Longer than 8 bytes: the last 8.
		{[]byte{0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}, 0x0102030405060708},
	} {
		assert.Equal(t, c.want, beUint(c.b), "% x", c.b)
	}
	// octetDeltaCount (unsigned64) sent in 4 bytes reads as the same count
	// as in 8.
	assert.Equal(t, beUint([]byte{0, 0, 0, 0, 0, 1, 0x86, 0xa0}), beUint([]byte{0, 1, 0x86, 0xa0}))
	assert.Equal(t, uint64(100000), beUint([]byte{0, 1, 0x86, 0xa0}))
}

func TestReadUint(t *testing.T) {
	rec := []byte{0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	assert.Equal(t, uint64(0), readUint(rec, loc{}), "absent")
	assert.Equal(t, uint64(0x01), readUint(rec, loc{off: 1, n: 1}))
	assert.Equal(t, uint64(0x0102), readUint(rec, loc{off: 1, n: 2}))
	assert.Equal(t, uint64(0x01020304), readUint(rec, loc{off: 1, n: 4}))
	assert.Equal(t, uint64(0x0102030405060708), readUint(rec, loc{off: 1, n: 8}))
}

// TestVarLength: RFC 7011 section 7, a variable-length field's length is
// one byte when below 255; otherwise the byte 255 and a two-byte length
// (which may also be below 255: Figures R and S).
func TestVarLength(t *testing.T) {
	for _, c := range []struct {
		name    string
		b       []byte
		n, hdr  int
		wantOK  bool
		comment string
	}{
		{"zero", []byte{0}, 0, 1, true, "an empty value"},
		{"one byte", []byte{5, 'h', 'e', 'l', 'l', 'o'}, 5, 1, true, ""},
		{"254", []byte{254}, 254, 1, true, "the largest one-byte length"},
		{"three bytes 255", []byte{255, 0x00, 0xff}, 255, 3, true, ""},
		{"three bytes 1000", []byte{255, 0x03, 0xe8}, 1000, 3, true, ""},
		{"three bytes max", []byte{255, 0xff, 0xff}, 65535, 3, true, ""},
		{"three bytes below 255", []byte{255, 0x00, 0x10}, 16, 3, true, "allowed: the 3-byte form for a short value"},
		{"empty", nil, 0, 0, false, "no length byte"},
		{"three bytes cut after 255", []byte{255}, 0, 0, false, ""},
		{"three bytes cut inside", []byte{255, 0x01}, 0, 0, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, hdr, ok := varLength(c.b)
			require.Equal(t, c.wantOK, ok, c.comment)
			assert.Equal(t, c.n, n)
			assert.Equal(t, c.hdr, hdr)
		})
	}
}

// TestNTPTime: RFC 7011 sections 6.1.9 and 6.1.10 encode
// dateTimeMicroseconds and dateTimeNanoseconds as an NTP timestamp (RFC
// 5905 section 6): seconds since 1900-01-01 and a 32-bit binary fraction;
// for microseconds the fraction's low 11 bits are to be ignored.
func TestNTPTime(t *testing.T) {
	ntp := func(secs, frac uint32) []byte { return be.AppendUint32(be.AppendUint32(nil, secs), frac) }
	// 2208988800 s separate 1900-01-01 and 1970-01-01 (RFC 868).
	unix0 := ntp(2208988800, 0)
	for _, micro := range []bool{false, true} {
		got, ok := ntpTime(unix0, micro)
		require.True(t, ok)
		assert.Equal(t, time.Unix(0, 0).UTC(), got)
	}
	// 2023-11-14T22:13:20Z and a half second (fraction 2^31).
	half := ntp(2208988800+1_700_000_000, 1<<31)
	got, ok := ntpTime(half, false)
	require.True(t, ok)
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 500_000_000, time.UTC), got)

	// The low 11 bits: 0x7ff / 2^32 s is 476.6 ns, ignored for
	// microseconds, kept (truncated to the ns) for nanoseconds.
	low := ntp(2208988800+1_700_000_000, 1<<31|0x7ff)
	got, ok = ntpTime(low, true)
	require.True(t, ok)
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 500_000_000, time.UTC), got)
	got, ok = ntpTime(low, false)
	require.True(t, ok)
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 500_000_476, time.UTC), got)
	// The smallest microsecond step, 2^11 / 2^32 s = 476.837 ns.
	got, ok = ntpTime(ntp(2208988800, 0x800), true)
	require.True(t, ok)
	assert.Equal(t, 476*time.Nanosecond, got.Sub(time.Unix(0, 0)))

	// Before 1970 cannot be a flow time.
	_, ok = ntpTime(ntp(2208988799, 0xffffffff), false)
	assert.False(t, ok)
	_, ok = ntpTime(ntp(0, 0), true)
	assert.False(t, ok)
	// The end of NTP era 0: 2036-02-07T06:28:15Z.
	got, ok = ntpTime(ntp(math.MaxUint32, 0), false)
	require.True(t, ok)
	assert.Equal(t, time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), got)
}

// TestSecondsAndMilliTimeBounds: RFC 7011 sections 6.1.7 and 6.1.8,
// dateTimeSeconds and dateTimeMilliseconds count from 1970-01-01 in 32 and
// 64 bits. A time.Time with int64 nanoseconds ends on 2262-04-11; beyond
// that the value is not a time.
func TestSecondsAndMilliTimeBounds(t *testing.T) {
	got, ok := secondsTime(1_700_000_000)
	require.True(t, ok)
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC), got)
	got, ok = secondsTime(math.MaxUint32)
	require.True(t, ok)
	assert.Equal(t, time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC), got)

	got, ok = milliTime(1_700_000_000_123)
	require.True(t, ok)
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 123_000_000, time.UTC), got)
	got, ok = milliTime(0)
	require.True(t, ok)
	assert.Equal(t, time.Unix(0, 0).UTC(), got)

	// The last millisecond and second with an int64 nanosecond count:
	// math.MaxInt64 ns is 2262-04-11T23:47:16.854775807Z.
	last := uint64(math.MaxInt64 / 1_000_000)
	got, ok = milliTime(last)
	require.True(t, ok)
	assert.Equal(t, time.Date(2262, 4, 11, 23, 47, 16, 854_000_000, time.UTC), got)
	_, ok = milliTime(last + 1)
	assert.False(t, ok)
	_, ok = milliTime(math.MaxUint64)
	assert.False(t, ok)
	got, ok = secondsTime(last / 1000)
	require.True(t, ok)
	assert.Equal(t, time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC), got)
	_, ok = secondsTime(last/1000 + 1)
	assert.False(t, ok)
	_, ok = secondsTime(math.MaxUint64)
	assert.False(t, ok)
}

// TestBeforeExport: flowStartDeltaMicroseconds and
// flowEndDeltaMicroseconds (IEs 158, 159) are microseconds before the
// message's export time.
func TestBeforeExport(t *testing.T) {
	export := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	ns := export.UnixNano()
	got, ok := beforeExport(ns, 0)
	require.True(t, ok)
	assert.Equal(t, export, got)
	got, ok = beforeExport(ns, 1_500_000)
	require.True(t, ok)
	assert.Equal(t, export.Add(-1500*time.Millisecond), got)
	// Up to the epoch and not beyond.
	got, ok = beforeExport(ns, 1_700_000_000_000_000)
	require.True(t, ok)
	assert.Equal(t, time.Unix(0, 0).UTC(), got)
	_, ok = beforeExport(ns, 1_700_000_000_000_001)
	assert.False(t, ok)
	_, ok = beforeExport(ns, math.MaxUint32)
	require.True(t, ok, "the largest unsigned32 delta, 71.6 minutes")
	_, ok = beforeExport(0, 1)
	assert.False(t, ok)
}

func TestUnixTimeIgnoresBadNanos(t *testing.T) {
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 999_999_999, time.UTC), unixTime(1_700_000_000, 999_999_999))
	assert.Equal(t, time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC), unixTime(1_700_000_000, 1_000_000_000))
	assert.Equal(t, int64(1_700_000_000_999_999_999), exportNanos(1_700_000_000, 999_999_999))
	assert.Equal(t, int64(1_700_000_000_000_000_000), exportNanos(1_700_000_000, 1_000_000_000))
}

// TestAddrOf: sourceIPv4Address is 4 bytes and sourceIPv6Address 16 (RFC
// 7011 section 6.1.14, ipv4Address and ipv6Address).
func TestAddrOf(t *testing.T) {
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), addrOf([]byte{192, 0, 2, 1}))
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), addr4([]byte{192, 0, 2, 1, 99}))
	v6 := netip.MustParseAddr("2001:db8::1")
	assert.Equal(t, v6, addrOf(v6.AsSlice()))
	// A v4-mapped IPv6 address stays 16 bytes: not Unmap'ed.
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	assert.Equal(t, mapped, addrOf(mapped.AsSlice()))
	assert.True(t, addrOf(mapped.AsSlice()).Is6())
}

func TestAllZero(t *testing.T) {
	assert.True(t, allZero(nil))
	assert.True(t, allZero(make([]byte, 7)))
	assert.False(t, allZero([]byte{0, 0, 1}))
}

func TestGrowKeepsElements(t *testing.T) {
	s := make([]int, 2, 3)
	s[0], s[1] = 1, 2
	g := grow(s, 3)
	assert.Equal(t, []int{1, 2, 0}, g)
	assert.Equal(t, &s[0], &g[0], "reused capacity")
	g = grow(g, 10)
	assert.Equal(t, []int{1, 2, 0, 0, 0, 0, 0, 0, 0, 0}, g)
	assert.GreaterOrEqual(t, cap(g), 10)
}

// TestFixedLayoutConstants: appendFixedFlows reads the protocol and ToS at
// constant offsets and the TCP flags at 37 or 40; the layout table must
// agree.
func TestFixedLayoutConstants(t *testing.T) {
	for _, l := range []*fixedLayout{&v1Layout, &v5Layout, &v6Layout, &v7Layout} {
		require.Equal(t, 38, l.proto, "v%d", l.version)
		require.Equal(t, 39, l.tos, "v%d", l.version)
		require.Contains(t, []int{37, 40}, l.tcpFlags, "v%d", l.version)
		require.GreaterOrEqual(t, l.recordLen, 48, "v%d", l.version)
	}
}
