package templatetest

// Checks of netflow.Announcer and netflow.ExporterForgetter.

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

func needsAnnouncer(s netflow.TemplateStore) string {
	if _, ok := s.(netflow.Announcer); !ok {
		return "netflow.Announcer"
	}
	return ""
}

func needsAnnouncerState(s netflow.TemplateStore) string {
	if m := needsAnnouncer(s); m != "" {
		return m
	}
	return needsState(s)
}

func needsForgetter(s netflow.TemplateStore) string {
	if _, ok := s.(netflow.ExporterForgetter); !ok {
		return "netflow.ExporterForgetter"
	}
	return ""
}

// heard collects the keys announced to one subscriber.
type heard struct {
	mu   sync.Mutex
	keys []netflow.TemplateKey
	// after counts calls made once cancelled is set.
	cancelled bool
	after     []netflow.TemplateKey
}

func (h *heard) f(k netflow.TemplateKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancelled {
		h.after = append(h.after, k)
		return
	}
	h.keys = append(h.keys, k)
}

func (h *heard) has(k netflow.TemplateKey) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.keys, k)
}

func (h *heard) snapshot() []netflow.TemplateKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.keys)
}

// waitFor waits up to opts.AnnounceWait for h to hear every key of want.
func (h *heard) waitFor(t testing.TB, opts Options, what string, want ...netflow.TemplateKey) {
	t.Helper()
	deadline := time.Now().Add(opts.AnnounceWait)
	for {
		missing := -1
		for i, k := range want {
			if !h.has(k) {
				missing = i
				break
			}
		}
		if missing < 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: key %v not announced within %v; announced: %v", what, want[missing], opts.AnnounceWait, h.snapshot())
		}
		time.Sleep(time.Millisecond)
	}
}

// onlyFrom checks that h heard no key outside allowed, after a quiet
// period for late announcements.
func (h *heard) onlyFrom(t testing.TB, opts Options, what string, allowed ...netflow.TemplateKey) {
	t.Helper()
	time.Sleep(opts.Quiet)
	for _, k := range h.snapshot() {
		if !slices.Contains(allowed, k) {
			t.Fatalf("%s: key %v announced, but no template or state of that key changed (allowed: %v)", what, k, allowed)
		}
	}
}

func testAnnounceTemplates(t testing.TB, s netflow.TemplateStore, opts Options) {
	a := s.(netflow.Announcer)
	var h1, h2 heard
	cancel1 := a.Subscribe(h1.f)
	defer cancel1()
	cancel2 := a.Subscribe(h2.f)
	defer cancel2()

	k1 := baseKey
	add(t, s, k1, newTemplate(t, 10, k1.ID, false, 0))
	h1.waitFor(t, opts, "AddTemplate of a new template", k1)
	h2.waitFor(t, opts, "AddTemplate of a new template, second subscriber", k1)

	// Another exporter port, version and domain: each its own key.
	k2 := baseKey
	k2.Exporter = netip.AddrPortFrom(k2.Exporter.Addr(), k2.Exporter.Port()+1)
	k3 := baseKey
	k3.Version, k3.Domain, k3.ID = 9, 1<<32-1, 300
	add(t, s, k2, newTemplate(t, 10, k2.ID, false, 1))
	add(t, s, k3, newTemplate(t, 9, k3.ID, true, 2))
	h1.waitFor(t, opts, "AddTemplate under other keys", k2, k3)

	// A replacement is announced again.
	before := len(h1.snapshot())
	add(t, s, k1, newTemplate(t, 10, k1.ID, false, 9))
	deadline := time.Now().Add(opts.AnnounceWait)
	for {
		keys := h1.snapshot()
		if slices.Contains(keys[before:], k1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AddTemplate replacing %v with another layout: not announced within %v; announced: %v", k1, opts.AnnounceWait, keys)
		}
		time.Sleep(time.Millisecond)
	}
	h1.onlyFrom(t, opts, "templates added", k1, k2, k3)
	h2.onlyFrom(t, opts, "templates added, second subscriber", k1, k2, k3)
}

func testAnnounceState(t testing.TB, s netflow.TemplateStore, opts Options) {
	a := s.(netflow.Announcer)
	ss := s.(netflow.StateStore)
	var h heard
	cancel := a.Subscribe(h.f)
	defer cancel()
	k := baseKey
	k.ID = 300 // the announcement carries the domain's key: ID 0
	setState(t, ss, k, sampleState(1))
	dk := k
	dk.ID = 0
	h.waitFor(t, opts, "SetExporterState", dk)
	other := dk
	other.Version, other.Domain = 9, 8
	setState(t, ss, other, sampleState(2))
	h.waitFor(t, opts, "SetExporterState of another domain", other)
	h.onlyFrom(t, opts, "states set (announced with ID 0)", dk, other)
}

func testAnnounceCancel(t testing.TB, s netflow.TemplateStore, opts Options) {
	a := s.(netflow.Announcer)
	var gone, kept heard
	cancelGone := a.Subscribe(gone.f)
	cancelKept := a.Subscribe(kept.f)
	defer cancelKept()
	add(t, s, baseKey, newTemplate(t, 10, baseKey.ID, false, 0))
	gone.waitFor(t, opts, "AddTemplate before cancel", baseKey)
	kept.waitFor(t, opts, "AddTemplate before cancel", baseKey)

	cancelGone()
	gone.mu.Lock()
	gone.cancelled = true
	gone.mu.Unlock()
	cancelGone() // twice: harmless

	k := baseKey
	k.ID = 257
	add(t, s, k, newTemplate(t, 10, k.ID, false, 1))
	if st, ok := s.(netflow.StateStore); ok {
		setState(t, st, k, sampleState(1))
	}
	kept.waitFor(t, opts, "AddTemplate after another subscriber cancelled", k)
	time.Sleep(opts.Quiet)
	gone.mu.Lock()
	after := slices.Clone(gone.after)
	gone.mu.Unlock()
	if len(after) > 0 {
		t.Fatalf("a cancelled subscriber was called with %v after cancel returned", after)
	}
}

