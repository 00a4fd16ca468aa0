package netflow

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// maxJSONListDepth bounds how deep AppendFieldsJSON follows lists inside
// lists; deeper lists are written as hex, like any value it cannot decode.
const maxJSONListDepth = 8

// AppendFieldsJSON appends the values of r as one JSON object, in template
// order, each under its element's name (Value.Name: the registry's name,
// "PEN.ID" or "ID" for an unknown element). An element that occurs again in
// the record gets "#2", "#3", ... after its name, so that no key repeats.
// Each value is written as Value.AppendJSON writes it, except that RFC 6313
// lists are decoded (Record.List): a basicList as an array of its values, a
// subTemplateList or subTemplateMultiList as an array of objects, one per
// nested record, written by AppendFieldsJSON. A list that does not decode
// (unknown template, bad framing, nested too deep) is written as hex.
//
// It allocates nothing beyond growing dst, except for lists, whose decoding
// allocates (see Record.List). A record without a template is {}. Like
// Flow.AppendJSON, it may change up to two bytes of dst's spare capacity
// past what it appends.
func (r *Record) AppendFieldsJSON(dst []byte) []byte {
	return r.appendFieldsJSON(dst, 0)
}

func (r *Record) appendFieldsJSON(dst []byte, depth int) []byte {
	st := newJSONState()
	b, n := r.putFieldsJSON(dst[:cap(dst)], len(dst), depth, &st)
	return b[:n]
}

// putFieldsJSON writes what AppendFieldsJSON appends, in the manner of the
// writers of jsonput.go: b is the destination's whole capacity and n what
// is written of it. It makes its own room. The values st kept of the flow
// encoded before it (if any) are copied where a field repeats them.
func (r *Record) putFieldsJSON(b []byte, n, depth int, st *jsonState) ([]byte, int) {
	if r.Template == nil {
		b = jsonRoom(b, n, 2)
		return b, putLit(b, n, "{}")
	}
	lay := r.jsonLayout()
	data := r.Data
	if lay.fast && len(data) >= lay.recordLen {
		return putFixedFieldsJSON(b, n, lay, data, st)
	}
	off := 0
	b = jsonRoom(b, n, 1)
	b[n] = '{'
	n++
	for i := range lay.fields {
		jf := &lay.fields[i]
		l := int(jf.length)
		if jf.length == VariableLength {
			// RFC 7011 section 7: one length byte, or 255 and two.
			if off >= len(data) {
				break
			}
			if l = int(data[off]); l < 255 {
				off++
			} else {
				if off+3 > len(data) {
					break
				}
				l = int(data[off+1])<<8 | int(data[off+2])
				off += 3
			}
		}
		if off+l > len(data) {
			break
		}
		raw := data[off : off+l : off+l]
		off += l
		b = jsonRoom(b, n, lay.room)
		n = putKey(b, n, lay.keys[jf.keyStart:jf.keyEnd])
		switch jf.op {
		case opU8, opU16, opU32, opU64, opUint:
			n = putUint(b, n, beUint(raw))
			continue
		case opAddr4:
			b[n] = '"'
			n = putIPv4(b, n+1, [4]byte(raw))
			b[n] = '"'
			n++
			continue
		case opAddr16:
			b, n = putAddr(b, n, netip.AddrFrom16([16]byte(raw)))
			continue
		case opSeconds, opMillis, opMicros, opNanos:
			var ok bool
			if n, ok = putTimeField(b, n, jf.op, raw, &st.date); ok {
				continue
			}
		case opList:
			f := r.Template.Fields[i]
			v := Value{Field: f, Info: r.lookup(i, f), Scope: i < r.Template.ScopeCount, Raw: raw}
			d := r.appendValueJSON(b[:n], &v, depth)
			b, n = d[:cap(d)], len(d)
			continue
		default:
			d := appendTypedJSON(b[:n], jf.typ, raw)
			b, n = d[:cap(d)], len(d)
			continue
		}
		// A time out of range: hex, as appendTypedJSON writes it.
		d := appendHexString(b[:n], raw)
		b, n = d[:cap(d)], len(d)
	}
	b = jsonRoom(b, n, 1)
	b[n] = '}'
	return b, n + 1
}

