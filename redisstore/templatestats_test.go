package redisstore

import (
	"encoding/binary"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// v9TemplateIDs lists the template and options template IDs a v9 datagram
// defines, read from its flowsets 0 and 1 directly.
func v9TemplateIDs(t testing.TB, dg []byte) []uint16 {
	t.Helper()
	be := binary.BigEndian
	var ids []uint16
	for off := 20; off+4 <= len(dg); {
		id, n := be.Uint16(dg[off:]), int(be.Uint16(dg[off+2:]))
		require.GreaterOrEqual(t, n, 4)
		b := dg[off+4 : off+n]
		switch id {
		case 0: // ID, field count, (type, length)...
			for len(b) >= 4 && be.Uint16(b) != 0 {
				ids = append(ids, be.Uint16(b))
				b = b[4+4*int(be.Uint16(b[2:])):]
			}
		case 1: // ID, scope bytes, option bytes, fields...
			for len(b) >= 6 && be.Uint16(b) != 0 {
				ids = append(ids, be.Uint16(b))
				b = b[6+int(be.Uint16(b[2:]))+int(be.Uint16(b[4:])):]
			}
		}
		off += n
	}
	return ids
}

// TestDecoderStatsReportRedisStore: a Decoder on a redisstore.Store reports
// the store's templates in Stats().Store (StoreOK), as it does a
// MemoryStore's: the templates of softflowd's v9 capture learned, then
// refreshed by the same datagram, one withdrawn, one refused at the cache's
// bound; another instance's store holds the same templates through Redis
// without counting them as its own calls.
func TestDecoderStatsReportRedisStore(t *testing.T) {
	dg := testkit.UDPPayloads(t, "../testdata/softflowd/softflowd_v9.pcap")[0]
	ids := v9TemplateIDs(t, dg)
	require.Equal(t, []uint16{1024, 1025, 2048, 2049, 256}, ids, "softflowd's v9 export, as tshark lists its template IDs")
	n := uint64(len(ids))

	r := redistest.Start(t)
	prefix := newPrefix(t)
	sa, sb := openStore(t, r, Config{Prefix: prefix}), openStore(t, r, Config{Prefix: prefix})
	a := netflow.NewDecoder(netflow.Config{Store: sa})
	b := netflow.NewDecoder(netflow.Config{Store: sb})

	st := a.Stats()
	require.True(t, st.StoreOK, "a redisstore.Store reports through Decoder.Stats")
	require.Zero(t, st.Store.Templates)

	decodeAll(t, a, fixtureExporter, dg)
	st = a.Stats()
	require.Equal(t, netflow.StoreStats{Templates: len(ids), Exporters: 1, Learned: n}, st.Store)
	require.Equal(t, sa.Stats().Templates, st.Store.Templates, "the same count as the store's own Stats")

	decodeAll(t, a, fixtureExporter, dg)
	require.Equal(t, netflow.StoreStats{Templates: len(ids), Exporters: 1, Learned: n, Refreshed: n}, a.Stats().Store)

	eventually(t, "B's cache has A's templates", func() bool { return b.Stats().Store.Templates == len(ids) })
	require.Equal(t, netflow.StoreStats{Templates: len(ids), Exporters: 1}, b.Stats().Store,
		"B holds them through Redis; it learned none itself")

	key := netflow.TemplateKey{Exporter: fixtureExporter, Version: 9, Domain: binary.BigEndian.Uint32(dg[16:]), ID: ids[0]}
	require.NoError(t, sa.WithdrawTemplate(key))
	require.Equal(t, netflow.StoreStats{Templates: len(ids) - 1, Exporters: 1, Learned: n, Refreshed: n, Withdrawn: 1}, a.Stats().Store)

	small := openStore(t, r, Config{Prefix: newPrefix(t), MaxTemplates: 1})
	c := netflow.NewDecoder(netflow.Config{Store: small})
	_, err := c.Decode(fixtureExporter, dg)
	require.ErrorIs(t, err, netflow.ErrLimit)
	require.Equal(t, netflow.StoreStats{Templates: 1, Exporters: 1, Learned: 1, Rejected: n - 1}, c.Stats().Store)
}
