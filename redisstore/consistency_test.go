package redisstore

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// Issue 20, item 4, on a real redis-server: an instance whose cache still
// holds the old definition of a template never decodes a data set that
// definition does not fit; with HoldUntilConfirmed it decodes nothing with
// a cached template until its cache is confirmed after an outage.

// The exporter's template 256 (v9, source ID 1): the builders' 45-byte
// layout, a redefinition with one more 4-byte field (49 bytes), and one of
// the same length with source and destination addresses swapped.
var (
	fields45 = testkit.V9Fields
	fields49 = append(slices.Clone(testkit.V9Fields), testkit.Field{ID: 1, Length: 4})
	swapped  = append([]testkit.Field{testkit.V9Fields[1], testkit.V9Fields[0]}, testkit.V9Fields[2:]...)
	key256   = netflow.TemplateKey{Exporter: fixtureExporter, Version: 9, Domain: 1, ID: 256}
)

func templateDatagram(fields []testkit.Field) []byte {
	return testkit.V9Packet(1, 1, testkit.Set(0, testkit.TemplateRecord(256, fields...), true))
}

func dataDatagram(fields []testkit.Field, n int) []byte {
	return testkit.V9Packet(1, 2, testkit.Set(256, testkit.FlowRecords(fields, n), true))
}

// recordLen returns the record length of s's template of key, 0 if none.
func recordLen(s *Store, key netflow.TemplateKey) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.templates[key]
	if !ok {
		return 0
	}
	return e.t.MinRecordLen()
}

// takeAll takes what d releases until it has taken n flows or 10 s passed.
func takeAll(t *testing.T, d *netflow.Decoder, n int) []netflow.Flow {
	t.Helper()
	var flows []netflow.Flow
	deadline := time.Now().Add(10 * time.Second)
	for len(flows) < n {
		p, err := d.TakeReleased(nil)
		require.NoError(t, err)
		if p != nil {
			flows = p.AppendFlows(flows)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d flows released in 10 s; pending %+v", len(flows), n, d.Stats().Pending)
		}
		select {
		case <-d.Releases():
		case <-time.After(netflow.ReleaseInterval):
		}
	}
	return flows
}

// requireTestFlows requires that flows are testkit.FlowN(0..n-1), with
// source and destination swapped if swap.
func requireTestFlows(t *testing.T, flows []netflow.Flow, n int, swap bool) {
	t.Helper()
	require.Len(t, flows, n)
	for i, f := range flows {
		w := testkit.FlowN(i)
		src, dst := w.Src, w.Dst
		if swap {
			src, dst = dst, src
		}
		require.Equal(t, src, f.SrcAddr, "flow %d", i)
		require.Equal(t, dst, f.DstAddr, "flow %d", i)
		require.Equal(t, uint64(w.Packets), f.Packets, "flow %d", i)
		require.Equal(t, uint64(w.Octets), f.Bytes, "flow %d", i)
	}
}

// twoInstances opens two stores on r under one prefix, with decoders.
func twoInstances(t *testing.T, r *redistest.Server, c Consistency) (sa, sb *Store, a, b *netflow.Decoder) {
	t.Helper()
	cfg := Config{Prefix: newPrefix(t), Timeout: 500 * time.Millisecond, Consistency: c}
	sa, sb = openStore(t, r, cfg), openStore(t, r, cfg)
	a, b = netflow.NewDecoder(netflow.Config{Store: sa}), netflow.NewDecoder(netflow.Config{Store: sb})
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	_, err := a.Decode(fixtureExporter, templateDatagram(fields45))
	require.NoError(t, err)
	eventually(t, "B has the template", func() bool { return recordLen(sb, key256) == 45 })
	requireTestFlows(t, decodeAll(t, b, fixtureExporter, dataDatagram(fields45, 5)), 5, false)
	return sa, sb, a, b
}

