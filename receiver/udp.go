package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

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

// startUDP sets the sockets up and starts one reader per conn.
func (r *Receiver) startUDP(ctx context.Context, conns []net.PacketConn) error {
	closers := make([]io.Closer, len(conns))
	for i, c := range conns {
		closers[i] = c
	}
	if err := r.register(ctx, closers, len(conns)); err != nil {
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
			// Linux reports twice the size it grants.
			if want := r.cfg.ReadBuffer; want > 0 && rcvbuf > 0 && rcvbuf < want {
				r.log.Warn("netflow receiver: socket receive buffer smaller than asked (raise net.core.rmem_max)",
					"addr", c.LocalAddr().String(), "asked", want, "got", rcvbuf/2)
			}
		}
		r.log.Info("netflow receiver: listening", "addr", c.LocalAddr().String(), "transport", "udp",
			"workers", r.cfg.Workers, "batch", r.batchSize(c), "rcvbuf", rcvbuf)
		drops := new(atomic.Uint64)
		r.mu.Lock()
		r.kernelDrops = append(r.kernelDrops, drops)
		r.mu.Unlock()
		go func() {
			defer r.readers.Done()
			r.read(c, drops)
		}()
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

// reader is the state of one reading goroutine.
type reader struct {
	drops *atomic.Uint64
	cache map[netip.AddrPort]*counters
}

func (r *Receiver) read(c net.PacketConn, drops *atomic.Uint64) {
	rd := &reader{drops: drops, cache: make(map[netip.AddrPort]*counters)}
	// One byte more than the largest datagram accepted, so that a larger
	// one shows even where the system does not report truncation.
	size := r.cfg.MaxDatagramSize + 1
	uc, isUDP := c.(*net.UDPConn)
	switch {
	case isUDP && r.batchSize(c) > 1:
		r.readBatch(rd, uc, size)
	case isUDP:
		r.readMsg(rd, uc, size)
	default:
		r.readFrom(rd, c, size)
	}
}

func (r *Receiver) readBatch(rd *reader, c *net.UDPConn, size int) {
	var batch interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	if a := addrPortOf(c.LocalAddr()).Addr(); a.Is4() {
		batch = ipv4.NewPacketConn(c)
	} else {
		batch = ipv6.NewPacketConn(c)
	}
	ms := make([]ipv4.Message, r.cfg.BatchSize)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, size)}
		if oobSize > 0 {
			ms[i].OOB = make([]byte, oobSize)
		}
	}
	for {
		n, err := batch.ReadBatch(ms, 0)
		if err != nil {
			if r.readErr(c, err) {
				return
			}
			continue
		}
		now := time.Now()
		for i := range ms[:n] {
			m := &ms[i]
			r.receive(rd, addrPortOf(m.Addr), m.Buffers[0][:m.N], m.Flags&msgTrunc != 0, now)
			if m.NN > 0 {
				r.kernelDropsSeen(rd, m.OOB[:m.NN])
			}
			m.Addr = nil
		}
	}
}

func (r *Receiver) readMsg(rd *reader, c *net.UDPConn, size int) {
	b := make([]byte, size)
	oob := make([]byte, oobSize)
	for {
		n, oobn, flags, from, err := c.ReadMsgUDPAddrPort(b, oob)
		if err != nil {
			if r.readErr(c, err) {
				return
			}
			continue
		}
		r.receive(rd, from, b[:n], flags&msgTrunc != 0, time.Now())
		if oobn > 0 {
			r.kernelDropsSeen(rd, oob[:oobn])
		}
	}
}

func (r *Receiver) readFrom(rd *reader, c net.PacketConn, size int) {
	b := make([]byte, size)
	for {
		n, addr, err := c.ReadFrom(b)
		if err != nil {
			if r.readErr(c, err) {
				return
			}
			continue
		}
		r.receive(rd, addrPortOf(addr), b[:n], false, time.Now())
	}
}

func (r *Receiver) kernelDropsSeen(rd *reader, oob []byte) {
	if v, ok := parseRxqOvfl(oob); ok {
		rd.drops.Store(uint64(v))
	}
}

// receive counts one datagram and queues it for its worker. A refused
// source is counted in the total only, before any per-source state.
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
	it := r.getItem(b)
	if it == nil {
		ent.dropped.Add(1)
		r.total.dropped.Add(1)
		return
	}
	it.from, it.at, it.ent = from, now, ent
	q := r.queues[exporterHash(from)%uint32(len(r.queues))]
	select {
	case q <- it:
	default:
		ent.dropped.Add(1)
		r.total.dropped.Add(1)
		r.putItem(it)
	}
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
