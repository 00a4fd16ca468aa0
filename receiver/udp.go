package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/polltimer"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Listen binds a UDP socket (Config.Sockets of them with SO_REUSEPORT) to
// address, such as "127.0.0.1:2055" or ":2055", and starts receiving. It
// returns the bound address (port 0 in address picks a free port) and a
// cancel func. A bind failure is returned as an error matching ErrListen
// and the system's error. Listen may be called again for more addresses;
// after a stop it fails.
//
// Cancelling ctx or calling cancel stops the receiver (every listener of
// it). cancel may be called any number of times; it returns once every
// goroutine of the receiver has ended and every datagram already read has
// been handed to the handler, or, for those still queued when
// Config.DrainTimeout passed, counted in Counters.Stopped.
func (r *Receiver) Listen(ctx context.Context, address string) (netip.AddrPort, func(), error) {
	if r.stopping() {
		return netip.AddrPort{}, nil, errStopped
	}
	n := r.cfg.Sockets
	var lc net.ListenConfig
	if n > 1 {
		if !reusePortSupported {
			return netip.AddrPort{}, nil, fmt.Errorf("%w: %d sockets: SO_REUSEPORT not supported on %s", ErrListen, n, runtime.GOOS)
		}
		lc.Control = reusePortControl
	}
	var conns []net.PacketConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	first, err := lc.ListenPacket(ctx, "udp", address)
	if err != nil {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: %w", ErrListen, err)
	}
	conns = append(conns, first)
	bound := addrPortOf(first.LocalAddr())
	for i := 1; i < n; i++ {
		c, err := lc.ListenPacket(ctx, "udp", bound.String())
		if err != nil {
			closeAll()
			return netip.AddrPort{}, nil, fmt.Errorf("%w: %w", ErrListen, err)
		}
		conns = append(conns, c)
	}
	if err := r.startUDP(ctx, conns); err != nil {
		closeAll()
		return netip.AddrPort{}, nil, err
	}
	return bound, r.stop, nil
}

// Serve receives on conns until ctx is cancelled, the receiver is stopped
// or a read fails, and returns once the receiver has stopped (see Listen):
// nil when it was stopped by a context or cancel func, else the failure.
// Serve takes ownership of conns and closes them before it returns.
//
// For a *net.UDPConn, Serve sets the read buffer, reads in batches and asks
// for the kernel's drop count as Config says; any other net.PacketConn is
// read with ReadFrom. Config.Sockets is not used: the caller chooses the
// sockets.
func (r *Receiver) Serve(ctx context.Context, conns ...net.PacketConn) error {
	if len(conns) == 0 {
		return errNoConns
	}
	if err := r.startUDP(ctx, conns); err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	return r.Wait()
}

// startUDP sets the sockets up and starts their reading goroutines.
func (r *Receiver) startUDP(ctx context.Context, conns []net.PacketConn) error {
	closers := make([]io.Closer, len(conns))
	for i, c := range conns {
		closers[i] = c
	}
	if err := r.register(ctx, closers, 2*len(conns)); err != nil {
		return err
	}
	for _, c := range conns {
		rcvbuf := 0
		if uc, ok := c.(*net.UDPConn); ok {
			var err error
			rcvbuf, err = setupSocket(uc, max(r.cfg.ReadBuffer, 0))
			if err != nil {
				r.log.Warn("netflow receiver: socket option", "addr", c.LocalAddr().String(), "err", err)
			}
			if want, got := r.cfg.ReadBuffer, rcvbuf/reportedBufferFactor; want > 0 && got > 0 && got < want {
				r.log.Warn("netflow receiver: socket receive buffer smaller than asked (raise net.core.rmem_max)",
					"addr", c.LocalAddr().String(), "asked", want, "got", got)
			}
		}
		s := &socket{conn: c, drops: new(atomic.Uint64), promote: make(chan struct{}, 1), done: make(chan struct{}),
			rcvbuf: rcvbuf}
		if uc, ok := c.(*net.UDPConn); ok && r.cfg.ReadCoalesce > 0 && r.batchSize(c) > 1 && rcvbuf > 0 {
			det, err := detach(uc, 2)
			if err != nil {
				r.log.Warn("netflow receiver: no read coalescing", "addr", c.LocalAddr().String(), "err", err)
			} else {
				s.det = det
				r.mu.Lock()
				r.closers = append(r.closers, det)
				r.mu.Unlock()
			}
		}
		r.log.Info("netflow receiver: listening", "addr", c.LocalAddr().String(), "transport", "udp",
			"workers", r.cfg.Workers, "batch", r.batchSize(c), "rcvbuf", rcvbuf, "coalesce", s.det != nil)
		r.mu.Lock()
		r.kernelDrops = append(r.kernelDrops, s.drops)
		r.sockets = append(r.sockets, s)
		r.mu.Unlock()
		for range 2 {
			go func() {
				defer r.readers.Done()
				if s.det != nil {
					defer s.det.release()
				}
				r.serveSocket(s)
			}()
		}
	}
	return nil
}

