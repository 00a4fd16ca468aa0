package netflow

import (
	"bytes"
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hostileTimeout bounds every decode of a hostile input: a hang fails.
const hostileTimeout = 2 * time.Second

// requireDecodeError asserts that err matches want and that the first
// *DecodeError in it has the version and offset given.
func requireDecodeError(t *testing.T, err error, want error, version uint16, offset int) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, want)
	var de *DecodeError
	require.True(t, errors.As(err, &de), "no *DecodeError in %v", err)
	// With several problems joined, look for the one of the wanted kind.
	if !errors.Is(de, want) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if errors.As(e, &de) && errors.Is(de, want) {
					break
				}
			}
		}
	}
	require.ErrorIs(t, de, want)
	require.Equal(t, version, de.Version, "version in %v", de)
	require.Equal(t, offset, de.Offset, "offset in %v", de)
	require.NotEmpty(t, de.What)
	require.Contains(t, de.Error(), "netflow: ")
}

// decodeGuarded decodes data with d under the watchdog.
func decodeGuarded(t *testing.T, d *Decoder, data []byte) (p Packet, err error) {
	t.Helper()
	withWatchdog(t, hostileTimeout, func() { p, err = d.Decode(testExporter, data) })
	return p, err
}

func TestHostileFixedFormat(t *testing.T) {
	v5Claim := func(count uint16, records int, extra int) []byte {
		b := buildV5(records)
		be.PutUint16(b[2:], count)
		return append(b, make([]byte, extra)...)
	}
	setCount := func(b []byte, n uint16) []byte { be.PutUint16(b[2:], n); return b }
	cases := []struct {
		name    string
		data    []byte
		want    error
		version uint16
		offset  int
	}{
		{"empty", nil, ErrTruncated, 0, 0},
		{"one byte", []byte{0}, ErrTruncated, 0, 1},
		{"v1 version only", []byte{0, 1}, ErrTruncated, 1, 2},
		{"v1 short header", buildV1(1)[:15], ErrTruncated, 1, 15},
		{"v5 short header", buildV5(1)[:23], ErrTruncated, 5, 23},
		{"v6 short header", buildV6(1)[:12], ErrTruncated, 6, 12},
		{"v7 short header", buildV7(1)[:4], ErrTruncated, 7, 4},
		{"v9 short header", buildV9(1)[:19], ErrTruncated, 9, 19},
		{"ipfix short header", buildIPFIX(1)[:15], ErrTruncated, 10, 15},
		{"v1 count 0", setCount(buildV1(1), 0), ErrEmpty, 1, 2},
		{"v5 count 0", setCount(buildV5(1), 0), ErrEmpty, 5, 2},
		{"v6 count 0", setCount(buildV6(0), 0), ErrEmpty, 6, 2},
		{"v7 count 0", setCount(buildV7(2), 0), ErrEmpty, 7, 2},
		{"v5 65535 records in 24 bytes", v5Claim(65535, 0, 0), ErrTruncated, 5, 24},
		{"v5 3 records in 2.98", v5Claim(3, 2, 47), ErrTruncated, 5, 24 + 2*48},
		{"v1 2 records in 1", setCount(buildV1(1), 2), ErrTruncated, 1, 16 + 48},
		{"v6 5 records in 4", setCount(buildV6(4), 5), ErrTruncated, 6, 24 + 4*52},
		{"v5 records labelled v6", append([]byte{0, 6}, buildV5(2)[2:]...), ErrTruncated, 6, 24 + 52},
		{"v7 2 records in 1", setCount(buildV7(1), 2), ErrTruncated, 7, 24 + 52},
		{"v7 record one byte short", buildV7(1)[:24+51], ErrTruncated, 7, 24},
		{"version 0", []byte{0, 0, 0, 1}, ErrUnsupportedVersion, 0, 0},
		{"version 8", append([]byte{0, 8}, buildV5(1)[2:]...), ErrUnsupportedVersion, 8, 0},
		{"version 11", []byte{0, 11}, ErrUnsupportedVersion, 11, 0},
		{"version 0xffff", []byte{0xff, 0xff, 1, 2, 3}, ErrUnsupportedVersion, 0xffff, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			p, err := decodeGuarded(t, d, c.data)
			requireDecodeError(t, err, c.want, c.version, c.offset)
			require.Nil(t, p, "a header error gives no packet")
			// DecodeInto with a warm buffer must not return stale records.
			var buf Buffer
			_, err = d.DecodeInto(&buf, testExporter, buildV5(30))
			require.NoError(t, err)
			_, err = d.DecodeInto(&buf, testExporter, buildV6(30))
			require.NoError(t, err)
			p, err = d.DecodeInto(&buf, testExporter, c.data)
			require.ErrorIs(t, err, c.want)
			require.Nil(t, p)
		})
	}
}

