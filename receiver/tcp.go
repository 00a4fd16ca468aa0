package receiver

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
)

// tcpReadBuffer is the buffered reader of a connection; with the
// MessageReader's 64 KiB and the decode Buffer it is most of what a
// connection costs.
const tcpReadBuffer = 4096

// session is one open TCP connection.
type session struct {
	conn   net.Conn
	from   netip.AddrPort
	local  netip.AddrPort
	tr     Transport
	opened time.Time
	seq    uint64
	ent    *counters

	active  atomic.Int64 // unix ns of the last complete message, or of the accept
	evicted atomic.Bool  // closed to let another source in
	// Of the connection's goroutine only:
	sent bool           // a complete message arrived
	why  deadlineReason // of the read deadline in force
}

// ListenTCP listens for IPFIX over TCP (RFC 7011 section 10.4) on address,
// such as "127.0.0.1:4739", with TLS when Config.TLS is set, beside any UDP
// socket of the receiver. It returns the bound address (port 0 picks a free
// port) and a cancel func that stops the receiver as Listen's does: it
// closes the listener and every connection, and returns once their
// goroutines have ended. A bind failure matches ErrListen and the system's
// error.
//
// Each connection is read by a netflow.MessageReader on a goroutine of
// its own, which decodes each message with the shared Decoder and hands it
// to the handler before it reads the next one. Its templates are keyed by
// the connection's remote address and port and so belong to the session;
// when the connection ends, Decoder.Forget drops them with the session's
// pending data and options state. The allow-list is checked at accept;
// Config.MaxConnections, MaxConnectionsPerSource, IdleTimeout,
// FirstMessageTimeout, MessageTimeout, MinProgressRate and MaxDatagramSize
// bound the connections (docs/tcp-limits.md). A malformed, truncated or
// oversize message closes its connection after every complete message
// before it was handed over.
func (r *Receiver) ListenTCP(ctx context.Context, address string) (netip.AddrPort, func(), error) {
	if r.stopping() {
		return netip.AddrPort{}, nil, errStopped
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: %w", ErrListen, err)
	}
	bound := addrPortOf(ln.Addr())
	if err := r.startTCP(ctx, ln); err != nil {
		ln.Close()
		return netip.AddrPort{}, nil, err
	}
	return bound, r.stop, nil
}

// ServeListener accepts IPFIX-over-TCP connections on ln (wrapped in TLS
// when Config.TLS is set; pass a plain listener) as ListenTCP does, and
// returns once the receiver has stopped: nil when it was stopped by a
// context or cancel func, else the failure. It takes ownership of ln.
func (r *Receiver) ServeListener(ctx context.Context, ln net.Listener) error {
	if err := r.startTCP(ctx, ln); err != nil {
		ln.Close()
		return err
	}
	return r.Wait()
}

func (r *Receiver) startTCP(ctx context.Context, ln net.Listener) error {
	tr := TCP
	if r.cfg.TLS != nil {
		ln, tr = tls.NewListener(ln, r.cfg.TLS), TLS
	}
	if err := r.register(ctx, []io.Closer{ln}, 1); err != nil {
		return err
	}
	r.log.Info("netflow receiver: listening", "addr", ln.Addr().String(), "transport", tr.String(),
		"max connections", r.cfg.MaxConnections)
	go func() {
		defer r.readers.Done()
		r.acceptLoop(ln, tr)
	}()
	return nil
}

// acceptLoop accepts connections until the listener is closed. A failed
// accept (out of file descriptors, say) is retried after a pause growing
// to a second.
func (r *Receiver) acceptLoop(ln net.Listener, tr Transport) {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if r.stopping() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				r.fail(fmt.Errorf("netflow: accept on %v: %w", ln.Addr(), err))
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			r.log.Warn("netflow receiver: accept", "addr", ln.Addr().String(), "err", err, "retry in", pause)
			select {
			case <-r.stopCh:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		r.accept(c, tr)
	}
}

