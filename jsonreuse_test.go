package netflow

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// A record's field that repeats a value of its flow (addresses, packets,
// bytes, interfaces, AS numbers) has its text copied from the flow's:
// AppendJSONWithFields writes the old encoder's bytes whether the values
// are equal (copied) or not (written), with texts of every length, the
// reusable element last or not, and changes at most jsonScratch bytes of
// the spare capacity past what it returns.
func TestFieldsJSONReusesFlowText(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	// Every element of reuseSlotOf, then protocolIdentifier; and the same
	// with the last reusable one last.
	reusable := []tmplField{{8, 4, 0}, {12, 4, 0}, {15, 4, 0}, {2, 4, 0}, {1, 8, 0}, {86, 8, 0}, {85, 4, 0},
		{10, 4, 0}, {14, 4, 0}, {16, 4, 0}, {17, 4, 0}}
	templates := [][]tmplField{
		append(append([]tmplField(nil), reusable...), tmplField{4, 1, 0}),
		reusable,
	}
	// Values of each text length: 0, 9, 999, 1000, ... up to 20 digits.
	num := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return uint64(rng.IntN(1000))
		case 1:
			return rng.Uint64()
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	addr := func() [4]byte {
		var a [4]byte
		for i := range a {
			a[i] = []byte{0, 7, 42, 199, 255}[rng.IntN(5)]
		}
		return a
	}
	copied := 0
	for i := range 3000 {
		fields := templates[i%len(templates)]
		var data []byte
		addrs := make([][4]byte, 3)
		nums := make([]uint64, len(fields)-3)
		for j, f := range fields {
			switch {
			case j < 3:
				addrs[j] = addr()
				data = append(data, addrs[j][:]...)
			case f.id == 4:
				data = append(data, 6)
			default:
				v := num()
				if f.length == 4 {
					v &= 0xffffffff
				}
				nums[j-3] = v
				data = append(data, u64(v, int(f.length))...)
			}
		}
		rec := decodeOneRecord(t, fields, data)
		// The flow: each value the record's, or another, at random.
		f := fullFlow
		f.Known |= FieldSrcAddr | FieldDstAddr | FieldNextHop
		pick := func(v uint64) uint64 {
			if rng.IntN(3) == 0 {
				return num()
			}
			return v
		}
		pickAddr := func(a [4]byte) netip.Addr {
			switch rng.IntN(4) {
			case 0:
				return netip.AddrFrom4(addr())
			case 1:
				return netip.AddrFrom16(netip.AddrFrom4(a).As16()) // the same octets, IPv4-mapped
			}
			return netip.AddrFrom4(a)
		}
		f.SrcAddr, f.DstAddr, f.NextHop = pickAddr(addrs[0]), pickAddr(addrs[1]), pickAddr(addrs[2])
		f.Packets = pick(nums[0])
		f.Bytes = pick(nums[1])
		f.InIf = uint32(pick(nums[4]))
		f.OutIf = uint32(pick(nums[5]))
		f.SrcAS = uint32(pick(nums[6]))
		f.DstAS = uint32(pick(nums[7]))
		if rng.IntN(5) == 0 {
			f.Known &^= FieldPackets | FieldSrcAddr
		}
		requireFieldsJSONLikeLegacy(t, fmt.Sprintf("flow %d", i), &f, rec, 0, 1, 2, 3, 64, 4096)
		if f.Packets == nums[0] && f.Packets >= 1000 && f.Known&FieldPackets != 0 {
			copied++
		}
	}
	if copied < 300 {
		t.Errorf("only %d flows with a packet count to copy", copied)
	}
}

