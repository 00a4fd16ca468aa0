package netflow

// Issue 20 item 2: every bound stated in bytes holds in heap bytes, read
// from runtime.MemStats after a full collection (floodHeap): the options
// names (MaxNameBytes, MaxStateBytes), the pending buffer (MaxBytes,
// MaxBytesPerExporter), the store's templates (MemoryStoreConfig.MaxTemplates'
// cost per template) and a state file's options state (Load).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// heapSince returns the growth of the live heap since before (floodHeap),
// 0 if it shrank.
func heapSince(before uint64) uint64 {
	after := floodHeap()
	return after - min(before, after)
}

// optionsNames returns an IPFIX options message of domain 1 naming
// interface i with name.
func optionsNames(i int, name string) []byte {
	tmpl := set(3, ipfixOptionsTemplate(300, 1, tmplField{10, 4, 0}, tmplField{82, VariableLength, 0}), false)
	rec := append(uintBytes(uint64(i), 4), 255, byte(len(name)>>8), byte(len(name)))
	return ipfixMessage(1, uint32(i), tmpl, set(300, append(rec, name...), false))
}

// TestOptionsNamesHeapBound is the repro: 4,096 interface names of
// 65,000 bytes each, cut to MaxNameBytes (256). The names kept must hold
// MaxStateBytes (1 MiB) of heap, plus stateEntryCost per entry, not the
// whole values they were cut from (256 MiB on main before this change: a
// cut name was a substring of the value). A second domain with names
// within MaxNameBytes costs the same. Without NETFLOW_SOAK=1 the bounds
// are a quarter of the defaults: 1,024 names, 256 KiB.
func TestOptionsNamesHeapBound(t *testing.T) {
	var l Limits
	if !testkit.Soak() {
		l = Limits{MaxOptionsEntries: 1024, MaxStateBytes: 256 << 10}
	}
	l.setDefaults()
	bound := uint64(l.MaxStateBytes + l.MaxOptionsEntries*stateEntryCost)
	for _, size := range []int{65000, 256} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			before := floodHeap()
			d := NewDecoder(Config{Limits: l}) // with a MemoryStore, which keeps a copy
			name := strings.Repeat("n", size)
			for i := range l.MaxOptionsEntries {
				_, err := d.Decode(spoofed(1), optionsNames(i, name))
				require.NoError(t, err)
			}
			heap := heapSince(before)
			runtime.KeepAlive(d)
			st, ok := d.ExporterState(spoofed(1), 10, 1)
			require.True(t, ok)
			require.Len(t, st.InterfaceNames, l.MaxOptionsEntries)
			t.Logf("%d names of %d bytes: heap %d bytes (bound %d: MaxStateBytes %d + %d entries x %d)",
				len(st.InterfaceNames), size, heap, bound, l.MaxStateBytes, l.MaxOptionsEntries, stateEntryCost)
			require.LessOrEqual(t, heap, bound)
		})
	}
}

