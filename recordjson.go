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
// not cut short: one capacity check for the record, no length to check
// field by field. putFixedRun writes the fields of the common kinds in a
// loop without calls (so that its state stays in registers); it stops at
// a field that needs one (a number of 1000 or more not copied from the
// flow, a time, a 16-byte address), which putFixedValue writes before the
// run goes on. The last field, whose key is copied exactly, is written
// after the run.
func putFixedFieldsJSON(b []byte, n int, lay *jsonLayout, data []byte, st *jsonState) ([]byte, int) {
	b = jsonRoom(b, n, lay.recordRoom)
	b[n] = '{'
	n++
	fields := lay.fields
	last := len(fields) - 1
	run := fields[:last]
	for i := 0; ; {
		n, i = putFixedRun(b, n, run, i, data, st)
		if i == last {
			break
		}
		b, n = putFixedValue(b, n, &fields[i], data, st)
		i++
	}
	jf := &fields[last]
	n = putKey(b, n, jf.key[:jf.keyLen])
	b, n = putFixedValue(b, n, jf, data, st)
	b[n] = '}'
	return b, n + 1
}

// putFixedRun writes the keys and values of fields[i:], from b[n:], in
// the windows of putFixedFieldsJSON: each key one 32-byte copy (the next
// write overwrites what it copies past the key), each value inline. It
// returns the end of what it wrote and len(fields), or, at a field whose
// value it leaves to putFixedValue, that field's index and the end of its
// key.
func putFixedRun(b []byte, n int, fields []jsonField, i int, data []byte, st *jsonState) (int, int) {
	data = data[:len(data):len(data)] // no reads past the record (be16, be32, be64)
	for ; i < len(fields); i++ {
		jf := &fields[i]
		// The field's window: its key (up to 32 bytes), its value and the
		// bytes the stores write past it all lie in w, so that the stores
		// at constant or masked offsets need no bounds check.
		w := (*[fieldWindow]byte)(b[n : n+fieldWindow : n+fieldWindow])
		*(*[32]byte)(w[:32]) = jf.key
		k := int(jf.keyLen) & 63
		off := int(jf.off)
		var v uint64
		switch jf.fop {
		case fixU8:
			n += k + winSmall((*[4]byte)(w[k:k+4]), uint16(data[off]))
			continue
		case fixU16:
			n += k + winUint16((*[8]byte)(w[k:k+8]), be16(data, off))
			continue
		case fixU32, fixU32R:
			v = uint64(be32(data, off))
		case fixU64, fixU64R:
			v = be64(data, off)
		case fixAddr4, fixAddr4R:
			a := be32(data, off)
			if jf.fop == fixAddr4R {
				if at, l := st.match(jf.reuse-1, uint64(a)|spanIPv4); l != 0 {
					*(*[32]byte)(w[k : k+32]) = *(*[32]byte)(b[at : at+32 : at+32])
					n += k + l
					continue
				}
			}
			// winQuotedIPv4, inline.
			p := (*[24]byte)(w[k : k+24])
			p[0] = '"'
			t := octetDotText[a>>24]
			binary.LittleEndian.PutUint32(p[1:5], uint32(t))
			j := 1 + int(t>>56)&7
			t = octetDotText[a>>16&0xff]
			binary.LittleEndian.PutUint32(p[j:j+4], uint32(t))
			j += int(t>>56) & 7
			t = octetDotText[a>>8&0xff]
			binary.LittleEndian.PutUint32(p[j:j+4], uint32(t))
			j += int(t>>56) & 7
			u := smallText[a&0xff]
			binary.LittleEndian.PutUint32(p[j:j+4], u)
			j += int(u>>24) & 3
			p[j] = '"'
			n += k + j + 1
			continue
		case fixTimeR:
			var ms uint64
			if jf.op == opSeconds {
				ms = uint64(be32(data, off)) * 1000
			} else {
				ms = be64(data, off)
			}
			if at, l := st.match(jf.reuse-1, ms); l != 0 {
				*(*[32]byte)(w[k : k+32]) = *(*[32]byte)(b[at : at+32 : at+32])
				n += k + l
				continue
			}
			return n + k, i
		case fixAddr16R:
			if m, ok := st.reused6(b, n+k, jf.reuse-1, [16]byte(data[off:off+16:off+16])); ok {
				n = m
				continue
			}
			return n + k, i
		default:
			return n + k, i
		}
		if v < 1000 {
			n += k + winSmall((*[4]byte)(w[k:k+4]), uint16(v))
			continue
		}
		if jf.fop >= fixU32R {
			if at, l := st.match(jf.reuse-1, v); l != 0 {
				*(*[32]byte)(w[k : k+32]) = *(*[32]byte)(b[at : at+32 : at+32])
				n += k + l
				continue
			}
		}
		if v < 1e9 {
			// putUintMore, inline: groups of three digits.
			p := (*[16]byte)(w[k : k+16])
			w32 := uint32(v)
			q := w32 / 1e6
			r := w32 - q*1e6
			if q == 0 {
				q = r / 1000
				t := smallText[q]
				binary.LittleEndian.PutUint32(p[:4], t)
				l := int(t>>24) & 3
				binary.LittleEndian.PutUint32(p[l:l+4], smallText[1000+r-q*1000])
				n += k + l + 3
				continue
			}
			m := r / 1000
			t := smallText[q]
			binary.LittleEndian.PutUint32(p[:4], t)
			l := int(t>>24) & 3
			binary.LittleEndian.PutUint32(p[l:l+4], smallText[1000+m])
			binary.LittleEndian.PutUint32(p[l+3:l+7], smallText[1000+r-m*1000])
			n += k + l + 6
			continue
		}
		return n + k, i
	}
	return n, i
}

