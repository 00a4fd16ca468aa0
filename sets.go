package netflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The set walker: it decodes the sets of one v9 or IPFIX message by the
// message's dialect, learns templates into the store, decodes data sets,
// hands those whose template is unknown to the pending buffer and releases
// held sets when their template comes.

// unresolvedSet is a data set whose template was unknown when it was read,
// or, with a checking store (TemplateChecker), did not fit the store's
// (misfit).
type unresolvedSet struct {
	id     uint16
	body   []byte
	offset int
	misfit *Template
}

// setWalker decodes the sets of one v9 or IPFIX message.
type setWalker struct {
	d         *Decoder
	s         *Sets
	dialect   *dialect
	key       TemplateKey // exporter, version, domain; ID set per use
	ctx       flowContext
	held      bool       // the pending buffer holds sets of this exporter
	budget    int        // records of held sets this message may still release
	gen       uint64     // Decoder.learnGen when the walk began
	learned   []readyKey // templates of the current template set: what they release
	errs      []error
	moreErrs  int     // problems beyond maxErrors
	moreKinds []error // their sentinels
	// seqRecords counts the message's own data records (seqloss.go).
	seqRecords seqCounts
	// checkFit asks records to refuse a set of variable-length records
	// its template does not fit (Template.Fits), which it reports in
	// misfit.
	checkFit, misfit bool
	// releasing is set while release decodes sets held from earlier
	// datagrams: fail reports their problems at offset 0 of this one (an
	// offset in the datagram a set came in could index past this one).
	releasing bool
	// datagram is the message's ID, which tells the bounded tables a
	// second datagram of a source from its first (admit.go).
	datagram uint64
}

// maxErrors is the most problems one message reports one by one; the rest
// are counted in a last error, so that a hostile message of thousands of
// tiny bad sets cannot make the decoder allocate an error for each.
const maxErrors = 16

// sentinels are the errors every decoder error matches.
var sentinels = []error{ErrTruncated, ErrMalformed, ErrTemplateNotFound, ErrLimit, ErrStore, ErrUnsupportedVersion, ErrEmpty}

// walkSets decodes, for d, the sets of a message whose header (dl.headerLen bytes)
// was read into ctx.
func walkSets(d *Decoder, s *Sets, dl *dialect, data []byte, ctx flowContext) error {
	ctx.sampling = d.sampling.rule(ctx.exporter) // once per message, not per set
	ctx.decap = d.decap
	w := setWalker{
		d:        d,
		s:        s,
		dialect:  dl,
		key:      domainKey(TemplateKey{Exporter: d.exporterKey(ctx.exporter), Version: dl.version, Domain: ctx.domain}),
		ctx:      ctx,
		budget:   maxReleaseRecords,
		gen:      d.learnGen.Load(),
		datagram: s.serial.id(),
	}
	w.releaseDue()
	w.walk(data, dl.headerLen)
	w.observeSets()
	return w.finish()
}

func (w *setWalker) fail(offset int, what string, err error) {
	if w.releasing {
		offset, what = 0, "held data set: "+what
	}
	if len(w.errs) < maxErrors {
		w.errs = append(w.errs, decodeErr(w.key.Version, offset, what, err))
		return
	}
	w.moreErrs++
	for _, kind := range sentinels {
		if errors.Is(err, kind) && !slices.Contains(w.moreKinds, kind) {
			w.moreKinds = append(w.moreKinds, kind)
		}
	}
}

// walk decodes the sets in data[off:].
func (w *setWalker) walk(data []byte, off int) {
	for off < len(data) {
		rest := data[off:]
		if len(rest) < 4 || binary.BigEndian.Uint16(rest[2:]) < 4 {
			if !allZero(rest) {
				w.fail(off, "set header", ErrMalformed)
			}
			return
		}
		id := binary.BigEndian.Uint16(rest)
		length := int(binary.BigEndian.Uint16(rest[2:]))
		if length > len(rest) {
			w.fail(off, "set length", ErrTruncated)
			return
		}
		body := rest[4:length]
		switch {
		case id == w.dialect.templateSet:
			w.templates(body, off+4, false)
		case id == w.dialect.optionsSet:
			w.templates(body, off+4, true)
		case id >= 256:
			w.dataSet(id, body, off+4)
		}
		// Other set IDs below 256 are reserved: skipped.
		off += length
	}
}

// templates decodes a (options) template set body, then releases what
// waited for the templates it defined.
func (w *setWalker) templates(body []byte, base int, options bool) {
	w.learned = w.learned[:0]
	w.templateRecords(body, base, options)
	w.releaseLearned()
}

