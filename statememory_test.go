package netflow

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// optionsNamesBatch returns an IPFIX options message of domain 1 naming
// interfaces first to first+count-1, each with name plus its index.
func optionsNamesBatch(seq uint32, first, count int, name string) []byte {
	tmpl := set(3, ipfixOptionsTemplate(300, 1, tmplField{10, 4, 0}, tmplField{82, VariableLength, 0}), false)
	var recs []byte
	for i := first; i < first+count; i++ {
		n := fmt.Sprintf("%s%05d", name, i)
		recs = append(recs, uintBytes(uint64(i), 4)...)
		recs = append(recs, 255, byte(len(n)>>8), byte(len(n)))
		recs = append(recs, n...)
	}
	return ipfixMessage(1, seq, tmpl, set(300, recs, false))
}

// TestStateMemoryBound: options names from 400 sources, each within the
// per-domain bounds, would take 40 MB; Limits.MaxStateMemory (4 MiB here)
// holds them to 4 MiB of heap. Sources seen once (a spoofed flood) are
// dropped to make room; an exporter that sent two datagrams before the
// flood keeps all its names, and one arriving after it gets all its names
// at once. Once confirmed exporters fill the budget, a newcomer's names
// are refused and counted, and the bound still holds.
func TestStateMemoryBound(t *testing.T) {
	const budget = 4 << 20
	name := strings.Repeat("n", 240)
	const perDatagram = 200
	entry := int64(len(name) + 5 + stateEntryCost)
	before := floodHeap()
	d := NewDecoder(Config{Limits: Limits{MaxStateMemory: budget}, DisableSequenceTracking: true})
	var buf Buffer
	decode := func(from int, seq uint32, first int) {
		t.Helper()
		_, err := d.DecodeInto(&buf, spoofed(from), optionsNamesBatch(seq, first, perDatagram, name))
		require.NoError(t, err)
	}
	names := func(from int) int {
		st, ok := d.ExporterState(spoofed(from), 10, 1)
		if !ok {
			return 0
		}
		return len(st.InterfaceNames)
	}
	// The real exporter: two datagrams, 400 names.
	decode(0, 0, 0)
	decode(0, 1, perDatagram)
	require.Equal(t, 2*perDatagram, names(0))
	// The flood: 400 sources, one datagram each.
	for i := 1; i <= 400; i++ {
		decode(i, 0, 0)
	}
	st := d.Stats()
	heap := heapSince(before)
	runtime.KeepAlive(d)
	t.Logf("after the flood: charged %d of %d, %d domains, %d evicted for memory; heap %d",
		st.StateMemory, budget, st.StateDomains, st.StateMemoryEvicted, heap)
	require.LessOrEqual(t, st.StateMemory, int64(budget))
	require.Greater(t, st.StateMemory, int64(budget)-perDatagram*entry, "the budget is used")
	require.Greater(t, st.StateMemoryEvicted, uint64(300))
	require.Zero(t, st.StateMemoryRefused)
	// Heap: the budget, and a few KB per domain for the maps and the
	// template store's copy of the template.
	require.LessOrEqual(t, heap, uint64(budget)+uint64(st.StateDomains+1)*8<<10)
	require.Equal(t, 2*perDatagram, names(0), "the confirmed exporter keeps its names")
	// A newcomer after the flood gets its names at once.
	decode(1000, 0, 0)
	require.Equal(t, perDatagram, names(1000))

	// Confirmed exporters (two datagrams each) fill the budget, until
	// nothing on probation is left to drop: their names are refused, and
	// so are a newcomer's.
	last := 2000
	for ; d.Stats().StateMemoryRefused == 0; last++ {
		require.Less(t, last, 2200)
		decode(last, 0, 0)
		decode(last, 1, perDatagram)
	}
	decode(5000, 0, 0)
	st = d.Stats()
	t.Logf("confirmed exporters fill it: charged %d, %d refused; newcomer kept %d names", st.StateMemory, st.StateMemoryRefused, names(5000))
	require.Zero(t, names(5000))
	require.Greater(t, st.StateMemoryRefused, uint64(perDatagram))
	require.LessOrEqual(t, st.StateMemory, int64(budget))
	require.Equal(t, 2*perDatagram, names(0))

	// Dropping domains gives their charge back: after the exporters are
	// forgotten, nothing is charged.
	for _, i := range append([]int{0, 1000, 5000}, seq(1, 401)...) {
		require.NoError(t, d.Forget(spoofed(i)))
	}
	for i := 2000; i < last; i++ {
		require.NoError(t, d.Forget(spoofed(i)))
	}
	require.Zero(t, d.Stats().StateMemory)
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// TestStateMemoryConcurrent: four goroutines decode options names from
// 100 sources each under a budget that holds a few of them, while
// domains are dropped for room: the charge stays within the budget plus
// one entry per goroutine, and forgetting every source gives it all back.
func TestStateMemoryConcurrent(t *testing.T) {
	const budget = 1 << 20
	name := strings.Repeat("c", 200)
	d := NewDecoder(Config{Limits: Limits{MaxStateMemory: budget}, DisableSequenceTracking: true})
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var buf Buffer
			for i := range 100 {
				from := spoofed(w*1000 + i)
				for s := range uint32(2) {
					if _, err := d.DecodeInto(&buf, from, optionsNamesBatch(s, int(s)*50, 50, name)); err != nil {
						errs <- err
						return
					}
				}
				if m := d.Stats().StateMemory; m > budget+workers*int64(len(name)+5+stateEntryCost) {
					errs <- fmt.Errorf("charged %d beyond %d", m, budget)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	st := d.Stats()
	t.Logf("charged %d, %d domains, %d evicted, %d refused", st.StateMemory, st.StateDomains, st.StateMemoryEvicted, st.StateMemoryRefused)
	require.Greater(t, st.StateMemoryRefused, uint64(0), "confirmed sources filled the budget")
	for w := range workers {
		for i := range 100 {
			require.NoError(t, d.Forget(spoofed(w*1000+i)))
		}
	}
	require.Zero(t, d.Stats().StateMemory)
}
