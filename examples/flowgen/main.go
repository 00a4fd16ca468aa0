// Command flowgen is a synthetic NetFlow v5, v9 and IPFIX exporter for
// testing collectors: it sends made-up flows, as fast as it can or at a
// given rate, from one or more exporters, and can record what it sent in
// the JSON Lines that flowdump -json prints for the same datagrams.
//
// Usage:
//
//	go run ./examples/flowgen -to ADDR -version 5|9|10 -flows N [-rate R] [-exporters K]
//	    [-sampling S] [-ipv6 F] [-seed X] [-tcp] [-record FILE]
//	go run ./examples/flowgen -to ADDR -replay CAPTURE [-rate R] [-shift D|now]
//
// It sends N synthetic flows to ADDR over UDP (with -tcp, IPFIX over TCP,
// RFC 7011 section 10.4) as K exporters, each with its own source port and
// its own domain (v5 engine ID, v9 source ID, IPFIX observation domain:
// 1 to K), at R flows per second (0 or absent: as fast as it can). A
// fraction F of the flows (v9 and IPFIX) is IPv6. A sampling interval S is
// announced as each version does: in the v5 header, in v9 and IPFIX
// options data keyed by the sampler ID the flows carry. The same -seed
// gives the same flows: every value but the times is a function of the seed
// and the flow's index; the times are offsets, from the seed, before the
// moment each flow is sent. Flows are dealt to the exporters in turn and
// packed into datagrams of up to 1400 bytes, several datagrams a system
// call.
//
// -record FILE writes every flow sent (and every options data record) as
// JSON Lines in the module's JSON schema (netflow.Flow.AppendJSONWithFields;
// options records as flowdump prints them), "exporter" being the address
// and port it was sent from, in the order the datagrams left: what
// `flowdump -json` prints when it decodes the same datagrams.
//
// -replay CAPTURE re-sends the export datagrams of a pcap or pcapng
// capture (or of a file of messages stored back to back) to ADDR, one
// source port per exporter of the capture, at R datagrams per second (0:
// as fast as it can). -shift D moves every time in them by D (a duration,
// whole seconds; "now" moves the first datagram's export time to now): the
// export time in every header, and the absolute time elements of v9 and
// IPFIX records (flowStart/EndSeconds, -Milliseconds, -Microseconds,
// -Nanoseconds, systemInitTimeMilliseconds), so that uptimes, which count
// from the header, move with it.
//
// At the end it prints what it sent on standard error. The exit status is
// 0 on success, 1 when sending failed and 2 for bad usage.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/flowfmt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the command line's.
type options struct {
	to        string
	version   uint
	flows     uint64
	rate      float64
	exporters int
	sampling  uint
	ipv6      float64
	seed      uint64
	tcp       bool
	record    string
	replay    string
	shift     string
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.to, "to", "", "send to this `address` (host:port)")
	fs.UintVar(&o.version, "version", 10, "export version: 5, 9 or 10 (IPFIX)")
	fs.Uint64Var(&o.flows, "flows", 1000, "number of flows to send")
	fs.Float64Var(&o.rate, "rate", 0, "flows per second (with -replay: datagrams per second); 0: as fast as possible")
	fs.IntVar(&o.exporters, "exporters", 1, "number of exporters, each with its own source port and domain")
	fs.UintVar(&o.sampling, "sampling", 0, "announce 1-in-`N` packet sampling (0: none)")
	fs.Float64Var(&o.ipv6, "ipv6", 0, "fraction of IPv6 flows, 0 to 1 (v9 and IPFIX)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same flows")
	fs.BoolVar(&o.tcp, "tcp", false, "IPFIX over TCP instead of UDP (-version 10)")
	fs.StringVar(&o.record, "record", "", "write the flows sent to this `file` as JSON Lines")
	fs.StringVar(&o.replay, "replay", "", "re-send the export datagrams of this `capture` (pcap, pcapng, or messages back to back)")
	fs.StringVar(&o.shift, "shift", "", "with -replay: move every time by this `duration` (whole seconds), or \"now\"")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: flowgen -to ADDR -version 5|9|10 -flows N [-rate R] [-exporters K] [-sampling S] [-ipv6 F] [-seed X] [-tcp] [-record FILE]\n"+
			"       flowgen -to ADDR -replay CAPTURE [-rate R] [-shift D|now]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.check(fs); err != nil {
		fmt.Fprintf(stderr, "flowgen: %v\n", err)
		return 2
	}
	if o.replay != "" {
		return runReplay(ctx, &o, stderr)
	}
	st, err := generate(ctx, &o)
	st.print(stderr, &o)
	if err != nil {
		fmt.Fprintf(stderr, "flowgen: %v\n", err)
		return 1
	}
	return 0
}

