package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// A change stored in Redis by one collector reaches the others by
// notification within a few microseconds to a few milliseconds on loopback
// (redisstore/README.md, "The invalidation window"). Data decoded inside
// that window is decoded with what the instance knew: held if it had no
// template (released by itself after the announcement,
// netflow.Decoder.TakeReleased), without the sampling interval if the
// options state had not arrived yet. The tests wait on the collectors'
// counters (-metrics) and output rather than for fixed times.

// singleDecode runs one collector with the default in-memory store over the
// whole capture, from ex, and checks it against tshark; it returns the
// collector's output lines, the reference for the multi-process tests.
func singleDecode(t *testing.T, ex *exporter, msgs [][]byte, e expectation) []string {
	t.Helper()
	single := startCollector(t)
	for _, m := range msgs {
		ex.send(single.addr, m)
	}
	all := span(0, len(msgs))
	single.waitLines(flowsIn(e, all...), "single collector")
	single.stop()
	keys, options := flowKeys(t, single.stdout.String())
	require.ElementsMatch(t, expectedKeys(e, all...), keys, "a single collector's flows against tshark's decode")
	require.Equal(t, e.options, options)
	return outputLines(single.stdout.String())
}

func outputLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestCollectorsShareRedis runs three collector processes on one
// redis-server and one prefix and spreads the capture's messages over them
// round-robin (message i to collector i%3) from one exporter socket: the
// union of their output equals a single collector's decode of the whole
// capture, line for line (flows with their sampling interval and start and
// end times from the options record's system init time, and the options
// record), and matches tshark's decode.
//
// Timing: message 1 is sent first, before message 0 (UDP may reorder):
// collector 1 has no template yet and holds it. Message 0 (templates,
// options data, flows) then goes to collector 0, which stores the
// templates and options state in Redis while decoding it. Collector 1
// releases the held message by itself once Redis announces the templates
// (the receiver waits 200 ms after the announcement, so that the options
// state that follows them applies), without a further datagram; then the
// test sends messages 2 to 13. It waits for every collector's total
// instead of asserting at once.
func TestCollectorsShareRedis(t *testing.T) {
	t.Parallel() // a collector process: waits
	r := redistest.Start(t)
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	ex := newExporter(t)
	want := singleDecode(t, ex, msgs, e)
	perMsg := make([]int, len(msgs))
	for i := range msgs {
		perMsg[i] = flowsIn(e, i)
	}
	got := shareRedis(t, r, ex, msgs, perMsg)
	require.ElementsMatch(t, want, got, "the union of the three collectors' output against one collector's")
	keys, options := flowKeys(t, strings.Join(got, "\n"))
	require.ElementsMatch(t, expectedKeys(e, span(0, len(msgs))...), keys, "against tshark's decode")
	require.Equal(t, e.options, options)
}

// shareRedis runs three collectors on r under a new prefix, sends them
// msgs from ex round-robin in the order TestCollectorsShareRedis
// describes, waits for perMsg[i] lines for each message i, checks their
// counters and returns the union of their output lines. msgs[0] must hold
// the templates and options data, the others data only.
func shareRedis(t *testing.T, r *redistest.Server, ex *exporter, msgs [][]byte, perMsg []int) []string {
	t.Helper()
	require.GreaterOrEqual(t, len(msgs), 5)
	prefix := newPrefix(t)
	var cs [3]*storeCollector
	for i := range cs {
		cs[i] = startStoreCollector(t, r, prefix, true) // consistency_test.go
	}
	ex.send(cs[1].addr, msgs[1])
	waitFor(t, "collector 1 holds message 1", func() bool { return cs[1].metric(t, "netflow_pending_sets") == "1" })
	require.Equal(t, 0, cs[1].lines(), "collector 1 decoded message 1 without its template")
	ex.send(cs[0].addr, msgs[0])
	cs[0].waitLines(perMsg[0], "collector 0, message 0")
	cs[1].waitLines(perMsg[1], "collector 1 releases message 1 without another datagram")
	for i := 2; i < len(msgs); i++ {
		ex.send(cs[i%3].addr, msgs[i])
	}
	var got []string
	for i, c := range cs {
		n := 0
		for m := i; m < len(msgs); m += 3 {
			n += perMsg[m]
		}
		c.waitLines(n, "collector "+strconv.Itoa(i))
		c.stop()
		got = append(got, outputLines(c.stdout.String())...)
		require.NotContains(t, c.stderr.String(), "template not found", "collector %d", i)
	}
	// Collector 1 held message 1 and released it on the announcement.
	require.Regexp(t, `pending: held 0 \(0 bytes\), added 1, matched 1, expired 0`, cs[1].stderr.String())
	templates := templateCount(t, msgs[0])
	for i, c := range cs {
		require.Contains(t, c.stderr.String(), "redis store: connected true, templates "+strconv.Itoa(templates)+", states 1, pending writes 0, errors 0, malformed 0", "collector %d", i)
		require.Contains(t, c.stderr.String(), "options state: domains 1, store failures 0", "collector %d", i)
	}
	return got
}