// templateRecords decodes the records of a (options) template set.
func (w *setWalker) templateRecords(body []byte, base int, options bool) {
	dl := w.dialect
	off := 0
	for off < len(body) {
		start := off // the template record, for errors
		rest := body[off:]
		if len(rest) < 4 || (binary.BigEndian.Uint16(rest) == 0 && allZero(rest)) {
			return // padding
		}
		id := binary.BigEndian.Uint16(rest)
		count := int(binary.BigEndian.Uint16(rest[2:]))
		hdr, scope := 4, 0
		switch {
		case dl.withdrawals && count == 0:
			w.withdraw(id, options, base+off)
			off += 4
			continue
		case options:
			var err error
			if scope, count, hdr, err = dl.optionsHeader(rest); err != nil {
				w.fail(base+off, "options template header", err)
				return
			}
		}
		n, err := dl.fieldSpecsLen(rest[hdr:], count)
		if err != nil {
			w.fail(base+off+hdr, "template fields", err)
			return
		}
		switch {
		case id < 256:
			w.fail(base+off, "template ID", ErrMalformed)
		case count > w.d.limits.MaxTemplateFields:
			w.fail(base+off, "template field count", ErrLimit)
			w.d.refusedTemplates.Add(1)
		}
		specs := rest[hdr : hdr+n]
		off += hdr + n
		if id < 256 || count > w.d.limits.MaxTemplateFields {
			continue // skipped whole: the set's other templates still count
		}
		t, err := NewTemplate(dl.version, id, options, scope, dl.fieldSpecs(specs, count))
		if err != nil {
			w.fail(base+start, "template", err)
			continue
		}
		w.learn(t, base+start)
	}
}

// learn stores t. The first definition of an ID in a template set is
// the one that releases what waited for it (releaseLearned).
func (w *setWalker) learn(t *Template, offset int) {
	key := w.key
	key.ID = t.ID
	if err := w.d.store.AddTemplate(key, t); err != nil {
		w.fail(offset, "template store", storeErr(err))
		return
	}
	w.d.learnGen.Add(1)
	w.s.Templates = append(w.s.Templates, t)
	w.s.local = append(w.s.local, t)
	if !slices.ContainsFunc(w.learned, func(r readyKey) bool { return r.key == key }) {
		w.learned = append(w.learned, readyKey{key: key, t: t})
	}
}

// releaseLearned decodes what waited for the templates of the template set
// just read, each set with the template that released it: the sets held
// from earlier datagrams in the order they arrived, then this message's own
// earlier sets in wire order.
func (w *setWalker) releaseLearned() {
	if len(w.learned) == 0 {
		return
	}
	// Checked afresh, not by w.held: a set another goroutine adds after
	// this walk began is taken here, or that goroutine sees learnGen move
	// (finish) and takes it back itself.
	if w.d.pending != nil && w.d.pending.any() {
		w.release(w.learned)
	}
	kept := w.s.unresolved[:0]
	for _, u := range w.s.unresolved {
		i := slices.IndexFunc(w.learned, func(r readyKey) bool { return r.key.ID == u.id })
		if i < 0 {
			kept = append(kept, u)
			continue
		}
		w.countRecords(w.learned[i].t, u.body)
		w.records(w.learned[i].t, w.key, u.body, u.offset, w.ctx, true)
	}
	w.s.unresolved = kept
}

func (w *setWalker) withdraw(id uint16, options bool, offset int) {
	key := w.key
	key.ID = id
	var err error
	switch {
	case id == 2 && !options, id == 3 && options:
		err = w.d.store.WithdrawAll(key, options)
	case id >= 256:
		err = w.d.store.WithdrawTemplate(key)
	default:
		w.fail(offset, "template withdrawal ID", ErrMalformed)
		return
	}
	if err != nil {
		w.fail(offset, "template store", storeErr(err))
		return
	}
	w.s.Withdrawn = append(w.s.Withdrawn, id)
	// A later data set of this message must not use a withdrawn template
	// this message defined.
	for i, t := range w.s.local {
		if t != nil && (t.ID == id || (id == 2 && !t.Options) || (id == 3 && t.Options)) {
			w.s.local[i] = nil
		}
	}
}

func storeErr(err error) error {
	if errors.Is(err, ErrLimit) || errors.Is(err, ErrStore) {
		return err
	}
	return errors.Join(ErrStore, err)
}

// localTemplate returns the latest template of id this message defined
// and did not withdraw.
func (w *setWalker) localTemplate(id uint16) *Template {
	for i := len(w.s.local) - 1; i >= 0; i-- {
		if t := w.s.local[i]; t != nil && t.ID == id {
			return t
		}
	}
	return nil
}

