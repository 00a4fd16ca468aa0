package export

import (
	"slices"
	"time"

	"github.com/flowkit/netflow"
)

// Flows and records as v9 and IPFIX messages: templates chosen and
// announced, options data for samplers and the system init time, sets
// packed up to the MTU.

// slot is one template the writer made.
type slot struct {
	index int
	t     *netflow.Template // the writer's template, with its ID
	rec   []byte            // its template record
	// ft encodes flows (data templates of flows); nil for the templates of
	// WriteRecords and the writer's options templates.
	ft    *FlowTemplate
	key   layoutKey // of a template chosen for a flow layout
	keyed bool
	// orig is the last template WriteRecords saw with this layout.
	orig *netflow.Template
	// fixedLen is the record length, 0 when the template has a
	// variable-length field; minLen the shortest record.
	fixedLen, minLen int
}

// Most samplers (distinct sampling intervals) a writer announces.
const maxSamplers = 4096

// nextID returns the ID of the next template the writer makes, or fails
// with netflow.ErrLimit at Config.MaxTemplates.
func (w *Writer) nextID() (uint16, error) {
	if len(w.slots) >= w.cfg.MaxTemplates {
		return 0, limitErr("more than %d templates (Config.MaxTemplates)", w.cfg.MaxTemplates)
	}
	return uint16(minDataSetID + len(w.slots)), nil
}

// addSlot adds s, whose template has the ID nextID gave.
func (w *Writer) addSlot(s *slot) (*slot, error) {
	var err error
	if s.rec, err = AppendTemplateRecord(nil, s.t); err != nil {
		return nil, err
	}
	if need := w.headerLen() + setHeaderLen + len(s.rec) + 3; need > w.cfg.MTU {
		return nil, limitErr("template %d needs a message of %d bytes, MTU %d", s.t.ID, need, w.cfg.MTU)
	}
	s.minLen = s.t.MinRecordLen()
	s.fixedLen = s.minLen
	for _, f := range s.t.Fields {
		if f.Length == netflow.VariableLength {
			s.fixedLen = 0
		}
	}
	s.index = len(w.slots)
	w.slots = append(w.slots, s)
	return s, nil
}

// headerLen returns the message header length of the writer's version.
func (w *Writer) headerLen() int {
	if w.ipfix {
		return ipfixHeaderLen
	}
	return v9HeaderLen
}

// flowSlot returns the template of f: Config.Fields', or the one of its
// layout, made on first use.
func (w *Writer) flowSlot(f *netflow.Flow) (*slot, error) {
	if w.fields != nil {
		return w.slots[0], nil
	}
	key := layoutOf(f, w.cfg.ExporterAddress)
	if w.lastSlot < len(w.slots) {
		if s := w.slots[w.lastSlot]; s.keyed && s.key == key {
			return s, nil
		}
	}
	for i, s := range w.slots {
		if s.keyed && s.key == key {
			w.lastSlot = i
			return s, nil
		}
	}
	id, err := w.nextID()
	if err != nil {
		return nil, err
	}
	fields := key.fields(w.cfg.Version, w.cfg.TimeFormat, w.cfg.FlowElements)
	if len(fields) == 0 {
		return nil, malformedErr("the flow knows no field a template holds (Known %v)", f.Known)
	}
	t, err := netflow.NewTemplate(w.cfg.Version, id, false, 0, fields)
	if err != nil {
		return nil, err
	}
	ft, err := NewFlowTemplate(t, w.cfg.FlowElements)
	if err != nil {
		return nil, err
	}
	s, err := w.addSlot(&slot{t: t, ft: ft, key: key, keyed: true})
	if err != nil {
		return nil, err
	}
	w.lastSlot = s.index
	return s, nil
}

