package main

// netflowd counts sFlow flows: each flow sample is one sampled packet,
// counted as its sampling rate's packets and its frame length times the
// rate in bytes, against tshark's decode of the same pmacctd capture.

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestReplaySFlow(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody("0.0.0.0/0", "::/0"))
	require.Equal(t, 200, status, "%v", out)

	doc := testkit.LoadExpected(t, filepath.Join("..", "..", "testdata", "expected", "sflow", "pmacct-sfprobe__pmacct-sfprobe-mixed-r4.json"))
	var want statCounts
	for _, dg := range doc.Datagrams {
		for _, f := range dg.Flows {
			rate := uint64(f.SFlow.SamplingRate)
			want.Flows++
			want.Packets += rate
			want.Bytes += *f.Bytes * rate
		}
	}
	payloads := udpPayloads(t, "../../testdata/sflow/pmacct-sfprobe/pmacct-sfprobe-mixed-r4.pcap")
	from := time.Now().UTC()
	replay(t, "127.0.0.1", ts.udp, payloads)
	ts.waitDatagrams("127.0.0.1", float64(len(payloads)))
	to := time.Now().UTC()
	require.NoError(t, ts.svc.flush(context.Background()))

	// The flows are dated when decoded: ask for every minute of the replay.
	query := expectedTotals{"minutes": {}}
	for m := from.Truncate(time.Minute); !m.After(to); m = m.Add(time.Minute) {
		query["minutes"][m.Format("2006-01-02 15:04")] = map[string]statAnswer{"all": {}}
	}
	var got statCounts
	for _, b := range statsOf(t, ts.api.URL, "127.0.0.1", query)["minutes"] {
		a := b["all"].statCounts
		got.Flows += a.Flows
		got.Packets += a.Packets
		got.Bytes += a.Bytes
	}
	require.Equal(t, want, got)
	_, detail := ts.call("GET", "/senders/127.0.0.1", nil)
	require.EqualValues(t, want.Flows, detail["counters"].(map[string]any)["flows"])
}
