package main

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
	"github.com/redis/go-redis/v9"
)

// options are the settings of a service (the command's flags).
type options struct {
	authKey, signKey     []byte
	requireBodySignature bool
	// requireRequestSignature refuses the seed's X-Io-Sign schemes.
	requireRequestSignature bool
	signWindow              time.Duration // zero: defaultSignWindow
	nonceCache              int           // zero: defaultNonceCache
	maxValues               int
	maxBuckets              int
	kinds                   kindSet
	ttls                    [numGranularities]time.Duration
	redisPrefix             string
	flushEvery              time.Duration
	maxBody                 int64
	workers                 int
}

// defaultTTLs are the -ttl-* defaults.
var defaultTTLs = [numGranularities]time.Duration{
	year:   10 * 365 * 24 * time.Hour,
	month:  3 * 365 * 24 * time.Hour,
	day:    366 * 24 * time.Hour,
	hour:   31 * 24 * time.Hour,
	minute: 2 * 24 * time.Hour,
}

// service is netflowd: a receiver whose datagrams from registered senders
// are counted, a flusher that moves the counts to Redis, and the HTTP API.
type service struct {
	opts options
	rdb  *redis.Client
	keys keyspace
	reg  *registry
	agg  *aggregator
	fl   *flusher
	rcv  *receiver.Receiver

	// failed receives the failure that stopped the receiver (a socket
	// error), once.
	failed chan error

	flowBufs sync.Pool // of *[]netflow.Flow
	// vanished counts datagrams that passed the allow-list from a sender
	// deleted before they were handled.
	vanished atomic.Uint64
}

// newService builds the service on rdb and loads the senders; it does not
// listen yet.
func newService(ctx context.Context, opts options, rdb *redis.Client) (*service, error) {
	s := &service{opts: opts, rdb: rdb, keys: keyspace{prefix: opts.redisPrefix}, failed: make(chan error, 1)}
	s.rcv = receiver.New(s.handle, receiver.Config{
		Decoder: netflow.NewDecoder(netflow.Config{}),
		Workers: opts.workers,
		OnError: func(err error) { s.failed <- err },
	})
	s.reg = newRegistry(rdb, s.keys)
	// Only registered senders' datagrams are decoded: the receiver asks
	// the registry (empty until load) for each one.
	s.rcv.SetAllowFunc(s.reg.known)
	s.agg = newAggregator(opts.kinds, opts.maxValues, opts.maxBuckets, 16)
	s.fl = &flusher{rdb: rdb, keys: s.keys, agg: s.agg, reg: s.reg, ttls: opts.ttls}
	s.flowBufs.New = func() any { b := make([]netflow.Flow, 0, 64); return &b }
	if err := s.reg.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// handle counts one datagram; the receiver calls it from its workers.
func (s *service) handle(d *receiver.Datagram) {
	snd := s.reg.lookup(d.Exporter.Addr())
	if snd == nil {
		s.vanished.Add(1)
		return
	}
	c := snd.counters
	// Counted once its flows are in the aggregates: a caller that waits
	// for a datagram count then sees them (TestReplaySoftflowdV9). Data the
	// decoder released by itself (d.Released) came in a datagram counted
	// when it arrived.
	if !d.Released {
		defer c.datagrams.Add(1)
	}
	c.lastSeen.Store(d.Received.UnixNano())
	if d.Packet == nil || d.Packet.FlowCount() == 0 {
		return
	}
	bp := s.flowBufs.Get().(*[]netflow.Flow)
	flows := d.Packet.AppendFlows((*bp)[:0])
	res := s.agg.add(snd, flows, d.Received)
	*bp = flows[:0]
	s.flowBufs.Put(bp)
	c.flows.Add(uint64(len(flows)))
	if res.unmatched > 0 {
		c.unmatched.Add(res.unmatched)
	}
	if res.otherValues > 0 {
		c.otherValues.Add(res.otherValues)
	}
}

// listen starts receiving on the UDP address; the cancel func stops the
// receiver once every datagram read has been handled.
func (s *service) listen(ctx context.Context, address string) (netip.AddrPort, func(), error) {
	return s.rcv.Listen(ctx, address)
}

// flushTimeout bounds one flush.
const flushTimeout = 30 * time.Second

// flushLoop flushes every opts.flushEvery until stop is closed; a flush in
// progress then completes (cancelling it midway could leave Redis with
// part of a pipeline done and the whole of it kept for a retry).
func (s *service) flushLoop(stop <-chan struct{}, logf func(string, ...any)) {
	t := time.NewTicker(s.opts.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			if err := s.fl.flush(ctx); err != nil {
				logf("netflowd: %v", err)
			}
			cancel()
		}
	}
}

// flush writes every pending count to Redis now.
func (s *service) flush(ctx context.Context) error {
	return s.fl.flush(ctx)
}