// check validates the options.
func (o *options) check(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.to == "":
		return errors.New("-to is required")
	case o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0):
		return fmt.Errorf("-rate %v: not a rate", o.rate)
	case o.replay != "":
		for _, name := range []string{"version", "flows", "exporters", "sampling", "ipv6", "seed", "tcp", "record"} {
			if set[name] {
				return fmt.Errorf("-%s does not go with -replay", name)
			}
		}
		return nil
	case o.shift != "":
		return errors.New("-shift goes with -replay")
	case o.version != 5 && o.version != 9 && o.version != 10:
		return fmt.Errorf("-version %d: 5, 9 or 10", o.version)
	case o.exporters < 1 || o.exporters > 65535:
		return fmt.Errorf("-exporters %d: 1 to 65535", o.exporters)
	case o.version == 5 && o.exporters > 255:
		return fmt.Errorf("-exporters %d: v5 engine IDs go to 255", o.exporters)
	case o.ipv6 < 0 || o.ipv6 > 1 || math.IsNaN(o.ipv6):
		return fmt.Errorf("-ipv6 %v: a fraction from 0 to 1", o.ipv6)
	case o.ipv6 > 0 && o.version == 5:
		return errors.New("-ipv6: v5 carries IPv4 only")
	case o.version == 5 && o.sampling > 0x3fff:
		return fmt.Errorf("-sampling %d: the v5 header holds 14 bits (at most 16383)", o.sampling)
	case o.sampling > math.MaxUint32:
		return fmt.Errorf("-sampling %d: 32 bits", o.sampling)
	case o.tcp && o.version != 10:
		return errors.New("-tcp: IPFIX (-version 10) only")
	}
	return nil
}

// stats is what a run sent.
type stats struct {
	flows, datagrams, bytes uint64
	refused                 uint64 // datagrams the destination refused (ICMP port unreachable)
	elapsed                 time.Duration
}

func (s stats) print(w io.Writer, o *options) {
	rate := float64(s.flows) / s.elapsed.Seconds()
	what := fmt.Sprintf("%d datagrams", s.datagrams)
	if o.tcp {
		what = fmt.Sprintf("%d messages over TCP", s.datagrams)
	}
	fmt.Fprintf(w, "flowgen: sent %d flows (v%d) in %s, %d bytes, from %d exporters in %v: %.0f flows/s\n",
		s.flows, o.version, what, s.bytes, o.exporters, s.elapsed.Round(time.Millisecond), rate)
	if s.refused > 0 {
		fmt.Fprintf(w, "flowgen: %d datagrams refused by %s (nothing listening?)\n", s.refused, o.to)
	}
}

// exporter is one of the run's exporters: a socket, a Writer, and the JSON
// lines of the message being filled.
type exporter struct {
	local   netip.AddrPort
	domain  uint32
	w       *export.Writer
	out     sender
	lines   []byte // -record: the lines of the message being filled
	rec     netflow.Record
	version uint16
}

// sender takes the exporter's messages and sends them.
type sender interface {
	io.Writer
	// flush sends what is queued.
	flush() error
	close() error
	counts() (datagrams, bytes, refused uint64)
}

