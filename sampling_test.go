package netflow

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSamplingPolicyV5: logstash's netflow5.dat against tshark's decode
// (testdata/expected/netflow5.json: sampling interval 0, the packets and
// bytes of every record). A default applies where the header gives none,
// an override wins over the header, scaling multiplies tshark's counters,
// and only the exporters of the prefix (the most specific one) are
// touched.
func TestSamplingPolicyV5(t *testing.T) {
	doc := loadExpected(t, "netflow5.json")
	data, err := os.ReadFile(filepath.Join("testdata", "logstash-codec-netflow", "netflow5.dat"))
	require.NoError(t, err)
	msgs := seqMessages(t, data)
	here := netip.MustParsePrefix("192.0.2.0/24")
	elsewhere := netip.MustParsePrefix("10.0.0.0/8")

	run := func(cfg Config, msgs [][]byte) []Flow {
		var out []Flow
		d := NewDecoder(cfg)
		for _, m := range msgs {
			p, err := d.Decode(testExporter, m)
			require.NoError(t, err)
			out = p.AppendFlows(out)
			fast, err := NewDecoder(cfg).DecodeFlows(nil, nil, testExporter, m)
			require.NoError(t, err)
			require.Equal(t, p.AppendFlows(nil), fast)
		}
		return out
	}
	var want []struct{ packets, bytes uint64 }
	for _, dg := range doc.Datagrams {
		require.Zero(t, *dg.SamplingInterval)
		for _, f := range dg.Flows {
			want = append(want, struct{ packets, bytes uint64 }{*f.Packets, *f.Bytes})
		}
	}

	flows := run(Config{Sampling: []SamplingPolicy{{Prefix: elsewhere, Default: 7, Scale: true}}}, msgs)
	require.Len(t, flows, len(want))
	for i, f := range flows {
		require.False(t, f.Known.Has(FieldSamplingInterval))
		require.False(t, f.Known.Has(FieldScaled))
		require.Equal(t, want[i].packets, f.Packets)
	}

	flows = run(Config{Sampling: []SamplingPolicy{{Prefix: elsewhere, Override: 3}, {Prefix: netip.MustParsePrefix("192.0.0.0/8"), Default: 5},
		{Prefix: here, Default: 100}}}, msgs)
	for i, f := range flows {
		require.True(t, f.Known.Has(FieldSamplingInterval))
		require.Equal(t, uint32(100), f.SamplingInterval)
		require.False(t, f.Known.Has(FieldScaled))
		require.Equal(t, want[i].bytes, f.Bytes)
	}

	flows = run(Config{Sampling: []SamplingPolicy{{Prefix: here, Default: 100, Scale: true}}}, msgs)
	for i, f := range flows {
		require.True(t, f.Known.Has(FieldScaled|FieldSamplingInterval))
		require.Equal(t, want[i].packets*100, f.Packets)
		require.Equal(t, want[i].bytes*100, f.Bytes)
	}

	// The header says 1 in 10 (deterministic): the default does not
	// apply, the override wins.
	sampled := make([][]byte, len(msgs))
	for i, m := range msgs {
		sampled[i] = slices.Clone(m)
		binary.BigEndian.PutUint16(sampled[i][22:], 1<<14|10)
	}
	flows = run(Config{Sampling: []SamplingPolicy{{Prefix: here, Default: 100, Scale: true}}}, sampled)
	for i, f := range flows {
		require.Equal(t, uint32(10), f.SamplingInterval)
		require.Equal(t, want[i].packets*10, f.Packets)
	}
	flows = run(Config{Sampling: []SamplingPolicy{{Prefix: here, Override: 64}}}, sampled)
	for i, f := range flows {
		require.Equal(t, uint32(64), f.SamplingInterval)
		require.Equal(t, want[i].packets, f.Packets)
	}
}

// TestSamplingPolicyIPFIX: the record's samplingInterval (34) beats the
// default and loses to the override; scaling saturates.
func TestSamplingPolicyIPFIX(t *testing.T) {
	here := netip.MustParsePrefix("192.0.2.1/32")
	rec := []ffField{
		{id: iePacketDeltaCount, length: 8, value: ffU(1<<62, 8)},
		{id: ieOctetDeltaCount, length: 4, value: ffU(1500, 4)},
		{id: ieSamplingInterval, length: 4, value: ffU(4, 4)},
	}
	f := ffDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: here, Default: 100, Scale: true}}}, ffIPFIX(0, rec, true))
	require.Equal(t, uint32(4), f.SamplingInterval)
	require.Equal(t, ^uint64(0), f.Packets)
	require.Equal(t, uint64(6000), f.Bytes)
	require.True(t, f.Known.Has(FieldScaled))

	f = ffDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: here, Override: 2}}}, ffIPFIX(0, rec, true))
	require.Equal(t, uint32(2), f.SamplingInterval)
	require.Equal(t, uint64(1500), f.Bytes)

	noInterval := rec[:2]
	f = ffDecode(t, Config{Sampling: []SamplingPolicy{{Prefix: here, Default: 100}}}, ffIPFIX(0, noInterval, true))
	require.Equal(t, uint32(100), f.SamplingInterval)
	f = ffDecode(t, Config{}, ffIPFIX(0, noInterval, true))
	require.False(t, f.Known.Has(FieldSamplingInterval))
}
