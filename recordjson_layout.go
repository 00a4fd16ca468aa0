package netflow

// jsonLayout is what AppendFieldsJSON needs of a template besides the
// record's bytes: the JSON key of every field, quoted, escaped, numbered
// when the element repeats, with the comma before it; the field's abstract
// type; and how its value is written. It is built on the first record of
// the template that is encoded, and kept in the Template, so that a
// record's encoding is a copy of each key and a typed write of each value.
type jsonLayout struct {
	reg    *Registry   // the registry the names and types come from
	keys   []byte      // every field's `,"name":` (the first without the comma)
	fields []jsonField // one per template field
	// room is what one field's key and a value of a fixed-size kind
	// (number, address, time, MAC) take at most.
	room int
	// fast is set when every field has a fixed length, a key of at most
	// 32 bytes and a value of a fixed-size kind: a record of recordLen
	// bytes or more then takes at most recordRoom bytes of JSON, and is
	// written by putFixedFieldsJSON.
	fast                  bool
	recordLen, recordRoom int
}

// jsonField is one field of a jsonLayout.
type jsonField struct {
	keyStart, keyEnd uint32 // its key in jsonLayout.keys
	length           uint16 // the template's field length, or VariableLength
	typ              DataType
	op               jsonOp
	// For a fast layout: the field's offset in the record, and its key
	// padded to 32 bytes; and the slot (plus one) of the flow value whose
	// text it may copy (reuseSlotOf), 0 for none.
	off    uint16
	reuse  uint8
	keyLen uint8   // keyEnd - keyStart
	fop    fixedOp // how putFixedFieldsJSON writes the value
	key    [32]byte
}

// fixedOp is how putFixedFieldsJSON writes a field's value: an op of the
// common widths written inline, the same with the text of the flow's
// value copied when it is equal (the field has a reuse slot), and the
// rest through putFixedOther. One small switch per field, dense enough to
// be a jump table.
type fixedOp uint8

const (
	fixOther   fixedOp = iota // putFixedOther: opUint, opAddr16, the times without a slot
	fixU8                     // opU8
	fixU16                    // opU16
	fixU32                    // opU32
	fixU64                    // opU64
	fixAddr4                  // opAddr4
	fixU32R                   // opU32 with a reuse slot
	fixU64R                   // opU64 with a reuse slot
	fixAddr4R                 // opAddr4 with a reuse slot
	fixTimeR                  // opSeconds of 4 bytes or opMillis of 8 bytes, with a reuse slot
	fixAddr16R                // opAddr16 with a reuse slot
)

// fixedOpOf returns the fixedOp of a field of op, length and reuse slot.
func fixedOpOf(op jsonOp, length uint16, reuse uint8) fixedOp {
	if reuse != 0 {
		switch {
		case op == opU32:
			return fixU32R
		case op == opU64:
			return fixU64R
		case op == opAddr4:
			return fixAddr4R
		case op == opAddr16:
			return fixAddr16R
		case op == opSeconds && length == 4, op == opMillis && length == 8:
			return fixTimeR
		}
		return fixOther
	}
	switch op {
	case opU8:
		return fixU8
	case opU16:
		return fixU16
	case opU32:
		return fixU32
	case opU64:
		return fixU64
	case opAddr4:
		return fixAddr4
	}
	return fixOther
}

// reuseSlotOf returns the slot (plus one) of the flow value that a field
// of element id (of the IANA registry) and op is likely to repeat, 0 for
// none. A likely one: the text is copied only when the values are equal.
func reuseSlotOf(pen uint32, id uint16, op jsonOp) uint8 {
	if pen != 0 {
		return 0
	}
	var s reuseSlot
	switch {
	case op == opAddr4 && id == 8: // sourceIPv4Address
		s = reuseSrcAddr
	case op == opAddr4 && id == 12: // destinationIPv4Address
		s = reuseDstAddr
	case op == opAddr4 && id == 15: // ipNextHopIPv4Address
		s = reuseNextHop
	case op == opAddr16 && id == 27: // sourceIPv6Address
		s = reuseSrcAddr
	case op == opAddr16 && id == 28: // destinationIPv6Address
		s = reuseDstAddr
	case op == opAddr16 && id == 62: // ipNextHopIPv6Address
		s = reuseNextHop
	case op == opSeconds && id == 150, op == opMillis && id == 152: // flowStartSeconds, -Milliseconds
		s = reuseStart
	case op == opSeconds && id == 151, op == opMillis && id == 153: // flowEndSeconds, -Milliseconds
		s = reuseEnd
	case op != opU32 && op != opU64:
		return 0
	case id == 2 || id == 86: // packetDeltaCount, packetTotalCount
		s = reusePackets
	case id == 1 || id == 85: // octetDeltaCount, octetTotalCount
		s = reuseBytes
	case id == 10: // ingressInterface
		s = reuseInIf
	case id == 14: // egressInterface
		s = reuseOutIf
	case id == 16: // bgpSourceAsNumber
		s = reuseSrcAS
	case id == 17: // bgpDestinationAsNumber
		s = reuseDstAS
	default:
		return 0
	}
	return uint8(s) + 1
}

// jsonOp is how a field's value is written, chosen once per template from
// the field's type and length.
type jsonOp uint8