// dataSet decodes a data set with the template this message defined for
// it or, failing that, the one the store holds (one look-up); a set of an
// unknown template waits for it in the message (learn) and then in the
// pending buffer (finish).
func (w *setWalker) dataSet(id uint16, body []byte, offset int) {
	t := w.localTemplate(id)
	if t == nil {
		key := w.key
		key.ID = id
		var err error
		if t, err = w.storeTemplate(key); err != nil {
			if !errors.Is(err, ErrTemplateNotFound) {
				w.fail(offset, "template store", storeErr(err))
				return
			}
			w.s.unresolved = append(w.s.unresolved, unresolvedSet{id: id, body: body, offset: offset})
			return
		}
		// With a shared store (checker) the store's copy may lag behind
		// the exporter: a set its template cannot account for waits for
		// one it fits. Fixed-length records are checked here, variable-
		// length ones as records splits them.
		if w.d.checker != nil && t.fixedLen > 0 && !fitsCopy(t, body, w.d.checker) && !w.d.pending.tolerates(key, t) {
			w.s.unresolved = append(w.s.unresolved, unresolvedSet{id: id, body: body, offset: offset, misfit: t})
			return
		}
		if w.held {
			// Another instance may have learned it into a shared store:
			// what waited for it goes first.
			w.release([]readyKey{{key: key, t: t}})
		}
		if w.d.checker != nil && t.fixedLen == 0 {
			w.checkFit = true
			w.records(t, w.key, body, offset, w.ctx, false)
			w.checkFit = false
			if w.misfit {
				w.misfit = false
				if !w.d.pending.tolerates(key, t) {
					w.s.unresolved = append(w.s.unresolved, unresolvedSet{id: id, body: body, offset: offset, misfit: t})
					return
				}
				w.records(t, w.key, body, offset, w.ctx, false)
			}
			w.countRecords(t, body)
			return
		}
	}
	w.countRecords(t, body)
	w.records(t, w.key, body, offset, w.ctx, false)
}

// releaseDue releases, before the message's own sets, the held sets of its
// exporter that are due: those a template released beyond an earlier
// message's budget, and those whose template the store announced or a
// periodic look-up finds.
func (w *setWalker) releaseDue() {
	p := w.d.pending
	if p == nil || !p.any() {
		return
	}
	w.s.ready, w.s.lookups, w.held = p.due(w.key.Exporter, w.s.ready[:0], w.s.lookups[:0])
	for _, l := range w.s.lookups {
		if t, err := w.d.store.Template(l.key); err == nil {
			w.s.ready = append(w.s.ready, readyKey{key: l.key, t: t})
		}
	}
	w.release(w.s.ready)
}

// release decodes the sets held for keys, each with its template, in
// arrival order, within the message's release budget. It returns the
// context of the first set it took (ok false if none), which a packet made
// of released sets alone takes its header from.
func (w *setWalker) release(keys []readyKey) (first flowContext, ok bool) {
	w.s.released = w.d.pending.take(w.s.released[:0], keys, &w.budget)
	if len(w.s.released) == 0 {
		return flowContext{}, false
	}
	first = w.s.released[0].ctx
	failed := 0
	w.releasing = true
	for i := range w.s.released {
		rs := &w.s.released[i]
		if !w.records(rs.t, domainKey(rs.key), rs.body, 0, rs.ctx, true) {
			failed++
		}
	}
	w.releasing = false
	if failed > 0 {
		w.d.pending.failed(failed)
	}
	// The packet's sets keep what they need of the bodies; the list must
	// not keep them reachable beyond the next call.
	clear(w.s.released)
	return first, true
}

// maxVarRecordsGrow bounds the room made at once for the records of a set
// of variable-length records.
const maxVarRecordsGrow = 64