// samplerOf returns the sampler ID of a sampling interval, made on first
// use.
func (w *Writer) samplerOf(interval uint32) (uint64, error) {
	if w.lastSampler < len(w.samplers) && w.samplers[w.lastSampler] == interval {
		return uint64(w.lastSampler + 1), nil
	}
	if i := slices.Index(w.samplers, interval); i >= 0 {
		w.lastSampler = i
		return uint64(i + 1), nil
	}
	if len(w.samplers) >= maxSamplers {
		return 0, limitErr("more than %d sampling intervals", maxSamplers)
	}
	w.samplers = append(w.samplers, interval)
	w.lastSampler = len(w.samplers) - 1
	return uint64(len(w.samplers)), nil
}

// setFlow adds f to the message as a data record of its template, with
// what the template needs announced first.
func (w *Writer) setFlow(f *netflow.Flow) error {
	s, err := w.flowSlot(f)
	if err != nil {
		return err
	}
	var sampler uint64
	if s.ft.sampler && f.SamplingInterval != 0 {
		if sampler, err = w.samplerOf(f.SamplingInterval); err != nil {
			return err
		}
		if w.samplerOpts == nil {
			if err := w.makeSamplerOptions(); err != nil {
				return err
			}
		}
	}
	sysInit := w.ipfix && s.ft.uptime && !s.ft.sysInit
	if sysInit && w.sysInitOpts == nil {
		if err := w.makeSysInitOptions(); err != nil {
			return err
		}
	}
	d, err := w.domainOf(w.flowDomain(f))
	if err != nil {
		return err
	}
	for empty := false; ; {
		if len(w.m.buf) > 0 && w.m.pin != (pin{}) {
			if err := w.emit(); err != nil {
				return err
			}
		}
		if len(w.m.buf) == 0 {
			w.beginSets(d, pin{})
			empty = true
		}
		// Encoded with the message's clock, again when a new message
		// begins: a delta time counts back from its export time.
		if w.scratch, err = s.ft.appendRecord(w.scratch[:0], f, &w.m.clk, sampler); err != nil {
			return err
		}
		need := w.need(s, len(w.scratch), sampler, sysInit)
		if len(w.m.buf)+need+w.padReserve() <= w.cfg.MTU {
			break
		}
		if empty {
			return limitErr("a record of template %d with what it needs announced is %d bytes, MTU %d", s.t.ID, w.headerLen()+need, w.cfg.MTU)
		}
		if err := w.emit(); err != nil {
			return err
		}
	}
	w.placed.options = w.placed.options[:0]
	w.announce(s)
	if sampler != 0 {
		w.announceSampler(sampler)
	}
	if sysInit {
		w.announceSysInit()
	}
	w.appendData(s, w.scratch)
	w.placed.template, w.placed.record = s.t, len(w.scratch)
	return nil
}

// RecordHeader says which messages the records of WriteRecords go in.
type RecordHeader struct {
	// Domain is the v9 source ID or IPFIX observation domain.
	Domain uint32
	// ExportTime and SysUptime, when ExportTime is not zero, are the
	// header values of the message the records came in (HeaderOf gives
	// them): the records then go in messages with the same export time
	// (whole seconds) and, in v9, uptime, so that what counts against
	// them keeps its meaning: v9 flowStartSysUpTime and flowEndSysUpTime,
	// IPFIX flowStartDeltaMicroseconds and flowEndDeltaMicroseconds. With
	// a zero ExportTime the writer's clock and Config.Boot apply.
	ExportTime time.Time
	SysUptime  uint32
}

// HeaderOf returns the RecordHeader of a decoded v9 or IPFIX packet: its
// domain, export time and (v9) uptime. ok is false for other versions.
func HeaderOf(p netflow.Packet) (h RecordHeader, ok bool) {
	switch p := p.(type) {
	case *netflow.V9Packet:
		return RecordHeader{Domain: p.Header.SourceID, ExportTime: p.Header.ExportTime(), SysUptime: p.Header.SysUptime}, true
	case *netflow.IPFIXPacket:
		return RecordHeader{Domain: p.Header.ObservationDomainID, ExportTime: p.Header.ExportTime()}, true
	}
	return RecordHeader{}, false
}

