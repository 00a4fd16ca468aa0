package receiver

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/flowkit/netflow"
)

// Receiver defaults: the bounds a zero Config gets.
const (
	// DefaultMaxDatagramSize is the largest UDP payload over IPv4, and
	// the largest IPFIX message (its length field has 16 bits).
	DefaultMaxDatagramSize = 65535
	// DefaultReadBuffer is the socket receive buffer asked for when
	// Config.ReadBuffer is zero. The kernel's usual default (about
	// 208 KiB) holds under 150 datagrams of 1464 bytes: about 1 ms at
	// 100,000 datagrams/s, and loopback tests lost 8-31% at that rate
	// with it, nothing with 4 MiB. 16 MiB lets read coalescing wait
	// 100 ms and still take a flood of ReadCoalesceFlood from an idle
	// socket (with 4 MiB, 100 ms waits lost 0.7% of a flood of 20,000
	// datagrams/s; with 16 MiB, nothing). The kernel takes the memory as
	// datagrams queue, not up front.
	DefaultReadBuffer = 16 << 20
	// DefaultQueueLen is the number of datagrams each worker's queue
	// holds when Config.QueueLen is zero.
	DefaultQueueLen = 4096
	// DefaultMaxQueueBytes bounds the bytes of the datagrams waiting in
	// all the workers' queues together when Config.MaxQueueBytes is zero.
	DefaultMaxQueueBytes = 64 << 20
	// DefaultDrainTimeout is how long a stopping receiver keeps handing
	// queued datagrams to the handler when Config.DrainTimeout is zero.
	DefaultDrainTimeout = 2 * time.Second
	// MinReadCoalesce is the shortest wait of read coalescing (see
	// Config.ReadCoalesce).
	MinReadCoalesce = time.Millisecond
	// ReadCoalesceFlood is the flood, in bytes of receive buffer a
	// second, that a socket must take without loss when it starts during
	// a read coalescing wait: 48 MiB/s, about 20,000 datagrams of 1,464
	// bytes (600,000 flows) a second as the kernel charges them on
	// loopback. A wait is never longer than this flood takes to fill a
	// quarter of the socket's receive buffer: 167 ms with the 16 MiB
	// of DefaultReadBuffer (which Linux counts twice), 42 ms with 4 MiB,
	// 2 ms with the kernel's usual 208 KiB.
	ReadCoalesceFlood = 48 << 20
	// DefaultBatchSize is the number of datagrams read per system call.
	DefaultBatchSize = 32
	// DefaultMaxExporters is the number of sources counted one by one.
	DefaultMaxExporters = 4096
	// DefaultExporterIdle is how long the counters of a silent source
	// are kept.
	DefaultExporterIdle = 15 * time.Minute
	// DefaultSweepInterval is how often the sweeper runs.
	DefaultSweepInterval = time.Minute
	// DefaultMaxConnections bounds the open TCP connections.
	DefaultMaxConnections = 1024
	// DefaultIdleTimeout closes a TCP connection that sent nothing for
	// this long.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxConnectionsPerSource bounds the open TCP connections from
	// one source address: an eighth of DefaultMaxConnections.
	DefaultMaxConnectionsPerSource = 128
	// DefaultMessageTimeout is the time one IPFIX message may take to
	// arrive once its first byte has, besides its length at
	// DefaultMinProgressRate.
	DefaultMessageTimeout = 10 * time.Second
	// DefaultMinProgressRate is the slowest rate, in bytes a second, at
	// which the rest of a message that has begun may arrive.
	DefaultMinProgressRate = 1000
	// TLSHandshakeTimeout bounds a TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
)