// TestHostileCountNoAllocation: a 24-byte v5 header claiming 65535 records
// must not allocate for them (a popular decoder allocates 3 MB).
func TestHostileCountNoAllocation(t *testing.T) {
	hostile := buildV5(0)
	be.PutUint16(hostile[2:], 65535)
	honest := buildV5(0)
	be.PutUint16(honest[2:], 1)
	d := NewDecoder(Config{})
	var buf Buffer
	measure := func(data []byte) (allocs float64, bytes uint64) {
		var before, after runtime.MemStats
		const runs = 200
		runtime.GC()
		runtime.ReadMemStats(&before)
		allocs = testing.AllocsPerRun(runs, func() {
			p, err := d.DecodeInto(&buf, testExporter, data)
			if p != nil || !errors.Is(err, ErrTruncated) {
				panic("want nil packet and ErrTruncated")
			}
		})
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / (runs + 1)
	}
	hAllocs, hBytes := measure(hostile)
	oAllocs, oBytes := measure(honest)
	t.Logf("65535-record claim: %.0f allocs, %d B per decode; 1-record claim: %.0f allocs, %d B", hAllocs, hBytes, oAllocs, oBytes)
	// Only the error value itself may allocate, the same for both claims.
	require.LessOrEqual(t, hAllocs, 4.0)
	require.Equal(t, oAllocs, hAllocs)
	require.Less(t, hBytes, uint64(512), "bytes per decode")
	// The reusable buffer did not grow for the claim either.
	require.Zero(t, cap(buf.v5.Records))
}

func TestHostileTrailingBytes(t *testing.T) {
	for _, data := range [][]byte{buildV1(2), buildV5(2), buildV6(2), buildV7(2)} {
		for _, extra := range [][]byte{{0}, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 47), make([]byte, 200)} {
			p, err := Decode(testExporter, append(append([]byte(nil), data...), extra...), nil)
			require.NoError(t, err)
			require.Equal(t, 2, p.FlowCount())
			want, _ := Decode(testExporter, data, nil)
			require.Equal(t, want.AppendFlows(nil), p.AppendFlows(nil))
		}
	}
	// An IPFIX message inside a longer buffer: the bytes after its length
	// are not read.
	msg := buildIPFIX(2)
	p, err := Decode(testExporter, append(append([]byte(nil), msg...), 0xde, 0xad, 0xbe, 0xef, 9), nil)
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
}

// ---------------------------------------------------------------- v9

// goodV9Template defines template 300 (src, dst, proto, bytes) and
// goodV9Data holds two records of it: the valid part of every hostile v9
// datagram, which must decode whatever the bad part does.
var (
	goodFields    = []tmplField{{8, 4, 0}, {12, 4, 0}, {4, 1, 0}, {1, 4, 0}}
	goodV9Tmpl    = set(0, templateRecord(300, goodFields...), false)
	goodV9Data    = set(300, flowRecords(goodFields, 2), true)
	goodIPFIXTmpl = set(2, templateRecord(300, goodFields...), false)
	goodIPFIXData = set(300, flowRecords(goodFields, 2), false)
)

