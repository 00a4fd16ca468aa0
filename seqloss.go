package netflow

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Loss from sequence numbers (issue 14): per exporter domain the decoder
// follows the header's sequence number and counts what never arrived, what
// arrived late, and exporter restarts.
//
// What a sequence number counts depends on the version: v5, v6 and v7 count
// flows (flow_sequence is the number of flows exported before the
// datagram), v9 counts export datagrams, IPFIX counts data records (the
// records sent before the message, options data records included, RFC 7011
// section 3.1). v1 has no sequence number. sFlow counts datagrams, per
// sub-agent (its domain), as v9 does.
//
// IPFIX exporters differ from RFC 7011: softflowd counts flow records only
// and sends the count including the message's own records. So an IPFIX
// domain starts with four readings (records before or including the
// message, options records counted or not) and keeps those that every
// message in order agrees with; loss is counted by the first left.

// SequenceStats is what sequence numbers told about one exporter domain.
// Lost is in the unit of the version's sequence number: flows (v5, v6,
// v7), datagrams (v9), data records (IPFIX).
type SequenceStats struct {
	Exporter netip.AddrPort
	Version  uint16
	// Protocol is ExportSFlow for an sFlow agent's sub-agent (Version 5,
	// Domain the sub-agent ID, sequence numbers counting datagrams).
	Protocol ExportProtocol
	Domain   uint32 // v5/v6: engine type<<8 | engine ID; v9 source ID; IPFIX observation domain; sFlow sub-agent
	// Messages counts the datagrams (messages) seen.
	Messages uint64
	// Lost is what the sequence numbers say was sent and never arrived
	// (yet): a message that arrives late, into a gap, takes its share
	// back.
	Lost uint64
	// Late counts messages that arrived after a later one, into a gap.
	Late uint64
	// Duplicates counts messages behind the sequence that filled no gap
	// (sent twice, or late beyond what the gap list remembers).
	Duplicates uint64
	// Restarts counts exporter restarts: the uptime going back by more
	// than a minute (v5, v6, v7, v9), the sequence going back to its start
	// (at most the message's own count) or far, or jumping far ahead.
	// Nothing is counted lost across a restart.
	Restarts uint64
	// Unchecked counts IPFIX messages after which the next sequence number
	// was not known, because a data set waited for its template (its
	// record count is unknown): the following message is not checked.
	Unchecked uint64
}

// seqGaps is how many gaps (runs of lost sequence numbers) a domain
// remembers for late arrivals to fill; the oldest is forgotten first.
const seqGaps = 8

// uptimeSlack is how far (ms) the header uptime may go back before the
// exporter counts as restarted: late datagrams carry an older uptime.
const uptimeSlack = 60_000

type seqKey struct {
	exporter netip.AddrPort
	version  uint16
	protocol ExportProtocol
	domain   uint32
}

type seqGap struct{ start, n uint32 }

// seqModes are the readings of a sequence number: bit 0 RFC 7011 (records
// before the message, options records counted), 1 before without options
// records, 2 including the message with options records, 3 including
// without.
const (
	seqModeRFC  = 1
	seqModesAll = 0xf
)

type seqEntry struct {
	// admitNode is the domain's place in the table's eviction order: a
	// second message confirms it (admit.go).
	admitNode[seqKey]
	stats SequenceStats
	// next is, per reading, the normalised sequence number (records before
	// the message) the next message should have.
	next      [4]uint32
	modes     uint8 // the readings still possible
	nextKnown bool
	uptime    uint32
	hasUptime bool
	gaps      [seqGaps]seqGap
	ngaps     int
	lastSeen  int64 // ns since 1970
}

// seqTable tracks the domains of a decoder. It is bounded by
// Limits.MaxSequenceDomains; at the limit, domains idle for
// Limits.StateIdle make room (looked for at most once a second), or else
// the domain longest on probation (one message seen) is evicted.
type seqTable struct {
	mu        sync.Mutex
	m         map[seqKey]*seqEntry
	order     admitOrder[seqKey] // of domains (admit.go)
	max       int
	idle      time.Duration
	now       func() time.Time
	reclaimed uint64
	refused   uint64
	evicted   uint64
	nextScan  int64 // earliest next idle scan at the limit (ns since 1970)
	// coarse is the time entries are stamped with, read from now every
	// coarseEvery messages (and by sweep and new domains) instead of per
	// datagram: a domain's idle time is known to within that.
	coarse int64
	ticks  uint32
	// last is the entry of the latest message's key (lastKey): an exporter
	// sends many messages in a row, which then skip the map's hashing.
	// Cleared whenever an entry leaves the map.
	last    *seqEntry
	lastKey seqKey
}