// readErr handles a read error: it reports whether the reader must end.
func (r *Receiver) readErr(c net.PacketConn, err error) bool {
	if r.stopping() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // a deadline set by the caller of Serve
	}
	r.fail(fmt.Errorf("netflow: receive on %v: %w", c.LocalAddr(), err))
	return true
}

func (r *Receiver) batchSize(c net.PacketConn) int {
	if _, ok := c.(*net.UDPConn); ok && batchSupported {
		return r.cfg.BatchSize
	}
	return 1
}

// socket is one UDP socket and the state its two reading goroutines
// share. One of them, the one holding the read role, reads; after a read
// it queues what it read for the workers or, for a lane with nothing
// queued, hands the datagrams over itself, and gives the read role up
// while it does, without waking anyone: if it goes on for longer than
// takeoverAfter (a slow handler), the watchdog wakes the other goroutine
// to read in its place, so that a slow handler makes the receiver queue
// and then drop datagrams rather than stall the socket.
type socket struct {
	conn  net.PacketConn
	drops *atomic.Uint64 // the kernel's drop count (SO_RXQ_OVFL)
	// role is roleFree, roleHeld (a goroutine reads) or roleEnded (the
	// socket failed or closed).
	role atomic.Int32
	// inline is odd while a goroutine that gave the read role up hands
	// datagrams over; it counts up by two for each such hand-over.
	inline atomic.Uint64
	// queueUntil is when (unix ns) the readers may hand over themselves
	// again after a slow hand-over (see inlineBudget).
	queueUntil atomic.Int64
	rcvbuf     int             // the receive buffer the kernel accounts (SO_RCVBUF as it reports it), 0 if unknown
	det        *detachedSocket // read coalescing: the socket, out of the poller (conn is closed)
	reads      atomic.Uint64   // reads that returned datagrams (batches)
	seen       uint64          // the watchdog's last look at inline
	promote    chan struct{}   // the watchdog's wake-up of the goroutine waiting for the role
	done       chan struct{}   // closed when role becomes roleEnded
	endOnce    sync.Once
}

const (
	roleFree int32 = iota
	roleHeld
	roleEnded
)

// takeRole waits for the read role; false means the socket has ended.
func (s *socket) takeRole() bool {
	for {
		if s.role.CompareAndSwap(roleFree, roleHeld) {
			return true
		}
		if s.role.Load() == roleEnded {
			return false
		}
		select {
		case <-s.promote:
		case <-s.done:
			return false
		}
	}
}

// end marks the socket ended and wakes the goroutine waiting for it.
func (s *socket) end() {
	s.endOnce.Do(func() {
		s.role.Store(roleEnded)
		close(s.done)
	})
}

