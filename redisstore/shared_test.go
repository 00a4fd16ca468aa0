package redisstore

import (
	"context"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

var testKey = netflow.TemplateKey{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 10, Domain: 1, ID: 256}

// layout returns a template of key whose third field's length is n, so
// that layouts of different n differ.
func layout(t testing.TB, key netflow.TemplateKey, n uint16) *netflow.Template {
	t.Helper()
	tmpl, err := netflow.NewTemplate(key.Version, key.ID, false, 0, []netflow.TemplateField{
		{ID: 8, Length: 4}, {ID: 12, Length: 4}, {ID: 2, Length: n}, {ID: 1, Length: 8},
	})
	require.NoError(t, err)
	return tmpl
}

// thirdLen returns the layout number of key's template in s, 0 if none.
func thirdLen(s *Store, key netflow.TemplateKey) uint16 {
	t, err := s.Template(key)
	if err != nil {
		return 0
	}
	return t.Fields[2].Length
}

// eventually waits up to 5s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// keyLog records the keys announced to a subscriber.
type keyLog struct {
	mu   sync.Mutex
	keys []netflow.TemplateKey
}

func (l *keyLog) f(k netflow.TemplateKey) { l.mu.Lock(); l.keys = append(l.keys, k); l.mu.Unlock() }
func (l *keyLog) has(k netflow.TemplateKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.keys, k)
}

// TestTwoInstances: what instance A stores reaches instance B (cache and
// announcement), redefinitions included, within the window measured here;
// withdrawals and forgetting too.
func TestTwoInstances(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	a := openStore(t, r, Config{Prefix: prefix})
	b := openStore(t, r, Config{Prefix: prefix})
	var heard keyLog
	defer b.Subscribe(heard.f)()

	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 1)))
	eventually(t, "B sees A's template", func() bool { return thirdLen(b, testKey) == 1 })
	eventually(t, "B announces A's template", func() bool { return heard.has(testKey) })

	// Redefinitions: the time from A's AddTemplate returning until B's
	// look-up gives the new layout.
	var windows []time.Duration
	for i := range 200 {
		n := uint16(2 + i%2)
		require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, n)))
		start := time.Now()
		for thirdLen(b, testKey) != n {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("redefinition %d not seen by B within 5s", i)
			}
			runtime.Gosched()
		}
		windows = append(windows, time.Since(start))
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
	t.Logf("redefinition window (A's AddTemplate returned -> B's Template has it), 200 runs: median %v, p99 %v, max %v",
		windows[len(windows)/2], windows[len(windows)*99/100], windows[len(windows)-1])

	// Options state.
	st := netflow.ExporterState{Samplers: map[uint64]uint32{1: 100}, SamplingInterval: 10}
	require.NoError(t, a.SetExporterState(testKey, st))
	dk := testKey
	dk.ID = 0
	eventually(t, "B sees A's state", func() bool {
		got, ok, err := b.ExporterState(dk)
		return err == nil && ok && got.Samplers[1] == 100 && got.SamplingInterval == 10
	})
	eventually(t, "B announces A's state", func() bool { return heard.has(dk) })

	// Withdrawal, WithdrawAll, forgetting.
	k2 := testKey
	k2.ID = 257
	require.NoError(t, a.AddTemplate(k2, layout(t, k2, 4)))
	eventually(t, "B sees template 257", func() bool { return thirdLen(b, k2) == 4 })
	require.NoError(t, a.WithdrawTemplate(k2))
	eventually(t, "B drops withdrawn 257", func() bool { return thirdLen(b, k2) == 0 })
	require.NoError(t, a.AddTemplate(k2, layout(t, k2, 4)))
	eventually(t, "B sees template 257 again", func() bool { return thirdLen(b, k2) == 4 })
	require.NoError(t, b.WithdrawAll(k2, false)) // B withdraws; A follows
	eventually(t, "A drops B's WithdrawAll", func() bool { return thirdLen(a, k2) == 0 && thirdLen(a, testKey) == 0 })
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 5)))
	eventually(t, "B sees template 256", func() bool { return thirdLen(b, testKey) == 5 })
	require.NoError(t, a.ForgetExporter(testKey.Exporter))
	eventually(t, "B forgets the exporter", func() bool {
		_, ok, _ := b.ExporterState(dk)
		return thirdLen(b, testKey) == 0 && !ok
	})

	// A third instance opened now reads what is there.
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 6)))
	c := openStore(t, r, Config{Prefix: prefix})
	require.Equal(t, uint16(6), thirdLen(c, testKey))
	// Another prefix sees nothing of it.
	other := openStore(t, r, Config{Prefix: prefix + "-other"})
	require.Equal(t, uint16(0), thirdLen(other, testKey))
	require.Zero(t, a.Stats().Errors)
	require.Zero(t, b.Stats().Malformed)
}

