package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// datagrams keeps what a Writer writes, one datagram a Write.
type datagrams [][]byte

func (d *datagrams) Write(b []byte) (int, error) {
	*d = append(*d, append([]byte(nil), b...))
	return len(b), nil
}

// jsonObjects decodes JSON Lines, up to the last whole one.
func jsonObjects(t *testing.T, out string) []map[string]any {
	t.Helper()
	out = out[:strings.LastIndex(out, "\n")+1]
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var o map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &o), line)
		objs = append(objs, o)
	}
	return objs
}

// flowObjects returns the flow objects of JSON Lines (options records left
// out).
func flowObjects(t *testing.T, out string) []map[string]any {
	var flows []map[string]any
	for _, o := range jsonObjects(t, out) {
		if o["options"] == nil {
			flows = append(flows, o)
		}
	}
	return flows
}

// TestForward runs a collector that re-exports what it decodes to a second
// collector, in each version: the second prints the first's flows, with
// the same values, from the first's forward socket; IPFIX keeps the
// original exporter in exporterIPv4Address. The first's metrics count what
// it sent.
func TestForward(t *testing.T) {
	t.Parallel() // a collector process: waits
	// Flows of now (v5 and v9 carry times as uptimes within 24.8 days of
	// the export), IPv4 (v5 carries nothing else), as v9 datagrams.
	const n = 100
	now := time.Now()
	known := netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldSrcPort | netflow.FieldDstPort | netflow.FieldProto |
		netflow.FieldPackets | netflow.FieldBytes | netflow.FieldStart | netflow.FieldEnd | netflow.FieldTCPFlags | netflow.FieldToS
	var flows []netflow.Flow
	for i := range n {
		flows = append(flows, netflow.Flow{
			SrcAddr: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), DstAddr: netip.AddrFrom4([4]byte{10, 1, byte(i), 2}),
			SrcPort: uint16(1000 + i), DstPort: 443, Proto: 6, TCPFlags: 0x1b, ToS: uint8(i),
			Packets: uint64(i + 1), Bytes: uint64(100 * (i + 1)),
			Start: now.Add(-time.Duration(i) * time.Second).Truncate(time.Millisecond), End: now.Truncate(time.Millisecond),
			Known: known,
		})
	}
	var out datagrams
	w, err := export.NewWriter(&out, export.Config{Version: 9, Domain: 3})
	require.NoError(t, err)
	require.NoError(t, w.WriteFlows(flows))
	require.NoError(t, w.Flush())
	payloads := [][]byte(out)
	for _, version := range []string{"10", "9", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			b := startCollector(t)
			a := startCollector(t, "-forward", b.addr.String(), "-forward-version", version, "-metrics", "127.0.0.1:0")
			a.waitStderr("metrics on ")
			e := newExporter(t)
			for _, d := range payloads {
				e.send(a.addr, d)
			}
			// What the first decoded.
			var want []map[string]any
			waitFor(t, "the first collector's flows", func() bool {
				want = flowObjects(t, a.stdout.String())
				return len(want) == n
			})
			var got []map[string]any
			waitFor(t, "the forwarded flows", func() bool {
				got = flowObjects(t, b.stdout.String())
				return len(got) >= len(want)
			})
			require.Len(t, got, len(want))
			for i := range want {
				w, g := want[i], got[i]
				require.Equal(t, float64(mustAtoi(t, version)), g["version"])
				for _, k := range []string{"src_addr", "dst_addr", "src_port", "dst_port", "proto", "packets", "bytes", "start", "end", "tcp_flags", "tos"} {
					require.Equal(t, w[k], g[k], "flow %d %s", i, k)
				}
				if version == "10" {
					fields := g["fields"].(map[string]any)
					exporter := w["exporter"].(string)
					require.Equal(t, exporter[:strings.LastIndex(exporter, ":")], fields["exporterIPv4Address"], "flow %d", i)
				}
			}
			metricsAddr := strings.TrimSpace(strings.SplitN(strings.SplitN(a.stderr.String(), "metrics on ", 2)[1], "\n", 2)[0])
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Contains(t, string(body), fmt.Sprintf(`netflow_forward_flows_total{destination="%s",result="sent"} %d`, b.addr, n))
			require.Contains(t, string(body), "netflow_forward_dropped_total 0")
			a.stop()
			require.Contains(t, a.stderr.String(), fmt.Sprintf("forward %s (v%s): sent %d flows", b.addr, version, n))
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// packet1 is a datagram's worth of flows for the queue test.
type packet1 struct{}

func (packet1) Version() uint16 { return 5 }
func (packet1) FlowCount() int  { return 1 }
func (packet1) AppendFlows(dst []netflow.Flow) []netflow.Flow {
	return append(dst, netflow.Flow{Packets: 1, Known: netflow.FieldPackets})
}

// TestForwardQueueFull checks that a destination that does not take what
// is sent never makes the receive path wait: the queue fills, the rest is
// dropped and counted.
func TestForwardQueueFull(t *testing.T) {
	to := "127.0.0.1:9"
	version := uint(10)
	f, err := startForward(&forwardOptions{to: &to, version: &version})
	require.NoError(t, err)
	// A destination that blocks: the forwarding goroutine stops at its
	// first datagram.
	stuck, other := net.Pipe()
	defer other.Close()
	f.dsts[0].conn.Close()
	f.dsts[0].conn = stuck
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 * forwardQueue {
			f.add(packet1{})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("add waited for the destination")
	}
	require.Greater(t, f.dropped.Load(), uint64(forwardQueue-2))
	require.Equal(t, uint64(3*forwardQueue), f.queued.Load()+f.dropped.Load())
	stuck.Close()
}
