package main

// flowdump on sFlow captures: every flow sample of the real pmacctd
// captures, against tshark's decode of the same capture
// (testdata/expected/sflow).

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

func TestSFlowCaptures(t *testing.T) {
	for _, name := range []string{"pmacct-sfprobe-mixed-r4", "pmacct-sfprobe-vlan-r2", "pmacct-sfprobe-ipv6export-r3"} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := flowdump(t, "-json", "-stats", td+"sflow/pmacct-sfprobe/"+name+".pcap")
			require.Equal(t, 0, code, errOut)
			doc := testkit.LoadExpected(t, filepath.Join(td, "expected", "sflow", "pmacct-sfprobe__"+name+".json"))
			var want []testkit.ExpectedFlow
			malformed := 0
			for _, dg := range doc.Datagrams {
				if dg.Malformed {
					malformed++
					continue
				}
				want = append(want, dg.Flows...)
			}
			objs := jsonLines(t, out)
			require.Len(t, objs, len(want))
			for i, o := range objs {
				w := &want[i]
				what := fmt.Sprintf("flow %d", i)
				require.Equal(t, "sflow", o.str("protocol"), what)
				require.Equal(t, uint64(5), must(o.num("version")), what)
				require.Equal(t, *w.Bytes, must(o.num("bytes")), what)
				require.Equal(t, uint64(1), must(o.num("packets")), what)
				require.Equal(t, uint64(w.SFlow.SamplingRate), must(o.num("sampling_interval")), what)
				if w.SrcAddr != nil {
					require.Equal(t, *w.SrcAddr, o.str("src_addr"), what)
					require.Equal(t, *w.DstAddr, o.str("dst_addr"), what)
				}
				if w.SrcPort != nil {
					require.Equal(t, uint64(*w.SrcPort), must(o.num("src_port")), what)
					require.Equal(t, uint64(*w.DstPort), must(o.num("dst_port")), what)
				}
				require.NotEmpty(t, o.str("agent"), what)
			}
			require.Contains(t, errOut, fmt.Sprintf("flows: %d;", len(want)))
			require.Contains(t, errOut, fmt.Sprintf("(sflow %d)", len(doc.Datagrams)))
			require.Equal(t, malformed, strings.Count(errOut, "netflow: malformed"), errOut)
		})
	}
	// The table marks sFlow rows "sf5", not NetFlow's 5.
	out, _, code := flowdump(t, td+"sflow/vflow/decoder_test__TestsFlowRawPacket.bin")
	require.Equal(t, 0, code)
	rows := lines(out)
	require.Len(t, rows, 6)
	for _, r := range rows[1:] {
		require.True(t, strings.HasPrefix(r, "sf5 "), r)
	}
}

// TestSFlowDatedByCapture: sFlow carries no wall clock, and a collector
// dates a flow sample when it decodes it; reading a capture, flowdump
// dates it when the capture took its datagram, so the same capture prints
// the same flows whenever it is read.
func TestSFlowDatedByCapture(t *testing.T) {
	name := td + "sflow/pmacct-sfprobe/pmacct-sfprobe-vlan-r2.pcap"
	dgs, err := testkit.ReadUDPDatagrams(name)
	require.NoError(t, err)
	doc := testkit.LoadExpected(t, filepath.Join(td, "expected", "sflow", "pmacct-sfprobe__pmacct-sfprobe-vlan-r2.json"))
	var want []string // the capture time of each flow's datagram
	for _, dg := range doc.Datagrams {
		for range dg.Flows {
			want = append(want, dgs[dg.Index].Time.UTC().Format("2006-01-02T15:04:05.000000000Z"))
		}
	}
	require.NotEmpty(t, want)
	out, errOut, code := flowdump(t, "-json", name)
	require.Equal(t, 0, code, errOut)
	objs := jsonLines(t, out)
	require.Len(t, objs, len(want))
	for i, o := range objs {
		require.Equal(t, want[i], o.str("start"), "flow %d", i)
		require.Equal(t, want[i], o.str("end"), "flow %d", i)
	}
}

func must(v uint64, ok bool) uint64 {
	if !ok {
		panic("missing key")
	}
	return v
}
