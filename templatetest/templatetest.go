// Package templatetest checks implementations of netflow.TemplateStore, as
// testing/fstest checks file systems: an implementation (an in-memory
// cache, a store backed by Redis for collectors behind a load balancer, a
// wrapper that adds metrics) runs TestStore from one of its tests, and the
// kit checks the behaviour the decoder relies on.
//
// TestStore checks that:
//
//   - a missing template is an error matching netflow.ErrTemplateNotFound;
//   - a stored template comes back with the same layout;
//   - the key is the whole key: templates that differ only in exporter
//     address, exporter port, version, domain or template ID do not collide;
//   - AddTemplate replaces the template of its key;
//   - WithdrawTemplate removes one template, and withdrawing a missing one
//     is not an error;
//   - WithdrawAll removes the data (or the options) templates of one
//     exporter, version and domain, and nothing else;
//   - data and options templates share one ID space;
//   - the store is safe for concurrent use (run the tests with -race).
//
// When the store also implements the optional interfaces beside
// netflow.TemplateStore, TestStore checks them too (otherwise their subtests
// are skipped, saying so):
//
//   - netflow.StateStore: a domain without state is ok=false; a state set
//     comes back equal, the store keeps its own copy of the maps (changing
//     the caller's maps afterwards, or the maps returned, changes nothing
//     stored); the domain key is exporter address, port, version and domain,
//     and key.ID is ignored; a second SetExporterState replaces the first;
//     concurrent use is safe.
//   - netflow.Announcer: every subscriber is told the key of each template
//     added or replaced, and the domain's key with ID 0 for each state set,
//     within Options.AnnounceWait (a remote store delivers them
//     asynchronously); nothing else is announced; after cancel returns, the
//     subscriber is not called again, not even by an announcement that was
//     under way (calling another subscriber) when it was cancelled.
//   - netflow.ExporterForgetter: ForgetExporter removes every template (all
//     versions, domains and kinds) and all options state of one exporter
//     address and port, and nothing of other ports or addresses.
//   - netflow.TemplateChecker: a fresh store (reachable) is Confirmed;
//     CheckTemplate of a missing key is an error matching
//     netflow.ErrTemplateNotFound; it returns a stored template's layout,
//     with the time it was stored as since, which a resend of the same
//     layout keeps and a new layout moves to its own time.
//
// The kit uses a handful of templates per domain and a few exporters, well
// within the limits any store should allow.
package templatetest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

// TestStore runs the conformance subtests against stores made by
// newStore, which must return a new, empty store on each call: every
// subtest starts from its own store. It is TestStoreWith with the default
// Options.
func TestStore(t *testing.T, newStore func() netflow.TemplateStore) {
	t.Helper()
	TestStoreWith(t, newStore, Options{})
}

// Options tune TestStoreWith for stores whose announcements arrive
// asynchronously (a remote store delivers them through its server). The
// zero value suits any store.
type Options struct {
	// AnnounceWait bounds how long after AddTemplate or SetExporterState
	// returns the kit waits for its announcement (default 5s). The kit
	// goes on as soon as it arrives, so a generous bound costs nothing.
	AnnounceWait time.Duration
	// Quiet is how long the kit watches for announcements that must not
	// come: to a cancelled subscriber, or of keys nobody changed
	// (default 200ms).
	Quiet time.Duration
}

func (o Options) withDefaults() Options {
	if o.AnnounceWait <= 0 {
		o.AnnounceWait = 5 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 200 * time.Millisecond
	}
	return o
}

// TestStoreWith is TestStore with options.
func TestStoreWith(t *testing.T, newStore func() netflow.TemplateStore, opts Options) {
	t.Helper()
	opts = opts.withDefaults()
	for _, tc := range subtests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore()
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			if tc.needs != nil {
				if missing := tc.needs(s); missing != "" {
					t.Skipf("the store does not implement %s", missing)
				}
			}
			tc.fn(t, s, opts)
		})
	}
}

// subtest is one of TestStore's subtests. fn takes a testing.TB, so that
// the kit's own tests can check that it catches broken stores. needs, if
// set, names the optional interface the store lacks ("" if it has it).
type subtest struct {
	name  string
	needs func(netflow.TemplateStore) string
	fn    func(testing.TB, netflow.TemplateStore, Options)
}

