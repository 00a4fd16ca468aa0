package netflow

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// This file holds the writers of the JSON encoder's fast path. Unlike the
// append writers of jsonwrite.go, each writes at b[n:] and returns the new
// end: b is the destination's whole capacity (dst[:cap(dst)]) and n the
// length written so far, and the caller has made sure, with jsonRoom,
// that what a writer writes fits. A flow then costs one capacity check per
// key or field instead of one per append, constant keys are stored as
// immediate values, and small values are written with fixed-width stores.
// A fixed-width store may write a few bytes past the value it writes,
// which the next writer overwrites; after the last one, at most
// jsonScratch bytes past the end of what the encoder returns are changed
// (the encoders' doc comments say so).

// jsonScratch is how many bytes of a destination's spare capacity past
// the encoding the writers may change: the last two bytes of an entry of
// smallText or octetText stored for a one-digit number that only '}'
// follows.
const jsonScratch = 2

// jsonRoom returns b with at least room bytes free after n.
func jsonRoom(b []byte, n, room int) []byte {
	if len(b)-n >= room {
		return b
	}
	return jsonGrow(b, n, room)
}

// jsonGrow is the slow path of jsonRoom.
//
//go:noinline
func jsonGrow(b []byte, n, room int) []byte {
	b = slices.Grow(b[:n], room)
	return b[:cap(b)]
}

// putLit writes s. Inlined with a constant s, as the callers use it, it
// compiles to a few stores of immediate values.
func putLit(b []byte, n int, s string) int {
	if len(s) > 16 {
		n += copy(b[n:n+16], s[:16])
		s = s[16:]
	}
	return n + copy(b[n:n+len(s)], s)
}

// putKey writes k, a key of a record's layout, with overlapping
// fixed-width copies rather than a call to memmove when it has 8 to 32
// bytes (the names of elements mostly have).
func putKey(b []byte, n int, k []byte) int {
	l := len(k)
	switch {
	case l >= 16 && l <= 32:
		*(*[16]byte)(b[n:]) = [16]byte(k)
		*(*[16]byte)(b[n+l-16:]) = [16]byte(k[l-16:])
	case l >= 8 && l < 16:
		*(*[8]byte)(b[n:]) = [8]byte(k)
		*(*[8]byte)(b[n+l-8:]) = [8]byte(k[l-8:])
	default:
		copy(b[n:n+l], k)
	}
	return n + l
}

// putUint writes v in decimal. Numbers under 1000, most of a flow's, are
// one load and one store (inlined); the others go to putUintMore.
func putUint(b []byte, n int, v uint64) int {
	if v < 1000 {
		return putSmall(b, n, uint16(v))
	}
	return putUintMore(b, n, v)
}

// putSmall writes v < 1000 (an octet, say) in decimal: one load and one
// store, inlined.
func putSmall(b []byte, n int, v uint16) int {
	t := smallText[v]
	binary.LittleEndian.PutUint32(b[n:], t)
	return n + int(t>>24)
}

// putUint16 writes v in decimal without a call.
func putUint16(b []byte, n int, v uint16) int {
	if v < 1000 {
		t := smallText[v]
		binary.LittleEndian.PutUint32(b[n:], t)
		return n + int(t>>24)
	}
	q := v / 1000
	t := smallText[q]
	binary.LittleEndian.PutUint32(b[n:], t)
	n += int(t >> 24)
	binary.LittleEndian.PutUint32(b[n:], smallText[1000+v-q*1000])
	return n + 3
}

// putUintMore writes v >= 1000 in decimal: numbers under 1e9 in groups
// of three digits from smallText, one load and one store each, in a
// window of 12 bytes (one bounds check).
func putUintMore(b []byte, n int, v uint64) int {
	if v >= 1e9 {
		return putUintLong(b, n, v)
	}
	w := (*[12]byte)(b[n : n+12 : n+12])
	v32 := uint32(v)
	q := v32 / 1e6
	r := v32 - q*1e6
	if q == 0 {
		q = r / 1000
		t := smallText[q]
		binary.LittleEndian.PutUint32(w[:4], t)
		l := int(t>>24) & 3
		binary.LittleEndian.PutUint32(w[l:l+4], smallText[1000+r-q*1000])
		return n + l + 3
	}
	m := r / 1000
	t := smallText[q]
	binary.LittleEndian.PutUint32(w[:4], t)
	l := int(t>>24) & 3
	binary.LittleEndian.PutUint32(w[l:l+4], smallText[1000+m])
	binary.LittleEndian.PutUint32(w[l+3:l+7], smallText[1000+r-m*1000])
	return n + l + 6
}

