package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestKeyLayoutAndTTLs: the keys are those docs/netflowd.md documents, each
// stats key with the TTL of its granularity.
func TestKeyLayoutAndTTLs(t *testing.T) {
	redisURL := redistest.Start(t).URL()
	opts := testOptions()
	opts.redisPrefix = "nfd-test"
	opts.ttls = [numGranularities]time.Duration{year: 500 * time.Second, month: 400 * time.Second,
		day: 300 * time.Second, hour: 200 * time.Second, minute: 100 * time.Second}
	ts := startService(t, redisURL, opts)
	status, _ := ts.call("PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)
	replay(t, "127.0.0.1", ts.udp, udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap"))
	ts.waitDatagrams("127.0.0.1", 1)
	require.NoError(t, ts.svc.flush(context.Background()))

	rdb := redisClient(t, redisURL)
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	stats := map[string]time.Duration{
		"nfd-test:stats:127.0.0.1:2023":             500 * time.Second,
		"nfd-test:stats:127.0.0.1:2023-11":          400 * time.Second,
		"nfd-test:stats:127.0.0.1:2023-11-14":       300 * time.Second,
		"nfd-test:stats:127.0.0.1:2023-11-14 22":    200 * time.Second,
		"nfd-test:stats:127.0.0.1:2023-11-14 22:13": 100 * time.Second,
	}
	want := []string{"nfd-test:senders", "nfd-test:sender:127.0.0.1"}
	for k := range stats {
		want = append(want, k)
	}
	require.ElementsMatch(t, want, keys)
	for k, ttl := range stats {
		got, err := rdb.TTL(ctx, k).Result()
		require.NoError(t, err)
		require.InDelta(t, ttl.Seconds(), got.Seconds(), 5, k)
		// tshark: 192.0.2.10:5353 -> 198.51.100.53:53, 3 packets, 204 bytes, out.
		v, err := rdb.HGet(ctx, k, "dstport:53|out|bytes").Result()
		require.NoError(t, err)
		require.Equal(t, "204", v)
		v, err = rdb.HGet(ctx, k, "dstport:53|out|packets").Result()
		require.NoError(t, err)
		require.Equal(t, "3", v)
		require.False(t, rdb.HExists(ctx, k, "dstport:53|in|bytes").Val(), "not in: no hash field")
		require.False(t, rdb.HExists(ctx, k, "dstport:53|both|flows").Val(), "not both: no hash field")
	}
	rec, err := rdb.HGet(ctx, "nfd-test:senders", "127.0.0.1").Result()
	require.NoError(t, err)
	require.JSONEq(t, `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`, rec)
	counters, err := rdb.HGetAll(ctx, "nfd-test:sender:127.0.0.1").Result()
	require.NoError(t, err)
	require.Equal(t, "1", counters["datagrams"])
	require.Equal(t, "7", counters["flows"])
	require.Equal(t, "1", counters["unmatched"])
	last, err := strconv.ParseInt(counters["lastSeen"], 10, 64)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), time.Unix(0, last), time.Minute)
}

// TestRedisOutage: while Redis is down a flush fails and keeps the counts;
// once a Redis answers on the address again, the next flush writes them.
func TestRedisOutage(t *testing.T) {
	t.Parallel() // waits on processes and Redis
	r := redistest.Start(t)
	redisURL := r.URL()
	// No retries inside a call: a flush fails at once while Redis is down.
	ts := startService(t, redisURL+"?max_retries=-1", testOptions())
	status, _ := ts.call("PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)
	want, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v5.json", mustPrefixes([]string{"192.0.2.0/24"}))
	replay(t, "127.0.0.1", ts.udp, udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap"))
	ts.waitDatagrams("127.0.0.1", 1)

	// Stop the server (SHUTDOWN NOSAVE), then start it again on its port.
	rdb := redisClient(t, redisURL)
	rdb.ShutdownNoSave(context.Background())
	require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() != nil }, 5*time.Second, 20*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	require.Error(t, ts.svc.flush(ctx))
	require.NotEmpty(t, ts.svc.fl.retry, "the counts are kept")
	status, out := ts.call("POST", "/stats/127.0.0.1", want.query())
	require.Equal(t, 503, status)
	require.Contains(t, out["error"], "redis")

	r.Restart()
	require.Eventually(t, func() bool { return ts.svc.flush(context.Background()) == nil }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, want, statsOf(t, ts.api.URL, "127.0.0.1", want))
	_, detail := ts.call("GET", "/senders/127.0.0.1", nil)
	require.EqualValues(t, 7, detail["counters"].(map[string]any)["flows"])
	_, list := ts.call("GET", "/senders", nil)
	require.GreaterOrEqual(t, list["flushFailures"], 1.0)
	require.EqualValues(t, 0, list["flushLost"])
}
