package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestMaxValues: with -max-values 2 and dstport tracked, a bucket counts
// the first two destination ports it sees and the rest under
// dstport:other; the sender counts those values; the hour holds the same.
func TestMaxValues(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.maxValues = 2
	opts.kinds = 1 << kindDstPort
	opts.workers = 1 // one worker: the flows are counted in capture order
	ts := startService(t, url, opts)
	status, _ := ts.call("PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)

	// From tshark: the matched flows' destination ports in order; the
	// first two distinct ones are counted, the others are other.
	full, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v5.json", mustPrefixes([]string{"192.0.2.0/24"}))
	var capt tsharkCapture
	readJSON(t, "../../testdata/expected/softflowd_v5.json", &capt)
	var kept []string
	for _, f := range capt.Datagrams[0].Flows {
		if f.SrcAddr == "127.0.0.1" {
			continue // unmatched
		}
		name := "dstport:" + strconv.Itoa(*f.DstPort)
		if len(kept) < 2 && (len(kept) == 0 || kept[0] != name) {
			kept = append(kept, name)
		}
	}
	require.Len(t, kept, 2)
	want := expectedTotals{"hours": {}, "minutes": {}}
	var otherFlows uint64
	for gran, buckets := range full {
		for b, fields := range buckets {
			w := map[string]statAnswer{"all": fields["all"], kept[0]: fields[kept[0]], kept[1]: fields[kept[1]]}
			var other statAnswer
			for name, a := range fields {
				if !strings.HasPrefix(name, "dstport:") || name == kept[0] || name == kept[1] {
					continue
				}
				other.statCounts = addCounts(other.statCounts, a.statCounts)
				other.In = addCounts(other.In, a.In)
				other.Out = addCounts(other.Out, a.Out)
			}
			w["dstport:other"] = other
			want[gran][b] = w
			if gran == "minutes" {
				otherFlows += other.Flows
			}
		}
	}
	require.EqualValues(t, 4, otherFlows)

	replay(t, "127.0.0.1", ts.udp, udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap"))
	ts.waitDatagrams("127.0.0.1", 1)
	require.NoError(t, ts.svc.flush(context.Background()))
	require.Equal(t, want, statsOf(t, ts.api.URL, "127.0.0.1", want))
	_, detail := ts.call("GET", "/senders/127.0.0.1", nil)
	require.EqualValues(t, otherFlows, detail["counters"].(map[string]any)["otherValues"])
}

func addCounts(a, b statCounts) statCounts {
	return statCounts{Flows: a.Flows + b.Flows, Packets: a.Packets + b.Packets, Bytes: a.Bytes + b.Bytes}
}

// TestMaxBuckets: with room for one minute bucket, the Juniper datagram's
// flows of its second minute are not counted, and counted as such.
func TestMaxBuckets(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.maxBuckets = 1
	opts.workers = 1
	ts := startService(t, url, opts)
	prefixes := []string{"10.0.0.0/8", "192.168.0.0/16"}
	status, _ := ts.call("PUT", "/senders/127.0.0.1", prefixBody(prefixes...))
	require.Equal(t, 200, status)

	// From tshark: the minute of the first flow is counted, the others not.
	var capt tsharkCapture
	readJSON(t, "../../testdata/expected/netflow5_test_juniper_mx80.json", &capt)
	d := capt.Datagrams[0]
	minuteOf := func(firstMS int64) int64 {
		return (d.UnixSecs*1000 + d.UnixNsecs/1e6 - d.SysUptimeMS + firstMS) / 60000
	}
	first := minuteOf(d.Flows[0].FirstUptimeMS)
	var over uint64
	for _, f := range d.Flows {
		if minuteOf(f.FirstUptimeMS) != first {
			over++
		}
	}
	require.NotZero(t, over)

	dat, err := os.ReadFile("../../testdata/logstash-codec-netflow/netflow5_test_juniper_mx80.dat")
	require.NoError(t, err)
	replay(t, "127.0.0.1", ts.udp, [][]byte{dat})
	ts.waitDatagrams("127.0.0.1", 1)
	_, list := ts.call("GET", "/senders", nil)
	require.EqualValues(t, over, list["overBuckets"])
}
