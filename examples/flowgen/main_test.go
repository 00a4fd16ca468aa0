package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// udpSink is a UDP socket that keeps every datagram it receives, with its
// source.
type udpSink struct {
	conn *net.UDPConn
	addr netip.AddrPort
	mu   sync.Mutex
	got  []testkit.UDPDatagram
	more chan struct{} // a datagram came
	done chan struct{}
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	_ = c.SetReadBuffer(4 << 20)
	s := &udpSink{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, testkit.UDPDatagram{From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), To: s.addr, Payload: bytes.Clone(buf[:n])})
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

// wait returns the first n datagrams once they have come.
func (s *udpSink) wait(t *testing.T, n int) []testkit.UDPDatagram {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.got)
		s.mu.Unlock()
		if got >= n {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.got[:n]
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("%d of %d datagrams came", got, n)
		}
	}
}

// flowgen runs the command with args and returns its standard error; it
// fails t unless the exit status is 0.
func flowgen(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	status := run(context.Background(), args, &stderr)
	require.Equal(t, 0, status, "flowgen %q: %s", args, stderr.String())
	return stderr.String()
}

var sentRE = regexp.MustCompile(`sent (\d+) flows \(v\d+\) in (\d+) (datagrams|messages)`)

// sent returns the flows and datagrams flowgen says it sent.
func sent(t *testing.T, stderr string) (flows, datagrams int) {
	t.Helper()
	m := sentRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	flows, _ = strconv.Atoi(m[1])
	datagrams, _ = strconv.Atoi(m[2])
	return flows, datagrams
}

var (
	binMu   sync.Mutex
	binDir  string
	binPath = map[string]string{}
)

// buildBinary builds the example program pkg (once) and returns its path.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPath[pkg]; ok {
		return p
	}
	gobin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command builds %s", pkg)
	if binDir == "" {
		binDir, err = os.MkdirTemp("", "flowgen-test")
		require.NoError(t, err)
	}
	p := filepath.Join(binDir, filepath.Base(pkg))
	testkit.NoRaceExitSleep()
	out, err := exec.Command(gobin, testkit.GoBuildArgs(p, pkg)...).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	binPath[pkg] = p
	return p
}

func TestMain(m *testing.M) {
	testkit.RaiseParallel(2)
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestRecordIsFlowdump sends flows of every version, several exporters,
// sampled and IPv6 ones, into a UDP socket, writes what came into a pcap
// and checks that flowdump -json prints exactly the lines flowgen
// recorded: every flow, every options record, in order, byte for byte.
func TestRecordIsFlowdump(t *testing.T) {
	t.Parallel() // waits on the programs it starts
	for _, c := range [][]string{
		{"-version", "5", "-exporters", "2", "-sampling", "50"},
		{"-version", "9", "-exporters", "3", "-ipv6", "0.3", "-sampling", "10"},
		{"-version", "10", "-exporters", "2", "-ipv6", "0.5", "-sampling", "1000"},
		{"-version", "10", "-seed", "7"},
	} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			sink := newUDPSink(t)
			dir := t.TempDir()
			rec := filepath.Join(dir, "record.jsonl")
			args := append([]string{"-to", sink.addr.String(), "-flows", "3000", "-record", rec}, c...)
			flows, datagrams := sent(t, flowgen(t, args...))
			require.Equal(t, 3000, flows)
			pcap := filepath.Join(dir, "sent.pcap")
			f, err := os.Create(pcap)
			require.NoError(t, err)
			require.NoError(t, testkit.WriteUDPPcap(f, sink.wait(t, datagrams)))
			require.NoError(t, f.Close())
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(buildBinary(t, "../flowdump"), "-json", pcap)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), stderr.String())
			require.Empty(t, stderr.String())
			want, err := os.ReadFile(rec)
			require.NoError(t, err)
			require.Equal(t, 3000, bytes.Count(stdout.Bytes(), []byte(`"packets"`)))
			if !bytes.Equal(want, stdout.Bytes()) {
				wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(stdout.Bytes(), []byte("\n"))
				for i := range min(len(wl), len(gl)) {
					require.Equal(t, string(wl[i]), string(gl[i]), "line %d", i+1)
				}
				require.Equal(t, len(wl), len(gl), "lines")
			}
		})
	}
}

