package redisstore

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// hostileTemplate returns a template value that claims n fields and holds
// body bytes after the header.
func hostileTemplate(version, id uint16, n uint16, body int) []byte {
	b := []byte{templateFormat, 0}
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, n)
	return append(b, make([]byte, body)...)
}

// TestHostileValues plants values under the prefix directly in Redis:
// every bad one is refused with an error matching ErrStore and
// ErrMalformed and counted, never a panic, and the good ones load.
func TestHostileValues(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	s := openStore(t, r, Config{Prefix: prefix})
	ctx := context.Background()
	tk := func(suffix string) string { return prefix + ":t:" + suffix }
	sk := func(suffix string) string { return prefix + ":s:" + suffix }
	good := testKey
	good.ID = 999
	planted := map[string]any{
		tk("192.0.2.1:2055|10|1|256"):   "garbage",
		tk("192.0.2.1:2055|10|1|257"):   hostileTemplate(10, 257, 65535, 16),         // 65535 fields claimed in 16 bytes
		tk("192.0.2.1:2055|10|1|258"):   hostileTemplate(10, 258, 600, 600*fieldLen), // 600 fields: over 512
		tk("192.0.2.1:2055|10|1|259"):   hostileTemplate(10, 259, 0, 0),              // no fields
		tk("192.0.2.1:2055|10|1|260"):   hostileTemplate(9, 260, 1, fieldLen),        // version differs from the key
		tk("192.0.2.1:2055|10|1|261"):   hostileTemplate(10, 999, 1, fieldLen),       // ID differs from the key
		tk("192.0.2.1:2055|10|1|262"):   strings.Repeat("x", 1<<20),                  // 1 MiB
		tk("192.0.2.1:2055|10|1|99999"): encodeTemplate(layout(t, testKey, 1)),       // ID out of range
		tk("not-an-exporter|10|1|256"):  encodeTemplate(layout(t, testKey, 1)),
		tk("192.0.2.1:2055|10|1"):       encodeTemplate(layout(t, testKey, 1)),
		tk(strings.Repeat("9", 200)):    "x",
		sk("192.0.2.1:2055|10|1"):       "{not json",
		sk("192.0.2.1:2055|10|2"):       `{"samplers":{"x":"y"}}`,
		sk("192.0.2.1:2055|10|3"):       `{"interface_names":{"1":"` + strings.Repeat("a", 70<<10) + `"}}`, // over 64 KiB
		sk("192.0.2.1:2055|10|4"):       "",
		tk(templateSuffix(good)):        encodeTemplate(layout(t, good, 3)),
		sk("192.0.2.1:2055|10|5"):       `{"sampling_interval":7}`,
	}
	for k, v := range planted {
		require.NoError(t, s.rdb.Set(ctx, k, v, 0).Err())
	}
	// A key of another type under the prefix.
	require.NoError(t, s.rdb.RPush(ctx, tk("192.0.2.1:2055|10|1|263"), "a", "b").Err())

	err := s.Resync(ctx)
	require.Error(t, err)
	require.ErrorIs(t, err, netflow.ErrStore)
	require.ErrorIs(t, err, netflow.ErrMalformed)
	t.Logf("Resync: %v", err)
	const bad = 14 // every planted value but the two good ones and the empty state
	require.GreaterOrEqual(t, s.Stats().Malformed, uint64(bad))
	for id := uint16(256); id <= 263; id++ {
		k := testKey
		k.ID = id
		_, err := s.Template(k)
		require.ErrorIs(t, err, netflow.ErrTemplateNotFound, "template %d", id)
	}
	require.Equal(t, uint16(3), thirdLen(s, good), "a good template beside bad ones loads")
	st, ok, err := s.ExporterState(netflow.TemplateKey{Exporter: testKey.Exporter, Version: 10, Domain: 5})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(7), st.SamplingInterval)

	// A store opened on them opens, skipping them.
	s2 := openStore(t, r, Config{Prefix: prefix})
	require.Equal(t, uint16(3), thirdLen(s2, good))
	require.GreaterOrEqual(t, s2.Stats().Malformed, uint64(bad))
}

