package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ErrListen means a Receiver could not bind its socket: a bad address, an
// address in use, no permission. The error returned by Receiver.Listen wraps
// both ErrListen and the operating system's error, so that
// errors.Is(err, syscall.EADDRINUSE) works too.
var ErrListen = errors.New("netflow: listen failed")

var (
	errReceiverStarted = errors.New("netflow: receiver already started")
	errNoConns         = errors.New("netflow: no connection to serve")
)

// Receiver defaults.
const (
	// DefaultMaxDatagramSize is the largest UDP payload over IPv4.
	DefaultMaxDatagramSize = 65535
	defaultQueueLen        = 4096
	// DefaultReadBuffer is the socket receive buffer asked for when
	// Config.ReadBuffer is zero. The kernel's usual default (about
	// 208 KiB) holds under 150 datagrams of 1464 bytes: about 1 ms at
	// 100,000 datagrams/s, and loopback tests lost 8-31% at that rate
	// with it, nothing with 4 MiB.
	DefaultReadBuffer   = 4 << 20
	defaultBatchSize    = 32
	defaultMaxExporters = 4096
)

// Datagram is what a Receiver hands to its Handler: one export datagram,
// and what the netflow.Decoder made of it.
//
// The Datagram, its Data and its netflow.Packet (with everything reached from it,
// such as v9/IPFIX records, which alias Data) belong to the receiver and are
// reused as soon as the handler returns: the handler must not retain them or
// hand them to another goroutine. Copy what you keep. Flows appended by
// netflow.Packet.AppendFlows are plain values and may be kept.
type Datagram struct {
	// Exporter is the source address of the datagram. IPv4 sources
	// received on a dual-stack socket are reported as IPv4, not as
	// IPv4-mapped IPv6.
	Exporter netip.AddrPort
	// Received is when the receiver read the datagram (for batch reads,
	// when the batch was read).
	Received time.Time
	// Data is the raw datagram.
	Data []byte
	// netflow.Packet is the decoded datagram; nil if nothing decoded.
	Packet netflow.Packet
	// Err is the decode error, nil if everything decoded. For v9 and
	// IPFIX, netflow.Packet may be non-nil together with Err: the sets that
	// decoded, and the problems of the others.
	Err error
}

// Handler receives the datagrams of a Receiver. It is called from several
// worker goroutines at once, but the datagrams of one exporter address
// (whatever its source port) always go to the same worker, in the order
// they were read. A slow handler makes the receiver drop datagrams (counted in
// Counters.Dropped) rather than stall the socket. A panic in the handler is
// not recovered.
type Handler func(d *Datagram)

// Config configures a Receiver. The zero value is valid.
type Config struct {
	// Decoder decodes the datagrams; its template store, pending data and
	// exporter state are shared by every worker. Nil means
	// netflow.NewDecoder(netflow.Config{}).
	Decoder *netflow.Decoder

	// Allow lists the networks exporters may send from. Datagrams from
	// any other source are dropped before decoding and counted in
	// Counters.Denied of that source. Nil or empty accepts every source.
	Allow []netip.Prefix

	// Workers is the number of goroutines that decode and call the
	// handler. Zero means runtime.GOMAXPROCS(0).
	Workers int
	// QueueLen is the number of datagrams waiting for each worker. When a
	// worker's queue is full, new datagrams for it are dropped. Zero
	// means 4096, enough for the tens of milliseconds a worker may wait
	// for a CPU on a busy machine at 100,000 datagrams/s.
	QueueLen int

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
	// MaxDatagramSize is the largest datagram accepted; larger ones are
	// dropped and counted in Counters.Oversize. Zero means
	// DefaultMaxDatagramSize.
	MaxDatagramSize int
	// BatchSize is the number of datagrams read per system call
	// (recvmmsg, Linux only, UDP sockets only). Zero means 32; one turns
	// batch reads off.
	BatchSize int

	// MaxExporters bounds the number of sources counted one by one;
	// further sources are counted together under the zero AddrPort.
	// Zero means 4096.
	MaxExporters int

	// Logger receives the receiver's log records: start and stop, first
	// datagram from each exporter, refused sources, failures, and decode
	// errors at debug level. Nil means silent.
	Logger *slog.Logger

	// SweepInterval is how often the receiver calls netflow.Decoder.Sweep, so
	// that data held for a template from an exporter gone quiet expires.
	// Zero means one minute; a negative value never.
	SweepInterval time.Duration

	// OnError, if set, is called once with the failure that stopped the
	// receiver after it started (a socket read error), before Wait
	// returns it. It runs on a receiver goroutine and should not block.
	OnError func(error)
}

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
// Datagrams = Denied + Oversize + Dropped + the datagrams handed to the
// handler (or still queued for it); a handed-over datagram counts in
// Decoded, in Failed, or in both when part of it decoded.
type Counters struct {
	Datagrams uint64 // datagrams received
	Bytes     uint64 // their size (UDP payload)
	Denied    uint64 // dropped: source not in Config.Allow
	Oversize  uint64 // dropped: larger than Config.MaxDatagramSize
	Dropped   uint64 // dropped: the worker's queue was full (handler too slow)
	Decoded   uint64 // handed over with a netflow.Packet
	Flows     uint64 // flows in those packets (netflow.Packet.FlowCount)
	Failed    uint64 // handed over with an error
	Errors    ErrorCounts
}