// plain adapts a subtest that needs no options.
func plain(fn func(testing.TB, netflow.TemplateStore)) func(testing.TB, netflow.TemplateStore, Options) {
	return func(t testing.TB, s netflow.TemplateStore, _ Options) { fn(t, s) }
}

// subtests are TestStore's subtests.
var subtests = []subtest{
	{"Missing", nil, plain(testMissing)},
	{"AddGet", nil, plain(testAddGet)},
	{"KeyIsolation", nil, plain(testKeyIsolation)},
	{"Replace", nil, plain(testReplace)},
	{"WithdrawTemplate", nil, plain(testWithdrawTemplate)},
	{"WithdrawAll", nil, plain(testWithdrawAll)},
	{"SharedIDSpace", nil, plain(testSharedIDSpace)},
	{"Concurrent", nil, plain(testConcurrent)},
	{"StateMissing", needsState, plain(testStateMissing)},
	{"StateSetGet", needsState, plain(testStateSetGet)},
	{"StateCopies", needsState, plain(testStateCopies)},
	{"StateKeyIsolation", needsState, plain(testStateKeyIsolation)},
	{"StateConcurrent", needsState, plain(testStateConcurrent)},
	{"AnnounceTemplates", needsAnnouncer, testAnnounceTemplates},
	{"AnnounceState", needsAnnouncerState, testAnnounceState},
	{"AnnounceCancel", needsAnnouncer, testAnnounceCancel},
	{"AnnounceCancelRacing", needsAnnouncer, testAnnounceCancelRacing},
	{"ForgetExporter", needsForgetter, plain(testForgetExporter)},
	{"CheckTemplate", needsChecker, plain(testCheckTemplate)},
}

// baseKey is the key the subtests vary from.
var baseKey = netflow.TemplateKey{
	Exporter: netip.MustParseAddrPort("192.0.2.1:2055"),
	Version:  10,
	Domain:   1,
	ID:       256,
}

// newTemplate returns a template of version, ID and options kind whose
// layout depends on variant, so that templates of different variants can
// be told apart.
func newTemplate(t testing.TB, version, id uint16, options bool, variant int) *netflow.Template {
	t.Helper()
	fields := []netflow.TemplateField{
		{ID: 8, Length: 4},  // source IPv4 address
		{ID: 12, Length: 4}, // destination IPv4 address
		{ID: 2, Length: uint16(1 + variant%8)},
		{ID: 1, Length: 8},
	}
	scope := 0
	if options {
		fields = []netflow.TemplateField{
			{ID: 1, Length: 4}, // v9 scope System; IPFIX octetDeltaCount as scope
			{ID: 34, Length: uint16(1 + variant%4)},
		}
		scope = 1
	}
	if variant >= 8 {
		// More variants: vary the field count too.
		for range variant / 8 {
			fields = append(fields, netflow.TemplateField{ID: 7, Length: 2})
		}
	}
	if version == 10 && variant%2 == 1 && !options {
		fields = append(fields, netflow.TemplateField{ID: 100, PEN: 9, Length: netflow.VariableLength})
	}
	tmpl, err := netflow.NewTemplate(version, id, options, scope, fields)
	if err != nil {
		t.Fatalf("NewTemplate(%d, %d, %v): %v", version, id, options, err)
	}
	return tmpl
}

// sameLayout reports whether two templates describe the same records.
func sameLayout(a, b *netflow.Template) bool {
	return a.ID == b.ID && a.Version == b.Version && a.Options == b.Options &&
		a.ScopeCount == b.ScopeCount && slices.Equal(a.Fields, b.Fields)
}

func describe(tmpl *netflow.Template) string {
	if tmpl == nil {
		return "<nil>"
	}
	return fmt.Sprintf("template %d v%d options=%v scope=%d fields=%v", tmpl.ID, tmpl.Version, tmpl.Options, tmpl.ScopeCount, tmpl.Fields)
}

func add(t testing.TB, s netflow.TemplateStore, key netflow.TemplateKey, tmpl *netflow.Template) {
	t.Helper()
	if err := s.AddTemplate(key, tmpl); err != nil {
		t.Fatalf("AddTemplate(%v): %v", key, err)
	}
}

