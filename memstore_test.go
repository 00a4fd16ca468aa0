package netflow

// MemoryStore: limits, eviction, expiry, persistence and counters. The
// TemplateStore contract itself is checked by templatetest.

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// storeTemplate returns an IPFIX template of id whose layout depends on
// variant.
func storeTemplate(t *testing.T, id uint16, variant int) *Template {
	t.Helper()
	fields := []TemplateField{{ID: 8, Length: 4}, {ID: 12, Length: 4}, {ID: 2, Length: uint16(1 + variant%8)}}
	tmpl, err := NewTemplate(10, id, false, 0, fields)
	require.NoError(t, err)
	return tmpl
}

func storeKey(exporter string, domain uint32, id uint16) TemplateKey {
	return TemplateKey{Exporter: netip.MustParseAddrPort(exporter), Version: 10, Domain: domain, ID: id}
}

const (
	exporterA = "192.0.2.1:2055"
	exporterB = "192.0.2.2:2055"
	exporterC = "192.0.2.3:2055"
)

func TestMemoryStoreDomainLimit(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{MaxTemplatesPerDomain: 2})
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 257), storeTemplate(t, 257, 0)))
	err := s.AddTemplate(storeKey(exporterA, 1, 258), storeTemplate(t, 258, 0))
	require.ErrorIs(t, err, ErrLimit)
	require.True(t, strings.HasPrefix(err.Error(), "netflow: "), err.Error())
	_, err = s.Template(storeKey(exporterA, 1, 258))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Rejected)
	require.Equal(t, uint64(2), st.Learned)
	require.Equal(t, 2, st.Templates)

	// A full domain still takes refreshes and redefinitions of its IDs.
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 257), storeTemplate(t, 257, 5)))
	// Other domains, of the same exporter or not, have their own room.
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 2, 258), storeTemplate(t, 258, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterB, 1, 258), storeTemplate(t, 258, 0)))
	st = s.Stats()
	require.Equal(t, uint64(1), st.Rejected)
	require.Equal(t, 4, st.Templates)
	require.Equal(t, 2, st.Exporters)

	// Through the decoder: the refused template is reported, the others
	// of the same datagram are learned.
	d := NewDecoder(Config{Store: NewMemoryStore(MemoryStoreConfig{MaxTemplatesPerDomain: 2})})
	three := ipfixMessage(1, 0, set(2, append(append(
		templateRecord(256, ipfixBenchFields...),
		templateRecord(257, ipfixBenchFields...)...),
		templateRecord(258, ipfixBenchFields...)...), false))
	p, err := d.Decode(testExporter, three)
	require.ErrorIs(t, err, ErrLimit)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Len(t, packetSets(t, p).Templates, 2)
}

func TestMemoryStoreMaxDomainsPerExporter(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{MaxDomainsPerExporter: 2})
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 2, 256), storeTemplate(t, 256, 0)))
	require.ErrorIs(t, s.AddTemplate(storeKey(exporterA, 3, 256), storeTemplate(t, 256, 0)), ErrLimit)
	// v9 source ID 3 is another domain of the same exporter, too.
	k := storeKey(exporterA, 3, 256)
	k.Version = 9
	require.ErrorIs(t, s.AddTemplate(k, storeTemplate(t, 256, 0)), ErrLimit)
	require.NoError(t, s.AddTemplate(storeKey(exporterB, 3, 256), storeTemplate(t, 256, 0)))
	require.Equal(t, uint64(2), s.Stats().Rejected)
}

func TestMemoryStoreEvictOldest(t *testing.T) {
	clock := newTestClock()
	s := NewMemoryStore(MemoryStoreConfig{MaxTemplatesPerDomain: 2, EvictOldest: true, Now: clock.Now})
	// Another domain's template, older than all the others.
	old := storeKey(exporterA, 2, 300)
	require.NoError(t, s.AddTemplate(old, storeTemplate(t, 300, 0)))
	clock.Advance(time.Second)
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	clock.Advance(time.Second)
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 257), storeTemplate(t, 257, 0)))
	clock.Advance(time.Second)
	// Refreshing 256 makes 257 the least recently refreshed.
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	clock.Advance(time.Second)
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 258), storeTemplate(t, 258, 0)))

	_, err := s.Template(storeKey(exporterA, 1, 257))
	require.ErrorIs(t, err, ErrTemplateNotFound, "the oldest of the domain is evicted")
	for _, k := range []TemplateKey{storeKey(exporterA, 1, 256), storeKey(exporterA, 1, 258), old} {
		_, err := s.Template(k)
		require.NoError(t, err, "%v", k)
	}
	st := s.Stats()
	require.Equal(t, uint64(1), st.Evicted)
	require.Zero(t, st.Rejected)
	require.Equal(t, uint64(4), st.Learned)
	require.Equal(t, uint64(1), st.Refreshed)
	require.Equal(t, 3, st.Templates)
}