// Stats is a snapshot of a Receiver's counters.
type Stats struct {
	Total Counters
	// Exporters holds the counters of each source, refused ones
	// included. Sources beyond Config.MaxExporters are counted
	// together under the zero netip.AddrPort.
	Exporters map[netip.AddrPort]Counters
	// KernelDrops is the number of datagrams the kernel dropped because a
	// socket's receive buffer was full, as Linux reports it
	// (SO_RXQ_OVFL), summed over the sockets. The kernel cannot say whose
	// datagrams they were, so there is no per-exporter figure; it is
	// updated when the next datagram arrives on the socket, and stays zero
	// where the system does not report it.
	KernelDrops uint64
}

// Receiver receives export datagrams on UDP sockets, decodes them with a
// shared netflow.Decoder on a pool of workers and hands them to a Handler. A
// Receiver runs once: create it with New, start it with Listen or
// Serve, stop it by cancelling the context or calling the cancel func that
// Listen returns. Its methods are safe for concurrent use.
type Receiver struct {
	h     Handler
	cfg   Config
	dec   *netflow.Decoder
	allow []netip.Prefix
	log   *slog.Logger

	started  atomic.Bool
	stopOnce sync.Once
	stopCh   chan struct{} // closed when a stop is requested
	done     chan struct{} // closed when every goroutine has ended

	mu          sync.Mutex
	err         error           // the failure that stopped the receiver
	kernelDrops []atomic.Uint64 // per conn; the slice is set under mu

	queues []chan *rxItem
	pool   sync.Pool // of *rxItem

	total     counters
	expMu     sync.Mutex
	exporters map[netip.AddrPort]*counters
	other     *counters // sources beyond MaxExporters
}