const (
	opTyped   jsonOp = iota // appendTypedJSON: any type, any length
	opList                  // an RFC 6313 list, decoded
	opU8                    // unsigned, 1 byte
	opU16                   // unsigned, 2 bytes
	opU32                   // unsigned, 4 bytes
	opU64                   // unsigned, 8 bytes
	opUint                  // unsigned, 3, 5, 6 or 7 bytes
	opAddr4                 // an address of 4 bytes
	opAddr16                // an address of 16 bytes
	opSeconds               // dateTimeSeconds, 1 to 8 bytes
	opMillis                // dateTimeMilliseconds, 1 to 8 bytes
	opMicros                // dateTimeMicroseconds, NTP format, 8 bytes
	opNanos                 // dateTimeNanoseconds, NTP format, 8 bytes
)

// jsonOpOf returns the op of a field of type typ and template length
// length. A variable-length field, or a length its type cannot have, goes
// through appendTypedJSON, which checks each value's length.
func jsonOpOf(typ DataType, length uint16) jsonOp {
	switch typ {
	case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
		return opList
	}
	fixed8 := length >= 1 && length <= 8
	switch {
	case typ == TypeUnsigned8 || typ == TypeUnsigned16 || typ == TypeUnsigned32 || typ == TypeUnsigned64:
		switch length {
		case 1:
			return opU8
		case 2:
			return opU16
		case 4:
			return opU32
		case 8:
			return opU64
		}
		if fixed8 {
			return opUint
		}
	case (typ == TypeIPv4Address || typ == TypeIPv6Address) && length == 4:
		return opAddr4
	case (typ == TypeIPv4Address || typ == TypeIPv6Address) && length == 16:
		return opAddr16
	case typ == TypeDateTimeSeconds && fixed8:
		return opSeconds
	case typ == TypeDateTimeMilliseconds && fixed8:
		return opMillis
	case typ == TypeDateTimeMicroseconds && length == 8:
		return opMicros
	case typ == TypeDateTimeNanoseconds && length == 8:
		return opNanos
	}
	return opTyped
}

// minKeyAfterCopy is the shortest key of a last field after which the
// field before it may copy the flow's text: a copy writes up to 32 bytes
// (st.reused, st.reused6) for a text of 4 or more, so up to 28 past it,
// which the last key, a value of one byte or more, two '}' and
// jsonScratch bytes cover.
const minKeyAfterCopy = 28 - 1 - 2 - jsonScratch

// jsonValueRoom bounds a value of a fixed-size kind: an IPv6 address or a
// time in quotes (41 and 32 bytes), 20 digits, a MAC (19), the hex of 8
// bytes (18), with the bytes a fixed-width store writes past it.
const jsonValueRoom = 48

// jsonLayout returns the layout of r's template for r's registry, from
// the template when it holds one for that registry.
func (r *Record) jsonLayout() *jsonLayout {
	var reg *Registry
	if r.set != nil {
		reg = r.set.reg
	}
	t := r.Template
	if l, ok := t.json.Load().(*jsonLayout); ok && l.reg == reg && len(l.fields) == len(t.Fields) {
		return l
	}
	l := &jsonLayout{reg: reg, fields: make([]jsonField, len(t.Fields)), fast: true}
	var b []byte
	longest := 0
	for i, f := range t.Fields {
		start := len(b)
		if i > 0 {
			b = append(b, ',')
		}
		v := Value{Field: f, Info: r.lookup(i, f)}
		b = appendValueName(b, &v, repeats(t, i))
		b = append(b, ':')
		keyLen := len(b) - start
		longest = max(longest, keyLen)
		jf := jsonField{keyStart: uint32(start), keyEnd: uint32(len(b)), length: f.Length,
			typ: v.Info.Type, op: jsonOpOf(v.Info.Type, f.Length), off: uint16(l.recordLen)}
		copy(jf.key[:], b[start:])
		if i < len(t.Fields)-1 { // the last value is written exactly
			jf.reuse = reuseSlotOf(f.PEN, f.ID, jf.op)
		}
		jf.keyLen = uint8(min(keyLen, 255))
		jf.fop = fixedOpOf(jf.op, f.Length, jf.reuse)
		if jf.op < opU8 || keyLen > len(jf.key) || f.Length == VariableLength {
			l.fast = false
		} else {
			l.recordLen += int(f.Length)
			l.recordRoom += keyLen + jsonValueRoom
		}
		l.fields[i] = jf
	}
	// A copied text's extra bytes (up to 32 - 4) must not reach past what
	// the last field, '}' and jsonScratch cover: no copy right before a
	// last field of a short key.
	if last := len(l.fields) - 1; last > 0 && l.fields[last].keyLen < minKeyAfterCopy {
		jf := &l.fields[last-1]
		jf.reuse = 0
		jf.fop = fixedOpOf(jf.op, jf.length, 0)
	}
	l.keys = b
	l.room = longest + jsonValueRoom
	// '{', '}', and the window of the last field (fieldWindow) at most
	// a field's room before the end.
	l.recordRoom += 2 + fieldWindow
	// A template decoded with another registry keeps the first layout;
	// this one is used once.
	t.json.CompareAndSwap(nil, l)
	return l
}
