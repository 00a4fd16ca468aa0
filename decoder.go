package netflow

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Decoder. The zero value is valid: a new bounded
// in-memory template store, pending data on, and the default limits.
type Config struct {
	// Store holds v9 and IPFIX templates, and, if it implements StateStore,
	// the exporters' options state. Nil means
	// NewMemoryStore(MemoryStoreConfig{}).
	Store TemplateStore
	// Registry names and types information elements, with any enterprise
	// elements of the caller's. Nil means the built-in registry.
	Registry *Registry
	// IgnoreExporterPort keys templates, pending data and exporter state by
	// the exporter's address alone, for exporters that change source port.
	IgnoreExporterPort bool
	// DisablePending turns off the pending buffer: a data set whose
	// template is unknown is then dropped with ErrTemplateNotFound.
	DisablePending bool
	// Pending bounds the pending buffer.
	Pending PendingLimits
	// Limits bounds what one datagram may make the decoder hold.
	Limits Limits
	// Now returns the current time, for expiring pending data and idle
	// state, and as the Start and End of sFlow flows (sFlow carries no
	// wall clock: a flow sample is dated when its datagram is decoded).
	// Nil means time.Now.
	Now func() time.Time
	// FlowElements maps further elements, typically enterprise ones, into
	// Flow fields: see FlowMapping. ParseElementDefinitions reads them,
	// with a Registry naming the elements, from a JSON file.
	FlowElements []FlowMapping
	// Sampling is the sampling policy per exporter prefix: see
	// SamplingPolicy (a default interval, an override, scaling of Packets
	// and Bytes; the most specific prefix wins).
	Sampling []SamplingPolicy
	// DisableSequenceTracking turns off the loss, lateness and restart
	// counting from sequence numbers that Stats.Sequences reports (see
	// SequenceStats).
	DisableSequenceTracking bool
	// AcceptMisfitsAfter matters with a store shared by several instances
	// (one that implements TemplateChecker, such as redisstore), whose
	// data sets are never decoded with a template from the store they do
	// not fit (Template.Fits) but held for a definition they fit. If it is
	// positive, such a set is decoded with the store's template all the
	// same once it has waited this long and the store vouches
	// (CheckTemplate) that the template has been its definition since at
	// least this long before the set came; later sets of that template
	// that do not fit it alike then decode at once. It is for exporters
	// that pad data sets beyond what RFC 3954 and RFC 7011 permit (nProbe
	// with DPI has been seen adding 17 bytes), at the price of decoding a
	// set of a redefinition that no instance could write to the store
	// (one cut off from it) with the old template. 0, the default, never
	// does: such sets expire (PendingLimits.MaxAge).
	AcceptMisfitsAfter time.Duration

	// Decapsulate makes the sampled packet headers of sFlow and of IPFIX
	// (dataLinkFrameSection and the IP packet sections) give the fields of
	// a tunnel's inner packet (VXLAN, Geneve, GRE, IP in IP, MPLS over
	// UDP) instead of the outer one's (packetheader.go says which fields).
	Decapsulate bool
}