// New returns a Receiver that hands datagrams to h (which may be
// nil: the datagrams are then only decoded and counted).
func New(h Handler, cfg Config) *Receiver {
	r := &Receiver{
		h:         h,
		cfg:       cfg,
		dec:       cfg.Decoder,
		log:       cfg.Logger,
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		exporters: make(map[netip.AddrPort]*counters),
		other:     new(counters),
	}
	if r.dec == nil {
		r.dec = netflow.NewDecoder(netflow.Config{})
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	c := &r.cfg
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = defaultQueueLen
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
		c.BatchSize = defaultBatchSize
	}
	if c.BatchSize < 1 {
		c.BatchSize = 1
	}
	if c.MaxExporters <= 0 {
		c.MaxExporters = defaultMaxExporters
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	for _, p := range cfg.Allow {
		if p.IsValid() {
			r.allow = append(r.allow, p.Masked())
		}
	}
	return r
}

// Listen binds a UDP socket (Config.Sockets of them with
// SO_REUSEPORT) to address, such as "127.0.0.1:2055" or ":2055", and starts
// receiving. It returns the bound address (port 0 in address picks a free
// port) and a cancel func. A bind failure is returned as an error matching
// ErrListen and the system's error.
//
// Cancelling ctx or calling cancel stops the receiver. cancel may be called
// any number of times; it returns once every goroutine of the receiver has
// ended and every datagram already read has been handed to the handler.
func (r *Receiver) Listen(ctx context.Context, address string) (netip.AddrPort, func(), error) {
	if r.started.Load() {
		return netip.AddrPort{}, nil, errReceiverStarted
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
	if err := r.start(ctx, conns); err != nil {
		closeAll()
		return netip.AddrPort{}, nil, err
	}
	return bound, r.stop, nil
}

// Serve receives on conns until ctx is cancelled or a read fails, and
// returns once every goroutine has ended and every datagram already read has
// been handed over: nil when ctx was cancelled, else the failure. Serve
// takes ownership of conns and closes them before it returns.
//
// For a *net.UDPConn, Serve sets the read buffer, reads in batches and asks
// for the kernel's drop count as Config says; any other
// net.PacketConn is read with ReadFrom. Config.Sockets is not used:
// the caller chooses the sockets.
func (r *Receiver) Serve(ctx context.Context, conns ...net.PacketConn) error {
	if len(conns) == 0 {
		return errNoConns
	}
	if err := r.start(ctx, conns); err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	return r.Wait()
}

// Wait waits until the receiver has stopped and returns the failure that
// stopped it, or nil if it was stopped by its context or cancel func. Wait
// called before Listen or Serve waits for them to start and stop.
func (r *Receiver) Wait() error {
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Stats returns a snapshot of the counters. It may be called at any time,
// also after the receiver stopped.
func (r *Receiver) Stats() Stats {
	s := Stats{Total: r.total.snapshot()}
	r.mu.Lock()
	for i := range r.kernelDrops {
		s.KernelDrops += r.kernelDrops[i].Load()
	}
	r.mu.Unlock()
	r.expMu.Lock()
	defer r.expMu.Unlock()
	s.Exporters = make(map[netip.AddrPort]Counters, len(r.exporters)+1)
	for ap, c := range r.exporters {
		s.Exporters[ap] = c.snapshot()
	}
	if o := r.other.snapshot(); o.Datagrams > 0 {
		s.Exporters[netip.AddrPort{}] = o
	}
	return s
}

// start launches the workers, one reader per conn and the supervisor.
func (r *Receiver) start(ctx context.Context, conns []net.PacketConn) error {
	if !r.started.CompareAndSwap(false, true) {
		return errReceiverStarted
	}
	r.mu.Lock()
	r.kernelDrops = make([]atomic.Uint64, len(conns))
	r.mu.Unlock()
	r.queues = make([]chan *rxItem, r.cfg.Workers)
	var workers, readers sync.WaitGroup
	for i := range r.queues {
		q := make(chan *rxItem, r.cfg.QueueLen)
		r.queues[i] = q
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(q)
		}()
	}
	for i, c := range conns {
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
		r.log.Info("netflow receiver: listening", "addr", c.LocalAddr().String(),
			"workers", r.cfg.Workers, "batch", r.batchSize(c), "rcvbuf", rcvbuf)
		readers.Add(1)
		go func() {
			defer readers.Done()
			r.read(i, c)
		}()
	}
	var sweeper sync.WaitGroup
	if every := r.cfg.SweepInterval; every > 0 {
		sweeper.Add(1)
		go func() {
			defer sweeper.Done()
			r.sweep(every)
		}()
	}
	stopAfter := context.AfterFunc(ctx, r.requestStop)
	go func() {
		<-r.stopCh
		sweeper.Wait()
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
		for _, q := range r.queues {
			close(q)
		}
		workers.Wait()
		stopAfter()
		r.log.Info("netflow receiver: stopped")
		close(r.done)
	}()
	return nil
}

// sweep expires stale pending data until the receiver stops.
func (r *Receiver) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-t.C:
			r.dec.Sweep()
		}
	}
}

func (r *Receiver) requestStop() {
	r.stopOnce.Do(func() { close(r.stopCh) })
}

// stop is the cancel func of Listen.
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

// rxItem is one datagram on its way from a reader to a worker.
type rxItem struct {
	data []byte
	from netip.AddrPort
	at   time.Time
	ent  *counters
}

// reader is the state of one reading goroutine.
type reader struct {
	idx   int
	cache map[netip.AddrPort]*counters
}

func (r *Receiver) read(idx int, c net.PacketConn) {
	rd := &reader{idx: idx, cache: make(map[netip.AddrPort]*counters)}
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
		r.kernelDrops[rd.idx].Store(uint64(v))
	}
}

