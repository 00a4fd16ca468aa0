package netflow

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzSharedStore feeds datagrams to two decoders whose stores are copies
// of one shared store that lag behind it (lagStore): datagram i goes to
// decoder i%2, every third datagram the second decoder's copy catches up
// with the shared store (the notifications arrive), and after each
// datagram both take what they release. Invariants: every decoded and
// every released packet passes checkDecoded; every set a checking store's
// decoder releases fits its template; a released packet's sets are all
// late; the pending buffers stay within their limits; nothing hangs.
func FuzzSharedStore(f *testing.F) {
	for _, s := range statefulSeeds(f) {
		f.Add(s)
	}
	f.Add(joinFuzzDatagrams(templates45(), data45(2), templates49(), data49(3), data45(1)))
	f.Add(joinFuzzDatagrams(data49(3), templates45(), templates49(), data49(1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var problem error
		withWatchdog(t, fuzzTimeout, func() { problem = fuzzSharedOnce(data) })
		require.NoError(t, problem)
	})
}

func fuzzSharedOnce(data []byte) error {
	dgs, second := splitFuzzDatagrams(data)
	clock := &fakeClock{now: time.Unix(buildUnixSecs, 0)}
	shared := NewMemoryStore(MemoryStoreConfig{MaxTemplatesPerDomain: 16, MaxDomainsPerExporter: 3, MaxExporters: 2})
	var mu sync.Mutex
	var written []TemplateKey
	defer shared.Subscribe(func(k TemplateKey) {
		mu.Lock()
		written = append(written, k)
		mu.Unlock()
	})()
	stores := [2]*lagStore{newLagStore(shared, clock.Now), newLagStore(shared, clock.Now)}
	var ds [2]*Decoder
	for i := range ds {
		ds[i] = NewDecoder(Config{
			Store:   stores[i],
			Pending: PendingLimits{MaxSetsPerExporter: 4, MaxBytesPerExporter: 4 << 10, MaxBytes: 6 << 10, MaxExporters: 2, MaxAge: 2 * time.Minute},
			Limits:  Limits{MaxTemplateFields: 64, MaxOptionsEntries: 8, MaxStateDomains: 4, MaxListDepth: 2},
			Now:     clock.Now,
		})
		defer ds[i].Close()
	}
	var buf Buffer
	for i, dg := range dgs {
		exp := fuzzExporters[0]
		if second[i] {
			exp = fuzzExporters[1]
		}
		p, err := ds[i%2].DecodeInto(&buf, exp, dg)
		if err := checkDecoded(dg, p, err); err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		if i%3 == 2 {
			mu.Lock()
			keys := append([]TemplateKey(nil), written...)
			mu.Unlock()
			for _, k := range keys {
				stores[1].deliver(k)
			}
		}
		clock.now = clock.now.Add(time.Second)
		for j, d := range ds {
			for range 16 {
				p, err := d.TakeReleased(&buf)
				if p == nil && err == nil {
					break
				}
				if p == nil {
					return fmt.Errorf("datagram %d, decoder %d: released an error without a packet: %v", i, j, err)
				}
				flows := p.AppendFlows(nil)
				if len(flows) != p.FlowCount() {
					return fmt.Errorf("released: FlowCount %d, AppendFlows %d", p.FlowCount(), len(flows))
				}
				s := setsOf(p)
				if err != nil {
					// The problems of held sets that did not decode, at
					// offset 0: the sets came in earlier datagrams.
					var de *DecodeError
					if !matchesSentinel(err) || !errors.As(err, &de) || de.Offset != 0 {
						return fmt.Errorf("datagram %d, decoder %d: released with %v", i, j, err)
					}
				}
				if len(s.DataSets) == 0 && err == nil {
					return fmt.Errorf("datagram %d, decoder %d: a released packet without sets or problems", i, j)
				}
				for k := range s.DataSets {
					set := &s.DataSets[k]
					if !set.Late {
						return fmt.Errorf("released set %d not late", k)
					}
					if !set.Template.Fits(set.body) {
						return fmt.Errorf("datagram %d, decoder %d: released set of template %d does not fit it (%d bytes)", i, j, set.TemplateID, len(set.body))
					}
				}
			}
		}
	}
	for _, d := range ds {
		if ps := d.Stats().Pending; ps.Held < 0 || ps.Bytes < 0 || ps.Held > 2*4 || ps.Bytes > 6<<10 {
			return fmt.Errorf("pending stats out of bounds: %+v", ps)
		}
	}
	return nil
}
