package main

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
)

// decodeCaptures decodes the UDP payloads of captures in order with one
// decoder and returns their flows and (v9, IPFIX) records' bytes.
func decodeCaptures(t *testing.T, paths ...string) ([]netflow.Flow, [][]byte) {
	t.Helper()
	dec := netflow.NewDecoder(netflow.Config{})
	var flows []netflow.Flow
	var recs [][]byte
	for _, p := range paths {
		for _, d := range testkit.UDPPayloads(t, p) {
			pk, err := dec.Decode(netip.MustParseAddrPort("127.0.0.1:9995"), d)
			require.NoError(t, err)
			flows = pk.AppendFlows(flows)
			if ip, ok := pk.(*netflow.IPFIXPacket); ok {
				for _, ds := range ip.DataSets {
					for _, r := range ds.Records {
						recs = append(recs, r.Data)
					}
				}
			}
		}
	}
	return flows, recs
}

// readIPFIXFile decodes an IPFIX file with MessageReader.
func readIPFIXFile(t *testing.T, path string) ([]netflow.Flow, [][]byte) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mr := netflow.NewMessageReader(f)
	dec := netflow.NewDecoder(netflow.Config{})
	var flows []netflow.Flow
	var recs [][]byte
	for {
		msg, err := mr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pk, err := dec.Decode(netip.AddrPort{}, msg)
		require.NoError(t, err)
		flows = pk.AppendFlows(flows)
		for _, ds := range pk.(*netflow.IPFIXPacket).DataSets {
			for _, r := range ds.Records {
				recs = append(recs, append([]byte(nil), r.Data...))
			}
		}
	}
	return flows, recs
}

// TestWriteIPFIXFile converts captures of every version into an RFC 5655
// IPFIX file and reads it back: v1, v5 and v9 flows come back as IPFIX
// flows with the same values (and the exporter's address in
// exporterIPv4Address), IPFIX records byte for byte.
func TestWriteIPFIXFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		inputs []string
	}{
		{"v5", []string{td + "softflowd/softflowd_v5.pcap", td + "generated-fprobe/fprobe_v5.pcap"}},
		{"v1 v7", []string{td + "softflowd/softflowd_v1.pcap", td + "generated-fprobe/fprobe_v7.pcap"}},
		{"v9", []string{td + "softflowd/softflowd_v9.pcap"}},
		{"ipfix", []string{td + "softflowd/softflowd_v10.pcap"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.ipfix")
			stdout, stderr, code := flowdump(t, append([]string{"-w", out}, c.inputs...)...)
			require.Equal(t, 0, code, stderr)
			require.Empty(t, stdout)
			require.Empty(t, stderr)
			want, wantRecs := decodeCaptures(t, c.inputs...)
			got, gotRecs := readIPFIXFile(t, out)
			require.NotEmpty(t, want)
			require.Len(t, got, len(want))
			for i := range want {
				w, g := want[i], got[i]
				require.Equal(t, uint16(10), g.Version)
				if w.Version == 10 {
					require.Equal(t, wantRecs, gotRecs)
				}
				w.Exporter, w.Version, w.Sequence = g.Exporter, g.Version, g.Sequence
				// IPFIX records carry a domain and a sequence number;
				// v1 and v7 have none.
				w.Known |= netflow.FieldDomain | netflow.FieldSequence
				require.Equal(t, w.String(), g.String(), "flow %d", i)
				require.Equal(t, w, g, "flow %d", i)
			}
			// Read back with flowdump itself.
			stdout, stderr, code = flowdump(t, "-json", out)
			require.Equal(t, 0, code, stderr)
			objs := jsonFlows(t, stdout)
			require.Len(t, objs, len(want))
			if want[0].Version != 10 {
				// The capture's exporter, kept in the record.
				fields := objs[0]["fields"].(map[string]any)
				require.Equal(t, want[0].Exporter.Addr().String(), fields["exporterIPv4Address"])
			}
		})
	}
}

// jsonFlows returns the flow objects of -json output.
func jsonFlows(t *testing.T, out string) []object {
	var flows []object
	for _, o := range jsonLines(t, out) {
		if o["options"] == nil {
			flows = append(flows, o)
		}
	}
	return flows
}