// wantTemplate checks that key holds a template of want's layout. why, if
// given, says what the check is about.
func wantTemplate(t testing.TB, s netflow.TemplateStore, key netflow.TemplateKey, want *netflow.Template, why ...string) {
	t.Helper()
	ctx := ""
	if len(why) > 0 {
		ctx = " (" + why[0] + ")"
	}
	got, err := s.Template(key)
	if err != nil {
		t.Fatalf("Template(%v): %v, want %s%s", key, err, describe(want), ctx)
	}
	if got == nil {
		t.Fatalf("Template(%v) = nil and no error%s", key, ctx)
	}
	if !sameLayout(got, want) {
		t.Fatalf("Template(%v) = %s, want %s%s", key, describe(got), describe(want), ctx)
	}
}

// wantMissing checks that key holds no template.
func wantMissing(t testing.TB, s netflow.TemplateStore, key netflow.TemplateKey) {
	t.Helper()
	got, err := s.Template(key)
	if !errors.Is(err, netflow.ErrTemplateNotFound) {
		t.Fatalf("Template(%v) = %s, %v; want an error matching ErrTemplateNotFound", key, describe(got), err)
	}
}

func testMissing(t testing.TB, s netflow.TemplateStore) {
	wantMissing(t, s, baseKey)
	add(t, s, baseKey, newTemplate(t, 10, 256, false, 0))
	for _, k := range []netflow.TemplateKey{
		{Exporter: baseKey.Exporter, Version: 10, Domain: 1, ID: 257},
		{Exporter: baseKey.Exporter, Version: 10, Domain: 2, ID: 256},
	} {
		wantMissing(t, s, k)
	}
}

func testAddGet(t testing.TB, s netflow.TemplateStore) {
	v10 := newTemplate(t, 10, 256, false, 1) // with an enterprise, variable-length field
	add(t, s, baseKey, v10)
	wantTemplate(t, s, baseKey, v10)
	// Twice: a read does not consume or change the template.
	wantTemplate(t, s, baseKey, v10)

	opts := newTemplate(t, 10, 300, true, 2)
	k := baseKey
	k.ID = 300
	add(t, s, k, opts)
	wantTemplate(t, s, k, opts)

	v9 := newTemplate(t, 9, 256, false, 3)
	k = baseKey
	k.Version = 9
	add(t, s, k, v9)
	wantTemplate(t, s, k, v9)

	// Template IDs and domains at their extremes.
	k = netflow.TemplateKey{Exporter: netip.MustParseAddrPort("[2001:db8::1]:65535"), Version: 10, Domain: 1<<32 - 1, ID: 65535}
	last := newTemplate(t, 10, 65535, false, 4)
	add(t, s, k, last)
	wantTemplate(t, s, k, last)
}

// keyVariant is a key that differs from baseKey in one part.
type keyVariant struct {
	name string
	key  netflow.TemplateKey
}

func keyVariants() []keyVariant {
	vary := func(name string, mod func(*netflow.TemplateKey)) keyVariant {
		k := baseKey
		mod(&k)
		return keyVariant{name, k}
	}
	return []keyVariant{
		vary("exporter address", func(k *netflow.TemplateKey) {
			k.Exporter = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), k.Exporter.Port())
		}),
		vary("exporter port", func(k *netflow.TemplateKey) {
			k.Exporter = netip.AddrPortFrom(k.Exporter.Addr(), k.Exporter.Port()+1)
		}),
		vary("version", func(k *netflow.TemplateKey) { k.Version = 9 }),
		vary("domain", func(k *netflow.TemplateKey) { k.Domain = 2 }),
		vary("template ID", func(k *netflow.TemplateKey) { k.ID = 257 }),
	}
}

func testKeyIsolation(t testing.TB, s netflow.TemplateStore) {
	base := newTemplate(t, 10, baseKey.ID, false, 0)
	add(t, s, baseKey, base)
	variants := keyVariants()
	stored := make([]*netflow.Template, len(variants))
	for i, v := range variants {
		tmpl := newTemplate(t, v.key.Version, v.key.ID, false, 8*(i+1)+2) // a layout no other key has
		add(t, s, v.key, tmpl)
		stored[i] = tmpl
		wantTemplate(t, s, v.key, tmpl, "the key differs from another in its "+v.name)
		wantTemplate(t, s, baseKey, base, "after adding a template whose key differs only in its "+v.name)
	}
	// All of them, once all are stored.
	for i, v := range variants {
		wantTemplate(t, s, v.key, stored[i], "the key differs from another in its "+v.name)
	}
	// Withdrawing one key part's template leaves the others.
	for i, v := range variants {
		if err := s.WithdrawTemplate(v.key); err != nil {
			t.Fatalf("WithdrawTemplate(%v): %v", v.key, err)
		}
		wantMissing(t, s, v.key)
		wantTemplate(t, s, baseKey, base, "after withdrawing a template whose key differs only in its "+v.name)
		for j := i + 1; j < len(variants); j++ {
			wantTemplate(t, s, variants[j].key, stored[j], "after withdrawing a template whose key differs only in its "+v.name)
		}
	}
}