// takeoverAfter is how long at least a reading goroutine may hand
// datagrams over before the other takes the socket over: the watchdog
// looks this often at high rates, less often at lower ones (watchPeriod),
// and sleeps while no datagram comes; a hand-over it sees at two looks in
// a row has gone on for longer. The socket buffer holds what arrives
// meanwhile (16 MiB by default, which the kernel counts as 32: 720 ms of
// 1.4 KB datagrams at 20,000 a second). Each look wakes the process, so it
// is not shorter.
const takeoverAfter = 50 * time.Millisecond

// pending is a datagram read and accounted for, on its way to its lane.
type pending struct {
	data []byte
	from netip.AddrPort
	at   time.Time
	ent  *counters
	cost int64 // charged against MaxQueueBytes while handed over inline
}

// reader is the state of one reading goroutine.
type reader struct {
	drops *atomic.Uint64
	cache map[netip.AddrPort]*counters

	// Read buffers, made on the first read: recvmmsg as a raw system
	// call on Linux (raw), else batch or single reads.
	raw   *rawReader
	noRaw bool
	batch interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	ms   []ipv4.Message
	b    []byte
	oob  []byte
	size int // of a buffer: MaxDatagramSize+1

	groups  [][]pending // per lane, the datagrams of the last read
	claimed []int       // the lanes this goroutine hands over itself
	buf     netflow.Buffer
	d       Datagram

	// Read coalescing (Config.ReadCoalesce): the wait before the next
	// read (0: none), and the cycle it is worked out from: when the last
	// read emptied the socket, and the bytes read since, as the kernel
	// charges them to the receive buffer (estimated).
	wait      time.Duration
	ramp      time.Duration // the longest next wait (slow start, planWait)
	emptiedAt time.Time
	cycle     int
	cycleN    int // datagrams read in the cycle
	pause     *polltimer.Timer
	// backlog: the socket holds what a wait let gather, which the full
	// batch reads until it is empty hand over themselves (readOnce).
	backlog bool
}

// errDetachedClosed ends a detached socket's reading goroutines at stop.
var errDetachedClosed = errors.New("netflow: socket closed")

// skbOverhead estimates what the kernel charges a socket's receive buffer
// for a datagram beyond its bytes (its sk_buff and the rounding of its
// allocation: a 1464-byte datagram is charged 2304 bytes on loopback).
const skbOverhead = 1024

func (r *Receiver) newReader(drops *atomic.Uint64) *reader {
	return &reader{drops: drops, cache: make(map[netip.AddrPort]*counters),
		groups: make([][]pending, len(r.lanes)), size: r.cfg.MaxDatagramSize + 1}
}

// serveSocket is one reading goroutine of s: it takes the read role, reads
// a batch, dispatches it and hands over what it claimed, until the socket
// ends.
func (r *Receiver) serveSocket(s *socket) {
	rd := r.newReader(s.drops)
	for s.takeRole() {
		for {
			if rd.wait > 0 {
				if err := r.coalesce(rd, s); err != nil {
					if r.readErr(s.conn, err) {
						s.end()
						return
					}
				}
			}
			err := r.readOnce(rd, s)
			if err != nil {
				if r.readErr(s.conn, err) {
					s.end()
					return
				}
				continue
			}
			if len(rd.claimed) > 0 {
				break
			}
		}
		// Hand over inline, with the read role given up (see socket).
		s.inline.Add(1)
		s.role.Store(roleFree)
		r.wakeWatchdog()
		began := time.Now()
		r.handOver(rd)
		if took := time.Since(began); took > inlineBudget {
			// A slow handler: queue for a while, so that the socket is
			// read at its pace rather than the handler's.
			s.queueUntil.Store(began.Add(took + queueSpell).UnixNano())
		}
		s.inline.Add(1)
	}
}