// requireGoodFlows checks that p holds the two records of goodV9Data (or
// goodIPFIXData), in order, among total flows.
func requireGoodFlows(t *testing.T, p Packet, total int) {
	t.Helper()
	require.NotNil(t, p)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, total)
	require.Equal(t, total, p.FlowCount())
	found := 0
	for _, f := range flows {
		tf := testFlowN(found)
		if f.Known.Has(FieldSrcAddr|FieldDstAddr|FieldProto|FieldBytes) && tf.Src == f.SrcAddr &&
			tf.Dst == f.DstAddr && tf.Proto == f.Proto && uint64(tf.Octets) == f.Bytes {
			found++
			if found == 2 {
				return
			}
		}
	}
	t.Fatalf("the valid data set's 2 flows not among %+v", flows)
}

func TestHostileV9(t *testing.T) {
	const hdr = 20
	tl := len(goodV9Tmpl)
	cases := []struct {
		name   string
		data   []byte
		want   error // nil: no error
		offset int
		total  int // flows in all, if not the 2 good ones
	}{
		{
			name:   "zero-field template",
			data:   v9Packet(7, 1, goodV9Tmpl, set(0, templateRecord(301), false), goodV9Data),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
		{
			name:   "zero-field options template",
			data:   v9Packet(7, 1, goodV9Tmpl, set(1, v9OptionsTemplate(301, nil, nil), true), goodV9Data),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
		{
			name: "field count larger than the flowset",
			data: v9Packet(7, 1, goodV9Tmpl, func() []byte {
				r := templateRecord(301, tmplField{8, 4, 0}, tmplField{12, 4, 0})
				be.PutUint16(r[2:], 100)
				return set(0, r, false)
			}(), goodV9Data),
			want:   ErrTruncated,
			offset: hdr + tl + 4 + 4,
		},
		{
			name:   "field count beyond the field limit",
			data:   v9Packet(7, 1, goodV9Tmpl, set(0, templateRecord(301, make([]tmplField, 600)...), false), goodV9Data),
			want:   ErrLimit,
			offset: hdr + tl + 4,
		},
		{
			name:   "options scope length not a multiple of 4",
			data:   v9Packet(7, 1, goodV9Tmpl, set(1, []byte{1, 45, 0, 3, 0, 4, 0, 1, 0, 4, 0, 4, 0, 1}, true), goodV9Data),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
		{
			name: "template ID below 256",
			data: v9Packet(7, 1, goodV9Tmpl,
				set(0, append(templateRecord(255, tmplField{4, 1, 0}), templateRecord(301, tmplField{4, 1, 0})...), false),
				goodV9Data, set(301, []byte{6, 17, 1}, false)),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
			total:  5,
		},
		{
			name:   "flowset length below 4",
			data:   v9Packet(7, 1, goodV9Tmpl, goodV9Data, []byte{1, 0, 0, 3, 9, 9, 9, 9}),
			want:   ErrMalformed,
			offset: hdr + tl + len(goodV9Data),
		},
		{
			name:   "flowset length 0",
			data:   v9Packet(7, 1, goodV9Tmpl, goodV9Data, []byte{1, 0, 0, 0, 9, 9, 9, 9}),
			want:   ErrMalformed,
			offset: hdr + tl + len(goodV9Data),
		},
		{
			name:   "flowset length beyond the datagram",
			data:   v9Packet(7, 1, goodV9Tmpl, goodV9Data, []byte{1, 44, 0, 200, 9, 9, 9, 9}),
			want:   ErrTruncated,
			offset: hdr + tl + len(goodV9Data),
		},
		{
			name:   "three trailing bytes",
			data:   v9Packet(7, 1, goodV9Tmpl, goodV9Data, []byte{1, 2, 3}),
			want:   ErrMalformed,
			offset: hdr + tl + len(goodV9Data),
		},
		{
			name: "data flowset for a template of empty records",
			data: v9Packet(7, 1, goodV9Tmpl,
				set(0, templateRecord(301, tmplField{8, 0, 0}, tmplField{12, 0, 0}), false),
				set(301, bytes.Repeat([]byte{1}, 400), false),
				goodV9Data),
			want:   ErrMalformed,
			offset: hdr + tl + 4 + 12 + 4,
		},
		{
			name: "zero-length field",
			data: v9Packet(7, 1, goodV9Tmpl,
				set(0, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, 0, 0}, tmplField{7, 2, 0}), false),
				set(301, []byte{6, 0, 80, 17, 0, 53}, true),
				goodV9Data),
			total: 4,
		},
		{
			name: "data flowset shorter than one record",
			data: v9Packet(7, 1, goodV9Tmpl, set(300, []byte{1}, false), goodV9Data),
		},
		{
			name: "reserved flowset IDs skipped",
			data: v9Packet(7, 1, goodV9Tmpl, set(2, []byte{1, 2, 3}, false), set(255, []byte{1}, true), goodV9Data),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			p, err := decodeGuarded(t, d, c.data)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				requireDecodeError(t, err, c.want, 9, c.offset)
			}
			requireGoodFlows(t, p, max(c.total, 2))
			for _, ds := range p.(*V9Packet).DataSets {
				for _, r := range ds.Records {
					for v := range r.All() {
						_ = v.String()
						_ = v.Name()
					}
				}
			}
		})
	}
}

