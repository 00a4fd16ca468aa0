package netflow

import (
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file holds the low-level writers of the JSON encoding: strings,
// numbers, times, hex, MACs. Each appends to dst and allocates only when dst
// must grow.

// JSONTimeLayout is how the JSON encoding writes times: RFC 3339 in UTC
// with all nine fractional digits, so that values sort and compare as text
// ("2024-01-02T03:04:05.000006000Z").
const JSONTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

const hexDigits = "0123456789abcdef"

// jsonSafe[c] is true for the ASCII bytes a JSON string holds as they are.
// Besides the JSON specials it excludes <, > and &, which encoding/json
// escapes by default, so that json.Marshal of a MarshalJSON result gives
// the same bytes.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes by default: quotes, backslashes and control characters, <, > and
// &, U+2028 and U+2029; invalid UTF-8 is replaced by U+FFFD.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJSONString appends s as a JSON string, escaped exactly as
// encoding/json escapes it by default (so that outputs compare byte for
// byte): quotes, backslashes, control characters, <, >, &, U+2028 and
// U+2029; invalid UTF-8 is replaced by U+FFFD.
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

// decodeRune is utf8.DecodeRune for either kind of byte sequence: the first
// rune of s and its length, or (utf8.RuneError, 1) for an invalid encoding.
// s is not empty.
func decodeRune[S string | []byte](s S) (rune, int) {
	c := s[0]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	// lo and hi bound the second byte (RFC 3629 section 4).
	var n int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0
	case c >= 0xe1 && c <= 0xef:
		n = 3
		if c == 0xed {
			hi = 0x9f
		}
	case c == 0xf0:
		n, lo = 4, 0x90
	case c >= 0xf1 && c <= 0xf3:
		n = 4
	case c == 0xf4:
		n, hi = 4, 0x8f
	default:
		return utf8.RuneError, 1
	}
	if len(s) < n || s[1] < lo || s[1] > hi {
		return utf8.RuneError, 1
	}
	r := rune(c) & (0x7f >> n)
	for i := 1; i < n; i++ {
		if i > 1 && (s[i] < 0x80 || s[i] > 0xbf) {
			return utf8.RuneError, 1
		}
		r = r<<6 | rune(s[i]&0x3f)
	}
	return r, n
}

// appendHexString appends b as a JSON string of lower-case hex digits.
func appendHexString(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return append(dst, '"')
}

// appendMACString appends a MAC address as a JSON string, aa:bb:cc:dd:ee:ff.
func appendMACString(dst []byte, m [6]byte) []byte {
	dst = append(dst, '"')
	for i, c := range m {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return append(dst, '"')
}

// appendAddrString appends an address as a JSON string; the zero Addr is
// the empty string.
func appendAddrString(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	if a.IsValid() {
		dst = a.AppendTo(dst)
	}
	return append(dst, '"')
}

// appendFloat appends f as a JSON number, in the shortest form that reads
// back as the same float of the given bit size; NaN and the infinities,
// which JSON numbers cannot hold, are written as null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// Seconds from the Unix epoch to 0000-01-01 and to 10000-01-01, the range
// of years RFC 3339 can write.
const (
	minRFC3339Unix = -62167219200
	maxRFC3339Unix = 253402300800
)

// appendTimeString appends t as a JSON string in JSONTimeLayout. It writes
// the digits itself, which is several times faster than Time.AppendFormat;
// a time outside the years 0000-9999 goes through AppendFormat.
func appendTimeString(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < minRFC3339Unix || sec >= maxRFC3339Unix {
		dst = append(dst, '"')
		dst = t.UTC().AppendFormat(dst, JSONTimeLayout)
		return append(dst, '"')
	}
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		days--
		rem += 86400
	}
	y, m, d := civilDate(days)
	ns := t.Nanosecond()
	var b [32]byte
	b[0] = '"'
	put4(b[1:], y)
	b[5] = '-'
	put2(b[6:], m)
	b[8] = '-'
	put2(b[9:], d)
	b[11] = 'T'
	put2(b[12:], int(rem/3600))
	b[14] = ':'
	put2(b[15:], int(rem/60%60))
	b[17] = ':'
	put2(b[18:], int(rem%60))
	b[20] = '.'
	for i := 29; i > 20; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	b[30] = 'Z'
	b[31] = '"'
	return append(dst, b[:]...)
}

// civilDate converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, inverted).
func civilDate(days int64) (year, month, day int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100) // [0, 365]
	mp := (5*doy + 2) / 153                  // [0, 11], from March
	day = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		month = int(mp + 3)
	} else {
		month = int(mp - 9)
	}
	if month <= 2 {
		y++
	}
	return int(y), month, day
}

const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

func put2(b []byte, n int) {
	b[0], b[1] = twoDigits[2*n], twoDigits[2*n+1]
}

func put4(b []byte, n int) {
	put2(b, n/100)
	put2(b[2:], n%100)
}

// appendUint is strconv.AppendUint(dst, n, 10), inlined for the small
// numbers flows are full of.
func appendUint(dst []byte, n uint64) []byte {
	if n < 10 {
		return append(dst, byte('0'+n))
	}
	if n < 100 {
		return append(dst, twoDigits[2*n], twoDigits[2*n+1])
	}
	var b [20]byte
	i := len(b)
	for n >= 100 {
		q := n / 100
		r := n - q*100
		i -= 2
		b[i], b[i+1] = twoDigits[2*r], twoDigits[2*r+1]
		n = q
	}
	if n < 10 {
		i--
		b[i] = byte('0' + n)
	} else {
		i -= 2
		b[i], b[i+1] = twoDigits[2*n], twoDigits[2*n+1]
	}
	return append(dst, b[i:]...)
}