// inlineBudget is how long a reading goroutine's hand-over may take before
// the socket's readers queue everything for the workers for queueSpell
// (the handler is slow: reading on while the workers hand over keeps the
// socket drained, and the drops counted).
const (
	inlineBudget = 2 * time.Millisecond
	queueSpell   = 100 * time.Millisecond
)

// readOnce reads one batch (one datagram without batch reads) and
// dispatches it.
func (r *Receiver) readOnce(rd *reader, s *socket) error {
	c := s.conn
	full := false
	uc, isUDP := c.(*net.UDPConn)
	if isUDP && rd.raw == nil && !rd.noRaw {
		if s.det != nil {
			rd.raw = newDetachedReader(s.det, r.batchSize(c), rd.size)
		} else {
			rd.raw = newRawReader(uc, r.batchSize(c), rd.size)
		}
		rd.noRaw = rd.raw == nil
	}
	switch {
	case rd.raw != nil:
		n, err := rd.raw.read()
		if err != nil {
			return err
		}
		full = n > 1 && n == len(rd.raw.hdrs)
		now := time.Now()
		bytes := 0
		for i := range n {
			b, from, trunc, oob := rd.raw.message(i)
			bytes += len(b)
			r.receive(rd, from, b, trunc, now)
			if len(oob) > 0 {
				r.kernelDropsSeen(rd, oob)
			}
		}
		if rd.raw.idle >= r.cfg.ReadCoalesce {
			rd.ramp = 0 // an idle spell: the rate is unknown again
		}
		r.planWait(rd, s, n, bytes, full, now)
		if full && rd.backlog {
			// What the wait let gather, not a socket outpacing its
			// reader: hand it over inline like any read (a copy and a
			// worker's wake-up for each batch cost more than the wait
			// saved, 0.1 µs a flow at 20,000 datagrams/s). A slow
			// handler still turns to the workers (queueUntil).
			full = false
		} else if !full {
			rd.backlog = false
		}
	case isUDP && r.batchSize(c) > 1:
		if rd.batch == nil {
			if a := addrPortOf(c.LocalAddr()).Addr(); a.Is4() {
				rd.batch = ipv4.NewPacketConn(uc)
			} else {
				rd.batch = ipv6.NewPacketConn(uc)
			}
			rd.ms = make([]ipv4.Message, r.cfg.BatchSize)
			for i := range rd.ms {
				rd.ms[i].Buffers = [][]byte{make([]byte, rd.size)}
				if oobSize > 0 {
					rd.ms[i].OOB = make([]byte, oobSize)
				}
			}
		}
		n, err := rd.batch.ReadBatch(rd.ms, 0)
		if err != nil {
			return err
		}
		full = n > 1 && n == len(rd.ms)
		now := time.Now()
		for i := range rd.ms[:n] {
			m := &rd.ms[i]
			r.receive(rd, addrPortOf(m.Addr), m.Buffers[0][:m.N], m.Flags&msgTrunc != 0, now)
			if m.NN > 0 {
				r.kernelDropsSeen(rd, m.OOB[:m.NN])
			}
			m.Addr = nil
		}
	case isUDP:
		if rd.b == nil {
			rd.b, rd.oob = make([]byte, rd.size), make([]byte, oobSize)
		}
		n, oobn, flags, from, err := uc.ReadMsgUDPAddrPort(rd.b, rd.oob)
		if err != nil {
			return err
		}
		r.receive(rd, from, rd.b[:n], flags&msgTrunc != 0, time.Now())
		if oobn > 0 {
			r.kernelDropsSeen(rd, rd.oob[:oobn])
		}
	default:
		if rd.b == nil {
			rd.b = make([]byte, rd.size)
		}
		n, addr, err := c.ReadFrom(rd.b)
		if err != nil {
			return err
		}
		r.receive(rd, addrPortOf(addr), rd.b[:n], false, time.Now())
	}
	s.reads.Add(1)
	r.dispatch(rd, full || time.Now().UnixNano() < s.queueUntil.Load())
	return nil
}

