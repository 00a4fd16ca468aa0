// Command collector receives NetFlow v1/v5/v6/v7/v9, IPFIX and sFlow v5
// export datagrams over UDP, and with -tcp IPFIX over TCP or TLS, and prints
// their flows, one a line. Any address takes every protocol (the decoder
// tells them apart): `-listen :6343` is sFlow's usual port, and an sFlow
// flow's JSON has "protocol":"sflow" (docs/sflow.md); with -metrics, sFlow
// interface counters are netflow_sflow_interface_* metrics.
//
// Usage:
//
//	go run ./examples/collector [flags]
//
// It prints "listening on ADDR" on standard error first (and, with -tcp,
// "tcp listening on ADDR" next), then the flows it
// receives on standard output: a table with a header line by default, or
// JSON Lines with -json, in the format of examples/flowdump
// (netflow.Flow.AppendJSONWithFields; docs/flow.md, "JSON output", lists
// every key). Options data records are printed too unless
// -flows-only is given.
//
// A datagram that does not decode is reported on standard error (at most
// ten reports a second). On SIGINT or SIGTERM the collector stops, prints
// its counters on standard error and exits with status 0 within a few
// seconds, even when standard output is stalled: output goes through a
// bounded buffer, and what cannot be written by then is counted and
// dropped. It exits with 1 when it cannot listen or the socket fails, and 2
// for bad usage.
//
// Flags:
//
//	-listen ADDR       UDP address to listen on (default 127.0.0.1:2055; port 0 picks one)
//	-tcp ADDR          also accept IPFIX over TCP on ADDR (port 0 picks one)
//	-tls-cert FILE     with -tcp: speak TLS with this certificate (PEM)
//	-tls-key FILE      the certificate's key (PEM)
//	-tls-ca FILE       admit only exporters with a client certificate signed by this CA (PEM)
//	-tcp-max-connections N        with -tcp: open connections at most (default 1024)
//	-tcp-max-per-source N         with -tcp: open connections from one address at most (default 128)
//	-tcp-idle-timeout D           with -tcp: close a connection silent this long (default 5m)
//	-tcp-first-message-timeout D  with -tcp: close a connection with no message this long after accept
//	-tcp-message-timeout D        with -tcp: time a message may take once begun (default 10s) ...
//	-tcp-min-rate BYTES           ... besides its length at this rate (default 1000 bytes/s)
//	-json              write JSON Lines instead of a table
//	-workers N         decoding goroutines (default: one per CPU)
//	-allow PREFIX,...  accept datagrams from these networks or addresses only
//	-sockets N         sockets bound with SO_REUSEPORT (Linux)
//	-rcvbuf BYTES      socket receive buffer size (0: 16 MiB; negative: the system's default)
//	-max-datagram N    largest datagram accepted, in bytes
//	-batch N           datagrams read per system call (1: no batch reads)
//	-read-coalesce D   after a read that empties the socket, wait up to D before the next (default 100ms; 0: read at once)
//	-flows-only        do not print options data records
//	-v                 log the receiver's events on standard error (without it, only its warnings while it starts)
//	-metrics ADDR      serve Prometheus metrics at http://ADDR/metrics (prints "metrics on ADDR")
//	-metrics-exporters N  exporters with a label of their own (default 100; the rest: exporter="other")
//	-kafka BROKERS     send each flow as one JSON record to these Kafka brokers (comma-separated) instead of stdout
//	-topic T           the Kafka topic (with -kafka)
//	-kafka-linger D    how long a batch may wait for more records (default 50ms)
//	-kafka-timeout D   how long a record may wait to be delivered, then it counts as failed (default 30s)
//	-kafka-compression C  batch compression: zstd, lz4, snappy (default), gzip or none
//	-kafka-record flow|datagram  a record per flow (default), or a datagram's flows as one record of JSON Lines
//	-kafka-batch-bytes N  the largest batch to a partition before compression (default franz-go's 1,000,012)
//	-store URL         keep templates and options state in Redis (redis://[[user]:password@]host:port/db, rediss://), shared by several collectors
//	-store-prefix P    with -store: the key prefix of this fleet (default netflow)
//	-store-consistency cache|hold  with -store: decode from the cached templates while Redis is lost (cache, the default), or hold the data sets until the cache is confirmed (hold)
//	-accept-misfits-after D  with -store: decode a data set its template from Redis cannot account for all the same after D (0: never)
//	-state FILE        load templates and options state from FILE at start, save them periodically and on exit (not with -store)
//	-state-interval D  with -state: time between saves (default 30s)
//	-forward ADDR,...  re-export the decoded flows over UDP to these collectors (forward.go)
//	-forward-version V with -forward: 5, 9 or 10 (default 10, IPFIX)
//
// With -store or -state it prints which store it uses after the listening
// lines, and with its counters the options state's and the store's. With
// -store, data sets held on this collector for a template another
// collector learned are printed as soon as Redis announces the template,
// without waiting for the exporter's next datagram; a data set that the
// template cached from Redis cannot account for (a redefinition with
// another record length not seen here yet) is held, never printed
// decoded with it (docs/several-instances-consistency.md). A state
// file that does not load, or a Redis it cannot reach at start, is exit
// status 1.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/examples/internal/decflags"
	"github.com/flowkit/netflow/internal/flowfmt"
	"github.com/flowkit/netflow/receiver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it receives until ctx is done, then prints the