// accept checks a new connection against the allow-list and the
// connection bound and starts its goroutine.
func (r *Receiver) accept(c net.Conn, tr Transport) {
	now := time.Now()
	from := addrPortOf(c.RemoteAddr())
	if !r.allowed(from.Addr()) {
		r.tcp.refused.Add(1)
		r.logRefused(from, tr, now)
		c.Close()
		return
	}
	s := &session{conn: c, from: from, local: addrPortOf(c.LocalAddr()), tr: tr, opened: now}
	s.active.Store(now.UnixNano())
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		c.Close()
		return
	}
	mine := r.bySource.count(from.Addr())
	if limit := r.cfg.MaxConnectionsPerSource; limit > 0 && mine >= limit {
		r.mu.Unlock()
		r.tcp.sourceLimit.Add(1)
		r.logLimit("netflow receiver: connection refused: too many open from its address", s, now)
		c.Close()
		return
	}
	var victim *session
	if len(r.sessions) >= r.cfg.MaxConnections {
		if victim = r.bySource.victim(mine); victim == nil {
			r.mu.Unlock()
			r.tcp.overLimit.Add(1)
			r.logLimit("netflow receiver: connection refused: too many open", s, now)
			c.Close()
			return
		}
		victim.evicted.Store(true)
		delete(r.sessions, victim)
		r.bySource.remove(victim)
	}
	ent, isNew := r.exporters.get(from, now.UnixNano(), true) // r.mu, then the table's lock
	s.ent = ent
	r.sessionSeq++
	s.seq = r.sessionSeq
	r.sessions[s] = struct{}{}
	r.bySource.add(s)
	r.conns.Add(1)
	r.mu.Unlock()

	if victim != nil {
		// Its goroutine sees the close, counts it in TCPStats.Evicted
		// and forgets its session.
		victim.conn.Close()
		r.logLimit("netflow receiver: connection closed to let another source in", victim, now)
	}
	r.tcp.accepted.Add(1)
	r.tcp.open.Add(1)
	if isNew {
		r.log.Info("netflow receiver: new exporter", "exporter", from.String(), "transport", tr.String())
	}
	go r.serveConn(s)
}

// errTCPOversize is wrapped by the error of a message over
// Config.MaxDatagramSize.
var errTCPOversize = fmt.Errorf("netflow: IPFIX message over the size limit: %w", netflow.ErrLimit)