// smallText[v] for v < 1000 is the decimal text of v in its low bytes
// (first in memory) and its length in the top byte; smallText[1000+v] is
// the three digits of v with leading zeros. A store of a whole entry
// writes one or more bytes past the number, which the caller's next bytes
// overwrite.
var smallText = func() (t [2000]uint32) {
	for v := range 1000 {
		var e [4]byte
		s := appendUint(nil, uint64(v))
		copy(e[:], s)
		e[3] = byte(len(s))
		t[v] = binary.LittleEndian.Uint32(e[:])
		t[1000+v] = binary.LittleEndian.Uint32([]byte{byte('0' + v/100), byte('0' + v/10%10), byte('0' + v%10), 3})
	}
	return t
}()

// putUintLong writes v >= 1e9 in decimal: the digits above the last eight,
// then those eight.
func putUintLong(b []byte, n int, v uint64) int {
	q := v / 1e8
	n = putUint(b, n, q)
	binary.LittleEndian.PutUint64(b[n:], digits8(uint32(v-q*1e8)))
	return n + 8
}

// digits8 returns the eight decimal digits of v < 1e8, leading zeros
// included, as ASCII in the order they are written (the first in the
// lowest byte), with a few multiplications on all of them at once: v is
// split into two halves of four digits, each half into two pairs, each
// pair into two digits.
func digits8(v uint32) uint64 {
	hi, lo := v/10000, v%10000
	x := uint64(hi) | uint64(lo)<<32
	// Halves to pairs: x/100 is x*5243>>19 for x < 43699.
	y := (x * 5243 >> 19) & 0x0000007f0000007f
	x = y | (x-y*100)<<16
	// Pairs to digits: x/10 is x*103>>10 for x < 179.
	y = (x * 103 >> 10) & 0x000f000f000f000f
	x = y | (x-y*10)<<8
	return x + 0x3030303030303030
}

// putIPv4 writes a dotted-quad IPv4 address: the first three octets
// each one load and one store from octetDotText (the octet and its dot),
// the last from smallText. Its last store puts up to three bytes past the
// address, which the caller's next bytes (a quote or a colon and more)
// overwrite.
func putIPv4(b []byte, n int, a [4]byte) int {
	_ = b[n+15]
	t := octetDotText[a[0]]
	binary.LittleEndian.PutUint32(b[n:], uint32(t))
	n += int(t >> 56)
	t = octetDotText[a[1]]
	binary.LittleEndian.PutUint32(b[n:], uint32(t))
	n += int(t >> 56)
	t = octetDotText[a[2]]
	binary.LittleEndian.PutUint32(b[n:], uint32(t))
	n += int(t >> 56)
	u := smallText[a[3]]
	binary.LittleEndian.PutUint32(b[n:], u)
	return n + int(u>>24)
}

// octetDotText[v] is the decimal text of the octet v and a dot in its low
// four bytes (first in memory), and their length in its top byte.
var octetDotText = func() (t [256]uint64) {
	for v := range 256 {
		var e [8]byte
		s := append(appendUint(nil, uint64(v)), '.')
		copy(e[:], s)
		e[7] = byte(len(s))
		t[v] = binary.LittleEndian.Uint64(e[:])
	}
	return t
}()

// putAddrText writes a's text form without quotes, nothing for the zero
// Addr. An IPv6 address goes through netip's writer; a zone makes room
// for itself, so the room the caller made stays.
func putAddrText(b []byte, n int, a netip.Addr) ([]byte, int) {
	if a.Is4() {
		return b, putIPv4(b, n, a.As4())
	}
	if !a.IsValid() {
		return b, n
	}
	if z := a.Zone(); z != "" {
		b = jsonGrow(b, n, len(b)-n+len(z))
		return b, n + len(a.AppendTo(b[n:n]))
	}
	return b, putIPv6(b, n, a.As16())
}