// generate sends the flows of o.
func generate(ctx context.Context, o *options) (stats, error) {
	var st stats
	var rec *bufio.Writer
	if o.record != "" {
		f, err := os.Create(o.record)
		if err != nil {
			return st, err
		}
		defer f.Close()
		rec = bufio.NewWriterSize(f, 1<<20)
		defer rec.Flush()
	}
	exps, err := openExporters(o, rec)
	if err != nil {
		return st, err
	}
	defer func() {
		for _, e := range exps {
			e.out.close()
		}
	}()
	g := newGenerator(o.seed, o.ipv6, uint32(o.sampling))
	var f netflow.Flow
	start := time.Now()
	now := start
	// Flows between readings of the clock: 256, or at a rate about a
	// millisecond's worth.
	tick := uint64(256)
	if o.rate > 0 {
		tick = uint64(min(256, max(1, o.rate/1000)))
	}
	for i := uint64(0); i < o.flows; i++ {
		if i%tick == 0 {
			if err := ctx.Err(); err != nil {
				break
			}
			now = time.Now()
			if o.rate > 0 {
				if err := pace(exps, start, now, i, o.rate); err != nil {
					return st, err
				}
				now = time.Now()
			}
		}
		e := exps[i%uint64(len(exps))]
		g.flow(&f, i, now)
		f.Domain = e.domain
		f.Known |= netflow.FieldDomain
		p, err := e.w.WriteFlow(&f)
		if err != nil {
			return st, err
		}
		st.flows++
		if rec != nil {
			e.record(&f, &p)
		}
	}
	for _, e := range exps {
		if err := e.w.Flush(); err != nil {
			return st, err
		}
		if err := e.out.flush(); err != nil {
			return st, err
		}
	}
	st.elapsed = time.Since(start)
	for _, e := range exps {
		d, b, r := e.out.counts()
		st.datagrams += d
		st.bytes += b
		st.refused += r
	}
	if rec != nil {
		if err := rec.Flush(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// pace waits until flow i is due at rate flows per second. What is queued
// goes out first, and, if the wait is long, the messages being filled, so
// that a slow run sends its flows when they are made.
func pace(exps []*exporter, start, now time.Time, i uint64, rate float64) error {
	due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	wait := due.Sub(now)
	if wait <= 0 {
		return nil
	}
	for _, e := range exps {
		if wait > 20*time.Millisecond {
			if err := e.w.Flush(); err != nil {
				return err
			}
		}
		if err := e.out.flush(); err != nil {
			return err
		}
	}
	time.Sleep(time.Until(due))
	return nil
}

// openExporters opens o.exporters sockets to o.to, each with its writer.
func openExporters(o *options, rec *bufio.Writer) ([]*exporter, error) {
	var exps []*exporter
	for k := range o.exporters {
		e := &exporter{domain: uint32(k + 1), version: uint16(o.version)}
		var err error
		if o.tcp {
			e.out, e.local, err = dialTCP(o.to, e, rec)
		} else {
			e.out, e.local, err = dialUDP(o.to, e, rec)
		}
		if err != nil {
			for _, x := range exps {
				x.out.close()
			}
			return nil, err
		}
		cfg := export.Config{Version: uint16(o.version), Domain: e.domain, Stream: o.tcp}
		if o.tcp {
			cfg.MTU = export.DefaultMTU // messages as over UDP: a collector reads them as they come
		}
		if e.w, err = export.NewWriter(e.out, cfg); err != nil {
			e.out.close()
			return nil, err
		}
		exps = append(exps, e)
	}
	return exps, nil
}

// record adds the JSON lines of flow f, placed at p, to the lines of the
// exporter's message being filled: the options records the writer put
// before it, then the flow, as a decoder gives them back.
func (e *exporter) record(f *netflow.Flow, p *export.Placement) {
	for i := range p.Options {
		e.lines = flowfmt.AppendOptionsJSON(e.lines, e.local, e.version, p.Domain, &p.Options[i])
		e.lines = append(e.lines, '\n')
	}
	g := *f
	g.Exporter, g.Version, g.Domain, g.Sequence = e.local, e.version, p.Domain, p.Sequence
	g.Known |= netflow.FieldDomain | netflow.FieldSequence
	var r *netflow.Record
	if p.Template != nil {
		e.rec = netflow.Record{Template: p.Template, Data: p.Record}
		r = &e.rec
	}
	e.lines = g.AppendJSONWithFields(e.lines, r)
	e.lines = append(e.lines, '\n')
}

// takeLines returns the lines of the message just written and starts
// those of the next.
func (e *exporter) takeLines(dst []byte) []byte {
	dst = append(dst, e.lines...)
	e.lines = e.lines[:0]
	return dst
}

// localAddr returns a socket's local address, IPv4 unmapped.
func localAddr(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
