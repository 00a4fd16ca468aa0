package netflow

// Unit tests of the two set dialects (dialect.go, v9.go, ipfix.go), with
// the layouts of RFC 3954 (NetFlow v9) and RFC 7011 (IPFIX).

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialectOf(t *testing.T) {
	// RFC 3954 section 5.1: version 9, a 20-byte header; section 5.2/6.1:
	// template flowset 0, options template flowset 1. RFC 7011 section
	// 3.1: version 10, a 16-byte header; section 3.3.2: template set 2,
	// options template set 3.
	v9, ipfix := dialectOf(9), dialectOf(10)
	require.NotNil(t, v9)
	require.NotNil(t, ipfix)
	assert.Equal(t, 20, v9.headerLen)
	assert.Equal(t, [2]uint16{0, 1}, [2]uint16{v9.templateSet, v9.optionsSet})
	assert.Equal(t, 16, ipfix.headerLen)
	assert.Equal(t, [2]uint16{2, 3}, [2]uint16{ipfix.templateSet, ipfix.optionsSet})
	assert.True(t, v9.headerUptime && v9.scopeTypes && !v9.enterpriseBit && !v9.withdrawals && !v9.lists)
	assert.True(t, !ipfix.headerUptime && !ipfix.scopeTypes && ipfix.enterpriseBit && ipfix.withdrawals && ipfix.lists)
	for _, v := range []uint16{0, 1, 5, 6, 7, 8, 11, 0xffff} {
		assert.Nil(t, dialectOf(v), "version %d", v)
	}
}

// TestOptionsHeaderBytesVersusCount reads the same six bytes as each
// dialect's options template record header. RFC 3954 section 6.1: Template
// ID, Option Scope Length and Option Length, both in bytes (4 per field).
// RFC 7011 section 3.4.2.2: Template ID, Field Count (all fields, scope
// included) and Scope Field Count.
func TestOptionsHeaderBytesVersusCount(t *testing.T) {
	hdr := []byte{0x01, 0x00, 0x00, 0x04, 0x00, 0x08} // 256, 4, 8

	scope, count, n, err := v9Dialect.optionsHeader(hdr)
	require.NoError(t, err)
	assert.Equal(t, [3]int{1, 3, 6}, [3]int{scope, count, n}, "v9: 4 bytes of scope = 1 field, 8 bytes of options = 2")

	scope, count, n, err = ipfixDialect.optionsHeader(hdr)
	require.NoError(t, err)
	assert.Equal(t, [3]int{8, 4, 6}, [3]int{scope, count, n}, "IPFIX: field count 4, scope field count 8 (NewTemplate refuses it)")

	// v9 lengths that are not whole 4-byte field specifiers.
	for _, b := range [][]byte{{1, 0, 0, 6, 0, 8}, {1, 0, 0, 4, 0, 9}} {
		_, _, _, err := v9Dialect.optionsHeader(b)
		require.ErrorIs(t, err, ErrMalformed)
	}
	for _, dl := range []*dialect{&v9Dialect, &ipfixDialect} {
		_, _, _, err := dl.optionsHeader(hdr[:5])
		require.ErrorIs(t, err, ErrTruncated, "version %d", dl.version)
	}

	// The same options template built per RFC decodes to the same
	// template in both: scope sourceID/observationDomainId, samplingInterval.
	v9tmpl := v9OptionsTemplate(260, []tmplField{{1, 4, 0}}, []tmplField{{34, 4, 0}, {35, 1, 0}})
	assert.Equal(t, []byte{1, 4, 0, 4, 0, 8}, v9tmpl[:6])
	ipfixTmpl := ipfixOptionsTemplate(260, 1, tmplField{149, 4, 0}, tmplField{34, 4, 0}, tmplField{35, 1, 0})
	assert.Equal(t, []byte{1, 4, 0, 3, 0, 1}, ipfixTmpl[:6])
	for _, c := range []struct {
		dl  *dialect
		rec []byte
	}{{&v9Dialect, v9tmpl}, {&ipfixDialect, ipfixTmpl}} {
		scope, count, hdrLen, err := c.dl.optionsHeader(c.rec)
		require.NoError(t, err)
		assert.Equal(t, [3]int{1, 3, 6}, [3]int{scope, count, hdrLen}, "version %d", c.dl.version)
		n, err := c.dl.fieldSpecsLen(c.rec[hdrLen:], count)
		require.NoError(t, err)
		assert.Equal(t, 12, n)
	}
}

