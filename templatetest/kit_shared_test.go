package templatetest

// mapStore's optional interfaces (StateStore, Announcer,
// ExporterForgetter), correct unless one of brokenShared's flags is set,
// and the kit's tests that it catches each breakage.

import (
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

// brokenShared lists the ways mapStore's optional interfaces can be broken.
type brokenShared struct {
	stateShared        bool // keeps the caller's maps, returns its own
	stateKeepsID       bool // keys state by the full key, ID included
	stateIgnoresPort   bool // keys state by exporter address only
	stateMerges        bool // SetExporterState merges maps instead of replacing
	missingStateOK     bool // ok=true for a domain without state
	noTemplateAnnounce bool // AddTemplate announces nothing
	announceDomainKey  bool // AddTemplate announces the key with ID 0
	noStateAnnounce    bool // SetExporterState announces nothing
	stateAnnounceID    bool // SetExporterState announces key.ID as given
	cancelIgnored      bool // cancel leaves the subscriber registered
	cancelRaces        bool // an announcement under way still calls a cancelled subscriber
	forgetByAddress    bool // ForgetExporter forgets every port of the address
	forgetKeepsState   bool // ForgetExporter keeps the options state
	checkSinceNow      bool // CheckTemplate's since is the time of the call
	checkStale         bool // CheckTemplate returns the first layout stored
	checkMissingNil    bool // CheckTemplate of a missing key is nil, nil
}

var (
	_ netflow.StateStore        = (*mapStore)(nil)
	_ netflow.Announcer         = (*mapStore)(nil)
	_ netflow.ExporterForgetter = (*mapStore)(nil)
	_ netflow.TemplateChecker   = (*mapStore)(nil)
)

// Confirmed implements netflow.TemplateChecker: the map is the store.
func (s *mapStore) Confirmed() bool { return true }

// CheckTemplate implements netflow.TemplateChecker.
func (s *mapStore) CheckTemplate(k netflow.TemplateKey) (*netflow.Template, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[s.keyOf(k)]
	switch {
	case !ok && s.broken.checkMissingNil:
		return nil, time.Time{}, nil
	case !ok:
		return nil, time.Time{}, netflow.ErrTemplateNotFound
	case s.broken.checkStale:
		t = s.first[s.keyOf(k)]
	}
	if s.broken.checkSinceNow {
		return t, time.Now(), nil
	}
	return t, s.since[s.keyOf(k)], nil
}

func cloneState(st netflow.ExporterState) netflow.ExporterState {
	st.Samplers = maps.Clone(st.Samplers)
	st.SamplerAlgorithms = maps.Clone(st.SamplerAlgorithms)
	st.InterfaceNames = maps.Clone(st.InterfaceNames)
	st.InterfaceDescriptions = maps.Clone(st.InterfaceDescriptions)
	st.VRFNames = maps.Clone(st.VRFNames)
	st.ApplicationNames = maps.Clone(st.ApplicationNames)
	return st
}

func (s *mapStore) stateKey(k netflow.TemplateKey) netflow.TemplateKey {
	if !s.broken.stateKeepsID {
		k.ID = 0
	}
	if s.broken.stateIgnoresPort {
		k.Exporter = netip.AddrPortFrom(k.Exporter.Addr(), 0)
	}
	return k
}

func (s *mapStore) ExporterState(k netflow.TemplateKey) (netflow.ExporterState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[s.stateKey(k)]
	if s.broken.missingStateOK {
		ok = true
	}
	if !s.broken.stateShared {
		st = cloneState(st)
	}
	return st, ok, nil
}

func (s *mapStore) SetExporterState(k netflow.TemplateKey, st netflow.ExporterState) error {
	s.mu.Lock()
	if !s.broken.stateShared {
		st = cloneState(st)
	}
	sk := s.stateKey(k)
	if old, ok := s.states[sk]; ok && s.broken.stateMerges && old.Samplers != nil {
		maps.Copy(old.Samplers, st.Samplers)
		st.Samplers = old.Samplers
	}
	s.states[sk] = st
	s.mu.Unlock()
	if !s.broken.noStateAnnounce {
		if !s.broken.stateAnnounceID {
			k.ID = 0
		}
		s.announce(k)
	}
	return nil
}

func (s *mapStore) announce(k netflow.TemplateKey) {
	if !s.broken.cancelRaces {
		s.calling.RLock()
		defer s.calling.RUnlock()
	}
	s.mu.Lock()
	fs := make([]func(netflow.TemplateKey), 0, len(s.subs))
	for _, f := range s.subs {
		fs = append(fs, f)
	}
	s.mu.Unlock()
	for _, f := range fs {
		f(k)
	}
}

func (s *mapStore) Subscribe(f func(netflow.TemplateKey)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := s.nextID
	s.subs[id] = f
	return func() {
		if s.broken.cancelIgnored {
			return
		}
		s.calling.Lock()
		defer s.calling.Unlock()
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

func (s *mapStore) ForgetExporter(exp netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	match := func(e netip.AddrPort) bool {
		if s.broken.forgetByAddress {
			return e.Addr() == exp.Addr()
		}
		return e == exp
	}
	for k := range s.m {
		if match(k.Exporter) {
			delete(s.m, k)
		}
	}
	if !s.broken.forgetKeepsState {
		for k := range s.states {
			if match(k.Exporter) {
				delete(s.states, k)
			}
		}
	}
	return nil
}

func TestKitCatchesBrokenSharedStores(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		broken  brokenShared
		subtest string
		want    string // in a failure message
	}{
		{"state maps shared with the caller", brokenShared{stateShared: true}, "StateCopies", "changed the maps it passed"},
		{"state keyed with the template ID", brokenShared{stateKeepsID: true}, "StateSetGet", "the ID is ignored"},
		{"state keyed without the port", brokenShared{stateIgnoresPort: true}, "StateKeyIsolation", "exporter port"},
		{"state merged, not replaced", brokenShared{stateMerges: true}, "StateSetGet", "replaced by a second"},
		{"ok=true for a missing state", brokenShared{missingStateOK: true}, "StateMissing", "want ok=false"},
		{"templates not announced", brokenShared{noTemplateAnnounce: true}, "AnnounceTemplates", "not announced"},
		{"templates announced with ID 0", brokenShared{announceDomainKey: true}, "AnnounceTemplates", "not announced"},
		{"states not announced", brokenShared{noStateAnnounce: true}, "AnnounceState", "not announced"},
		{"states announced with the caller's ID", brokenShared{stateAnnounceID: true}, "AnnounceState", "not announced"},
		{"cancel ignored", brokenShared{cancelIgnored: true}, "AnnounceCancel", "after cancel returned"},
		{"cancel races announcements under way", brokenShared{cancelRaces: true}, "AnnounceCancelRacing", "after cancel returned"},
		{"forgets every port of the address", brokenShared{forgetByAddress: true}, "ForgetExporter", "kept after ForgetExporter"},
		{"forget keeps the state", brokenShared{forgetKeepsState: true}, "ForgetExporter", "forgets the options state"},
		{"check's since is now", brokenShared{checkSinceNow: true}, "CheckTemplate", "want the time the layout was stored"},
		{"check returns a stale layout", brokenShared{checkStale: true}, "CheckTemplate", "after a new layout"},
		{"check of a missing key is nil, nil", brokenShared{checkMissingNil: true}, "CheckTemplate", "missing key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each waits on its own store's announcements
			s := newMapStore()
			s.broken = c.broken
			failed, msgs := runSubtest(t, c.subtest, s)
			if !failed {
				t.Fatalf("subtest %s passed a store whose %s", c.subtest, c.name)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Fatalf("subtest %s failed without saying %q: %v", c.subtest, c.want, msgs)
			}
			t.Logf("caught: %s", msgs[0])
		})
	}
}

// TestKitSkipsMissingInterfaces: a plain TemplateStore runs the
// TemplateStore subtests and skips the others, saying which interface it
// lacks.
func TestKitSkipsMissingInterfaces(t *testing.T) {
	type plainStore struct{ netflow.TemplateStore }
	s := plainStore{newMapStore()}
	for _, st := range subtests {
		if st.needs == nil {
			continue
		}
		if missing := st.needs(s); missing == "" || !strings.HasPrefix(missing, "netflow.") {
			t.Errorf("subtest %s: needs(plain store) = %q, want the missing interface", st.name, missing)
		}
		if missing := st.needs(newMapStore()); missing != "" {
			t.Errorf("subtest %s: needs(full store) = %q, want \"\"", st.name, missing)
		}
	}
}