// putIPv6 writes an IPv6 address as netip.Addr.AppendTo does (RFC 5952:
// lowercase hex without leading zeros, the first longest run of two or
// more zero groups as "::", an IPv4-mapped address as ::ffff:a.b.c.d),
// each group worked out in a register and stored at once. It writes up
// to 39 bytes, and up to 4 bytes past them.
func putIPv6(b []byte, n int, a [16]byte) int {
	_ = b[n+44]
	var zeros uint8 // bit i: group i is zero
	for i := range 8 {
		if a[2*i]|a[2*i+1] == 0 {
			zeros |= 1 << i
		}
	}
	if zeros&0x1f == 0x1f && a[10] == 0xff && a[11] == 0xff {
		// IPv4-mapped.
		n = putLit(b, n, "::ffff:")
		return putIPv4(b, n, [4]byte(a[12:]))
	}
	// The first longest run of zero groups, of two or more.
	runStart, runLen := 8, 1
	for i := 0; i < 8; {
		if zeros>>i&1 == 0 {
			i++
			continue
		}
		l := bits.TrailingZeros8(^(zeros >> i))
		if l > runLen {
			runStart, runLen = i, l
		}
		i += l
	}
	for i := 0; i < 8; i++ {
		if i == runStart {
			b[n], b[n+1] = ':', ':'
			n += 2
			i += runLen - 1
			continue
		}
		if i > 0 && i != runStart+runLen {
			b[n] = ':'
			n++
		}
		n = putHex16(b, n, uint16(a[2*i])<<8|uint16(a[2*i+1]))
	}
	return n
}

// putHex16 writes v in lowercase hex without leading zeros (0 is "0"):
// the four digits from hexPairs in one word, of which the significant
// ones are stored.
func putHex16(b []byte, n int, v uint16) int {
	x := uint32(hexPairs[v>>8]) | uint32(hexPairs[v&0xff])<<16
	d := (bits.Len16(v|1) + 3) >> 2 // 0 is one digit
	binary.LittleEndian.PutUint32(b[n:], x>>(32-8*d))
	return n + d
}

// hexPairs[c] is the two lowercase hex digits of c, the first in the low
// byte.
var hexPairs = func() (t [256]uint16) {
	for c := range t {
		t[c] = uint16(hexDigits[c>>4]) | uint16(hexDigits[c&15])<<8
	}
	return t
}()

// putAddr writes a as a JSON string; the zero Addr is "".
func putAddr(b []byte, n int, a netip.Addr) ([]byte, int) {
	if a.Is4() {
		return b, n + winQuotedIPv4((*[24]byte)(b[n:]), a.As4())
	}
	b[n] = '"'
	b, n = putAddrText(b, n+1, a)
	b[n] = '"'
	return b, n + 1
}

// putAddrPort writes ap as AddrPort.AppendTo does ("192.0.2.1:2055",
// "[2001:db8::1]:2055"), nothing for the zero AddrPort.
func putAddrPort(b []byte, n int, ap netip.AddrPort) ([]byte, int) {
	a := ap.Addr()
	switch {
	case a.Is4():
		n = putIPv4(b, n, a.As4())
	case a.IsValid():
		b[n] = '['
		b, n = putAddrText(b, n+1, a)
		b[n] = ']'
		n++
	default:
		return b, n
	}
	b[n] = ':'
	return b, putUint(b, n+1, uint64(ap.Port()))
}

// putMAC writes a MAC address as a JSON string, "aa:bb:cc:dd:ee:ff".
func putMAC(b []byte, n int, m [6]byte) int {
	_ = b[n+18]
	b[n] = '"'
	for i, c := range m {
		j := n + 1 + 3*i
		b[j], b[j+1], b[j+2] = hexDigits[c>>4], hexDigits[c&15], ':'
	}
	b[n+18] = '"'
	return n + 19
}

// jsonState is what one encoding of a flow keeps as it goes: the date of
// its times, and where it wrote the values its record's fields may repeat.
type jsonState struct {
	date  jsonDate
	spans [reuseSlots]textSpan
	// The flow's IPv6 addresses, by the slots of the addresses
	// (reuseSrcAddr, reuseDstAddr, reuseNextHop).
	spans6 [3]textSpan6
}

func newJSONState() jsonState { return jsonState{date: newJSONDate()} }

// textSpan is where a value's text was written, b[at:at+n], and the value
// (an unsigned number, or an IPv4 address as a big-endian number with
// spanIPv4 set); n is 0 when nothing was kept.
type textSpan struct {
	v     uint64
	at, n uint32
}

// textSpan6 is where an IPv6 address's text was written, b[at:at+n]; n
// is 0 when nothing was kept.
type textSpan6 struct {
	a     [16]byte
	at, n uint32
}

// spanIPv4 marks the value of a textSpan as an IPv4 address.
const spanIPv4 = 1 << 40

// reuseSlot names the flow values whose text a record's field may copy
// (jsonField.reuse is the slot plus one): the addresses and the counters
// that are often 1000 or more, and the times. Numbers under 1000 are
// written as fast as they are copied.
type reuseSlot uint8