// TestFieldSpecifierEnterpriseBit: RFC 7011 section 3.2, a field
// specifier is E (1 bit), Information Element identifier (15 bits), Field
// Length (16 bits), then the Enterprise Number (32 bits) only when E is 1.
// v9 field types (RFC 3954 section 5.2) are 16 bits with no such bit.
func TestFieldSpecifierEnterpriseBit(t *testing.T) {
	// E=1, ID 0x0001 (1), length 4, PEN 29305 (0x7279, RFC 5103's
	// reverse PEN); then ID 8 (sourceIPv4Address), length 4.
	specs := []byte{0x80, 0x01, 0x00, 0x04, 0x00, 0x00, 0x72, 0x79, 0x00, 0x08, 0x00, 0x04}

	n, err := ipfixDialect.fieldSpecsLen(specs, 2)
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	assert.Equal(t, []TemplateField{{ID: 1, Length: 4, PEN: 29305}, {ID: 8, Length: 4}}, ipfixDialect.fieldSpecs(specs, 2))

	// v9 reads the same bytes as three 4-byte specifiers; the top bit
	// stays in the type.
	n, err = v9Dialect.fieldSpecsLen(specs, 3)
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	assert.Equal(t, []TemplateField{{ID: 0x8001, Length: 4}, {ID: 0, Length: 0x7279}, {ID: 8, Length: 4}}, v9Dialect.fieldSpecs(specs, 3))

	// The enterprise number cut off, and a count the bytes cannot back.
	_, err = ipfixDialect.fieldSpecsLen(specs[:6], 1)
	require.ErrorIs(t, err, ErrTruncated)
	_, err = ipfixDialect.fieldSpecsLen(specs, 3)
	require.ErrorIs(t, err, ErrTruncated)
	_, err = v9Dialect.fieldSpecsLen(specs, 4)
	require.ErrorIs(t, err, ErrTruncated)

	// Through the decoder: an IPFIX template with an enterprise field
	// keeps its PEN; the ID has the bit cleared.
	msg := ipfixMessage(1, 0, set(2, templateRecord(300, tmplField{8, 4, 0}, tmplField{1, 4, 29305}), false))
	p, err := NewDecoder(Config{}).Decode(testExporter, msg)
	require.NoError(t, err)
	s := dialectSets(t, p)
	require.Len(t, s.Templates, 1)
	assert.Equal(t, []TemplateField{{ID: 8, Length: 4}, {ID: 1, Length: 4, PEN: 29305}}, s.Templates[0].Fields)
}

// TestScopeFieldsByDialect: v9 options scope fields are scope types (RFC
// 3954 section 6.1: 1 System, 2 Interface, 3 Line Card, 4 Cache, 5
// Template); IPFIX scope fields are information elements (RFC 7011
// section 3.4.2.2).
func TestScopeFieldsByDialect(t *testing.T) {
	reg := NewRegistry()
	for id, want := range map[uint16]string{1: "scope_system", 2: "scope_interface", 3: "scope_line_card", 4: "scope_cache", 5: "scope_template"} {
		info := v9Dialect.info(reg, 0, 1, TemplateField{ID: id, Length: 4})
		assert.Equal(t, want, info.Name)
		assert.False(t, v9Dialect.isElement(0, 1))
	}
	assert.True(t, v9Dialect.isElement(1, 1), "v9 option fields after the scope are field types")
	info := v9Dialect.info(reg, 1, 1, TemplateField{ID: 2, Length: 4})
	assert.Equal(t, uint16(2), info.ID)
	assert.NotEqual(t, "scope_interface", info.Name, "field type 2 after the scope is IN_PKTS")
	// IPFIX: IE 2 is packetDeltaCount wherever it stands.
	assert.True(t, ipfixDialect.isElement(0, 1))
	assert.Equal(t, "packetDeltaCount", ipfixDialect.info(reg, 0, 1, TemplateField{ID: 2, Length: 8}).Name)
}

// dialectSets returns the sets of a v9 or IPFIX packet.
func dialectSets(t *testing.T, p Packet) *Sets {
	t.Helper()
	switch p := p.(type) {
	case *V9Packet:
		return &p.Sets
	case *IPFIXPacket:
		return &p.Sets
	}
	require.Failf(t, "not v9 or IPFIX", "%T", p)
	return nil
}

