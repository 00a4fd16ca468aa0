package netflow

import (
	"fmt"
	"net/netip"
	"slices"
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
	// bounds the store's memory: a template costs at most 1.5 KiB plus 96
	// bytes per field, its exporter's and domain's bookkeeping included
	// (TestTemplateHeapCost measures 1.2 KiB for one field, 3.8 KiB for
	// 32, 13 KiB for 512), so 65536 templates of 32 fields take up to
	// 300 MiB. A new template beyond it evicts the exporters longest on
	// probation (not its own) until there is room, as MaxExporters does;
	// with none left on probation it is refused with ErrLimit (with
	// EvictOldest, the oldest of its own domain makes room if the domain
	// holds any).
	MaxTemplates int
	// MaxExporters is the most exporters kept (default 4096). At the
	// bound a new exporter is admitted by evicting, with its templates,
	// the exporter longest on probation (counted in ExportersEvicted).
	// Every exporter starts on probation and is confirmed (Confirmed,
	// ExportersConfirmed) when data is decoded with a template it sent in
	// an earlier datagram (a Template look-up finds it), or when it sends
	// a template again at least a second after it first sent it. Confirmed
	// exporters, at most MaxExporters - max(1, MaxExporters/8), are not
	// evicted for newcomers, so that a flood of spoofed senders, each seen
	// once, can neither push out the exporters already known nor lock out
	// the ones that come after it (docs/limits-eviction.md).
	MaxExporters int
	// EvictOldest makes a full domain drop its least recently refreshed
	// template for a new one, instead of refusing it. Only templates of
	// the same exporter domain are ever evicted.
	EvictOldest bool
	// MaxStates is the most exporter domains whose options state is kept
	// (default 16384); see StateStore. At the limit, states not set for
	// StateIdle (default 1 hour; Expire drops them too) make room, looked
	// for at most once a second; else the state longest on probation is
	// evicted (StatesEvicted). A state is confirmed, and kept, while its
	// exporter is confirmed (MaxExporters).
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
	// Confirmed is how many of the exporters held now are confirmed
	// (MemoryStoreConfig.MaxExporters says what confirms one).
	Confirmed int
	// ExportersConfirmed counts exporters moved from probation to the
	// confirmed segment, and ExportersDemoted confirmed ones sent back to
	// probation, least recently used first, because the segment was full.
	ExportersConfirmed uint64
	ExportersDemoted   uint64
	// ExportersEvicted counts exporters on probation dropped to admit a
	// new exporter at MaxExporters or a new template at MaxTemplates, and
	// TemplatesEvictedWithExporters the templates they held.
	ExportersEvicted              uint64
	TemplatesEvictedWithExporters uint64
	// StatesEvicted counts options states dropped to admit a new domain at
	// MaxStates: states of exporters not confirmed, oldest first.
	StatesEvicted uint64
}

// MemoryStore is the default TemplateStore: bounded, safe for concurrent
// use, with optional expiry, and able to save and restore its templates.
type MemoryStore struct {
	cfg        MemoryStoreConfig
	mu         sync.RWMutex
	domains    map[TemplateKey]*storeDomain // ID 0
	exporters  map[netip.AddrPort]*storeExporter
	order      admitOrder[netip.AddrPort]   // of exporters (admit.go)
	total      int                          // templates held
	states     map[TemplateKey]*storedState // options state by domain (ID 0)
	stateOrder admitOrder[TemplateKey]
	stats      StoreStats
	// gen changes with every change of the templates held: a decoder's
	// Buffer that found a template keeps it while gen stays (templatecache.go).
	gen atomic.Uint64
	// nextReclaim is the earliest time an add at a limit scans for
	// expired templates again.
	nextReclaim time.Time
	// nextStateReclaim is the same for idle options states.
	nextStateReclaim time.Time
	subs             subscribers
}

// storeExporter is an exporter's entry: its place in the eviction order
// and its domains.
type storeExporter struct {
	admitNode[netip.AddrPort]
	domains []TemplateKey // ID 0
}

type storeDomain struct {
	templates map[uint16]*storeEntry
	exporter  *storeExporter
}

type storeEntry struct {
	t    *Template
	seen time.Time
	// learned is when this layout was first stored under the key: a
	// refresh a second later (confirmAfter) confirms the exporter.
	learned time.Time
}

// confirmAfter is how long after a template was first learned its
// exporter sending it again confirms the exporter: two datagrams, not one
// that repeats a template.
const confirmAfter = time.Second

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
		states:     make(map[TemplateKey]*storedState),
		stateOrder: newAdmitOrder[TemplateKey](cfg.MaxStates),
		cfg:        cfg,
		domains:    make(map[TemplateKey]*storeDomain),
		exporters:  make(map[netip.AddrPort]*storeExporter),
		order:      newAdmitOrder[netip.AddrPort](cfg.MaxExporters),
	}
}

func domainKey(k TemplateKey) TemplateKey {
	k.ID = 0
	return k
}

// Template implements TemplateStore. A template found is evidence that
// its exporter is real (data decoded with a template it sent before): the
// exporter is confirmed (MemoryStoreConfig.MaxExporters).
func (s *MemoryStore) Template(key TemplateKey) (*Template, error) {
	t, _, err := s.lookup(key)
	return t, err
}

