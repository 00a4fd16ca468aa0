package netflow

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 16 item 1: held data is decoded with the template that released
// it, in wire order, and never dropped silently.

var (
	heldFieldsA = []tmplField{{8, 4, 0}, {12, 4, 0}, {2, 4, 0}}            // 12-byte records
	heldFieldsB = []tmplField{{8, 4, 0}, {12, 4, 0}, {1, 4, 0}, {2, 4, 0}} // 16-byte records
)

func heldExporter(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4739)
}

// TestHeldAfterRefusedTemplate: data whose template the store refused at a
// limit (MaxTemplates, every other exporter confirmed) is held, and
// released when the template is accepted later, once expiry freed the
// store's slots.
func TestHeldAfterRefusedTemplate(t *testing.T) {
	clock := newTestClock()
	store := NewMemoryStore(MemoryStoreConfig{TTL: 100 * time.Millisecond, MaxTemplates: 2, Now: clock.Now})
	d := NewDecoder(Config{Store: store, Now: clock.Now})
	msg := func(seq uint32) []byte {
		return ipfixMessage(1, seq, set(2, templateRecord(256, heldFieldsA...), false), set(256, flowRecords(heldFieldsA, 1), false))
	}
	for i := 1; i <= 3; i++ {
		p, err := d.Decode(heldExporter(i), msg(0))
		if i < 3 {
			require.NoError(t, err)
			require.Equal(t, 1, p.FlowCount())
			// Data alone, decoded with the stored template: confirmed.
			p, err = d.Decode(heldExporter(i), ipfixMessage(1, 1, set(256, flowRecords(heldFieldsA, 1), false)))
			require.NoError(t, err)
			require.Equal(t, 1, p.FlowCount())
			continue
		}
		require.ErrorIs(t, err, ErrLimit)
		require.Equal(t, 0, p.FlowCount())
		require.Equal(t, 1, p.(*IPFIXPacket).Pending)
	}
	clock.Advance(time.Second)
	store.Expire()
	require.Zero(t, store.Stats().Exporters)
	p, err := d.Decode(heldExporter(3), msg(1))
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount(), "held set and the message's own")
	require.True(t, p.(*IPFIXPacket).DataSets[0].Late)
}

// TestHeldReleasedDespiteEviction is the repro: with EvictOldest
// and two templates per domain, data for 256 is held, then one message
// defines 256, 257 and 258 (258 evicts 256 from the store at once). The
// held set is still decoded, with the 256 that released it.
func TestHeldReleasedDespiteEviction(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{MaxTemplatesPerDomain: 2, EvictOldest: true})
	d := NewDecoder(Config{Store: store})
	_, err := d.Decode(heldExporter(1), ipfixMessage(1, 1, set(256, flowRecords(heldFieldsA, 3), false)))
	require.NoError(t, err)
	require.Equal(t, 1, d.Stats().Pending.Held)

	p, err := d.Decode(heldExporter(1), ipfixMessage(1, 4, set(2, append(append(
		templateRecord(256, heldFieldsA...), templateRecord(257, heldFieldsB...)...), templateRecord(258, heldFieldsB...)...), false)))
	require.NoError(t, err)
	_, err = store.Template(TemplateKey{Exporter: heldExporter(1), Version: 10, Domain: 1, ID: 256})
	require.ErrorIs(t, err, ErrTemplateNotFound, "256 was evicted by 258")
	flows := p.AppendFlows(nil)
	require.Len(t, flows, 3)
	for i, f := range flows {
		want := testFlowN(i)
		require.Equal(t, want.Src, f.SrcAddr)
		require.Equal(t, uint64(want.Packets), f.Packets)
	}
	st := d.Stats().Pending
	require.Equal(t, uint64(1), st.Matched)
	require.Zero(t, st.Held)
	require.Zero(t, st.Failed)
}

// TestHeldUsesFirstDefinition: a message that defines an ID twice releases
// what waited for it with the first definition (the one that came first on
// the wire), both within one template set and across two; data after the
// second definition uses the second.
func TestHeldUsesFirstDefinition(t *testing.T) {
	for _, sameSet := range []bool{true, false} {
		d := NewDecoder(Config{})
		// Held: three 12-byte records (layout A).
		_, err := d.Decode(heldExporter(1), ipfixMessage(1, 1, set(256, flowRecords(heldFieldsA, 3), false)))
		require.NoError(t, err)
		var sets [][]byte
		if sameSet {
			sets = append(sets, set(2, append(templateRecord(256, heldFieldsA...), templateRecord(256, heldFieldsB...)...), false))
		} else {
			sets = append(sets, set(2, templateRecord(256, heldFieldsA...), false), set(2, templateRecord(256, heldFieldsB...), false))
		}
		// Then data of the second definition: two 16-byte records.
		sets = append(sets, set(256, flowRecords(heldFieldsB, 2), false))
		p, err := d.Decode(heldExporter(1), ipfixMessage(1, 4, sets...))
		require.NoError(t, err)
		s := p.(*IPFIXPacket)
		require.Len(t, s.DataSets, 2)
		require.True(t, s.DataSets[0].Late)
		require.Len(t, s.DataSets[0].Records, 3, "held set decoded with layout A")
		require.Equal(t, 12, s.DataSets[0].Template.MinRecordLen())
		require.False(t, s.DataSets[1].Late)
		require.Len(t, s.DataSets[1].Records, 2)
		require.Equal(t, 16, s.DataSets[1].Template.MinRecordLen())
	}
}

// TestHeldNoSilentLossUnderChurn: several goroutines, several exporters,
// templates expiring after a few milliseconds and evicted two per domain,
// data often before its template. Every data set sent is accounted for:
// decoded at once, decoded late, failed, still held, expired or refused.
func TestHeldNoSilentLossUnderChurn(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{TTL: 5 * time.Millisecond, MaxTemplatesPerDomain: 2, EvictOldest: true})
	d := NewDecoder(Config{Store: store, Pending: PendingLimits{MaxAge: 20 * time.Millisecond}})
	const goroutines, exporters, rounds = 4, 6, 1500
	var sent, immediate, late atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf Buffer
			for r := range rounds {
				e := heldExporter(1 + (g*rounds+r)%exporters)
				id := uint16(256 + r%3)
				fields := heldFieldsA
				if id != 256 {
					fields = heldFieldsB
				}
				var sets [][]byte
				if r%4 != 0 { // every fourth message brings no template
					sets = append(sets, set(2, templateRecord(id, fields...), false))
				}
				if r%2 == 0 { // data before its template, in one message
					sets = append([][]byte{set(id, flowRecords(fields, 2), false)}, sets...)
				} else {
					sets = append(sets, set(id, flowRecords(fields, 2), false))
				}
				sent.Add(1)
				p, _ := d.DecodeInto(&buf, e, ipfixMessage(1, uint32(r), sets...))
				if p == nil {
					continue
				}
				for _, ds := range p.(*IPFIXPacket).DataSets {
					if ds.Late {
						late.Add(1)
					} else {
						immediate.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	// Every set is decoded at once or late (released, or waiting in its own
	// message), or else left the buffer undecoded (failed after release,
	// still held, expired or refused).
	st := d.Stats().Pending
	accounted := immediate.Load() + late.Load() + int64(st.Failed) + int64(st.Held) + int64(st.Expired) + int64(st.Refused)
	require.Equal(t, sent.Load(), accounted,
		"sent %d: immediate %d, late %d, pending %+v", sent.Load(), immediate.Load(), late.Load(), st)
}