func TestHostileV9ZeroLengthFieldValues(t *testing.T) {
	data := v9Packet(7, 1,
		set(0, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, 0, 0}, tmplField{7, 2, 0}), false),
		set(301, []byte{6, 0, 80, 17, 0, 53}, true))
	p, err := decodeGuarded(t, NewDecoder(Config{}), data)
	require.NoError(t, err)
	v9 := p.(*V9Packet)
	require.Len(t, v9.DataSets, 1)
	require.Len(t, v9.DataSets[0].Records, 2)
	r := v9.DataSets[0].Records[1]
	vals := r.AppendValues(nil)
	require.Len(t, vals, 3)
	require.Empty(t, vals[1].Raw)
	require.Equal(t, []byte{17}, vals[0].Raw)
	require.Equal(t, []byte{0, 53}, vals[2].Raw)
	f := p.AppendFlows(nil)[1]
	require.EqualValues(t, 17, f.Proto)
	require.EqualValues(t, 53, f.SrcPort)
}

// TestHostileV9OneByteRecords: a template of one 1-byte field and a data
// flowset of the largest length: 65531 records, decoded promptly.
func TestHostileV9OneByteRecords(t *testing.T) {
	body := bytes.Repeat([]byte{6}, 0xffff-4)
	data := v9Packet(7, 1, set(0, templateRecord(301, tmplField{4, 1, 0}), false), set(301, body, false))
	var p Packet
	var err error
	start := time.Now()
	withWatchdog(t, hostileTimeout, func() {
		p, err = NewDecoder(Config{}).Decode(testExporter, data)
	})
	require.NoError(t, err)
	require.Equal(t, len(body), p.FlowCount())
	flows := p.AppendFlows(nil)
	require.Len(t, flows, len(body))
	require.EqualValues(t, 6, flows[len(flows)-1].Proto)
	t.Logf("%d one-byte records in %v", len(flows), time.Since(start))
}

func TestHostileV9TemplateRedefined(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: store})
	_, err := d.Decode(testExporter, v9Packet(7, 1, goodV9Tmpl, goodV9Data))
	require.NoError(t, err)
	// The same ID again with the same layout: a refresh.
	_, err = d.Decode(testExporter, v9Packet(7, 2, goodV9Tmpl))
	require.NoError(t, err)
	// Template 300 redefined: ports only. Data after it uses the new layout.
	ports := []tmplField{{7, 2, 0}, {11, 2, 0}}
	p, err := d.Decode(testExporter, v9Packet(7, 3,
		set(0, templateRecord(300, ports...), false),
		set(300, []byte{0x1f, 0x90, 0x01, 0xbb}, true)))
	require.NoError(t, err)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, 1)
	require.EqualValues(t, 8080, flows[0].SrcPort)
	require.EqualValues(t, 443, flows[0].DstPort)
	require.False(t, flows[0].Known.Has(FieldSrcAddr))
	st := store.Stats()
	require.EqualValues(t, 1, st.Learned)
	require.EqualValues(t, 1, st.Refreshed)
	require.EqualValues(t, 1, st.Replaced)
	require.Equal(t, 1, st.Templates)
	tm, err := store.Template(TemplateKey{Exporter: testExporter, Version: 9, Domain: 7, ID: 300})
	require.NoError(t, err)
	require.Equal(t, []TemplateField{{ID: 7, Length: 2}, {ID: 11, Length: 2}}, tm.Fields)
}

