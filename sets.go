package netflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Sets is what v9 and IPFIX packets have in common: the templates they
// defined and their data and options data sets.
type Sets struct {
	// Templates lists the templates this datagram defined, in wire order.
	Templates []*Template
	// Withdrawn lists the template IDs this datagram withdrew (IPFIX), in
	// wire order; 2 and 3 mean all data or all options templates.
	Withdrawn []uint16
	// DataSets holds the data and options data sets that decoded, in wire
	// order, then the sets that had waited for a template this datagram
	// brought (Late).
	DataSets []DataSet
	// Pending counts the data sets of this datagram whose template is not
	// known yet and that the decoder holds until it comes.
	Pending int

	records    []Record
	unresolved []unresolvedSet
	learned    []TemplateKey
	flowsOnly  bool // Decoder.DecodeFlows: no Records for fixed-length data sets
}

// DataSet is one data or options data set.
type DataSet struct {
	TemplateID uint16
	Template   *Template
	Records    []Record
	// Late is true for a set that arrived before its template, in an
	// earlier datagram or earlier in this one, and was held until the
	// template came. Sequence and ExportTime are those of the datagram the
	// set came in.
	Late       bool
	Sequence   uint32
	ExportTime time.Time

	ctx      flowContext
	body     []byte // the set's records, padding included
	reg      *Registry
	store    TemplateStore
	key      TemplateKey // the store key of the set's domain
	maxDepth int
	lo, hi   int
}

// Options reports whether the set holds options data (exporter state such as
// sampling rates and interface names) rather than flows.
func (s *DataSet) Options() bool { return s.Template.Options }

// FlowCount returns the number of flow records (options records excluded).
func (s *Sets) FlowCount() int {
	n := 0
	for i := range s.DataSets {
		n += s.DataSets[i].flowCount()
	}
	return n
}

func (ds *DataSet) flowCount() int {
	switch t := ds.Template; {
	case t.Options:
		return 0
	case t.fixedLen > 0:
		return len(ds.body) / t.fixedLen
	}
	return len(ds.Records)
}

// AppendFlows appends one Flow per data record (not per options record) to
// dst.
func (s *Sets) AppendFlows(dst []Flow) []Flow {
	n := len(dst)
	dst = grow(dst, n+s.FlowCount())
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		t := ds.Template
		switch {
		case t.Options:
		case t.fixedLen > 0:
			// Fixed-length records are cut from the body directly: the
			// Records may not exist (DecodeFlows).
			for off := 0; off+t.fixedLen <= len(ds.body); off += t.fixedLen {
				fillFlow(&dst[n], t, ds.body[off:off+t.fixedLen], &ds.ctx)
				n++
			}
		default:
			for j := range ds.Records {
				fillFlow(&dst[n], t, ds.Records[j].Data, &ds.ctx)
				n++
			}
		}
	}
	return dst
}

func (s *Sets) reset() {
	s.Templates = s.Templates[:0]
	s.Withdrawn = s.Withdrawn[:0]
	s.DataSets = s.DataSets[:0]
	s.Pending = 0
	s.records = s.records[:0]
	s.unresolved = s.unresolved[:0]
	s.learned = s.learned[:0]
}

// unresolvedSet is a data set whose template was unknown when it was read.
type unresolvedSet struct {
	id     uint16
	body   []byte
	offset int
}

// setWalker decodes the sets of one v9 or IPFIX message.
type setWalker struct {
	d         *Decoder
	s         *Sets
	key       TemplateKey // exporter, version, domain; ID set per use
	ctx       flowContext
	errs      []error
	moreErrs  int     // problems beyond maxErrors
	moreKinds []error // their sentinels
}

// maxErrors is the most problems one message reports one by one; the rest
// are counted in a last error, so that a hostile message of thousands of
// tiny bad sets cannot make the decoder allocate an error for each.
const maxErrors = 16