// coarseEvery is how many messages share one reading of the clock.
const coarseEvery = 64

func newSeqTable(l Limits, now func() time.Time) *seqTable {
	return &seqTable{m: make(map[seqKey]*seqEntry), order: newAdmitOrder[seqKey](l.MaxSequenceDomains), max: l.MaxSequenceDomains, idle: l.StateIdle, now: now}
}

// maxForward is how far (in sequence units) a sequence number may jump
// ahead and still count as loss rather than a restart.
func maxForward(st *SequenceStats) uint32 {
	if st.Version == 9 || st.Protocol == ExportSFlow {
		return 1 << 16 // datagrams
	}
	return 1 << 24 // flows or records
}

// observe records a message of key with sequence seq that holds count
// sequence units; known is false when count is not known (IPFIX data sets
// waiting for their template). hasUptime: uptime is the header's sysUptime.
func (t *seqTable) observe(key seqKey, seq uint32, c seqCounts, known bool, uptime uint32, hasUptime bool) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ticks++; t.ticks%coarseEvery == 0 || t.coarse == 0 {
		t.coarse = t.now().UnixNano()
	}
	now := t.coarse
	e := t.last
	if e == nil || t.lastKey != key {
		if e = t.m[key]; e != nil {
			t.last, t.lastKey = e, key
		}
	}
	if e == nil {
		now = t.now().UnixNano()
		t.coarse = now
		if len(t.m) >= t.max && !t.reclaimAtLimit(now) && !t.evict() {
			t.refused++
			return
		}
		e = &seqEntry{stats: SequenceStats{Exporter: key.exporter, Version: key.version, Protocol: key.protocol, Domain: key.domain}, modes: seqModeRFC}
		if key.version == 10 {
			e.modes = seqModesAll
		}
		t.m[key] = e
		t.order.admit(&e.admitNode, key, 0)
		t.last, t.lastKey = e, key
		e.resync(seq, c, known, uptime, hasUptime)
		e.stats.Messages, e.lastSeen = 1, now
		return
	}
	if e.flags.Load() != admitSteady {
		t.order.confirm(&e.admitNode) // a second message
	}
	e.lastSeen = now
	e.stats.Messages++
	e.advance(seq, c, known, uptime, hasUptime)
}

// seqCounts is what a message holds in sequence units: all data records
// (options ones included) and flow records only. For v5-v9 both are the
// message's one count.
type seqCounts struct{ all, flows uint32 }

// start and length return a message's normalised sequence number (units
// before it) and its units, by reading m.
func (c seqCounts) length(m int) uint32 {
	if m&1 == 0 {
		return c.all
	}
	return c.flows
}

func (c seqCounts) start(seq uint32, m int) uint32 {
	if m >= 2 {
		return seq - c.length(m)
	}
	return seq
}

// mode is the first reading still possible.
func (e *seqEntry) mode() int {
	for m := range 4 {
		if e.modes&(1<<m) != 0 {
			return m
		}
	}
	return 0
}

func (e *seqEntry) setNext(seq uint32, c seqCounts, known bool) {
	for m := range 4 {
		e.next[m] = c.start(seq, m) + c.length(m)
	}
	e.nextKnown = known
	if !known {
		e.stats.Unchecked++
	}
}

func (e *seqEntry) resync(seq uint32, c seqCounts, known bool, uptime uint32, hasUptime bool) {
	e.setNext(seq, c, known)
	e.uptime, e.hasUptime = uptime, hasUptime
	e.ngaps = 0
}

func (e *seqEntry) restart(seq uint32, c seqCounts, known bool, uptime uint32, hasUptime bool) {
	e.stats.Restarts++
	e.resync(seq, c, known, uptime, hasUptime)
}