// The fields the encoder may copy from the flow are the fixed-size ones
// it is given for: an IPv4 address for the addresses, 32- or 64-bit
// counters for the numbers, seconds or milliseconds for the start and
// end; and no field of an enterprise's element.
func TestReuseSlotOf(t *testing.T) {
	for _, c := range []struct {
		pen  uint32
		id   uint16
		op   jsonOp
		want uint8
	}{
		{0, 8, opAddr4, uint8(reuseSrcAddr) + 1},
		{0, 8, opAddr16, 0},
		{0, 27, opAddr16, uint8(reuseSrcAddr) + 1},
		{0, 28, opAddr16, uint8(reuseDstAddr) + 1},
		{0, 62, opAddr16, uint8(reuseNextHop) + 1},
		{0, 27, opAddr4, 0},
		{0, 12, opAddr4, uint8(reuseDstAddr) + 1},
		{0, 2, opU64, uint8(reusePackets) + 1},
		{0, 2, opU16, 0},
		{0, 1, opU32, uint8(reuseBytes) + 1},
		{0, 17, opU32, uint8(reuseDstAS) + 1},
		{0, 7, opU32, 0},
		{9, 8, opAddr4, 0},
		{9, 2, opU64, 0},
		{0, 152, opMillis, uint8(reuseStart) + 1},
		{0, 150, opSeconds, uint8(reuseStart) + 1},
		{0, 153, opMillis, uint8(reuseEnd) + 1},
		{0, 151, opSeconds, uint8(reuseEnd) + 1},
		{0, 152, opSeconds, 0},
		{0, 154, opMicros, 0},
		{9, 152, opMillis, 0},
	} {
		if got := reuseSlotOf(c.pen, c.id, c.op); got != c.want {
			t.Errorf("reuseSlotOf(%d, %d, %d) = %d, want %d", c.pen, c.id, c.op, got, c.want)
		}
	}
}

// A record's flowStartSeconds/-Milliseconds and flowEndSeconds/
// -Milliseconds have their text copied from the flow's start and end when
// they are the same time: the old encoder's bytes whether the times are
// equal or not, whole milliseconds or not, before 1970 or past 9999, the
// time field last or not.
func TestFieldsJSONReusesFlowTimes(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	templates := [][]tmplField{
		{{152, 8, 0}, {153, 8, 0}, {150, 4, 0}, {151, 4, 0}, {4, 1, 0}},
		{{150, 4, 0}, {151, 4, 0}, {152, 8, 0}, {153, 8, 0}},
	}
	// A time in milliseconds since 1970, mostly near a base, sometimes
	// anywhere a field can hold.
	ms := func() uint64 {
		switch rng.IntN(5) {
		case 0:
			return rng.Uint64() >> rng.IntN(64)
		case 1:
			return uint64(rng.Int64N(300000000000000)) // to year 11476
		}
		return uint64(jan2024)*1000 + uint64(rng.IntN(86400000))
	}
	copied := 0
	for i := range 4000 {
		fields := templates[i%len(templates)]
		var data []byte
		var startMs, endMs uint64
		for _, f := range fields {
			v := ms()
			switch f.id {
			case 150, 151:
				v = v / 1000 & 0xffffffff
				data = append(data, u64(v, 4)...)
				v *= 1000
			case 152, 153:
				data = append(data, u64(v, 8)...)
			default:
				data = append(data, 17)
				continue
			}
			if f.id == 150 || f.id == 152 {
				startMs = v
			} else {
				endMs = v
			}
		}
		rec := decodeOneRecord(t, fields, data)
		f := fullFlow
		pick := func(v uint64) time.Time {
			switch rng.IntN(4) {
			case 0:
				return time.Unix(int64(jan2024), rng.Int64N(1e9)) // not whole milliseconds
			case 1:
				return time.UnixMilli(int64(ms()))
			case 2:
				return time.Unix(-int64(rng.IntN(1e9)), 0) // before 1970
			}
			return time.UnixMilli(int64(v))
		}
		f.Start, f.End = pick(startMs), pick(endMs)
		requireFieldsJSONLikeLegacy(t, fmt.Sprintf("flow %d", i), &f, rec, 0, 1, 2, 3, 64)
		if f.Start.UnixMilli() == int64(startMs) && f.Start.Nanosecond()%1e6 == 0 && startMs < maxUnixMilli/1000*1000 {
			copied++
		}
	}
	if copied < 700 {
		t.Errorf("only %d flows with a start time to copy", copied)
	}
}

