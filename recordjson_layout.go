package netflow

// jsonLayout is what AppendFieldsJSON needs of a template besides the
// record's bytes: the JSON key of every field, quoted, escaped, numbered
// when the element repeats, with the comma before it; and the field's
// abstract type. It is built on the first record of the template that is
// encoded, and kept in the Template, so that a record's encoding is a copy
// of each key and a typed write of each value.
type jsonLayout struct {
	reg   *Registry // the registry the names and types come from
	keys  string    // every field's `,"name":` (the first without the comma)
	ends  []int     // where each field's key ends in keys
	types []DataType
}

// key returns field i's key text.
func (l *jsonLayout) key(i int) string {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.keys[start:l.ends[i]]
}

// jsonLayout returns the layout of r's template for r's registry, from
// the template when it holds one for that registry.
func (r *Record) jsonLayout() *jsonLayout {
	var reg *Registry
	if r.set != nil {
		reg = r.set.reg
	}
	t := r.Template
	if l, ok := t.json.Load().(*jsonLayout); ok && l.reg == reg && len(l.types) == len(t.Fields) {
		return l
	}
	l := &jsonLayout{reg: reg, ends: make([]int, len(t.Fields)), types: make([]DataType, len(t.Fields))}
	var b []byte
	for i, f := range t.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		v := Value{Field: f, Info: r.lookup(i, f)}
		b = appendValueName(b, &v, repeats(t, i))
		b = append(b, ':')
		l.ends[i] = len(b)
		l.types[i] = v.Info.Type
	}
	l.keys = string(b)
	// A template decoded with another registry keeps the first layout;
	// this one is used once.
	t.json.CompareAndSwap(nil, l)
	return l
}