// counters, and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen    = fs.String("listen", "127.0.0.1:2055", "UDP `address` to listen on (port 0 picks a free port)")
		tcpAddr   = fs.String("tcp", "", "also accept IPFIX over TCP on this `address` (port 0 picks a free port)")
		tlsCert   = fs.String("tls-cert", "", "with -tcp: TLS certificate `file` (PEM)")
		tlsKey    = fs.String("tls-key", "", "with -tcp: TLS key `file` (PEM)")
		tlsCA     = fs.String("tls-ca", "", "with -tcp: admit only exporters holding a client certificate signed by this CA `file` (PEM)")
		jsonOut   = fs.Bool("json", false, "write JSON Lines, one object per flow, instead of a table")
		workers   = fs.Int("workers", 0, "decoding goroutines (0: one per CPU)")
		allow     = fs.String("allow", "", "comma-separated `prefixes` or addresses of the exporters to accept (default: all)")
		sockets   = fs.Int("sockets", 1, "sockets bound to the address with SO_REUSEPORT (Linux)")
		rcvbuf    = fs.Int("rcvbuf", 0, "socket receive buffer `bytes` (0: 16 MiB, the receiver's default; negative: the system's default)")
		maxSize   = fs.Int("max-datagram", receiver.DefaultMaxDatagramSize, "largest datagram accepted, in `bytes`")
		batch     = fs.Int("batch", 0, "datagrams read per system call (0: default, 1: no batch reads)")
		coalesce  = fs.Duration("read-coalesce", defaultReadCoalesce, "after a read that empties the socket, wait up to this long before the next, less when the receive buffer could not take a flood meanwhile (0: read at once; see receiver.Config.ReadCoalesce)")
		flowsOnly = fs.Bool("flows-only", false, "do not print options data records")
		verbose   = fs.Bool("v", false, "log the receiver's events on standard error (without it, only its warnings while it starts: a socket option refused, a receive buffer smaller than asked)")
		out2      = outputFlags(fs)
		decFlags  = decflags.Add(fs)
		tcpLimits = addTCPLimitFlags(fs) // tcpflags.go
	)
	storeArgs := addStoreFlags(fs)
	fwdArgs := addForwardFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "collector: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	prefixes, err := parseAllow(*allow)
	if err != nil {
		fmt.Fprintf(stderr, "collector: -allow: %v\n", err)
		return 2
	}
	tlsCfg, status := tlsConfig(stderr, *tcpAddr, *tlsCert, *tlsKey, *tlsCA)
	if status != 0 {
		return status
	}
	if err := tcpLimits.check(fs, *tcpAddr); err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	decCfg, err := decFlags.Config()
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}

	fwd, err := startForward(fwdArgs)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	if fwd != nil {
		forwardMetrics = newForwardCollector(fwd)
		defer fwd.close(context.Background())
	}

	be, status := openBackend(ctx, storeArgs, decFlags.StoreConfig(), stderr)
	if status != 0 {
		return status
	}
	defer be.close()

	errOut := &lockedWriter{w: stderr}
	if be.store != nil { // else the in-memory store of decCfg (-max-exporters, -max-domains)
		decCfg.Store = be.store
	}
	decCfg.AcceptMisfitsAfter = *storeArgs.acceptMisfits
	cfg := receiver.Config{
		Decoder:         netflow.NewDecoder(decCfg),
		Allow:           prefixes,
		Workers:         *workers,
		Sockets:         *sockets,
		ReadBuffer:      *rcvbuf,
		MaxDatagramSize: *maxSize,
		BatchSize:       *batch,
		ReadCoalesce:    *coalesce,
		TLS:             tlsCfg,
	}
	tcpLimits.apply(&cfg)
	// The receiver's log, held until "listening on" is out, so that it
	// comes first. With -v, everything it logs. Without, only its
	// warnings while it starts (a socket option refused, a receive buffer
	// smaller than asked, no read coalescing): they say why datagrams may
	// be dropped or cost more CPU than they should, once; logLevel is
	// raised past them once the collector has started.
	logLevel := new(slog.LevelVar)
	logLevel.Set(slog.LevelWarn)
	if *verbose {
		logLevel.Set(slog.LevelDebug)
	}
	logs := &heldHandler{h: slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: logLevel})}
	cfg.Logger = slog.New(logs)
	defer cfg.Decoder.Close()
	out := newBoundedWriter(stdout)
	defer out.close(0)
	stopOut := context.AfterFunc(ctx, out.stopBlocking)
	defer stopOut()
	p := &printer{json: *jsonOut, flowsOnly: *flowsOnly, out: out, errs: errOut, forward: fwd}
	if p.kafka, err = out2.kafkaSink(); err != nil {
		fmt.Fprintf(errOut, "collector: %v\n", err)
		return 2
	}
	if p.kafka != nil {
		defer p.kafka.close(0) // on an early return; closeKafka has flushed it otherwise
	}
	sflowCtrs := out2.sflowCounters() // sFlow interface counters for -metrics (sflow.go)
	r := receiver.New(sflowCtrs.observing(p.handle), cfg)
	addr, cancel, err := r.Listen(ctx, *listen)
	if err != nil {
		fmt.Fprintf(errOut, "collector: %v\n", err)
		return 1
	}
	defer cancel()
	fmt.Fprintf(errOut, "listening on %v\n", addr)
	if *tcpAddr != "" {
		taddr, _, err := r.ListenTCP(ctx, *tcpAddr)
		if err != nil {
			cancel()
			fmt.Fprintf(errOut, "collector: -tcp: %v\n", err)
			return 1
		}
		fmt.Fprintf(errOut, "tcp listening on %v\n", taddr)
	}
	be.start(errOut)
	stopMetrics, err := out2.startMetrics(errOut, r, cfg.Decoder, p.kafka, be.redis, sflowCtrs)
	if err != nil {
		cancel()
		fmt.Fprintf(errOut, "collector: -metrics: %v\n", err)
		return 1
	}
	defer stopMetrics()
	logs.release()
	if !*verbose {
		logLevel.Set(slog.LevelError + 1) // the start is over: nothing more
	}
	if !p.json && p.kafka == nil {
		p.write(append(flowfmt.AppendTableHeader(nil), '\n'))
	}

	failure := r.Wait()
	if fwd != nil {
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		fwd.close(fctx)
		cancel()
		fwd.printStats(errOut)
	}
	saveErr := be.finish()
	p.flushErrors()
	p.closeKafka(errOut)
	if lost := out.close(flushTimeout); lost > 0 {
		fmt.Fprintf(errOut, "collector: standard output stalled: %d writes not done\n", lost)
	}
	printStats(errOut, r.Stats(), cfg.Decoder.Stats().Pending)
	printStoreStats(errOut, be, cfg.Decoder.Stats())
	decflags.PrintSequences(errOut, cfg.Decoder.Stats())
	if failure != nil {
		fmt.Fprintf(errOut, "collector: %v\n", failure)
		return 1
	}
	if saveErr != nil {
		fmt.Fprintf(errOut, "collector: -state: %v\n", saveErr)
		return 1
	}
	return 0
}

