package netflow

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLimitMaxTemplatesTotal: the store's total bound refuses a new
// template with ErrLimit, counts it, and keeps serving what it holds.
func TestLimitMaxTemplatesTotal(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{MaxTemplates: 10})
	tmpl, err := NewTemplate(9, 256, false, 0, []TemplateField{{ID: 8, Length: 4}})
	require.NoError(t, err)
	key := func(i int) TemplateKey {
		return TemplateKey{Exporter: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 2055), Version: 9, ID: 256}
	}
	for i := range 10 {
		require.NoError(t, s.AddTemplate(key(i), tmpl))
	}
	err = s.AddTemplate(key(10), tmpl)
	require.ErrorIs(t, err, ErrLimit)
	st := s.Stats()
	require.Equal(t, 10, st.Templates)
	require.Equal(t, 10, st.Exporters, "a refused exporter leaves no empty domain behind")
	require.EqualValues(t, 1, st.Rejected)
	for i := range 10 {
		got, err := s.Template(key(i))
		require.NoError(t, err)
		require.Same(t, tmpl, got)
	}
	// Room again after a withdrawal.
	require.NoError(t, s.WithdrawTemplate(key(3)))
	require.NoError(t, s.AddTemplate(key(10), tmpl))
	require.Equal(t, 10, s.Stats().Templates)
}

// TestLimitTemplateFieldsSkipsOnlyThatTemplate: a template over
// MaxTemplateFields is refused and counted; the set's next template is
// still learned.
func TestLimitTemplateFieldsSkipsOnlyThatTemplate(t *testing.T) {
	d := NewDecoder(Config{Limits: Limits{MaxTemplateFields: 4}})
	big := make([]tmplField, 5)
	for i := range big {
		big[i] = tmplField{id: 8, length: 4}
	}
	body := append(templateRecord(300, big...), templateRecord(301, tmplField{id: 8, length: 4})...)
	p, err := d.Decode(netip.MustParseAddrPort("192.0.2.1:2055"), v9Packet(1, 1, set(0, body, false)))
	require.ErrorIs(t, err, ErrLimit)
	var de *DecodeError
	require.True(t, errors.As(err, &de))
	require.Len(t, p.(*V9Packet).Templates, 1)
	require.EqualValues(t, 301, p.(*V9Packet).Templates[0].ID)
	require.EqualValues(t, 1, d.Stats().TemplatesRefused)
}

// TestErrorsPerMessageBounded: a message of many bad sets reports the
// first maxErrors one by one and counts the rest.
func TestErrorsPerMessageBounded(t *testing.T) {
	d := NewDecoder(Config{DisablePending: true})
	var sets [][]byte
	for i := range 100 {
		sets = append(sets, set(uint16(1000+i), []byte{1, 2, 3, 4}, false))
	}
	_, err := d.Decode(netip.MustParseAddrPort("192.0.2.1:2055"), v9Packet(1, 1, sets...))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok)
	require.Len(t, joined.Unwrap(), maxErrors+1)
	require.Contains(t, err.Error(), "84 more problems")
}
