package netflow

import (
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// A Buffer keeps the template its last data set was decoded with
// (templatecache.go). These tests change the store behind a Buffer's back
// and check that the Buffer's next data sets see the change.

// cacheV9 is a v9 exporter (source ID 1) sending template 256 in one of
// two layouts and data-only datagrams.
type cacheV9 struct{ seq uint32 }

// wideFields is the bench template; narrowFields is another layout for the
// same template ID: addresses and ports only.
var (
	wideFields   = v9BenchFields
	narrowFields = []tmplField{{8, 4, 0}, {12, 4, 0}, {7, 2, 0}, {11, 2, 0}}
)

func (e *cacheV9) template(fields []tmplField) []byte {
	e.seq++
	return v9Packet(1, e.seq, set(0, templateRecord(256, fields...), true))
}

func (e *cacheV9) data(fields []tmplField, n int) []byte {
	e.seq++
	return v9Packet(1, e.seq, set(256, flowRecords(fields, n), true))
}

// decodeThrough decodes data through buf and returns its flows.
func decodeThrough(t *testing.T, d *Decoder, buf *Buffer, data []byte) []Flow {
	t.Helper()
	flows, err := d.DecodeFlows(buf, nil, testExporter, data)
	require.NoError(t, err)
	return flows
}

// requireBuilt checks that flows are the builder's flows 0..n-1, as much as
// fields carry of them.
func requireBuilt(t *testing.T, flows []Flow, n int, wide bool) {
	t.Helper()
	require.Len(t, flows, n)
	for i, f := range flows {
		want := testkit.FlowN(i)
		require.Equal(t, want.Src, f.SrcAddr)
		require.Equal(t, want.Dst, f.DstAddr)
		require.Equal(t, want.SrcPort, f.SrcPort)
		require.Equal(t, want.DstPort, f.DstPort)
		require.Equal(t, wide, f.Known.Has(FieldBytes), "flow %d: bytes known", i)
		if wide {
			require.Equal(t, uint64(want.Octets), f.Bytes)
		}
	}
}

// A template redefined through another Buffer is the one the next data
// set decodes with.
func TestTemplateCacheSeesRedefinition(t *testing.T) {
	d := NewDecoder(Config{})
	var e cacheV9
	var buf Buffer
	decodeThrough(t, d, &buf, e.template(wideFields))
	requireBuilt(t, decodeThrough(t, d, &buf, e.data(wideFields, 3)), 3, true)
	requireBuilt(t, decodeThrough(t, d, &buf, e.data(wideFields, 3)), 3, true)
	_, err := d.Decode(testExporter, e.template(narrowFields)) // a Buffer of its own
	require.NoError(t, err)
	requireBuilt(t, decodeThrough(t, d, &buf, e.data(narrowFields, 5)), 5, false)
}

// A template withdrawn, or forgotten with its exporter, in the store is not
// used again: the next data set waits for its template.
func TestTemplateCacheSeesRemoval(t *testing.T) {
	for name, remove := range map[string]func(*MemoryStore) error{
		"withdraw": func(s *MemoryStore) error {
			return s.WithdrawTemplate(TemplateKey{Exporter: testExporter, Version: 9, Domain: 1, ID: 256})
		},
		"withdraw all": func(s *MemoryStore) error {
			return s.WithdrawAll(TemplateKey{Exporter: testExporter, Version: 9, Domain: 1}, false)
		},
		"forget exporter": func(s *MemoryStore) error { return s.ForgetExporter(testExporter) },
	} {
		t.Run(name, func(t *testing.T) {
			store := NewMemoryStore(MemoryStoreConfig{})
			d := NewDecoder(Config{Store: store})
			var e cacheV9
			var buf Buffer
			decodeThrough(t, d, &buf, e.template(wideFields))
			requireBuilt(t, decodeThrough(t, d, &buf, e.data(wideFields, 2)), 2, true)
			require.NoError(t, remove(store))
			require.Empty(t, decodeThrough(t, d, &buf, e.data(wideFields, 2)))
			require.Equal(t, 1, d.Stats().Pending.Held)
		})
	}
}

// With a TTL, a template's age is looked at on every use: a Buffer that
// decoded with it does not keep it past the TTL.
func TestTemplateCacheKeepsTTL(t *testing.T) {
	clock := newTestClock()
	d := NewDecoder(Config{Store: NewMemoryStore(MemoryStoreConfig{TTL: time.Minute, Now: clock.Now}), Now: clock.Now})
	var e cacheV9
	var buf Buffer
	decodeThrough(t, d, &buf, e.template(wideFields))
	requireBuilt(t, decodeThrough(t, d, &buf, e.data(wideFields, 2)), 2, true)
	clock.Advance(2 * time.Minute)
	require.Empty(t, decodeThrough(t, d, &buf, e.data(wideFields, 2)))
}

// A Buffer used with decoders on two stores takes each store's template.
func TestTemplateCachePerStore(t *testing.T) {
	a, b := NewDecoder(Config{}), NewDecoder(Config{})
	var ea, eb cacheV9
	_, err := a.Decode(testExporter, ea.template(wideFields))
	require.NoError(t, err)
	_, err = b.Decode(testExporter, eb.template(narrowFields))
	require.NoError(t, err)
	var buf Buffer
	requireBuilt(t, decodeThrough(t, a, &buf, ea.data(wideFields, 2)), 2, true)
	requireBuilt(t, decodeThrough(t, b, &buf, eb.data(narrowFields, 4)), 4, false)
	requireBuilt(t, decodeThrough(t, a, &buf, ea.data(wideFields, 2)), 2, true)
}
