package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestConcurrentSendersAndFlushes: four senders send v5 datagrams and
// garbage at once over loopback while flushes run every few milliseconds;
// at the end every sender's minute, hour and year totals equal the sums of
// the records it sent (read from the bytes built, not decoded), and
// garbage changed nothing but the datagram counts.
func TestConcurrentSendersAndFlushes(t *testing.T) {
	t.Parallel() // waits on processes and Redis
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.flushEvery = 5 * time.Millisecond
	ts := startService(t, url, opts)
	const senders, perSender, garbage = 4, 60, 20
	export := time.Date(2024, 3, 1, 12, 0, 30, 0, time.UTC)
	datagrams := v5Datagrams(perSender, export)
	var flows, packets, bytes uint64
	for _, d := range datagrams {
		n := int(binary.BigEndian.Uint16(d[2:]))
		for i := range n {
			r := d[24+48*i:]
			flows++
			packets += uint64(binary.BigEndian.Uint32(r[16:]))
			bytes += uint64(binary.BigEndian.Uint32(r[20:]))
		}
	}
	for i := 1; i <= senders; i++ {
		status, out := ts.call("PUT", "/senders/127.0.0."+strconv.Itoa(i), prefixBody("192.0.2.0/24", "198.51.100.0/24"))
		require.Equal(t, 200, status, "%v", out)
	}
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		ts.svc.flushLoop(stop, t.Logf)
	}()
	var wg sync.WaitGroup
	for i := 1; i <= senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var batch [][]byte
			for j, d := range datagrams {
				batch = append(batch, d)
				if j%3 == 0 && j/3 < garbage {
					junk := make([]byte, 1+rng.IntN(200))
					for k := range junk {
						junk[k] = byte(rng.Uint32())
					}
					batch = append(batch, junk)
				}
			}
			for start := 0; start < len(batch); start += 10 {
				replay(t, "127.0.0."+strconv.Itoa(i), ts.udp, batch[start:min(start+10, len(batch))])
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for i := 1; i <= senders; i++ {
		ts.waitDatagrams("127.0.0."+strconv.Itoa(i), perSender+garbage)
	}
	close(stop)
	<-loopDone
	require.NoError(t, ts.svc.flush(context.Background()))

	for i := 1; i <= senders; i++ {
		ip := "127.0.0." + strconv.Itoa(i)
		q := expectedTotals{"minutes": {"2024-03-01 12:00": {"all": {}}}, "hours": {"2024-03-01 12": {"all": {}}}}
		got := statsOf(t, ts.api.URL, ip, q)
		for gran, b := range map[string]string{"minutes": "2024-03-01 12:00", "hours": "2024-03-01 12"} {
			all := got[gran][b]["all"]
			require.Equal(t, statCounts{Flows: flows, Packets: packets, Bytes: bytes}, all.statCounts, "%s %s", ip, gran)
			require.Equal(t, flows, all.In.Flows+all.Out.Flows, "each generated flow is in or out, not both")
		}
		_, detail := ts.call("GET", "/senders/"+ip, nil)
		c := detail["counters"].(map[string]any)
		require.EqualValues(t, flows, c["flows"])
		require.EqualValues(t, 0, c["unmatched"])
	}
}
