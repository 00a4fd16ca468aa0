package netflow

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// Issue 20, item 5 in one process: held data and options data are
// released by the store's announcement, without a datagram of their
// exporter (Decoder.Releases, Decoder.TakeReleased). The receiver's and
// the collector's tests do the same with real processes.

// spreadDatagrams is an exporter with a sampler: an options template (300:
// sampler ID, sampling interval), its data (sampler 1: 1 in 100), template
// 256 (the builders' fields and the sampler ID) and 4 flows of sampler 1.
func spreadDatagrams() (optTemplate, optData, template, data []byte) {
	optTemplate = v9Packet(1, 1, set(1, v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{48, 1, 0}, {34, 4, 0}}), true))
	optData = v9Packet(1, 2, set(300, append(append(uintBytes(0, 4), 1), uintBytes(100, 4)...), true))
	fields := append(append([]tmplField(nil), v9BenchFields...), tmplField{48, 1, 0})
	template = v9Packet(1, 3, set(0, templateRecord(256, fields...), true))
	data = v9Packet(1, 4, set(256, flowRecordsWith(v9BenchFields, 4, func(int) []byte { return []byte{1} }), true))
	return
}

// TestReleasedWithoutDatagram: the four datagrams spread round-robin over
// three decoders sharing a store (options template to 0, options data to
// 1, template to 2, data to 0), each data datagram before its template:
// no decoder ever gets another datagram, yet the options data and the 4
// flows come out of TakeReleased, the flows with the sampling interval
// the options data gave. (Before, the held sets waited for a next
// datagram of the exporter: 0 of 4 flows.)
func TestReleasedWithoutDatagram(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	var d [3]*Decoder
	for i := range d {
		d[i] = NewDecoder(Config{Store: store})
		defer d[i].Close()
	}
	optTemplate, optData, template, data := spreadDatagrams()
	p, err := d[0].Decode(testExporter, data)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	p, err = d[1].Decode(testExporter, optData)
	require.NoError(t, err)
	require.Empty(t, setsOf(p).DataSets)
	for i := range d {
		require.False(t, signalled(d[i]), "decoder %d signalled before any template", i)
	}

	_, err = d[0].Decode(testExporter, optTemplate)
	require.NoError(t, err)
	require.True(t, signalled(d[1]), "the options template was announced to decoder 1, which holds its data")
	p, err = d[1].TakeReleased(nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	sets := setsOf(p)
	require.Len(t, sets.DataSets, 1)
	require.True(t, sets.DataSets[0].Options())
	require.True(t, sets.DataSets[0].Late)
	st, ok := d[2].ExporterState(testExporter, 9, 1)
	require.True(t, ok, "decoder 1 applied the released options data and wrote it to the store")
	require.Equal(t, map[uint64]uint32{1: 100}, st.Samplers)

	_, err = d[2].Decode(testExporter, template)
	require.NoError(t, err)
	require.True(t, signalled(d[0]))
	p, err = d[0].TakeReleased(nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	flows := p.AppendFlows(nil)
	checkTestFlows(t, flows, 4)
	for _, f := range flows {
		require.Equal(t, uint32(100), f.SamplingInterval)
	}
	for i := range d {
		p, err := d[i].TakeReleased(nil)
		require.NoError(t, err)
		require.Nil(t, p)
		require.Zero(t, d[i].Stats().Pending.Held)
	}
}

// TestReleasedByPeriodicLookup: a store that does not announce: held sets
// are looked up again about once a second (ReleaseInterval) by
// TakeReleased.
func TestReleasedByPeriodicLookup(t *testing.T) {
	clock := newTestClock()
	store := quietStore{NewMemoryStore(MemoryStoreConfig{})}
	a, b := NewDecoder(Config{Store: store, Now: clock.Now}), NewDecoder(Config{Store: store, Now: clock.Now})
	p, err := b.Decode(testExporter, data45(3))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	_, err = a.Decode(testExporter, templates45())
	require.NoError(t, err)
	clock.Advance(ReleaseInterval / 2)
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p, "not looked up again before ReleaseInterval")
	clock.Advance(ReleaseInterval)
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	checkTestFlows(t, p.AppendFlows(nil), 3)
}

// TestReleasedInPortions: more held records than one call releases
// (maxReleaseRecords) come out over several calls, in arrival order, one
// exporter domain per packet, and the first call signals that more is due.
func TestReleasedInPortions(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	cfg := Config{Store: store, Pending: PendingLimits{MaxBytesPerExporter: 16 << 20, MaxSetsPerExporter: 1024}}
	a, b := NewDecoder(cfg), NewDecoder(cfg)
	defer a.Close()
	defer b.Close()
	const perSet = 1400 // 63000 bytes of 45-byte records
	sets := maxReleaseRecords/perSet + 2
	for i := range sets {
		dg := v9Packet(1, uint32(i), set(256, flowRecords(v9BenchFields, perSet), true))
		_, err := b.Decode(testExporter, dg)
		require.NoError(t, err)
	}
	// And one set of another domain (source ID 2).
	_, err := b.Decode(testExporter, v9Packet(2, 1, set(256, flowRecords(v9BenchFields, 5), true)))
	require.NoError(t, err)
	_, err = a.Decode(testExporter, templates45())
	require.NoError(t, err)
	_, err = a.Decode(testExporter, v9Packet(2, 2, set(0, templateRecord(256, v9BenchFields...), true)))
	require.NoError(t, err)

	var buf Buffer
	total, packets, seq := 0, 0, -1
	domains := map[uint32]int{}
	for {
		p, err := b.TakeReleased(&buf)
		require.NoError(t, err)
		if p == nil {
			break
		}
		packets++
		v9 := p.(*V9Packet)
		domains[v9.Header.SourceID] += v9.FlowCount()
		for _, ds := range v9.DataSets {
			require.Equal(t, v9.Header.SourceID, ds.ctx.domain, "one domain per packet")
			if v9.Header.SourceID == 1 {
				require.Greater(t, int(ds.Sequence), seq, "arrival order")
				seq = int(ds.Sequence)
			}
		}
		total += v9.FlowCount()
		require.LessOrEqual(t, v9.FlowCount(), maxReleaseRecords+perSet)
	}
	require.Equal(t, sets*perSet+5, total)
	require.Equal(t, map[uint32]int{1: sets * perSet, 2: 5}, domains)
	require.GreaterOrEqual(t, packets, 3)
	require.Zero(t, b.Stats().Pending.Held)
}

// TestReleasedConcurrently: decoders sharing a store decode datagrams of
// many exporters, data before templates on other decoders, while other
// goroutines take what is released: every flow comes out exactly once
// (under -race: the pending buffer, the due list and the signals are safe
// for concurrent use).
func TestReleasedConcurrently(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	const decoders, exporters, flowsPer = 3, 60, 4
	var ds [decoders]*Decoder
	for i := range ds {
		ds[i] = NewDecoder(Config{Store: store})
		defer ds[i].Close()
	}
	var got atomic.Int64
	stop := make(chan struct{})
	var takers sync.WaitGroup
	for i := range ds {
		takers.Add(1)
		go func() {
			defer takers.Done()
			var buf Buffer
			for {
				select {
				case <-stop:
					return
				case <-ds[i].Releases():
				case <-time.After(time.Millisecond):
				}
				for {
					p, err := ds[i].TakeReleased(&buf)
					if err != nil {
						panic(err)
					}
					if p == nil {
						break
					}
					got.Add(int64(p.FlowCount()))
				}
			}
		}()
	}
	var senders sync.WaitGroup
	for e := range exporters {
		senders.Add(1)
		go func() {
			defer senders.Done()
			ex := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(e)}), 2055)
			var buf Buffer
			p, err := ds[e%decoders].DecodeInto(&buf, ex, data45(flowsPer))
			if err != nil {
				panic(err)
			}
			got.Add(int64(p.FlowCount()))
			if _, err := ds[(e+1)%decoders].DecodeInto(&buf, ex, templates45()); err != nil {
				panic(err)
			}
		}()
	}
	senders.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < exporters*flowsPer && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	takers.Wait()
	require.Equal(t, int64(exporters*flowsPer), got.Load())
	var matched, added uint64
	for _, d := range ds {
		st := d.Stats().Pending
		require.Zero(t, st.Held)
		matched += st.Matched
		added += st.Added
	}
	require.Equal(t, added, matched, fmt.Sprintf("every held set released once (%d held)", added))
}