func (w *setWalker) fail(offset int, what string, err error) {
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

// sentinels are the errors every decoder error matches.
var sentinels = []error{ErrTruncated, ErrMalformed, ErrTemplateNotFound, ErrLimit, ErrStore, ErrUnsupportedVersion, ErrEmpty}

// walk decodes the sets in data[off:].
func (w *setWalker) walk(data []byte, off int) {
	v := w.key.Version
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
		case (v == 9 && id == 0) || (v == 10 && id == 2):
			w.templates(body, off+4, false)
		case (v == 9 && id == 1) || (v == 10 && id == 3):
			w.templates(body, off+4, true)
		case id >= 256:
			w.dataSet(id, body, off+4)
		}
		// Set IDs 2-255 (v9) and 0, 1, 4-255 (IPFIX) are reserved: skipped.
		off += length
	}
}

// templates decodes a (options) template set body.
func (w *setWalker) templates(body []byte, base int, options bool) {
	v := w.key.Version
	off := 0
	for off < len(body) {
		start := off // the template record, for errors
		rest := body[off:]
		if len(rest) < 4 || (binary.BigEndian.Uint16(rest) == 0 && allZero(rest)) {
			return // padding
		}
		id := binary.BigEndian.Uint16(rest)
		count := int(binary.BigEndian.Uint16(rest[2:]))
		hdr := 4
		scope := 0
		switch {
		case v == 9 && options:
			// Template ID, option scope length and option length, in bytes.
			if len(rest) < 6 {
				w.fail(base+off, "options template header", ErrTruncated)
				return
			}
			scopeLen, optLen := count, int(binary.BigEndian.Uint16(rest[4:]))
			if scopeLen%4 != 0 || optLen%4 != 0 {
				w.fail(base+off, "options template lengths", ErrMalformed)
				return
			}
			scope, count, hdr = scopeLen/4, (scopeLen+optLen)/4, 6
		case v == 10 && count == 0:
			w.withdraw(id, options, base+off)
			off += 4
			continue
		case v == 10 && options:
			if len(rest) < 6 {
				w.fail(base+off, "options template header", ErrTruncated)
				return
			}
			scope, hdr = int(binary.BigEndian.Uint16(rest[4:])), 6
		}
		n, err := w.fieldSpecsLen(rest[hdr:], count)
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
		fields := w.fieldSpecs(specs, count)
		t, err := NewTemplate(v, id, options, scope, fields)
		if err != nil {
			w.fail(base+start, "template", err)
			continue
		}
		w.learn(t, base+start)
	}
}

// fieldSpecsLen returns the length of count field specifiers at b, without
// allocating, or ErrTruncated if b does not hold them.
func (w *setWalker) fieldSpecsLen(b []byte, count int) (int, error) {
	if w.key.Version == 9 {
		if len(b) < 4*count {
			return 0, ErrTruncated
		}
		return 4 * count, nil
	}
	n := 0
	for range count {
		if len(b)-n < 4 {
			return 0, ErrTruncated
		}
		n += 4
		if b[n-4]&0x80 != 0 {
			if len(b)-n < 4 {
				return 0, ErrTruncated
			}
			n += 4
		}
	}
	return n, nil
}

// fieldSpecs reads the count field specifiers that fieldSpecsLen measured.
// Its allocation is sized by bytes the set holds, not by the count alone.
func (w *setWalker) fieldSpecs(b []byte, count int) []TemplateField {
	fields := make([]TemplateField, count)
	n := 0
	for i := range fields {
		f := TemplateField{ID: binary.BigEndian.Uint16(b[n:]), Length: binary.BigEndian.Uint16(b[n+2:])}
		n += 4
		if w.key.Version == 10 && f.ID&0x8000 != 0 {
			f.ID &= 0x7fff
			f.PEN = binary.BigEndian.Uint32(b[n:])
			n += 4
		}
		fields[i] = f
	}
	return fields
}

func (w *setWalker) learn(t *Template, offset int) {
	key := w.key
	key.ID = t.ID
	if err := w.d.store.AddTemplate(key, t); err != nil {
		w.fail(offset, "template store", storeErr(err))
		return
	}
	w.s.Templates = append(w.s.Templates, t)
	w.s.learned = append(w.s.learned, key)
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
}

func storeErr(err error) error {
	if errors.Is(err, ErrLimit) || errors.Is(err, ErrStore) {
		return err
	}
	return errors.Join(ErrStore, err)
}