// Limits bounds the resources a sender can make the decoder use. A zero
// field takes its default.
type Limits struct {
	// MaxTemplateFields is the most fields a template may have (default
	// 512). A template with more is refused with ErrLimit and counted in
	// Stats.TemplatesRefused; the other templates of its set are still
	// learned.
	MaxTemplateFields int
	// MaxOptionsEntries is the most options-data entries (sampler,
	// interface, VRF and application names) kept per exporter domain
	// (default 4096). Entries beyond it are refused and counted in
	// ExporterState.Refused.
	MaxOptionsEntries int
	// MaxNameBytes is the longest interface, VRF or application name kept
	// (default 256 bytes); longer names are cut, copied (the value they
	// were cut from is not kept), and counted in ExporterState.Truncated.
	MaxNameBytes int
	// MaxStateBytes bounds the bytes of names kept per exporter domain
	// (default 1 MiB). A name beyond it is refused and counted. In memory
	// a domain's options state takes at most MaxStateBytes plus 160 bytes
	// per entry (MaxOptionsEntries), the copy a MemoryStore keeps
	// included (TestOptionsNamesHeapBound): 1.6 MiB at the defaults, for
	// each of up to MaxStateDomains domains.
	MaxStateBytes int
	// MaxStateDomains is the most exporter domains whose options state is
	// kept (default 16384). At the limit, domains idle for StateIdle make
	// room (Stats.StateDomainsReclaimed, looked for at most once a
	// second); else the domain longest on probation, used by one datagram
	// only, is dropped for the new one (Stats.StateDomainsEvicted). A
	// domain used by a second datagram is confirmed and never dropped for
	// a newcomer (Stats.StateDomainsConfirmed; at most MaxStateDomains -
	// MaxStateDomains/8 are, the least recently used going back to
	// probation beyond that), so that a flood of spoofed sources can
	// neither push out known exporters' sampling intervals nor keep a new
	// exporter's out (docs/limits-eviction.md). Options data is refused
	// (Stats.StateDomainsRefused) only when there is nothing to evict.
	MaxStateDomains int
	// StateIdle is how long a domain's options state is kept without a
	// datagram of that domain once MaxStateDomains is reached, and by
	// Decoder.Sweep (default 1 hour).
	StateIdle time.Duration
	// MaxListDepth is the deepest nesting of RFC 6313 lists decoded
	// (default 4, at most 255).
	MaxListDepth int
	// MaxSequenceDomains is the most exporter domains whose sequence
	// numbers are tracked (default 16384); at the limit, domains idle for
	// StateIdle make room (Stats.SequenceDomainsReclaimed, looked for at
	// most once a second), else the domain longest on probation (one
	// message seen) is dropped for the new one
	// (Stats.SequenceDomainsEvicted), as for MaxStateDomains; new ones are
	// not tracked (Stats.SequenceDomainsRefused) only when there is
	// nothing to evict.
	MaxSequenceDomains int
}

func (l *Limits) setDefaults() {
	if l.MaxTemplateFields <= 0 {
		l.MaxTemplateFields = 512
	}
	if l.MaxOptionsEntries <= 0 {
		l.MaxOptionsEntries = 4096
	}
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = 256
	}
	if l.MaxStateBytes <= 0 {
		l.MaxStateBytes = 1 << 20
	}
	if l.MaxStateDomains <= 0 {
		l.MaxStateDomains = 16384
	}
	if l.StateIdle <= 0 {
		l.StateIdle = time.Hour
	}
	if l.MaxSequenceDomains <= 0 {
		l.MaxSequenceDomains = 16384
	}
	if l.MaxListDepth <= 0 {
		l.MaxListDepth = 4
	}
	if l.MaxListDepth > 255 {
		l.MaxListDepth = 255 // a Record counts its depth in a uint8
	}
}

// Decoder decodes export datagrams. It is safe for concurrent use by several
// goroutines, provided each uses its own Buffer. It holds, besides the
// template store, the pending buffer and the exporters' options state.
type Decoder struct {
	store      TemplateStore
	cacheable  *MemoryStore    // store, if Buffers may keep its templates (templatecache.go)
	checker    TemplateChecker // store, if shared: sets must fit its templates (fit.go)
	registry   *Registry
	ignorePort bool
	limits     Limits
	pending    *pendingBuffer
	state      *stateTable
	sampling   samplingTable
	sequences  *seqTable  // nil with DisableSequenceTracking
	plans      *planCache // nil without FlowElements
	now        func() time.Time
	decap      bool // Config.Decapsulate

	refusedTemplates atomic.Uint64
	learnGen         atomic.Uint64 // templates learned, for the pending race (setWalker.finish)

	closeOnce   sync.Once
	unsubscribe func()
}