// WriteRecords writes v9 or IPFIX records (decoded ones, or made with
// netflow.NewTemplate and the Append functions) in messages of h, each
// with a template of the writer's that has its template's fields: every
// field is kept, enterprise and variable-length ones included, and the
// values are copied byte for byte. Options records (their template's
// Options set) go in options data sets. The records' version must be the
// writer's. A record that cannot be written (netflow.ErrMalformed: data
// that does not match its template; netflow.ErrLimit: a record larger
// than the MTU) is left out as WriteFlows does.
func (w *Writer) WriteRecords(h RecordHeader, recs []netflow.Record) error {
	if w.fixed != nil {
		return versionErr(w.cfg.Version, "WriteRecords: v9 and IPFIX records only; writer")
	}
	return w.writeEach(len(recs), "record", &w.stats.Records, func(i int) error {
		return w.record(&h, &recs[i])
	})
}

// pin is the header a message of WriteRecords must have: zero for the
// writer's own clock.
type pin struct {
	secs   int64 // export time, seconds; 0: not pinned
	uptime uint32
}

// pinOf returns the pin of h.
func (w *Writer) pinOf(h *RecordHeader) pin {
	if h.ExportTime.IsZero() || h.ExportTime.Unix() <= 0 {
		return pin{}
	}
	p := pin{secs: h.ExportTime.Unix()}
	if !w.ipfix {
		p.uptime = h.SysUptime
	}
	return p
}

// record adds one record of WriteRecords.
func (w *Writer) record(h *RecordHeader, r *netflow.Record) error {
	s, err := w.recordSlot(r.Template)
	if err != nil {
		return err
	}
	if err := checkRecord(s, r.Data); err != nil {
		return err
	}
	p := w.pinOf(h)
	d, err := w.domainOf(h.Domain)
	if err != nil {
		return err
	}
	for empty := false; ; {
		if len(w.m.buf) > 0 && w.m.pin != p {
			if err := w.emit(); err != nil {
				return err
			}
		}
		if len(w.m.buf) == 0 {
			w.beginSets(d, p)
			empty = true
		}
		need := w.need(s, len(r.Data), 0, false)
		if len(w.m.buf)+need+w.padReserve() <= w.cfg.MTU {
			break
		}
		if empty {
			return limitErr("a record of %d bytes of template %d with its template is %d bytes, MTU %d", len(r.Data), r.Template.ID, w.headerLen()+need, w.cfg.MTU)
		}
		if err := w.emit(); err != nil {
			return err
		}
	}
	w.announce(s)
	w.appendData(s, r.Data)
	return nil
}

// recordSlot returns the writer's template for records of t, made on
// first use.
func (w *Writer) recordSlot(t *netflow.Template) (*slot, error) {
	if t == nil {
		return nil, malformedErr("record without a template")
	}
	if t.Version != w.cfg.Version {
		return nil, versionErr(t.Version, "a record's template for a writer of version "+itoa(uint64(w.cfg.Version))+": template")
	}
	if w.lastSlot < len(w.slots) && w.slots[w.lastSlot].orig == t {
		return w.slots[w.lastSlot], nil
	}
	for i, s := range w.slots {
		if s.orig != nil && (s.orig == t || sameLayout(s.orig, t)) {
			s.orig, w.lastSlot = t, i
			return s, nil
		}
	}
	if err := checkTemplate(t); err != nil {
		return nil, err
	}
	id, err := w.nextID()
	if err != nil {
		return nil, err
	}
	nt, err := netflow.NewTemplate(t.Version, id, t.Options, t.ScopeCount, slices.Clone(t.Fields))
	if err != nil {
		return nil, err
	}
	s, err := w.addSlot(&slot{t: nt, orig: t})
	if err != nil {
		return nil, err
	}
	w.lastSlot = s.index
	return s, nil
}

