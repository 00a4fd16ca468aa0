package netflow

import (
	"encoding/hex"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ExporterState is what options data told about one exporter domain: the
// latest value per scope.
type ExporterState struct {
	// Samplers maps a sampler (v9 FLOW_SAMPLER_ID 48, IPFIX selectorId 302)
	// to its 1-in-N packet interval.
	Samplers map[uint64]uint32
	// SamplerAlgorithms maps a sampler to its algorithm as the exporter
	// sent it: v9 SAMPLING_ALGORITHM (35) or FLOW_SAMPLER_MODE (49), 1
	// deterministic and 2 random; or IPFIX selectorAlgorithm (304, IANA's
	// sub-registry: 1 systematic count-based, 3 random n-out-of-N, ...).
	SamplerAlgorithms map[uint64]uint8
	// SamplingInterval is the exporter-wide interval, from options data
	// without a sampler ID, and SamplingAlgorithm its algorithm.
	SamplingInterval  uint32
	SamplingAlgorithm uint8
	// SystemInit is the exporter's boot time (IPFIX
	// systemInitTimeMilliseconds), zero if not sent.
	SystemInit time.Time
	// InterfaceNames and InterfaceDescriptions map interface indexes to
	// IF_NAME (82) and IF_DESC (83).
	InterfaceNames        map[uint32]string
	InterfaceDescriptions map[uint32]string
	// VRFNames maps VRF IDs (234) to names (236).
	VRFNames map[uint32]string
	// ApplicationNames maps application IDs (95, as hex of the raw bytes)
	// to names (96).
	ApplicationNames map[string]string
	// Refused counts entries not kept because of Limits.MaxOptionsEntries
	// or Limits.MaxStateBytes, and Truncated the names cut to
	// Limits.MaxNameBytes.
	Refused   uint64
	Truncated uint64
}

// domainState is the mutable options state of one exporter domain.
type domainState struct {
	// admitNode is the domain's place in the table's eviction order: it
	// is confirmed when a second datagram uses it (admit.go).
	admitNode[TemplateKey]
	mu         sync.Mutex
	st         ExporterState
	known      bool // st holds what options data (here or elsewhere) told
	entries    int  // names and samplers kept, against MaxOptionsEntries
	bytes      int  // bytes of names kept, against MaxStateBytes
	flow       atomic.Pointer[flowState]
	used       atomic.Int64  // unix seconds of the last datagram or options data
	ticks      atomic.Uint32 // flowState calls, for stateClockEvery
	lastExport atomic.Uint32 // export time (seconds) of the last datagram
	// loaded is when the state was last read from the StateStore (unix
	// nanoseconds, 0: never), and stale is set when the store announced a
	// change: the next use reads it again.
	loaded atomic.Int64
	stale  atomic.Bool
	// table is the table ds is (or was) in; charged is what ds's
	// entries and names are charged against Limits.MaxStateMemory, gone
	// set once ds is dropped from it (statememory.go).
	table   *stateTable
	charged atomic.Int64
	gone    atomic.Bool
}

// domainCache remembers the domain state of the last datagram a Buffer
// decoded, or that it had none, so that the next datagram of that domain
// (from a busy exporter, most) takes neither the table's lock nor a hash of
// its key, while the table's generation stays (as templateCache does with
// the store's).
type domainCache struct {
	table *stateTable
	gen   uint64 // table.gen before the look-up
	key   TemplateKey
	ds    *domainState // nil: the table had none
}

// flowState is the immutable part of a domain's state that flows use:
// replaced whole when options data changes it.
type flowState struct {
	samplers   map[uint64]uint32
	interval   uint32
	systemInit uint64 // ms since 1970
}

// samplingInterval returns the interval for a flow with sampler ID id (if
// hasID), else the exporter-wide one.
func (s *flowState) samplingInterval(id uint64, hasID bool) uint32 {
	if hasID {
		if iv, ok := s.samplers[id]; ok {
			return iv
		}
	}
	return s.interval
}

// stateRefresh is how often a domain's options state is read again from a
// StateStore that does not announce changes (and, for a domain without
// state, how often the store is asked whether another instance has some).
const stateRefresh = 5 * time.Second

// stateTable holds the options state of every exporter domain: the state
// itself or, with a StateStore, a cache of the store's.
type stateTable struct {
	refused   atomic.Uint64 // options sets not kept: MaxStateDomains reached
	reclaimed atomic.Uint64 // idle domains dropped
	evicted   atomic.Uint64 // domains on probation dropped for a new one
	failures  atomic.Uint64 // StateStore errors
	mu        sync.RWMutex
	limits    Limits
	store     StateStore // nil: the table is the state
	announces bool       // the store announces changes: no periodic re-read
	now       func() time.Time
	domains   map[TemplateKey]*domainState
	order     admitOrder[TemplateKey] // of domains (admit.go)
	gen       atomic.Uint64           // changes with every domain made or dropped (domainCache)
	nextScan  time.Time               // earliest next idle scan at the limit
	// memory is what every domain's entries and names are charged
	// against maxMemory (Limits.MaxStateMemory; statememory.go);
	// memoryEvicted counts domains on probation dropped to make room,
	// memoryRefused the entries refused for want of it.
	memory        atomic.Int64
	maxMemory     int64
	memoryEvicted atomic.Uint64
	memoryRefused atomic.Uint64
}

func newStateTable(l Limits, store StateStore, announces bool, now func() time.Time) *stateTable {
	return &stateTable{
		limits: l, store: store, announces: announces, now: now,
		domains:   make(map[TemplateKey]*domainState),
		order:     newAdmitOrder[TemplateKey](l.MaxStateDomains),
		maxMemory: int64(l.MaxStateMemory),
	}
}

// domain returns the state of key's domain, made if create (nil at the
// limit, counted as refused). datagram is the ID of the datagram asking
// (datagramSerial; 0 if none), for the domain's confirmation.
func (t *stateTable) domain(key TemplateKey, create bool, datagram uint64) *domainState {
	return t.domainFor(key, create, true, datagram)
}

func (t *stateTable) domainFor(key TemplateKey, create, countRefusal bool, datagram uint64) *domainState {
	key = domainKey(key)
	t.mu.RLock()
	ds := t.domains[key]
	t.mu.RUnlock()
	if ds != nil || !create {
		return ds
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ds = t.domains[key]; ds == nil {
		// At the limit, idle domains make room, or else the one longest
		// on probation (seen in one datagram only).
		if len(t.domains) >= t.limits.MaxStateDomains && !t.reclaimIdle() && !t.evict() {
			if countRefusal {
				t.refused.Add(1)
			}
			return nil
		}
		ds = &domainState{table: t}
		ds.used.Store(t.now().Unix())
		t.domains[key] = ds
		t.order.admit(&ds.admitNode, key, datagram)
		t.gen.Add(1)
	}
	return ds
}

// evict drops the domain longest on probation and reports whether there
// was one. t.mu is held.
func (t *stateTable) evict() bool {
	v := t.order.victim(nil, nil)
	if v == nil {
		return false
	}
	t.drop(t.domains[v.key])
	t.evicted.Add(1)
	return true
}

// use records that datagram used ds: a second datagram confirms a domain
// on probation; a confirmed domain's use is marked for the CLOCK.
func (t *stateTable) use(ds *domainState, datagram uint64) {
	if ds.confirmed() {
		ds.markUsed()
		return
	}
	if datagram == 0 || datagram == ds.first {
		return
	}
	t.mu.Lock()
	if t.domains[ds.key] == ds {
		t.order.confirm(&ds.admitNode)
	}
	t.mu.Unlock()
}

// reclaimIdle drops domains idle for StateIdle, at most once a second (a
// flood at the limit must not make every datagram scan the table). It
// reports whether there is room. t.mu is held.
func (t *stateTable) reclaimIdle() bool {
	now := t.now()
	if now.Before(t.nextScan) {
		return false
	}
	t.nextScan = now.Add(time.Second)
	t.dropIdle(now)
	return len(t.domains) < t.limits.MaxStateDomains
}

// dropIdle drops the domains idle for StateIdle. t.mu is held.
func (t *stateTable) dropIdle(now time.Time) {
	cutoff := now.Add(-t.limits.StateIdle).Unix()
	for _, ds := range t.domains {
		if ds.used.Load() < cutoff {
			t.drop(ds)
			t.reclaimed.Add(1)
		}
	}
}

// sweep drops idle domains.
func (t *stateTable) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropIdle(t.now())
}

// flowState returns the current flow state of a domain, nil if none, and
// marks the domain used by datagram. With a StateStore it reads the
// store's state when the domain has none cached, when the store announced
// a change, or (for a store that does not announce) every stateRefresh.
func (t *stateTable) flowState(key TemplateKey, exportSecs uint32, c *domainCache, datagram uint64) *flowState {
	ds := c.ds
	if gen := t.gen.Load(); c.table != t || c.gen != gen || c.key != key {
		ds = t.domainFor(key, t.store != nil, false, datagram)
		*c = domainCache{table: t, gen: gen, key: key, ds: ds}
	}
	if ds == nil {
		return nil
	}
	if ds.flags.Load() != admitSteady {
		t.use(ds, datagram)
	}
	// The clock is read when the exporter's export time moved on (at most
	// once per exporter second: a busy exporter's datagrams mostly cost no
	// clock reading, a quiet one's each read it, so that its use is known),
	// every stateClockEvery datagrams, and whenever the store's state must
	// be read.
	if t.store != nil && (ds.loaded.Load() == 0 || ds.stale.Load()) {
		now := t.now()
		ds.used.Store(now.Unix())
		t.load(key, ds, now)
	} else if ds.exportMoved(exportSecs) || ds.ticks.Add(1)%stateClockEvery == 0 {
		now := t.now()
		ds.used.Store(now.Unix())
		if t.store != nil && t.due(ds, now) {
			t.load(key, ds, now)
		}
	}
	return ds.flow.Load()
}

// exportMoved records a datagram's export time and reports whether it
// differs from the last one's; it writes (a locked operation) only then.
func (ds *domainState) exportMoved(exportSecs uint32) bool {
	if ds.lastExport.Load() == exportSecs {
		return false
	}
	return ds.lastExport.Swap(exportSecs) != exportSecs
}

// stateClockEvery is how many datagrams of a domain share one reading of
// the clock in flowState.
const stateClockEvery = 64

// due reports whether ds should be read from the store again.
func (t *stateTable) due(ds *domainState, now time.Time) bool {
	loaded := ds.loaded.Load()
	switch {
	case loaded == 0, ds.stale.Load():
		return true
	case t.announces:
		return false
	}
	return now.UnixNano()-loaded > int64(stateRefresh)
}

// load replaces ds's state by the store's, if the store holds one.
func (t *stateTable) load(key TemplateKey, ds *domainState, now time.Time) {
	ds.stale.Store(false)
	ds.loaded.Store(now.UnixNano())
	st, ok, err := t.store.ExporterState(domainKey(key))
	if err != nil {
		t.failures.Add(1)
		return
	}
	if !ok {
		return
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	// The store's state is charged against Limits.MaxStateMemory as
	// options data is: without room, the domain keeps what it had.
	entries, bytes := st.size()
	if !t.charge(ds, stateCharge(entries, bytes)-ds.weight()) {
		return
	}
	ds.st, ds.known = st, true
	ds.entries, ds.bytes = entries, bytes
	ds.publish()
}

// invalidate marks a domain's cached state stale (the store announced a
// change).
func (t *stateTable) invalidate(key TemplateKey) {
	if ds := t.domain(key, false, 0); ds != nil {
		ds.stale.Store(true)
	}
}

// learn takes the options records of one set of datagram into the
// domain's state and, with a StateStore, writes the result through to the
// store.
func (t *stateTable) learn(key TemplateKey, tmpl *Template, recs []Record, datagram uint64) error {
	ds := t.domain(key, true, datagram)
	if ds == nil {
		return nil
	}
	t.use(ds, datagram)
	if t.store != nil && t.due(ds, t.now()) {
		// Merge into what other instances learned, not over it.
		t.load(key, ds, t.now())
	}
	ds.used.Store(t.now().Unix())
	ds.mu.Lock()
	defer ds.mu.Unlock()
	changed := false
	now := t.now()
	for i := range recs {
		changed = ds.learnRecord(&recs[i], &t.limits, now) || changed
	}
	ds.known = true
	if changed {
		ds.publish()
	}
	if t.store != nil {
		if err := t.store.SetExporterState(domainKey(key), ds.st); err != nil {
			t.failures.Add(1)
			return storeErr(err)
		}
	}
	return nil
}

// publish makes the flow state of ds.st current. ds.mu is held.
func (ds *domainState) publish() {
	fs := &flowState{samplers: maps.Clone(ds.st.Samplers), interval: ds.st.SamplingInterval}
	if !ds.st.SystemInit.IsZero() {
		fs.systemInit = uint64(ds.st.SystemInit.UnixMilli())
	}
	ds.flow.Store(fs)
}

// exporterState returns a copy of a domain's state.
func (t *stateTable) exporterState(key TemplateKey) (ExporterState, bool) {
	ds := t.domain(key, false, 0)
	if ds == nil && t.store != nil {
		st, ok, err := t.store.ExporterState(domainKey(key))
		if err != nil {
			t.failures.Add(1)
		}
		return st, ok && err == nil
	}
	if ds == nil {
		return ExporterState{}, false
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.st.clone(), ds.known
}

// stats adds the table's counters to s.
func (t *stateTable) stats(s *Stats) {
	s.StateDomainsRefused = t.refused.Load()
	s.StateDomainsReclaimed = t.reclaimed.Load()
	s.StateDomainsEvicted = t.evicted.Load()
	s.StateStoreFailures = t.failures.Load()
	s.StateMemory = t.memory.Load()
	s.StateMemoryEvicted = t.memoryEvicted.Load()
	s.StateMemoryRefused = t.memoryRefused.Load()
	t.mu.RLock()
	s.StateDomains = len(t.domains)
	_, s.StateDomainsConfirmed = t.order.len()
	t.mu.RUnlock()
}

// learnRecord reads the fields of one options record that this package
// keeps. It reports whether the flow state changed. A system init time
// after now is not kept: a state file holding one would not load again
// (Load refuses it), and one beyond the year 9999 could not even be saved.
func (ds *domainState) learnRecord(r *Record, l *Limits, now time.Time) bool {
	var (
		sampler, ifIndex, vrf           uint64
		hasSampler, hasIf, hasVRF       bool
		interval                        uint64
		algorithm                       uint64
		pktInterval, pktSpace           uint64
		hasPktInterval                  bool
		size, population                uint64
		ifName, ifDesc, vrfName, appKey string
		appName                         string
		hasIfName, hasIfDesc, hasVRFN   bool
		hasApp                          bool
		sysInit                         uint64
	)
	i := -1
	for v := range r.All() {
		i++
		id := v.Field.ID
		if v.Field.PEN != 0 {
			continue
		}
		if !r.Template.dialect.isElement(i, r.Template.ScopeCount) {
			if id == v9ScopeInterface {
				ifIndex, hasIf = v.Uint()
			}
			continue
		}
		n, _ := v.Uint()
		switch id {
		case ieSamplerId, ieSelectorId:
			sampler, hasSampler = n, true
		case ieSamplingInterval, ieSamplerRandomInterval:
			interval = n
		case ieSamplingAlgorithm, ieSamplerMode, ieSelectorAlgorithm:
			algorithm = n
		case ieSamplingPacketInterval:
			pktInterval, hasPktInterval = n, true
		case ieSamplingPacketSpace:
			pktSpace = n
		case ieSamplingSize:
			size = n
		case ieSamplingPopulation:
			population = n
		case ieIngressInterface:
			ifIndex, hasIf = n, true
		case ieInterfaceName:
			ifName, hasIfName = v.Text(), true
		case ieInterfaceDescription:
			ifDesc, hasIfDesc = v.Text(), true
		case ieIngressVRFID:
			vrf, hasVRF = n, true
		case ieVRFname:
			vrfName, hasVRFN = v.Text(), true
		case ieApplicationId:
			appKey = hex.EncodeToString(v.Raw)
		case ieApplicationName:
			appName, hasApp = v.Text(), true
		case ieSystemInitTimeMilliseconds:
			sysInit = n
		}
	}
	if interval == 0 && hasPktInterval && pktInterval > 0 {
		interval = (pktInterval + pktSpace) / pktInterval
	}
	if interval == 0 && size > 0 && population > 0 {
		interval = population / size
	}
	changed := false
	if interval > 0 && interval <= 1<<32-1 {
		if hasSampler {
			if ds.st.Samplers == nil {
				ds.st.Samplers = make(map[uint64]uint32)
			}
			if _, ok := ds.st.Samplers[sampler]; ok || ds.room(0, l) {
				ds.st.Samplers[sampler] = uint32(interval)
				if algorithm != 0 {
					if ds.st.SamplerAlgorithms == nil {
						ds.st.SamplerAlgorithms = make(map[uint64]uint8)
					}
					ds.st.SamplerAlgorithms[sampler] = uint8(algorithm)
				}
			}
		} else {
			ds.st.SamplingInterval = uint32(interval)
			ds.st.SamplingAlgorithm = uint8(algorithm)
		}
		changed = true
	}
	if sysInit != 0 && sysInit <= uint64(now.UnixMilli()) {
		ds.st.SystemInit = time.UnixMilli(int64(sysInit)).UTC()
		changed = true
	}
	if hasIf && hasIfName {
		ds.st.InterfaceNames = putName(ds, ds.st.InterfaceNames, uint32(ifIndex), ifName, l)
	}
	if hasIf && hasIfDesc {
		ds.st.InterfaceDescriptions = putName(ds, ds.st.InterfaceDescriptions, uint32(ifIndex), ifDesc, l)
	}
	if hasVRF && hasVRFN {
		ds.st.VRFNames = putName(ds, ds.st.VRFNames, uint32(vrf), vrfName, l)
	}
	if hasApp && appKey != "" && len(appKey) <= 2*l.MaxNameBytes {
		ds.st.ApplicationNames = putName(ds, ds.st.ApplicationNames, appKey, appName, l)
	}
	return changed
}

// room reports whether one more entry of n bytes may be kept, and counts
// it.
func (ds *domainState) room(n int, l *Limits) bool {
	if ds.entries >= l.MaxOptionsEntries || ds.bytes+n > l.MaxStateBytes ||
		!ds.table.charge(ds, stateCharge(1, n)) {
		ds.st.Refused++
		return false
	}
	ds.entries++
	ds.bytes += n
	return true
}

// putName keeps m[k] = v, v cut to MaxNameBytes, within the domain's
// bounds. A cut name is copied: a substring would keep the whole value
// alive, and the bound hold in the bytes counted but not in memory.
func putName[K comparable](ds *domainState, m map[K]string, k K, v string, l *Limits) map[K]string {
	if len(v) > l.MaxNameBytes {
		v = strings.Clone(v[:l.MaxNameBytes])
		ds.st.Truncated++
	}
	if m == nil {
		m = make(map[K]string)
	}
	if old, ok := m[k]; ok {
		if ds.bytes-len(old)+len(v) > l.MaxStateBytes || !ds.table.charge(ds, int64(len(v)-len(old))) {
			ds.st.Refused++
			return m
		}
		ds.bytes += len(v) - len(old)
		m[k] = v
		return m
	}
	if ds.room(len(v), l) {
		m[k] = v
	}
	return m
}

// clone returns a copy of st that shares no map with it.
func (st ExporterState) clone() ExporterState {
	st.Samplers = maps.Clone(st.Samplers)
	st.SamplerAlgorithms = maps.Clone(st.SamplerAlgorithms)
	st.InterfaceNames = maps.Clone(st.InterfaceNames)
	st.InterfaceDescriptions = maps.Clone(st.InterfaceDescriptions)
	st.VRFNames = maps.Clone(st.VRFNames)
	st.ApplicationNames = maps.Clone(st.ApplicationNames)
	return st
}

// forget drops the options state of every domain of exporter.
func (t *stateTable) forget(exporter netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, ds := range t.domains {
		if k.Exporter == exporter {
			t.drop(ds)
		}
	}
}
