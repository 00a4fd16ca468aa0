package netflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// ListSemantic is the semantic of an RFC 6313 structured data list.
type ListSemantic uint8

// The list semantics of RFC 6313 section 4.5.
const (
	ListNoneOf       ListSemantic = 0
	ListExactlyOneOf ListSemantic = 1
	ListOneOrMoreOf  ListSemantic = 2
	ListAllOf        ListSemantic = 3
	ListOrdered      ListSemantic = 4
	ListUndefined    ListSemantic = 0xff
)

// String returns the semantic's RFC 6313 name.
func (s ListSemantic) String() string {
	switch s {
	case ListNoneOf:
		return "noneOf"
	case ListExactlyOneOf:
		return "exactlyOneOf"
	case ListOneOrMoreOf:
		return "oneOrMoreOf"
	case ListAllOf:
		return "allOf"
	case ListOrdered:
		return "ordered"
	case ListUndefined:
		return "undefined"
	}
	return "semantic(" + strconv.Itoa(int(s)) + ")"
}

// List is a decoded RFC 6313 structured data value: a basicList (Element
// and Values), a subTemplateList (TemplateID and Records of one template)
// or a subTemplateMultiList (Records of several templates). Values and
// Records alias the datagram.
type List struct {
	Type     DataType // TypeBasicList, TypeSubTemplateList or TypeSubTemplateMultiList
	Semantic ListSemantic
	// Element is the basicList's field; Values its elements.
	Element TemplateField
	Values  []Value
	// TemplateID is the subTemplateList's template; Records the nested
	// records of either template list, each with its own Template.
	TemplateID uint16
	Records    []Record
}

// List decodes v, a list field of r (IANA elements 291 basicList, 292
// subTemplateList, 293 subTemplateMultiList), one level deep: nested lists
// are decoded by calling List on the nested records' values. The templates
// of template lists are those r's datagram defined or else those of the
// decoder's store, in r's domain.
// Errors match ErrMalformed (not a list, bad framing), ErrTruncated,
// ErrTemplateNotFound, or ErrLimit when the nesting is deeper than
// Limits.MaxListDepth.
func (r *Record) List(v Value) (List, error) {
	l := List{Type: v.Info.Type}
	if r.set == nil {
		return l, fmt.Errorf("%w: record has no decoder context", ErrMalformed)
	}
	if int(r.depth) >= r.set.maxDepth {
		return l, fmt.Errorf("%w: lists nested deeper than %d", ErrLimit, r.set.maxDepth)
	}
	b := v.Raw
	if len(b) < 1 {
		return l, fmt.Errorf("%w: list without semantic", ErrTruncated)
	}
	l.Semantic = ListSemantic(b[0])
	b = b[1:]
	switch l.Type {
	case TypeBasicList:
		return l, r.basicList(&l, b)
	case TypeSubTemplateList:
		if len(b) < 2 {
			return l, fmt.Errorf("%w: subTemplateList without template ID", ErrTruncated)
		}
		l.TemplateID = binary.BigEndian.Uint16(b)
		return l, r.nestedRecords(&l, l.TemplateID, b[2:])
	case TypeSubTemplateMultiList:
		for len(b) > 0 {
			if len(b) < 4 {
				return l, fmt.Errorf("%w: subTemplateMultiList header", ErrTruncated)
			}
			id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			if n < 4 || n > len(b) {
				return l, fmt.Errorf("%w: subTemplateMultiList length %d", ErrMalformed, n)
			}
			if err := r.nestedRecords(&l, id, b[4:n]); err != nil {
				return l, err
			}
			b = b[n:]
		}
		return l, nil
	}
	return l, fmt.Errorf("%w: %s is not a list", ErrMalformed, v.Name())
}

func (r *Record) basicList(l *List, b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: basicList header", ErrTruncated)
	}
	f := TemplateField{ID: binary.BigEndian.Uint16(b) & 0x7fff, Length: binary.BigEndian.Uint16(b[2:])}
	enterprise := b[0]&0x80 != 0
	b = b[4:]
	if enterprise {
		if len(b) < 4 {
			return fmt.Errorf("%w: basicList enterprise number", ErrTruncated)
		}
		f.PEN = binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	l.Element = f
	info := InfoElement{ID: f.ID, PEN: f.PEN}
	if i, ok := r.set.reg.Lookup(f.PEN, f.ID); ok {
		info = i
	}
	if f.Length == 0 && len(b) > 0 {
		return fmt.Errorf("%w: basicList of zero-length elements", ErrMalformed)
	}
	for len(b) > 0 {
		n := int(f.Length)
		if f.Length == VariableLength {
			m, hdr, ok := varLength(b)
			if !ok {
				return fmt.Errorf("%w: basicList element length", ErrTruncated)
			}
			b, n = b[hdr:], m
		}
		if n > len(b) {
			return fmt.Errorf("%w: basicList element", ErrTruncated)
		}
		l.Values = append(l.Values, Value{Field: f, Info: info, Raw: b[:n:n]})
		b = b[n:]
	}
	return nil
}

func (r *Record) nestedRecords(l *List, id uint16, b []byte) error {
	t, err := r.set.template(id)
	if err != nil {
		return err
	}
	if t.minLen == 0 {
		return fmt.Errorf("%w: list template %d has empty records", ErrMalformed, id)
	}
	for len(b) >= t.minLen {
		n := t.fixedLen
		if n == 0 {
			var ok bool
			if n, ok = recordLen(t, b); !ok {
				return fmt.Errorf("%w: list record of template %d", ErrTruncated, id)
			}
		}
		if n > len(b) {
			break
		}
		l.Records = append(l.Records, Record{Template: t, Data: b[:n:n], set: r.set, depth: r.depth + 1})
		b = b[n:]
	}
	return nil
}

// template returns the template id of the set's domain: the latest its
// datagram defined, without asking the store, or else the store's.
func (ds *DataSet) template(id uint16) (*Template, error) {
	for i := len(ds.local) - 1; i >= 0; i-- {
		if t := ds.local[i]; t != nil && t.ID == id {
			return t, nil
		}
	}
	key := ds.key
	key.ID = id
	t, err := ds.store.Template(key)
	if err != nil {
		if errors.Is(err, ErrTemplateNotFound) {
			return nil, fmt.Errorf("%w: list names template %d", ErrTemplateNotFound, id)
		}
		return nil, storeErr(err)
	}
	return t, nil
}