func testReplace(t testing.TB, s netflow.TemplateStore) {
	first := newTemplate(t, 10, 256, false, 0)
	second := newTemplate(t, 10, 256, false, 9)
	add(t, s, baseKey, first)
	add(t, s, baseKey, second)
	wantTemplate(t, s, baseKey, second)
	// The same layout again (a template refresh) keeps it.
	add(t, s, baseKey, newTemplate(t, 10, 256, false, 9))
	wantTemplate(t, s, baseKey, second)
	// And back.
	add(t, s, baseKey, first)
	wantTemplate(t, s, baseKey, first)
}

func testWithdrawTemplate(t testing.TB, s netflow.TemplateStore) {
	if err := s.WithdrawTemplate(baseKey); err != nil {
		t.Fatalf("WithdrawTemplate of a missing template: %v", err)
	}
	a := newTemplate(t, 10, 256, false, 0)
	b := newTemplate(t, 10, 257, false, 1)
	kb := baseKey
	kb.ID = 257
	add(t, s, baseKey, a)
	add(t, s, kb, b)
	if err := s.WithdrawTemplate(baseKey); err != nil {
		t.Fatalf("WithdrawTemplate: %v", err)
	}
	wantMissing(t, s, baseKey)
	wantTemplate(t, s, kb, b)
	if err := s.WithdrawTemplate(baseKey); err != nil {
		t.Fatalf("WithdrawTemplate twice: %v", err)
	}
	// The ID can be used again.
	add(t, s, baseKey, a)
	wantTemplate(t, s, baseKey, a)
}

func testWithdrawAll(t testing.TB, s netflow.TemplateStore) {
	type entry struct {
		key  netflow.TemplateKey
		tmpl *netflow.Template
	}
	var all []entry
	put := func(k netflow.TemplateKey, options bool, variant int) {
		tmpl := newTemplate(t, k.Version, k.ID, options, variant)
		add(t, s, k, tmpl)
		all = append(all, entry{k, tmpl})
	}
	key := func(mod func(*netflow.TemplateKey), id uint16) netflow.TemplateKey {
		k := baseKey
		if mod != nil {
			mod(&k)
		}
		k.ID = id
		return k
	}
	// The domain under test: data 256, 257; options 258, 259.
	put(key(nil, 256), false, 0)
	put(key(nil, 257), false, 1)
	put(key(nil, 258), true, 2)
	put(key(nil, 259), true, 3)
	// Its neighbours: the same IDs, data and options, under another
	// domain, another version, another exporter port and address.
	for _, mod := range []func(*netflow.TemplateKey){
		func(k *netflow.TemplateKey) { k.Domain = 2 },
		func(k *netflow.TemplateKey) { k.Version = 9 },
		func(k *netflow.TemplateKey) { k.Exporter = netip.AddrPortFrom(k.Exporter.Addr(), k.Exporter.Port()+1) },
		func(k *netflow.TemplateKey) {
			k.Exporter = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), k.Exporter.Port())
		},
	} {
		put(key(mod, 256), false, 4)
		put(key(mod, 258), true, 5)
	}
	inDomain := func(e entry, options bool) bool {
		return e.key.Exporter == baseKey.Exporter && e.key.Version == baseKey.Version &&
			e.key.Domain == baseKey.Domain && e.tmpl.Options == options
	}
	check := func(removedData, removedOptions bool) {
		t.Helper()
		for _, e := range all {
			if removedData && inDomain(e, false) || removedOptions && inDomain(e, true) {
				wantMissing(t, s, e.key)
			} else {
				wantTemplate(t, s, e.key, e.tmpl)
			}
		}
	}
	// key.ID is ignored: pass one that is no template of the domain.
	withdrawKey := key(nil, 4242)
	if err := s.WithdrawAll(withdrawKey, false); err != nil {
		t.Fatalf("WithdrawAll(data): %v", err)
	}
	check(true, false)
	if err := s.WithdrawAll(withdrawKey, true); err != nil {
		t.Fatalf("WithdrawAll(options): %v", err)
	}
	check(true, true)
	// Again, on a domain now empty, and on one never seen.
	if err := s.WithdrawAll(withdrawKey, false); err != nil {
		t.Fatalf("WithdrawAll on an empty domain: %v", err)
	}
	if err := s.WithdrawAll(key(func(k *netflow.TemplateKey) { k.Domain = 77 }, 0), true); err != nil {
		t.Fatalf("WithdrawAll on an unknown domain: %v", err)
	}
	check(true, true)
	// The emptied domain takes templates again.
	put(key(nil, 256), false, 6)
	wantTemplate(t, s, key(nil, 256), all[len(all)-1].tmpl)
}