// putFixedFieldsJSON is putFieldsJSON for a record of a fast layout
// (every field of a fixed length and a fixed-size kind of value) that is
// not cut short: one capacity check for the record, each key one 32-byte
// copy (the next write overwrites what it copies past the key, and the
// last key is copied exactly), no length to check field by field.
func putFixedFieldsJSON(b []byte, n int, lay *jsonLayout, data []byte, st *jsonState) ([]byte, int) {
	b = jsonRoom(b, n, lay.recordRoom)
	b[n] = '{'
	n++
	fields := lay.fields
	last := len(fields) - 1
	for i := range fields {
		jf := &fields[i]
		if i < last {
			*(*[32]byte)(b[n:]) = jf.key
			n += int(jf.keyEnd - jf.keyStart)
		} else {
			n = putKey(b, n, lay.keys[jf.keyStart:jf.keyEnd])
		}
		raw := data[jf.off:]
		switch jf.op {
		case opU8:
			n = putSmall(b, n, uint16(raw[0]))
			continue
		case opU16:
			n = putUint16(b, n, binary.BigEndian.Uint16(raw))
			continue
		case opU32:
			v := uint64(binary.BigEndian.Uint32(raw))
			if v >= 1000 && jf.reuse != 0 {
				var ok bool
				if n, ok = st.reused(b, n, jf.reuse-1, v); ok {
					continue
				}
			}
			n = putUint(b, n, v)
			continue
		case opU64:
			v := binary.BigEndian.Uint64(raw)
			if v >= 1000 && jf.reuse != 0 {
				var ok bool
				if n, ok = st.reused(b, n, jf.reuse-1, v); ok {
					continue
				}
			}
			n = putUint(b, n, v)
			continue
		case opUint:
			n = putUint(b, n, beUint(raw[:jf.length]))
			continue
		case opAddr4:
			if jf.reuse != 0 {
				var ok bool
				if n, ok = st.reused(b, n, jf.reuse-1, uint64(binary.BigEndian.Uint32(raw))|spanIPv4); ok {
					continue
				}
			}
			b[n] = '"'
			n = putIPv4(b, n+1, [4]byte(raw))
			b[n] = '"'
			n++
			continue
		case opAddr16:
			b, n = putAddr(b, n, netip.AddrFrom16([16]byte(raw)))
			continue
		}
		var ok bool
		n, ok = putTimeField(b, n, jf.op, raw[:jf.length], &st.date)
		if !ok {
			// A time out of range: hex, as appendTypedJSON writes it.
			n = putHex(b, n, raw[:jf.length])
		}
	}
	b[n] = '}'
	return b, n + 1
}

// putTimeField writes raw, a value of one of the time ops, as a time; ok
// is false for a time it cannot hold (Value.Time's range).
func putTimeField(b []byte, n int, op jsonOp, raw []byte, dc *jsonDate) (int, bool) {
	switch op {
	case opSeconds:
		if s := beUint(raw); s <= maxUnixMilli/1000 {
			return putTime(b, n, int64(s), 0, dc), true
		}
	case opMillis:
		if ms := beUint(raw); ms <= maxUnixMilli {
			return putTime(b, n, int64(ms/1000), uint32(ms%1000)*1e6, dc), true
		}
	case opMicros, opNanos:
		if secs := int64(binary.BigEndian.Uint32(raw)) - ntpEpochOffset; secs >= 0 {
			frac := uint64(binary.BigEndian.Uint32(raw[4:]))
			if op == opMicros {
				frac &^= 0x7ff
			}
			return putTime(b, n, secs, uint32((frac*1e9)>>32), dc), true
		}
	}
	return n, false
}

// putHex writes raw as a JSON string of hex digits.
func putHex(b []byte, n int, raw []byte) int {
	b[n] = '"'
	n++
	for _, c := range raw {
		b[n], b[n+1] = hexDigits[c>>4], hexDigits[c&15]
		n += 2
	}
	b[n] = '"'
	return n + 1
}

// repeats returns how many of the fields before field i of t are the same
// element as it (scope and non-scope fields of a v9 options template are
// different elements: they have different names).
func repeats(t *Template, i int) int {
	f := t.Fields[i]
	scope := i < t.ScopeCount
	n := 0
	for j, g := range t.Fields[:i] {
		if g.ID == f.ID && g.PEN == f.PEN && (t.Version != 9 || (j < t.ScopeCount) == scope) {
			n++
		}
	}
	return n
}

