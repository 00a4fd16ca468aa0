package receiver

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
)

// ErrorCounts counts failed datagrams by the sentinel their error matches.
// A datagram whose error joins several kinds counts once in each.
type ErrorCounts struct {
	Truncated          uint64 // netflow.ErrTruncated
	UnsupportedVersion uint64 // netflow.ErrUnsupportedVersion
	Empty              uint64 // netflow.ErrEmpty
	Malformed          uint64 // netflow.ErrMalformed
	TemplateNotFound   uint64 // netflow.ErrTemplateNotFound
	Limit              uint64 // netflow.ErrLimit
	Store              uint64 // netflow.ErrStore
	Other              uint64 // none of the above
}

// Counters count what a Receiver did, for one exporter or in total.
// Datagrams = Denied + Oversize + Dropped + Stopped + the datagrams handed
// to the handler (or still queued for it); a handed-over datagram counts in
// Decoded, in Failed, or in both when part of it decoded. Over TCP a
// datagram is an IPFIX message, and a malformed or truncated one that ends
// the connection counts as one datagram, handed over, Failed.
type Counters struct {
	Datagrams uint64 // datagrams received
	Bytes     uint64 // their size (UDP payload, or IPFIX message length)
	Denied    uint64 // dropped: source not in the allow-list (total only)
	Oversize  uint64 // dropped: larger than Config.MaxDatagramSize
	Dropped   uint64 // dropped: the worker's queue was full (handler too slow)
	Stopped   uint64 // dropped: still queued when the drain deadline passed
	Decoded   uint64 // handed over with a Packet
	Flows     uint64 // flows in those packets (Packet.FlowCount)
	Failed    uint64 // handed over with an error
	// Released counts the Datagrams handed over without a datagram:
	// data sets the decoder had held and released when their template
	// became known through its store (Datagram.Released). Their flows
	// count in Flows and their errors in Errors, not in Decoded or Failed.
	Released uint64
	Errors   ErrorCounts
}

// TCPStats counts the TCP (and TLS) connections of a Receiver. Every
// accepted connection ends in exactly one of HandshakeFailed, Closed,
// IdleClosed, StreamErrors, Evicted, NoFirstMessage and Slow (or is still
// Open, or was closed by the receiver's stop); every refused one in
// exactly one of Refused, OverLimit and SourceLimit.
type TCPStats struct {
	Accepted        uint64 // connections served
	Open            uint64 // connections open now
	Refused         uint64 // closed at accept: source not in the allow-list
	OverLimit       uint64 // closed at accept: Config.MaxConnections open, none to evict
	SourceLimit     uint64 // closed at accept: Config.MaxConnectionsPerSource open from its address
	HandshakeFailed uint64 // TLS handshake failed (no or a bad client certificate) or timed out
	Closed          uint64 // ended by the exporter between two messages
	IdleClosed      uint64 // closed after Config.IdleTimeout without a message
	StreamErrors    uint64 // closed on a malformed, truncated or oversize message
	Evicted         uint64 // closed to let in a connection from a source with fewer (Config.MaxConnections)
	NoFirstMessage  uint64 // closed: no complete message within Config.FirstMessageTimeout of accept
	Slow            uint64 // closed: a message arrived slower than Config.MessageTimeout and MinProgressRate allow
}

// ConnStats describes one open TCP connection.
type ConnStats struct {
	Exporter  netip.AddrPort // remote address
	Local     netip.AddrPort // the listener's address
	Transport Transport      // TCP or TLS
	Opened    time.Time      // when it was accepted
	Counters  Counters       // its messages (the shared entry's, for a connection beyond Config.MaxExporters)
}

