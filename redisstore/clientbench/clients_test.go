// Package clientbench compares github.com/redis/go-redis/v9 and
// github.com/redis/rueidis on the redisstore workload. It is its own module
// so that redisstore depends only on the client it chose.
//
//	cd redisstore/clientbench && go test -run '^$' -bench . -benchtime 2000x
package clientbench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// value is a serialized 18-field template, about the size redisstore
// stores.
var value = strings.Repeat("x", 9+18*8)

// stateValue is a serialized options state of a few samplers and names.
var stateValue = strings.Repeat("s", 200)

func goRedis(b *testing.B, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 3})
	b.Cleanup(func() { c.Close() })
	return c
}

func rueidisClient(b *testing.B, addr string, cache bool) rueidis.Client {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: !cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// localCache is what a store keeps in process: one map under a RWMutex.
type localCache struct {
	mu sync.RWMutex
	m  map[string]string
}

func (c *localCache) get(k string) (string, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

// BenchmarkLookup is a warm template look-up, as the decoder makes one per
// data set: the local map both clients would sit behind, rueidis' DoCache
// hit (server-assisted client-side cache), and a GET round trip.
func BenchmarkLookup(b *testing.B) {
	addr := redistest.Start(b).Addr()
	ctx := context.Background()
	b.Run("local-map", func(b *testing.B) {
		c := &localCache{m: map[string]string{"k": value}}
		b.ReportAllocs()
		for b.Loop() {
			if v, ok := c.get("k"); !ok || len(v) != len(value) {
				b.Fatal("miss")
			}
		}
	})
	b.Run("rueidis-DoCache-hit", func(b *testing.B) {
		c := rueidisClient(b, addr, true)
		if err := c.Do(ctx, c.B().Set().Key("k").Value(value).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			v, err := c.DoCache(ctx, c.B().Get().Key("k").Cache(), time.Minute).ToString()
			if err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-redis-GET", func(b *testing.B) {
		c := goRedis(b, addr)
		if err := c.Set(ctx, "k", value, 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if v, err := c.Get(ctx, "k").Result(); err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis-GET", func(b *testing.B) {
		c := rueidisClient(b, addr, false)
		b.ReportAllocs()
		for b.Loop() {
			if v, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToString(); err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAddTemplate is a template add: SET with a TTL and PUBLISH of
// the change, in one round trip.
func BenchmarkAddTemplate(b *testing.B) {
	addr := redistest.Start(b).Addr()
	ctx := context.Background()
	b.Run("go-redis", func(b *testing.B) {
		c := goRedis(b, addr)
		b.ReportAllocs()
		for b.Loop() {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "t", value, time.Hour)
				p.Publish(ctx, "ev", "t")
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis", func(b *testing.B) {
		c := rueidisClient(b, addr, false)
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range c.DoMulti(ctx,
				c.B().Set().Key("t").Value(value).Ex(time.Hour).Build(),
				c.B().Publish().Channel("ev").Message("t").Build()) {
				if err := r.Error(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkState is a state write and read back: SET, then GET.
func BenchmarkState(b *testing.B) {
	addr := redistest.Start(b).Addr()
	ctx := context.Background()
	b.Run("go-redis", func(b *testing.B) {
		c := goRedis(b, addr)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(ctx, "s", stateValue, 0).Err(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Get(ctx, "s").Result(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis", func(b *testing.B) {
		c := rueidisClient(b, addr, false)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Do(ctx, c.B().Set().Key("s").Value(stateValue).Build()).Error(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Do(ctx, c.B().Get().Key("s").Build()).ToString(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInvalidation is the time from instance A writing a new value
// until instance B holds it: with pub/sub, A's SET and a PUBLISH carrying
// the value in one round trip, B holding the value once the message
// arrives (both clients); with rueidis' server-assisted client-side
// caching (CLIENT TRACKING), A's SET, the invalidation push to B, and B's
// re-read through DoCache.
func BenchmarkInvalidation(b *testing.B) {
	addr := redistest.Start(b).Addr()
	ctx := context.Background()
	b.Run("go-redis-pubsub", func(b *testing.B) {
		a, sub := goRedis(b, addr), goRedis(b, addr)
		ps := sub.Subscribe(ctx, "ev")
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
			b.Fatal(err)
		}
		ch := ps.Channel()
		b.ReportAllocs()
		for b.Loop() {
			_, err := a.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "t", value, time.Hour)
				p.Publish(ctx, "ev", value)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if m := <-ch; len(m.Payload) != len(value) {
				b.Fatal("short message")
			}
		}
	})
	b.Run("rueidis-pubsub", func(b *testing.B) {
		a, sub := rueidisClient(b, addr, false), rueidisClient(b, addr, false)
		got := make(chan int, 1)
		ready := make(chan struct{})
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go sub.Receive(sctx, sub.B().Subscribe().Channel("ev").Build(), func(m rueidis.PubSubMessage) { got <- len(m.Message) })
		go func() {
			// Publish until the subscription is in place.
			for {
				n, _ := a.Do(ctx, a.B().Publish().Channel("ev").Message("x").Build()).AsInt64()
				if n > 0 {
					<-got
					close(ready)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		<-ready
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range a.DoMulti(ctx,
				a.B().Set().Key("t").Value(value).Ex(time.Hour).Build(),
				a.B().Publish().Channel("ev").Message(value).Build()) {
				if err := r.Error(); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-got; n != len(value) {
				b.Fatal("short message")
			}
		}
	})
	b.Run("rueidis-tracking", func(b *testing.B) {
		inv := make(chan struct{}, 16)
		a := rueidisClient(b, addr, false)
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr},
			OnInvalidations: func([]rueidis.RedisMessage) {
				select {
				case inv <- struct{}{}:
				default:
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := a.Do(ctx, a.B().Set().Key("inv").Value(value).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		if err := c.DoCache(ctx, c.B().Get().Key("inv").Cache(), time.Minute).Error(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := a.Do(ctx, a.B().Set().Key("inv").Value(value).Build()).Error(); err != nil {
				b.Fatal(err)
			}
			<-inv
			if v, err := c.DoCache(ctx, c.B().Get().Key("inv").Cache(), time.Minute).ToString(); err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
}