// TestPendingHeapBound: the pending buffer filled to MaxBytes (8 MiB
// here) holds at most that much heap, whatever the sets: tiny ones (the
// bookkeeping is what costs), bodies just over a size class or over 32 KiB
// (the allocator rounds those up by up to 8 KiB), one set per exporter
// (exporters on probation, evicted for newcomers) or more. After the template of most held sets came, what is left
// holds no more heap than PendingStats.Bytes says. On main before this
// change tiny sets cost 1.8 times what MaxBytes allowed.
func TestPendingHeapBound(t *testing.T) {
	const maxBytes = 8 << 20
	for _, c := range []struct {
		body, sets int // body bytes, sets per exporter (one per datagram)
	}{
		{0, 1}, {1, 1}, {1, 3}, {33, 2}, {1025, 5}, {32769, 1}, {4000, 200},
	} {
		t.Run(fmt.Sprintf("body %d sets %d", c.body, c.sets), func(t *testing.T) {
			lim := PendingLimits{MaxBytes: maxBytes, MaxExporters: 1 << 20, MaxSetsPerExporter: 1 << 20, MaxBytesPerExporter: maxBytes, MaxAge: time.Hour}
			before := floodHeap()
			d := NewDecoder(Config{Pending: lim, DisableSequenceTracking: true})
			var buf Buffer
			msg := v9Packet(0, 0, set(1000, make([]byte, c.body), false))
			// Twice what fits: exporters on probation (one set) make room
			// for others, confirmed ones (more sets) are refused.
			for i := range 2 * maxBytes / (c.body + pendingSetOverhead) {
				_, err := d.DecodeInto(&buf, floodAddr(i/c.sets), msg)
				floodOnlyLimit(t, err)
			}
			st := d.Stats().Pending
			heap := heapSince(before)
			t.Logf("%d sets held, %d bytes counted: heap %d (MaxBytes %d)", st.Held, st.Bytes, heap, maxBytes)
			require.Greater(t, st.Bytes, maxBytes-(40<<10), "the buffer is full")
			require.LessOrEqual(t, heap, uint64(maxBytes))

			// The template of the first exporters' sets comes: the rest of
			// what is held must hold in what is counted (beside the
			// templates now stored).
			senders := 3 * max(1, 200/c.sets)
			for i := range senders {
				_, err := d.DecodeInto(&buf, floodAddr(i), v9Packet(0, 0, set(0, templateRecord(1000, tmplField{1, 1, 0}), false)))
				require.NoError(t, err)
			}
			st = d.Stats().Pending
			heap = heapSince(before)
			runtime.KeepAlive(d)
			t.Logf("after some templates: %d sets held, %d bytes counted: heap %d", st.Held, st.Bytes, heap)
			require.LessOrEqual(t, heap, uint64(st.Bytes)+uint64(senders)*templateHeapBound(1)+64<<10)
		})
	}
	t.Run("expired sets release their bodies", func(t *testing.T) {
		clock := newTestClock()
		lim := PendingLimits{MaxBytes: maxBytes, MaxSetsPerExporter: 1 << 20, MaxBytesPerExporter: maxBytes, MaxAge: time.Minute}
		before := floodHeap()
		d := NewDecoder(Config{Pending: lim, Now: clock.Now, DisableSequenceTracking: true})
		var buf Buffer
		msg := v9Packet(0, 0, set(1000, make([]byte, 4000), false))
		for range 1000 {
			_, err := d.DecodeInto(&buf, testExporter, msg)
			require.NoError(t, err)
		}
		clock.Advance(50 * time.Second)
		_, err := d.DecodeInto(&buf, testExporter, msg)
		require.NoError(t, err)
		clock.Advance(20 * time.Second) // the first 1,000 expire on the next set
		_, err = d.DecodeInto(&buf, testExporter, msg)
		require.NoError(t, err)
		st := d.Stats().Pending
		require.Equal(t, 2, st.Held)
		require.Equal(t, uint64(1000), st.Expired)
		heap := heapSince(before)
		runtime.KeepAlive(d)
		require.LessOrEqual(t, heap, uint64(st.Bytes)+64<<10, "expired bodies are still reachable")
	})
}

// templateHeapBound is what MemoryStoreConfig.MaxTemplates documents a
// template costs at most: 1.5 KiB plus 96 bytes per field, its domain and
// exporter included when it is their only one.
func templateHeapBound(fields int) uint64 { return 1536 + 96*uint64(fields) }

// TestTemplateHeapCost: a stored template, alone in its exporter (the
// worst case: the exporter's and domain's bookkeeping is all its own),
// costs at most templateHeapBound, for every Flow field's element and more
// (floodIDs), from 1 to 512 fields.
func TestTemplateHeapCost(t *testing.T) {
	for _, nf := range []int{1, 18, 32, 64, 512} {
		n := 2000
		fields := make([]TemplateField, nf)
		for i := range fields {
			fields[i] = TemplateField{ID: floodIDs[i%len(floodIDs)], Length: 4}
		}
		before := floodHeap()
		s := NewMemoryStore(MemoryStoreConfig{MaxExporters: n})
		for i := range n {
			tm, err := NewTemplate(10, 256, false, 0, append([]TemplateField(nil), fields...))
			require.NoError(t, err)
			require.NoError(t, s.AddTemplate(TemplateKey{Exporter: floodAddr(i), Version: 10, Domain: 1, ID: 256}, tm))
		}
		per := (heapSince(before)) / uint64(n)
		runtime.KeepAlive(s)
		t.Logf("%d fields: %d bytes a template (bound %d)", nf, per, templateHeapBound(nf))
		require.LessOrEqual(t, per, templateHeapBound(nf), "%d fields", nf)
	}
}

// TestLoadHeapBound: a state file of one domain whose options state is at
// the bounds Load accepts (4,096 names of 256 bytes: 1 MiB) holds at most
// that plus stateEntryCost per entry once loaded; the file itself is not
// kept.
func TestLoadHeapBound(t *testing.T) {
	st := ExporterState{InterfaceNames: map[uint32]string{}}
	for i := range maxSavedEntries {
		st.InterfaceNames[uint32(i)] = strings.Repeat(string(rune('a'+i%26)), maxSavedNameBytes)
	}
	src := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, src.SetExporterState(TemplateKey{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 10, Domain: 1}, st))
	var file bytes.Buffer
	require.NoError(t, src.Save(&file))
	require.True(t, json.Valid(file.Bytes()))
	src, st = nil, ExporterState{}

	before := floodHeap()
	s := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, s.Load(bytes.NewReader(file.Bytes())))
	heap := heapSince(before)
	runtime.KeepAlive(s)
	bound := uint64(maxSavedStateSize + maxSavedEntries*stateEntryCost)
	t.Logf("loaded a state of %d names of %d bytes from %d bytes of file: heap %d (bound %d)", maxSavedEntries, maxSavedNameBytes, file.Len(), heap, bound)
	require.LessOrEqual(t, heap, bound)
}