// TestWithdrawalOnlyInIPFIX: RFC 7011 section 8.1, a template record with
// field count 0 withdraws its template (ID 2 in a template set: all
// templates; ID 3 in an options template set: all options templates). RFC
// 3954 has no withdrawal: a v9 template without fields is malformed and the
// template it names stays.
func TestWithdrawalOnlyInIPFIX(t *testing.T) {
	t.Run("ipfix", func(t *testing.T) {
		d := NewDecoder(Config{})
		_, err := d.Decode(testExporter, buildIPFIXTemplate())
		require.NoError(t, err)
		p, err := d.Decode(testExporter, ipfixMessage(1, 0, set(2, templateRecord(benchTemplateID), false)))
		require.NoError(t, err)
		assert.Equal(t, []uint16{benchTemplateID}, dialectSets(t, p).Withdrawn)
		p, err = d.Decode(testExporter, buildIPFIXData(2))
		require.NoError(t, err)
		assert.Zero(t, p.FlowCount(), "data of a withdrawn template waits for a new one")

		// Withdraw all: ID 2 in a template set.
		_, err = d.Decode(testExporter, buildIPFIXTemplate())
		require.NoError(t, err)
		p, err = d.Decode(testExporter, ipfixMessage(1, 0, set(2, templateRecord(2), false)))
		require.NoError(t, err)
		assert.Equal(t, []uint16{2}, dialectSets(t, p).Withdrawn)
		// Withdrawal IDs other than 2/3 below 256 are malformed.
		_, err = d.Decode(testExporter, ipfixMessage(1, 0, set(2, templateRecord(7), false)))
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("v9", func(t *testing.T) {
		d := NewDecoder(Config{})
		_, err := d.Decode(testExporter, buildV9Template())
		require.NoError(t, err)
		p, err := d.Decode(testExporter, v9Packet(1, 2, set(0, templateRecord(benchTemplateID), false)))
		require.ErrorIs(t, err, ErrMalformed)
		assert.Empty(t, dialectSets(t, p).Withdrawn)
		p, err = d.Decode(testExporter, buildV9Data(2))
		require.NoError(t, err)
		assert.Equal(t, 2, p.FlowCount(), "the template is still there")
	})
}

// TestReservedSetIDsSkipped: IPFIX set IDs 0, 1 and 4-255 are reserved
// (RFC 7011 section 3.3.2); v9 flowset IDs 2-255 are (RFC 3954 section
// 5.2). A reserved set is skipped whole, whatever it holds, even a valid
// template record in the other dialect's template set ID, and the sets
// after it are decoded.
func TestReservedSetIDsSkipped(t *testing.T) {
	tmplBody := templateRecord(benchTemplateID, ipfixBenchFields...)
	var ipfixSets [][]byte
	for _, id := range []uint16{0, 1, 4, 100, 255} {
		ipfixSets = append(ipfixSets, set(id, tmplBody, false))
	}
	p, err := NewDecoder(Config{}).Decode(testExporter, ipfixMessage(1, 0, ipfixSets...))
	require.NoError(t, err)
	assert.Empty(t, dialectSets(t, p).Templates, "IPFIX learns no template from reserved sets")

	ipfixSets = append(ipfixSets, set(2, tmplBody, false), set(benchTemplateID, flowRecords(ipfixBenchFields, 3), false))
	p, err = NewDecoder(Config{}).Decode(testExporter, ipfixMessage(1, 0, ipfixSets...))
	require.NoError(t, err)
	assert.Len(t, dialectSets(t, p).Templates, 1)
	assert.Equal(t, 3, p.FlowCount())

	v9Body := templateRecord(benchTemplateID, v9BenchFields...)
	var v9Sets [][]byte
	for _, id := range []uint16{2, 3, 4, 128, 255} {
		v9Sets = append(v9Sets, set(id, v9Body, false))
	}
	p, err = NewDecoder(Config{}).Decode(testExporter, v9Packet(1, 1, v9Sets...))
	require.NoError(t, err)
	assert.Empty(t, dialectSets(t, p).Templates, "v9 learns no template from reserved flowsets")

	v9Sets = append(v9Sets, set(0, v9Body, false), set(benchTemplateID, flowRecords(v9BenchFields, 3), true))
	p, err = NewDecoder(Config{}).Decode(testExporter, v9Packet(1, 1, v9Sets...))
	require.NoError(t, err)
	assert.Len(t, dialectSets(t, p).Templates, 1)
	assert.Equal(t, 3, p.FlowCount())
}