// lookup returns key's template and its exporter's entry, and marks the
// use (used).
func (s *MemoryStore) lookup(key TemplateKey) (*Template, *storeExporter, error) {
	s.mu.RLock()
	var e *storeEntry
	var x *storeExporter
	var seen time.Time
	if d := s.domains[domainKey(key)]; d != nil {
		if e = d.templates[key.ID]; e != nil {
			seen = e.seen // read under the lock: Load and AddTemplate write it
			x = d.exporter
		}
	}
	s.mu.RUnlock()
	if e == nil {
		return nil, nil, ErrTemplateNotFound
	}
	if s.cfg.TTL > 0 && s.cfg.Now().Sub(seen) > s.cfg.TTL {
		s.mu.Lock()
		s.gen.Add(1)
		if d := s.domains[domainKey(key)]; d != nil && d.templates[key.ID] == e {
			s.remove(key, d)
			s.stats.Expired++
		}
		s.mu.Unlock()
		return nil, nil, ErrTemplateNotFound
	}
	s.used(x)
	return e.t, x, nil
}

// used records that data used a template of exporter x: it confirms x if
// it is on probation, else marks the use for the CLOCK. The decode path
// calls it on every data set it finds a template for; for a confirmed
// exporter whose use is marked it is one atomic load.
func (s *MemoryStore) used(x *storeExporter) {
	f := x.flags.Load()
	switch {
	case f == admitSteady:
		return
	case f&admitConfirmed != 0:
		x.markUsed()
		return
	}
	s.mu.Lock()
	if s.exporters[x.key] == x {
		s.order.confirm(&x.admitNode)
	}
	s.mu.Unlock()
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
	if d != nil {
		if old := d.templates[key.ID]; old != nil {
			learned := seen
			if old.t.sameLayout(t) {
				s.stats.Refreshed++
				learned = old.learned
				if seen.Sub(learned) >= confirmAfter {
					s.order.confirm(&d.exporter.admitNode)
				}
			} else {
				s.stats.Replaced++
			}
			d.templates[key.ID] = &storeEntry{t: t, seen: seen, learned: learned}
			return nil
		}
	}
	// A new template, maybe of a new domain or exporter.
	x := s.exporters[key.Exporter]
	if s.total >= s.cfg.MaxTemplates || (x == nil && len(s.exporters) >= s.cfg.MaxExporters) {
		s.reclaim(now) // expired templates make room first
		d, x = s.domains[dk], s.exporters[key.Exporter]
	}
	if d == nil {
		switch {
		case x == nil && len(s.exporters) >= s.cfg.MaxExporters && !s.evictExporter(nil):
			s.stats.Rejected++
			return fmt.Errorf("%w: template store holds %d exporters", ErrLimit, len(s.exporters))
		case x != nil && len(x.domains) >= s.cfg.MaxDomainsPerExporter:
			s.stats.Rejected++
			return fmt.Errorf("%w: template store holds %d domains of exporter %v", ErrLimit, len(x.domains), key.Exporter)
		}
		if x == nil {
			x = &storeExporter{}
			s.exporters[key.Exporter] = x
			s.order.admit(&x.admitNode, key.Exporter, 0)
		}
		d = &storeDomain{templates: make(map[uint16]*storeEntry), exporter: x}
		s.domains[dk] = d
		x.domains = append(x.domains, dk)
	}
	s.expireDomain(d, now)
	for s.total >= s.cfg.MaxTemplates && s.evictExporter(&x.admitNode) {
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
	d.templates[key.ID] = &storeEntry{t: t, seen: seen, learned: seen}
	s.total++
	s.stats.Learned++
	return nil
}

// evictExporter drops the exporter longest on probation other than not,
// with its templates, and reports whether there was one. s.mu is held.
func (s *MemoryStore) evictExporter(not *admitNode[netip.AddrPort]) bool {
	v := s.order.victim(not, nil)
	if v == nil {
		return false
	}
	x := s.exporters[v.key]
	for len(x.domains) > 0 {
		dk := x.domains[len(x.domains)-1]
		n := len(s.domains[dk].templates)
		s.total -= n
		s.stats.TemplatesEvictedWithExporters += uint64(n)
		s.dropDomain(dk)
	}
	s.stats.ExportersEvicted++
	return true
}

// confirmExporter confirms exporter, if held (Load of a confirmed one).
func (s *MemoryStore) confirmExporter(exporter netip.AddrPort) {
	s.mu.Lock()
	if x := s.exporters[exporter]; x != nil {
		s.order.confirm(&x.admitNode)
	}
	s.mu.Unlock()
}

// exporterConfirmed reports whether the exporter of key is held and
// confirmed: its options state is then confirmed too. s.mu is held.
func (s *MemoryStore) exporterConfirmed(key TemplateKey) bool {
	x := s.exporters[key.Exporter]
	return x != nil && x.confirmed()
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

// dropDomain forgets a domain, and its exporter if it was the last. s.mu
// is held.
func (s *MemoryStore) dropDomain(dk TemplateKey) {
	d := s.domains[dk]
	delete(s.domains, dk)
	x := d.exporter
	if i := slices.Index(x.domains, dk); i >= 0 {
		x.domains[i] = x.domains[len(x.domains)-1]
		x.domains = x.domains[:len(x.domains)-1]
	}
	if len(x.domains) == 0 && s.exporters[dk.Exporter] == x {
		delete(s.exporters, dk.Exporter)
		s.order.remove(&x.admitNode)
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
	_, st.Confirmed = s.order.len()
	st.ExportersConfirmed, st.ExportersDemoted = s.order.confirms, s.order.demotions
	return st
}
