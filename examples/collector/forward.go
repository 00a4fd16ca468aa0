package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/prometheus/client_golang/prometheus"
)

// -forward: the flows the collector decodes are re-encoded (export.Writer)
// and sent on to other collectors, as one exporter, in the version
// -forward-version says. IPFIX keeps each flow's original exporter in
// exporterIPv4Address or exporterIPv6Address (130, 131). The receive path
// only copies a datagram's flows into a bounded queue, never waiting: when
// the queue is full the flows are dropped and counted. One goroutine encodes
// and sends; it writes a message when it is full, and what is left when the
// queue runs empty.

// forwardQueue bounds the datagrams' worth of flows waiting to be sent.
const forwardQueue = 4096

// forwardOptions are the -forward flags.
type forwardOptions struct {
	to      *string
	version *uint
}

func addForwardFlags(fs *flag.FlagSet) *forwardOptions {
	return &forwardOptions{
		to: fs.String("forward", "", "re-export the decoded flows to these UDP `addresses` (comma-separated)"),
		version: fs.Uint("forward-version", 10, "with -forward: the export version, 5, 9 or 10 (IPFIX, which keeps the original "+
			"exporter in exporterIPv4Address/exporterIPv6Address)"),
	}
}

// forwarder sends the flows of decoded datagrams on.
type forwarder struct {
	version uint16
	queue   chan *flowBatch
	pool    sync.Pool // of *flowBatch
	dsts    []*forwardDest
	done    chan struct{}
	once    sync.Once

	queued, dropped atomic.Uint64 // flows
}

// flowBatch is the flows of one datagram.
type flowBatch struct{ flows []netflow.Flow }

// forwardDest is one collector flows are sent to.
type forwardDest struct {
	addr string
	conn net.Conn
	w    *export.Writer

	sent, refused, datagrams, bytes, sendErrors atomic.Uint64
}

// Write sends one message as a datagram. A destination that refuses it
// (nothing listening: an ICMP port unreachable) is counted and the flows
// go on: a collector that comes up later gets the next ones.
func (d *forwardDest) Write(msg []byte) (int, error) {
	n, err := d.conn.Write(msg)
	if err != nil {
		d.sendErrors.Add(1)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return len(msg), nil
		}
		return n, err
	}
	d.datagrams.Add(1)
	d.bytes.Add(uint64(n))
	return n, nil
}

// startForward starts the forwarder of o; nil without -forward. It fails
// for bad usage (status 2) or a destination it cannot resolve.
func startForward(o *forwardOptions) (*forwarder, error) {
	if *o.to == "" {
		return nil, nil
	}
	switch *o.version {
	case 5, 9, 10:
	default:
		return nil, fmt.Errorf("-forward-version %d: 5, 9 or 10", *o.version)
	}
	f := &forwarder{version: uint16(*o.version), queue: make(chan *flowBatch, forwardQueue), done: make(chan struct{})}
	for _, a := range strings.Split(*o.to, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		conn, err := net.Dial("udp", a)
		if err != nil {
			f.closeConns()
			return nil, fmt.Errorf("-forward %s: %w", a, err)
		}
		d := &forwardDest{addr: a, conn: conn}
		cfg := export.Config{Version: f.version, ExporterAddress: f.version == 10, Saturate: f.version == 5}
		if d.w, err = export.NewWriter(d, cfg); err != nil {
			conn.Close()
			f.closeConns()
			return nil, err
		}
		f.dsts = append(f.dsts, d)
	}
	if len(f.dsts) == 0 {
		return nil, errors.New("-forward: no address")
	}
	go f.run()
	return f, nil
}

func (f *forwarder) closeConns() {
	for _, d := range f.dsts {
		d.conn.Close()
	}
}

// add queues the flows of p, or drops them when the queue is full. It
// never waits.
func (f *forwarder) add(p netflow.Packet) {
	b, _ := f.pool.Get().(*flowBatch)
	if b == nil {
		b = new(flowBatch)
	}
	b.flows = p.AppendFlows(b.flows[:0])
	n := uint64(len(b.flows))
	if n == 0 {
		f.pool.Put(b)
		return
	}
	select {
	case f.queue <- b:
		f.queued.Add(n)
	default:
		f.dropped.Add(n)
		f.pool.Put(b)
	}
}

// run sends what is queued until the queue is closed.
func (f *forwarder) run() {
	defer close(f.done)
	for b := range f.queue {
		if f.version == 5 {
			for i := range b.flows {
				// v5 engine type and ID hold 16 bits of a domain.
				if b.flows[i].Domain > 0xffff {
					b.flows[i].Known &^= netflow.FieldDomain
				}
			}
		}
		for _, d := range f.dsts {
			before := d.w.Stats()
			_ = d.w.WriteFlows(b.flows) // refusals are counted, output errors by Write
			after := d.w.Stats()
			d.sent.Add(after.Flows - before.Flows)
			d.refused.Add(after.Refused - before.Refused)
		}
		f.pool.Put(b)
		if len(f.queue) == 0 {
			for _, d := range f.dsts {
				_ = d.w.Flush()
			}
		}
	}
	for _, d := range f.dsts {
		_ = d.w.Flush()
	}
}

// close sends what is queued and stops.
func (f *forwarder) close(ctx context.Context) {
	f.once.Do(func() {
		close(f.queue)
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		f.closeConns()
	})
}

// printStats writes the forwarder's counters.
func (f *forwarder) printStats(w io.Writer) {
	fmt.Fprintf(w, "forward: queued %d flows, dropped %d (queue full)\n", f.queued.Load(), f.dropped.Load())
	for _, d := range f.dsts {
		fmt.Fprintf(w, "forward %s (v%d): sent %d flows in %d datagrams (%d bytes), refused %d, send errors %d\n",
			d.addr, f.version, d.sent.Load(), d.datagrams.Load(), d.bytes.Load(), d.refused.Load(), d.sendErrors.Load())
	}
}

// forwardMetrics is the forwarder's prometheus.Collector, registered with
// -metrics when -forward is on.
var forwardMetrics prometheus.Collector

// forwardCollector reads the forwarder's counters when Prometheus scrapes.
type forwardCollector struct {
	f                                 *forwarder
	flows, dropped, datagrams, errors *prometheus.Desc
}

func newForwardCollector(f *forwarder) *forwardCollector {
	dst := []string{"destination"}
	return &forwardCollector{
		f: f,
		flows: prometheus.NewDesc("netflow_forward_flows_total",
			"Flows re-exported (-forward), by destination and result (sent; refused: the version cannot carry a value).",
			[]string{"destination", "result"}, nil),
		dropped: prometheus.NewDesc("netflow_forward_dropped_total",
			"Flows not re-exported because the forward queue was full.", nil, nil),
		datagrams: prometheus.NewDesc("netflow_forward_datagrams_total",
			"Datagrams re-exported, by destination.", dst, nil),
		errors: prometheus.NewDesc("netflow_forward_send_errors_total",
			"Datagrams the destination did not take (nothing listening), by destination.", dst, nil),
	}
}

func (c *forwardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.flows
	ch <- c.dropped
	ch <- c.datagrams
	ch <- c.errors
}

func (c *forwardCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.dropped, c.f.dropped.Load())
	for _, d := range c.f.dsts {
		counter(c.flows, d.sent.Load(), d.addr, "sent")
		counter(c.flows, d.refused.Load(), d.addr, "refused")
		counter(c.datagrams, d.datagrams.Load(), d.addr)
		counter(c.errors, d.sendErrors.Load(), d.addr)
	}
}