// TestMisfitAcrossOutage: Redis is killed; A learns the 49-byte
// redefinition (and cannot write it); B, whose cache has the 45-byte one,
// gets the exporter's 49-byte data: it holds it (decoding it would give 5
// flows of garbage a datagram) and does not decode it when the check
// cannot reach Redis. Redis comes back empty; A writes the redefinition
// back, B's cache gets it, and B releases the sets by itself, decoded
// right.
func TestMisfitAcrossOutage(t *testing.T) {
	t.Parallel() // waits on Redis
	r := redistest.Start(t)
	sa, sb, a, b := twoInstances(t, r, DecodeFromCache)
	r.Stop()
	eventually(t, "both lose Redis", func() bool { return !sa.Stats().Connected && !sb.Stats().Connected })
	require.False(t, sb.Stats().Confirmed)

	_, err := a.Decode(fixtureExporter, templateDatagram(fields49))
	require.ErrorIs(t, err, netflow.ErrStore)
	require.Equal(t, 49, recordLen(sa, key256), "A decodes with what it learned")
	for range 3 {
		p, err := b.Decode(fixtureExporter, dataDatagram(fields49, 5))
		require.NoError(t, err)
		require.Zero(t, p.FlowCount(), "B decoded 49-byte records with its 45-byte template")
	}
	require.Equal(t, uint64(3), b.Stats().Pending.Misfits)
	p, err := b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p)
	require.Equal(t, 3, b.Stats().Pending.Held)
	start := time.Now()
	_, _, err = sb.CheckTemplate(key256)
	require.ErrorIs(t, err, netflow.ErrStore)
	require.Less(t, time.Since(start), 100*time.Millisecond, "the check does not wait for Redis")

	r.Restart()
	flows := takeAll(t, b, 15)
	for i := range 3 {
		requireTestFlows(t, flows[5*i:5*i+5], 5, false)
	}
	require.Equal(t, 49, recordLen(sb, key256))
	st := b.Stats().Pending
	require.Zero(t, st.Held)
	require.Equal(t, uint64(3), st.Matched)
	require.Zero(t, st.MisfitsAccepted)
	eventually(t, "B's cache confirmed again", func() bool { return sb.Stats().Confirmed })
	require.Positive(t, sb.Stats().Outages)
}

// TestSameLengthOutage: the window no check on lengths closes. While
// Redis is down A learns a redefinition of the same record length (source
// and destination swapped); B gets a datagram made before it and one made
// after it. With DecodeFromCache B decodes both at once with its cached
// layout: the second comes out swapped. With HoldUntilConfirmed B decodes
// neither until its cache is confirmed after Redis is back (ConfirmDelay),
// then both with the redefinition: the first comes out swapped.
func TestSameLengthOutage(t *testing.T) {
	t.Parallel() // waits on Redis
	for _, c := range []Consistency{DecodeFromCache, HoldUntilConfirmed} {
		t.Run(c.String(), func(t *testing.T) {
			r := redistest.Start(t)
			sa, sb, a, b := twoInstances(t, r, c)
			r.Stop()
			eventually(t, "both lose Redis", func() bool { return !sa.Stats().Connected && !sb.Stats().Connected })
			before, err := b.Decode(fixtureExporter, dataDatagram(fields45, 4))
			require.NoError(t, err)
			beforeFlows := before.AppendFlows(nil)
			_, err = a.Decode(fixtureExporter, templateDatagram(swapped))
			require.ErrorIs(t, err, netflow.ErrStore)
			after, err := b.Decode(fixtureExporter, dataDatagram(swapped, 6))
			require.NoError(t, err)
			afterFlows := after.AppendFlows(nil)
			if c == DecodeFromCache {
				requireTestFlows(t, beforeFlows, 4, false)
				requireTestFlows(t, afterFlows, 6, true) // decoded with the old layout
				require.Zero(t, sb.Stats().Unconfirmed)
				return
			}
			require.Empty(t, beforeFlows)
			require.Empty(t, afterFlows)
			require.Equal(t, 2, b.Stats().Pending.Held)
			require.Equal(t, uint64(2), sb.Stats().Unconfirmed)
			// A learned it itself: it serves it.
			tmpl, err := sa.Template(key256)
			require.NoError(t, err)
			require.Equal(t, uint16(12), tmpl.Fields[0].ID)

			r.Restart()
			start := time.Now()
			flows := takeAll(t, b, 10)
			require.GreaterOrEqual(t, time.Since(start), ConfirmDelay, "held until the cache is confirmed")
			requireTestFlows(t, flows[:4], 4, true) // made before the redefinition
			requireTestFlows(t, flows[4:], 6, false)
			require.True(t, sb.Stats().Confirmed)
		})
	}
}

