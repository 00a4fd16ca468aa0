package templatetest

// The kit's own tests: it passes a correct store and fails broken ones.

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

// recorder is a testing.TB that records failures instead of failing the
// test that runs it.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	runtime.Goexit()
}

// runSubtest runs one of the kit's subtests against s and returns its
// failure messages.
func runSubtest(t *testing.T, name string, s netflow.TemplateStore) (failed bool, msgs []string) {
	t.Helper()
	for _, st := range subtests {
		if st.name != name {
			continue
		}
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			st.fn(r, s, Options{AnnounceWait: 300 * time.Millisecond, Quiet: 50 * time.Millisecond})
		}()
		<-done
		return r.failed, r.msgs
	}
	t.Fatalf("no subtest %q", name)
	return false, nil
}

// mapStore is a simple correct store: one map under a mutex. keyOf can
// drop key parts to make it broken.
type mapStore struct {
	mu    sync.Mutex
	m     map[netflow.TemplateKey]*netflow.Template
	keyOf func(netflow.TemplateKey) netflow.TemplateKey
	// withdrawAllKinds makes WithdrawAll ignore the options flag.
	withdrawAllKinds bool
	// nilWhenMissing makes Template return nil, nil for a missing key.
	nilWhenMissing bool

	// The optional interfaces, with their own ways to be broken.
	states map[netflow.TemplateKey]netflow.ExporterState
	subs   map[int]func(netflow.TemplateKey)
	nextID int
	// calling is held (read) by every announcement while it calls the
	// subscribers, and by cancel (write), so that no call starts once
	// cancel returned.
	calling sync.RWMutex
	broken  brokenShared
	// For TemplateChecker: when each key's layout was stored, and the
	// first template stored under it.
	since map[netflow.TemplateKey]time.Time
	first map[netflow.TemplateKey]*netflow.Template
}

func newMapStore() *mapStore {
	return &mapStore{
		m:      map[netflow.TemplateKey]*netflow.Template{},
		keyOf:  func(k netflow.TemplateKey) netflow.TemplateKey { return k },
		states: map[netflow.TemplateKey]netflow.ExporterState{},
		subs:   map[int]func(netflow.TemplateKey){},
		since:  map[netflow.TemplateKey]time.Time{},
		first:  map[netflow.TemplateKey]*netflow.Template{},
	}
}

func (s *mapStore) Template(k netflow.TemplateKey) (*netflow.Template, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.m[s.keyOf(k)]
	if t == nil {
		if s.nilWhenMissing {
			return nil, nil
		}
		return nil, netflow.ErrTemplateNotFound
	}
	return t, nil
}

func (s *mapStore) AddTemplate(k netflow.TemplateKey, t *netflow.Template) error {
	s.mu.Lock()
	key := s.keyOf(k)
	if old := s.m[key]; old == nil || !sameLayout(old, t) {
		s.since[key] = time.Now()
	}
	if s.first[key] == nil {
		s.first[key] = t
	}
	s.m[key] = t
	s.mu.Unlock()
	if !s.broken.noTemplateAnnounce {
		if s.broken.announceDomainKey {
			k.ID = 0
		}
		s.announce(k)
	}
	return nil
}

func (s *mapStore) WithdrawTemplate(k netflow.TemplateKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, s.keyOf(k))
	return nil
}

func (s *mapStore) WithdrawAll(k netflow.TemplateKey, options bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k = s.keyOf(k)
	for key, t := range s.m {
		if key.Exporter == k.Exporter && key.Version == k.Version && key.Domain == k.Domain &&
			(s.withdrawAllKinds || t.Options == options) {
			delete(s.m, key)
		}
	}
	return nil
}

func TestKitPassesCorrectStore(t *testing.T) {
	t.Parallel()
	TestStore(t, func() netflow.TemplateStore { return newMapStore() })
}

func TestKitCatchesBrokenStores(t *testing.T) {
	for _, c := range []struct {
		name    string
		store   func() *mapStore
		subtest string
		want    string // in a failure message
	}{
		{"keyed by template ID only", func() *mapStore {
			s := newMapStore()
			s.keyOf = func(k netflow.TemplateKey) netflow.TemplateKey { return netflow.TemplateKey{ID: k.ID} }
			return s
		}, "KeyIsolation", "exporter address"},
		{"ignores the exporter port", func() *mapStore {
			s := newMapStore()
			s.keyOf = func(k netflow.TemplateKey) netflow.TemplateKey {
				k.Exporter = netip.AddrPortFrom(k.Exporter.Addr(), 0)
				return k
			}
			return s
		}, "KeyIsolation", "exporter port"},
		{"ignores the version", func() *mapStore {
			s := newMapStore()
			s.keyOf = func(k netflow.TemplateKey) netflow.TemplateKey { k.Version = 0; return k }
			return s
		}, "KeyIsolation", "version"},
		{"ignores the domain", func() *mapStore {
			s := newMapStore()
			s.keyOf = func(k netflow.TemplateKey) netflow.TemplateKey { k.Domain = 0; return k }
			return s
		}, "KeyIsolation", "domain"},
		{"WithdrawAll removes both kinds", func() *mapStore {
			s := newMapStore()
			s.withdrawAllKinds = true
			return s
		}, "WithdrawAll", "Template("},
		{"nil, nil for a missing template", func() *mapStore {
			s := newMapStore()
			s.nilWhenMissing = true
			return s
		}, "Missing", "ErrTemplateNotFound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			failed, msgs := runSubtest(t, c.subtest, c.store())
			if !failed {
				t.Fatalf("subtest %s passed a store that %s", c.subtest, c.name)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Fatalf("subtest %s failed without saying %q: %v", c.subtest, c.want, msgs)
			}
			t.Logf("caught: %s", msgs[0])
		})
	}
}