// planWait works out the wait before the next batch read of rd, which
// read n datagrams of bytes bytes (filling its batch if full) at now: see
// Config.ReadCoalesce. A read that emptied the socket ends a cycle: the
// rate of the cycle (the bytes read since the socket was last emptied,
// with their overhead, over the time since) bounds the next wait to the
// time that rate takes to fill a quarter of the receive buffer, and every
// wait is bounded by the time a flood takes to (floodWait). The waits
// start short and double each cycle up to ReadCoalesce (rd.ramp; a slow
// start), at first and after an idle spell (a socket found empty for
// ReadCoalesce or longer): the rate is then unknown, and a flood that ends
// the spell meets a short wait, after which its rate bounds the next.
func (r *Receiver) planWait(rd *reader, s *socket, n, bytes int, full bool, now time.Time) {
	rd.wait = 0
	every := r.cfg.ReadCoalesce
	if s.det == nil {
		return
	}
	rd.cycle += bytes + n*skbOverhead
	rd.cycleN += n
	if full {
		return // more is waiting: read on
	}
	wait := min(every, floodWait(s.rcvbuf))
	if wait < MinReadCoalesce {
		wait = 0 // the buffer cannot take a flood for the shortest wait
	}
	if wait > 0 && !rd.emptiedAt.IsZero() {
		// fill/took is the rate; a quarter of the buffer, or a batch,
		// at that rate:
		if took := now.Sub(rd.emptiedAt); took > 0 {
			w := time.Duration(float64(took) * float64(s.rcvbuf/4) / float64(rd.cycle))
			if rd.cycleN > 0 {
				w = min(w, time.Duration(float64(took)*float64(r.cfg.BatchSize)/float64(rd.cycleN)))
			}
			switch {
			case w < MinReadCoalesce:
				// A batch comes sooner than the shortest wait: a
				// wait would save no wake-up. Read on.
				wait = 0
			case w < wait:
				wait = w
			}
		}
	}
	if wait > 0 {
		rd.ramp = max(rd.ramp, rampStart)
		wait = min(wait, rd.ramp)
		rd.ramp = min(2*rd.ramp, every)
	}
	rd.wait, rd.emptiedAt, rd.cycle, rd.cycleN = wait, now, 0, 0
}

// rampStart is the first wait of read coalescing's slow start (see
// planWait): at 20,000 datagrams/s, 40 gather in it.
const rampStart = 2 * MinReadCoalesce

// floodWait is the time a flood of ReadCoalesceFlood takes to fill a
// quarter of a receive buffer of rcvbuf bytes (as the kernel reports it):
// the longest wait of read coalescing on it.
func floodWait(rcvbuf int) time.Duration {
	return time.Duration(float64(rcvbuf/4) / ReadCoalesceFlood * float64(time.Second))
}

// coalesce waits rd.wait before the next read of s (see
// Config.ReadCoalesce), on a timer of the reading goroutine's own (see
// detachedSocket); the error is the socket's closing at stop.
func (r *Receiver) coalesce(rd *reader, s *socket) error {
	d := rd.wait
	rd.wait = 0
	if rd.pause == nil {
		t, err := s.det.newTimer()
		if err != nil {
			return err
		}
		rd.pause = t
	}
	if err := rd.pause.Sleep(d); err != nil {
		return err
	}
	rd.backlog = true
	return nil
}

func (r *Receiver) kernelDropsSeen(rd *reader, oob []byte) {
	if v, ok := parseRxqOvfl(oob); ok {
		rd.drops.Store(uint64(v))
	}
}

