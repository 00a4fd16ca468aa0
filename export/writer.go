package export

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flowkit/netflow"
)

// Config configures a Writer. Only Version is required.
type Config struct {
	// Version is the export version to write: 1, 5, 7, 9 or 10 (IPFIX).
	Version uint16
	// MTU is the largest message in bytes, headers included (default 1400,
	// or 65535 with Stream; at most 65535). The writer packs as many records into a message as
	// fit, up to 24 (v1), 30 (v5) or 27 (v7) records.
	MTU int
	// Stream says that messages go to a byte stream, IPFIX over TCP (RFC
	// 7011 section 10.4) or an IPFIX file (RFC 5655), not into UDP
	// datagrams: templates and options data are sent once, before their
	// first use, and never refreshed. It is for IPFIX only.
	Stream bool
	// Domain is the engine (v5: type<<8 | ID), source ID (v9) or
	// observation domain (IPFIX) of flows that do not know theirs
	// (Flow.Known without FieldDomain). A flow that knows its domain is
	// written in a message of that domain; v1 and v7 have none.
	Domain uint32
	// Boot is the exporter's boot time, from which the uptimes of v1, v5,
	// v7 and v9 headers and of TimeUptime records count. Zero means seven
	// days before the first message: a flow may start up to that long
	// before the writer's start and still have a positive uptime, which
	// some collectors need.
	Boot time.Time
	// Now returns the export time of a new message. Nil means time.Now.
	Now func() time.Time

	// Fields, if not empty, is the data template of every flow (v9 and
	// IPFIX): NewFlowTemplate says what it may hold. Without it each flow
	// gets a template of its own layout: an element for every field
	// Flow.Known has (the sampling interval through a sampler ID and
	// options data), by the family of each of its addresses.
	Fields []netflow.TemplateField
	// FlowElements maps elements, typically enterprise-specific ones, into
	// Flow fields, as netflow.Config.FlowElements does for the decoder: a
	// mapped element is used for its field in the chosen templates (IPFIX;
	// in v9 only mappings without an enterprise number), and may appear in
	// Fields.
	FlowElements []netflow.FlowMapping
	// TimeFormat is how the chosen templates carry start and end times.
	TimeFormat TimeFormat
	// ExporterAddress adds exporterIPv4Address or exporterIPv6Address
	// (130, 131) with Flow.Exporter's address to the chosen templates, so
	// that a collector receiving re-exported flows sees who exported them
	// first.
	ExporterAddress bool
	// SamplingMode is the sampling algorithm announced with a sampling
	// interval: 1 deterministic (default) or 2 random, in the v5 header's
	// two mode bits and v9 FLOW_SAMPLER_MODE; IPFIX selectorAlgorithm 1
	// (systematic count-based) or 3 (random n-out-of-N).
	SamplingMode uint8
	// RefreshInterval and RefreshMessages say how often templates and
	// options data are sent again over UDP (RFC 7011 section 8.4, RFC 3954
	// section 5): after this long or this many messages of a domain,
	// whichever comes first (defaults 1 minute and 20 messages; negative:
	// never).
	RefreshInterval time.Duration
	RefreshMessages int
	// MaxTemplates bounds the templates the writer makes (default 256;
	// at most 65279). A flow or record that would need one more fails with
	// netflow.ErrLimit.
	MaxTemplates int
	// Saturate writes counters, interface indexes and AS numbers too wide
	// for a v1, v5 or v7 record as the largest value the field holds (AS
	// numbers as AS_TRANS, 23456) instead of refusing the flow with
	// ErrRange.
	Saturate bool
}

// Default settings.
const (
	DefaultMTU             = 1400
	DefaultRefreshInterval = time.Minute
	DefaultRefreshMessages = 20
	DefaultMaxTemplates    = 256
	defaultBootBefore      = 7 * 24 * time.Hour
)

// Stats counts what a Writer wrote.
type Stats struct {
	Messages uint64 // messages written to the output
	Bytes    uint64 // their bytes
	Flows    uint64 // flows written
	Records  uint64 // v9/IPFIX data records of WriteRecords, options data included
	// Templates counts template and options template records sent, and
	// Options the options data records the writer made itself (sampler
	// intervals, system init time).
	Templates uint64
	Options   uint64
	// Refused counts flows and records refused with an error, and
	// WriteErrors the messages the output failed to take.
	Refused     uint64
	WriteErrors uint64
}

