package receiver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/polltimer"
)

// ErrListen means a Receiver could not bind its socket: a bad address, an
// address in use, no permission. The error returned by Receiver.Listen and
// Receiver.ListenTCP wraps both ErrListen and the operating system's error,
// so that errors.Is(err, syscall.EADDRINUSE) works too.
var ErrListen = errors.New("netflow: listen failed")

var (
	errStopped = errors.New("netflow: receiver stopped")
	errNoConns = errors.New("netflow: no connection to serve")
)

// Receiver receives export datagrams on UDP sockets, and IPFIX messages on
// TCP (or TLS) connections, decodes them with a shared Decoder and hands
// them to a Handler. Start it with Listen, Serve, ListenTCP or
// ServeListener (as many of them as you need, UDP and TCP side by side);
// stop it by cancelling the context given to any of them or by calling a
// cancel func they return: a stop ends everything, and a Receiver does not
// start again. Its methods are safe for concurrent use.
type Receiver struct {
	h   Handler
	cfg Config
	dec *netflow.Decoder
	log *slog.Logger
	// debug: decode errors are logged
	debug bool

	allow atomic.Pointer[prefixSet] // nil: every source

	launchOnce sync.Once
	stopOnce   sync.Once
	stopCh     chan struct{} // closed when a stop is requested
	drainOver  chan struct{} // closed when the drain deadline passed
	done       chan struct{} // closed when every goroutine has ended

	mu          sync.Mutex
	err         error // the failure that stopped the receiver
	stopped     bool  // no listener may be added
	kernelDrops []*atomic.Uint64
	closers     []io.Closer // sockets and listeners
	afterCtx    []func() bool
	sessions    map[*session]struct{}
	sessionSeq  uint64
	bySource    tcpSources     // the sessions of each source address (tcplimits.go)
	readers     sync.WaitGroup // UDP readers and TCP accept loops
	conns       sync.WaitGroup // TCP connections

	lanes       []*lane
	queued      atomic.Int64 // bytes of the datagrams queued or being handed over
	workers     sync.WaitGroup
	pools       [itemClasses]sync.Pool // of *item, by size class
	batchMu     sync.Mutex
	freeBatches []*batch

	sockets        []*socket     // UDP sockets, under mu
	readersDone    chan struct{} // closed when every reader has ended
	handOvers      atomic.Uint64 // hand-overs by reading goroutines, for the watchdog
	watchdogAsleep atomic.Bool
	watchdogWake   chan struct{}
	watchdogTimer  *polltimer.Timer // closed when every reader has ended

	total       counters
	exporters   *exporterTable
	tcp         tcpCounters
	deniedLogAt atomic.Int64 // unix ns of the last refused-source log record
}

// New returns a Receiver that hands datagrams to h (which may be nil: the
// datagrams are then only decoded and counted).
func New(h Handler, cfg Config) *Receiver {
	cfg = cfg.withDefaults()
	r := &Receiver{
		h:            h,
		cfg:          cfg,
		dec:          cfg.Decoder,
		log:          cfg.Logger,
		stopCh:       make(chan struct{}),
		drainOver:    make(chan struct{}),
		done:         make(chan struct{}),
		sessions:     make(map[*session]struct{}),
		exporters:    newExporterTable(cfg.MaxExporters),
		readersDone:  make(chan struct{}),
		watchdogWake: make(chan struct{}, 1),
	}
	r.debug = r.log.Enabled(context.Background(), slog.LevelDebug)
	if len(cfg.Allow) > 0 {
		r.allow.Store(newPrefixSet(cfg.Allow))
	}
	return r
}

// SetAllow replaces the allow-list: from now on only sources in prefixes
// are accepted (IPv4 sources match IPv4 prefixes only, IPv4-mapped IPv6
// prefixes match nothing; invalid prefixes are left out). It is safe to
// call at any time, also while the receiver runs: datagrams read after it
// returns are checked against the new list, and TCP connections against it
// at accept (connections already open stay open). Unlike Config.Allow, an
// empty list refuses every source; AllowAll accepts every source again.
// Look-ups take a binary search over the merged ranges, so a list of many
// thousands of prefixes costs little.
func (r *Receiver) SetAllow(prefixes []netip.Prefix) {
	r.allow.Store(newPrefixSet(prefixes))
}

// AllowAll removes the allow-list: every source is accepted.
func (r *Receiver) AllowAll() {
	r.allow.Store(nil)
}

func (r *Receiver) allowed(a netip.Addr) bool {
	return r.allow.Load().contains(a)
}

