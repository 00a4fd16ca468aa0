package netflow

// Hostile IPFIX messages: bad sets, templates, variable-length fields and
// withdrawals next to a valid part (goodIPFIXTmpl, goodIPFIXData).

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostileIPFIX(t *testing.T) {
	const hdr = 16
	tl := len(goodIPFIXTmpl)
	varTmpl := set(2, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, VariableLength, 0}), false)
	vl := len(varTmpl)
	setLen := func(b []byte, n int) []byte { be.PutUint16(b[2:], uint16(n)); return b }
	cases := []struct {
		name   string
		data   []byte
		want   error
		offset int
		total  int
	}{
		{
			name:   "variable-length field runs past the set",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, varTmpl, set(301, []byte{6, 200, 'e', 't', 'h'}, false), goodIPFIXData),
			want:   ErrTruncated,
			offset: hdr + tl + vl + 4,
		},
		{
			name: "3-byte length runs past the set",
			data: ipfixMessage(1, 0, goodIPFIXTmpl, varTmpl,
				set(301, []byte{6, 3, 'e', 't', 'h', 17, 255, 1, 0, 'x'}, false), goodIPFIXData),
			want:   ErrTruncated,
			offset: hdr + tl + vl + 4 + 5,
			total:  3,
		},
		{
			name:   "message length below 16",
			data:   setLen(ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData), 15),
			want:   ErrMalformed,
			offset: 2,
		},
		{
			name:   "message length 0",
			data:   setLen(ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData), 0),
			want:   ErrMalformed,
			offset: 2,
		},
		{
			name: "message length beyond the buffer",
			data: func() []byte {
				m := ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData)
				return setLen(m, len(m)+1)
			}(),
			want:   ErrTruncated,
			offset: 2,
		},
		{
			name:   "set length beyond the message",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData, []byte{1, 44, 0, 100, 1, 2, 3, 4}),
			want:   ErrTruncated,
			offset: hdr + tl + len(goodIPFIXData),
		},
		{
			name: "enterprise field cut short",
			data: ipfixMessage(1, 0, goodIPFIXTmpl, goodIPFIXData,
				set(2, []byte{1, 45, 0, 1, 0x80, 1, 0, 4, 0, 0}, false)),
			want:   ErrTruncated,
			offset: hdr + tl + len(goodIPFIXData) + 4 + 4,
		},
		{
			name:   "withdrawal of a reserved ID",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, set(2, []byte{0, 100, 0, 0}, false), goodIPFIXData),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
		{
			name:   "options template with scope count above field count",
			data:   ipfixMessage(1, 0, goodIPFIXTmpl, set(3, ipfixOptionsTemplate(301, 3, tmplField{149, 4, 0}), false), goodIPFIXData),
			want:   ErrMalformed,
			offset: hdr + tl + 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := decodeGuarded(t, NewDecoder(Config{}), c.data)
			requireDecodeError(t, err, c.want, 10, c.offset)
			if c.offset == 2 {
				require.Nil(t, p, "a header error gives no packet")
				return
			}
			requireGoodFlows(t, p, max(c.total, 2))
		})
	}
}

// TestIPFIXThreeByteLengthBelow255: RFC 7011 section 7 lets an exporter use
// the 3-byte length form for lengths below 255. Accepted.
func TestIPFIXThreeByteLengthBelow255(t *testing.T) {
	tmpl := set(2, templateRecord(301, tmplField{4, 1, 0}, tmplField{82, VariableLength, 0}, tmplField{7, 2, 0}), false)
	data := ipfixMessage(1, 0, tmpl, set(301, []byte{
		6, 255, 0, 4, 'e', 't', 'h', '0', 0x1f, 0x90, // 3-byte form, length 4
		17, 3, 'l', 'o', '0', 0, 53, // 1-byte form
		1, 255, 0, 0, 0, 7, // 3-byte form, length 0
	}, false))
	p, err := decodeGuarded(t, NewDecoder(Config{}), data)
	require.NoError(t, err)
	v10 := p.(*IPFIXPacket)
	require.Len(t, v10.DataSets, 1)
	recs := v10.DataSets[0].Records
	require.Len(t, recs, 3)
	names := []string{"eth0", "lo0", ""}
	ports := []uint16{8080, 53, 7}
	for i, r := range recs {
		v, ok := r.Lookup(82)
		require.True(t, ok)
		require.Equal(t, names[i], v.Text())
		require.Equal(t, "interfaceName", v.Name())
	}
	for i, f := range p.AppendFlows(nil) {
		require.Equal(t, ports[i], f.SrcPort)
	}
}

// goflow2Hang is the 32-byte message that makes a popular Go decoder loop
// forever: a template set withdrawing templates 0x3030 and 256 (field
// count 0), then a set for template 256.
const goflow2Hang = "\x00\n00000000000000\x00\x02\x00\f00\x00\x00\x01\x00\x00\x00\x01\x0000"