// tlsConfig checks the TLS flags and loads the configuration; status is
// non-zero (2) on bad usage.
func tlsConfig(stderr io.Writer, tcpAddr, cert, key, ca string) (*tls.Config, int) {
	if cert == "" && key == "" && ca == "" {
		return nil, 0
	}
	if tcpAddr == "" {
		fmt.Fprintln(stderr, "collector: -tls-cert, -tls-key and -tls-ca need -tcp")
		return nil, 2
	}
	if cert == "" || key == "" {
		fmt.Fprintln(stderr, "collector: TLS needs both -tls-cert and -tls-key")
		return nil, 2
	}
	cfg, err := receiver.LoadTLSConfig(cert, key, ca)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return nil, 2
	}
	return cfg, 0
}

// parseAllow reads a comma-separated list of prefixes; a bare address
// stands for itself.
func parseAllow(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			ps = append(ps, p)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a prefix nor an address", f)
		}
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return ps, nil
}

// printer is the receiver's handler: it formats the flows of a datagram
// into one buffer and hands it to the writer in one go, so that the lines
// of concurrent workers do not mix.
type printer struct {
	json, flowsOnly bool
	kafka           *kafkaSink // -kafka: flows go there instead of out
	forward         *forwarder // -forward: flows go there too
	out             *boundedWriter
	errs            io.Writer

	bufs sync.Pool // of *lines

	errMu      sync.Mutex
	errWindow  time.Time
	errCount   int
	suppressed int
}