// TestHostileV9TemplateFlood: one exporter defining more template IDs than
// the store keeps per domain gets ErrLimit; its first templates and other
// exporters are unaffected.
func TestHostileV9TemplateFlood(t *testing.T) {
	const limit = 1024 // MemoryStoreConfig default
	store := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: store})
	other := netip.MustParseAddrPort("198.51.100.9:9995")
	_, err := d.Decode(other, v9Packet(7, 1, goodV9Tmpl))
	require.NoError(t, err)

	var recs []byte
	for id := 256; id < 256+limit+200; id++ {
		recs = append(recs, templateRecord(uint16(id), tmplField{4, 1, 0})...)
	}
	flood := v9Packet(7, 1, set(0, recs, false))
	var p Packet
	withWatchdog(t, hostileTimeout, func() { p, err = d.Decode(testExporter, flood) })
	require.ErrorIs(t, err, ErrLimit)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.EqualValues(t, 9, de.Version)
	// The first refused template is the one after the limit.
	require.Equal(t, hdr9+4+limit*8, de.Offset)
	require.Len(t, p.(*V9Packet).Templates, limit)
	st := store.Stats()
	require.EqualValues(t, 200, st.Rejected)
	require.Equal(t, limit+1, st.Templates)

	// A second flood from more exporters than the store keeps: refused.
	store2 := NewMemoryStore(MemoryStoreConfig{MaxExporters: 4})
	d2 := NewDecoder(Config{Store: store2})
	_, err = d2.Decode(other, v9Packet(7, 1, goodV9Tmpl))
	require.NoError(t, err)
	refused := 0
	for i := range 20 {
		spoof := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 2055)
		if _, err := d2.Decode(spoof, v9Packet(7, 1, goodV9Tmpl)); errors.Is(err, ErrLimit) {
			refused++
		}
	}
	require.Equal(t, 20-3, refused)

	// The flooded exporter's templates and the other exporters' still work.
	for _, dd := range []*Decoder{d, d2} {
		p, err = dd.Decode(other, v9Packet(7, 2, goodV9Data))
		require.NoError(t, err)
		requireGoodFlows(t, p, 2)
	}
	p, err = d.Decode(testExporter, v9Packet(7, 2, set(256, []byte{17, 6}, false)))
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
}

const hdr9 = 20

// ---------------------------------------------------------------- IPFIX

func TestHostileIPFIX(t *testing.T) {
	const hdr = 16
	tl := len(goodIPFIXTmpl)
	varTmpl := set(2, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, VariableLength, 0}), false)
	vl := len(varTmpl)
	setLen := func(b []byte, n int) []byte { be.PutUint16(b[2:], uint16(n)); return b }
	cases := []struct {
		name   string
		data   []byte
		want   error
		offset int
		total  int
	}{
		{
			name:   "variable-length field runs past the set",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, varTmpl, set(301, []byte{6, 200, 'e', 't', 'h'}, false), goodIPFIXData),
			want:   ErrTruncated,
			offset: hdr + tl + vl + 4,
		},
		{
			name: "3-byte length runs past the set",
			data: ipfixMessage(1, 0, goodIPFIXTmpl, varTmpl,
				set(301, []byte{6, 3, 'e', 't', 'h', 17, 255, 1, 0, 'x'}, false), goodIPFIXData),
			want:   ErrTruncated,
			offset: hdr + tl + vl + 4 + 5,
			total:  3,
		},
		{
			name:   "message length below 16",
			data:   setLen(ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData), 15),
			want:   ErrMalformed,
			offset: 2,
		},
		{
			name:   "message length 0",
			data:   setLen(ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData), 0),
			want:   ErrMalformed,
			offset: 2,
		},
		{
			name: "message length beyond the buffer",
			data: func() []byte {
				m := ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData)
				return setLen(m, len(m)+1)
			}(),
			want:   ErrTruncated,
			offset: 2,
		},
		{
			name:   "set length beyond the message",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData, []byte{1, 44, 0, 100, 1, 2, 3, 4}),
			want:   ErrTruncated,
			offset: hdr + tl + len(goodIPFIXData),
		},
		{
			name: "enterprise field cut short",
			data: ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData,
				set(2, []byte{1, 45, 0, 1, 0x80, 1, 0, 4, 0, 0}, false)),
			want:   ErrTruncated,
			offset: hdr + tl + len(goodIPFIXData) + 4 + 4,
		},
		{
			name:   "withdrawal of a reserved ID",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, set(2, []byte{0, 100, 0, 0}, false), goodIPFIXData),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
		{
			name:   "options template with scope count above field count",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, set(3, ipfixOptionsTemplate(301, 3, tmplField{149, 4, 0}), false), goodIPFIXData),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := decodeGuarded(t, NewDecoder(Config{}), c.data)
			requireDecodeError(t, err, c.want, 10, c.offset)
			if c.offset == 2 {
				require.Nil(t, p, "a header error gives no packet")
				return
			}
			requireGoodFlows(t, p, max(c.total, 2))
		})
	}
}