const (
	reuseSrcAddr reuseSlot = iota
	reuseDstAddr
	reuseNextHop
	reusePackets
	reuseBytes
	reuseInIf
	reuseOutIf
	reuseSrcAS
	reuseDstAS
	reuseStart
	reuseEnd
	reuseSlots
)

// keep remembers that the text of v is b[at:end].
func (st *jsonState) keep(slot reuseSlot, v uint64, at, end int) {
	st.spans[slot] = textSpan{v: v, at: uint32(at), n: uint32(end - at)}
}

// putKeptAddr writes a as putAddr does, and remembers where it wrote
// it, in slot (reuseSrcAddr, reuseDstAddr or reuseNextHop), if a is an
// IPv4 or IPv6 address without a zone (the kinds a field holds).
func (st *jsonState) putKeptAddr(b []byte, n int, slot reuseSlot, a netip.Addr) ([]byte, int) {
	if !a.Is4() {
		b, m := putAddr(b, n, a)
		if a.Is6() && a.Zone() == "" {
			st.spans6[slot] = textSpan6{a: a.As16(), at: uint32(n), n: uint32(m - n)}
		}
		return b, m
	}
	a4 := a.As4()
	m := n + winQuotedIPv4((*[24]byte)(b[n:]), a4)
	st.keep(slot, uint64(binary.BigEndian.Uint32(a4[:]))|spanIPv4, n, m)
	return b, m
}

// reused6 copies the text kept in slot of an IPv6 address (at most 41
// bytes, in quotes) to b[n:] if it is a's, with 16-byte copies that write
// up to 16 bytes past the text, which the caller's next writes overwrite.
// ok is false when no text of a was kept.
func (st *jsonState) reused6(b []byte, n int, slot uint8, a [16]byte) (int, bool) {
	sp := &st.spans6[slot%3]
	if sp.n == 0 || sp.a != a {
		return n, false
	}
	at, l := int(sp.at), int(sp.n)
	*(*[16]byte)(b[n:]) = *(*[16]byte)(b[at:])
	*(*[16]byte)(b[n+16:]) = *(*[16]byte)(b[at+16:])
	if l > 32 {
		*(*[16]byte)(b[n+l-16:]) = *(*[16]byte)(b[at+l-16:])
	}
	return n + l, true
}

// keepTime remembers that the text of the time sec.ns, in quotes, is
// b[at:end], if it is a whole number of milliseconds that a
// dateTimeSeconds or dateTimeMilliseconds field writes as a time (from
// 1970 to Value.Time's limit, maxUnixMilli, rounded down to a second so
// that it holds for both): the value kept is the milliseconds since the
// epoch, which such a field's value is compared with.
func (st *jsonState) keepTime(slot reuseSlot, sec int64, ns uint32, at, end int) {
	if ns%1e6 == 0 && sec >= 0 && sec < maxUnixMilli/1000 {
		st.keep(slot, uint64(sec)*1000+uint64(ns/1e6), at, end)
	}
}

// match returns where the text kept in slot is, b[at:at+l], if it is
// v's; l is 0 when no text of v was kept.
func (st *jsonState) match(slot uint8, v uint64) (at, l int) {
	sp := &st.spans[slot%uint8(reuseSlots)]
	if sp.v != v {
		return 0, 0
	}
	return int(sp.at), int(sp.n)
}

// reused copies the text kept in slot (of a value of at most 32 bytes)
// to b[n:] if it is v's, with two overlapping 16-byte copies; the copies
// write up to 16 bytes past the text, which the caller's next writes
// overwrite. ok is false when no text of v was kept.
func (st *jsonState) reused(b []byte, n int, slot uint8, v uint64) (int, bool) {
	sp := &st.spans[slot]
	if sp.n == 0 || sp.v != v {
		return n, false
	}
	at, l := int(sp.at), int(sp.n)
	*(*[16]byte)(b[n:]) = *(*[16]byte)(b[at:])
	if l > 16 {
		*(*[16]byte)(b[n+l-16:]) = *(*[16]byte)(b[at+l-16:])
	}
	return n + l, true
}

// jsonDate remembers the text of the last day putTime wrote: the times of
// a flow, and of the flows of a datagram, are mostly of one day, and
// working out a date is the dearest part of writing a time.
type jsonDate struct {
	days int64    // days since 1970-01-01 of text; noDay before the first
	text [16]byte // `"YYYY-MM-DDT` and four bytes of padding
}

// noDay is a jsonDate's days before it holds one: no time in the years
// that putTime writes itself has it.
const noDay = -1 << 62

func newJSONDate() jsonDate { return jsonDate{days: noDay} }

