package netflow

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeFlowsMatchesPackets checks that the fast path gives exactly the
// flows of DecodeInto + AppendFlows, for every raw fixture datagram, fed in
// name order through one decoder per path.
func TestDecodeFlowsMatchesPackets(t *testing.T) {
	var files []string
	for _, pattern := range []string{"testdata/*/*.dat", "testdata/*/*.bin"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	sort.Strings(files)
	require.NotEmpty(t, files)
	exporter := netip.MustParseAddrPort("192.0.2.7:2055")
	slow, fast := NewDecoder(Config{}), NewDecoder(Config{})
	var (
		buf, fastBuf Buffer
		want, got    []Flow
		compared     int
	)
	for _, name := range files {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		for len(data) > 0 {
			msg, rest, err := SplitMessage(data)
			if err != nil {
				break
			}
			data = rest
			p, perr := slow.DecodeInto(&buf, exporter, msg)
			want = want[:0]
			if p != nil {
				want = p.AppendFlows(want)
			}
			var ferr error
			got, ferr = fast.DecodeFlows(&fastBuf, got[:0], exporter, msg)
			require.Equal(t, perr == nil, ferr == nil, "%s: errors %v / %v", name, perr, ferr)
			require.Equal(t, want, got, name)
			compared += len(got)
		}
	}
	require.Greater(t, compared, 500)
}