// TestIPFIXThreeByteLengthBelow255: RFC 7011 section 7 lets an exporter use
// the 3-byte length form for lengths below 255. Accepted.
func TestIPFIXThreeByteLengthBelow255(t *testing.T) {
	tmpl := set(2, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, VariableLength, 0}, tmplField{7, 2, 0}), false)
	data := ipfixMessage(1, 0, tmpl, set(301, []byte{
		6, 255, 0, 4, 'e', 't', 'h', '0', 0x1f, 0x90, // 3-byte form, length 4
		17, 3, 'l', 'o', '0', 0, 53, // 1-byte form
		1, 255, 0, 0, 0, 7, // 3-byte form, length 0
	}, false))
	p, err := decodeGuarded(t, NewDecoder(Config{}), data)
	require.NoError(t, err)
	v10 := p.(*IPFIXPacket)
	require.Len(t, v10.DataSets, 1)
	recs := v10.DataSets[0].Records
	require.Len(t, recs, 3)
	names := []string{"eth0", "lo0", ""}
	ports := []uint16{8080, 53, 7}
	for i, r := range recs {
		v, ok := r.Lookup(82)
		require.True(t, ok)
		require.Equal(t, names[i], v.Text())
		require.Equal(t, "interfaceName", v.Name())
	}
	for i, f := range p.AppendFlows(nil) {
		require.Equal(t, ports[i], f.SrcPort)
	}
}

// goflow2Hang is the 32-byte message that makes a popular Go decoder loop
// forever: a template set withdrawing templates 0x3030 and 256 (field
// count 0), then a set for template 256.
const goflow2Hang = "\x00\n00000000000000\x00\x02\x00\f00\x00\x00\x01\x00\x00\x00\x01\x0000"

func TestIPFIXWithdrawalHang(t *testing.T) {
	data := []byte(goflow2Hang)
	require.Len(t, data, 32)
	// As is: its message length (0x3030) is beyond the 32 bytes.
	p, err := decodeGuarded(t, NewDecoder(Config{}), data)
	requireDecodeError(t, err, ErrTruncated, 10, 2)
	require.Nil(t, p)

	// With its length set to 32 the sets are walked: two withdrawals, then
	// a set whose length runs past the message.
	fixed := append([]byte(nil), data...)
	be.PutUint16(fixed[2:], 32)
	p, err = decodeGuarded(t, NewDecoder(Config{}), fixed)
	requireDecodeError(t, err, ErrTruncated, 10, 28)
	require.Equal(t, []uint16{0x3030, 256}, p.(*IPFIXPacket).Withdrawn)

	// Withdrawal followed by data for that ID in the same message, and in
	// the next one: no hang, the data waits for a template.
	d := NewDecoder(Config{})
	_, err = d.Decode(testExporter, ipfixMessage(1, 0, goodIPFIXTmpl))
	require.NoError(t, err)
	msg := ipfixMessage(1, 1, set(2, []byte{1, 44, 0, 0}, false), goodIPFIXData)
	p, err = decodeGuarded(t, d, msg)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, 1, p.(*IPFIXPacket).Pending)
	p, err = decodeGuarded(t, d, ipfixMessage(1, 2, goodIPFIXData))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	// Without pending data the set is an error.
	d = NewDecoder(Config{DisablePending: true})
	_, err = d.Decode(testExporter, ipfixMessage(1, 0, goodIPFIXTmpl))
	require.NoError(t, err)
	p, err = decodeGuarded(t, d, msg)
	requireDecodeError(t, err, ErrTemplateNotFound, 10, 16+8+4)
	require.Zero(t, p.FlowCount())
	// Many withdrawals in one set: each one advances.
	many := bytes.Repeat([]byte{1, 44, 0, 0}, 16000)
	_, err = decodeGuarded(t, d, ipfixMessage(1, 3, set(2, many, false)))
	require.NoError(t, err)
}