// Writer writes flows as export messages of one exporter, keeping the state
// RFC 3954 and RFC 7011 make an exporter keep: the sequence numbers of each
// domain (v5 and v7 count flows, v9 messages, IPFIX data records), the
// templates and options data each domain has announced and when to send
// them again, and the message being filled up to the MTU. Each message is
// passed to the output in one Write call: a connected UDP socket sends it
// as one datagram, a TCP connection or a file (Config.Stream) stores the
// messages back to back.
//
// A Writer is not safe for concurrent use. Once warm (its templates made)
// it allocates nothing.
type Writer struct {
	cfg   Config
	out   io.Writer
	now   func() time.Time
	fixed *fixedFormat // v1, v5, v7; nil for v9 and IPFIX
	boot  time.Time
	ipfix bool

	// m is the message being filled: the one of the domain of the flow
	// or record being written.
	m *message

	domains []*domain
	last    int // index of the last domain used

	slots    []*slot
	lastSlot int
	fields   *FlowTemplate // from Config.Fields
	// samplers[i] is the interval of sampler ID i+1.
	samplers    []uint32
	lastSampler int
	samplerOpts *slot // the sampler options template, made on first use
	sysInitOpts *slot // IPFIX system init options template

	// placed is where the last flow went (Placement).
	placed struct {
		template *netflow.Template
		record   int // its length, at the end of the message
		options  []netflow.Record
	}

	scratch []byte // a record being encoded
	optRec  []byte // an options data record being made
	stats   Stats
}

// message is a message being filled.
type message struct {
	buf      []byte // empty when no message is begun
	dom      *domain
	sampling uint16 // v5: the header's sampling field
	pin      pin    // v9, IPFIX: the header WriteRecords asked for
	records  int    // records (v9 header count; fixed count)
	data     int    // IPFIX: data records, options data included
	set      int    // offset of the open set's header, -1 for none
	setID    uint16
	clk      clock      // v9, IPFIX
	fclk     fixedClock // v1, v5, v7
	// The header's values.
	seq    uint32
	export time.Time
	uptime uint32
}

// domain is the state of one domain of the exporter, and the message of
// its being filled: flows of several domains may come interleaved, and
// each domain's messages fill up on their own.
type domain struct {
	msg       message
	id        uint32
	seq       uint32    // the next message's sequence number
	messages  int       // messages since templates were last refreshed
	refreshed time.Time // when they were
	// sent[i] says whether slot i's template was sent in this domain
	// since the last refresh; samplersSent likewise for sampler i+1.
	sent         []bool
	samplersSent []bool
	sysInitSent  bool
}

