package netflow

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stlMessage returns an IPFIX message defining template 300, one
// variable-length subTemplateList (IE 292), and a record whose list names
// template listID and holds content.
func stlMessage(listID uint16, content []byte) []byte {
	value := append([]byte{3}, be.AppendUint16(nil, listID)...) // allOf, template ID
	value = append(value, content...)
	rec := append([]byte{byte(len(value))}, value...)
	return ipfixMessage(1, 1,
		set(2, templateRecord(300, tmplField{id: 292, length: VariableLength}), false),
		set(300, rec, false))
}

// TestSubTemplateListUnknownOrSelf: a subTemplateList naming an unknown
// template is ErrTemplateNotFound; one naming its own template decodes
// level by level, each strictly inside the last, and stops at the depth
// limit.
func TestSubTemplateListUnknownOrSelf(t *testing.T) {
	d := NewDecoder(Config{})
	p, err := d.Decode(testExporter, stlMessage(999, []byte{1, 2, 3, 4}))
	require.NoError(t, err)
	rec := &p.(*IPFIXPacket).DataSets[0].Records[0]
	v, ok := rec.Lookup(292)
	require.True(t, ok)
	_, err = rec.List(v)
	require.ErrorIs(t, err, ErrTemplateNotFound)

	// Template 300 inside template 300, nested as deep as 200 bytes allow.
	inner := []byte{0}
	for range 40 {
		value := append([]byte{3}, be.AppendUint16(nil, 300)...)
		value = append(value, inner...)
		inner = append([]byte{byte(len(value))}, value...)
	}
	d = NewDecoder(Config{})
	p, err = d.Decode(testExporter, stlMessage(300, inner))
	require.NoError(t, err)
	rec = &p.(*IPFIXPacket).DataSets[0].Records[0]
	depth := 0
	withWatchdog(t, time.Second, func() {
		for {
			v, ok := rec.Lookup(292)
			require.True(t, ok)
			l, err := rec.List(v)
			if err != nil {
				require.ErrorIs(t, err, ErrLimit)
				return
			}
			require.Len(t, l.Records, 1)
			require.Less(t, len(l.Records[0].Data), len(rec.Data))
			rec = &l.Records[0]
			depth++
		}
	})
	require.Equal(t, 4, depth, "the default MaxListDepth")
}

// TestValueTypes decodes one value of every RFC 7012 abstract type, with
// the encodings of RFC 7011 section 6.1 and the reduced sizes of 6.2.
func TestValueTypes(t *testing.T) {
	val := func(typ DataType, raw ...byte) Value { return Value{Info: InfoElement{Type: typ}, Raw: raw} }

	u, ok := val(TypeUnsigned64, 0x01, 0x02, 0x03).Uint() // reduced to 3 bytes
	require.True(t, ok)
	require.EqualValues(t, 0x010203, u)
	_, ok = val(TypeUnsigned64, make([]byte, 9)...).Uint()
	require.False(t, ok)

	for _, c := range []struct {
		raw  []byte
		want int64
	}{{[]byte{0xff}, -1}, {[]byte{0xff, 0xfe}, -2}, {[]byte{0x80, 0, 0}, -1 << 23}, {[]byte{0x7f, 0xff, 0xff, 0xff}, math.MaxInt32}} {
		n, ok := val(TypeSigned64, c.raw...).Int()
		require.True(t, ok)
		require.Equal(t, c.want, n, "% x", c.raw)
	}

	f, ok := val(TypeFloat32, 0x3f, 0xc0, 0, 0).Float()
	require.True(t, ok)
	require.Equal(t, 1.5, f)
	f, ok = val(TypeFloat64, 0xc0, 0x04, 0, 0, 0, 0, 0, 0).Float() // -2.5
	require.True(t, ok)
	require.Equal(t, -2.5, f)
	f, ok = val(TypeFloat64, 0x40, 0x20, 0, 0).Float() // float64 reduced to float32: 2.5
	require.True(t, ok)
	require.Equal(t, 2.5, f)

	b, ok := val(TypeBoolean, 1).Bool()
	require.True(t, ok && b)
	b, ok = val(TypeBoolean, 2).Bool()
	require.True(t, ok && !b)
	_, ok = val(TypeBoolean, 0).Bool() // neither true (1) nor false (2)
	require.False(t, ok)

	m, ok := val(TypeMACAddress, 0x00, 0x0c, 0x29, 0x70, 0x86, 0x09).MAC()
	require.True(t, ok)
	require.Equal(t, [6]byte{0x00, 0x0c, 0x29, 0x70, 0x86, 0x09}, m)
	require.Equal(t, "00:0c:29:70:86:09", val(TypeMACAddress, 0x00, 0x0c, 0x29, 0x70, 0x86, 0x09).String())

	require.Equal(t, "eth0", val(TypeString, 'e', 't', 'h', '0', 0, 0).String())
	require.Equal(t, "0a0b", val(TypeOctetArray, 0x0a, 0x0b).String())

	a, ok := val(TypeIPv4Address, 192, 0, 2, 1).Addr()
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddr("192.0.2.1"), a)
	a, ok = val(TypeIPv6Address, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1).Addr()
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddr("2001:db8::1"), a)

	tm, ok := val(TypeDateTimeSeconds, 0x65, 0x53, 0xf1, 0x00).Time() // 1700000000
	require.True(t, ok)
	require.Equal(t, time.Unix(1_700_000_000, 0).UTC(), tm)
	tm, ok = val(TypeDateTimeMilliseconds, be.AppendUint64(nil, 1_700_000_000_123)...).Time()
	require.True(t, ok)
	require.Equal(t, time.UnixMilli(1_700_000_000_123).UTC(), tm)

	// NTP format: seconds since 1900, then a binary fraction of a second.
	// 2208988801 s is 1970-01-01T00:00:01Z; fraction 0x80000000 is half a
	// second. For microseconds the low 11 bits of the fraction are
	// ignored (RFC 7011 section 6.1.9), for nanoseconds they count.
	ntp := be.AppendUint32(be.AppendUint32(nil, 2208988801), 0x80000000|0x7ff)
	tm, ok = val(TypeDateTimeMicroseconds, ntp...).Time()
	require.True(t, ok)
	require.Equal(t, time.Unix(1, 500_000_000).UTC(), tm)
	tm, ok = val(TypeDateTimeNanoseconds, ntp...).Time()
	require.True(t, ok)
	require.Equal(t, time.Unix(1, 500_000_476).UTC(), tm) // + 0x7ff/2^32 s = 476.6 ns
	require.Equal(t, "1970-01-01T00:00:01.5Z", val(TypeDateTimeMicroseconds, ntp...).String())
}
