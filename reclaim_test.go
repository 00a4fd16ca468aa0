package netflow

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 16 items 4 and 5: state a sender grows is reclaimed when it
// expires or goes idle, and bounded in bytes.

func spoofed(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 2055)
}

// TestReclaimExpiredExporters: 4,096 spoofed template datagrams fill
// MaxExporters; a new exporter takes the place of the oldest (issue 20);
// once their 200 ms TTL passed, the next new exporter finds the expired
// ones reclaimed without anybody calling Expire, and evicts nothing.
func TestReclaimExpiredExporters(t *testing.T) {
	clock := newTestClock()
	store := NewMemoryStore(MemoryStoreConfig{TTL: 200 * time.Millisecond, Now: clock.Now})
	d := NewDecoder(Config{Store: store, Now: clock.Now})
	for i := range 4096 {
		_, err := d.Decode(spoofed(i), limitTemplates(10, 1, 256))
		require.NoError(t, err)
	}
	real := netip.MustParseAddrPort("192.0.2.10:2055")
	_, err := d.Decode(real, limitTemplates(10, 1, 256))
	require.NoError(t, err, "the store is full: one on probation makes room")
	st := store.Stats()
	require.Equal(t, uint64(1), st.ExportersEvicted)
	require.Equal(t, 4096, st.Exporters)
	clock.Advance(time.Second)
	_, err = d.Decode(netip.MustParseAddrPort("192.0.2.11:2055"), limitTemplates(10, 1, 256))
	require.NoError(t, err, "expired exporters make room by themselves")
	st = store.Stats()
	require.Equal(t, 1, st.Exporters)
	require.Equal(t, uint64(4096), st.Expired)
	require.Equal(t, uint64(1), st.ExportersEvicted)
}

// TestReclaimIdleStateDomains: 256 spoofed exporters x 64 source IDs fill
// MaxStateDomains with options state; a real exporter's sampling interval
// is kept and applied at once, in place of the oldest domain on probation
// (issue 20); once the spoofed domains are idle for StateIdle, a new
// domain finds them reclaimed.
func TestReclaimIdleStateDomains(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	store := NewMemoryStore(MemoryStoreConfig{StateIdle: 10 * time.Minute, Now: clock.Now})
	d := NewDecoder(Config{Store: store, Now: clock.Now, Limits: Limits{StateIdle: 10 * time.Minute}})
	optTmpl := v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{34, 4, 0}})
	options := func(source uint32, interval uint64) []byte {
		return v9Packet(source, 1, set(1, optTmpl, true), set(300, append(uintBytes(0, 4), uintBytes(interval, 4)...), true))
	}
	for e := range 256 {
		for src := range 64 {
			_, err := d.Decode(spoofed(e), options(uint32(src), 7))
			require.NoError(t, err)
		}
	}
	require.Equal(t, 16384, d.Stats().StateDomains)
	real := netip.MustParseAddrPort("192.0.2.10:2055")
	_, err := d.Decode(real, options(1, 100))
	require.NoError(t, err)
	st, ok := d.ExporterState(real, 9, 1)
	require.True(t, ok, "full, nothing idle yet: the oldest on probation made room")
	require.Equal(t, uint32(100), st.SamplingInterval)
	ds := d.Stats()
	require.Zero(t, ds.StateDomainsRefused)
	require.Equal(t, uint64(1), ds.StateDomainsEvicted)
	require.Equal(t, uint64(1), ds.Store.StatesEvicted)
	flowTmpl := v9Packet(1, 2, set(0, templateRecord(256, v9BenchFields...), true), set(256, flowRecords(v9BenchFields, 2), true))
	for _, f := range decodeFlowsOf(t, d, real, flowTmpl) {
		require.Equal(t, uint32(100), f.SamplingInterval)
	}

	clock.Advance(11 * time.Minute)
	_, err = d.Decode(real, options(1, 100)) // the real exporter is not idle
	require.NoError(t, err)
	other := netip.MustParseAddrPort("192.0.2.11:2055")
	_, err = d.Decode(other, options(1, 50))
	require.NoError(t, err)
	st, ok = d.ExporterState(other, 9, 1)
	require.True(t, ok)
	require.Equal(t, uint32(50), st.SamplingInterval)
	ds = d.Stats()
	require.Equal(t, uint64(16383), ds.StateDomainsReclaimed, "every spoofed domain left")
	require.Equal(t, uint64(1), ds.StateDomainsEvicted)
	require.Equal(t, 2, ds.StateDomains)
	for _, f := range decodeFlowsOf(t, d, real, flowTmpl) {
		require.Equal(t, uint32(100), f.SamplingInterval)
	}
}

// TestSweepDropsIdleState: Sweep drops options state idle for StateIdle.
func TestSweepDropsIdleState(t *testing.T) {
	clock := newTestClock()
	d := NewDecoder(Config{Now: clock.Now, Limits: Limits{StateIdle: time.Minute}})
	optTmpl := v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{34, 4, 0}})
	_, err := d.Decode(spoofed(1), v9Packet(1, 1, set(1, optTmpl, true), set(300, append(uintBytes(0, 4), uintBytes(10, 4)...), true)))
	require.NoError(t, err)
	require.Equal(t, 1, d.Stats().StateDomains)
	d.Sweep()
	require.Equal(t, 1, d.Stats().StateDomains, "not idle yet")
	clock.Advance(2 * time.Minute)
	d.Sweep()
	require.Zero(t, d.Stats().StateDomains)
}

// TestOptionsNamesBoundedInBytes: options records with interface names
// longer than MaxNameBytes (one of 65,000 bytes, 4,095 of 300) keep at most
// MaxNameBytes per name and MaxStateBytes per domain; what was cut or
// refused is counted.
func TestOptionsNamesBoundedInBytes(t *testing.T) {
	d := NewDecoder(Config{})
	// IPFIX options template: scope ingressInterface (10), interfaceName
	// (82, variable length).
	tmpl := set(3, ipfixOptionsTemplate(300, 1, tmplField{10, 4, 0}, tmplField{82, VariableLength, 0}), false)
	record := func(index int, name string) []byte {
		rec := append(uintBytes(uint64(index), 4), 255, byte(len(name)>>8), byte(len(name)))
		return append(rec, name...)
	}
	send := func(seq uint32, records []byte) {
		_, err := d.Decode(spoofed(1), ipfixMessage(1, seq, tmpl, set(300, records, false)))
		require.NoError(t, err)
	}
	// A 65,000-byte name fills a message; the others go 200 to a message
	// (4,096 messages of one record each cost minutes under -race).
	send(0, record(0, strings.Repeat("n", 65000)))
	var records []byte
	for i := 1; i < 4096; i++ {
		records = append(records, record(i, strings.Repeat("n", 300))...)
		if i%200 == 0 || i == 4095 {
			send(uint32(i), records)
			records = records[:0]
		}
	}
	st, ok := d.ExporterState(spoofed(1), 10, 1)
	require.True(t, ok)
	kept := 0
	for _, name := range st.InterfaceNames {
		require.Len(t, name, 256)
		kept += len(name)
	}
	require.LessOrEqual(t, kept, 1<<20)
	require.Equal(t, (1<<20)/256, len(st.InterfaceNames))
	require.Equal(t, uint64(4096), st.Truncated, "every name was cut")
	require.Equal(t, uint64(4096-len(st.InterfaceNames)), st.Refused, "the rest did not fit")
}