func TestMemoryStoreMaxExporters(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{MaxExporters: 2})
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterB, 1, 256), storeTemplate(t, 256, 1)))
	// A looked up (data decoded with its template): confirmed. Of a table
	// of 2, one may be confirmed (2 - max(1, 2/8)).
	got, err := s.Template(storeKey(exporterA, 1, 256))
	require.NoError(t, err)
	require.True(t, got.sameLayout(storeTemplate(t, 256, 0)))
	// A new exporter takes the place of B, on probation; A keeps its
	// templates.
	require.NoError(t, s.AddTemplate(storeKey(exporterC, 1, 256), storeTemplate(t, 256, 2)))
	_, err = s.Template(storeKey(exporterB, 1, 256))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	// The same address on another port is another exporter: it takes C's
	// place.
	require.NoError(t, s.AddTemplate(storeKey("192.0.2.1:2056", 1, 256), storeTemplate(t, 256, 2)))
	st := s.Stats()
	require.Zero(t, st.Rejected)
	require.Equal(t, uint64(2), st.ExportersEvicted)
	require.Equal(t, 2, st.Exporters)
	require.Equal(t, 1, st.Confirmed)
	_, err = s.Template(storeKey(exporterA, 1, 256))
	require.NoError(t, err)
	// Known exporters may add templates and domains.
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 257), storeTemplate(t, 257, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 5, 256), storeTemplate(t, 256, 0)))
	require.Equal(t, 2, s.Stats().Exporters)

	// Once the exporter on the other port has withdrawn everything it is
	// forgotten, and C fits without evicting anything.
	require.NoError(t, s.WithdrawAll(storeKey("192.0.2.1:2056", 1, 0), false))
	require.Equal(t, 1, s.Stats().Exporters)
	require.NoError(t, s.AddTemplate(storeKey(exporterC, 1, 256), storeTemplate(t, 256, 2)))
	st = s.Stats()
	require.Equal(t, 2, st.Exporters)
	require.Equal(t, uint64(2), st.ExportersEvicted)

	// Through the decoder: A and B send template and data in one datagram
	// (that confirms nothing), then A data alone (that confirms A); C's
	// template takes B's place, and every exporter held decodes on.
	d := NewDecoder(Config{Store: NewMemoryStore(MemoryStoreConfig{MaxExporters: 2})})
	for _, e := range []string{exporterA, exporterB} {
		p, err := d.Decode(netip.MustParseAddrPort(e), buildIPFIX(2))
		require.NoError(t, err)
		require.Equal(t, 2, p.FlowCount())
	}
	p, err := d.Decode(netip.MustParseAddrPort(exporterA), buildIPFIXData(3))
	require.NoError(t, err)
	require.Equal(t, 3, p.FlowCount())
	p, err = d.Decode(netip.MustParseAddrPort(exporterC), buildIPFIX(2))
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
	for _, e := range []string{exporterA, exporterC} {
		p, err := d.Decode(netip.MustParseAddrPort(e), buildIPFIXData(3))
		require.NoError(t, err)
		require.Equal(t, 3, p.FlowCount())
	}
	p, err = d.Decode(netip.MustParseAddrPort(exporterB), buildIPFIXData(3))
	require.NoError(t, err)
	require.Equal(t, 1, packetSets(t, p).Pending, "B's data waits for a template")
}