// lines is the per-datagram scratch of a handler call.
type lines struct {
	b     []byte
	flows []netflow.Flow
}

const errorsPerSecond = 10

// defaultReadCoalesce is -read-coalesce's default: datagrams wait up to
// 100 ms in the socket (as long as the writer holds lines), and a
// collector receiving a few hundred a second wakes 10 times a second
// instead of once a datagram (docs/performance-pipeline.md). The receiver
// shortens the wait to what the receive buffer can take of a flood
// (receiver.ReadCoalesceFlood): 100 ms needs the default 16 MiB, which
// needs net.core.rmem_max of 16 MiB or CAP_NET_ADMIN; with 4 MiB the wait
// is 42 ms.
const defaultReadCoalesce = 100 * time.Millisecond

func (p *printer) handle(d *receiver.Datagram) {
	if d.Err != nil {
		p.decodeError(d)
	}
	if d.Packet == nil {
		return
	}
	if p.forward != nil {
		p.forward.add(d.Packet)
	}
	if p.kafka != nil {
		p.toKafka(d)
		return
	}
	l, _ := p.bufs.Get().(*lines)
	if l == nil {
		l = new(lines)
	}
	l.b = l.b[:0]
	switch pk := d.Packet.(type) {
	case *netflow.V9Packet:
		p.sets(l, &pk.Sets, pk.Exporter, 9, pk.Header.SourceID)
	case *netflow.IPFIXPacket:
		p.sets(l, &pk.Sets, pk.Exporter, 10, pk.Header.ObservationDomainID)
	default:
		l.flows = pk.AppendFlows(l.flows[:0])
		for i := range l.flows {
			p.flow(l, &l.flows[i], nil)
		}
	}
	l.b = p.out.hand(l.b) // the writer takes the buffer over
	p.bufs.Put(l)
}

// sets formats the data and options records of a v9 or IPFIX packet in the
// order they decoded, each flow with the record it came from.
func (p *printer) sets(l *lines, s *netflow.Sets, exporter netip.AddrPort, version uint16, domain uint32) {
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		if ds.Options() {
			if p.flowsOnly {
				continue
			}
			for j := range ds.Records {
				if p.json {
					l.b = flowfmt.AppendOptionsJSON(l.b, exporter, version, domain, &ds.Records[j])
				} else {
					l.b = flowfmt.AppendOptionsRow(l.b, exporter, version, domain, &ds.Records[j])
				}
				l.b = append(l.b, '\n')
			}
			continue
		}
		// A data set's flows are its records', in order.
		l.flows = ds.AppendFlows(l.flows[:0])
		for j := range l.flows {
			p.flow(l, &l.flows[j], &ds.Records[j])
		}
	}
}

func (p *printer) flow(l *lines, f *netflow.Flow, rec *netflow.Record) {
	if p.json {
		l.b = f.AppendJSONWithFields(l.b, rec)
	} else {
		l.b = flowfmt.AppendFlowRow(l.b, f)
	}
	l.b = append(l.b, '\n')
}

func (p *printer) write(b []byte) {
	p.out.write(b)
}