// Config configures a Receiver. The zero value is valid; every bound has
// the default named after it (DefaultQueueLen, ...).
type Config struct {
	// Decoder decodes the datagrams; its template store, pending data and
	// exporter state are shared by every worker and connection. Nil means
	// netflow.NewDecoder(netflow.Config{}). Templates are keyed by the
	// exporter's address and port, which scopes those of a TCP connection
	// to it (RFC 7011 section 8); a Decoder with IgnoreExporterPort set
	// mixes the sessions of one address instead.
	Decoder *netflow.Decoder

	// Allow lists the networks exporters may send from. Datagrams from
	// any other source are dropped before decoding and counted in
	// Counters.Denied of the total only (a refused source costs no
	// memory); TCP connections from them are closed at accept. Nil or
	// empty accepts every source. Receiver.SetAllow replaces the list
	// while the receiver runs.
	Allow []netip.Prefix

	// Workers is the number of shares the exporters of UDP datagrams are
	// split into (by address), each with a worker goroutine that decodes
	// the datagrams queued for it and calls the handler. A datagram whose
	// share has nothing queued is not queued: the goroutine that read it
	// decodes it and calls the handler itself, so that a lightly loaded
	// receiver wakes no other goroutine. Zero means
	// runtime.GOMAXPROCS(0). (Each TCP connection has a goroutine of its
	// own.)
	Workers int
	// QueueLen is the number of datagrams waiting for each worker. When a
	// worker's queue is full, new datagrams for it are dropped. Zero
	// means DefaultQueueLen (4096), enough for the tens of milliseconds a
	// worker may wait for a CPU on a busy machine at 100,000
	// datagrams/s.
	QueueLen int
	// MaxQueueBytes bounds the memory of the datagrams waiting in all the
	// queues together: each queued datagram is copied into a buffer of
	// the next power of two at or above its size (at least 512 bytes),
	// and a datagram that would take the total over the bound is dropped
	// (Counters.Dropped). A datagram counts until the handler has
	// returned from it, and one that its reader hands over itself
	// counts the same. Zero means DefaultMaxQueueBytes (64 MiB).
	MaxQueueBytes int
	// DrainTimeout is how long a stopping receiver goes on handing
	// queued datagrams to the handler; those still queued after it are
	// counted in Counters.Stopped and not handed over. Zero means
	// DefaultDrainTimeout (2 s); a negative value hands over nothing
	// queued once a stop is requested. A handler call in progress is
	// never interrupted: a stop waits for it to return.
	DrainTimeout time.Duration

	// Sockets is the number of sockets Listen binds to the same address
	// with SO_REUSEPORT, each with its own reading goroutine; the kernel
	// spreads exporters over them. Zero means one. More than one is
	// supported on Linux only.
	Sockets int
	// ReadBuffer is the socket receive buffer size in bytes (SO_RCVBUF;
	// on Linux SO_RCVBUFFORCE is tried first, so that a privileged process
	// may exceed net.core.rmem_max; without the privilege the kernel caps
	// it at net.core.rmem_max, and the receiver logs a warning when it got
	// less than asked). Zero means DefaultReadBuffer; negative keeps the
	// system default.
	ReadBuffer int
	// MaxDatagramSize is the largest datagram, or IPFIX message over TCP,
	// accepted; larger ones are dropped and counted in Counters.Oversize
	// (over TCP the connection is closed). Zero means
	// DefaultMaxDatagramSize.
	MaxDatagramSize int
	// BatchSize is the number of datagrams read per system call
	// (recvmmsg, Linux only, UDP sockets only). Zero means
	// DefaultBatchSize (32); one turns batch reads off. Each socket has
	// two reading goroutines (the second reads while the first hands
	// datagrams over for longer than 50 ms to 2 s: the watchdog that
	// looks does so less often the lower the rate, as long as the rate takes
	// to fill a quarter of the smallest receive buffer); each keeps
	// BatchSize buffers of MaxDatagramSize+1 bytes, the second from its
	// first read.
	BatchSize int

	// ReadCoalesce is how long a reading goroutine waits, after a batch
	// read that emptied its socket (fewer datagrams than BatchSize), before
	// it reads again, so that one wake-up of the process reads the
	// datagrams of that interval together instead of one each: a trade of
	// latency (a datagram may wait up to ReadCoalesce in the socket before
	// it is decoded) for CPU. A read that fills its batch reads on at once,
	// and a socket found empty is waited on as usual, so that neither a
	// busy nor an idle socket waits. A wait is never longer than the rate
	// of the last interval (from one emptying of the socket to the next)
	// takes to fill a quarter of the socket's receive buffer or to bring
	// BatchSize datagrams (at high rates a wait saves no wake-up, and what
	// it lets gather is read back from cold memory), nor longer than a
	// flood of ReadCoalesceFlood takes to fill a quarter of the buffer (a
	// flood that starts during a wait meets the rest of it), and there is
	// none when that time is under MinReadCoalesce (a busy socket, or a
	// buffer too small for a flood). The waits start at 2 ms and double
	// each cycle up to ReadCoalesce, at first and after the socket was
	// found empty for ReadCoalesce or longer, so that a flood that ends an
	// idle spell is measured before a long wait. The full batches read
	// after a wait are handed over by the reading goroutine like any
	// other read. A small receive buffer (net.core.rmem_max, without
	// CAP_NET_ADMIN) thus shortens the waits; a flood beyond
	// ReadCoalesceFlood may still overflow one. Datagrams the kernel
	// drops are counted in Stats.KernelDrops as always.
	//
	// To coalesce, a UDP socket is taken out of the Go runtime's poller
	// (its descriptor duplicated and the *net.UDPConn closed, also one
	// given to Serve, whose deadlines then no longer apply): a socket in
	// the poller wakes the process at every datagram while anything else
	// is pending in it. Its reading goroutines wait on timers of their own
	// (timerfd), and on the socket only when they find it empty.
	//
	// Zero (the default) or negative reads at once. It applies to batch
	// reads only (Linux, BatchSize above one). On the 2-vCPU virtual
	// machine of docs/performance-pipeline.md, where a wake-up costs tens
	// of microseconds of CPU, 20 ms cut the CPU of a collector receiving
	// a few hundred datagrams a second by half or more, and 100 ms by a
	// third again.
	ReadCoalesce time.Duration

	// MaxExporters bounds the number of sources counted one by one;
	// further sources are counted together under the zero AddrPort.
	// Zero means DefaultMaxExporters (4096).
	MaxExporters int
	// ExporterIdle is how long the sweeper keeps the counters of a
	// source that sent nothing (its figures stay in the total). Zero
	// means DefaultExporterIdle (15 minutes); negative keeps them.
	ExporterIdle time.Duration

	// MaxConnections bounds the open TCP connections over every TCP
	// listener. When that many are open, a new connection gets in only by
	// taking the place of the longest-idle connection of the source
	// address with the most open connections, and only if that source has
	// at least two more than the newcomer's (TCPStats.Evicted); otherwise
	// it is closed at accept (TCPStats.OverLimit). So connections from one
	// source, or from a few, cannot lock other sources out. Zero means
	// DefaultMaxConnections (1024).
	MaxConnections int
	// MaxConnectionsPerSource bounds the open TCP connections from one
	// source address (any port); a connection beyond it is closed at
	// accept (TCPStats.SourceLimit). Exporters behind one NAT address
	// share it. Zero means DefaultMaxConnectionsPerSource (128); negative
	// means no bound but MaxConnections.
	MaxConnectionsPerSource int
	// IdleTimeout closes a TCP connection on which no message arrived for
	// this long (TCPStats.IdleClosed; a message cut by it counts in
	// TCPStats.StreamErrors). Zero means DefaultIdleTimeout (5 minutes).
	IdleTimeout time.Duration
	// FirstMessageTimeout closes a connection whose first complete
	// message has not arrived this long after it was accepted, TLS
	// handshake included (TCPStats.NoFirstMessage). Zero means no
	// deadline of its own: IdleTimeout applies. Some exporters connect
	// long before they export anything, and do not connect again once
	// closed (softflowd 1.1.0 sends its first message when its first flow
	// expires), so a short value loses them: see docs/tcp-limits.md.
	FirstMessageTimeout time.Duration
	// MessageTimeout and MinProgressRate bound how long a message may
	// take to arrive once its first byte has: MessageTimeout plus its
	// length at MinProgressRate bytes a second (10 s + 1.5 s for a
	// 1500-byte message with the defaults). A connection whose message
	// takes longer, trickling, is closed (TCPStats.Slow). Zero means
	// DefaultMessageTimeout (10 s) and DefaultMinProgressRate (1000
	// bytes/s); a negative MinProgressRate leaves only MessageTimeout.
	MessageTimeout  time.Duration
	MinProgressRate int
	// TLS, if set, makes ListenTCP and ServeListener speak TLS (RFC 7011
	// section 11). Set ClientCAs and ClientAuth to
	// tls.RequireAndVerifyClientCert to admit only exporters holding a
	// certificate signed by those CAs (LoadTLSConfig does).
	TLS *tls.Config

	// Logger receives the receiver's log records: start and stop, first
	// datagram from each exporter, refused sources (at most one record a
	// second), connections, failures, and decode errors at debug level.
	// Nil means silent.
	Logger *slog.Logger

	// SweepInterval is how often the receiver's sweeper runs: it calls
	// Decoder.Sweep (so that data held for a template from an exporter
	// gone quiet expires), the store's Expire method if it has one (so
	// that expired templates free their exporters' slots), and drops the
	// counters of sources idle for ExporterIdle. Zero means
	// DefaultSweepInterval (one minute); a negative value never.
	SweepInterval time.Duration

	// OnError, if set, is called once with the failure that stopped the
	// receiver after it started (a socket read error), before Wait
	// returns it. It runs on a receiver goroutine and should not block.
	OnError func(error)
}

// withDefaults returns c with every zero bound replaced by its default.
func (c Config) withDefaults() Config {
	if c.Decoder == nil {
		c.Decoder = netflow.NewDecoder(netflow.Config{})
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.Sockets <= 0 {
		c.Sockets = 1
	}
	if c.MaxDatagramSize <= 0 {
		c.MaxDatagramSize = DefaultMaxDatagramSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchSize < 1 {
		c.BatchSize = 1
	}
	if c.MaxExporters <= 0 {
		c.MaxExporters = DefaultMaxExporters
	}
	if c.ExporterIdle == 0 {
		c.ExporterIdle = DefaultExporterIdle
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConnectionsPerSource == 0 {
		c.MaxConnectionsPerSource = DefaultMaxConnectionsPerSource
	}
	if c.FirstMessageTimeout < 0 {
		c.FirstMessageTimeout = 0
	}
	if c.MessageTimeout <= 0 {
		c.MessageTimeout = DefaultMessageTimeout
	}
	if c.MinProgressRate == 0 {
		c.MinProgressRate = DefaultMinProgressRate
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	return c
}
