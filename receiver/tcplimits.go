package receiver

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// tcpSources holds the open sessions of each source address, for
// Config.MaxConnectionsPerSource and for the choice of the connection to
// close when Config.MaxConnections are open. Its map is guarded by
// Receiver.mu.
type tcpSources struct {
	m     map[netip.Addr][]*session
	logAt atomic.Int64 // unix ns of the last refusal or eviction log record
}

// count returns the number of open sessions from a.
func (t *tcpSources) count(a netip.Addr) int { return len(t.m[a]) }

func (t *tcpSources) add(s *session) {
	if t.m == nil {
		t.m = make(map[netip.Addr][]*session)
	}
	a := s.from.Addr()
	t.m[a] = append(t.m[a], s)
}

// remove removes s; it does nothing if s is not there (an evicted session
// is removed when it is chosen, and again when its goroutine ends).
func (t *tcpSources) remove(s *session) {
	a := s.from.Addr()
	ss := t.m[a]
	i := slices.Index(ss, s)
	if i < 0 {
		return
	}
	last := len(ss) - 1
	ss[i], ss[last] = ss[last], nil
	if last == 0 {
		delete(t.m, a)
		return
	}
	t.m[a] = ss[:last]
}

// victim returns the session to close so that a connection from a source
// with mine sessions open gets in, or nil: the longest-idle session of the
// source with the most sessions, if that source has at least mine+2 (so
// that, once the newcomer is in, its source still has no more than the
// victim's, and two sources cannot take turns evicting each other). Among
// sources with as many sessions, the one whose longest-idle session has
// been idle longest. It takes a walk over the open sessions, at most
// Config.MaxConnections, and runs only when they are all taken.
func (t *tcpSources) victim(mine int) *session {
	var (
		best     *session
		bestSize int
	)
	for _, ss := range t.m {
		if len(ss) < bestSize || len(ss) < mine+2 {
			continue
		}
		idlest := ss[0]
		for _, s := range ss[1:] {
			if s.active.Load() < idlest.active.Load() {
				idlest = s
			}
		}
		if len(ss) > bestSize || idlest.active.Load() < best.active.Load() {
			best, bestSize = idlest, len(ss)
		}
	}
	return best
}

// logLimit logs a connection refused or evicted by a bound, at most once a
// second (a flood of connections would flood the log otherwise), with the
// counts so far.
func (r *Receiver) logLimit(msg string, s *session, now time.Time) {
	last := r.bySource.logAt.Load()
	if now.UnixNano()-last < int64(time.Second) || !r.bySource.logAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	r.log.Warn(msg, "source", s.from.String(), "transport", s.tr.String(),
		"max connections", r.cfg.MaxConnections, "max per source", r.cfg.MaxConnectionsPerSource,
		"over limit", r.tcp.overLimit.Load(), "source limit", r.tcp.sourceLimit.Load(), "evicted", r.tcp.evicted.Load())
}

// deadlineReason says which bound a connection's read deadline stands for,
// so that a timeout is counted under it.
type deadlineReason uint8

const (
	byIdle         deadlineReason = iota // Config.IdleTimeout
	byFirstMessage                       // Config.FirstMessageTimeout
	bySlow                               // Config.MessageTimeout and MinProgressRate
)

// waitDeadline is when a connection waiting for a message from start on
// is closed: IdleTimeout after start, or FirstMessageTimeout after accept
// if that comes first and no message has arrived yet.
func (r *Receiver) waitDeadline(s *session, start time.Time) (time.Time, deadlineReason) {
	at := start.Add(r.cfg.IdleTimeout)
	if !s.sent && r.cfg.FirstMessageTimeout > 0 {
		if first := s.opened.Add(r.cfg.FirstMessageTimeout); first.Before(at) {
			return first, byFirstMessage
		}
	}
	return at, byIdle
}

// progressDeadline is when a message of length bytes whose first byte
// arrived at begun must be complete.
func (r *Receiver) progressDeadline(begun time.Time, length int) time.Time {
	d := r.cfg.MessageTimeout
	if rate := r.cfg.MinProgressRate; rate > 0 {
		d += time.Duration(length) * time.Second / time.Duration(rate)
	}
	return begun.Add(d)
}

// setDeadline sets the read deadline of s to the earlier of wait (for the
// reason why) and progress (zero: none).
func (s *session) setDeadline(wait time.Time, why deadlineReason, progress time.Time) {
	if !progress.IsZero() && progress.Before(wait) {
		wait, why = progress, bySlow
	}
	s.why = why
	// An error means the connection is closed: the read that follows
	// fails with it.
	s.conn.SetReadDeadline(wait)
}
