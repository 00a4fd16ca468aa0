package netflow

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPEN is the enterprise number of the test registry's elements, which
// give the abstract types that no IANA element has (signed8, signed16,
// signed64, float32).
const testPEN = 32473 // RFC 5612's documentation PEN

var jsonTestRegistry = NewRegistry(
	InfoElement{PEN: testPEN, ID: 1, Name: "testSigned8", Type: TypeSigned8},
	InfoElement{PEN: testPEN, ID: 2, Name: "testSigned16", Type: TypeSigned16},
	InfoElement{PEN: testPEN, ID: 3, Name: "testSigned64", Type: TypeSigned64},
	InfoElement{PEN: testPEN, ID: 4, Name: "testFloat32", Type: TypeFloat32},
	InfoElement{PEN: testPEN, ID: 5, Name: `quote"<name>`, Type: TypeUnsigned8},
)

// typedValue is one field of a test record and the JSON RFC 7012 says it
// carries.
type typedValue struct {
	field tmplField
	raw   []byte
	want  string
}

func u64(n uint64, size int) []byte {
	b := binary.BigEndian.AppendUint64(nil, n)
	return b[8-size:]
}

func f64(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }
func f32(f float32) []byte { return binary.BigEndian.AppendUint32(nil, math.Float32bits(f)) }

// ntp is an NTP timestamp (RFC 5905): seconds since 1900 and a 32-bit
// binary fraction.
func ntp(unix int64, frac uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(unix+2208988800))
	return binary.BigEndian.AppendUint32(b, frac)
}

// varLen prefixes b with its RFC 7011 section 7 variable-length header.
func varLen(b []byte) []byte {
	if len(b) < 255 {
		return append([]byte{byte(len(b))}, b...)
	}
	return append([]byte{255, byte(len(b) >> 8), byte(len(b))}, b...)
}

// 2024-01-01T00:00:00Z in Unix seconds.
const jan2024 = 1704067200