func testSharedIDSpace(t testing.TB, s netflow.TemplateStore) {
	data := newTemplate(t, 10, 300, false, 0)
	opts := newTemplate(t, 10, 300, true, 1)
	k := baseKey
	k.ID = 300
	add(t, s, k, data)
	// An options template of the same ID replaces the data template.
	add(t, s, k, opts)
	wantTemplate(t, s, k, opts)
	// So withdrawing all data templates leaves it, and withdrawing all
	// options templates removes it.
	if err := s.WithdrawAll(k, false); err != nil {
		t.Fatalf("WithdrawAll(data): %v", err)
	}
	wantTemplate(t, s, k, opts)
	if err := s.WithdrawAll(k, true); err != nil {
		t.Fatalf("WithdrawAll(options): %v", err)
	}
	wantMissing(t, s, k)
	// And the other way round.
	add(t, s, k, opts)
	add(t, s, k, data)
	wantTemplate(t, s, k, data)
	if err := s.WithdrawAll(k, true); err != nil {
		t.Fatalf("WithdrawAll(options): %v", err)
	}
	wantTemplate(t, s, k, data)
}

// testConcurrent has 8 goroutines add, read and withdraw templates of
// overlapping keys. Run it with -race. Every template read must be one
// that was stored under its key.
func testConcurrent(t testing.TB, s netflow.TemplateStore) {
	const (
		workers    = 8
		iterations = 300
		ids        = 4
	)
	exporters := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:2055"),
		netip.MustParseAddrPort("192.0.2.2:2055"),
	}
	// The templates each key may hold: two layouts per key.
	type slot struct {
		key     netflow.TemplateKey
		layouts [2]*netflow.Template
	}
	var slots []slot
	for _, e := range exporters {
		for id := range uint16(ids) {
			k := netflow.TemplateKey{Exporter: e, Version: 10, Domain: 1, ID: 256 + id}
			slots = append(slots, slot{k, [2]*netflow.Template{
				newTemplate(t, 10, k.ID, false, 0),
				newTemplate(t, 10, k.ID, id%2 == 1, 9),
			}})
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				sl := &slots[(w*7+i)%len(slots)]
				switch (w + i) % 5 {
				case 0, 1:
					if err := s.AddTemplate(sl.key, sl.layouts[(w+i)%2]); err != nil {
						t.Errorf("AddTemplate(%v): %v", sl.key, err)
						return
					}
				case 2:
					if err := s.WithdrawTemplate(sl.key); err != nil {
						t.Errorf("WithdrawTemplate(%v): %v", sl.key, err)
						return
					}
				case 3:
					if i%30 == 3 {
						if err := s.WithdrawAll(sl.key, i%2 == 0); err != nil {
							t.Errorf("WithdrawAll(%v): %v", sl.key, err)
							return
						}
						continue
					}
					fallthrough
				default:
					got, err := s.Template(sl.key)
					switch {
					case errors.Is(err, netflow.ErrTemplateNotFound):
					case err != nil:
						t.Errorf("Template(%v): %v", sl.key, err)
						return
					case !sameLayout(got, sl.layouts[0]) && !sameLayout(got, sl.layouts[1]):
						t.Errorf("Template(%v) = %s, a template never stored under that key", sl.key, describe(got))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// Quiet again: the store still works.
	for _, sl := range slots {
		add(t, s, sl.key, sl.layouts[1])
	}
	for _, sl := range slots {
		wantTemplate(t, s, sl.key, sl.layouts[1])
	}
}