func (e *seqEntry) advance(seq uint32, c seqCounts, known bool, uptime uint32, hasUptime bool) {
	if hasUptime && e.hasUptime && int32(uptime-e.uptime) < -uptimeSlack {
		e.restart(seq, c, known, uptime, hasUptime)
		return
	}
	if !e.nextKnown {
		e.resync(seq, c, known, uptime, hasUptime)
		return
	}
	// The readings this message agrees with, if any is still possible.
	var agree uint8
	for m := range 4 {
		if e.modes&(1<<m) != 0 && c.start(seq, m) == e.next[m] {
			agree |= 1 << m
		}
	}
	if agree != 0 {
		e.modes = agree
	}
	m := e.mode()
	start, count := c.start(seq, m), c.length(m)
	diff := int32(start - e.next[m])
	switch {
	case diff == 0:
	case diff > 0 && uint32(diff) <= maxForward(&e.stats):
		e.stats.Lost += uint64(diff)
		e.addGap(e.next[m], uint32(diff))
	case diff > 0:
		e.restart(seq, c, known, uptime, hasUptime)
		return
	default: // behind the sequence
		if e.fillGap(start, count) {
			e.stats.Late++
			return
		}
		// Back at the start (a sequence number no larger than what the
		// message holds, under any reading), or far back: restarted.
		if seq <= c.all || uint32(-diff) > maxForward(&e.stats) {
			e.restart(seq, c, known, uptime, hasUptime)
			return
		}
		e.stats.Duplicates++
		return
	}
	e.setNext(seq, c, known)
	if hasUptime && int32(uptime-e.uptime) > 0 {
		e.uptime = uptime
	}
	e.hasUptime = e.hasUptime || hasUptime
}

// addGap remembers a run of lost sequence numbers, forgetting the oldest
// when full.
func (e *seqEntry) addGap(start, n uint32) {
	if e.ngaps == seqGaps {
		copy(e.gaps[:], e.gaps[1:])
		e.ngaps--
	}
	e.gaps[e.ngaps] = seqGap{start: start, n: n}
	e.ngaps++
}

// fillGap takes [seq, seq+count) out of the gap holding seq, giving back
// the loss counted for it. A message of unknown count fills the rest of
// its gap. It reports false if no gap holds seq.
func (e *seqEntry) fillGap(seq, count uint32) bool {
	for i := 0; i < e.ngaps; i++ {
		g := &e.gaps[i]
		off := seq - g.start
		if off >= g.n {
			continue
		}
		covered := g.n - off
		if count != 0 && count < covered {
			covered = count
		}
		e.stats.Lost -= uint64(covered)
		switch {
		case off == 0:
			g.start += covered
			g.n -= covered
		case off+covered == g.n:
			g.n = off
		default: // in the middle: keep the head, the tail as a new gap
			tail := seqGap{start: seq + covered, n: g.n - off - covered}
			g.n = off
			e.addGap(tail.start, tail.n)
		}
		e.dropEmptyGaps()
		return true
	}
	return false
}

func (e *seqEntry) dropEmptyGaps() {
	n := 0
	for _, g := range e.gaps[:e.ngaps] {
		if g.n > 0 {
			e.gaps[n] = g
			n++
		}
	}
	e.ngaps = n
}

// reclaimAtLimit is reclaim at most once a second: a flood at the limit
// must not make every new domain scan the table. t.mu is held.
func (t *seqTable) reclaimAtLimit(now int64) bool {
	if now < t.nextScan {
		return false
	}
	t.nextScan = now + int64(time.Second)
	return t.reclaim(now)
}

// evict drops the domain longest on probation and reports whether there
// was one. t.mu is held.
func (t *seqTable) evict() bool {
	v := t.order.victim(nil, nil)
	if v == nil {
		return false
	}
	t.order.remove(v)
	delete(t.m, v.key)
	t.last = nil
	t.evicted++
	return true
}

// reclaim drops the domains idle for t.idle; it reports whether there is
// room now. t.mu is held.
func (t *seqTable) reclaim(now int64) bool {
	for k, e := range t.m {
		if now-e.lastSeen >= int64(t.idle) {
			t.order.remove(&e.admitNode)
			delete(t.m, k)
			t.reclaimed++
			t.last = nil
		}
	}
	return len(t.m) < t.max
}

// sweep drops idle domains (Decoder.Sweep).
func (t *seqTable) sweep() {
	if t == nil {
		return
	}
	now := t.now().UnixNano()
	t.mu.Lock()
	t.coarse = now
	t.reclaim(now)
	t.mu.Unlock()
}

// forget drops the domains of an exporter (Decoder.Forget).
func (t *seqTable) forget(exporter netip.AddrPort) {
	if t == nil {
		return
	}
	t.mu.Lock()
	for k, e := range t.m {
		if k.exporter == exporter {
			t.order.remove(&e.admitNode)
			delete(t.m, k)
			t.last = nil
		}
	}
	t.mu.Unlock()
}