// sameLayout reports whether t and u describe the same records.
func sameLayout(t, u *netflow.Template) bool {
	return t.Options == u.Options && t.ScopeCount == u.ScopeCount && slices.Equal(t.Fields, u.Fields)
}

// checkRecord checks that data is one whole record of s's template.
func checkRecord(s *slot, data []byte) error {
	if s.fixedLen > 0 {
		if len(data) != s.fixedLen {
			return malformedErr("record of %d bytes for template %d of %d-byte records", len(data), s.t.ID, s.fixedLen)
		}
		return nil
	}
	off := 0
	for _, f := range s.t.Fields {
		n := int(f.Length)
		if f.Length == netflow.VariableLength {
			if off >= len(data) {
				return malformedErr("record of template %d ends before its fields", s.t.ID)
			}
			if n = int(data[off]); n < varLengthLongForm {
				off++
			} else {
				if off+3 > len(data) {
					return malformedErr("record of template %d ends in a length", s.t.ID)
				}
				n = int(be.Uint16(data[off+1:]))
				off += 3
			}
		}
		if off += n; off > len(data) {
			return malformedErr("record of template %d ends before its fields", s.t.ID)
		}
	}
	switch {
	case off != len(data):
		return malformedErr("record of template %d: %d bytes after its fields", s.t.ID, len(data)-off)
	case off == 0:
		return malformedErr("empty record of template %d", s.t.ID)
	}
	return nil
}

// beginSets begins a v9 or IPFIX message of domain d with the writer's
// clock, or the header of p, refreshing what d announced when that is due
// (UDP).
func (w *Writer) beginSets(d *domain, p pin) {
	export := w.exportTime()
	w.m.clk = clock{version: w.cfg.Version, exportNs: export.UnixNano(), exportMs: export.UnixMilli(), bootMs: w.boot.UnixMilli()}
	uptime := uint32(w.m.clk.exportMs - w.m.clk.bootMs)
	w.m.pin = p
	if p.secs != 0 {
		export = time.Unix(p.secs, 0)
		uptime = p.uptime
	}
	if !w.cfg.Stream && ((w.cfg.RefreshMessages > 0 && d.messages >= w.cfg.RefreshMessages) ||
		(w.cfg.RefreshInterval > 0 && export.Sub(d.refreshed) >= w.cfg.RefreshInterval)) {
		d.forget()
		d.messages, d.refreshed = 0, export
	}
	if n := len(w.slots); len(d.sent) < n {
		d.sent = append(d.sent, make([]bool, n-len(d.sent))...)
	}
	if n := len(w.samplers); len(d.samplersSent) < n {
		d.samplersSent = append(d.samplersSent, make([]bool, n-len(d.samplersSent))...)
	}
	w.m.records, w.m.data, w.m.set = 0, 0, -1
	w.m.seq, w.m.export, w.m.uptime = d.seq, export, uptime
	secs := uint32(export.Unix())
	if w.ipfix {
		w.m.buf = AppendIPFIXHeader(w.m.buf[:0], &netflow.IPFIXHeader{UnixSecs: secs, Sequence: d.seq, ObservationDomainID: d.id})
		return
	}
	w.m.buf = AppendV9Header(w.m.buf[:0], &netflow.V9Header{SysUptime: uptime, UnixSecs: secs, Sequence: d.seq, SourceID: d.id})
}

// sent reports whether s's template went out in the message's domain
// since its last refresh.
func (w *Writer) sent(s *slot) bool {
	d := w.m.dom
	if s.index >= len(d.sent) {
		d.sent = append(d.sent, make([]bool, s.index+1-len(d.sent))...)
	}
	return d.sent[s.index]
}

// samplerSent reports whether sampler id's options data went out.
func (w *Writer) samplerSent(id uint64) bool {
	d := w.m.dom
	if int(id) > len(d.samplersSent) {
		d.samplersSent = append(d.samplersSent, make([]bool, int(id)-len(d.samplersSent))...)
	}
	return d.samplersSent[id-1]
}