// putTime writes a time given as seconds and nanoseconds since the Unix
// epoch as a JSON string in JSONTimeLayout (the UTC time of t.Unix() and
// t.Nanosecond()). ns is in [0, 1e9). It writes 32 bytes at b[n:] with
// a few wide stores: the date (jsonDate), the time of day as one word,
// the fraction in two or three.
func putTime(b []byte, n int, sec int64, ns uint32, dc *jsonDate) int {
	// u counts the seconds from 0000-01-01, unsigned, so that one compare
	// checks the range and the divisions need no sign fix.
	u := uint64(sec - minRFC3339Unix)
	if u >= maxRFC3339Unix-minRFC3339Unix {
		return putTimeFormat(b, n, sec, ns)
	}
	days0 := u / 86400
	rem := uint32(u - days0*86400)
	if days := int64(days0) + minRFC3339Unix/86400; days != dc.days {
		dc.set(days)
	}
	w := (*[32]byte)(b[n:])
	*(*[16]byte)(w[:16]) = dc.text
	h := rem / 3600
	rem -= h * 3600
	m := rem / 60
	s := rem - m*60
	binary.LittleEndian.PutUint64(w[12:20], uint64(twoDigitWords[h&127])|':'<<16|
		uint64(twoDigitWords[m&127])<<24|':'<<40|uint64(twoDigitWords[s&127])<<48)
	// The fraction: the milliseconds from smallText, then the rest, all
	// zeros for a time in milliseconds (the usual case), and `Z"`.
	ms := ns / 1000000
	binary.LittleEndian.PutUint32(w[20:24], '.'|smallText[1000+ms]<<8)
	if rest := ns - ms*1000000; rest == 0 {
		binary.LittleEndian.PutUint64(w[24:32], zerosZQuote)
	} else {
		us := rest / 1000
		binary.LittleEndian.PutUint32(w[24:28], smallText[1000+us])
		binary.LittleEndian.PutUint32(w[27:31], smallText[1000+rest-us*1000])
		w[30], w[31] = 'Z', '"'
	}
	return n + 32
}

// twoDigitWords[v] for v < 100 is the two decimal digits of v as a
// little-endian word (the first digit in the low byte); 128 entries, so
// that an index masked with 127 needs no bounds check.
var twoDigitWords = func() (t [128]uint16) {
	for v := range 100 {
		t[v] = uint16('0'+v/10) | uint16('0'+v%10)<<8
	}
	return t
}()

// dateCache remembers the dates of recent days for every encoder: each
// entry is a day (days since 1970-01-01, 32 bits) and its date (a valid
// bit, the year, month and day in the low 32 bits), in the slot of the
// day's low bits. Flows of one day are the rule, and civilDate costs more
// than a look here.
var dateCache [64]atomic.Uint64

// zerosZQuote is `000000Z"` as a little-endian word.
var zerosZQuote = binary.LittleEndian.Uint64([]byte(`000000Z"`))

// set makes dc hold the date of days since 1970-01-01 (in the years
// 0000-9999).
func (dc *jsonDate) set(days int64) {
	var y, m, d int
	slot := &dateCache[uint64(days)%uint64(len(dateCache))]
	if e := slot.Load(); e>>32 == uint64(uint32(days)) && e&(1<<31) != 0 {
		y, m, d = int(e>>9&0x3fff), int(e>>5&15), int(e&31)
	} else {
		y, m, d = civilDate(days)
		slot.Store(uint64(uint32(days))<<32 | 1<<31 | uint64(y)<<9 | uint64(m)<<5 | uint64(d))
	}
	dc.days = days
	// The digits of YYYYMMDD at once (digits8), placed between the
	// constant bytes of `"YYYY-MM-DDT` with two stores.
	x := digits8(uint32(y*10000 + m*100 + d))
	binary.LittleEndian.PutUint64(dc.text[:8], '"'|(x&0xffffffff)<<8|'-'<<40|(x>>32&0xffff)<<48)
	binary.LittleEndian.PutUint32(dc.text[8:12], '-'|uint32(x>>48)<<8|'T'<<24)
}

// putTimeFormat writes a time outside the years 0000-9999 through
// Time.AppendFormat (it fits in the room of a key: at most 40 bytes).
//
//go:noinline
func putTimeFormat(b []byte, n int, sec int64, ns uint32) int {
	b[n] = '"'
	n += len(time.Unix(sec, int64(ns)).UTC().AppendFormat(b[n+1:n+1], JSONTimeLayout)) + 1
	b[n] = '"'
	return n + 1
}