var typedValues = []typedValue{
	// unsigned8..64, reduced-size encodings of unsigned64 (RFC 7011 6.2).
	{tmplField{4, 1, 0}, []byte{6}, `6`},
	{tmplField{7, 2, 0}, u64(443, 2), `443`},
	{tmplField{10, 4, 0}, u64(4294967295, 4), `4294967295`},
	{tmplField{1, 8, 0}, u64(math.MaxUint64, 8), `18446744073709551615`},
	{tmplField{1, 4, 0}, u64(1684, 4), `1684`},
	{tmplField{1, 2, 0}, u64(1684, 2), `1684`},
	{tmplField{2, 1, 0}, []byte{3}, `3`},
	// signed8..64, sign-extended when reduced.
	{tmplField{1, 1, testPEN}, []byte{0x80}, `-128`},
	{tmplField{2, 2, testPEN}, u64(0xfffe, 2), `-2`},
	{tmplField{434, 4, 0}, u64(0xfffffffd, 4), `-3`},
	{tmplField{434, 1, 0}, []byte{0xff}, `-1`},
	{tmplField{434, 2, 0}, u64(0x7fff, 2), `32767`},
	{tmplField{3, 8, testPEN}, u64(1<<63, 8), `-9223372036854775808`},
	// float32, float64 (and float64 reduced to 4 bytes); non-finite: null.
	{tmplField{4, 4, testPEN}, f32(0.1), `0.1`},
	{tmplField{311, 8, 0}, f64(0.25), `0.25`},
	{tmplField{311, 8, 0}, f64(1e21), `1e+21`},
	{tmplField{311, 4, 0}, f32(-1.5), `-1.5`},
	{tmplField{311, 8, 0}, f64(math.NaN()), `null`},
	{tmplField{311, 8, 0}, f64(math.Inf(1)), `null`},
	{tmplField{311, 4, 0}, f32(float32(math.Inf(-1))), `null`},
	{tmplField{311, 2, 0}, []byte{1, 2}, `"0102"`}, // no float has 2 bytes
	// boolean: 1 true, 2 false, anything else is not a boolean.
	{tmplField{276, 1, 0}, []byte{1}, `true`},
	{tmplField{276, 1, 0}, []byte{2}, `false`},
	{tmplField{276, 1, 0}, []byte{0}, `"00"`},
	{tmplField{276, 1, 0}, []byte{3}, `"03"`},
	// macAddress, addresses.
	{tmplField{56, 6, 0}, []byte{0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e}, `"00:1b:21:3c:4d:5e"`},
	{tmplField{56, 5, 0}, []byte{1, 2, 3, 4, 5}, `"0102030405"`},
	{tmplField{8, 4, 0}, []byte{192, 0, 2, 1}, `"192.0.2.1"`},
	{tmplField{8, 3, 0}, []byte{192, 0, 2}, `"c00002"`},
	{tmplField{27, 16, 0}, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, `"2001:db8::1"`},
	// dateTime*: seconds, milliseconds, and NTP-format micro/nanoseconds
	// (RFC 7011 6.1.7-6.1.9).
	{tmplField{150, 4, 0}, u64(jan2024, 4), `"2024-01-01T00:00:00.000000000Z"`},
	{tmplField{152, 8, 0}, u64(jan2024*1000+123, 8), `"2024-01-01T00:00:00.123000000Z"`},
	{tmplField{154, 8, 0}, ntp(jan2024, 0x80000000), `"2024-01-01T00:00:00.500000000Z"`},
	{tmplField{156, 8, 0}, ntp(jan2024+61, 0x40000000), `"2024-01-01T00:01:01.250000000Z"`},
	// Value.Time takes no time before 1970 (NTP era 0 starts in 1900): hex.
	{tmplField{156, 8, 0}, ntp(-2208988800, 0), `"0000000000000000"`},
	{tmplField{156, 8, 0}, ntp(0, 0), `"1970-01-01T00:00:00.000000000Z"`},
	{tmplField{156, 4, 0}, []byte{1, 2, 3, 4}, `"01020304"`},
	// string: NUL padding dropped, escapes, invalid UTF-8.
	{tmplField{82, 6, 0}, []byte("eth0\x00\x00"), `"eth0"`},
	{tmplField{82, VariableLength, 0}, varLen([]byte("a\"b\\c\n<&>\x01")), `"a\"b\\c\n\u003c\u0026\u003e\u0001"`},
	{tmplField{82, VariableLength, 0}, varLen([]byte("é\xff✓")), `"é\ufffd✓"`},
	{tmplField{82, VariableLength, 0}, varLen(nil), `""`},
	// octetArray, unsigned256, unknown elements: hex.
	{tmplField{313, VariableLength, 0}, varLen([]byte{0x45, 0, 0, 0x54}), `"45000054"`},
	{tmplField{520, 32, 0}, append(make([]byte, 31), 0x81), `"` + strings.Repeat("00", 31) + `81"`},
	{tmplField{7, 2, 9999}, []byte{0xab, 0xcd}, `"abcd"`},
	{tmplField{5, 1, testPEN}, []byte{9}, `9`},
}

// decodeOneRecord decodes an IPFIX message with a template of fields and
// one data record, and returns the record.
func decodeOneRecord(t *testing.T, fields []tmplField, data []byte) *Record {
	t.Helper()
	msg := ipfixMessage(1, 0, set(2, templateRecord(300, fields...), false), set(300, data, false))
	p, err := NewDecoder(Config{Registry: jsonTestRegistry}).Decode(testExporter, msg)
	require.NoError(t, err)
	s := packetSets(t, p)
	require.Len(t, s.DataSets, 1)
	require.Len(t, s.DataSets[0].Records, 1)
	return &s.DataSets[0].Records[0]
}

// TestValueJSONTypes checks the JSON of every RFC 7012 abstract type, one
// field at a time and all in one record.
func TestValueJSONTypes(t *testing.T) {
	var fields []tmplField
	var data []byte
	for _, c := range typedValues {
		rec := decodeOneRecord(t, []tmplField{c.field}, c.raw)
		var got []byte
		for v := range rec.All() {
			got = v.AppendJSON(got)
		}
		require.Equal(t, c.want, string(got), "field %+v, raw %x", c.field, c.raw)
		require.True(t, json.Valid(got))
		fields = append(fields, c.field)
		data = append(data, c.raw...)
	}
	rec := decodeOneRecord(t, fields, data)
	obj := rec.AppendFieldsJSON(nil)
	require.True(t, json.Valid(obj), "%s", obj)
	// Keys: registry names, "PEN.ID" for the unknown element, and "#N" for
	// an element that comes again.
	s := string(obj)
	for _, key := range []string{`{"protocolIdentifier":6,`, `"octetDeltaCount":18446744073709551615,`,
		`"octetDeltaCount#2":1684,`, `"octetDeltaCount#3":1684,`, `"testSigned8":-128,`,
		`"9999.7":"abcd"`, `"quote\"\u003cname\u003e":9}`, `"flowStartNanoseconds#4":"01020304"`} {
		require.Contains(t, s, key)
	}
	var keys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &keys))
	require.Len(t, keys, len(typedValues), "one key per field")
}