// receive counts one datagram and adds it to its lane's group of the
// read. A refused source is counted in the total only, before any
// per-source state.
func (r *Receiver) receive(rd *reader, from netip.AddrPort, b []byte, trunc bool, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	n := uint64(len(b))
	r.total.datagrams.Add(1)
	r.total.bytes.Add(n)
	if !r.allowed(from.Addr()) {
		r.total.denied.Add(1)
		r.logRefused(from, UDP, now)
		return
	}
	ent := r.lookup(rd, from, now)
	ent.datagrams.Add(1)
	ent.bytes.Add(n)
	ent.last.Store(now.UnixNano())
	if trunc || len(b) > r.cfg.MaxDatagramSize {
		ent.oversize.Add(1)
		r.total.oversize.Add(1)
		return
	}
	i := exporterHash(from) % uint32(len(r.lanes))
	rd.groups[i] = append(rd.groups[i], pending{data: b, from: from, at: now, ent: ent})
}

// dispatch sends each lane's group of the last read on: a lane with
// nothing queued and nobody handing it over is claimed, for the reading
// goroutine to hand its datagrams over itself (handOver) without copying
// them; the others get the group as one batch of copies, queued for their
// worker. After a full batch read (more is likely waiting in the socket),
// or for a while after a slow hand-over, nothing is claimed: the reader
// goes back to reading while the workers hand over, in parallel. Every datagram is charged against MaxQueueBytes
// until it has been handed over, and one that would exceed it, or its
// lane's QueueLen, is dropped.
func (r *Receiver) dispatch(rd *reader, full bool) {
	rd.claimed = rd.claimed[:0]
	for i, g := range rd.groups {
		if len(g) == 0 {
			continue
		}
		l := r.lanes[i]
		claimed := false
		if !full {
			l.mu.Lock()
			claimed = l.claimLocked()
			l.mu.Unlock()
		}
		if claimed {
			for j := range g {
				p := &g[j]
				cost, _ := datagramCost(len(p.data))
				if r.charge(cost) {
					p.cost = cost
				} else {
					r.drop(p.ent)
					p.ent = nil
				}
			}
			rd.claimed = append(rd.claimed, i)
			continue
		}
		b := r.getBatch()
		for j := range g {
			p := &g[j]
			it := r.getItem(p.data)
			if it == nil {
				r.drop(p.ent)
				continue
			}
			it.from, it.at, it.ent = p.from, p.at, p.ent
			b.items = append(b.items, it)
		}
		l.mu.Lock()
		if room := r.cfg.QueueLen - l.queued; len(b.items) > room {
			for _, it := range b.items[max(room, 0):] {
				r.drop(it.ent)
				r.putItem(it)
			}
			b.items = b.items[:max(room, 0)]
		}
		if len(b.items) > 0 {
			l.pushLocked(b)
			b = nil
		}
		l.mu.Unlock()
		if b != nil {
			r.putBatch(b)
		}
		clear(g)
		rd.groups[i] = g[:0]
	}
}

// drop counts a datagram dropped for lack of queue room.
func (r *Receiver) drop(ent *counters) {
	ent.dropped.Add(1)
	r.total.dropped.Add(1)
}

// handOver hands the datagrams of the lanes dispatch claimed to the
// handler, in the order they were read, then releases the lanes.
func (r *Receiver) handOver(rd *reader) {
	for _, i := range rd.claimed {
		g := rd.groups[i]
		for j := range g {
			p := &g[j]
			if p.ent == nil {
				continue // dropped
			}
			if r.drainExpired() {
				p.ent.stopped.Add(1)
				r.total.stopped.Add(1)
			} else {
				r.deliver(&rd.buf, &rd.d, p.from, UDP, p.at, p.data, p.ent)
			}
			r.queued.Add(-p.cost)
		}
		r.lanes[i].release()
		clear(g)
		rd.groups[i] = g[:0]
	}
	rd.claimed = rd.claimed[:0]
}

