package receiver

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// randomPrefix returns a prefix of either family with a length biased to
// the ones allow-lists hold.
func randomPrefix(rng *rand.Rand) netip.Prefix {
	if rng.IntN(2) == 0 {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.IntN(4)) // few distinct values: overlaps and neighbours
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), rng.IntN(33)).Masked()
	}
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	for i := 2; i < 16; i++ {
		b[i] = byte(rng.IntN(3))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), rng.IntN(129)).Masked()
}

func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(2) == 0 {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.IntN(4))
		}
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	for i := 2; i < 16; i++ {
		b[i] = byte(rng.IntN(3))
	}
	return netip.AddrFrom16(b)
}

// The merged-range set answers as netip.Prefix.Contains over the list does.
func TestPrefixSetMatchesContains(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		ps := make([]netip.Prefix, rng.IntN(40))
		for i := range ps {
			ps[i] = randomPrefix(rng)
		}
		s := newPrefixSet(ps)
		for range 200 {
			a := randomAddr(rng)
			want := false
			for _, p := range ps {
				want = want || p.Contains(a)
			}
			if got := s.contains(a); got != want {
				t.Fatalf("round %d: %v in %v: got %v, want %v", round, a, ps, got, want)
			}
		}
	}
}

func TestPrefixSetEdges(t *testing.T) {
	all := newPrefixSet([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")})
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		assert.True(t, all.contains(netip.MustParseAddr(a)), a)
	}
	assert.Equal(t, 2, all.len())
	// Adjacent prefixes merge into one range.
	adj := newPrefixSet([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/25"),
		netip.MustParsePrefix("192.0.2.7/32")})
	assert.Equal(t, 1, adj.len())
	assert.True(t, adj.contains(netip.MustParseAddr("192.0.2.255")))
	assert.False(t, adj.contains(netip.MustParseAddr("192.0.3.0")))
	// A mapped prefix is an IPv6 one; invalid prefixes are left out.
	mapped := newPrefixSet([]netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/128"), {}})
	assert.False(t, mapped.contains(netip.MustParseAddr("127.0.0.1")))
	assert.True(t, mapped.contains(netip.MustParseAddr("::ffff:127.0.0.1")))
	assert.Equal(t, 1, mapped.len())
	// Empty: nothing; nil: everything.
	assert.False(t, newPrefixSet(nil).contains(netip.MustParseAddr("192.0.2.1")))
	var none *prefixSet
	assert.True(t, none.contains(netip.MustParseAddr("192.0.2.1")))
}

// BenchmarkPrefixSetContains looks up addresses in a list of 10,000
// disjoint /32 and /24 prefixes (as netflowd's registered senders may be).
//
//	go test -run '^$' -bench PrefixSet ./receiver/
func BenchmarkPrefixSetContains(b *testing.B) {
	ps := make([]netip.Prefix, 0, 10000)
	for i := range 10000 {
		bits := 32
		if i%2 == 0 {
			bits = 24
		}
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		ps = append(ps, netip.PrefixFrom(a, bits).Masked())
	}
	s := newPrefixSet(ps)
	addrs := make([]netip.Addr, 1024)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(rng.IntN(40)), byte(rng.IntN(256)), 1})
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := range b.N {
		if s.contains(addrs[i%len(addrs)]) {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no address matched")
	}
}
