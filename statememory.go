package netflow

// The memory of every domain's options state together, against
// Limits.MaxStateMemory.

// stateEntryCost is what an options entry (an interface, VRF or
// application name, a sampler) is charged against Limits.MaxStateMemory
// beside its name's bytes: the most one costs in heap beyond them, with the
// copy a MemoryStore keeps (map slots, string headers; measured 108-120,
// TestOptionsNamesHeapBound).
const stateEntryCost = 160

// charge adds delta bytes to ds's share of the table's memory (ds.mu is
// held). Growth beyond Limits.MaxStateMemory first drops domains on
// probation (other than ds) to make room; without room it is refused and
// charge reports false. Concurrent charges may
// each see room for themselves: the bound holds to within one entry per
// goroutine decoding options data.
func (t *stateTable) charge(ds *domainState, delta int64) bool {
	if delta > 0 && t.memory.Add(delta) > t.maxMemory {
		t.memory.Add(-delta)
		if !t.makeMemoryRoom(ds, delta) {
			t.memoryRefused.Add(1)
			return false
		}
		t.memory.Add(delta)
	} else if delta <= 0 {
		t.memory.Add(delta)
	}
	ds.charged.Add(delta)
	// A domain dropped meanwhile (release) gives back what it was charged:
	// release sets gone before it takes the charge, so one of the two
	// sees the other's write.
	if ds.gone.Load() {
		t.memory.Add(-ds.charged.Swap(0))
	}
	return true
}

// release gives back what a domain dropped from the table was charged.
func (t *stateTable) release(ds *domainState) {
	ds.gone.Store(true)
	t.memory.Add(-ds.charged.Swap(0))
}

// makeMemoryRoom drops domains on probation, the longest there first,
// other than self, until need more bytes fit in Limits.MaxStateMemory. It
// reports whether they do.
func (t *stateTable) makeMemoryRoom(self *domainState, need int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.memory.Load()+need > t.maxMemory {
		v := t.order.victim(&self.admitNode, nil)
		if v == nil {
			return false
		}
		t.drop(t.domains[v.key])
		t.memoryEvicted.Add(1)
	}
	return true
}

// drop removes ds from the table. t.mu is held.
func (t *stateTable) drop(ds *domainState) {
	t.order.remove(&ds.admitNode)
	delete(t.domains, ds.key)
	t.gen.Add(1)
	t.release(ds)
}

// stateCharge is what entries with names of bytes bytes are charged
// against Limits.MaxStateMemory.
func stateCharge(entries, bytes int) int64 {
	return int64(bytes) + int64(entries)*stateEntryCost
}

// weight is the charge of a domain's entries and names.
func (ds *domainState) weight() int64 { return stateCharge(ds.entries, ds.bytes) }

// size returns st's entries (counted against Limits.MaxOptionsEntries)
// and the bytes of its names (against Limits.MaxStateBytes).
func (st *ExporterState) size() (entries, bytes int) {
	entries = len(st.Samplers) + len(st.InterfaceNames) + len(st.InterfaceDescriptions) +
		len(st.VRFNames) + len(st.ApplicationNames)
	for _, m := range []map[uint32]string{st.InterfaceNames, st.InterfaceDescriptions, st.VRFNames} {
		for _, v := range m {
			bytes += len(v)
		}
	}
	for k, v := range st.ApplicationNames {
		bytes += len(k) + len(v)
	}
	return entries, bytes
}

// memory is what st is charged against Limits.MaxStateMemory and
// MemoryStoreConfig.MaxStateMemory.
func (st *ExporterState) memory() int64 { return stateCharge(st.size()) }