// serveConn reads the messages of one connection and hands each over
// before reading the next.
func (r *Receiver) serveConn(s *session) {
	defer r.endSession(s)
	if tc, ok := s.conn.(*tls.Conn); ok {
		timeout := TLSHandshakeTimeout
		if first := r.cfg.FirstMessageTimeout; first > 0 {
			timeout = min(timeout, time.Until(s.opened.Add(first)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			switch {
			case r.stopping():
			case s.evicted.Load():
				r.tcp.evicted.Add(1)
			default:
				r.tcp.handshakeFailed.Add(1)
				r.log.Warn("netflow receiver: TLS handshake", "source", s.from.String(), "err", err)
			}
			return
		}
	}
	br := bufio.NewReaderSize(s.conn, tcpReadBuffer)
	mr := netflow.NewMessageReader(br)
	var buf netflow.Buffer
	d := new(Datagram)
	for {
		msg, err := r.nextMessage(s, br, mr)
		if err != nil {
			r.streamEnded(s, d, err)
			return
		}
		now := time.Now()
		s.sent = true
		s.active.Store(now.UnixNano())
		n := uint64(len(msg))
		s.ent.datagrams.Add(1)
		s.ent.bytes.Add(n)
		s.ent.last.Store(now.UnixNano())
		r.total.datagrams.Add(1)
		r.total.bytes.Add(n)
		r.deliver(&buf, d, s.from, s.tr, now, msg, s.ent)
	}
}

// nextMessage reads one message. It returns the reader's own error (io.EOF,
// a timeout, net.ErrClosed) when the stream ends between two messages, and
// one matching netflow.ErrTruncated, ErrMalformed or ErrLimit for a bad
// message (also for a timeout inside one).
//
// Before each read from the connection it sets the read deadline: while
// it waits for a message, the wait deadline (IdleTimeout, or
// FirstMessageTimeout); once the message's first byte is in, the earlier
// of that and its progress deadline (MessageTimeout and MinProgressRate).
// A message already in the buffer costs no deadline change.
func (r *Receiver) nextMessage(s *session, br *bufio.Reader, mr *netflow.MessageReader) ([]byte, error) {
	begun := time.Now()
	wait, why := r.waitDeadline(s, begun)
	if br.Buffered() == 0 {
		s.setDeadline(wait, why, time.Time{})
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
		begun = time.Now()
	}
	if br.Buffered() < 4 {
		s.setDeadline(wait, why, r.progressDeadline(begun, 4))
	}
	hdr, err := br.Peek(4)
	if err != nil {
		cut := fmt.Errorf("netflow: IPFIX over TCP: stream ends inside a message header (%d bytes): %w",
			len(hdr), netflow.ErrTruncated)
		if errors.Is(err, io.EOF) {
			return nil, cut
		}
		return nil, fmt.Errorf("%w (%w)", cut, err) // a timeout or a reset
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if binary.BigEndian.Uint16(hdr) == 10 && n > r.cfg.MaxDatagramSize {
		return nil, fmt.Errorf("%w: %d bytes, MaxDatagramSize %d", errTCPOversize, n, r.cfg.MaxDatagramSize)
	}
	if br.Buffered() < n {
		s.setDeadline(wait, why, r.progressDeadline(begun, n))
	}
	msg, err := mr.Next()
	if err != nil && !errors.Is(err, netflow.ErrTruncated) && !errors.Is(err, netflow.ErrMalformed) {
		// The message had begun: a stall (the idle timeout) or a reset
		// inside it cuts it.
		err = fmt.Errorf("netflow: IPFIX over TCP: stream cut inside a message: %w (%w)", netflow.ErrTruncated, err)
	}
	return msg, err
}

// streamEnded counts why a connection ended; a bad message is handed over
// with its error.
func (r *Receiver) streamEnded(s *session, d *Datagram, err error) {
	var ne net.Error
	timedOut := errors.As(err, &ne) && ne.Timeout()
	switch {
	case r.stopping():
	case s.evicted.Load():
		r.tcp.evicted.Add(1)
	case timedOut && s.why == byFirstMessage:
		r.tcp.noFirstMessage.Add(1)
		r.log.Info("netflow receiver: connection closed: no message within the first-message timeout", "exporter", s.from.String())
	case timedOut && s.why == bySlow:
		r.tcp.slow.Add(1)
		r.log.Info("netflow receiver: connection closed: a message arrived too slowly", "exporter", s.from.String())
	case errors.Is(err, io.EOF):
		r.tcp.closed.Add(1)
	case errors.Is(err, errTCPOversize):
		r.tcp.streamErrors.Add(1)
		s.ent.datagrams.Add(1)
		s.ent.oversize.Add(1)
		r.total.datagrams.Add(1)
		r.total.oversize.Add(1)
		r.log.Warn("netflow receiver: connection closed", "exporter", s.from.String(), "err", err)
	case errors.Is(err, netflow.ErrTruncated) || errors.Is(err, netflow.ErrMalformed):
		r.tcp.streamErrors.Add(1)
		s.ent.datagrams.Add(1)
		s.ent.fail(err)
		r.total.datagrams.Add(1)
		r.total.fail(err)
		r.log.Warn("netflow receiver: connection closed", "exporter", s.from.String(), "err", err)
		if r.h != nil {
			*d = Datagram{Exporter: s.from, Transport: s.tr, Received: time.Now(), Err: err}
			r.h(d)
			*d = Datagram{}
		}
	case timedOut:
		r.tcp.idleClosed.Add(1)
		r.log.Info("netflow receiver: idle connection closed", "exporter", s.from.String())
	default: // reset by the peer
		r.tcp.closed.Add(1)
		r.log.Info("netflow receiver: connection ended", "exporter", s.from.String(), "err", err)
	}
}

// endSession closes a connection and forgets its templates.
func (r *Receiver) endSession(s *session) {
	s.conn.Close()
	r.mu.Lock()
	delete(r.sessions, s)
	r.bySource.remove(s)
	r.mu.Unlock()
	s.ent.last.Store(time.Now().UnixNano())
	s.ent.open.Add(-1)
	r.tcp.open.Add(^uint64(0))
	r.forget(s.from)
	r.conns.Done()
}

// forget drops the decoder's state of a session that ended: its
// templates, pending sets and options state (RFC 7011 section 8).
func (r *Receiver) forget(exporter netip.AddrPort) {
	if err := r.dec.Forget(exporter); err != nil {
		r.log.Warn("netflow receiver: forgetting a closed session", "exporter", exporter.String(), "err", err)
	}
}

// connStats lists the open connections, oldest first. r.mu is held.
func (r *Receiver) connStats() []ConnStats {
	if len(r.sessions) == 0 {
		return nil
	}
	ss := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *session) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]ConnStats, len(ss))
	for i, s := range ss {
		out[i] = ConnStats{Exporter: s.from, Local: s.local, Transport: s.tr, Opened: s.opened, Counters: s.ent.snapshot()}
	}
	return out
}