// records splits a data set body into records of t and adds the set. It
// reports whether the set decoded.
func (w *setWalker) records(t *Template, key TemplateKey, body []byte, offset int, ctx flowContext, late bool) bool {
	if t.minLen == 0 {
		w.fail(offset, "data set of a template with empty records", ErrMalformed)
		return false
	}
	lo := len(w.s.records)
	if t.fixedLen > 0 && w.s.flowsOnly && !t.Options {
		if len(body) >= t.fixedLen {
			w.addSet(t, key, body, ctx, late, lo)
		}
		return true
	}
	// One allocation for the records of a fixed length body holds, not
	// append's repeated 1.25x growth (five times the final size for a
	// cold Buffer). Variable-length records may be far longer than their
	// minimum (one 64 KB record of a template whose minimum is 1 byte):
	// room for at most maxVarRecordsGrow of them, append grows the rest.
	grow := len(body) / t.minLen
	if t.fixedLen == 0 {
		grow = min(grow, maxVarRecordsGrow)
	}
	w.s.records = slices.Grow(w.s.records, grow)
	ok := true
	if t.fixedLen > 0 {
		for off := 0; off+t.fixedLen <= len(body); off += t.fixedLen {
			w.s.records = append(w.s.records, Record{Template: t, Data: body[off : off+t.fixedLen : off+t.fixedLen]})
		}
	} else {
		off, overrun := 0, false
		for len(body)-off >= t.minLen {
			n, fits := recordLen(t, body[off:])
			if !fits {
				overrun = true
				break
			}
			w.s.records = append(w.s.records, Record{Template: t, Data: body[off : off+n : off+n]})
			off += n
		}
		if w.checkFit && off < len(body) {
			if ok, zero := t.padding(body[off:]); !ok || (!zero && !w.d.checker.Confirmed()) {
				// Not what t describes (fitsCopy): the caller holds it.
				w.s.records = w.s.records[:lo]
				w.misfit = true
				return false
			}
		}
		if overrun && !allZero(body[off:]) {
			w.fail(offset+off, "variable-length record", ErrTruncated)
			ok = false
		}
	}
	if len(w.s.records) == lo {
		return ok
	}
	w.addSet(t, key, body, ctx, late, lo)
	if t.Options {
		if err := w.d.state.learn(key, t, w.s.records[lo:], w.datagram); err != nil {
			w.fail(offset, "options state store", err)
		}
	}
	return ok
}

// addSet adds a data set whose records are w.s.records[lo:].
func (w *setWalker) addSet(t *Template, key TemplateKey, body []byte, ctx flowContext, late bool, lo int) {
	w.s.DataSets = append(w.s.DataSets, DataSet{
		TemplateID: t.ID, Template: t, Late: late,
		Sequence: ctx.sequence, ExportTime: ctx.exportTime,
		ctx: w.d.setContext(ctx, t), body: body, reg: w.d.registry, store: w.d.store, key: key,
		maxDepth: w.d.limits.MaxListDepth, lo: lo, hi: len(w.s.records),
	})
}

// recordLen returns the length of the variable-length record at b[0:].
func recordLen(t *Template, b []byte) (int, bool) {
	off := 0
	for _, f := range t.Fields {
		n := int(f.Length)
		if f.Length == VariableLength {
			m, hdr, ok := varLength(b[off:])
			if !ok {
				return 0, false
			}
			n = m + hdr
		}
		off += n
		if off > len(b) {
			return 0, false
		}
	}
	return off, off > 0
}

// finish hands the sets whose template is still unknown to the pending
// buffer and sets the record slices.
func (w *setWalker) finish() error {
	for _, u := range w.s.unresolved {
		if w.d.pending == nil {
			if u.misfit != nil {
				w.fail(u.offset, "data set that its template from the store does not fit", ErrTemplateNotFound)
				continue
			}
			w.fail(u.offset, "data set", ErrTemplateNotFound)
			continue
		}
		key := w.key
		key.ID = u.id
		if err := w.d.pending.add(key, u.body, w.ctx, u.misfit, w.datagram); err != nil {
			w.fail(u.offset, "data set", err)
			continue
		}
		if w.d.learnGen.Load() != w.gen {
			// A template was learned since this walk began, maybe this
			// one by another goroutine that looked for held sets before
			// this one was added: look again, once, and take it back.
			if t, err := w.d.store.Template(key); err == nil {
				w.release([]readyKey{{key: key, t: t}})
				continue
			}
		}
		w.s.Pending++
	}
	var stateKey TemplateKey
	var state *flowState
	for i := range w.s.DataSets {
		ds := &w.s.DataSets[i]
		if i == 0 || ds.key != stateKey {
			stateKey, state = ds.key, w.d.state.flowState(ds.key, uint32(ds.ctx.exportNs/1e9), &w.s.domain, w.datagram)
		}
		ds.ctx.state = state
		ds.local = w.s.local
		ds.Records = w.s.records[ds.lo:ds.hi:ds.hi]
		for j := range ds.Records {
			ds.Records[j].set = ds
		}
	}
	if w.moreErrs > 0 {
		w.errs = append(w.errs, fmt.Errorf("%d more problems in this message, not listed: %w", w.moreErrs, errors.Join(w.moreKinds...)))
	}
	return errors.Join(w.errs...)
}
