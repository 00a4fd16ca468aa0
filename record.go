package netflow

import (
	"encoding/binary"
	"encoding/hex"
	"iter"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Record is one v9 or IPFIX data or options data record. Data aliases the
// datagram (or, for a set that waited for its template, a copy the decoder
// made).
type Record struct {
	Template *Template
	Data     []byte // the record's bytes
	set      *DataSet
	depth    uint8 // list nesting level: 0 for a record of a data set
}

// Value is one field of a record: its specifier, what the registry knows of
// it, and its raw bytes (aliasing the record).
type Value struct {
	Field TemplateField
	// Info is the element's registry entry: name, abstract type, semantics,
	// units. Info.Name is empty for an element no registry knows.
	Info InfoElement
	// Scope is true for the scope fields of an options record.
	Scope bool
	Raw   []byte
}

// All iterates over the record's values in template order.
func (r *Record) All() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		off := 0
		t := r.Template
		for i, f := range t.Fields {
			n := int(f.Length)
			if f.Length == VariableLength {
				m, hdr, ok := varLength(r.Data[off:])
				if !ok {
					return
				}
				off += hdr
				n = m
			}
			if off+n > len(r.Data) {
				return
			}
			v := Value{Field: f, Info: r.lookup(i, f), Scope: i < t.ScopeCount, Raw: r.Data[off : off+n : off+n]}
			off += n
			if !yield(v) {
				return
			}
		}
	}
}

// AppendValues appends the record's values to dst, in template order.
func (r *Record) AppendValues(dst []Value) []Value {
	for v := range r.All() {
		dst = append(dst, v)
	}
	return dst
}

// Lookup returns the first value of IANA element (or v9 type) id.
func (r *Record) Lookup(id uint16) (Value, bool) {
	return r.LookupEnterprise(0, id)
}

// LookupEnterprise returns the first value of element (pen, id).
func (r *Record) LookupEnterprise(pen uint32, id uint16) (Value, bool) {
	i := 0
	for v := range r.All() {
		if v.Field.ID == id && v.Field.PEN == pen && r.Template.dialect.isElement(i, r.Template.ScopeCount) {
			return v, true
		}
		i++
	}
	return Value{}, false
}

func (r *Record) lookup(i int, f TemplateField) InfoElement {
	var reg *Registry
	if r.set != nil {
		reg = r.set.reg
	}
	return r.Template.dialect.info(reg, i, r.Template.ScopeCount, f)
}

// Name returns the element's name: the registry's, or "PEN.ID" / "ID" for an
// unknown element.
func (v Value) Name() string {
	if v.Info.Name != "" {
		return v.Info.Name
	}
	if v.Field.PEN != 0 {
		return strconv.FormatUint(uint64(v.Field.PEN), 10) + "." + strconv.Itoa(int(v.Field.ID))
	}
	return strconv.Itoa(int(v.Field.ID))
}

// Uint returns the value as an unsigned integer (reduced-size encoding
// included). ok is false if it is longer than 8 bytes or empty.
func (v Value) Uint() (n uint64, ok bool) {
	if len(v.Raw) == 0 || len(v.Raw) > 8 {
		return 0, false
	}
	return beUint(v.Raw), true
}

// Int returns the value as a signed integer, sign-extending a reduced-size
// encoding.
func (v Value) Int() (n int64, ok bool) {
	u, ok := v.Uint()
	if !ok {
		return 0, false
	}
	shift := 64 - 8*uint(len(v.Raw))
	return int64(u<<shift) >> shift, true
}

// Float returns a float32 or float64 value (an 8-byte float64 reduced to 4
// bytes is a float32 on the wire).
func (v Value) Float() (float64, bool) {
	switch len(v.Raw) {
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(v.Raw))), true
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(v.Raw)), true
	}
	return 0, false
}

// Bool returns an RFC 7011 boolean: 1 is true, 2 is false.
func (v Value) Bool() (b, ok bool) {
	if len(v.Raw) != 1 || (v.Raw[0] != 1 && v.Raw[0] != 2) {
		return false, false
	}
	return v.Raw[0] == 1, true
}

// Addr returns a 4-byte value as an IPv4 and a 16-byte one as an IPv6
// address.
func (v Value) Addr() (netip.Addr, bool) {
	switch len(v.Raw) {
	case 4, 16:
		return addrOf(v.Raw), true
	}
	return netip.Addr{}, false
}

// MAC returns a 6-byte value.
func (v Value) MAC() ([6]byte, bool) {
	if len(v.Raw) != 6 {
		return [6]byte{}, false
	}
	return [6]byte(v.Raw), true
}

// Time returns a dateTime value as UTC, by the element's abstract type:
// dateTimeSeconds, dateTimeMilliseconds, or the NTP-format
// dateTimeMicroseconds and dateTimeNanoseconds.
func (v Value) Time() (time.Time, bool) {
	switch v.Info.Type {
	case TypeDateTimeSeconds:
		if n, ok := v.Uint(); ok {
			return secondsTime(n)
		}
	case TypeDateTimeMilliseconds:
		if n, ok := v.Uint(); ok {
			return milliTime(n)
		}
	case TypeDateTimeMicroseconds, TypeDateTimeNanoseconds:
		if len(v.Raw) == 8 {
			return ntpTime(v.Raw, v.Info.Type == TypeDateTimeMicroseconds)
		}
	}
	return time.Time{}, false
}

// Text returns a string value with trailing NUL bytes removed (exporters
// pad fixed-length strings with them).
func (v Value) Text() string {
	b := v.Raw
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// String formats the value by its abstract type: numbers in decimal,
// addresses, MACs as aa:bb:.., times in RFC 3339, strings as text, and
// anything else (unknown elements, octet arrays, lists) as hex.
func (v Value) String() string {
	switch v.Info.Type {
	case TypeUnsigned8, TypeUnsigned16, TypeUnsigned32, TypeUnsigned64:
		if n, ok := v.Uint(); ok {
			return strconv.FormatUint(n, 10)
		}
	case TypeSigned8, TypeSigned16, TypeSigned32, TypeSigned64:
		if n, ok := v.Int(); ok {
			return strconv.FormatInt(n, 10)
		}
	case TypeFloat32, TypeFloat64:
		if f, ok := v.Float(); ok {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	case TypeBoolean:
		if b, ok := v.Bool(); ok {
			return strconv.FormatBool(b)
		}
	case TypeIPv4Address, TypeIPv6Address:
		if a, ok := v.Addr(); ok {
			return a.String()
		}
	case TypeMACAddress:
		if m, ok := v.MAC(); ok {
			return net.HardwareAddr(m[:]).String()
		}
	case TypeString:
		return v.Text()
	case TypeDateTimeSeconds, TypeDateTimeMilliseconds, TypeDateTimeMicroseconds, TypeDateTimeNanoseconds:
		if t, ok := v.Time(); ok {
			return t.Format(time.RFC3339Nano)
		}
	}
	return hex.EncodeToString(v.Raw)
}
