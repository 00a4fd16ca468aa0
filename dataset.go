package netflow

import (
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
	// DataSets holds the data and options data sets that decoded, in the
	// order they were decoded: wire order, with a set that had waited for
	// its template (Late) where that template was learned or first found
	// in the store (held sets of earlier datagrams come before the
	// datagram's own sets).
	DataSets []DataSet
	// Pending counts the data sets of this datagram whose template is not
	// known yet and that the decoder holds until it comes.
	Pending int

	records    []Record
	local      []*Template // Templates, withdrawn ones nil: what later sets use
	unresolved []unresolvedSet
	released   []releasedSet
	ready      []readyKey
	lookups    []lookupKey
	flowsOnly  bool // Decoder.DecodeFlows: no Records for fixed-length data sets
	// domain and template are the options-state domain and the store's
	// template of the Buffer's last message, kept across messages.
	domain   domainCache
	template templateCache
	// serial gives each message decoded into these Sets its datagram ID
	// (admit.go).
	serial datagramSerial
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
	local    []*Template // the templates its datagram defined, for Record.List
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
	dst = slices.Grow(dst, s.FlowCount())
	for i := range s.DataSets {
		dst = s.DataSets[i].AppendFlows(dst)
	}
	return dst
}

// AppendFlows appends one Flow per data record of the set (none for an
// options set) to dst.
func (ds *DataSet) AppendFlows(dst []Flow) []Flow {
	t := ds.Template
	n := len(dst)
	dst = grow(dst, n+ds.flowCount())
	switch {
	case t.Options:
	case t.fixedLen > 0:
		// Fixed-length records are cut from the body directly: the
		// Records may not exist (Decoder.DecodeFlows).
		plan := ds.ctx.planOf(t)
		if !plan.fixedOK {
			for off := 0; off+t.fixedLen <= len(ds.body); off += t.fixedLen {
				fillFlow(&dst[n], t, ds.body[off:off+t.fixedLen], &ds.ctx)
				n++
			}
			break
		}
		s, ctx := ds.ctx.samplerOf(plan), &ds.ctx
		body, size := ds.body, t.fixedLen
		out := dst[n : n+len(body)/size]
		for i := range out {
			fillFixedFlow(&out[i], plan, body[i*size:(i+1)*size], ctx, s)
		}
	default:
		for j := range ds.Records {
			fillFlow(&dst[n], t, ds.Records[j].Data, &ds.ctx)
			n++
		}
	}
	return dst
}

// retainLimit is the capacity (in elements) above which a Buffer's slices
// are given back when the previous message used less than a quarter of
// it, so that one outsized message does not pin its memory for the
// Buffer's lifetime.
const retainLimit = 4096

// reset readies s for the next message.
func (s *Sets) reset() {
	s.Templates = shrink(s.Templates)
	s.local = shrink(s.local)
	s.Withdrawn = s.Withdrawn[:0]
	s.DataSets = shrink(s.DataSets)
	s.Pending = 0
	s.records = shrink(s.records)
	s.unresolved = shrink(s.unresolved)
	s.released = shrink(s.released)
	s.ready = s.ready[:0]
	s.lookups = s.lookups[:0]
}

// shrink empties s, dropping its array if the last use of it was small
// against an outsized capacity.
func shrink[T any](s []T) []T {
	if cap(s) > retainLimit && len(s) < cap(s)/4 {
		return nil
	}
	return s[:0]
}

// Flow returns the record's normalised Flow, the one AppendFlows gives for
// it, so that a caller who walks the Records of a packet has each record's
// Flow beside it. ok is false for an options record and for a Record not
// made by the decoder.
func (r *Record) Flow() (f Flow, ok bool) {
	if r.set == nil || r.Template == nil || r.Template.Options {
		return Flow{}, false
	}
	fillFlow(&f, r.Template, r.Data, &r.set.ctx)
	return f, true
}