func TestMemoryStoreTTL(t *testing.T) {
	clock := newTestClock()
	s := NewMemoryStore(MemoryStoreConfig{TTL: time.Minute, Now: clock.Now})
	k := storeKey(exporterA, 1, 256)
	require.NoError(t, s.AddTemplate(k, storeTemplate(t, 256, 0)))
	clock.Advance(40 * time.Second)
	require.NoError(t, s.AddTemplate(k, storeTemplate(t, 256, 0))) // refresh
	clock.Advance(40 * time.Second)
	_, err := s.Template(k)
	require.NoError(t, err, "refreshed 40 s ago")
	clock.Advance(21 * time.Second)
	_, err = s.Template(k)
	require.ErrorIs(t, err, ErrTemplateNotFound, "not refreshed for 61 s")
	st := s.Stats()
	require.Equal(t, uint64(1), st.Expired)
	require.Equal(t, uint64(1), st.Refreshed)
	require.Zero(t, st.Templates)
	require.Zero(t, st.Exporters)

	// Expire sweeps every domain.
	require.NoError(t, s.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s.AddTemplate(storeKey(exporterB, 1, 256), storeTemplate(t, 256, 0)))
	clock.Advance(30 * time.Second)
	require.NoError(t, s.AddTemplate(storeKey(exporterB, 1, 257), storeTemplate(t, 257, 0)))
	clock.Advance(31 * time.Second)
	s.Expire()
	st = s.Stats()
	require.Equal(t, uint64(3), st.Expired)
	require.Equal(t, 1, st.Templates)
	require.Equal(t, 1, st.Exporters)

	// Through the decoder: data after the template expired waits for a
	// new one.
	clock = newTestClock()
	d := NewDecoder(Config{Store: NewMemoryStore(MemoryStoreConfig{TTL: time.Minute, Now: clock.Now}), Now: clock.Now})
	_, err = d.Decode(testExporter, buildIPFIXTemplate())
	require.NoError(t, err)
	clock.Advance(2 * time.Minute)
	p, err := d.Decode(testExporter, buildIPFIXData(2))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, 1, packetSets(t, p).Pending)
	p, err = d.Decode(testExporter, buildIPFIXTemplate())
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
}

func TestMemoryStoreSaveLoad(t *testing.T) {
	store1 := NewMemoryStore(MemoryStoreConfig{})
	d1 := NewDecoder(Config{Store: store1})
	other := netip.MustParseAddrPort("[2001:db8::7]:4739")
	for _, m := range []struct {
		exporter netip.AddrPort
		b        []byte
	}{
		{testExporter, buildV9Template()},
		{testExporter, buildIPFIXTemplate()},
		{other, ipfixMessage(5, 0,
			set(2, templateRecord(256, append(append([]tmplField(nil), ipfixBenchFields...), tmplField{100, VariableLength, 9})...), false),
			set(3, ipfixOptionsTemplate(300, 1, tmplField{149, 4, 0}, tmplField{160, 8, 0}), false))},
	} {
		_, err := d1.Decode(m.exporter, m.b)
		require.NoError(t, err)
	}
	// Data decoded with a stored template confirms testExporter (the
	// eviction order, admit.go); other stays on probation.
	_, err := d1.Decode(testExporter, buildV9Data(1))
	require.NoError(t, err)
	require.Equal(t, 1, store1.Stats().Confirmed)
	var saved bytes.Buffer
	require.NoError(t, store1.Save(&saved))
	require.True(t, json.Valid(saved.Bytes()))

	// A restarted collector: a new store loaded from the saved one, a new
	// decoder. Data whose template only the old store had decodes; the
	// confirmed exporter is confirmed again.
	store2 := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, store2.Load(bytes.NewReader(saved.Bytes())))
	require.Equal(t, store1.Stats().Templates, store2.Stats().Templates)
	require.Equal(t, 4, store2.Stats().Templates)
	require.Equal(t, 2, store2.Stats().Exporters)
	require.Equal(t, 1, store2.Stats().Confirmed)
	// Saving the loaded store gives the same templates and state.
	var again bytes.Buffer
	require.NoError(t, store2.Save(&again))
	d2 := NewDecoder(Config{Store: store2})
	p, err := d2.Decode(testExporter, buildV9Data(3))
	require.NoError(t, err)
	checkBuiltFlows(t, p.AppendFlows(nil), 3, 9, testExporter, 2, buildExport)
	p, err = d2.Decode(testExporter, buildIPFIXData(2))
	require.NoError(t, err)
	checkBuiltFlows(t, p.AppendFlows(nil), 2, 10, testExporter, 0, buildExport)
	for _, key := range []TemplateKey{
		{Exporter: other, Version: 10, Domain: 5, ID: 256},
		{Exporter: other, Version: 10, Domain: 5, ID: 300},
	} {
		t1, err := store1.Template(key)
		require.NoError(t, err)
		t2, err := store2.Template(key)
		require.NoError(t, err)
		require.True(t, t1.sameLayout(t2), "%v", key)
		require.Equal(t, t1.MinRecordLen(), t2.MinRecordLen())
	}
	require.Zero(t, d2.Stats().Pending.Held)

	type doc struct {
		Format    string           `json:"format"`
		Templates []map[string]any `json:"templates"`
		States    []map[string]any `json:"states"`
	}
	var a, b doc
	require.NoError(t, json.Unmarshal(saved.Bytes(), &a))
	require.NoError(t, json.Unmarshal(again.Bytes(), &b))
	require.Equal(t, "netflow-state/1", a.Format)
	require.ElementsMatch(t, a.Templates, b.Templates)
	require.ElementsMatch(t, a.States, b.States)
}