// TestIPFIXWithdrawAll: template ID 2 with field count 0 in a template set
// withdraws every data template of the domain, and nothing else.
func TestIPFIXWithdrawAll(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: store})
	other := netip.MustParseAddrPort("198.51.100.9:4739")
	define := ipfixMessage(1, 0,
		set(2, append(templateRecord(256, goodFields...), templateRecord(257, tmplField{7, 2, 0})...), false),
		set(3, ipfixOptionsTemplate(258, 1, tmplField{149, 4, 0}, tmplField{34, 4, 0}), false))
	_, err := d.Decode(testExporter, define)
	require.NoError(t, err)
	_, err = d.Decode(other, define)
	require.NoError(t, err)
	_, err = d.Decode(testExporter, ipfixMessage(2, 0, set(2, templateRecord(256, goodFields...), false)))
	require.NoError(t, err)
	require.Equal(t, 7, store.Stats().Templates)

	p, err := decodeGuarded(t, d, ipfixMessage(1, 1, set(2, []byte{0, 2, 0, 0}, false)))
	require.NoError(t, err)
	require.Equal(t, []uint16{2}, p.(*IPFIXPacket).Withdrawn)

	key := func(e netip.AddrPort, domain uint32, id uint16) TemplateKey {
		return TemplateKey{Exporter: e, Version: 10, Domain: domain, ID: id}
	}
	for _, k := range []TemplateKey{key(testExporter, 1, 256), key(testExporter, 1, 257)} {
		_, err := store.Template(k)
		require.ErrorIs(t, err, ErrTemplateNotFound, "%+v", k)
	}
	for _, k := range []TemplateKey{key(testExporter, 1, 258), key(testExporter, 2, 256), key(other, 1, 256), key(other, 1, 257), key(other, 1, 258)} {
		_, err := store.Template(k)
		require.NoError(t, err, "%+v", k)
	}
	st := store.Stats()
	require.EqualValues(t, 2, st.Withdrawn)
	require.Equal(t, 5, st.Templates)

	// Options template ID 3 in an options template set withdraws the
	// options templates.
	_, err = d.Decode(testExporter, ipfixMessage(1, 2, set(3, []byte{0, 3, 0, 0}, false)))
	require.NoError(t, err)
	_, err = store.Template(key(testExporter, 1, 258))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	_, err = store.Template(key(testExporter, 2, 256))
	require.NoError(t, err)
}

// TestHostileFixtures: real v5 datagrams whose header count (55582, 163)
// is more than their 1464 bytes hold (30 records): rejected, no packet,
// no phantom records.
func TestHostileFixtures(t *testing.T) {
	for _, name := range []string{"netflow5_test_invalid01.dat", "netflow5_test_invalid02.dat"} {
		t.Run(name, func(t *testing.T) {
			data := fixturePayloads(t, "testdata/logstash-codec-netflow/"+name)
			require.Len(t, data, 1)
			require.Len(t, data[0], 1464)
			p, err := decodeGuarded(t, NewDecoder(Config{}), data[0])
			requireDecodeError(t, err, ErrTruncated, 5, 24+30*48)
			require.Nil(t, p)
			flows, err := NewDecoder(Config{}).DecodeFlows(nil, nil, testExporter, data[0])
			require.ErrorIs(t, err, ErrTruncated)
			require.Empty(t, flows)
		})
	}
}