// Stats is what a Decoder counts: its own refusals, its pending buffer and
// options state, and its store's counters where the store reports them.
type Stats struct {
	// TemplatesRefused counts templates with more fields than
	// Limits.MaxTemplateFields.
	TemplatesRefused uint64
	// StateDomainsRefused counts options data sets not kept because
	// Limits.MaxStateDomains exporter domains already have state, and
	// StateDomainsReclaimed the idle domains dropped to make room or by
	// Sweep.
	StateDomainsRefused   uint64
	StateDomainsReclaimed uint64
	// StateDomainsEvicted counts domains on probation (used by one
	// datagram only) dropped to admit a new domain at
	// Limits.MaxStateDomains.
	StateDomainsEvicted uint64
	// StateDomains is the number of exporter domains with options state,
	// and StateDomainsConfirmed how many of them are confirmed (used by a
	// second datagram; docs/limits-eviction.md).
	StateDomains          int
	StateDomainsConfirmed int
	// StateStoreFailures counts reads and writes of options state that
	// the store (a StateStore) failed.
	StateStoreFailures uint64
	// Pending counts the pending buffer (zero with DisablePending).
	Pending PendingStats
	// Store holds the store's counters if it implements StatsReporter
	// (MemoryStore does) or TemplateStatsReporter (redisstore.Store does);
	// StoreOK says whether it does. When StoreOK is false, Store is zero
	// because the store does not report, not because it holds nothing.
	Store   StoreStats
	StoreOK bool
	// Sequences holds, per exporter domain, what its sequence numbers told
	// (SequenceStats); SequenceDomainsRefused and SequenceDomainsReclaimed
	// count domains not tracked at Limits.MaxSequenceDomains and idle ones
	// dropped.
	Sequences                []SequenceStats
	SequenceDomainsRefused   uint64
	SequenceDomainsReclaimed uint64
	// SequenceDomainsEvicted counts domains on probation (one message
	// seen) dropped to track a new domain at Limits.MaxSequenceDomains,
	// and SequenceDomainsConfirmed how many of those tracked now are
	// confirmed (a second message seen).
	SequenceDomainsEvicted   uint64
	SequenceDomainsConfirmed int
}

// StatsReporter is implemented by stores that count what they do;
// Decoder.Stats includes their counters.
type StatsReporter interface {
	Stats() StoreStats
}

// TemplateStatsReporter is StatsReporter for a store whose Stats method
// reports counters of its own (redisstore.Store's: its connection, errors
// and notifications): TemplateStats returns the StoreStats it keeps, and
// Decoder.Stats includes them.
type TemplateStatsReporter interface {
	TemplateStats() StoreStats
}

// NewDecoder returns a Decoder configured by cfg. If the store implements
// Announcer, the decoder subscribes to it; Close unsubscribes.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{
		store:      cfg.Store,
		registry:   cfg.Registry,
		ignorePort: cfg.IgnoreExporterPort,
		limits:     cfg.Limits,
	}
	d.limits.setDefaults()
	if d.store == nil {
		d.store = NewMemoryStore(MemoryStoreConfig{})
	}
	d.cacheable = cacheableStore(d.store)
	d.checker, _ = d.store.(TemplateChecker)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	d.now, d.decap = now, cfg.Decapsulate
	if !cfg.DisablePending {
		d.pending = newPendingBuffer(cfg.Pending, now)
		d.pending.checker, d.pending.accept = d.checker, cfg.AcceptMisfitsAfter
	}
	ss, _ := d.store.(StateStore)
	_, announces := d.store.(Announcer)
	d.state = newStateTable(d.limits, ss, announces, now)
	if a, ok := d.store.(Announcer); ok {
		d.unsubscribe = a.Subscribe(d.announced)
	}
	d.sampling = newSamplingTable(cfg.Sampling)
	if !cfg.DisableSequenceTracking {
		d.sequences = newSeqTable(d.limits, now)
	}
	d.plans = newPlanCache(cfg.FlowElements)
	return d
}

// announced is the decoder's Announcer subscription.
func (d *Decoder) announced(key TemplateKey) {
	if key.ID == 0 {
		d.state.invalidate(key)
		return
	}
	if d.pending != nil {
		d.pending.announced(key)
	}
}

// Close ends the decoder's subscription to its store's announcements (see
// Announcer). A decoder whose store does not announce holds nothing to
// release; Close is still safe to call, and more than once.
func (d *Decoder) Close() {
	d.closeOnce.Do(func() {
		if d.unsubscribe != nil {
			d.unsubscribe()
		}
	})
}

// Releases returns a channel that receives a value when held data sets
// may be released without a datagram of their exporter: the store
// announced (Announcer) a template that sets are held for, or a release
// left sets for later. Signals merge: one value may stand for many. On a
// signal, and besides about once a second (for stores that do not
// announce, and for sets that wait on a template that did not fit them),
// call TakeReleased until it returns nil. Announcements come in bursts (a
// template datagram's templates, then the options state of its options
// data): waiting a moment after a signal (the receiver waits 200 ms) lets
// released flows carry the sampling interval and times that state gives.
// The channel is nil (never ready) with Config.DisablePending.
func (d *Decoder) Releases() <-chan struct{} {
	if d.pending == nil {
		return nil
	}
	return d.pending.signal
}