// TestCollectorRedisOutage stops redis-server (SIGKILL) under a collector
// mid-stream and starts it again, empty, on the same port: the collector
// decodes on from its cache while Redis is down, the writes it cannot make
// are counted and printed with its counters, and it recovers by itself:
// it writes back its templates and options state, and a second collector
// started afterwards decodes data only, scaled.
func TestCollectorRedisOutage(t *testing.T) {
	t.Parallel() // a collector process: waits
	r := redistest.Start(t)
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	ex := newExporter(t)
	prefix := newPrefix(t)

	a := startCollector(t, "-store", r.URL(), "-store-prefix", prefix)
	ex.send(a.addr, msgs[0])
	a.waitLines(flowsIn(e, 0), "message 0")
	templates := templateCount(t, msgs[0])
	require.Equal(t, templates, redisKeys(r, prefix+":t:*"), "templates in Redis")
	require.Equal(t, 1, redisKeys(r, prefix+":s:*"), "options state in Redis")

	r.Stop()
	for i := 1; i <= 6; i++ {
		ex.send(a.addr, msgs[i])
	}
	a.waitLines(flowsIn(e, span(0, 7)...), "messages 1-6 while Redis is down")
	// The exporter resends its templates and options while Redis is down:
	// the writes fail, are reported and counted; decoding goes on.
	ex.send(a.addr, msgs[0])
	waitFor(t, "a store error reported", func() bool { return strings.Contains(a.stderr.String(), "collector: datagram from") })
	for i := 7; i <= 9; i++ {
		ex.send(a.addr, msgs[i])
	}
	// Message 0's flows decode although its writes failed: twice in all.
	a.waitLines(flowsIn(e, span(0, 10)...)+flowsIn(e, 0), "messages 0 and 7-9 while Redis is down")
	keysDown, _ := flowKeys(t, a.stdout.String())
	require.ElementsMatch(t, append(expectedKeys(e, span(0, 10)...), expectedKeys(e, 0)...), keysDown,
		"flows decoded from the cache while Redis was down")

	r.Restart() // empty: no persistence
	waitFor(t, "the collector writes its templates and options state back", func() bool {
		return redisKeys(r, prefix+":t:*") == templates && redisKeys(r, prefix+":s:*") == 1
	})
	b := startCollector(t, "-store", r.URL(), "-store-prefix", prefix)
	for i := 10; i < len(msgs); i++ {
		ex.send(b.addr, msgs[i])
	}
	b.waitLines(flowsIn(e, span(10, len(msgs))...), "collector b, data only")
	b.stop()
	keysB, _ := flowKeys(t, b.stdout.String())
	require.ElementsMatch(t, expectedKeys(e, span(10, len(msgs))...), keysB, "b decodes and scales with what a wrote back")

	require.Equal(t, 0, a.signal(syscall.SIGTERM), a.stderr.String())
	stderr := a.stderr.String()
	total := regexp.MustCompile(`total: .*\(.*store (\d+).*\)`).FindStringSubmatch(stderr)
	require.NotNil(t, total, "store failures in the counters:\n%s", stderr)
	require.NotEqual(t, "0", total[1])
	m := regexp.MustCompile(`redis store: connected true, templates ` + strconv.Itoa(templates) + `, states 1, pending writes 0, errors (\d+), malformed 0, notifications \d+, resyncs (\d+), reseeds (\d+)`).FindStringSubmatch(stderr)
	require.NotNil(t, m, "the store's counters:\n%s", stderr)
	require.NotEqual(t, "0", m[1], "failed Redis operations counted")
	require.NotEqual(t, "0", m[3], "Redis found emptied and reseeded")
	require.Regexp(t, `options state: domains 1, store failures [1-9]`, stderr)
}