func (w *setWalker) dataSet(id uint16, body []byte, offset int) {
	key := w.key
	key.ID = id
	t, err := w.d.store.Template(key)
	if err != nil {
		if !errors.Is(err, ErrTemplateNotFound) {
			w.fail(offset, "template store", storeErr(err))
			return
		}
		w.s.unresolved = append(w.s.unresolved, unresolvedSet{id: id, body: body, offset: offset})
		return
	}
	w.records(t, body, offset, w.ctx, false)
}

// records splits a data set body into records of t and adds the set.
func (w *setWalker) records(t *Template, body []byte, offset int, ctx flowContext, late bool) {
	if t.minLen == 0 {
		w.fail(offset, "data set of a template with empty records", ErrMalformed)
		return
	}
	lo := len(w.s.records)
	if t.fixedLen > 0 && w.s.flowsOnly && !t.Options {
		if len(body) >= t.fixedLen {
			w.addSet(t, body, ctx, late, lo)
		}
		return
	}
	// One allocation for the most records body can hold, not append's
	// repeated 1.25x growth (five times the final size for a cold Buffer).
	w.s.records = slices.Grow(w.s.records, len(body)/t.minLen)
	if t.fixedLen > 0 {
		for off := 0; off+t.fixedLen <= len(body); off += t.fixedLen {
			w.s.records = append(w.s.records, Record{Template: t, Data: body[off : off+t.fixedLen : off+t.fixedLen]})
		}
	} else {
		off := 0
		for len(body)-off >= t.minLen {
			n, ok := recordLen(t, body[off:])
			if !ok {
				if !allZero(body[off:]) {
					w.fail(offset+off, "variable-length record", ErrTruncated)
				}
				break
			}
			w.s.records = append(w.s.records, Record{Template: t, Data: body[off : off+n : off+n]})
			off += n
		}
	}
	if len(w.s.records) == lo {
		return
	}
	w.addSet(t, body, ctx, late, lo)
	if t.Options {
		w.d.state.learn(w.key, t, w.s.records[lo:])
	}
}

// addSet adds a data set whose records are w.s.records[lo:].
func (w *setWalker) addSet(t *Template, body []byte, ctx flowContext, late bool, lo int) {
	w.s.DataSets = append(w.s.DataSets, DataSet{
		TemplateID: t.ID, Template: t, Late: late,
		Sequence: ctx.sequence, ExportTime: ctx.exportTime,
		ctx: ctx, body: body, reg: w.d.registry, store: w.d.store, key: w.key,
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

// finish resolves the sets that named unknown templates, hands them to the
// pending buffer, releases pending sets whose template this message
// brought, and sets the record slices.
func (w *setWalker) finish() error {
	for _, u := range w.s.unresolved {
		key := w.key
		key.ID = u.id
		t, err := w.d.store.Template(key)
		if err == nil {
			w.records(t, u.body, u.offset, w.ctx, true)
			continue
		}
		if w.d.pending != nil {
			if perr := w.d.pending.add(key, u.body, w.ctx); perr == nil {
				// The template may have come, from another goroutine,
				// between the look-up above and add, and its pending sets
				// been taken before this one was added: take it back.
				if _, err := w.d.store.Template(key); err == nil {
					w.s.learned = append(w.s.learned, key)
				} else {
					w.s.Pending++
				}
				continue
			} else {
				w.fail(u.offset, "data set", perr)
				continue
			}
		}
		w.fail(u.offset, "data set", ErrTemplateNotFound)
	}
	if w.d.pending != nil {
		// One take for every template this message brought, so that the
		// held sets come out in the order they arrived.
		for _, ps := range w.d.pending.take(w.s.learned) {
			t, err := w.d.store.Template(ps.key)
			if err != nil {
				continue
			}
			w.records(t, ps.body, 0, ps.ctx, true)
		}
	}
	state := w.d.state.flowState(w.key)
	for i := range w.s.DataSets {
		ds := &w.s.DataSets[i]
		ds.ctx.state = state
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

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// domainKey is a TemplateKey without the template ID.
func domainOf(exporter netip.AddrPort, version uint16, domain uint32) TemplateKey {
	return TemplateKey{Exporter: exporter, Version: version, Domain: domain}
}
