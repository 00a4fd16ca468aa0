package templatetest

// Checks of netflow.StateStore.

import (
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

func needsState(s netflow.TemplateStore) string {
	if _, ok := s.(netflow.StateStore); !ok {
		return "netflow.StateStore"
	}
	return ""
}

// sampleState returns an ExporterState with every field set; n makes
// states of different n differ in every field.
func sampleState(n int) netflow.ExporterState {
	u := uint32(n)
	return netflow.ExporterState{
		Samplers:              map[uint64]uint32{1: 100 + u, 2: 1000 + u, 1<<64 - 1: 7 + u},
		SamplerAlgorithms:     map[uint64]uint8{1: 1, 2: uint8(2 + n%200)},
		SamplingInterval:      10 + u,
		SamplingAlgorithm:     uint8(1 + n%2),
		SystemInit:            time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC).Add(time.Duration(n) * time.Hour),
		InterfaceNames:        map[uint32]string{1: fmt.Sprintf("ge-0/0/%d", n), 1<<32 - 1: "lo0"},
		InterfaceDescriptions: map[uint32]string{1: "uplink \"quoted\" \u00e9", 3: ""},
		VRFNames:              map[uint32]string{0: "default", 5: fmt.Sprintf("vrf-%d", n)},
		ApplicationNames:      map[string]string{"0d000050": "http", fmt.Sprintf("%08x", n): "app"},
		Refused:               uint64(n) + 3,
	}
}

