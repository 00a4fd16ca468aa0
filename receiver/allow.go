package receiver

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// prefixSet is an allow-list: every address of its prefixes, as sorted,
// merged ranges per family, so that a look-up is a binary search however
// many prefixes there are. A nil *prefixSet allows everything.
type prefixSet struct {
	v4 []span
	v6 []span
	fn func(netip.Addr) bool // set by SetAllowFunc: it decides alone
}

// span is an inclusive range of addresses, as 128-bit numbers (IPv4 in the
// low 32 bits).
type span struct{ lo, hi u128 }

type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	}
	return cmp.Compare(a.lo, b.lo)
}

// addOne returns a+1 and whether it did not wrap.
func (a u128) addOne() (u128, bool) {
	a.lo++
	if a.lo == 0 {
		a.hi++
		return a, a.hi != 0
	}
	return a, true
}

func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// hostMask has the low n bits set.
func hostMask(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{lo: 1<<n - 1}
	case n == 64:
		return u128{lo: ^uint64(0)}
	case n < 128:
		return u128{hi: 1<<(n-64) - 1, lo: ^uint64(0)}
	}
	return u128{hi: ^uint64(0), lo: ^uint64(0)}
}

// newPrefixSet builds the set of ps; invalid prefixes are left out.
// IPv4-mapped IPv6 prefixes stay IPv6 prefixes: they match no IPv4 source.
func newPrefixSet(ps []netip.Prefix) *prefixSet {
	s := new(prefixSet)
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		lo := u128Of(p.Addr())
		m := hostMask(p.Addr().BitLen() - p.Bits())
		sp := span{lo: lo, hi: u128{hi: lo.hi | m.hi, lo: lo.lo | m.lo}}
		if p.Addr().Is4() {
			s.v4 = append(s.v4, sp)
		} else {
			s.v6 = append(s.v6, sp)
		}
	}
	s.v4, s.v6 = merge(s.v4), merge(s.v6)
	return s
}

// merge sorts spans and joins those that overlap or touch.
func merge(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.lo.cmp(b.lo) })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 {
			last := &out[n-1]
			next, ok := last.hi.addOne()
			if !ok || sp.lo.cmp(next) <= 0 {
				if sp.hi.cmp(last.hi) > 0 {
					last.hi = sp.hi
				}
				continue
			}
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

// contains reports whether a (unmapped) is in the set.
func (s *prefixSet) contains(a netip.Addr) bool {
	if s == nil {
		return true
	}
	if s.fn != nil {
		return s.fn(a)
	}
	spans := s.v6
	if a.Is4() {
		spans = s.v4
	}
	x := u128Of(a)
	// The first span starting above x; the one before it is the only one
	// that may hold x.
	lo, hi := 0, len(spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if spans[m].lo.cmp(x) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && x.cmp(spans[lo-1].hi) <= 0
}

// len is the number of ranges.
func (s *prefixSet) len() int {
	if s == nil {
		return 0
	}
	return len(s.v4) + len(s.v6)
}