// lookup returns the counters of an allowed source, from the reader's
// cache when it can.
func (r *Receiver) lookup(rd *reader, from netip.AddrPort, now time.Time) *counters {
	if c := rd.cache[from]; c != nil && !c.gone.Load() {
		return c
	}
	c, isNew := r.exporters.get(from, now.UnixNano(), false)
	if isNew {
		r.log.Info("netflow receiver: new exporter", "exporter", from.String())
	}
	if len(rd.cache) >= 2*r.cfg.MaxExporters {
		clear(rd.cache)
	}
	rd.cache[from] = c
	return c
}

// watch is the watchdog of the sockets' hand-overs: every takeover period
// (watchPeriod) it wakes the waiting goroutine of a socket whose other
// goroutine has been handing datagrams over since its last look, so that
// it reads in its place. It sleeps while no hand-over happens, and ends at
// stop. It waits on a poll timer (internal/polltimer), which wakes one
// thread of the process where a runtime timer wakes two.
func (r *Receiver) watch() {
	t := r.watchdogTimer
	period := takeoverAfter
	quiet := 0
	var last, lastBytes uint64
	for {
		if t.Sleep(period) != nil {
			return // closed at stop
		}
		r.mu.Lock()
		sockets := r.sockets
		r.mu.Unlock()
		busy := false
		rcvbuf := 0
		for _, s := range sockets {
			v := s.inline.Load()
			if v&1 == 1 {
				busy = true
				if v == s.seen && s.role.Load() == roleFree {
					select {
					case s.promote <- struct{}{}:
					default:
					}
				}
			}
			s.seen = v
			if rcvbuf == 0 || s.rcvbuf < rcvbuf {
				rcvbuf = s.rcvbuf
			}
		}
		bytes := r.total.bytes.Load() + r.total.datagrams.Load()*skbOverhead
		period = watchPeriod(period, bytes-lastBytes, rcvbuf)
		lastBytes = bytes
		if n := r.handOvers.Load(); busy || n != last {
			last, quiet = n, 0
			continue
		}
		if quiet++; quiet < watchdogQuietTicks {
			continue
		}
		// Nothing happened for a while: sleep until a hand-over starts.
		// A hand-over that started before the flag was set is seen by
		// the look below; one after it wakes the watchdog.
		r.watchdogAsleep.Store(true)
		if r.handOvers.Load() == last {
			select {
			case <-r.readersDone:
				return
			case <-r.watchdogWake:
			}
		} else if !r.watchdogAsleep.CompareAndSwap(true, false) {
			<-r.watchdogWake // a hand-over woke it meanwhile
		}
		quiet, period = 0, takeoverAfter
	}
}

// maxTakeoverAfter bounds the watchdog's period (see watchPeriod).
const maxTakeoverAfter = time.Second

// watchPeriod returns the watchdog's next period after one of period in
// which bytes were received (with their overhead in the kernel): as long
// as that rate takes to fill a quarter of the smallest socket receive
// buffer, rcvbuf (so that a handler stuck meanwhile leaves room in the
// socket for the takeover to come), from takeoverAfter to
// maxTakeoverAfter. A receiver with no known buffer keeps takeoverAfter.
// Each look wakes the process: a quiet receiver looks once a second.
func watchPeriod(period time.Duration, bytes uint64, rcvbuf int) time.Duration {
	if rcvbuf <= 0 {
		return takeoverAfter
	}
	if bytes == 0 {
		return maxTakeoverAfter
	}
	p := time.Duration(float64(period) * float64(rcvbuf/4) / float64(bytes))
	return min(max(p, takeoverAfter), maxTakeoverAfter)
}

// watchdogQuietTicks is how many looks without a hand-over put the
// watchdog to sleep.
const watchdogQuietTicks = 5

// wakeWatchdog counts a hand-over, and wakes the watchdog if it sleeps.
func (r *Receiver) wakeWatchdog() {
	r.handOvers.Add(1)
	if r.watchdogAsleep.Load() && r.watchdogAsleep.CompareAndSwap(true, false) {
		select {
		case r.watchdogWake <- struct{}{}:
		default:
		}
	}
}
