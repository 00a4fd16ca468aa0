package netflow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHeldAfterRefusedTemplate: data whose template the store refused at a
// limit is held, and released when the template is accepted later, once
// expiry freed the store's slots.
func TestHeldAfterRefusedTemplate(t *testing.T) {
	clock := newTestClock()
	store := NewMemoryStore(MemoryStoreConfig{TTL: 100 * time.Millisecond, MaxExporters: 2, Now: clock.Now})
	d := NewDecoder(Config{Store: store, Now: clock.Now})
	fields := []tmplField{{8, 4, 0}, {12, 4, 0}, {2, 4, 0}}
	msg := func(seq uint32) []byte {
		return ipfixMessage(1, seq, set(2, templateRecord(256, fields...), false), set(256, flowRecords(fields, 1), false))
	}
	exp := func(i int) netip.AddrPort { return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4739) }
	for i := 1; i <= 3; i++ {
		p, err := d.Decode(exp(i), msg(0))
		if i < 3 {
			require.NoError(t, err)
			require.Equal(t, 1, p.FlowCount())
			continue
		}
		require.ErrorIs(t, err, ErrLimit)
		require.Equal(t, 0, p.FlowCount())
		require.Equal(t, 1, p.(*IPFIXPacket).Pending)
	}
	clock.Advance(time.Second)
	store.Expire()
	require.Zero(t, store.Stats().Exporters)
	p, err := d.Decode(exp(3), msg(1))
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount(), "held set and the message's own")
	require.True(t, p.(*IPFIXPacket).DataSets[0].Late)
}