// TestListsJSON checks RFC 6313 lists: a basicList as an array of values,
// template lists as arrays of objects.
func TestListsJSON(t *testing.T) {
	inner := []tmplField{{7, 2, 0}, {4, 1, 0}}                 // sourceTransportPort, protocolIdentifier
	basic := []byte{3, 0, 8, 0, 4, 192, 0, 2, 1, 192, 0, 2, 2} // allOf, sourceIPv4Address x2
	stl := []byte{4, 1, 45, 0, 80, 6, 0, 53, 17}               // ordered, template 301
	stml := []byte{2, 1, 45, 0, 7, 1, 187, 6}                  // oneOrMoreOf, template 301, one record
	emptyList := []byte{0, 0, 8, 0, 4}                         // noneOf, no values
	badList := []byte{3, 1, 99, 0, 1}                          // unknown template 355
	outer := []tmplField{{291, VariableLength, 0}, {292, VariableLength, 0}, {293, VariableLength, 0},
		{291, VariableLength, 0}, {292, VariableLength, 0}}
	var data []byte
	for _, l := range [][]byte{basic, stl, stml, emptyList, badList} {
		data = append(data, varLen(l)...)
	}
	msg := ipfixMessage(1, 0,
		set(2, append(templateRecord(301, inner...), templateRecord(300, outer...)...), false),
		set(300, data, false))
	p, err := NewDecoder(Config{}).Decode(testExporter, msg)
	require.NoError(t, err)
	rec := &packetSets(t, p).DataSets[0].Records[0]
	got := string(rec.AppendFieldsJSON(nil))
	want := `{"basicList":["192.0.2.1","192.0.2.2"],` +
		`"subTemplateList":[{"sourceTransportPort":80,"protocolIdentifier":6},{"sourceTransportPort":53,"protocolIdentifier":17}],` +
		`"subTemplateMultiList":[{"sourceTransportPort":443,"protocolIdentifier":6}],` +
		`"basicList#2":[],"subTemplateList#2":"0301630001"}`
	require.Equal(t, want, got)
}

// TestFieldsJSONAllocs: no allocation once dst has room.
func TestFieldsJSONAllocs(t *testing.T) {
	var fields []tmplField
	var data []byte
	for _, c := range typedValues {
		fields = append(fields, c.field)
		data = append(data, c.raw...)
	}
	rec := decodeOneRecord(t, fields, data)
	buf := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() { buf = rec.AppendFieldsJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendFieldsJSON: %v allocations", n)
	}
}

// TestFieldsJSONOddRecords: no template, data shorter than the template,
// a template whose fields changed after a record was encoded.
func TestFieldsJSONOddRecords(t *testing.T) {
	require.Equal(t, `{}`, string((&Record{}).AppendFieldsJSON(nil)))
	tmpl, err := NewTemplate(10, 256, false, 0, []TemplateField{{ID: 4, Length: 1}, {ID: 7, Length: 2}})
	require.NoError(t, err)
	require.Equal(t, `{"protocolIdentifier":6}`, string((&Record{Template: tmpl, Data: []byte{6, 1}}).AppendFieldsJSON(nil)))
	tmpl.Fields = append(tmpl.Fields, TemplateField{ID: 8, Length: 4})
	got := (&Record{Template: tmpl, Data: []byte{6, 0, 80, 192, 0, 2, 1}}).AppendFieldsJSON(nil)
	require.Equal(t, `{"protocolIdentifier":6,"sourceTransportPort":80,"sourceIPv4Address":"192.0.2.1"}`, string(got))
}