// stateDiff says how got differs from want ("" if it does not). An empty
// map and a nil map are the same state.
func stateDiff(got, want netflow.ExporterState) string {
	var diffs []string
	mapDiff := func(name string, eq bool, g, w any) {
		if !eq {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	mapDiff("Samplers", maps.Equal(got.Samplers, want.Samplers), got.Samplers, want.Samplers)
	mapDiff("SamplerAlgorithms", maps.Equal(got.SamplerAlgorithms, want.SamplerAlgorithms), got.SamplerAlgorithms, want.SamplerAlgorithms)
	mapDiff("InterfaceNames", maps.Equal(got.InterfaceNames, want.InterfaceNames), got.InterfaceNames, want.InterfaceNames)
	mapDiff("InterfaceDescriptions", maps.Equal(got.InterfaceDescriptions, want.InterfaceDescriptions), got.InterfaceDescriptions, want.InterfaceDescriptions)
	mapDiff("VRFNames", maps.Equal(got.VRFNames, want.VRFNames), got.VRFNames, want.VRFNames)
	mapDiff("ApplicationNames", maps.Equal(got.ApplicationNames, want.ApplicationNames), got.ApplicationNames, want.ApplicationNames)
	mapDiff("SamplingInterval", got.SamplingInterval == want.SamplingInterval, got.SamplingInterval, want.SamplingInterval)
	mapDiff("SamplingAlgorithm", got.SamplingAlgorithm == want.SamplingAlgorithm, got.SamplingAlgorithm, want.SamplingAlgorithm)
	mapDiff("SystemInit", got.SystemInit.Equal(want.SystemInit), got.SystemInit, want.SystemInit)
	mapDiff("Refused", got.Refused == want.Refused, got.Refused, want.Refused)
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}

func setState(t testing.TB, s netflow.StateStore, key netflow.TemplateKey, st netflow.ExporterState) {
	t.Helper()
	if err := s.SetExporterState(key, st); err != nil {
		t.Fatalf("SetExporterState(%v): %v", key, err)
	}
}

// wantState checks that key's domain holds want. why says what the check
// is about.
func wantState(t testing.TB, s netflow.StateStore, key netflow.TemplateKey, want netflow.ExporterState, why string) {
	t.Helper()
	got, ok, err := s.ExporterState(key)
	switch {
	case err != nil:
		t.Fatalf("ExporterState(%v): %v (%s)", key, err, why)
	case !ok:
		t.Fatalf("ExporterState(%v): ok=false, want the state set (%s)", key, why)
	}
	if d := stateDiff(got, want); d != "" {
		t.Fatalf("ExporterState(%v): %s (%s)", key, d, why)
	}
}

func wantNoState(t testing.TB, s netflow.StateStore, key netflow.TemplateKey, why string) {
	t.Helper()
	got, ok, err := s.ExporterState(key)
	switch {
	case err != nil:
		t.Fatalf("ExporterState(%v): %v, want ok=false and no error (%s)", key, err, why)
	case ok:
		t.Fatalf("ExporterState(%v) = %+v, ok=true; want ok=false (%s)", key, got, why)
	}
}

func testStateMissing(t testing.TB, ts netflow.TemplateStore) {
	s := ts.(netflow.StateStore)
	wantNoState(t, s, baseKey, "a new store")
	// A template is not state.
	add(t, ts, baseKey, newTemplate(t, 10, 256, false, 0))
	wantNoState(t, s, baseKey, "a domain with a template and no state")
	k := baseKey
	k.Domain = 2
	setState(t, s, k, sampleState(1))
	wantNoState(t, s, baseKey, "state set for another domain")
}

func testStateSetGet(t testing.TB, ts netflow.TemplateStore) {
	s := ts.(netflow.StateStore)
	st := sampleState(1)
	k := baseKey
	k.ID = 300 // ignored
	setState(t, s, k, st)
	wantState(t, s, k, sampleState(1), "as set")
	for _, id := range []uint16{0, 256, 65535} {
		k.ID = id
		wantState(t, s, k, sampleState(1), fmt.Sprintf("read with key.ID %d: the ID is ignored", id))
	}
	// Set again, under another ID of the same domain: it replaces the
	// state whole (maps are not merged).
	k.ID = 7
	next := netflow.ExporterState{Samplers: map[uint64]uint32{9: 90}, SamplingInterval: 3}
	setState(t, s, k, next)
	wantState(t, s, baseKey, netflow.ExporterState{Samplers: map[uint64]uint32{9: 90}, SamplingInterval: 3}, "replaced by a second SetExporterState")
	// The zero state is a state: ok stays true.
	setState(t, s, baseKey, netflow.ExporterState{})
	wantState(t, s, baseKey, netflow.ExporterState{}, "the zero state set")
	// Empty maps and strings at their extremes survive too.
	big := sampleState(2)
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte('a' + i%26)
	}
	big.InterfaceNames[42] = string(long)
	big.Samplers = map[uint64]uint32{}
	setState(t, s, baseKey, big)
	want := sampleState(2)
	want.InterfaceNames[42] = string(long)
	want.Samplers = nil
	wantState(t, s, baseKey, want, "a long name, an empty map")
}

// testStateCopies checks that the store keeps its own copy: the maps of
// the state given to SetExporterState, and of the states ExporterState
// returns, belong to the caller.
func testStateCopies(t testing.TB, ts netflow.TemplateStore) {
	s := ts.(netflow.StateStore)
	st := sampleState(1)
	setState(t, s, baseKey, st)
	st.Samplers[1] = 1
	st.SamplerAlgorithms[1] = 9
	st.InterfaceNames[1] = "changed"
	st.InterfaceDescriptions[99] = "added"
	st.VRFNames[5] = "changed"
	st.ApplicationNames["0d000050"] = "changed"
	wantState(t, s, baseKey, sampleState(1), "after the caller changed the maps it passed to SetExporterState")

	got, _, err := s.ExporterState(baseKey)
	if err != nil {
		t.Fatalf("ExporterState: %v", err)
	}
	for _, m := range []map[uint32]string{got.InterfaceNames, got.InterfaceDescriptions, got.VRFNames} {
		if m != nil {
			m[1] = "scribbled"
		}
	}
	if got.Samplers != nil {
		got.Samplers[2] = 2
	}
	if got.SamplerAlgorithms != nil {
		got.SamplerAlgorithms[2] = 2
	}
	if got.ApplicationNames != nil {
		got.ApplicationNames["x"] = "y"
	}
	wantState(t, s, baseKey, sampleState(1), "after the caller changed the maps ExporterState returned")
}

func testStateKeyIsolation(t testing.TB, ts netflow.TemplateStore) {
	s := ts.(netflow.StateStore)
	setState(t, s, baseKey, sampleState(0))
	var variants []keyVariant
	for _, v := range keyVariants() {
		if v.name != "template ID" { // the ID is not part of a domain key
			variants = append(variants, v)
		}
	}
	for i, v := range variants {
		wantNoState(t, s, v.key, "no state set for a key that differs from another in its "+v.name)
		setState(t, s, v.key, sampleState(i+1))
		wantState(t, s, v.key, sampleState(i+1), "the key differs from another in its "+v.name)
		wantState(t, s, baseKey, sampleState(0), "after setting the state of a key that differs only in its "+v.name)
	}
	for i, v := range variants {
		wantState(t, s, v.key, sampleState(i+1), "the key differs from another in its "+v.name)
	}
	// IPv4 and its IPv4-mapped IPv6 form are different exporters to
	// netip, so to the store.
	mapped := baseKey
	mapped.Exporter = netip.AddrPortFrom(netip.AddrFrom16(baseKey.Exporter.Addr().As16()), baseKey.Exporter.Port())
	wantNoState(t, s, mapped, "the IPv4-mapped IPv6 form of an exporter with state")
}

// testStateConcurrent has goroutines set and read the state of two
// domains. Every state read must be one that was set.
func testStateConcurrent(t testing.TB, ts netflow.TemplateStore) {
	s := ts.(netflow.StateStore)
	const workers, iterations = 6, 100
	keys := []netflow.TemplateKey{baseKey, {Exporter: baseKey.Exporter, Version: 9, Domain: 1}}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				k := keys[(w+i)%2]
				if (w+i)%3 == 0 {
					if err := s.SetExporterState(k, sampleState((w+i)%2)); err != nil {
						t.Errorf("SetExporterState(%v): %v", k, err)
						return
					}
					continue
				}
				got, ok, err := s.ExporterState(k)
				if err != nil {
					t.Errorf("ExporterState(%v): %v", k, err)
					return
				}
				if ok && stateDiff(got, sampleState(0)) != "" && stateDiff(got, sampleState(1)) != "" {
					t.Errorf("ExporterState(%v) = %+v, a state never set", k, got)
					return
				}
				if ok && got.Samplers != nil {
					got.Samplers[0] = 0 // the caller's own map
				}
			}
		}()
	}
	wg.Wait()
}