// TestSameSeed checks that the same seed gives the same flows, whatever
// the number of exporters, and another seed others.
func TestSameSeed(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	a, b, c := newGenerator(42, 0.3, 10), newGenerator(42, 0.3, 10), newGenerator(43, 0.3, 10)
	var fa, fb, fc netflow.Flow
	differ := 0
	for i := uint64(0); i < 1000; i++ {
		a.flow(&fa, i, now)
		b.flow(&fb, 999-i, now) // another order
		b.flow(&fb, i, now)
		c.flow(&fc, i, now)
		require.Equal(t, fa, fb, "flow %d", i)
		if fa != fc {
			differ++
		}
	}
	require.Greater(t, differ, 990)
	// Whole runs: the records differ only in what the sockets and the
	// clock make, and in which exporter (domain, sequence number) sent
	// each flow.
	var recs [2][]string
	for i, k := range []string{"1", "3"} {
		sink := newUDPSink(t)
		rec := filepath.Join(t.TempDir(), "r.jsonl")
		_, datagrams := sent(t, flowgen(t, "-to", sink.addr.String(), "-version", "10", "-flows", "500", "-exporters", k, "-seed", "5", "-record", rec))
		sink.wait(t, datagrams)
		b, err := os.ReadFile(rec)
		require.NoError(t, err)
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var obj map[string]any
			require.NoError(t, json.Unmarshal(line, &obj))
			for _, key := range []string{"exporter", "domain", "sequence", "start", "end"} {
				delete(obj, key)
			}
			if fields, ok := obj["fields"].(map[string]any); ok {
				delete(fields, "flowStartMilliseconds")
				delete(fields, "flowEndMilliseconds")
			}
			norm, err := json.Marshal(obj)
			require.NoError(t, err)
			recs[i] = append(recs[i], string(norm))
		}
		slices.Sort(recs[i])
	}
	require.Len(t, recs[0], 500)
	require.Equal(t, recs[0], recs[1])
}

// TestUsage checks that bad command lines are refused with status 2.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-to", "127.0.0.1:9", "-version", "7"},
		{"-to", "127.0.0.1:9", "-version", "5", "-ipv6", "0.1"},
		{"-to", "127.0.0.1:9", "-version", "5", "-sampling", "20000"},
		{"-to", "127.0.0.1:9", "-version", "9", "-tcp"},
		{"-to", "127.0.0.1:9", "-ipv6", "1.5"},
		{"-to", "127.0.0.1:9", "-exporters", "0"},
		{"-to", "127.0.0.1:9", "-rate", "-1"},
		{"-to", "127.0.0.1:9", "-shift", "1h"},
		{"-to", "127.0.0.1:9", "-replay", "x.pcap", "-version", "9"},
		{"-to", "127.0.0.1:9", "extra"},
	} {
		var stderr bytes.Buffer
		require.Equal(t, 2, run(context.Background(), args, &stderr), "%q", args)
		require.Contains(t, stderr.String(), "flowgen")
	}
}

// TestRate checks that -rate paces the flows: 2000 flows at 10000 a
// second take at least the 0.2 s they must.
func TestRate(t *testing.T) {
	sink := newUDPSink(t)
	start := time.Now()
	_, datagrams := sent(t, flowgen(t, "-to", sink.addr.String(), "-version", "5", "-flows", "2000", "-rate", "10000"))
	require.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
	sink.wait(t, datagrams)
}

// TestReplay re-sends a capture of softflowd's v9 and IPFIX export with
// its times moved by an hour: the replayed datagrams decode to the same
// flows an hour later; without -shift they are the capture's bytes.
func TestReplay(t *testing.T) {
	for _, name := range []string{"softflowd_v9.pcap", "softflowd_v10.pcap", "softflowd_v5.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "softflowd", name)
			orig := testkit.UDPPayloads(t, path)
			sink := newUDPSink(t)
			flowgen(t, "-to", sink.addr.String(), "-replay", path)
			got := sink.wait(t, len(orig))
			for i := range orig {
				require.Equal(t, orig[i], got[i].Payload, "datagram %d", i)
			}
			sink = newUDPSink(t)
			flowgen(t, "-to", sink.addr.String(), "-replay", path, "-shift", "1h", "-rate", "1000")
			got = sink.wait(t, len(orig))
			before := decodeFlows(t, orig, nil)
			after := decodeFlows(t, nil, got)
			require.Len(t, after, len(before))
			require.NotEmpty(t, before)
			for i := range before {
				b, a := before[i], after[i]
				require.Equal(t, b.Start.Add(time.Hour), a.Start, "flow %d", i)
				require.Equal(t, b.End.Add(time.Hour), a.End, "flow %d", i)
				b.Start, b.End, b.Exporter = a.Start, a.End, a.Exporter
				require.Equal(t, b, a, "flow %d", i)
			}
		})
	}
}

// decodeFlows decodes payloads (or the datagrams' payloads) in order with
// one decoder.
func decodeFlows(t *testing.T, payloads [][]byte, dgs []testkit.UDPDatagram) []netflow.Flow {
	t.Helper()
	for _, d := range dgs {
		payloads = append(payloads, d.Payload)
	}
	dec := netflow.NewDecoder(netflow.Config{})
	var buf netflow.Buffer
	var flows []netflow.Flow
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	for _, p := range payloads {
		var err error
		flows, err = dec.DecodeFlows(&buf, flows, exporter, p)
		require.NoError(t, err)
	}
	return flows
}