// A record's IPv6 addresses (sourceIPv6Address, destinationIPv6Address,
// ipNextHopIPv6Address) have their text copied from the flow's when they
// are the same address: the old encoder's bytes with texts of every
// length ("::" to 39 characters), IPv4-mapped addresses, zones in the
// flow's address, the address field last or not.
func TestFieldsJSONReusesFlowIPv6(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	templates := [][]tmplField{
		{{27, 16, 0}, {28, 16, 0}, {62, 16, 0}, {4, 1, 0}},
		{{62, 16, 0}, {27, 16, 0}, {28, 16, 0}},
	}
	addr := func() [16]byte {
		var a [16]byte
		if rng.IntN(6) == 0 {
			return netip.AddrFrom4([4]byte{byte(rng.IntN(256)), 0, 2, byte(rng.IntN(256))}).As16() // IPv4-mapped
		}
		for i := range 8 {
			var g uint16
			switch rng.IntN(3) {
			case 0:
				g = uint16(rng.Uint32())
			case 1:
				g = uint16(rng.IntN(16))
			}
			a[2*i], a[2*i+1] = byte(g>>8), byte(g)
		}
		return a
	}
	copied := 0
	for i := range 4000 {
		fields := templates[i%len(templates)]
		var data []byte
		addrs := map[uint16][16]byte{}
		for _, f := range fields {
			if f.length != 16 {
				data = append(data, 6)
				continue
			}
			a := addr()
			addrs[f.id] = a
			data = append(data, a[:]...)
		}
		rec := decodeOneRecord(t, fields, data)
		f := fullFlow
		f.Known |= FieldSrcAddr | FieldDstAddr | FieldNextHop
		pick := func(a [16]byte) netip.Addr {
			switch rng.IntN(5) {
			case 0:
				return netip.AddrFrom16(addr())
			case 1:
				return netip.AddrFrom16(a).WithZone("eth0")
			case 2:
				return netip.AddrFrom16(a).Unmap()
			}
			return netip.AddrFrom16(a)
		}
		f.SrcAddr, f.DstAddr, f.NextHop = pick(addrs[27]), pick(addrs[28]), pick(addrs[62])
		requireFieldsJSONLikeLegacy(t, fmt.Sprintf("flow %d", i), &f, rec, 0, 1, 2, 3, 64)
		if f.SrcAddr == netip.AddrFrom16(addrs[27]) {
			copied++
		}
	}
	if copied < 1000 {
		t.Errorf("only %d flows with a source address to copy", copied)
	}
}

// A field that copies the flow's text right before a last field of a
// short key: the copy's extra bytes do not reach past the two bytes of
// spare capacity the encoder may change.
func TestFieldsJSONReuseBeforeShortLastKey(t *testing.T) {
	for _, c := range []struct {
		fields []tmplField
		data   []byte
		flow   func(*Flow)
	}{
		{[]tmplField{{27, 16, 0}, {192, 1, 0}}, append(netip.MustParseAddr("::1").AsSlice(), 64),
			func(f *Flow) { f.SrcAddr = netip.MustParseAddr("::1") }},
		{[]tmplField{{2, 4, 0}, {192, 1, 0}}, append(u64(1000, 4), 64), func(f *Flow) { f.Packets = 1000 }},
		{[]tmplField{{8, 4, 0}, {192, 1, 0}}, []byte{1, 2, 3, 4, 64},
			func(f *Flow) { f.SrcAddr = netip.MustParseAddr("1.2.3.4") }},
	} {
		rec := decodeOneRecord(t, c.fields, c.data)
		f := fullFlow
		c.flow(&f)
		want := legacyAppendJSONWithFields(&f, nil, rec)
		for _, extra := range []int{0, 1, 2, 64, 4096, 4097, 4099} {
			buf := make([]byte, len(want)+extra+64)
			for j := range buf {
				buf[j] = 0xa5
			}
			got := f.AppendJSONWithFields(buf[:0:len(want)+extra], rec)
			if string(got) != string(want) {
				t.Fatalf("%v:\ngot  %s\nwant %s", c.fields, got, want)
			}
			if extra >= 4096 && &got[0] != &buf[0] {
				t.Fatalf("%v: the encoder grew a buffer of %d spare bytes", c.fields, extra)
			}
			if &got[0] == &buf[0] {
				for j := len(got) + jsonScratch; j < len(buf); j++ {
					if buf[j] != 0xa5 {
						t.Fatalf("%v: byte %d past the end (%d) changed", c.fields, j, len(got))
					}
				}
			}
		}
	}
}

// requireFieldsJSONLikeLegacy checks f.AppendJSONWithFields(rec) against
// the legacy encoder: appended to a short prefix, and in place after one
// byte with extra spare bytes of capacity each, a canary beyond them that
// nothing past jsonScratch bytes of the output may change.
func requireFieldsJSONLikeLegacy(t *testing.T, what string, f *Flow, rec *Record, extras ...int) {
	t.Helper()
	want := legacyAppendJSONWithFields(f, []byte("x"), rec)
	if got := f.AppendJSONWithFields([]byte("x"), rec); string(got) != string(want) {
		t.Fatalf("%s:\ngot  %s\nwant %s", what, got, want)
	}
	for _, extra := range extras {
		requireAppendsInPlace(t, what, want, 1, len(want)+extra, func(dst []byte) []byte { return f.AppendJSONWithFields(dst, rec) })
	}
}
