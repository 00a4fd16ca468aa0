package testkit

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteUDPPcap writes IPv4 and IPv6 datagrams and reads their payloads
// back.
func TestWriteUDPPcap(t *testing.T) {
	to := netip.MustParseAddrPort("127.0.0.1:2055")
	dgs := []UDPDatagram{
		{From: netip.MustParseAddrPort("127.0.0.1:40000"), To: to, Payload: []byte("first")},
		{From: netip.MustParseAddrPort("[2001:db8::1]:40001"), To: netip.MustParseAddrPort("[2001:db8::2]:2055"), Payload: []byte("second")},
		{From: netip.MustParseAddrPort("127.0.0.1:40002"), To: to, Payload: make([]byte, 9000)},
	}
	path := filepath.Join(t.TempDir(), "out.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, WriteUDPPcap(f, dgs))
	require.NoError(t, f.Close())
	got := UDPPayloads(t, path)
	require.Len(t, got, len(dgs))
	for i := range dgs {
		require.Equal(t, dgs[i].Payload, got[i])
	}
}