// TakeReleased decodes into buf (nil allocates) the held data and options
// data sets of one exporter domain that can be released now without a
// datagram of that exporter: those whose template the store announced, or
// that a look-up (at most once a second per exporter, and with a
// TemplateChecker afresh for sets that did not fit the template of the
// store's copy) finds a template for. It returns them as a *V9Packet or
// *IPFIXPacket (in buf, valid until its next use) whose data sets are all
// Late, with the exporter address and header of the datagram the first of
// them came in (header count or length 0), and the decode problems of any
// that did not decode; options data among them updates the exporter's
// options state as if it had just come. It returns nil, nil when nothing
// is due. One call releases at most about 65536 records: call it until it
// returns nil. It is safe for concurrent use, each caller with its own
// Buffer; sets the exporter's own next datagram would release are taken by
// whichever comes first, once. See Releases for when to call it; the
// receiver package does so and hands the packets to its handler
// (receiver.Datagram.Released).
func (d *Decoder) TakeReleased(buf *Buffer) (Packet, error) {
	return d.takeReleased(buf)
}

// Store returns the decoder's template store.
func (d *Decoder) Store() TemplateStore { return d.store }

// Stats returns the decoder's counters.
func (d *Decoder) Stats() Stats {
	s := Stats{
		TemplatesRefused: d.refusedTemplates.Load(),
	}
	d.state.stats(&s)
	d.sequences.stats(&s)
	if d.pending != nil {
		s.Pending = d.pending.snapshot()
	}
	switch r := d.store.(type) {
	case StatsReporter:
		s.Store, s.StoreOK = r.Stats(), true
	case TemplateStatsReporter:
		s.Store, s.StoreOK = r.TemplateStats(), true
	}
	return s
}

// Sweep drops what has outlived its bounds although nobody touched it since:
// pending sets older than PendingLimits.MaxAge (counted as expired) and the
// options state of domains idle for Limits.StateIdle. The decoder also
// expires an exporter's sets whenever that exporter's pending data is
// touched; Sweep is for exporters gone quiet. A receiver calls it
// periodically.
func (d *Decoder) Sweep() {
	if d.pending != nil {
		d.pending.sweep()
	}
	d.state.sweep()
	d.sequences.sweep()
}

// PendingSets lists the data sets waiting for their template, per exporter
// in arrival order. What left the buffer unmatched is counted in
// Stats().Pending: Expired (MaxAge passed) and Refused (a limit was reached;
// the decode that refused it also returned an error matching ErrLimit).
func (d *Decoder) PendingSets() []PendingSet {
	if d.pending == nil {
		return nil
	}
	return d.pending.list()
}

// ExporterState returns a copy of what options data told about an exporter
// domain (version 9 or 10, domain = source ID or observation domain ID):
// what this decoder learned or, through a StateStore, another instance.
func (d *Decoder) ExporterState(exporter netip.AddrPort, version uint16, domain uint32) (ExporterState, bool) {
	return d.state.exporterState(TemplateKey{Exporter: d.exporterKey(exporter), Version: version, Domain: domain})
}

