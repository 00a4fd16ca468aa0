package netflow

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryStoreConfig bounds a MemoryStore. A zero field takes its default.
type MemoryStoreConfig struct {
	// MaxTemplatesPerDomain is the most templates kept per (exporter,
	// version, domain) (default 1024). A new template beyond it is refused
	// with ErrLimit unless EvictOldest is set.
	MaxTemplatesPerDomain int
	// MaxDomainsPerExporter is the most (version, domain) pairs kept per
	// exporter address and port (default 64).
	MaxDomainsPerExporter int
	// MaxTemplates is the most templates kept in all (default 65536), which
	// bounds the store's memory: a template costs about 100 bytes plus 40
	// per field. A new template beyond it is refused with ErrLimit (with
	// EvictOldest, the oldest of its own domain makes room if the domain
	// holds any).
	MaxTemplates int
	// MaxExporters is the most exporters kept (default 4096). A new
	// exporter beyond it is refused with ErrLimit, so that a flood of
	// spoofed senders cannot push out the templates of exporters already
	// known.
	MaxExporters int
	// EvictOldest makes a full domain drop its least recently refreshed
	// template for a new one, instead of refusing it. Only templates of
	// the same exporter domain are ever evicted.
	EvictOldest bool
	// MaxStates is the most exporter domains whose options state is kept
	// (default 16384); see StateStore. At the limit, states not set for
	// StateIdle (default 1 hour; Expire drops them too) make room.
	MaxStates int
	StateIdle time.Duration
	// MaxTemplateFields is the most fields of a template Load accepts
	// (default 512, as Limits.MaxTemplateFields).
	MaxTemplateFields int
	// TTL expires a template not refreshed for this long (0: never).
	TTL time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// StoreStats counts what a template store holds and did: a MemoryStore (its
// Stats method), or any store implementing StatsReporter or
// TemplateStatsReporter (Decoder.Stats reports it as Stats.Store).
type StoreStats struct {
	Templates int    // templates held now
	Exporters int    // exporters held now
	Learned   uint64 // new template IDs
	Refreshed uint64 // the same layout sent again
	Replaced  uint64 // an ID redefined with another layout
	Withdrawn uint64 // removed by a withdrawal
	Expired   uint64 // removed after TTL
	Evicted   uint64 // removed to make room (EvictOldest)
	Rejected  uint64 // refused at a limit
}

// MemoryStore is the default TemplateStore: bounded, safe for concurrent
// use, with optional expiry, and able to save and restore its templates.
type MemoryStore struct {
	cfg       MemoryStoreConfig
	mu        sync.RWMutex
	domains   map[TemplateKey]*storeDomain // ID 0
	exporters map[netip.AddrPort]int       // domains per exporter
	total     int                          // templates held
	states    map[TemplateKey]storedState  // options state by domain (ID 0)
	stats     StoreStats
	// gen changes with every change of the templates held: a decoder's
	// Buffer that found a template keeps it while gen stays (templatecache.go).
	gen atomic.Uint64
	// nextReclaim is the earliest time an add at a limit scans for
	// expired templates again.
	nextReclaim time.Time
	subs        subscribers
}

type storeDomain struct {
	templates map[uint16]*storeEntry
}

type storeEntry struct {
	t    *Template
	seen time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryStoreConfig) *MemoryStore {
	if cfg.MaxTemplatesPerDomain <= 0 {
		cfg.MaxTemplatesPerDomain = 1024
	}
	if cfg.MaxDomainsPerExporter <= 0 {
		cfg.MaxDomainsPerExporter = 64
	}
	if cfg.MaxExporters <= 0 {
		cfg.MaxExporters = 4096
	}
	if cfg.MaxTemplates <= 0 {
		cfg.MaxTemplates = 65536
	}
	if cfg.MaxStates <= 0 {
		cfg.MaxStates = 16384
	}
	if cfg.MaxTemplateFields <= 0 {
		cfg.MaxTemplateFields = 512
	}
	if cfg.StateIdle <= 0 {
		cfg.StateIdle = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryStore{
		states:    make(map[TemplateKey]storedState),
		cfg:       cfg,
		domains:   make(map[TemplateKey]*storeDomain),
		exporters: make(map[netip.AddrPort]int),
	}
}

func domainKey(k TemplateKey) TemplateKey {
	k.ID = 0
	return k
}

// Template implements TemplateStore.
func (s *MemoryStore) Template(key TemplateKey) (*Template, error) {
	s.mu.RLock()
	var e *storeEntry
	var seen time.Time
	if d := s.domains[domainKey(key)]; d != nil {
		if e = d.templates[key.ID]; e != nil {
			seen = e.seen // read under the lock: Load and AddTemplate write it
		}
	}
	s.mu.RUnlock()
	if e == nil {
		return nil, ErrTemplateNotFound
	}
	if s.cfg.TTL > 0 && s.cfg.Now().Sub(seen) > s.cfg.TTL {
		s.mu.Lock()
		s.gen.Add(1)
		if d := s.domains[domainKey(key)]; d != nil && d.templates[key.ID] == e {
			s.remove(key, d)
			s.stats.Expired++
		}
		s.mu.Unlock()
		return nil, ErrTemplateNotFound
	}
	return e.t, nil
}

// AddTemplate implements TemplateStore. Subscribers (Subscribe) learn of
// every template it stores.
func (s *MemoryStore) AddTemplate(key TemplateKey, t *Template) error {
	if t == nil {
		return s.WithdrawTemplate(key)
	}
	err := s.addTemplate(key, t, s.cfg.Now())
	if err == nil {
		s.subs.announce(key)
	}
	return err
}

// addTemplate stores t as refreshed at seen.
func (s *MemoryStore) addTemplate(key TemplateKey, t *Template, seen time.Time) error {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	dk := domainKey(key)
	d := s.domains[dk]
	if d == nil {
		n, known := s.exporters[key.Exporter]
		if !known && len(s.exporters) >= s.cfg.MaxExporters {
			s.reclaim(now) // expired templates free their exporter's slot
			n, known = s.exporters[key.Exporter]
		}
		switch {
		case !known && len(s.exporters) >= s.cfg.MaxExporters:
			s.stats.Rejected++
			return fmt.Errorf("%w: template store holds %d exporters", ErrLimit, len(s.exporters))
		case n >= s.cfg.MaxDomainsPerExporter:
			s.stats.Rejected++
			return fmt.Errorf("%w: template store holds %d domains of exporter %v", ErrLimit, n, key.Exporter)
		}
		d = &storeDomain{templates: make(map[uint16]*storeEntry)}
		s.domains[dk] = d
		s.exporters[key.Exporter] = n + 1
	}
	if old := d.templates[key.ID]; old != nil {
		if old.t.sameLayout(t) {
			s.stats.Refreshed++
		} else {
			s.stats.Replaced++
		}
		d.templates[key.ID] = &storeEntry{t: t, seen: seen}
		return nil
	}
	s.expireDomain(d, now)
	if s.total >= s.cfg.MaxTemplates {
		s.reclaim(now)
	}
	domainFull := len(d.templates) >= s.cfg.MaxTemplatesPerDomain
	if domainFull || s.total >= s.cfg.MaxTemplates {
		if !s.cfg.EvictOldest || len(d.templates) == 0 {
			s.stats.Rejected++
			if len(d.templates) == 0 {
				s.dropDomain(dk)
			}
			if domainFull {
				return fmt.Errorf("%w: template store holds %d templates of domain %d of %v", ErrLimit, len(d.templates), key.Domain, key.Exporter)
			}
			return fmt.Errorf("%w: template store holds %d templates", ErrLimit, s.total)
		}
		var oldest uint16
		var at time.Time
		for id, e := range d.templates {
			if at.IsZero() || e.seen.Before(at) {
				oldest, at = id, e.seen
			}
		}
		delete(d.templates, oldest)
		s.total--
		s.stats.Evicted++
	}
	d.templates[key.ID] = &storeEntry{t: t, seen: seen}
	s.total++
	s.stats.Learned++
	return nil
}

// reclaim expires every template past its TTL, at most once a second (at a
// limit, a flood of new exporters must not make each add scan the store):
// expired templates, and the exporters they leave empty, make room. s.mu
// is held.
func (s *MemoryStore) reclaim(now time.Time) {
	if s.cfg.TTL <= 0 || now.Before(s.nextReclaim) {
		return
	}
	s.nextReclaim = now.Add(min(time.Second, s.cfg.TTL))
	s.expireAll(now)
}

// expireAll drops every expired template and emptied domain. s.mu is held.
func (s *MemoryStore) expireAll(now time.Time) {
	for dk, d := range s.domains {
		s.expireDomain(d, now)
		if len(d.templates) == 0 {
			s.dropDomain(dk)
		}
	}
}

// expireDomain drops the expired templates of one domain. s.mu is held.
func (s *MemoryStore) expireDomain(d *storeDomain, now time.Time) {
	if s.cfg.TTL <= 0 {
		return
	}
	for id, e := range d.templates {
		if now.Sub(e.seen) > s.cfg.TTL {
			delete(d.templates, id)
			s.total--
			s.stats.Expired++
		}
	}
}

// remove deletes key's template and an emptied domain. s.mu is held.
func (s *MemoryStore) remove(key TemplateKey, d *storeDomain) {
	delete(d.templates, key.ID)
	s.total--
	if len(d.templates) == 0 {
		s.dropDomain(domainKey(key))
	}
}

func (s *MemoryStore) dropDomain(dk TemplateKey) {
	delete(s.domains, dk)
	if n := s.exporters[dk.Exporter] - 1; n > 0 {
		s.exporters[dk.Exporter] = n
	} else {
		delete(s.exporters, dk.Exporter)
	}
}

// WithdrawTemplate implements TemplateStore.
func (s *MemoryStore) WithdrawTemplate(key TemplateKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	if d := s.domains[domainKey(key)]; d != nil && d.templates[key.ID] != nil {
		s.remove(key, d)
		s.stats.Withdrawn++
	}
	return nil
}

// WithdrawAll implements TemplateStore.
func (s *MemoryStore) WithdrawAll(key TemplateKey, options bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	dk := domainKey(key)
	d := s.domains[dk]
	if d == nil {
		return nil
	}
	for id, e := range d.templates {
		if e.t.Options == options {
			delete(d.templates, id)
			s.total--
			s.stats.Withdrawn++
		}
	}
	if len(d.templates) == 0 {
		s.dropDomain(dk)
	}
	return nil
}

// Expire drops every template not refreshed within the TTL. The store also
// does so by itself for a new exporter or template at a limit; a receiver
// calls Expire periodically.
func (s *MemoryStore) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	s.expireAll(s.cfg.Now())
	s.dropIdleStates(s.cfg.Now())
}

// Stats returns the store's counters.
func (s *MemoryStore) Stats() StoreStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.stats
	st.Exporters = len(s.exporters)
	st.Templates = s.total
	return st
}
