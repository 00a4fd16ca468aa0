package netflow

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// The encoder before the fast path of jsonput.go (a loop over flowKeys and
// its getters, and one append per key and value), kept as the oracle that
// holds the fast path to the same bytes.

func legacyAppendJSON(f *Flow, dst []byte) []byte {
	dst = append(dst, `{"exporter":"`...)
	if f.Exporter.IsValid() {
		dst = f.Exporter.AppendTo(dst)
	}
	dst = append(dst, `","version":`...)
	dst = appendUint(dst, uint64(f.Version))
	dst = appendExportProtocol(dst, f)
	for i := range flowKeys {
		k := &flowKeys[i]
		if f.Known&k.field == 0 {
			continue
		}
		dst = append(dst, k.prefix...)
		dst = k.appendValue(dst, f, true)
	}
	return append(dst, '}')
}

func legacyAppendJSONWithFields(f *Flow, dst []byte, rec *Record) []byte {
	dst = legacyAppendJSON(f, dst)
	if rec == nil {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"fields":`...)
	dst = legacyAppendFieldsJSON(rec, dst)
	return append(dst, '}')
}

func legacyAppendFieldsJSON(r *Record, dst []byte) []byte {
	if r.Template == nil {
		return append(dst, "{}"...)
	}
	t := r.Template
	data := r.Data
	off := 0
	dst = append(dst, '{')
	for i, f := range t.Fields {
		n := int(f.Length)
		if f.Length == VariableLength {
			if off >= len(data) {
				break
			}
			if n = int(data[off]); n < 255 {
				off++
			} else {
				if off+3 > len(data) {
					break
				}
				n = int(data[off+1])<<8 | int(data[off+2])
				off += 3
			}
		}
		if off+n > len(data) {
			break
		}
		raw := data[off : off+n : off+n]
		off += n
		if i > 0 {
			dst = append(dst, ',')
		}
		v := Value{Field: f, Info: r.lookup(i, f), Scope: i < t.ScopeCount, Raw: raw}
		dst = appendValueName(dst, &v, repeats(t, i))
		dst = append(dst, ':')
		switch v.Info.Type {
		case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
			dst = r.appendValueJSON(dst, &v, 0)
		default:
			dst = v.legacyAppendJSON(dst)
		}
	}
	return append(dst, '}')
}

// legacyAppendJSON is Value.AppendJSON by way of the typed accessors only.
func (v Value) legacyAppendJSON(dst []byte) []byte {
	switch v.Info.Type {
	case TypeUnsigned8, TypeUnsigned16, TypeUnsigned32, TypeUnsigned64:
		if n, ok := v.Uint(); ok {
			return appendUint(dst, n)
		}
	case TypeIPv4Address, TypeIPv6Address:
		if a, ok := v.Addr(); ok {
			return appendAddrString(dst, a)
		}
	case TypeDateTimeSeconds, TypeDateTimeMilliseconds, TypeDateTimeMicroseconds, TypeDateTimeNanoseconds:
		if t, ok := v.Time(); ok {
			return appendTimeString(dst, t)
		}
		return appendHexString(dst, v.Raw)
	}
	return appendTypedJSON(dst, v.Info.Type, v.Raw)
}

// randomFlow fills every field of a Flow with random values of every kind
// (IPv4, IPv6 with and without zones, IPv4-mapped, the zero address;
// times far before, in and beyond the years 0000-9999) and a random Known.
func randomFlow(rng *rand.Rand) Flow {
	addr := func() netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		switch rng.IntN(8) {
		case 0:
			return netip.Addr{}
		case 1:
			return netip.AddrFrom16(b).WithZone([]string{"eth0", "a-very-long-zone-name-" + string(rune('a'+rng.IntN(26)))}[rng.IntN(2)])
		case 2:
			return netip.AddrFrom16(b)
		case 3:
			return netip.AddrFrom4([4]byte(b[:4])).Unmap()
		case 4:
			return netip.AddrFrom16(netip.AddrFrom4([4]byte(b[:4])).As16())
		}
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	num := func(bits int) uint64 { return rng.Uint64() >> (64 - rng.IntN(bits+1)) }
	tm := func() time.Time {
		switch rng.IntN(6) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(rng.Int64N(1<<62)-1<<61, rng.Int64N(1e9))
		case 2:
			return time.Unix(rng.Int64N(maxRFC3339Unix-minRFC3339Unix)+minRFC3339Unix, rng.Int64N(1e9)).In(time.FixedZone("z", 3600))
		}
		return time.Unix(1700000000+rng.Int64N(1e6), rng.Int64N(1e9)/1e6*1e6)
	}
	var mac = func() (m MAC) {
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		return m
	}
	return Flow{
		Exporter: netip.AddrPortFrom(addr(), uint16(num(16))), Version: uint16(num(16)),
		Domain: uint32(num(32)), Sequence: uint32(num(32)),
		SrcAddr: addr(), DstAddr: addr(), NextHop: addr(), SrcPort: uint16(num(16)), DstPort: uint16(num(16)),
		Proto: uint8(num(8)), ToS: uint8(num(8)), TCPFlags: uint8(num(8)), SrcMask: uint8(num(8)), DstMask: uint8(num(8)),
		Packets: num(64), Bytes: num(64), Start: tm(), End: tm(),
		InIf: uint32(num(32)), OutIf: uint32(num(32)), SrcAS: uint32(num(32)), DstAS: uint32(num(32)),
		SamplingInterval: uint32(num(32)), SrcMAC: mac(), DstMAC: mac(),
		VLAN: uint16(num(16)), PostVLAN: uint16(num(16)), EthType: uint16(num(16)),
		Direction: uint8(num(8)), EndReason: uint8(num(8)), IPVersion: uint8(num(8)),
		ICMPType: uint8(num(8)), ICMPCode: uint8(num(8)), MPLSLabel: uint32(num(32)),
		InVRF: uint32(num(32)), OutVRF: uint32(num(32)), BGPNextHop: addr(),
		PostNATSrcAddr: addr(), PostNATDstAddr: addr(), PostNATSrcPort: uint16(num(16)), PostNATDstPort: uint16(num(16)),
		Agent: addr(), ExportProtocol: ExportProtocol(rng.IntN(3)),
		Known: FlowFields(rng.Uint64()),
	}
}

// TestFlowJSONMatchesTable: AppendJSON writes the bytes of the loop over
// flowKeys for random flows with random Known sets (every key, in the
// table's order), appended to buffers of every spare capacity, and
// touches nothing of dst beyond what it returns.
func TestFlowJSONMatchesTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	all := FlowFields(0)
	for _, k := range flowKeys {
		all |= k.field
	}
	inPlace := 0
	for i := range testkit.SoakSize(10_000, 50_000) {
		f := randomFlow(rng)
		if i%4 == 0 {
			f.Known = all
		}
		want := legacyAppendJSON(&f, []byte("prefix"))
		got := f.AppendJSON([]byte("prefix"))
		if string(got) != string(want) {
			t.Fatalf("flow %d:\ngot  %s\nwant %s", i, got, want)
		}
		// Spare capacity of any size around the room AppendJSON asks
		// for.
		room := flowJSONHead + bits.OnesCount64(uint64(f.Known))*flowJSONKey
		spare := room - 8 + rng.IntN(64)
		if requireAppendsInPlace(t, fmt.Sprintf("flow %d", i), want, 6, 6+spare, f.AppendJSON) {
			inPlace++
		}
	}
	require.Greater(t, inPlace, 200)
}

// requireAppendsInPlace has appendTo append to a buffer that holds
// want[:prefix] and has room for capacity bytes, with canaries (0xa5) in
// the rest of it and in 64 bytes past it. What it returns must be want;
// written in place, it may change at most jsonScratch bytes past its end.
// It reports whether appendTo wrote in place.
func requireAppendsInPlace(t *testing.T, what string, want []byte, prefix, capacity int, appendTo func([]byte) []byte) bool {
	t.Helper()
	buf := make([]byte, capacity+64)
	for j := range buf {
		buf[j] = 0xa5
	}
	copy(buf, want[:prefix])
	got := appendTo(buf[:prefix:capacity])
	if string(got) != string(want) {
		t.Fatalf("%s, in a buffer of capacity %d:\ngot  %s\nwant %s", what, capacity, got, want)
	}
	if &got[0] != &buf[0] {
		return false
	}
	for j := len(got) + jsonScratch; j < len(buf); j++ {
		if buf[j] != 0xa5 {
			t.Fatalf("%s: byte %d past the end (%d) changed", what, j, len(got))
		}
	}
	return true
}

// TestFieldsJSONMatchesLegacy: AppendJSONWithFields and AppendFieldsJSON
// write the bytes of the per-field appends for every record of every
// fixture, and for the typed test values.
func TestFieldsJSONMatchesLegacy(t *testing.T) {
	check := func(where string, f *Flow, rec *Record) {
		t.Helper()
		want := legacyAppendFieldsJSON(rec, []byte("x"))
		got := rec.AppendFieldsJSON([]byte("x"))
		if string(got) != string(want) {
			t.Fatalf("%s:\ngot  %s\nwant %s", where, got, want)
		}
		// In place, in a buffer of exactly the room it needs and more.
		for _, extra := range []int{0, 1, 2, 3, 4, 5, 64, 128, 256, 1024, 4096} {
			requireAppendsInPlace(t, where, want, 1, len(want)+extra, rec.AppendFieldsJSON)
		}
		if f != nil {
			want = legacyAppendJSONWithFields(f, nil, rec)
			got = f.AppendJSONWithFields(nil, rec)
			if string(got) != string(want) {
				t.Fatalf("%s:\ngot  %s\nwant %s", where, got, want)
			}
		}
	}
	records := 0
	for _, file := range fixtureFiles(t) {
		d := NewDecoder(Config{})
		for k, payload := range fixturePayloads(t, file) {
			p, _ := d.Decode(testExporter, payload)
			if p == nil {
				continue
			}
			s := setsOf(p)
			if s == nil {
				continue
			}
			flows := p.AppendFlows(nil)
			fi := 0
			for i := range s.DataSets {
				ds := &s.DataSets[i]
				for j := range ds.Records {
					var f *Flow
					if !ds.Options() && fi < len(flows) {
						f = &flows[fi]
						fi++
					}
					check(filepath.Base(file)+"#"+string(rune('0'+k%10)), f, &ds.Records[j])
					records++
				}
			}
		}
	}
	require.Greater(t, records, 150)
	for _, tv := range typedValues {
		rec := decodeOneRecord(t, []tmplField{tv.field, {4, 1, 0}}, append(append([]byte(nil), tv.raw...), 6))
		check(tv.want, &fullFlow, rec)
	}
	// Records cut short inside a field, a variable-length header or its
	// long form.
	fields := []tmplField{{8, 4, 0}, {82, VariableLength, 0}, {152, 8, 0}, {313, VariableLength, 0}}
	data := append(append(append([]byte{192, 0, 2, 1}, varLen([]byte("eth0"))...), u64(jan2024*1000, 8)...), varLen(make([]byte, 300))...)
	rec := decodeOneRecord(t, fields, data)
	for cut := range len(data) {
		r := *rec
		r.Data = data[:cut]
		check("cut", &fullFlow, &r)
	}
}

// matchLegacyJSON encodes every flow and record of p with the fast path
// and with the old encoder, and reports the first difference.
func matchLegacyJSON(p Packet) error {
	flows := p.AppendFlows(nil)
	s := setsOf(p)
	if s == nil {
		for i := range flows {
			if a, b := flows[i].AppendJSON(nil), legacyAppendJSON(&flows[i], nil); string(a) != string(b) {
				return fmt.Errorf("AppendJSON %s, old encoder %s", a, b)
			}
		}
		return nil
	}
	k := 0
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		for j := range ds.Records {
			rec := &ds.Records[j]
			if a, b := rec.AppendFieldsJSON(nil), legacyAppendFieldsJSON(rec, nil); string(a) != string(b) {
				return fmt.Errorf("AppendFieldsJSON %s, old encoder %s", a, b)
			}
			if !ds.Options() && k < len(flows) {
				if a, b := flows[k].AppendJSONWithFields(nil, rec), legacyAppendJSONWithFields(&flows[k], nil, rec); string(a) != string(b) {
					return fmt.Errorf("AppendJSONWithFields %s, old encoder %s", a, b)
				}
				k++
			}
		}
	}
	return nil
}