// be16, be32 and be64 read the big-endian number at data[off:], which
// must have no capacity past its length (putFixedRun cuts it so): the
// slice of constant length and capacity needs one bounds check, against
// the length, and the read is one load.
func be16(data []byte, off int) uint16 {
	return binary.BigEndian.Uint16(data[off : off+2 : off+2])
}

func be32(data []byte, off int) uint32 {
	return binary.BigEndian.Uint32(data[off : off+4 : off+4])
}

func be64(data []byte, off int) uint64 {
	return binary.BigEndian.Uint64(data[off : off+8 : off+8])
}

// putFixedValue writes the value of field jf of a fast layout at b[n:].
func putFixedValue(b []byte, n int, jf *jsonField, data []byte, st *jsonState) ([]byte, int) {
	raw := data[jf.off:]
	switch jf.fop {
	case fixU8:
		return b, putSmall(b, n, uint16(raw[0]))
	case fixU16:
		return b, putUint16(b, n, binary.BigEndian.Uint16(raw))
	case fixU32:
		return b, putUint(b, n, uint64(binary.BigEndian.Uint32(raw)))
	case fixU64:
		return b, putUint(b, n, binary.BigEndian.Uint64(raw))
	case fixAddr4:
		return b, n + winQuotedIPv4((*[24]byte)(b[n:]), [4]byte(raw))
	case fixU32R:
		return b, putReusedUint(b, n, st, jf.reuse-1, uint64(binary.BigEndian.Uint32(raw)))
	case fixU64R:
		return b, putReusedUint(b, n, st, jf.reuse-1, binary.BigEndian.Uint64(raw))
	case fixAddr4R:
		if m, ok := st.reused(b, n, jf.reuse-1, uint64(binary.BigEndian.Uint32(raw))|spanIPv4); ok {
			return b, m
		}
		return b, n + winQuotedIPv4((*[24]byte)(b[n:]), [4]byte(raw))
	}
	return putFixedOther(b, n, jf, raw, st)
}

// fieldWindow is the room putFixedFieldsJSON takes for each field at
// once: a key of up to 63 bytes (as masked; 32 at most) and a value of a
// fixed-size kind with what its stores write past it (jsonValueRoom).
const fieldWindow = 64 + jsonValueRoom

// winSmall writes v < 1000 in decimal at p, and returns its length.
func winSmall(p *[4]byte, v uint16) int {
	t := smallText[v]
	binary.LittleEndian.PutUint32(p[:], t)
	return int(t >> 24)
}

// winUint16 writes v in decimal at p, and returns its length.
func winUint16(p *[8]byte, v uint16) int {
	if v < 1000 {
		t := smallText[v]
		binary.LittleEndian.PutUint32(p[:4], t)
		return int(t >> 24)
	}
	q := v / 1000
	t := smallText[q]
	binary.LittleEndian.PutUint32(p[:4], t)
	l := int(t>>24) & 3
	binary.LittleEndian.PutUint32(p[l:l+4], smallText[1000+v-q*1000])
	return l + 3
}

// winQuotedIPv4 writes a as a JSON string at p, as putIPv4 does, and
// returns its length.
func winQuotedIPv4(p *[24]byte, a [4]byte) int {
	p[0] = '"'
	t := octetDotText[a[0]]
	binary.LittleEndian.PutUint32(p[1:5], uint32(t))
	i := 1 + int(t>>56)&7
	t = octetDotText[a[1]]
	binary.LittleEndian.PutUint32(p[i:i+4], uint32(t))
	i += int(t>>56) & 7
	t = octetDotText[a[2]]
	binary.LittleEndian.PutUint32(p[i:i+4], uint32(t))
	i += int(t>>56) & 7
	u := smallText[a[3]]
	binary.LittleEndian.PutUint32(p[i:i+4], u)
	i += int(u>>24) & 3
	p[i] = '"'
	return i + 1
}

// putReusedUint writes v, a number of a field with a reuse slot: the
// flow's text when it is v's (numbers of 1000 or more: smaller ones are
// written as fast as they are copied).
func putReusedUint(b []byte, n int, st *jsonState, slot uint8, v uint64) int {
	if v >= 1000 {
		if m, ok := st.reused(b, n, slot, v); ok {
			return m
		}
	}
	return putUint(b, n, v)
}

// putFixedOther writes the value of a field of a fast layout that
// putFixedFieldsJSON does not write inline: an unsigned number of 3, 5, 6
// or 7 bytes, a 16-byte address, a time.
//
//go:noinline
func putFixedOther(b []byte, n int, jf *jsonField, raw []byte, st *jsonState) ([]byte, int) {
	raw = raw[:jf.length]
	if jf.fop == fixAddr16R {
		if m, ok := st.reused6(b, n, jf.reuse-1, [16]byte(raw)); ok {
			return b, m
		}
	}
	if jf.fop == fixTimeR {
		ms := beUint(raw)
		if jf.op == opSeconds {
			ms *= 1000
		}
		if m, ok := st.reused(b, n, jf.reuse-1, ms); ok {
			return b, m
		}
	}
	switch jf.op {
	case opUint:
		return b, putUint(b, n, beUint(raw))
	case opAddr16:
		return putAddr(b, n, netip.AddrFrom16([16]byte(raw)))
	}
	m, ok := putTimeField(b, n, jf.op, raw, &st.date)
	if !ok {
		// A time out of range: hex, as appendTypedJSON writes it.
		m = putHex(b, n, raw)
	}
	return b, m
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