// appendValueName appends the JSON key of v, with "#N" after it for the
// Nth occurrence of an element in a record (dup is N-1).
func appendValueName(dst []byte, v *Value, dup int) []byte {
	if v.Info.Name != "" {
		if dup == 0 {
			return appendJSONString(dst, v.Info.Name)
		}
		dst = appendJSONString(dst, v.Info.Name)
		dst = dst[:len(dst)-1]
	} else {
		dst = append(dst, '"')
		if v.Field.PEN != 0 {
			dst = strconv.AppendUint(dst, uint64(v.Field.PEN), 10)
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(v.Field.ID), 10)
	}
	if dup > 0 {
		dst = append(dst, '#')
		dst = strconv.AppendUint(dst, uint64(dup+1), 10)
	}
	return append(dst, '"')
}

// appendValueJSON appends v, a value of r, decoding lists.
func (r *Record) appendValueJSON(dst []byte, v *Value, depth int) []byte {
	switch v.Info.Type {
	case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
	default:
		return v.AppendJSON(dst)
	}
	if depth >= maxJSONListDepth {
		return appendHexString(dst, v.Raw)
	}
	l, err := r.List(*v)
	if err != nil {
		return appendHexString(dst, v.Raw)
	}
	dst = append(dst, '[')
	if l.Type == TypeBasicList {
		for i := range l.Values {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = r.appendValueJSON(dst, &l.Values[i], depth+1)
		}
	} else {
		for i := range l.Records {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = l.Records[i].appendFieldsJSON(dst, depth+1)
		}
	}
	return append(dst, ']')
}

// AppendJSON appends v as one JSON value, typed by its element's abstract
// type (v.Info.Type, RFC 7012 section 3.1):
//
//   - unsigned8..64, signed8..64 (reduced-size encodings included): a number
//   - float32, float64: a number; NaN and the infinities, which JSON cannot
//     hold, are null
//   - boolean: true (1) or false (2)
//   - ipv4Address, ipv6Address: a string, "192.0.2.1", "2001:db8::1"
//   - macAddress: a string, "00:11:22:aa:bb:cc"
//   - dateTimeSeconds, -Milliseconds, -Microseconds, -Nanoseconds (NTP
//     format): a string, RFC 3339 in UTC with nine fractional digits
//   - string: a string, trailing NUL bytes dropped, invalid UTF-8 replaced
//     by U+FFFD
//   - octetArray, unsigned256, unknown elements and lists: a string of hex
//     digits (Record.AppendFieldsJSON decodes lists)
//
// A value whose length its type cannot have (a 3-byte address, a boolean
// that is neither 1 nor 2, a 9-byte integer) is written as a hex string
// too, so that no bytes are lost. AppendJSON allocates nothing beyond
// growing dst.
func (v Value) AppendJSON(dst []byte) []byte {
	return appendTypedJSON(dst, v.Info.Type, v.Raw)
}

// appendTypedJSON appends raw, a value of abstract type typ, as
// Value.AppendJSON describes.
func appendTypedJSON(dst []byte, typ DataType, raw []byte) []byte {
	// The common cases first, without a Value.
	switch typ {
	case TypeUnsigned8, TypeUnsigned16, TypeUnsigned32, TypeUnsigned64:
		if len(raw) >= 1 && len(raw) <= 8 {
			var n uint64
			for _, c := range raw {
				n = n<<8 | uint64(c)
			}
			return appendUint(dst, n)
		}
		return appendHexString(dst, raw)
	case TypeIPv4Address, TypeIPv6Address:
		switch len(raw) {
		case 4:
			return appendAddrString(dst, netip.AddrFrom4([4]byte(raw)))
		case 16:
			return appendAddrString(dst, netip.AddrFrom16([16]byte(raw)))
		}
		return appendHexString(dst, raw)
	}
	v := Value{Raw: raw}
	v.Info.Type = typ
	switch typ {
	case TypeSigned8, TypeSigned16, TypeSigned32, TypeSigned64:
		if n, ok := v.Int(); ok {
			return strconv.AppendInt(dst, n, 10)
		}
	case TypeFloat32, TypeFloat64:
		if f, ok := v.Float(); ok {
			return appendFloat(dst, f, 8*len(raw))
		}
	case TypeBoolean:
		if b, ok := v.Bool(); ok {
			return strconv.AppendBool(dst, b)
		}
	case TypeMACAddress:
		if m, ok := v.MAC(); ok {
			return appendMACString(dst, m)
		}
	case TypeString:
		b := raw
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		return appendJSONString(dst, b)
	case TypeDateTimeSeconds, TypeDateTimeMilliseconds, TypeDateTimeMicroseconds, TypeDateTimeNanoseconds:
		if t, ok := v.Time(); ok {
			return appendTimeString(dst, t)
		}
	}
	return appendHexString(dst, raw)
}