// TestCheckTemplate: CheckTemplate reads Redis, not the cache; says since
// when the cache holds the layout; fails at once while the cache is not
// confirmed; and answers again ConfirmDelay after Redis is back.
func TestCheckTemplate(t *testing.T) {
	t.Parallel() // waits on Redis
	r := redistest.Start(t)
	prefix := newPrefix(t)
	s := openStore(t, r, Config{Prefix: prefix, Timeout: 500 * time.Millisecond})
	require.True(t, s.Stats().Confirmed, "confirmed from the first read")
	before := time.Now()
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 4)))
	after := time.Now()
	time.Sleep(10 * time.Millisecond) // so that a wrong since (the call's time) shows

	got, since, err := s.CheckTemplate(testKey)
	require.NoError(t, err)
	require.Equal(t, uint16(4), got.Fields[2].Length)
	require.False(t, since.Before(before.Truncate(0)) || since.After(after), "since %v: when the layout entered the cache", since)
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 4)), "a resend of the same layout")
	_, since2, err := s.CheckTemplate(testKey)
	require.NoError(t, err)
	require.Equal(t, since, since2, "a resend keeps since")

	// Written behind the cache's back (no notification): Redis' answer.
	ctx := context.Background()
	other := testKey
	other.Exporter = netip.MustParseAddrPort("192.0.2.9:2055")
	require.NoError(t, s.rdb.Set(ctx, s.templateKey(testKey), encodeTemplate(layout(t, testKey, 8)), 0).Err())
	called := time.Now()
	got, since, err = s.CheckTemplate(testKey)
	require.NoError(t, err)
	require.Equal(t, uint16(8), got.Fields[2].Length)
	require.False(t, since.Before(called))
	require.Equal(t, uint16(4), thirdLen(s, testKey), "the cache is left to the notifications")
	_, _, err = s.CheckTemplate(other)
	require.ErrorIs(t, err, netflow.ErrTemplateNotFound)
	require.Equal(t, uint64(4), s.Stats().Checks)

	r.Stop()
	eventually(t, "the store loses Redis", func() bool { return !s.Stats().Confirmed })
	_, _, err = s.CheckTemplate(testKey)
	require.ErrorIs(t, err, netflow.ErrStore)
	r.Restart()
	eventually(t, "the store reconnects", func() bool { return s.Stats().Connected })
	reconnected := time.Now()
	_, _, err = s.CheckTemplate(testKey)
	require.ErrorIs(t, err, netflow.ErrStore, "not before ConfirmDelay")
	eventually(t, "the cache is confirmed", func() bool { return s.Stats().Confirmed })
	require.GreaterOrEqual(t, time.Since(reconnected), ConfirmDelay-100*time.Millisecond)
	got, _, err = s.CheckTemplate(testKey)
	require.NoError(t, err)
	require.Equal(t, uint16(4), got.Fields[2].Length, "Redis came back empty: the cache's copy, written back by reseed")
	require.Positive(t, s.Stats().CheckFailures)
}

// TestParseConsistency: the flag values.
func TestParseConsistency(t *testing.T) {
	for _, c := range []Consistency{DecodeFromCache, HoldUntilConfirmed} {
		got, err := ParseConsistency(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	_, err := ParseConsistency("strict")
	require.Error(t, err)
}