// TestTakeReleasedZeroAllocs: a call with nothing held, and one with held
// sets that are not due, allocate nothing (a receiver calls it every
// second).
func TestTakeReleasedZeroAllocs(t *testing.T) {
	d := NewDecoder(Config{})
	var buf Buffer
	require.Zero(t, testing.AllocsPerRun(100, func() { d.TakeReleased(&buf) }))
	_, err := d.Decode(testExporter, data45(3))
	require.NoError(t, err)
	d.TakeReleased(&buf) // the first periodic scan: looked up, not found
	require.Zero(t, testing.AllocsPerRun(100, func() { d.TakeReleased(&buf) }))
}

// A held set that turns out to hold no record of its template (a body of
// padding, shorter than one record) is released as nothing: TakeReleased
// returns nil, nil rather than a packet without data sets, and nothing
// stays held. (FuzzSharedStore found the empty packet.)
func TestReleasedPaddingOnlyIsNothing(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	d0, d1 := NewDecoder(Config{Store: store}), NewDecoder(Config{Store: store})
	defer d0.Close()
	defer d1.Close()
	_, _, template, _ := spreadDatagrams()
	padding := v9Packet(1, 4, set(256, make([]byte, 4), false))
	p, err := d0.Decode(testExporter, padding)
	require.NoError(t, err)
	require.Equal(t, 1, setsOf(p).Pending, "the set of an unknown template is held")
	_, err = d1.Decode(testExporter, template)
	require.NoError(t, err)
	require.True(t, signalled(d0), "the template was announced to the decoder that holds the set")
	p, err = d0.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p, "a packet without data sets")
	require.Zero(t, d0.Stats().Pending.Held)
}

