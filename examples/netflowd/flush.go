package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// incrScript adds pairs of (hash field, increment) to the hash KEYS[1] and
// sets its TTL to ARGV[1] seconds: one call per bucket and flush, atomic.
var incrScript = redis.NewScript(`
for i = 2, #ARGV, 2 do
	redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0
`)

const (
	// maxScriptArgs bounds the arguments of one incrScript call.
	maxScriptArgs = 4096
	// maxPipeline bounds the commands sent in one pipeline.
	maxPipeline = 256
	// maxRetry bounds the calls kept for the next flush when Redis fails;
	// beyond it their counts are dropped and counted.
	maxRetry = 100000
)

// flusher moves the counts of the aggregator and the senders' counters to
// Redis. flush is not safe for concurrent use; the mutex serialises the
// periodic flush and the final one.
type flusher struct {
	rdb  *redis.Client
	keys keyspace
	agg  *aggregator
	reg  *registry
	ttls [numGranularities]time.Duration

	mu       sync.Mutex
	retry    []incrCall // calls that failed, for the next flush
	trackers map[bucketID]*tracker

	failures atomic.Uint64 // flushes that met a Redis error
	lost     atomic.Uint64 // calls dropped after failures (beyond maxRetry)
}

// incrCall is one incrScript call.
type incrCall struct {
	key  string
	args []any // ttl seconds, then field, increment pairs
}

// flush writes every count taken since the last flush.
func (f *flusher) flush(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := f.retry
	f.retry = nil
	for _, bc := range f.agg.take() {
		calls = append(calls, f.calls(bc)...)
		calls = append(calls, f.rollUp(bc)...)
	}
	f.sweepTrackers()
	var firstErr error
	for start := 0; start < len(calls); start += maxPipeline {
		batch := calls[start:min(start+maxPipeline, len(calls))]
		if err := f.send(ctx, batch); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if err := f.flushSenders(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		f.failures.Add(1)
	}
	return firstErr
}

// calls turns the counts of one bucket into incrScript calls. The hash
// field names and increments are slices of one buffer per call, so that a
// counter costs no allocation of its own.
func (f *flusher) calls(bc bucketCounts) []incrCall {
	bucket := bucketName(bc.id.gran, bc.id.start)
	key := f.keys.stats(bc.id.sender, bucket)
	ttl := int64(f.ttls[bc.id.gran] / time.Second)
	var calls []incrCall
	var arena []byte
	var args []any
	flushCall := func() {
		if len(args) > 1 {
			calls = append(calls, incrCall{key: key, args: args})
		}
	}
	for i := range bc.fields {
		if len(args) == 0 || len(args) >= maxScriptArgs {
			flushCall()
			args = make([]any, 1, min(maxScriptArgs+20, 1+12*(len(bc.fields)-i)))
			args[0] = ttl
			arena = make([]byte, 0, 64*cap(args))
		}
		fc := &bc.fields[i]
		name := fc.name()
		for d, c := range fc.cell.stored() {
			for n, v := range [3]uint64{c.flows, c.packets, c.bytes} {
				if v == 0 {
					continue
				}
				start := len(arena)
				arena = append(arena, name...)
				arena = append(arena, counterNames[d][n]...)
				mid := len(arena)
				arena = strconv.AppendUint(arena, v, 10)
				// Slices of arena stay valid when a later append moves it.
				args = append(args, arena[start:mid:mid], arena[mid:len(arena):len(arena)])
			}
		}
	}
	flushCall()
	return calls
}

// send runs calls in one pipeline; those that fail are kept for the next
// flush. A call whose answer was lost after Redis ran it (a timeout, a
// connection cut mid-pipeline) is run again then: counts are written at
// least once. A refused connection, the usual outage, runs nothing.
func (f *flusher) send(ctx context.Context, calls []incrCall) error {
	p := f.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = incrScript.Eval(ctx, p, []string{c.key}, c.args...)
	}
	_, err := p.Exec(ctx)
	if err == nil {
		return nil
	}
	for i, cmd := range cmds {
		if cmd.Err() == nil {
			continue
		}
		if len(f.retry) < maxRetry {
			f.retry = append(f.retry, calls[i])
		} else {
			f.lost.Add(1)
		}
	}
	return fmt.Errorf("netflow: flush counts: %w", err)
}

// flushSenders adds the senders' counters to their Redis hashes.
func (f *flusher) flushSenders(ctx context.Context) error {
	type taken struct {
		s                                      *sender
		datagrams, flows, unmatched, otherVals uint64
		lastSeen                               int64
	}
	var all []taken
	f.reg.each(func(s *sender) {
		c := s.counters
		t := taken{s: s, datagrams: c.datagrams.Swap(0), flows: c.flows.Swap(0),
			unmatched: c.unmatched.Swap(0), otherVals: c.otherValues.Swap(0), lastSeen: c.lastSeen.Load()}
		if t.datagrams|t.flows|t.unmatched|t.otherVals != 0 {
			all = append(all, t)
		}
	})
	if len(all) == 0 {
		return nil
	}
	p := f.rdb.Pipeline()
	for _, t := range all {
		key := f.keys.senderCounters(t.s.addr)
		p.HIncrBy(ctx, key, "datagrams", int64(t.datagrams))
		p.HIncrBy(ctx, key, "flows", int64(t.flows))
		p.HIncrBy(ctx, key, "unmatched", int64(t.unmatched))
		p.HIncrBy(ctx, key, "otherValues", int64(t.otherVals))
		p.HSet(ctx, key, "lastSeen", strconv.FormatInt(t.lastSeen, 10))
	}
	if _, err := p.Exec(ctx); err != nil {
		// Put the counts back for the next flush.
		for _, t := range all {
			c := t.s.counters
			c.datagrams.Add(t.datagrams)
			c.flows.Add(t.flows)
			c.unmatched.Add(t.unmatched)
			c.otherValues.Add(t.otherVals)
		}
		return fmt.Errorf("netflow: flush sender counters: %w", err)
	}
	return nil
}