// setCost is the cost of opening a set of id when the open set is *open
// (-1: none), which it then becomes: nothing if it is open, else a set
// header and, for v9, room for padding.
func (w *Writer) setCost(open *int, id uint16) int {
	if *open == int(id) {
		return 0
	}
	*open = int(id)
	if w.ipfix {
		return setHeaderLen
	}
	return setHeaderLen + 3
}

// padReserve is room for the padding of the open set (v9).
func (w *Writer) padReserve() int {
	if w.ipfix || w.m.set < 0 {
		return 0
	}
	return 3
}

// templateSetID returns the set ID of s's template record.
func (w *Writer) templateSetID(s *slot) uint16 {
	switch {
	case w.ipfix && s.t.Options:
		return ipfixOptionsSet
	case w.ipfix:
		return ipfixTemplateSet
	case s.t.Options:
		return v9OptionsSet
	}
	return v9TemplateSet
}

// need returns the bytes that a data record of n bytes of s adds to the
// message, with what must go out before it: s's template, sampler's
// options data (0: none) and, if sysInit, the system init time, each with
// its template, in the order announce, announceSampler and announceSysInit
// append them.
func (w *Writer) need(s *slot, n int, sampler uint64, sysInit bool) int {
	open := -1
	if w.m.set >= 0 {
		open = int(w.m.setID)
	}
	total := 0
	if !w.sent(s) {
		total += w.setCost(&open, w.templateSetID(s)) + len(s.rec)
	}
	if sampler != 0 && !w.samplerSent(sampler) {
		o := w.samplerOpts
		if !w.sent(o) {
			total += w.setCost(&open, w.templateSetID(o)) + len(o.rec)
		}
		total += w.setCost(&open, o.t.ID) + o.fixedLen
	}
	if sysInit && !w.m.dom.sysInitSent {
		o := w.sysInitOpts
		if !w.sent(o) {
			total += w.setCost(&open, w.templateSetID(o)) + len(o.rec)
		}
		total += w.setCost(&open, o.t.ID) + o.fixedLen
	}
	return total + w.setCost(&open, s.t.ID) + n
}

// openSet makes the open set one of id, closing the open one if it is
// another. minLen is the shortest record of the set (v9 padding must be
// shorter).
func (w *Writer) openSet(id uint16) {
	if w.m.set >= 0 && w.m.setID == id {
		return
	}
	w.closeSet()
	w.m.set, w.m.setID = len(w.m.buf), id
	w.m.buf = AppendSetHeader(w.m.buf, id)
}

// closeSet closes the open set: v9 pads it to 4 bytes when the padding is
// shorter than any record of the set (RFC 3954 section 5.3), so that no
// decoder reads it as one.
func (w *Writer) closeSet() error {
	if w.m.set < 0 {
		return nil
	}
	pad := false
	if !w.ipfix {
		pad = (4-(len(w.m.buf)-w.m.set)%4)%4 < w.setMinLen()
	}
	var err error
	w.m.buf, err = FinishSet(w.m.buf, w.m.set, pad)
	w.m.set = -1
	return err
}

// setMinLen returns the shortest record of the open set.
func (w *Writer) setMinLen() int {
	if w.m.setID < minDataSetID {
		return 4 // template records are 8 bytes or more
	}
	return w.slots[w.m.setID-minDataSetID].minLen
}

// announce sends s's template if the message's domain has not had it.
func (w *Writer) announce(s *slot) {
	if w.sent(s) {
		return
	}
	w.openSet(w.templateSetID(s))
	w.m.buf = append(w.m.buf, s.rec...)
	w.m.dom.sent[s.index] = true
	w.m.records++
	w.stats.Templates++
}

// appendData appends one data record of s.
func (w *Writer) appendData(s *slot, rec []byte) {
	w.openSet(s.t.ID)
	w.m.buf = append(w.m.buf, rec...)
	w.m.records++
	w.m.data++
}
