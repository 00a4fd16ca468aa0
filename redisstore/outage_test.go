package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestOutage stops redis-server under two instances: look-ups of cached
// templates and state go on, writes fail with ErrStore and are counted;
// redis-server restarts (empty, on the same port) and the stores recover
// by themselves: they resubscribe, write back what they held and what
// changed meanwhile, and new writes reach the other instance again.
func TestOutage(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	a := openStore(t, r, Config{Prefix: prefix, Timeout: 500 * time.Millisecond})
	b := openStore(t, r, Config{Prefix: prefix, Timeout: 500 * time.Millisecond})
	var heard keyLog
	defer b.Subscribe(heard.f)()
	dk := testKey
	dk.ID = 0
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 1)))
	require.NoError(t, a.SetExporterState(dk, netflow.ExporterState{SamplingInterval: 10}))
	eventually(t, "B sees A's template", func() bool { return thirdLen(b, testKey) == 1 })
	eventually(t, "B sees A's state", func() bool { _, ok, _ := b.ExporterState(dk); return ok })

	r.Stop()
	eventually(t, "both notice the outage", func() bool { return !a.Stats().Connected && !b.Stats().Connected })

	// Look-ups go on from the cache, without waiting for Redis.
	start := time.Now()
	for range 1000 {
		require.Equal(t, uint16(1), thirdLen(a, testKey))
		require.Equal(t, uint16(1), thirdLen(b, testKey))
		st, ok, err := b.ExporterState(dk)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint32(10), st.SamplingInterval)
	}
	require.Less(t, time.Since(start), time.Second, "look-ups wait for Redis")

	// Writes fail, each with ErrStore, and are counted.
	before := a.Stats().Errors
	k2 := testKey
	k2.ID = 257
	err := a.AddTemplate(k2, layout(t, k2, 2))
	require.ErrorIs(t, err, netflow.ErrStore)
	require.ErrorIs(t, a.SetExporterState(dk, netflow.ExporterState{SamplingInterval: 20}), netflow.ErrStore)
	require.ErrorIs(t, a.WithdrawTemplate(netflow.TemplateKey{Exporter: testKey.Exporter, Version: 10, Domain: 9, ID: 300}), netflow.ErrStore)
	require.GreaterOrEqual(t, a.Stats().Errors, before+3)
	require.Equal(t, uint16(2), thirdLen(a, k2), "A decodes with the template it learned while Redis was down")
	require.Equal(t, 3, a.Stats().Pending)
	require.False(t, errors.Is(err, netflow.ErrTemplateNotFound))
	// Through a decoder: a template datagram's store error matches
	// ErrStore, and decoding goes on with the template cached.
	d := netflow.NewDecoder(netflow.Config{Store: a})
	tmpl, data := benchDatagrams()
	_, err = d.Decode(fixtureExporter, tmpl)
	require.ErrorIs(t, err, netflow.ErrStore)
	p, err := d.Decode(fixtureExporter, data)
	require.NoError(t, err)
	require.Equal(t, benchRecords, p.FlowCount())

	// Redis is back, empty.
	r.Restart()
	eventually(t, "A reconnects and writes back", func() bool { st := a.Stats(); return st.Connected && st.Pending == 0 })
	require.Equal(t, 3, a.Stats().Templates, "v10 256 and 257, and the decoder's v9 256")
	eventually(t, "B reconnects", func() bool { return b.Stats().Connected })
	require.Equal(t, uint16(1), thirdLen(a, testKey))
	eventually(t, "B sees what A learned during the outage", func() bool { return thirdLen(b, k2) == 2 })
	eventually(t, "B has A's state of the outage", func() bool {
		st, ok, _ := b.ExporterState(dk)
		return ok && st.SamplingInterval == 20
	})
	require.Equal(t, uint16(1), thirdLen(b, testKey), "B kept its copy across the restart")
	ctx := context.Background()
	n, err := a.rdb.Exists(ctx, a.templateKey(testKey), a.templateKey(k2), a.stateKey(dk)).Result()
	require.NoError(t, err)
	require.Equal(t, int64(3), n, "the emptied Redis holds the templates and state again")
	require.Positive(t, a.Stats().Reseeds)

	// And new changes flow again.
	k3 := testKey
	k3.ID = 258
	require.NoError(t, a.AddTemplate(k3, layout(t, k3, 3)))
	eventually(t, "B sees A's new template", func() bool { return thirdLen(b, k3) == 3 })
	eventually(t, "B announces it", func() bool { return heard.has(k3) })
	require.NoError(t, b.AddTemplate(testKey, layout(t, testKey, 7)))
	eventually(t, "A sees B's redefinition", func() bool { return thirdLen(a, testKey) == 7 })
	t.Logf("A: %+v", a.Stats())
	t.Logf("B: %+v", b.Stats())
}

// TestOpenRedisDown: Open fails with ErrStore, within its context, when
// Redis cannot be reached.
func TestOpenRedisDown(t *testing.T) {
	r := redistest.Start(t)
	r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := Open(ctx, r.URL(), Config{Prefix: newPrefix(t), Timeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, netflow.ErrStore)
}

// TestReconnectRereads: changes whose notifications an instance missed
// (written behind its back, here straight into Redis) are read when its
// subscription reconnects, and announced; Redis kept its data, so nothing
// is written back.
func TestReconnectRereads(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	s := openStore(t, r, Config{Prefix: prefix})
	var heard keyLog
	defer s.Subscribe(heard.f)()
	gone := testKey
	gone.ID = 300
	require.NoError(t, s.AddTemplate(gone, layout(t, gone, 1)))
	ctx := context.Background()
	k := testKey
	k.ID = 301
	require.NoError(t, s.rdb.Set(ctx, s.templateKey(k), encodeTemplate(layout(t, k, 5)), 0).Err())
	require.NoError(t, s.rdb.Del(ctx, s.templateKey(gone)).Err())
	require.Equal(t, uint16(0), thirdLen(s, k), "no notification: not seen yet")
	require.Equal(t, uint16(1), thirdLen(s, gone))

	resyncs := s.Stats().Resyncs
	require.NoError(t, s.rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
	eventually(t, "the store resubscribes and re-reads", func() bool { return s.Stats().Resyncs > resyncs && s.Stats().Connected })
	require.Equal(t, uint16(5), thirdLen(s, k))
	require.Equal(t, uint16(0), thirdLen(s, gone), "deleted behind its back")
	require.True(t, heard.has(k), "the re-read announces what it found new")
	require.Zero(t, s.Stats().Reseeds)
}