func TestIPFIXWithdrawalHang(t *testing.T) {
	data := []byte(goflow2Hang)
	require.Len(t, data, 32)
	// As is: its message length (0x3030) is beyond the 32 bytes.
	p, err := decodeGuarded(t, NewDecoder(Config{}), data)
	requireDecodeError(t, err, ErrTruncated, 10, 2)
	require.Nil(t, p)

	// With its length set to 32 the sets are walked: two withdrawals, then
	// a set whose length runs past the message.
	fixed := append([]byte(nil), data...)
	be.PutUint16(fixed[2:], 32)
	p, err = decodeGuarded(t, NewDecoder(Config{}), fixed)
	requireDecodeError(t, err, ErrTruncated, 10, 28)
	require.Equal(t, []uint16{0x3030, 256}, p.(*IPFIXPacket).Withdrawn)

	// Withdrawal followed by data for that ID in the same message, and in
	// the next one: no hang, the data waits for a template.
	d := NewDecoder(Config{})
	_, err = d.Decode(testExporter, ipfixMessage(1, 0, goodIPFIXTmpl))
	require.NoError(t, err)
	msg := ipfixMessage(1, 1, set(2, []byte{1, 44, 0, 0}, false), goodIPFIXData)
	p, err = decodeGuarded(t, d, msg)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, 1, p.(*IPFIXPacket).Pending)
	p, err = decodeGuarded(t, d, ipfixMessage(1, 2, goodIPFIXData))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	// Without pending data the set is an error.
	d = NewDecoder(Config{DisablePending: true})
	_, err = d.Decode(testExporter, ipfixMessage(1, 0, goodIPFIXTmpl))
	require.NoError(t, err)
	p, err = decodeGuarded(t, d, msg)
	requireDecodeError(t, err, ErrTemplateNotFound, 10, 16+8+4)
	require.Zero(t, p.FlowCount())
	// Many withdrawals in one set: each one advances.
	many := bytes.Repeat([]byte{1, 44, 0, 0}, 16000)
	_, err = decodeGuarded(t, d, ipfixMessage(1, 3, set(2, many, false)))
	require.NoError(t, err)
}

// TestIPFIXWithdrawAll: template ID 2 with field count 0 in a template set
// withdraws every data template of the domain, and nothing else.
func TestIPFIXWithdrawAll(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: store})
	other := netip.MustParseAddrPort("198.51.100.9:4739")
	define := ipfixMessage(1, 0,
		set(2, append(templateRecord(256, goodFields...), templateRecord(257, tmplField{7, 2, 0})...), false),
		set(3, ipfixOptionsTemplate(258, 1, tmplField{149, 4, 0}, tmplField{34, 4, 0}), false))
	_, err := d.Decode(testExporter, define)
	require.NoError(t, err)
	_, err = d.Decode(other, define)
	require.NoError(t, err)
	_, err = d.Decode(testExporter, ipfixMessage(2, 0, set(2, templateRecord(256, goodFields...), false)))
	require.NoError(t, err)
	require.Equal(t, 7, store.Stats().Templates)

	p, err := decodeGuarded(t, d, ipfixMessage(1, 1, set(2, []byte{0, 2, 0, 0}, false)))
	require.NoError(t, err)
	require.Equal(t, []uint16{2}, p.(*IPFIXPacket).Withdrawn)

	key := func(e netip.AddrPort, domain uint32, id uint16) TemplateKey {
		return TemplateKey{Exporter: e, Version: 10, Domain: domain, ID: id}
	}
	for _, k := range []TemplateKey{key(testExporter, 1, 256), key(testExporter, 1, 257)} {
		_, err := store.Template(k)
		require.ErrorIs(t, err, ErrTemplateNotFound, "%+v", k)
	}
	for _, k := range []TemplateKey{key(testExporter, 1, 258), key(testExporter, 2, 256), key(other, 1, 256), key(other, 1, 257), key(other, 1, 258)} {
		_, err := store.Template(k)
		require.NoError(t, err, "%+v", k)
	}
	st := store.Stats()
	require.EqualValues(t, 2, st.Withdrawn)
	require.Equal(t, 5, st.Templates)

	// Options template ID 3 in an options template set withdraws the
	// options templates.
	_, err = d.Decode(testExporter, ipfixMessage(1, 2, set(3, []byte{0, 3, 0, 0}, false)))
	require.NoError(t, err)
	_, err = store.Template(key(testExporter, 1, 258))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	_, err = store.Template(key(testExporter, 2, 256))
	require.NoError(t, err)
}

// TestHostileFixtures: real v5 datagrams whose header count (55582, 163)
// is more than their 1464 bytes hold (30 records): rejected, no packet,
// no phantom records.