// Wait waits until the receiver has stopped and returns the failure that
// stopped it, or nil if it was stopped by a context or cancel func. Wait
// called before the receiver started waits for it to start and stop.
func (r *Receiver) Wait() error {
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Stats returns a snapshot of the counters. It may be called at any time,
// also after the receiver stopped.
func (r *Receiver) Stats() Stats {
	s := Stats{
		Total:       r.total.snapshot(),
		Exporters:   r.exporters.snapshot(),
		TCP:         r.tcp.snapshot(),
		QueuedBytes: uint64(max(r.queued.Load(), 0)),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.kernelDrops {
		s.KernelDrops += k.Load()
	}
	s.Connections = r.connStats()
	return s
}

// launch starts the workers, the watchdog, the sweeper and the
// supervisor, once.
func (r *Receiver) launch() {
	r.launchOnce.Do(func() {
		r.lanes = make([]*lane, r.cfg.Workers)
		for i := range r.lanes {
			l := newLane()
			r.lanes[i] = l
			r.workers.Add(1)
			go func() {
				defer r.workers.Done()
				r.work(l)
			}()
		}
		r.workers.Add(1)
		r.watchdogTimer = polltimer.New()
		go func() {
			defer r.workers.Done()
			r.watch()
		}()
		var sweeper sync.WaitGroup
		if every := r.cfg.SweepInterval; every > 0 {
			sweeper.Add(1)
			go func() {
				defer sweeper.Done()
				r.sweep(every)
			}()
		}
		sweeper.Add(1)
		go func() {
			defer sweeper.Done()
			r.releaseHeld() // released.go
		}()
		go r.supervise(&sweeper)
	})
}

// register adds what a Listen or Serve call opened: closers to close at
// stop, n reading goroutines to wait for, and ctx to stop with. It fails
// once the receiver is stopping.
func (r *Receiver) register(ctx context.Context, closers []io.Closer, n int) error {
	r.launch()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	r.closers = append(r.closers, closers...)
	r.readers.Add(n)
	r.afterCtx = append(r.afterCtx, context.AfterFunc(ctx, r.requestStop))
	return nil
}

// supervise waits for a stop request, then closes every socket, listener
// and connection, waits for the readers (and the hand-overs they are
// doing), drains the queues until the drain deadline and waits for the
// workers.
func (r *Receiver) supervise(sweeper *sync.WaitGroup) {
	<-r.stopCh
	drain := time.AfterFunc(max(r.cfg.DrainTimeout, 0), func() { close(r.drainOver) })
	r.mu.Lock()
	r.stopped = true
	closers := r.closers
	for s := range r.sessions {
		closers = append(closers, s.conn)
	}
	r.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	sweeper.Wait()
	r.readers.Wait()
	r.conns.Wait()
	close(r.readersDone)
	r.watchdogTimer.Close()
	for _, l := range r.lanes {
		l.close()
	}
	r.workers.Wait()
	drain.Stop()
	r.mu.Lock()
	for _, stop := range r.afterCtx {
		stop()
	}
	r.mu.Unlock()
	r.log.Info("netflow receiver: stopped")
	close(r.done)
}

// sweep reclaims expired and idle state until the receiver stops.
func (r *Receiver) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-t.C:
			r.sweepOnce(time.Now())
		}
	}
}

// sweepOnce expires the decoder's stale pending data and, when the store
// can, its stale templates, and drops the counters of idle sources.
func (r *Receiver) sweepOnce(now time.Time) {
	r.dec.Sweep()
	if e, ok := r.dec.Store().(interface{ Expire() }); ok {
		e.Expire()
	}
	if idle := r.cfg.ExporterIdle; idle > 0 {
		if n := r.exporters.reclaim(now.Add(-idle).UnixNano()); n > 0 {
			r.log.Debug("netflow receiver: idle exporters forgotten", "count", n)
		}
	}
}

func (r *Receiver) requestStop() {
	r.stopOnce.Do(func() { close(r.stopCh) })
}

// stop is the cancel func of Listen and ListenTCP.
func (r *Receiver) stop() {
	r.requestStop()
	<-r.done
}

func (r *Receiver) stopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

// fail records the failure that stops the receiver.
func (r *Receiver) fail(err error) {
	r.mu.Lock()
	first := r.err == nil
	if first {
		r.err = err
	}
	r.mu.Unlock()
	if !first {
		return
	}
	r.log.Error("netflow receiver: failed", "err", err)
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
	r.requestStop()
}

// logRefused logs a refused source, at most once a second.
func (r *Receiver) logRefused(from netip.AddrPort, tr Transport, now time.Time) {
	last := r.deniedLogAt.Load()
	if now.UnixNano()-last < int64(time.Second) || !r.deniedLogAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	r.log.Warn("netflow receiver: refusing source not in the allow-list", "source", from.String(),
		"transport", tr.String(), "datagrams refused", r.total.denied.Load(), "connections refused", r.tcp.refused.Load())
}

// deliver decodes one datagram or message, counts it and hands it over.
func (r *Receiver) deliver(buf *netflow.Buffer, d *Datagram, from netip.AddrPort, tr Transport,
	at time.Time, data []byte, ent *counters) {
	p, err := r.dec.DecodeInto(buf, from, data)
	if p != nil {
		flows := uint64(p.FlowCount())
		ent.decoded.Add(1)
		ent.flows.Add(flows)
		r.total.decoded.Add(1)
		r.total.flows.Add(flows)
	}
	if err != nil {
		ent.fail(err)
		r.total.fail(err)
		if r.debug {
			r.log.Debug("netflow receiver: decode", "exporter", from.String(), "err", err)
		}
	}
	if r.h != nil {
		*d = Datagram{Exporter: from, Transport: tr, Received: at, Data: data, Packet: p, Err: err}
		r.h(d)
		*d = Datagram{}
	}
}
