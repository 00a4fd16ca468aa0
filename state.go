package netflow

import (
	"encoding/hex"
	"net/netip"
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
	// Refused counts entries not kept because of Limits.MaxOptionsEntries.
	Refused uint64
}

// domainState is the mutable options state of one exporter domain.
type domainState struct {
	mu      sync.Mutex
	st      ExporterState
	entries int
	flow    atomic.Pointer[flowState]
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

// stateTable holds the options state of every exporter domain.
type stateTable struct {
	refused atomic.Uint64 // options sets not kept: MaxStateDomains reached
	mu      sync.RWMutex
	limits  Limits
	domains map[TemplateKey]*domainState
}

func newStateTable(l Limits) *stateTable {
	return &stateTable{limits: l, domains: make(map[TemplateKey]*domainState)}
}

func (t *stateTable) domain(key TemplateKey, create bool) *domainState {
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
		if len(t.domains) >= t.limits.MaxStateDomains {
			t.refused.Add(1)
			return nil
		}
		ds = &domainState{}
		t.domains[key] = ds
	}
	return ds
}

// flowState returns the current flow state of a domain, nil if none.
func (t *stateTable) flowState(key TemplateKey) *flowState {
	if ds := t.domain(key, false); ds != nil {
		return ds.flow.Load()
	}
	return nil
}

// learn takes the options records of one set into the domain's state.
func (t *stateTable) learn(key TemplateKey, tmpl *Template, recs []Record) {
	ds := t.domain(key, true)
	if ds == nil {
		return
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	changed := false
	for i := range recs {
		changed = ds.learnRecord(&recs[i], t.limits.MaxOptionsEntries) || changed
	}
	if changed {
		fs := &flowState{samplers: make(map[uint64]uint32, len(ds.st.Samplers)), interval: ds.st.SamplingInterval}
		for k, v := range ds.st.Samplers {
			fs.samplers[k] = v
		}
		if !ds.st.SystemInit.IsZero() {
			fs.systemInit = uint64(ds.st.SystemInit.UnixMilli())
		}
		ds.flow.Store(fs)
	}
}

// learnRecord reads the fields of one options record that this package
// keeps. It reports whether the flow state changed.
func (ds *domainState) learnRecord(r *Record, maxEntries int) bool {
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
		case 48, 302:
			sampler, hasSampler = n, true
		case 34, 50:
			interval = n
		case 35, 49, 304:
			algorithm = n
		case 305:
			pktInterval, hasPktInterval = n, true
		case 306:
			pktSpace = n
		case 309:
			size = n
		case 310:
			population = n
		case 10:
			ifIndex, hasIf = n, true
		case 82:
			ifName, hasIfName = v.Text(), true
		case 83:
			ifDesc, hasIfDesc = v.Text(), true
		case 234:
			vrf, hasVRF = n, true
		case 236:
			vrfName, hasVRFN = v.Text(), true
		case 95:
			appKey = hex.EncodeToString(v.Raw)
		case 96:
			appName, hasApp = v.Text(), true
		case 160:
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
			if _, ok := ds.st.Samplers[sampler]; ok || ds.room(maxEntries) {
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
	if sysInit != 0 && sysInit < 1<<62 {
		ds.st.SystemInit = time.UnixMilli(int64(sysInit)).UTC()
		changed = true
	}
	if hasIf && hasIfName {
		ds.st.InterfaceNames = putName(ds, ds.st.InterfaceNames, uint32(ifIndex), ifName, maxEntries)
	}
	if hasIf && hasIfDesc {
		ds.st.InterfaceDescriptions = putName(ds, ds.st.InterfaceDescriptions, uint32(ifIndex), ifDesc, maxEntries)
	}
	if hasVRF && hasVRFN {
		ds.st.VRFNames = putName(ds, ds.st.VRFNames, uint32(vrf), vrfName, maxEntries)
	}
	if hasApp && appKey != "" {
		if ds.st.ApplicationNames == nil {
			ds.st.ApplicationNames = make(map[string]string)
		}
		if _, ok := ds.st.ApplicationNames[appKey]; ok || ds.room(maxEntries) {
			ds.st.ApplicationNames[appKey] = appName
		}
	}
	return changed
}

// room reports whether one more entry may be kept, and counts it.
func (ds *domainState) room(max int) bool {
	if ds.entries >= max {
		ds.st.Refused++
		return false
	}
	ds.entries++
	return true
}

func putName(ds *domainState, m map[uint32]string, k uint32, v string, max int) map[uint32]string {
	if m == nil {
		m = make(map[uint32]string)
	}
	if _, ok := m[k]; ok || ds.room(max) {
		m[k] = v
	}
	return m
}

// ExporterState returns a copy of what options data told about an exporter
// domain (version 9 or 10, domain = source ID or observation domain ID).
func (d *Decoder) ExporterState(exporter netip.AddrPort, version uint16, domain uint32) (ExporterState, bool) {
	ds := d.state.domain(TemplateKey{Exporter: d.exporterKey(exporter), Version: version, Domain: domain}, false)
	if ds == nil {
		return ExporterState{}, false
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.st.clone(), true
}

// clone returns a copy of st that shares no map with it.
func (st ExporterState) clone() ExporterState {
	st.Samplers = cloneMap(st.Samplers)
	st.SamplerAlgorithms = cloneMap(st.SamplerAlgorithms)
	st.InterfaceNames = cloneMap(st.InterfaceNames)
	st.InterfaceDescriptions = cloneMap(st.InterfaceDescriptions)
	st.VRFNames = cloneMap(st.VRFNames)
	st.ApplicationNames = cloneMap(st.ApplicationNames)
	return st
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// forget drops the options state of every domain of exporter.
func (t *stateTable) forget(exporter netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.domains {
		if k.Exporter == exporter {
			delete(t.domains, k)
		}
	}
}
