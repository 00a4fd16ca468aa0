package netflow

// Hostile NetFlow v9 datagrams: bad templates, flowsets and records next
// to a valid part (goodV9Tmpl, goodV9Data) that must decode whatever the
// bad part does.

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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

	// A second flood from more exporters than the store keeps: each takes
	// the place of the oldest on probation; the exporter confirmed before
	// (data decoded with its template) keeps its place.
	store2 := NewMemoryStore(MemoryStoreConfig{MaxExporters: 4})
	d2 := NewDecoder(Config{Store: store2})
	_, err = d2.Decode(other, v9Packet(7, 1, goodV9Tmpl))
	require.NoError(t, err)
	_, err = d2.Decode(other, v9Packet(7, 2, goodV9Data))
	require.NoError(t, err)
	refused := 0
	for i := range 20 {
		spoof := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 2055)
		if _, err := d2.Decode(spoof, v9Packet(7, 1, goodV9Tmpl)); errors.Is(err, ErrLimit) {
			refused++
		}
	}
	require.Zero(t, refused)
	require.Equal(t, uint64(20-3), store2.Stats().ExportersEvicted)

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
