package netflow

import (
	"fmt"
	"net/netip"
	"sync/atomic"
)

// VariableLength is the field length that marks a variable-length field
// (IPFIX, and H3C's NetFlow v9).
const VariableLength = 0xffff

// TemplateField is one field specifier of a template.
type TemplateField struct {
	ID     uint16 // information element or v9 field type, enterprise bit cleared
	PEN    uint32 // private enterprise number; 0 for IANA and v9 types
	Length uint16 // bytes in each record, or VariableLength
}

// Template is a v9 or IPFIX (options) template. A Template is immutable once
// made by NewTemplate and may be shared between goroutines and stores.
type Template struct {
	ID      uint16
	Version uint16 // 9 or 10
	// Options is true for an options template; its first ScopeCount fields
	// are scope fields. In v9 a scope field's ID is a scope type (1 System,
	// 2 Interface, 3 Line Card, 4 Cache, 5 Template), not a field type.
	Options    bool
	ScopeCount int
	Fields     []TemplateField

	minLen   int   // shortest possible record: variable fields count one byte
	fixedLen int   // record length when no field is variable, else 0
	offsets  []int // field offsets when fixedLen > 0
	lists    bool  // holds RFC 6313 list fields
	dialect  *dialect
	plan     flowPlan
	json     atomic.Value // *jsonLayout, built on first use (recordjson_layout.go)
}

// TemplateKey identifies a template: the exporter, the export version, the
// v9 source ID or IPFIX observation domain, and the template ID. Data and
// options templates share one ID space.
type TemplateKey struct {
	Exporter netip.AddrPort
	Version  uint16
	Domain   uint32
	ID       uint16
}

// NewTemplate validates a template and compiles its decoding plan. version
// is 9 or 10; scopeCount is the number of leading scope fields of an options
// template. It fails with ErrMalformed for a template without fields, a
// scope count larger than the field count (or non-zero for a data
// template), or a record that could exceed 65535 bytes. It accepts what
// real exporters send against the RFCs: fields of length zero, and options
// templates without scope fields (Juniper SRX); a data set of a template
// whose records are empty is refused when it is decoded.
func NewTemplate(version, id uint16, options bool, scopeCount int, fields []TemplateField) (*Template, error) {
	dl := dialectOf(version)
	switch {
	case dl == nil:
		return nil, fmt.Errorf("%w: template %d of version %d: only v9 and IPFIX have templates", ErrMalformed, id, version)
	case id < 256:
		return nil, fmt.Errorf("%w: template ID %d below 256", ErrMalformed, id)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: template %d without fields", ErrMalformed, id)
	}
	if scopeCount < 0 || scopeCount > len(fields) || (!options && scopeCount != 0) {
		return nil, fmt.Errorf("%w: template %d scope field count %d of %d fields", ErrMalformed, id, scopeCount, len(fields))
	}
	t := &Template{
		ID:         id,
		Version:    version,
		Options:    options,
		ScopeCount: scopeCount,
		Fields:     fields,
		dialect:    dl,
	}
	variable := false
	for _, f := range fields {
		switch {
		case f.Length == VariableLength:
			variable = true
			t.minLen++
		default:
			t.minLen += int(f.Length)
		}
		if dl.lists && f.PEN == 0 && (f.ID == ieBasicList || f.ID == ieSubTemplateList || f.ID == ieSubTemplateMultiList) {
			t.lists = true
		}
	}
	if t.minLen > 0xffff {
		return nil, fmt.Errorf("%w: template %d records longer than 65535 bytes", ErrMalformed, id)
	}
	if !variable {
		t.fixedLen = t.minLen
		t.offsets = make([]int, len(fields))
		off := 0
		for i, f := range fields {
			t.offsets[i] = off
			off += int(f.Length)
		}
	}
	t.plan = compilePlan(t)
	return t, nil
}

// MinRecordLen returns the length of the shortest record the template can
// describe; a variable-length field counts as one byte. It is 0 for a
// template whose fields all have length 0.
func (t *Template) MinRecordLen() int { return t.minLen }

// sameLayout reports whether t and u describe the same records.
func (t *Template) sameLayout(u *Template) bool {
	if t.Options != u.Options || t.ScopeCount != u.ScopeCount || len(t.Fields) != len(u.Fields) {
		return false
	}
	for i := range t.Fields {
		if t.Fields[i] != u.Fields[i] {
			return false
		}
	}
	return true
}