// NewWriter returns a Writer of the messages of cfg.Version to out. It
// fails with netflow.ErrUnsupportedVersion for a version it does not
// write, and with netflow.ErrMalformed or netflow.ErrLimit for a Config
// that cannot work (an MTU smaller than a header and one record, Fields
// that are not a valid template, Stream for another version than IPFIX).
func NewWriter(out io.Writer, cfg Config) (*Writer, error) {
	if out == nil {
		return nil, malformedErr("a Writer without an output")
	}
	w := &Writer{cfg: cfg, out: out, now: cfg.Now}
	if w.now == nil {
		w.now = time.Now
	}
	switch cfg.Version {
	case 1:
		w.fixed = &v1Format
	case 5:
		w.fixed = &v5Format
	case 7:
		w.fixed = &v7Format
	case 9:
	case 10:
		w.ipfix = true
	default:
		return nil, versionErr(cfg.Version, "writer")
	}
	if cfg.Stream && !w.ipfix {
		return nil, malformedErr("Config.Stream: IPFIX only, not version %d", cfg.Version)
	}
	switch {
	case w.cfg.MTU == 0 && cfg.Stream:
		w.cfg.MTU = maxMessageLen
	case w.cfg.MTU == 0:
		w.cfg.MTU = DefaultMTU
	}
	if w.cfg.MTU > maxMessageLen {
		return nil, limitErr("MTU %d: at most 65535", w.cfg.MTU)
	}
	if w.cfg.RefreshInterval == 0 {
		w.cfg.RefreshInterval = DefaultRefreshInterval
	}
	if w.cfg.RefreshMessages == 0 {
		w.cfg.RefreshMessages = DefaultRefreshMessages
	}
	if w.cfg.MaxTemplates <= 0 {
		w.cfg.MaxTemplates = DefaultMaxTemplates
	}
	w.cfg.MaxTemplates = min(w.cfg.MaxTemplates, 0xffff-minDataSetID+1)
	if w.cfg.SamplingMode == 0 {
		w.cfg.SamplingMode = 1
	}
	if w.cfg.SamplingMode > 2 {
		return nil, rangeErr("sampling mode %d: 1 or 2", w.cfg.SamplingMode)
	}
	if w.cfg.TimeFormat > TimeDeltaMicros {
		return nil, rangeErr("time format %d", w.cfg.TimeFormat)
	}
	if w.cfg.TimeFormat == TimeDefault {
		w.cfg.TimeFormat = TimeMillis
		if cfg.Version == 9 {
			w.cfg.TimeFormat = TimeUptime
		}
	}
	if w.fixed != nil {
		if w.cfg.MTU < w.fixed.headerLen+w.fixed.recordLen {
			return nil, limitErr("MTU %d: a v%d header and record need %d bytes", w.cfg.MTU, cfg.Version, w.fixed.headerLen+w.fixed.recordLen)
		}
		return w, nil
	}
	if len(cfg.Fields) > 0 {
		t, err := netflow.NewTemplate(cfg.Version, minDataSetID, false, 0, cfg.Fields)
		if err != nil {
			return nil, err
		}
		if w.fields, err = NewFlowTemplate(t, cfg.FlowElements); err != nil {
			return nil, err
		}
		if _, err := w.addSlot(&slot{ft: w.fields, t: t}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Stats returns what the writer has written so far.
func (w *Writer) Stats() Stats { return w.stats }

// Reset makes the writer start a new transport session on out (a new TCP
// connection, a new file): the message being filled is dropped, and
// sequence numbers start again at 0 with every template and options data
// sent anew. Templates, sampler IDs and counters are kept.
func (w *Writer) Reset(out io.Writer) {
	w.out = out
	for _, d := range w.domains {
		d.msg.buf = d.msg.buf[:0]
		d.seq, d.messages, d.refreshed = 0, 0, time.Time{}
		d.forget()
	}
}

// forget marks every template and options data of d as not sent.
func (d *domain) forget() {
	clear(d.sent)
	clear(d.samplersSent)
	d.sysInitSent = false
}

// Flush writes the messages being filled, if any, in the order their
// domains were first written. Call it when no more flows come for a
// while: a message is otherwise written when it is full.
func (w *Writer) Flush() error {
	for _, d := range w.domains {
		if len(d.msg.buf) > 0 {
			w.m = &d.msg
			if err := w.emit(); err != nil {
				return unwrapOutput(err)
			}
		}
	}
	return nil
}

// WriteFlows writes flows, in order, filling messages and writing each one
// that is full; the last stays for more flows until Flush. A flow that
// cannot be written (ErrRange: a value that does not fit; netflow.ErrLimit:
// a record larger than the MTU, more templates than Config.MaxTemplates) is
// left out and the others are written: the error names the first such flow
// by its index and counts the rest. An error of the output ends the call.
func (w *Writer) WriteFlows(flows []netflow.Flow) error {
	return w.writeEach(len(flows), "flow", &w.stats.Flows, func(i int) error {
		if w.fixed != nil {
			return w.fixedFlow(&flows[i])
		}
		return w.setFlow(&flows[i])
	})
}

// writeEach writes items 0 to n-1 with write, counting those written in
// *written. An item write refuses is left out and counted (the first one
// named, as what and its index, in the error returned at the end); an
// error of the output ends the loop and is returned.
func (w *Writer) writeEach(n int, what string, written *uint64, write func(i int) error) error {
	var first error
	refused := 0
	for i := range n {
		err := write(i)
		if err == nil {
			*written++
			continue
		}
		var oe *outputError
		if errors.As(err, &oe) {
			return oe.err
		}
		w.stats.Refused++
		if refused++; first == nil {
			first = fmt.Errorf("%s %d: %w", what, i, err)
		}
	}
	return refusedErr(first, refused)
}

// Placement says where WriteFlow put a flow: the header values of its
// message (written when the message is full, or at Flush) and its record.
// A decoder gives the flow these Domain and Sequence values.
type Placement struct {
	Domain     uint32    // engine (v5), source ID (v9) or observation domain (IPFIX)
	Sequence   uint32    // the message's sequence number
	ExportTime time.Time // the message's export time
	SysUptime  uint32    // the message's uptime (v1, v5, v7, v9)
	// Template is the template of the flow's record (nil for v1, v5 and
	// v7); Record is the record, and Options the options data records the
	// writer put in the message just before it (a sampler's interval, the
	// system init time), which the flow needs. They alias the writer's
	// buffer: valid until the next call of the Writer.
	Template *netflow.Template
	Record   []byte
	Options  []netflow.Record
}

// WriteFlow writes one flow as WriteFlows does and says where it went.
func (w *Writer) WriteFlow(f *netflow.Flow) (Placement, error) {
	var err error
	if w.fixed != nil {
		err = w.fixedFlow(f)
	} else {
		err = w.setFlow(f)
	}
	if err != nil {
		var oe *outputError
		if errors.As(err, &oe) {
			return Placement{}, oe.err
		}
		w.stats.Refused++
		return Placement{}, err
	}
	w.stats.Flows++
	m := w.m
	n := len(m.buf)
	return Placement{
		Domain: m.dom.id, Sequence: m.seq, ExportTime: m.export, SysUptime: m.uptime,
		Template: w.placed.template, Record: m.buf[n-w.placed.record : n : n], Options: w.placed.options,
	}, nil
}

// refusedErr adds the count of further refusals to the first one's error.
func refusedErr(first error, refused int) error {
	if refused > 1 {
		return fmt.Errorf("%w (and %d more refused)", first, refused-1)
	}
	return first
}

// outputError is an error of the output, which ends a write call.
type outputError struct{ err error }

func (e *outputError) Error() string { return e.err.Error() }

// Most domains a writer keeps.
const maxDomains = 4096

// domainOf returns the state of domain id, made on first use, and makes
// its message the current one. It fails with netflow.ErrLimit beyond
// maxDomains domains.
func (w *Writer) domainOf(id uint32) (*domain, error) {
	if w.last < len(w.domains) && w.domains[w.last].id == id {
		d := w.domains[w.last]
		w.m = &d.msg
		return d, nil
	}
	for i, d := range w.domains {
		if d.id == id {
			w.last = i
			w.m = &d.msg
			return d, nil
		}
	}
	if len(w.domains) >= maxDomains {
		return nil, limitErr("more than %d domains", maxDomains)
	}
	d := &domain{id: id}
	d.msg.dom, d.msg.set = d, -1
	w.domains = append(w.domains, d)
	w.last = len(w.domains) - 1
	w.m = &d.msg
	return d, nil
}

// flowDomain returns the domain a flow is written in.
func (w *Writer) flowDomain(f *netflow.Flow) uint32 {
	if f.Known&netflow.FieldDomain != 0 {
		return f.Domain
	}
	return w.cfg.Domain
}

// exportTime returns the export time of a new message: now, cut to what
// the version's header holds (milliseconds for v1-v7, seconds for v9 and
// IPFIX), and sets the boot time on the first call.
func (w *Writer) exportTime() time.Time {
	now := w.now()
	if w.boot.IsZero() {
		w.boot = w.cfg.Boot
		if w.boot.IsZero() {
			w.boot = now.Add(-defaultBootBefore)
		}
		w.boot = w.boot.Truncate(time.Millisecond)
	}
	if w.fixed != nil {
		return now.Truncate(time.Millisecond)
	}
	return now.Truncate(time.Second)
}

// emit finishes the message and writes it.
func (w *Writer) emit() error {
	d := w.m.dom
	if w.m.records == 0 {
		// Only a header: a record that began it was refused.
		w.m.buf = w.m.buf[:0]
		return nil
	}
	if err := w.closeSet(); err != nil {
		return err
	}
	switch {
	case w.fixed != nil:
		be.PutUint16(w.m.buf[2:], uint16(w.m.records))
	case w.ipfix:
		be.PutUint16(w.m.buf[2:], uint16(len(w.m.buf)))
	default:
		be.PutUint16(w.m.buf[2:], uint16(w.m.records))
	}
	switch {
	case w.fixed != nil:
		d.seq += uint32(w.m.records)
	case w.ipfix:
		d.seq += uint32(w.m.data)
	default:
		d.seq++
	}
	d.messages++
	n := len(w.m.buf)
	_, err := w.out.Write(w.m.buf)
	w.m.buf = w.m.buf[:0]
	if err != nil {
		// What the message announced may not have arrived.
		d.forget()
		w.stats.WriteErrors++
		return &outputError{err: err}
	}
	w.stats.Messages++
	w.stats.Bytes += uint64(n)
	return nil
}

// unwrapOutput returns the output's own error of an *outputError.
func unwrapOutput(err error) error {
	var oe *outputError
	if errors.As(err, &oe) {
		return oe.err
	}
	return err
}
