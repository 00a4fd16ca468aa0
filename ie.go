package netflow

import (
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run ./internal/cmd/ianagen

// DataType is an IPFIX abstract data type (RFC 7012, section 3.1, and IANA's
// "IPFIX Information Element Data Types" registry). The constant values are
// this package's own: each is the IANA data type code plus one, so that the
// zero value is TypeUnknown.
type DataType uint8

// The abstract data types. TypeUnknown is used for elements whose type is
// not known, such as unknown enterprise-specific elements.
const (
	TypeUnknown              DataType = iota // type not known
	TypeOctetArray                           // octetArray
	TypeUnsigned8                            // unsigned8
	TypeUnsigned16                           // unsigned16
	TypeUnsigned32                           // unsigned32
	TypeUnsigned64                           // unsigned64
	TypeSigned8                              // signed8
	TypeSigned16                             // signed16
	TypeSigned32                             // signed32
	TypeSigned64                             // signed64
	TypeFloat32                              // float32
	TypeFloat64                              // float64
	TypeBoolean                              // boolean
	TypeMACAddress                           // macAddress
	TypeString                               // string
	TypeDateTimeSeconds                      // dateTimeSeconds
	TypeDateTimeMilliseconds                 // dateTimeMilliseconds
	TypeDateTimeMicroseconds                 // dateTimeMicroseconds
	TypeDateTimeNanoseconds                  // dateTimeNanoseconds
	TypeIPv4Address                          // ipv4Address
	TypeIPv6Address                          // ipv6Address
	TypeBasicList                            // basicList (RFC 6313)
	TypeSubTemplateList                      // subTemplateList (RFC 6313)
	TypeSubTemplateMultiList                 // subTemplateMultiList (RFC 6313)
	TypeUnsigned256                          // unsigned256 (RFC 9740), a 32-octet bit field
)

var dataTypeNames = [...]string{
	TypeUnknown:              "unknown",
	TypeOctetArray:           "octetArray",
	TypeUnsigned8:            "unsigned8",
	TypeUnsigned16:           "unsigned16",
	TypeUnsigned32:           "unsigned32",
	TypeUnsigned64:           "unsigned64",
	TypeSigned8:              "signed8",
	TypeSigned16:             "signed16",
	TypeSigned32:             "signed32",
	TypeSigned64:             "signed64",
	TypeFloat32:              "float32",
	TypeFloat64:              "float64",
	TypeBoolean:              "boolean",
	TypeMACAddress:           "macAddress",
	TypeString:               "string",
	TypeDateTimeSeconds:      "dateTimeSeconds",
	TypeDateTimeMilliseconds: "dateTimeMilliseconds",
	TypeDateTimeMicroseconds: "dateTimeMicroseconds",
	TypeDateTimeNanoseconds:  "dateTimeNanoseconds",
	TypeIPv4Address:          "ipv4Address",
	TypeIPv6Address:          "ipv6Address",
	TypeBasicList:            "basicList",
	TypeSubTemplateList:      "subTemplateList",
	TypeSubTemplateMultiList: "subTemplateMultiList",
	TypeUnsigned256:          "unsigned256",
}

// String returns the IANA spelling of the data type ("unsigned32",
// "ipv4Address", ...), "unknown" for TypeUnknown, and "DataType(n)" for a
// value that is not one of the constants.
func (t DataType) String() string {
	if int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return "DataType(" + strconv.Itoa(int(t)) + ")"
}

// Semantics is the data type semantics of an information element (RFC 7012,
// section 3.2, and IANA's "IPFIX Information Element Semantics" registry).
// The constant values equal the IANA codes.
type Semantics uint8

// The data type semantics. SemanticsDefault also stands for elements whose
// registry entry gives no semantics.
const (
	SemanticsDefault      Semantics = iota // default
	SemanticsQuantity                      // quantity
	SemanticsTotalCounter                  // totalCounter
	SemanticsDeltaCounter                  // deltaCounter
	SemanticsIdentifier                    // identifier
	SemanticsFlags                         // flags
	SemanticsList                          // list (RFC 6313)
	SemanticsSNMPCounter                   // snmpCounter (RFC 8038)
	SemanticsSNMPGauge                     // snmpGauge (RFC 8038)
)

var semanticsNames = [...]string{
	SemanticsDefault:      "default",
	SemanticsQuantity:     "quantity",
	SemanticsTotalCounter: "totalCounter",
	SemanticsDeltaCounter: "deltaCounter",
	SemanticsIdentifier:   "identifier",
	SemanticsFlags:        "flags",
	SemanticsList:         "list",
	SemanticsSNMPCounter:  "snmpCounter",
	SemanticsSNMPGauge:    "snmpGauge",
}

// String returns the IANA spelling of the semantics ("deltaCounter", ...),
// or "Semantics(n)" for a value that is not one of the constants.
func (s Semantics) String() string {
	if int(s) < len(semanticsNames) {
		return semanticsNames[s]
	}
	return "Semantics(" + strconv.Itoa(int(s)) + ")"
}

// ReversePEN is the private enterprise number of RFC 5103 reverse
// information elements: the element (ReversePEN, id) is the reverse-direction
// counterpart of IANA element id in a biflow record.
const ReversePEN uint32 = 29305

// InfoElement describes an information element (an IPFIX field, or a
// NetFlow v9 field type).
type InfoElement struct {
	ID        uint16    // element ID, without the enterprise bit
	PEN       uint32    // private enterprise number; 0 for IANA elements and NetFlow v9 field types
	Name      string    // e.g. "octetDeltaCount"; NetFlow v9-only field types use their v9 name
	Type      DataType  // abstract data type
	Semantics Semantics // data type semantics
	Units     string    // IANA units ("octets", "milliseconds", ...), or ""
}

// LookupIANA returns the IANA information element with the given ID
// (enterprise number 0), from the table generated from IANA's registry. It
// reports false for reserved and unassigned IDs.
func LookupIANA(id uint16) (InfoElement, bool) {
	if int(id) < len(ianaElements) {
		if e := &ianaElements[id]; e.Name != "" {
			return *e, true
		}
	}
	return InfoElement{}, false
}

// reverseIANA returns the RFC 5103 reverse counterparts of the IANA
// elements, indexed like ianaElements, built once on first use so that
// lookups do not allocate.
var reverseIANA = sync.OnceValue(func() *[len(ianaElements)]InfoElement {
	const prefix = "reverse"
	size := 0
	for i := range ianaElements {
		if n := len(ianaElements[i].Name); n > 0 {
			size += len(prefix) + n
		}
	}
	// All names share one backing string.
	var b strings.Builder
	b.Grow(size)
	var ends [len(ianaElements)]int32
	for i := range ianaElements {
		if name := ianaElements[i].Name; name != "" {
			b.WriteString(prefix)
			b.WriteString(upperFirst(name))
		}
		ends[i] = int32(b.Len())
	}
	all := b.String()
	t := new([len(ianaElements)]InfoElement)
	start := int32(0)
	for i := range ianaElements {
		if ianaElements[i].Name != "" {
			t[i] = ianaElements[i]
			t[i].PEN = ReversePEN
			t[i].Name = all[start:ends[i]]
		}
		start = ends[i]
	}
	return t
})

// upperFirst returns s with its first byte in upper case (IANA names are
// ASCII).
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// lookupReverse returns the RFC 5103 reverse element of IANA element id.
func lookupReverse(id uint16) (InfoElement, bool) {
	if int(id) < len(ianaElements) && ianaElements[id].Name != "" {
		return reverseIANA()[id], true
	}
	return InfoElement{}, false
}

// Registry resolves (enterprise number, element ID) pairs to information
// elements. It combines the IANA table, the caller's own elements, the
// built-in enterprise-specific elements of common exporters (Barracuda,
// Citrix NetScaler, CERT YAF, Ixia, Nokia, nProbe, Procera, Viptela, VMware)
// and the RFC 5103 reverse elements.
//
// A Registry is immutable once made and safe for concurrent use. A nil
// *Registry is valid and resolves like NewRegistry() with no extra elements.
type Registry struct {
	extra []InfoElement // sorted by (PEN, ID), one element per pair
}

// NewRegistry returns a registry that knows, besides the built-in elements,
// the given extra elements (typically enterprise-specific ones). When extra
// holds several elements of the same (PEN, ID), the last one wins. The
// slice is copied.
//
// Extra elements do not replace IANA elements (PEN 0 IDs assigned by IANA
// always resolve to IANA's definition), but they do take precedence over
// the built-in enterprise elements and the RFC 5103 reverse elements.
func NewRegistry(extra ...InfoElement) *Registry {
	r := &Registry{extra: slices.Clone(extra)}
	slices.SortStableFunc(r.extra, compareElements)
	// Keep the last of each run of equal keys.
	out := r.extra[:0]
	for i, e := range r.extra {
		if i+1 < len(r.extra) && compareElements(e, r.extra[i+1]) == 0 {
			continue
		}
		out = append(out, e)
	}
	r.extra = slices.Clip(out)
	return r
}

// Lookup returns the information element with enterprise number pen and
// element ID id (without the enterprise bit). It tries, in order: the IANA
// table (pen 0); the registry's extra elements; the built-in enterprise
// elements; and for pen ReversePEN (29305) the RFC 5103 reverse of the IANA
// element of the same ID, named "reverse" + the IANA name with its first
// letter in upper case (e.g. reverseOctetDeltaCount). It reports false when
// none knows the element. Lookup does not allocate.
func (r *Registry) Lookup(pen uint32, id uint16) (InfoElement, bool) {
	if pen == 0 {
		if e, ok := LookupIANA(id); ok {
			return e, true
		}
	}
	if r != nil {
		if e, ok := searchElements(r.extra, pen, id); ok {
			return e, true
		}
	}
	if e, ok := searchElements(vendorElements, pen, id); ok {
		return e, true
	}
	if pen == ReversePEN {
		return lookupReverse(id)
	}
	return InfoElement{}, false
}

// LookupV9 returns the element for a NetFlow v9 field type. Field types that
// IANA assigned (1-127 share their IDs with NetFlow v9, and exporters also
// send IPFIX IDs above 127 in v9 templates) resolve to the IANA element; use
// V9Name for the RFC 3954 spelling of types 1-127. Vendor field types that
// only exist in NetFlow v9 (Cisco ASA NSEL 33000-33002 and 40000-40005,
// Palo Alto 56701-56702, nProbe 57590-57591, Streamcore 8192-8393) resolve
// to built-in elements named after the vendor's field name, with PEN 0.
// Unknown field types report false.
func LookupV9(id uint16) (InfoElement, bool) {
	if e, ok := LookupIANA(id); ok {
		return e, true
	}
	return searchElements(v9Elements, 0, id)
}

// V9Name returns the NetFlow v9 name of a field type: the RFC 3954
// (section 8) name for types 1-79 (IN_BYTES, IN_PKTS, ..., MPLS_LABEL_10),
// Cisco's name for types 80-96 (IN_DST_MAC, ..., APPLICATION_NAME), and the
// vendor name of the v9-only types LookupV9 knows (e.g. NF_F_INGRESS_ACL_ID).
// It returns "" for other types, including IANA elements above 127 that
// have no v9-specific name; use LookupV9 for those.
func V9Name(id uint16) string {
	if int(id) < len(v9Names) {
		return v9Names[id]
	}
	if e, ok := searchElements(v9Elements, 0, id); ok {
		return e.Name
	}
	return ""
}

// compareElements orders elements by (PEN, ID).
func compareElements(a, b InfoElement) int {
	switch {
	case a.PEN < b.PEN:
		return -1
	case a.PEN > b.PEN:
		return 1
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// searchElements binary-searches s, sorted by (PEN, ID), for (pen, id).
func searchElements(s []InfoElement, pen uint32, id uint16) (InfoElement, bool) {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		e := &s[m]
		if e.PEN < pen || e.PEN == pen && e.ID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s) && s[lo].PEN == pen && s[lo].ID == id {
		return s[lo], true
	}
	return InfoElement{}, false
}
