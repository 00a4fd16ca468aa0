package netflow

import "encoding/binary"

// A dialect is what tells the set formats of NetFlow v9 (v9.go) and IPFIX
// (ipfix.go) apart. The set walker (sets.go), templates, records and the
// options state read it instead of asking which version they are in.
type dialect struct {
	version   uint16
	headerLen int
	// Set IDs of template and options template sets; data sets are 256
	// and above, the rest reserved.
	templateSet, optionsSet uint16
	// enterpriseBit: a field specifier with the top bit of its ID set is
	// followed by a 4-byte private enterprise number.
	enterpriseBit bool
	// withdrawals: a template record with no fields withdraws the ID (or,
	// for IDs 2 and 3, every data or options template).
	withdrawals bool
	// headerUptime: flow uptimes count against the header's sysUptime
	// (v9), not against the exporter's system init time (IPFIX).
	headerUptime bool
	// scopeTypes: an options template's scope field IDs are scope types
	// (RFC 3954 section 6.1), not information elements.
	scopeTypes bool
	// lists: RFC 6313 structured data (basicList, subTemplateList,
	// subTemplateMultiList) may occur.
	lists bool
	// optionsHeader reads an options template record's header: the number
	// of scope fields, of all fields, and the header's length.
	optionsHeader func(rec []byte) (scope, count, hdr int, err error)
}

// dialectOf returns the dialect of version 9 or 10, nil for any other.
func dialectOf(version uint16) *dialect {
	switch version {
	case 9:
		return &v9Dialect
	case 10:
		return &ipfixDialect
	}
	return nil
}

// fieldSpecsLen returns the length of count field specifiers at b, without
// allocating, or ErrTruncated if b does not hold them.
func (d *dialect) fieldSpecsLen(b []byte, count int) (int, error) {
	if !d.enterpriseBit {
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
func (d *dialect) fieldSpecs(b []byte, count int) []TemplateField {
	fields := make([]TemplateField, count)
	n := 0
	for i := range fields {
		f := TemplateField{ID: binary.BigEndian.Uint16(b[n:]), Length: binary.BigEndian.Uint16(b[n+2:])}
		n += 4
		if d.enterpriseBit && f.ID&0x8000 != 0 {
			f.ID &= 0x7fff
			f.PEN = binary.BigEndian.Uint32(b[n:])
			n += 4
		}
		fields[i] = f
	}
	return fields
}

// info returns what reg knows of field i of a template with scopeCount
// scope fields.
func (d *dialect) info(reg *Registry, i, scopeCount int, f TemplateField) InfoElement {
	if d.scopeTypes && i < scopeCount {
		return v9ScopeInfo(f.ID)
	}
	if d.version == 9 {
		if info, ok := LookupV9(f.ID); ok {
			return info
		}
		return InfoElement{ID: f.ID}
	}
	if info, ok := reg.Lookup(f.PEN, f.ID); ok {
		return info
	}
	return InfoElement{ID: f.ID, PEN: f.PEN}
}

// isElement reports whether field i of a template with scopeCount scope
// fields is an information element (not a v9 scope type).
func (d *dialect) isElement(i, scopeCount int) bool {
	return !d.scopeTypes || i >= scopeCount
}