// decodeError reports a datagram that did not (entirely) decode, at most
// errorsPerSecond times a second.
func (p *printer) decodeError(d *receiver.Datagram) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if now := time.Now(); now.Sub(p.errWindow) >= time.Second {
		if p.suppressed > 0 {
			fmt.Fprintf(p.errs, "collector: %d more decode errors not shown\n", p.suppressed)
		}
		p.errWindow, p.errCount, p.suppressed = now, 0, 0
	}
	if p.errCount >= errorsPerSecond {
		p.suppressed++
		return
	}
	p.errCount++
	fmt.Fprintf(p.errs, "collector: datagram from %v (%d bytes): %v\n", d.Exporter, len(d.Data), d.Err)
}

func (p *printer) flushErrors() {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.suppressed > 0 {
		fmt.Fprintf(p.errs, "collector: %d more decode errors not shown\n", p.suppressed)
		p.suppressed = 0
	}
}

// printStats writes the receiver's counters, in total and per exporter.
func printStats(w io.Writer, st receiver.Stats, ps netflow.PendingStats) {
	var b strings.Builder
	fmt.Fprintf(&b, "total: %s\n", formatCounters(st.Total))
	fmt.Fprintf(&b, "kernel drops: %d\n", st.KernelDrops)
	if t := st.TCP; t.Accepted+t.Refused+t.OverLimit+t.SourceLimit+t.HandshakeFailed > 0 {
		fmt.Fprintf(&b, "tcp: accepted %d, refused %d, over limit %d, handshake failed %d, closed %d, idle closed %d, stream errors %d, "+
			"source limit %d, evicted %d, no first message %d, slow %d\n",
			t.Accepted, t.Refused, t.OverLimit, t.HandshakeFailed, t.Closed, t.IdleClosed, t.StreamErrors,
			t.SourceLimit, t.Evicted, t.NoFirstMessage, t.Slow)
	}
	fmt.Fprintf(&b, "pending: held %d (%d bytes), added %d, matched %d, expired %d, refused %d, misfits %d, misfits accepted %d\n",
		ps.Held, ps.Bytes, ps.Added, ps.Matched, ps.Expired, ps.Refused, ps.Misfits, ps.MisfitsAccepted)
	exporters := make([]netip.AddrPort, 0, len(st.Exporters))
	for ap := range st.Exporters {
		exporters = append(exporters, ap)
	}
	slices.SortFunc(exporters, netip.AddrPort.Compare)
	for _, ap := range exporters {
		name := ap.String()
		if !ap.IsValid() {
			name = "others"
		}
		fmt.Fprintf(&b, "exporter %s: %s\n", name, formatCounters(st.Exporters[ap]))
	}
	io.WriteString(w, b.String())
}

func formatCounters(c receiver.Counters) string {
	s := fmt.Sprintf("datagrams %d, bytes %d, decoded %d, flows %d, failed %d, denied %d, oversize %d, dropped %d, stopped %d",
		c.Datagrams, c.Bytes, c.Decoded, c.Flows, c.Failed, c.Denied, c.Oversize, c.Dropped, c.Stopped)
	if c.Released > 0 {
		s += fmt.Sprintf(", released %d", c.Released)
	}
	e := c.Errors
	var kinds []string
	for _, k := range []struct {
		name string
		n    uint64
	}{
		{"truncated", e.Truncated}, {"unsupported version", e.UnsupportedVersion}, {"no records", e.Empty},
		{"malformed", e.Malformed}, {"template not found", e.TemplateNotFound}, {"limit", e.Limit},
		{"store", e.Store}, {"other", e.Other},
	} {
		if k.n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k.name, k.n))
		}
	}
	if len(kinds) > 0 {
		s += " (" + strings.Join(kinds, ", ") + ")"
	}
	return s
}

// lockedWriter serialises writes to standard error.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// heldHandler keeps log records until release, then passes them and all
// later ones to h.
type heldHandler struct {
	h    slog.Handler
	mu   sync.Mutex
	held []slog.Record
	open bool
}

func (h *heldHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *heldHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	if !h.open {
		h.held = append(h.held, r.Clone())
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()
	return h.h.Handle(ctx, r)
}

// WithAttrs and WithGroup are not used by the receiver; they bypass the
// holding.
func (h *heldHandler) WithAttrs(as []slog.Attr) slog.Handler { return h.h.WithAttrs(as) }
func (h *heldHandler) WithGroup(name string) slog.Handler    { return h.h.WithGroup(name) }

func (h *heldHandler) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.held {
		h.h.Handle(context.Background(), r)
	}
	h.held, h.open = nil, true
}