// Stats is a snapshot of a Receiver's counters.
type Stats struct {
	Total Counters
	// Exporters holds the counters of each source that was allowed in,
	// a TCP connection being a source of its own (its remote address
	// and port). Sources beyond Config.MaxExporters are counted together
	// under the zero netip.AddrPort; the sweeper drops sources idle for
	// Config.ExporterIdle (their figures stay in Total). Refused sources
	// are counted in Total.Denied only.
	Exporters map[netip.AddrPort]Counters
	// Connections lists the open TCP connections, oldest first.
	Connections []ConnStats
	// TCP counts connections.
	TCP TCPStats
	// QueuedBytes is the memory the datagrams waiting in the queues, or
	// being handed over, take now (bounded by Config.MaxQueueBytes).
	QueuedBytes uint64
	// KernelDrops is the number of datagrams the kernel dropped because a
	// socket's receive buffer was full, as Linux reports it
	// (SO_RXQ_OVFL), summed over the sockets. The kernel cannot say whose
	// datagrams they were, so there is no per-exporter figure; it is
	// updated when the next datagram arrives on the socket, and stays zero
	// where the system does not report it.
	KernelDrops uint64
}

// errKinds are the sentinels counted in ErrorCounts, in its field order.
var errKinds = [...]error{netflow.ErrTruncated, netflow.ErrUnsupportedVersion, netflow.ErrEmpty,
	netflow.ErrMalformed, netflow.ErrTemplateNotFound, netflow.ErrLimit, netflow.ErrStore}

// counters is the live form of Counters. The reader's and the workers'
// fields are on separate cache lines.
type counters struct {
	datagrams, bytes, denied, oversize, dropped atomic.Uint64
	last                                        atomic.Int64 // unix ns of the last datagram
	open                                        atomic.Int32 // TCP connections using the slot
	gone                                        atomic.Bool  // reclaimed by the sweeper
	_                                           [64]byte
	stopped, decoded, flows, failed, released   atomic.Uint64
	errs                                        [len(errKinds) + 1]atomic.Uint64
}

func (c *counters) fail(err error) {
	c.failed.Add(1)
	c.countErr(err)
}

// countErr counts err by the sentinels it matches.
func (c *counters) countErr(err error) {
	matched := false
	for i, k := range errKinds {
		if errors.Is(err, k) {
			c.errs[i].Add(1)
			matched = true
		}
	}
	if !matched {
		c.errs[len(errKinds)].Add(1)
	}
}

func (c *counters) snapshot() Counters {
	return Counters{
		Datagrams: c.datagrams.Load(),
		Bytes:     c.bytes.Load(),
		Denied:    c.denied.Load(),
		Oversize:  c.oversize.Load(),
		Dropped:   c.dropped.Load(),
		Stopped:   c.stopped.Load(),
		Decoded:   c.decoded.Load(),
		Flows:     c.flows.Load(),
		Failed:    c.failed.Load(),
		Released:  c.released.Load(),
		Errors: ErrorCounts{
			Truncated:          c.errs[0].Load(),
			UnsupportedVersion: c.errs[1].Load(),
			Empty:              c.errs[2].Load(),
			Malformed:          c.errs[3].Load(),
			TemplateNotFound:   c.errs[4].Load(),
			Limit:              c.errs[5].Load(),
			Store:              c.errs[6].Load(),
			Other:              c.errs[7].Load(),
		},
	}
}

// tcpCounters is the live form of TCPStats.
type tcpCounters struct {
	accepted, open, refused, overLimit, sourceLimit, handshakeFailed,
	closed, idleClosed, streamErrors, evicted, noFirstMessage, slow atomic.Uint64
}

func (c *tcpCounters) snapshot() TCPStats {
	return TCPStats{
		Accepted:        c.accepted.Load(),
		Open:            c.open.Load(),
		Refused:         c.refused.Load(),
		OverLimit:       c.overLimit.Load(),
		SourceLimit:     c.sourceLimit.Load(),
		HandshakeFailed: c.handshakeFailed.Load(),
		Closed:          c.closed.Load(),
		IdleClosed:      c.idleClosed.Load(),
		StreamErrors:    c.streamErrors.Load(),
		Evicted:         c.evicted.Load(),
		NoFirstMessage:  c.noFirstMessage.Load(),
		Slow:            c.slow.Load(),
	}
}