// TestCollectorStoreUsage: -state with -store is refused (the Redis store
// is the durable state), a URL that is not redis:// is bad usage, and a
// Redis that cannot be reached is exit status 1, the password not printed.
func TestCollectorStoreUsage(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		msg    string
	}{
		{[]string{"-store", "redis://127.0.0.1:1/0", "-state", "x.json"}, 2, "-state and -store exclude each other"},
		{[]string{"-store", "http://127.0.0.1:1/0"}, 2, "not a redis:// or rediss:// URL"},
		{[]string{"-store", "redis://127.0.0.1:1/0", "-store-prefix", ""}, 2, "-store-prefix must not be empty"},
		{[]string{"-state", "x.json", "-state-interval", "0s"}, 2, "-state-interval must be positive"},
		{[]string{"-store", "redis://:s3cret@127.0.0.1:1/0"}, 1, "collector: -store redis://:xxxxx@127.0.0.1:1/0:"},
	} {
		var stdout, stderr syncBuffer
		status := run(t.Context(), append([]string{"-listen", "127.0.0.1:0"}, c.args...), &stdout, &stderr)
		require.Equal(t, c.status, status, "%v: %s", c.args, stderr.String())
		require.Contains(t, stderr.String(), c.msg, c.args)
		require.NotContains(t, stderr.String(), "s3cret")
		require.Empty(t, stdout.String())
	}
}

// TestCollectorRedisPassword: the password and DB in the -store URL are
// used (the collector's templates land in DB 3), a wrong password is exit
// status 1 with the password not printed.
func TestCollectorRedisPassword(t *testing.T) {
	t.Parallel() // a collector process: waits
	r := redistest.Start(t, "--requirepass", "s3cret-pw")
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	prefix := newPrefix(t)
	url := fmt.Sprintf("redis://:s3cret-pw@127.0.0.1:%d/3", r.Port())

	var stdout, stderr syncBuffer
	wrong := fmt.Sprintf("redis://:wrong-pw@127.0.0.1:%d/3", r.Port())
	require.Equal(t, 1, run(t.Context(), []string{"-listen", "127.0.0.1:0", "-store", wrong}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "collector: -store redis://:xxxxx@127.0.0.1:")
	require.NotContains(t, stderr.String(), "wrong-pw")

	c := startCollector(t, "-store", url, "-store-prefix", prefix)
	c.waitStderr(`store: redis redis://:xxxxx@127.0.0.1:`)
	require.NotContains(t, c.stderr.String(), "s3cret-pw")
	ex := newExporter(t)
	ex.send(c.addr, msgs[0])
	c.waitLines(flowsIn(e, 0), "message 0")
	c.stop()
	reply, err := r.Command("AUTH", "s3cret-pw")
	require.NoError(t, err)
	require.Equal(t, "OK", reply)
	require.Equal(t, -1, redisKeys(r, prefix+":t:*"), "without AUTH the server refuses")
	require.Equal(t, templateCount(t, msgs[0]), redisKeysIn(r, 3, "s3cret-pw", prefix+":t:*"), "templates in DB 3")
	require.Equal(t, 0, redisKeysIn(r, 0, "s3cret-pw", prefix+":t:*"), "nothing in DB 0")
}