// TestReleasedFailedSetIsReported: a held set that its template, announced
// by another decoder, cannot decode (a template of zero-length fields: no
// record has a length) comes out of TakeReleased as a packet without data
// sets that carries the problem, at offset 0 (the set came in an earlier
// datagram), with the exporter and sequence of the datagram it came in.
func TestReleasedFailedSetIsReported(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	d0, d1 := NewDecoder(Config{Store: store}), NewDecoder(Config{Store: store})
	defer d0.Close()
	defer d1.Close()
	p, err := d0.Decode(testExporter, testkit.IPFIXMessage(7, 41, testkit.IPFIXDataSet(400, []byte{1, 2, 3, 4})))
	require.NoError(t, err)
	require.Equal(t, 1, setsOf(p).Pending, "the set of an unknown template is held")
	_, err = d1.Decode(testExporter, testkit.IPFIXMessage(7, 42, testkit.IPFIXTemplateSet(400, [2]uint16{1, 0})))
	require.NoError(t, err)
	require.True(t, signalled(d0), "the template was announced to the decoder that holds the set")
	p, err = d0.TakeReleased(nil)
	require.ErrorIs(t, err, ErrMalformed)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Zero(t, de.Offset)
	require.Contains(t, de.What, "held data set")
	require.NotNil(t, p, "the problem comes with the packet it belongs to")
	require.Empty(t, setsOf(p).DataSets)
	ipfix := p.(*IPFIXPacket)
	require.Equal(t, testExporter, ipfix.Exporter)
	require.Equal(t, uint32(41), ipfix.Header.Sequence)
	p, err = d0.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p, "nothing more is due")
}