// TestTTL: a template not refreshed within the TTL expires in Redis and in
// every cache; AddTemplate of the same layout refreshes it.
func TestTTL(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	const ttl = time.Second
	a := openStore(t, r, Config{Prefix: prefix, TTL: ttl})
	b := openStore(t, r, Config{Prefix: prefix, TTL: ttl})
	ctx := context.Background()
	start := time.Now()
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 1)))
	pttl, err := a.rdb.PTTL(ctx, a.templateKey(testKey)).Result()
	require.NoError(t, err)
	require.Greater(t, pttl, 800*time.Millisecond)
	require.LessOrEqual(t, pttl, ttl)
	eventually(t, "B sees it", func() bool { return thirdLen(b, testKey) == 1 })

	time.Sleep(time.Until(start.Add(600 * time.Millisecond)))
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 1))) // the exporter resends
	refreshed := time.Now()
	pttl, err = a.rdb.PTTL(ctx, a.templateKey(testKey)).Result()
	require.NoError(t, err)
	require.Greater(t, pttl, 800*time.Millisecond, "AddTemplate of the same layout refreshes the TTL")

	// Past the first TTL, before the refreshed one ends: still there.
	time.Sleep(time.Until(start.Add(1200 * time.Millisecond)))
	if time.Since(refreshed) < 900*time.Millisecond {
		require.Equal(t, uint16(1), thirdLen(a, testKey))
		require.Equal(t, uint16(1), thirdLen(b, testKey), "B's copy is refreshed by A's resend")
	}
	// Past the refreshed TTL: gone everywhere.
	time.Sleep(time.Until(refreshed.Add(ttl + 100*time.Millisecond)))
	require.Equal(t, uint16(0), thirdLen(a, testKey))
	require.Equal(t, uint16(0), thirdLen(b, testKey))
	n, err := a.rdb.Exists(ctx, a.templateKey(testKey)).Result()
	require.NoError(t, err)
	require.Zero(t, n, "the key expired in Redis")
}

// TestClose: Close ends the subscription at once and is idempotent; the
// cache stays readable and writes fail with ErrStore.
func TestClose(t *testing.T) {
	r := redistest.Start(t)
	s := openStore(t, r, Config{Prefix: newPrefix(t)})
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 1)))
	start := time.Now()
	require.NoError(t, s.Close())
	require.Less(t, time.Since(start), time.Second)
	s.Close()
	require.Equal(t, uint16(1), thirdLen(s, testKey))
	k := testKey
	k.ID = 300
	require.ErrorIs(t, s.AddTemplate(k, layout(t, k, 1)), netflow.ErrStore)
}

// TestConvergence: three instances write the same keys from several
// goroutines each; once they stop, every cache holds what Redis holds.
func TestConvergence(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	stores := []*Store{openStore(t, r, Config{Prefix: prefix}), openStore(t, r, Config{Prefix: prefix}), openStore(t, r, Config{Prefix: prefix})}
	keys := make([]netflow.TemplateKey, 2)
	for i := range keys {
		keys[i] = testKey
		keys[i].ID = uint16(256 + i)
	}
	var wg sync.WaitGroup
	for si, s := range stores {
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					k := keys[(si+g+i)%len(keys)]
					var err error
					switch (si*7 + g*3 + i) % 5 {
					case 0:
						err = s.WithdrawTemplate(k)
					case 1:
						err = s.SetExporterState(k, netflow.ExporterState{SamplingInterval: uint32(si*100 + g*10 + i%10)})
					default:
						err = s.AddTemplate(k, layout(t, k, uint16(1+(si+g+i)%3)))
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	ctx := context.Background()
	dk := testKey
	dk.ID = 0
	eventually(t, "every cache holds what Redis holds", func() bool {
		for _, k := range keys {
			var want uint16
			if v, err := stores[0].rdb.Get(ctx, stores[0].templateKey(k)).Bytes(); err == nil {
				tmpl, err := decodeTemplate(k, v)
				require.NoError(t, err)
				want = tmpl.Fields[2].Length
			}
			for _, s := range stores {
				if thirdLen(s, k) != want {
					return false
				}
			}
		}
		v, err := stores[0].rdb.Get(ctx, stores[0].stateKey(dk)).Bytes()
		require.NoError(t, err)
		want, err := decodeState(dk, v)
		require.NoError(t, err)
		for _, s := range stores {
			if got, ok, _ := s.ExporterState(dk); !ok || got.SamplingInterval != want.SamplingInterval {
				return false
			}
		}
		return true
	})
	for _, s := range stores {
		require.Zero(t, s.Stats().Errors)
	}
}
