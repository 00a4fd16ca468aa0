package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// dialFrom connects to to from the loopback address from: each address of
// 127.0.0.0/8 is a source of its own for the collector.
func dialFrom(t *testing.T, from string, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
		net.TCPAddrFromAddrPort(to))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer reads c until the collector closes it (at most 10 s) and
// returns how long that took.
func closedByPeer(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(10*time.Second)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the collector did not close the connection")
	return time.Since(start)
}

// The collector binary's TCP bound flags: -tcp-max-per-source refuses a
// third connection from one address, -tcp-max-connections full lets a new
// source in by evicting, -tcp-message-timeout cuts a trickling message,
// -tcp-first-message-timeout closes idle connections; then real softflowd
// over TCP delivers every flow of its input, and the counters on exit say
// how each connection ended.
func TestCollectorTCPLimitFlags(t *testing.T) {
	testkit.NeedTool(t, "softflowd")
	p := startCollector(t, "-flows-only", "-tcp", "127.0.0.1:0", "-metrics", "127.0.0.1:0",
		"-tcp-max-connections", "4", "-tcp-max-per-source", "2", "-tcp-idle-timeout", "1m",
		"-tcp-first-message-timeout", "1s", "-tcp-message-timeout", "200ms", "-tcp-min-rate", "1000")
	addr := tcpAddrOf(t, p.stderr)
	maddr := stderrValue(t, p.stderr, "metrics on ")

	a1, a2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	a3 := dialFrom(t, "127.0.0.2", addr)
	closedByPeer(t, a3) // over -tcp-max-per-source
	b1, b2 := dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr)

	// Four open: a trickler from a new address takes a1's place (the
	// longest-idle of a busiest source), then is cut for its pace: a
	// byte every 50 ms, 20 bytes/s.
	tr := dialFrom(t, "127.0.0.4", addr)
	closedByPeer(t, a1)
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		msg := ipfixStream()
		for i := 0; i < len(msg); i++ {
			if _, err := tr.Write(msg[i : i+1]); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond): // the trickler's pace
			}
		}
	}()
	took := closedByPeer(t, tr)
	close(stop)
	<-trickled
	assert.Less(t, took, 900*time.Millisecond, "cut by -tcp-message-timeout, not -tcp-first-message-timeout")

	// The idle ones reach -tcp-first-message-timeout.
	for _, c := range []net.Conn{a2, b1, b2} {
		closedByPeer(t, c)
	}

	// softflowd, IPFIX over TCP from 127.0.0.1.
	in, err := filepath.Abs("../../testdata/softflowd/softflowd_input.pcap")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sf := exec.CommandContext(ctx, "softflowd", "-r", in, "-a", "-d", "-c", "none",
		"-p", filepath.Join(t.TempDir(), "pid"), "-n", addr.String(), "-P", "tcp", "-v", "10")
	out, err := sf.CombinedOutput()
	require.NoError(t, err, "%s", out)
	want := inputFlowCount(t)
	p.waitLines(want, "softflowd's flows")
	for _, line := range strings.Split(strings.TrimSpace(p.stdout.String()), "\n") {
		var f map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &f))
		assert.True(t, strings.HasPrefix(f["exporter"].(string), "127.0.0.1:"), line)
	}
	// The metrics count the same, once softflowd's connection is closed.
	var metrics string
	waitFor(t, "softflowd's connection counted closed", func() bool {
		metrics = scrape(t, maddr)
		return metricValue(metrics, `netflow_tcp_connections_total{event="closed"}`) == "1"
	})
	for event, want := range map[string]string{"accepted": "6", "refused": "0", "over_limit": "0", "handshake_failed": "0",
		"idle_closed": "0", "stream_error": "0", "source_limit": "1", "evicted": "1", "no_first_message": "3", "slow": "1"} {
		assert.Equal(t, want, metricValue(metrics, `netflow_tcp_connections_total{event="`+event+`"}`), event)
	}
	assert.Equal(t, "0", metricValue(metrics, "netflow_tcp_connections"))
	p.stop()
	assert.Contains(t, p.stderr.String(), "tcp: accepted 6, refused 0, over limit 0, handshake failed 0, closed 1, "+
		"idle closed 0, stream errors 0, source limit 1, evicted 1, no first message 3, slow 1\n")
	assert.Equal(t, want, p.lines(), "every flow once")
}

// inputFlowCount is the number of flows in softflowd's input, as its
// generator lists them.
func inputFlowCount(t *testing.T) int {
	t.Helper()
	var doc struct {
		Flows []json.RawMessage `json:"flows"`
	}
	raw, err := os.ReadFile("../../testdata/softflowd/softflowd_input_flows.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Flows)
	return len(doc.Flows)
}

// The TCP bound flags need -tcp, and sane values.
func TestCollectorTCPLimitUsage(t *testing.T) {
	for _, c := range []struct {
		args    []string
		message string
	}{
		{[]string{"-tcp-idle-timeout", "1s"}, "-tcp-idle-timeout need -tcp"},
		{[]string{"-tcp", "127.0.0.1:0", "-tcp-max-connections", "0"}, "at least 1"},
		{[]string{"-tcp", "127.0.0.1:0", "-tcp-message-timeout", "0s"}, "must be positive"},
		{[]string{"-tcp", "127.0.0.1:0", "-tcp-first-message-timeout", "-1s"}, "must not be negative"},
	} {
		var out, errs syncBuffer
		assert.Equal(t, 2, run(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, c.args...), &out, &errs), c.args)
		assert.Contains(t, errs.String(), c.message, c.args)
		assert.True(t, strings.HasPrefix(errs.String(), "collector: "), errs.String())
	}
}