// receive counts one datagram and queues it for its worker.
func (r *Receiver) receive(rd *reader, from netip.AddrPort, b []byte, trunc bool, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	ent := r.lookup(rd, from)
	n := uint64(len(b))
	ent.datagrams.Add(1)
	ent.bytes.Add(n)
	r.total.datagrams.Add(1)
	r.total.bytes.Add(n)
	if !r.allowed(from.Addr()) {
		ent.denied.Add(1)
		r.total.denied.Add(1)
		return
	}
	if trunc || len(b) > r.cfg.MaxDatagramSize {
		ent.oversize.Add(1)
		r.total.oversize.Add(1)
		return
	}
	it, _ := r.pool.Get().(*rxItem)
	if it == nil {
		it = &rxItem{data: make([]byte, 0, max(len(b), 2048))}
	}
	it.data = append(it.data[:0], b...)
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

func (r *Receiver) putItem(it *rxItem) {
	it.ent = nil
	r.pool.Put(it)
}

func (r *Receiver) allowed(a netip.Addr) bool {
	if len(r.allow) == 0 {
		return true
	}
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lookup returns the counters of a source, from the reader's cache when it
// can.
func (r *Receiver) lookup(rd *reader, from netip.AddrPort) *counters {
	if c := rd.cache[from]; c != nil {
		return c
	}
	r.expMu.Lock()
	c := r.exporters[from]
	if c == nil {
		if len(r.exporters) < r.cfg.MaxExporters {
			c = new(counters)
			r.exporters[from] = c
			r.expMu.Unlock()
			if r.allowed(from.Addr()) {
				r.log.Info("netflow receiver: new exporter", "exporter", from.String())
			} else {
				r.log.Warn("netflow receiver: refusing source not in Allow", "source", from.String())
			}
		} else {
			c = r.other
			r.expMu.Unlock()
		}
	} else {
		r.expMu.Unlock()
	}
	if len(rd.cache) >= 2*r.cfg.MaxExporters {
		clear(rd.cache)
	}
	rd.cache[from] = c
	return c
}

// work decodes the datagrams of one queue and hands them over.
func (r *Receiver) work(q <-chan *rxItem) {
	var (
		buf netflow.Buffer
		d   = new(Datagram)
	)
	debug := r.log.Enabled(context.Background(), slog.LevelDebug)
	for it := range q {
		p, err := r.dec.DecodeInto(&buf, it.from, it.data)
		if p != nil {
			flows := uint64(p.FlowCount())
			it.ent.decoded.Add(1)
			it.ent.flows.Add(flows)
			r.total.decoded.Add(1)
			r.total.flows.Add(flows)
		}
		if err != nil {
			it.ent.fail(err)
			r.total.fail(err)
			if debug {
				r.log.Debug("netflow receiver: decode", "exporter", it.from.String(), "err", err)
			}
		}
		if r.h != nil {
			*d = Datagram{Exporter: it.from, Received: it.at, Data: it.data, Packet: p, Err: err}
			r.h(d)
			*d = Datagram{}
		}
		r.putItem(it)
	}
}

// errKinds are the sentinels counted in ErrorCounts, in its field order.
var errKinds = [...]error{netflow.ErrTruncated, netflow.ErrUnsupportedVersion, netflow.ErrEmpty, netflow.ErrMalformed,
	netflow.ErrTemplateNotFound, netflow.ErrLimit, netflow.ErrStore}

// counters is the live form of Counters. The reader's and the workers'
// fields are on separate cache lines.
type counters struct {
	datagrams, bytes, denied, oversize, dropped atomic.Uint64
	_                                           [64]byte
	decoded, flows, failed                      atomic.Uint64
	errs                                        [len(errKinds) + 1]atomic.Uint64
}

func (c *counters) fail(err error) {
	c.failed.Add(1)
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
		Decoded:   c.decoded.Load(),
		Flows:     c.flows.Load(),
		Failed:    c.failed.Load(),
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

// exporterHash picks the worker of an exporter: FNV-1a over its address.
// The port is left out so that an exporter that changes source port (the
// case Config.IgnoreExporterPort serves) still has one worker.
func exporterHash(ap netip.AddrPort) uint32 {
	a := ap.Addr().As16()
	h := uint32(2166136261)
	for _, b := range a {
		h = (h ^ uint32(b)) * 16777619
	}
	return h
}

// addrPortOf returns the address and port of a net.Addr, IPv4-mapped
// addresses unmapped; the zero AddrPort if it has none.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return ap
	default:
		host, port, err := net.SplitHostPort(a.String())
		if err != nil {
			return ap
		}
		ip, err1 := netip.ParseAddr(host)
		pn, err2 := strconv.ParseUint(port, 10, 16)
		if err1 != nil || err2 != nil {
			return ap
		}
		ap = netip.AddrPortFrom(ip, uint16(pn))
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