// stats adds the table's counters to s, domains sorted by exporter,
// version and domain.
func (t *seqTable) stats(s *Stats) {
	if t == nil {
		return
	}
	t.mu.Lock()
	s.SequenceDomainsReclaimed, s.SequenceDomainsRefused = t.reclaimed, t.refused
	s.SequenceDomainsEvicted = t.evicted
	_, s.SequenceDomainsConfirmed = t.order.len()
	s.Sequences = make([]SequenceStats, 0, len(t.m))
	for _, e := range t.m {
		s.Sequences = append(s.Sequences, e.stats)
	}
	t.mu.Unlock()
	slices.SortFunc(s.Sequences, func(a, b SequenceStats) int {
		if c := a.Exporter.Compare(b.Exporter); c != 0 {
			return c
		}
		if a.Version != b.Version {
			return int(a.Version) - int(b.Version)
		}
		if a.Protocol != b.Protocol {
			return int(a.Protocol) - int(b.Protocol)
		}
		return int(int64(a.Domain) - int64(b.Domain))
	})
}

// observeFixed records a fixed-format datagram (v5, v6, v7; v1 has no
// sequence number).
func (d *Decoder) observeFixed(exporter netip.AddrPort, h fixedHeader, l *fixedLayout) {
	if !l.hasSequence || d.sequences == nil {
		return
	}
	n := uint32(h.count)
	d.sequences.observe(seqKey{exporter: d.exporterKey(exporter), version: l.version, domain: uint32(h.engine)},
		h.sequence, seqCounts{n, n}, true, h.sysUptime, true)
}

// fixedDecoded is what DecodeInto does after a fixed-format datagram
// decoded: it gives the packet the exporter's sampling policy and records
// its sequence number.
func (d *Decoder) fixedDecoded(p Packet, exporter netip.AddrPort) {
	rule := d.sampling.rule(exporter)
	switch p := p.(type) {
	case *V1Packet:
		p.sampling = rule
	case *V5Packet:
		p.sampling = rule
		d.observeFixed(exporter, p.Header.fixed(), &v5Layout)
	case *V6Packet:
		p.sampling = rule
		d.observeFixed(exporter, p.Header.fixed(), &v6Layout)
	case *V7Packet:
		p.sampling = rule
		d.observeFixed(exporter, fixedHeader{count: p.Header.Count, sysUptime: p.Header.SysUptime, sequence: p.Header.FlowSequence}, &v7Layout)
	}
}

// observeSets records a v9 or IPFIX message once its sets are walked: v9
// counts the datagram, IPFIX its own data records (w.seqRecords), unless a
// set of it still waits for its template.
func (w *setWalker) observeSets() {
	t := w.d.sequences
	if t == nil {
		return
	}
	key := seqKey{exporter: w.key.Exporter, version: w.key.Version, domain: w.key.Domain}
	if w.dialect.headerUptime { // v9
		t.observe(key, w.ctx.sequence, seqCounts{1, 1}, true, w.ctx.sysUptime, true)
		return
	}
	t.observe(key, w.ctx.sequence, w.seqRecords, len(w.s.unresolved) == 0, 0, false)
}

// countRecords adds the records of one of the message's own data sets to
// w.seqRecords (IPFIX only).
func (w *setWalker) countRecords(t *Template, body []byte) {
	if w.d.sequences == nil || w.dialect.headerUptime || t.minLen == 0 {
		return
	}
	n := uint32(0)
	if t.fixedLen > 0 {
		n = uint32(len(body) / t.fixedLen)
	} else {
		for off := 0; len(body)-off >= t.minLen; {
			l, fits := recordLen(t, body[off:])
			if !fits {
				break
			}
			n++
			off += l
		}
	}
	w.seqRecords.all += n
	if !t.Options {
		w.seqRecords.flows += n
	}
}

// observeSFlow records an sFlow datagram: one datagram of the sub-agent's
// sequence, with the agent's uptime for restarts.
func (d *Decoder) observeSFlow(exporter netip.AddrPort, h *SFlowHeader) {
	if d.sequences == nil {
		return
	}
	d.sequences.observe(seqKey{exporter: d.exporterKey(exporter), version: sflowVersion, protocol: ExportSFlow, domain: h.SubAgentID},
		h.SequenceNumber, seqCounts{1, 1}, true, h.Uptime, true)
}
