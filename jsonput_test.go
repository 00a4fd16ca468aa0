package netflow

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// TestPutUint: putUint writes what strconv does, around every power of
// ten and for random numbers of every length.
func TestPutUint(t *testing.T) {
	var nums []uint64
	for p := uint64(1); ; p *= 10 {
		nums = append(nums, p-1, p, p+1)
		if p > math.MaxUint64/10 {
			break
		}
	}
	nums = append(nums, math.MaxUint64, math.MaxUint64-1, 1<<32-1, 1<<32, 1<<63)
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200000 {
		nums = append(nums, rng.Uint64()>>rng.IntN(64))
	}
	for i := range uint64(100000) {
		nums = append(nums, i)
	}
	b := make([]byte, 64)
	for _, v := range nums {
		n := putUint(b, 3, v)
		if got, want := string(b[3:n]), strconv.FormatUint(v, 10); got != want {
			t.Fatalf("%d: got %q", v, got)
		}
	}
}

// TestPutTime: putTime writes what Time.AppendFormat does, one date
// cache across random times and runs of times of one day.
func TestPutTime(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	dc := newJSONDate()
	b := make([]byte, 128)
	for i := range 300000 {
		var tm time.Time
		switch i % 4 {
		case 0:
			tm = time.Unix(rng.Int64N(maxRFC3339Unix-minRFC3339Unix)+minRFC3339Unix, rng.Int64N(1e9))
		case 1:
			tm = time.Unix(rng.Int64N(1<<62)-1<<61, rng.Int64N(1e9))
		default:
			tm = time.Unix(1700000000+rng.Int64N(86400), rng.Int64N(1e9))
		}
		n := putTime(b, 0, tm.Unix(), uint32(tm.Nanosecond()), &dc)
		if got, want := string(b[:n]), `"`+tm.UTC().Format(JSONTimeLayout)+`"`; got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
}

// TestPutAddr: putAddr and putAddrPort write what netip does.
func TestPutAddr(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range 100000 {
		var a netip.Addr
		var raw [16]byte
		for j := range raw {
			raw[j] = byte(rng.Uint32() >> (rng.IntN(3) * 8))
		}
		switch i % 4 {
		case 0:
			a = netip.AddrFrom4([4]byte(raw[:4]))
		case 1:
			a = netip.AddrFrom16(raw)
		case 2:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte(raw[:4])).As16())
		case 3:
			a = netip.AddrFrom16(raw).WithZone("zone" + strconv.Itoa(i))
		}
		b := make([]byte, 8)
		b, n := putAddr(jsonRoom(b, 0, 48), 0, a)
		if got, want := string(b[:n]), `"`+a.String()+`"`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		ap := netip.AddrPortFrom(a, uint16(rng.Uint32()))
		b, n = putAddrPort(jsonRoom(b[:0], 0, 64), 0, ap)
		if got, want := string(b[:n]), ap.String(); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

// putIPv6 writes what netip.Addr.AppendTo writes, for addresses with zero
// groups in every pattern (the runs "::" replaces), IPv4-mapped and
// IPv4-compatible ones, and groups of every length.
func TestPutIPv6MatchesNetip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(a [16]byte) {
		t.Helper()
		want := netip.AddrFrom16(a).String()
		b := make([]byte, 100)
		n := putIPv6(b, 3, a)
		if got := string(b[3:n]); got != want {
			t.Fatalf("%x: got %s, want %s", a, got, want)
		}
	}
	for zeros := range 256 {
		for range 20 {
			var a [16]byte
			for i := range 8 {
				if zeros>>i&1 == 0 {
					v := uint16(rng.Uint32()) >> (4 * rng.IntN(4)) // 1 to 4 digits
					if v == 0 {
						v = 1
					}
					a[2*i], a[2*i+1] = byte(v>>8), byte(v)
				}
			}
			check(a)
		}
	}
	for _, s := range []string{"::", "::1", "::ffff:192.0.2.1", "::192.0.2.1", "64:ff9b::192.0.2.1", "2001:db8::",
		"fe80::1:0:0:1", "1:0:0:1:0:0:0:1", "1:0:0:0:1:0:0:1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:0:0"} {
		check(netip.MustParseAddr(s).As16())
	}
}