func TestMemoryStoreLoadKeepsAge(t *testing.T) {
	clock := newTestClock()
	s1 := NewMemoryStore(MemoryStoreConfig{Now: clock.Now})
	require.NoError(t, s1.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	var saved bytes.Buffer
	require.NoError(t, s1.Save(&saved))

	// Loaded two minutes later into a store with a one-minute TTL: the
	// template's age came along, so it has expired.
	clock.Advance(2 * time.Minute)
	s2 := NewMemoryStore(MemoryStoreConfig{TTL: time.Minute, Now: clock.Now})
	require.NoError(t, s2.Load(bytes.NewReader(saved.Bytes())))
	_, err := s2.Template(storeKey(exporterA, 1, 256))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	require.Equal(t, uint64(1), s2.Stats().Expired)
}

func TestMemoryStoreLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       error
	}{
		{"not JSON", "{", ErrMalformed},
		{"bad exporter", `{"templates":[{"exporter":"nowhere","version":10,"domain":1,"id":256,"fields":[{"ID":8,"PEN":0,"Length":4}]}]}`, ErrMalformed},
		{"no fields", `{"templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"fields":[]}]}`, ErrMalformed},
		{"scope beyond fields", `{"templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"options":true,"scope_count":3,"fields":[{"ID":8,"PEN":0,"Length":4}]}]}`, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewMemoryStore(MemoryStoreConfig{})
			err := s.Load(strings.NewReader(c.json))
			require.ErrorIs(t, err, c.want)
			require.Zero(t, s.Stats().Templates)
		})
	}
	// Load is subject to the store's limits.
	s1 := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, s1.AddTemplate(storeKey(exporterA, 1, 256), storeTemplate(t, 256, 0)))
	require.NoError(t, s1.AddTemplate(storeKey(exporterA, 2, 256), storeTemplate(t, 256, 0)))
	var saved bytes.Buffer
	require.NoError(t, s1.Save(&saved))
	s2 := NewMemoryStore(MemoryStoreConfig{MaxDomainsPerExporter: 1})
	require.ErrorIs(t, s2.Load(&saved), ErrLimit)
	require.Equal(t, 1, s2.Stats().Templates)
}

func TestMemoryStoreCounters(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: s})
	decode := func(sets ...[]byte) *Sets {
		t.Helper()
		p, err := d.Decode(testExporter, ipfixMessage(1, 0, sets...))
		require.NoError(t, err)
		return packetSets(t, p)
	}
	fieldsB := append(append([]tmplField(nil), ipfixBenchFields...), tmplField{58, 2, 0})
	decode(set(2, append(templateRecord(256, ipfixBenchFields...), templateRecord(257, ipfixBenchFields...)...), false),
		set(3, append(ipfixOptionsTemplate(300, 1, tmplField{149, 4, 0}, tmplField{34, 4, 0}),
			ipfixOptionsTemplate(301, 1, tmplField{149, 4, 0}, tmplField{160, 8, 0})...), false))
	require.Equal(t, StoreStats{Templates: 4, Exporters: 1, Learned: 4}, s.Stats())

	decode(set(2, templateRecord(256, ipfixBenchFields...), false)) // the same again
	decode(set(2, templateRecord(257, fieldsB...), false))          // another layout
	st := s.Stats()
	require.Equal(t, uint64(1), st.Refreshed)
	require.Equal(t, uint64(1), st.Replaced)
	require.Equal(t, uint64(4), st.Learned)

	// IPFIX withdrawals: one template, then all options templates.
	sets := decode(set(2, templateRecord(256), false))
	require.Equal(t, []uint16{256}, sets.Withdrawn)
	sets = decode(set(3, templateRecord(3), false)) // all options templates
	require.Equal(t, []uint16{3}, sets.Withdrawn)
	st = s.Stats()
	require.Equal(t, uint64(3), st.Withdrawn)
	require.Equal(t, 1, st.Templates)
	_, err := s.Template(TemplateKey{Exporter: testExporter, Version: 10, Domain: 1, ID: 257})
	require.NoError(t, err, "the data template the withdrawals did not name")

	// Withdrawing what is not there counts nothing.
	decode(set(2, templateRecord(256), false))
	require.Equal(t, uint64(3), s.Stats().Withdrawn)
	// All data templates.
	sets = decode(set(2, templateRecord(2), false))
	require.Equal(t, []uint16{2}, sets.Withdrawn)
	st = s.Stats()
	// The look-up of 257 above confirmed the exporter (admit.go).
	require.Equal(t, StoreStats{Learned: 4, Refreshed: 1, Replaced: 1, Withdrawn: 4, ExportersConfirmed: 1}, st)
}
