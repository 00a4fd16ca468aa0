package netflow

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// What a MemoryStore does as a store shared by several decoders: options
// state, announcements, and forgetting an exporter.

var (
	_ StateStore        = (*MemoryStore)(nil)
	_ Announcer         = (*MemoryStore)(nil)
	_ ExporterForgetter = (*MemoryStore)(nil)
)

// subscribers is a copy-on-write list of announcement funcs, read without
// a lock on every announcement.
type subscribers struct {
	mu   sync.Mutex
	next uint64
	list atomic.Pointer[[]subscriber]
}

type subscriber struct {
	id uint64
	f  func(TemplateKey)
	// calling is held (read) while f is called and (write) by cancel, so
	// that no call starts once cancel returned. f must not call its own
	// cancel.
	calling *sync.RWMutex
	gone    *bool
}

func (s *subscribers) add(f func(TemplateKey)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	id := s.next
	var list []subscriber
	if old := s.list.Load(); old != nil {
		list = append(list, *old...)
	}
	sub := subscriber{id: id, f: f, calling: new(sync.RWMutex), gone: new(bool)}
	list = append(list, sub)
	s.list.Store(&list)
	var once sync.Once
	return func() {
		once.Do(func() {
			sub.calling.Lock()
			*sub.gone = true
			sub.calling.Unlock()
			s.mu.Lock()
			defer s.mu.Unlock()
			old := s.list.Load()
			var list []subscriber
			for _, sub := range *old {
				if sub.id != id {
					list = append(list, sub)
				}
			}
			s.list.Store(&list)
		})
	}
}

// announce calls every subscriber with key. No store lock may be held.
func (s *subscribers) announce(key TemplateKey) {
	if list := s.list.Load(); list != nil {
		for _, sub := range *list {
			sub.calling.RLock()
			if !*sub.gone {
				sub.f(key)
			}
			sub.calling.RUnlock()
		}
	}
}

// Subscribe implements Announcer: f learns of every template added or
// replaced, and (with ID 0) of every domain whose options state was set.
func (s *MemoryStore) Subscribe(f func(TemplateKey)) (cancel func()) {
	return s.subs.add(f)
}

// ExporterState implements StateStore.
func (s *MemoryStore) ExporterState(key TemplateKey) (ExporterState, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.states[domainKey(key)]
	if !ok {
		return ExporterState{}, false, nil
	}
	e.markUsed()
	return e.st.clone(), true, nil
}

// storedState is one domain's options state, when it was last set, and
// its place in the eviction order of states.
type storedState struct {
	admitNode[TemplateKey]
	st     ExporterState
	set    time.Time
	weight int64 // st.memory(), against MaxStateMemory
}

// dropState removes e from the states. s.mu is held.
func (s *MemoryStore) dropState(e *storedState) {
	s.stateOrder.remove(&e.admitNode)
	delete(s.states, e.key)
	s.stateMemory -= e.weight
}

// SetExporterState implements StateStore. A new domain beyond
// MemoryStoreConfig.MaxStates makes room by dropping the states not set for
// StateIdle or else the state longest on probation (that of an exporter
// not confirmed); if there is none, it is refused with ErrLimit.
func (s *MemoryStore) SetExporterState(key TemplateKey, st ExporterState) error {
	return s.setExporterState(key, st, s.cfg.Now())
}

func (s *MemoryStore) setExporterState(key TemplateKey, st ExporterState, set time.Time) error {
	dk := domainKey(key)
	st = st.clone()
	weight := st.memory()
	s.mu.Lock()
	e := s.states[dk]
	isNew := e == nil
	if e == nil {
		if len(s.states) >= s.cfg.MaxStates {
			if now := s.cfg.Now(); !now.Before(s.nextStateReclaim) {
				// At most once a second: a flood at the limit must not
				// make every new domain scan the states.
				s.nextStateReclaim = now.Add(time.Second)
				s.dropIdleStates(now)
			}
		}
		if len(s.states) >= s.cfg.MaxStates {
			v := s.stateOrder.victim(nil, s.exporterConfirmed)
			if v == nil {
				s.stats.Rejected++
				s.mu.Unlock()
				return fmt.Errorf("%w: template store holds options state of %d domains", ErrLimit, len(s.states))
			}
			s.dropState(s.states[v.key])
			s.stats.StatesEvicted++
		}
		e = &storedState{}
		s.states[dk] = e
		s.stateOrder.admit(&e.admitNode, dk, 0)
	}
	for s.stateMemory-e.weight+weight > int64(s.cfg.MaxStateMemory) {
		v := s.stateOrder.victim(&e.admitNode, s.exporterConfirmed)
		if v == nil {
			if isNew {
				s.dropState(e)
			}
			s.stats.Rejected++
			s.mu.Unlock()
			return fmt.Errorf("%w: template store holds %d bytes of options state", ErrLimit, s.stateMemory)
		}
		s.dropState(s.states[v.key])
		s.stats.StatesEvicted++
	}
	s.stateMemory += weight - e.weight
	e.st, e.set, e.weight = st, set, weight
	if s.exporterConfirmed(dk) {
		s.stateOrder.confirm(&e.admitNode)
	}
	s.mu.Unlock()
	s.subs.announce(dk)
	return nil
}

// ForgetExporter implements ExporterForgetter.
func (s *MemoryStore) ForgetExporter(exporter netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	if x := s.exporters[exporter]; x != nil {
		for len(x.domains) > 0 {
			dk := x.domains[len(x.domains)-1]
			n := len(s.domains[dk].templates)
			s.total -= n
			s.stats.Withdrawn += uint64(n)
			s.dropDomain(dk)
		}
	}
	for dk, e := range s.states {
		if dk.Exporter == exporter {
			s.dropState(e)
		}
	}
	return nil
}

// dropIdleStates drops the options states not set for StateIdle. s.mu is
// held.
func (s *MemoryStore) dropIdleStates(now time.Time) {
	for _, e := range s.states {
		if now.Sub(e.set) > s.cfg.StateIdle {
			s.dropState(e)
			s.stats.Expired++
		}
	}
}