// TestHostileNotifications publishes bad notifications on the prefix's
// channel: each is counted and dropped, and the store goes on.
func TestHostileNotifications(t *testing.T) {
	r := redistest.Start(t)
	prefix := newPrefix(t)
	a := openStore(t, r, Config{Prefix: prefix})
	b := openStore(t, r, Config{Prefix: prefix})
	ctx := context.Background()
	id := strings.Repeat("0", idLen) + " "
	huge := hostileTemplate(10, 256, 65535, 0)
	for _, m := range []string{
		"", "T", "T\n", "Tnoid", "T" + id + "192.0.2.1:2055|10|1|256",
		"T" + id + "192.0.2.1:2055|10|1|256\ngarbage",
		"T" + id + "192.0.2.1:2055|10|1|256\n" + string(huge),
		"T" + id + "192.0.2.1:2055|10|1|256\n" + string(hostileTemplate(10, 256, 600, 600*fieldLen)),
		"T" + id + "bad|key\n" + string(encodeTemplate(layout(t, testKey, 1))),
		"D" + id + "\n", "S" + id + "192.0.2.1:2055|10|1\n{", "S" + id + "192.0.2.1:2055|10|1\n" + strings.Repeat("[", 70<<10),
		"F" + id + "nope\n", "X" + id + "192.0.2.1:2055|10|1|256\n",
		strings.Repeat("T", 200<<10),
	} {
		require.NoError(t, a.rdb.Publish(ctx, a.channel, m).Err())
	}
	// A good change after them still arrives.
	require.NoError(t, a.AddTemplate(testKey, layout(t, testKey, 4)))
	eventually(t, "B sees the good template", func() bool { return thirdLen(b, testKey) == 4 })
	require.GreaterOrEqual(t, b.Stats().Malformed, uint64(14))
	_, ok, err := b.ExporterState(netflow.TemplateKey{Exporter: testKey.Exporter, Version: 10, Domain: 1})
	require.NoError(t, err)
	require.False(t, ok)
}

// TestLimits: the local cache is bounded, and what Redis would refuse to
// read back is refused at write.
func TestLimits(t *testing.T) {
	r := redistest.Start(t)
	s := openStore(t, r, Config{Prefix: newPrefix(t), MaxTemplates: 2, MaxStates: 1})
	for id := uint16(256); id < 258; id++ {
		k := testKey
		k.ID = id
		require.NoError(t, s.AddTemplate(k, layout(t, k, 1)))
	}
	k := testKey
	k.ID = 258
	require.ErrorIs(t, s.AddTemplate(k, layout(t, k, 1)), netflow.ErrLimit)
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 2)), "a known key may be replaced at the limit")

	dk := netflow.TemplateKey{Exporter: testKey.Exporter, Version: 10, Domain: 1}
	require.NoError(t, s.SetExporterState(dk, netflow.ExporterState{SamplingInterval: 1}))
	dk.Domain = 2
	require.ErrorIs(t, s.SetExporterState(dk, netflow.ExporterState{SamplingInterval: 1}), netflow.ErrLimit)
	dk.Domain = 1
	big := netflow.ExporterState{InterfaceNames: map[uint32]string{1: strings.Repeat("a", MaxStateValue)}}
	require.ErrorIs(t, s.SetExporterState(dk, big), netflow.ErrLimit)

	fields := make([]netflow.TemplateField, MaxTemplateFields+1)
	for i := range fields {
		fields[i] = netflow.TemplateField{ID: 1, Length: 1}
	}
	tmpl, err := netflow.NewTemplate(10, 256, false, 0, fields)
	require.NoError(t, err)
	require.ErrorIs(t, s.AddTemplate(testKey, tmpl), netflow.ErrLimit)
	other := testKey
	other.ID = 257
	require.ErrorIs(t, s.AddTemplate(other, layout(t, testKey, 1)), netflow.ErrMalformed, "a template under another ID's key")
	other = testKey
	other.Version = 9
	require.ErrorIs(t, s.AddTemplate(other, layout(t, testKey, 1)), netflow.ErrMalformed, "a template under another version's key")
}