// Forget drops everything the decoder and its store hold for one exporter:
// its templates (through ExporterForgetter, if the store implements it),
// its pending data sets and its options state. A receiver calls it when an
// IPFIX-over-TCP session ends: RFC 7011 section 8 scopes templates to the
// session.
func (d *Decoder) Forget(exporter netip.AddrPort) error {
	key := d.exporterKey(exporter)
	if d.pending != nil {
		d.pending.forget(key)
	}
	d.state.forget(key)
	d.sequences.forget(key)
	if f, ok := d.store.(ExporterForgetter); ok {
		if err := f.ForgetExporter(key); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// exporterKey is the exporter as templates, pending data and state are
// keyed.
func (d *Decoder) exporterKey(e netip.AddrPort) netip.AddrPort {
	if d.ignorePort {
		return netip.AddrPortFrom(e.Addr(), 0)
	}
	return e
}

// Decode decodes one datagram into a newly allocated packet.
func (d *Decoder) Decode(exporter netip.AddrPort, data []byte) (Packet, error) {
	return d.DecodeInto(nil, exporter, data)
}

// DecodeFlows decodes one datagram and appends its flows to dst: the fast
// path for collectors that want only Flow values. It gives the same flows as
// DecodeInto followed by AppendFlows, skipping the typed v1-v7 records. buf
// serves v9, IPFIX and sFlow decoding as in DecodeInto (nil allocates). On
// error, dst comes back unchanged for v1-v7; for v9 and IPFIX it holds the
// flows of the sets that decoded, for sFlow those of the samples that did.
func (d *Decoder) DecodeFlows(buf *Buffer, dst []Flow, exporter netip.AddrPort, data []byte) ([]Flow, error) {
	if len(data) < 2 {
		return dst, decodeErr(0, len(data), "version", ErrTruncated)
	}
	if l := fixedLayoutOf(binary.BigEndian.Uint16(data)); l != nil {
		h, err := parseFixed(data, l)
		if err != nil {
			return dst, err
		}
		d.observeFixed(exporter, h, l)
		return appendFixedFlows(dst, data, exporter, h, l, d.sampling.rule(exporter)), nil
	}
	p, err := d.decodeInto(buf, exporter, data, true)
	if p != nil {
		dst = p.AppendFlows(dst)
	}
	return dst, err
}

// DecodeInto decodes one datagram into buf, reusing its capacity, and returns
// the packet, which lives in buf until the next call with buf. A nil buf
// allocates a new packet, as Decode does.
//
// On error the returned packet is nil for the fixed-format versions and for
// a v9, IPFIX or sFlow header that is bad. Past the header, a bad or unknown
// v9 or IPFIX set, or a bad sFlow sample, does not spoil the rest of the
// datagram: the packet holds every set (sample) that decoded and the error
// joins the problems of the others.
func (d *Decoder) DecodeInto(buf *Buffer, exporter netip.AddrPort, data []byte) (Packet, error) {
	return d.decodeInto(buf, exporter, data, false)
}

// decodeInto is DecodeInto; flowsOnly lets v9 and IPFIX skip making the
// Records of fixed-length data sets, which AppendFlows does not need.
func (d *Decoder) decodeInto(buf *Buffer, exporter netip.AddrPort, data []byte, flowsOnly bool) (Packet, error) {
	if len(data) < 2 {
		return nil, decodeErr(0, len(data), "version", ErrTruncated)
	}
	if buf == nil {
		buf = new(Buffer)
	}
	version := binary.BigEndian.Uint16(data)
	var (
		p   Packet
		err error
	)
	switch version {
	case 1:
		v1 := packet(&buf.v1)
		p, err = v1, decodeV1(v1, exporter, data)
	case 5:
		v5 := packet(&buf.v5)
		p, err = v5, decodeV5(v5, exporter, data)
	case 6:
		v6 := packet(&buf.v6)
		p, err = v6, decodeV6(v6, exporter, data)
	case 7:
		v7 := packet(&buf.v7)
		p, err = v7, decodeV7(v7, exporter, data)
	case 9:
		// A packet comes back with a set-level error (it holds the sets
		// that decoded), not with a header error.
		if len(data) < v9HeaderLen {
			return nil, decodeErr(9, len(data), "header", ErrTruncated)
		}
		v9 := packet(&buf.v9)
		v9.flowsOnly = flowsOnly
		return v9, decodeV9(d, v9, exporter, data)
	case 10:
		if _, err := ipfixLength(data); err != nil {
			return nil, err
		}
		v10 := packet(&buf.v10)
		v10.flowsOnly = flowsOnly
		return v10, decodeIPFIX(d, v10, exporter, data)
	case 0:
		// sFlow begins with a 32-bit version: 0x00000005.
		if !isSFlow(data) {
			return nil, decodeErr(0, 0, "version", ErrUnsupportedVersion)
		}
		// Like v9 and IPFIX: a packet comes back with the errors of
		// samples, not with a header error.
		sf := packet(&buf.sflow)
		headerOK, err := decodeSFlow(d, sf, exporter, data)
		if !headerOK {
			return nil, err
		}
		return sf, err
	default:
		return nil, decodeErr(version, 0, "version", ErrUnsupportedVersion)
	}
	if err != nil {
		return nil, err
	}
	d.fixedDecoded(p, exporter)
	return p, nil
}