func testForgetExporter(t testing.TB, s netflow.TemplateStore) {
	f := s.(netflow.ExporterForgetter)
	ss, hasState := s.(netflow.StateStore)
	gone := baseKey.Exporter
	neighbours := []netip.AddrPort{
		netip.AddrPortFrom(gone.Addr(), gone.Port()+1),                    // same address, other port
		netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), gone.Port()), // other address, same port
		netip.AddrPortFrom(gone.Addr(), 0),                                // the same address keyed without port
	}
	type entry struct {
		key  netflow.TemplateKey
		tmpl *netflow.Template
	}
	var kept, forgotten []entry
	put := func(exp netip.AddrPort, version uint16, domain uint32, id uint16, options bool, variant int) entry {
		k := netflow.TemplateKey{Exporter: exp, Version: version, Domain: domain, ID: id}
		tmpl := newTemplate(t, version, id, options, variant)
		add(t, s, k, tmpl)
		return entry{k, tmpl}
	}
	for i, exp := range append([]netip.AddrPort{gone}, neighbours...) {
		var es []entry
		es = append(es,
			put(exp, 10, 1, 256, false, i),
			put(exp, 10, 1, 258, true, i+1),
			put(exp, 10, 2, 256, false, i+2),
			put(exp, 9, 1, 256, false, i+3),
			put(exp, 9, 0, 300, true, i+4),
		)
		if hasState {
			for j, dk := range []netflow.TemplateKey{
				{Exporter: exp, Version: 10, Domain: 1},
				{Exporter: exp, Version: 9, Domain: 0},
				{Exporter: exp, Version: 10, Domain: 3}, // state without templates
			} {
				setState(t, ss, dk, sampleState(10*i+j))
			}
		}
		if exp == gone {
			forgotten = es
		} else {
			kept = append(kept, es...)
		}
	}
	if err := f.ForgetExporter(gone); err != nil {
		t.Fatalf("ForgetExporter(%v): %v", gone, err)
	}
	for _, e := range forgotten {
		wantMissing(t, s, e.key)
	}
	for _, e := range kept {
		wantTemplate(t, s, e.key, e.tmpl, fmt.Sprintf("exporter %v kept after ForgetExporter(%v)", e.key.Exporter, gone))
	}
	if hasState {
		for _, dk := range []netflow.TemplateKey{
			{Exporter: gone, Version: 10, Domain: 1},
			{Exporter: gone, Version: 9, Domain: 0},
			{Exporter: gone, Version: 10, Domain: 3},
		} {
			wantNoState(t, ss, dk, "ForgetExporter forgets the options state")
		}
		for i, exp := range neighbours {
			wantState(t, ss, netflow.TemplateKey{Exporter: exp, Version: 10, Domain: 3}, sampleState(10*(i+1)+2),
				fmt.Sprintf("exporter %v kept after ForgetExporter(%v)", exp, gone))
		}
	}
	// Forgetting it again, or an exporter never seen, is not an error.
	for _, exp := range []netip.AddrPort{gone, netip.MustParseAddrPort("[2001:db8::9]:9")} {
		if err := f.ForgetExporter(exp); err != nil {
			t.Fatalf("ForgetExporter(%v) of an exporter the store holds nothing of: %v", exp, err)
		}
	}
	// The forgotten exporter can come back.
	e := put(gone, 10, 1, 256, false, 5)
	wantTemplate(t, s, e.key, e.tmpl, "added again after ForgetExporter")
}

// testAnnounceCancelRacing cancels a subscriber while other goroutines
// add templates and another, slow, subscriber is being called: an
// announcement that was under way when cancel returned must not call the
// cancelled subscriber either.
func testAnnounceCancelRacing(t testing.TB, s netflow.TemplateStore, opts Options) {
	a := s.(netflow.Announcer)
	slow := a.Subscribe(func(netflow.TemplateKey) { time.Sleep(200 * time.Microsecond) })
	defer slow()
	tmpls := make([]*netflow.Template, 4)
	for i := range tmpls {
		tmpls[i] = newTemplate(t, 10, uint16(256+i), false, i)
	}
	for round := range 5 {
		var mu sync.Mutex
		cancelled, late := false, 0
		cancel := a.Subscribe(func(netflow.TemplateKey) {
			mu.Lock()
			if cancelled {
				late++
			}
			mu.Unlock()
		})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := baseKey
					k.Domain = uint32(100 + w)
					k.ID = uint16(256 + i%4)
					if err := s.AddTemplate(k, tmpls[i%4]); err != nil {
						t.Errorf("AddTemplate(%v): %v", k, err)
						return
					}
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		cancel()
		mu.Lock()
		cancelled = true
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
		mu.Lock()
		n := late
		mu.Unlock()
		if n > 0 {
			t.Fatalf("round %d: a cancelled subscriber was called %d times after cancel returned, by announcements under way when it was cancelled", round, n)
		}
	}
}
