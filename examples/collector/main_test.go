package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the collector's goroutines and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// v5Datagram builds a v5 datagram of n TCP records, record i from
// 192.0.2.(i+1):(1000+i) to 198.51.100.(i+1):80 with i+1 packets and
// (i+1)*100 bytes, first seen 10 s before the export at 1700000000.
func v5Datagram(n int) []byte {
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 100000)
	binary.BigEndian.PutUint32(b[8:], 1700000000)
	binary.BigEndian.PutUint32(b[16:], 42)
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:], []byte{192, 0, 2, byte(i + 1)})
		copy(r[4:], []byte{198, 51, 100, byte(i + 1)})
		binary.BigEndian.PutUint32(r[16:], uint32(i+1))
		binary.BigEndian.PutUint32(r[20:], uint32(i+1)*100)
		binary.BigEndian.PutUint32(r[24:], 90000)
		binary.BigEndian.PutUint32(r[28:], 95000)
		binary.BigEndian.PutUint16(r[32:], uint16(1000+i))
		binary.BigEndian.PutUint16(r[34:], 80)
		r[37] = 0x1b
		r[38] = 6
	}
	return b
}

// waitFor waits up to 30 s (a deadline for a failure: a loaded CI machine
// is slow) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 30*time.Second, what, cond)
}

// waitWithin waits up to d until cond holds, looking every 5 ms.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				t.Errorf("goroutine leak: %d before, %d after", before, runtime.NumGoroutine())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// start runs the collector in this process until the returned stop is
// called; stop returns the exit status.
func start(t *testing.T, args ...string) (addr netip.AddrPort, stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = new(syncBuffer), new(syncBuffer)
	status := make(chan int, 1)
	go func() { status <- run(ctx, args, stdout, stderr) }()
	waitFor(t, "listening on", func() bool { return strings.Contains(stderr.String(), "\n") })
	first, _, _ := strings.Cut(stderr.String(), "\n")
	a, ok := strings.CutPrefix(first, "listening on ")
	if !ok {
		cancel()
		t.Fatalf("first line on stderr %q", first)
	}
	addr, err := netip.ParseAddrPort(a)
	if err != nil {
		t.Fatal(err)
	}
	stop = func() int { cancel(); return <-status }
	return addr, stdout, stderr, stop
}

func send(t *testing.T, to netip.AddrPort, datagrams ...[]byte) netip.AddrPort {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range datagrams {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

var jsonKeys = []string{"exporter", "version", "domain", "sequence", "src_addr", "dst_addr", "next_hop",
	"src_port", "dst_port", "proto", "tos", "tcp_flags", "packets", "bytes", "start", "end", "in_if",
	"out_if", "src_as", "dst_as", "src_mask", "dst_mask", "sampling_interval"}

// keysInOrder returns the keys of a JSON object line in the order written.
func keysInOrder(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %q: %v", line, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestCollectorJSON(t *testing.T) {
	noLeak(t)
	addr, stdout, stderr, stop := start(t, "-listen", "127.0.0.1:0", "-json", "-workers", "2")
	from := send(t, addr, v5Datagram(2), []byte{0, 99, 0, 0})
	waitFor(t, "two flows", func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	waitFor(t, "the decode error", func() bool { return strings.Contains(stderr.String(), "unsupported version") })
	if status := stop(); status != 0 {
		t.Errorf("exit status %d", status)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	for i, line := range lines {
		keys := keysInOrder(t, line)
		// Every key is one of the list, in its order.
		j := 0
		for _, k := range keys {
			for j < len(jsonKeys) && jsonKeys[j] != k {
				j++
			}
			if j == len(jsonKeys) {
				t.Errorf("line %d: key %q unknown or out of order in %v", i, k, keys)
				break
			}
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"exporter": from.String(), "version": 5.0, "sequence": 42.0,
			"src_addr": "192.0.2." + string(rune('1'+i)), "dst_addr": "198.51.100." + string(rune('1'+i)),
			"src_port": float64(1000 + i), "dst_port": 80.0, "proto": 6.0, "tcp_flags": 27.0,
			"packets": float64(i + 1), "bytes": float64(100 * (i + 1)),
			"start": "2023-11-14T22:13:10.000000000Z", "end": "2023-11-14T22:13:15.000000000Z",
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, f[k], v)
			}
		}
	}
	errs := stderr.String()
	for _, want := range []string{
		"total: datagrams 2, bytes 124, decoded 1, flows 2, failed 1, denied 0, oversize 0, dropped 0, stopped 0 (unsupported version 1)",
		"exporter " + from.String() + ": datagrams 2",
		"kernel drops: 0",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestCollectorTableAllow(t *testing.T) {
	noLeak(t)
	addr, stdout, stderr, stop := start(t, "-listen", "127.0.0.1:0", "-allow", "192.0.2.0/24,198.51.100.7", "-v")
	send(t, addr, v5Datagram(1))
	waitFor(t, "the refusal", func() bool { return strings.Contains(stderr.String(), "refusing") })
	if status := stop(); status != 0 {
		t.Errorf("exit status %d", status)
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "VER") {
		t.Errorf("stdout %q, want the table header only", out)
	}
	if !strings.Contains(stderr.String(), "denied 1") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// Without -v, the receiver's warnings after the start (the refusal of
	// 127.0.0.2, read before 127.0.0.1's rows) do not reach standard error
	// (TestCollectorWarnsOfSmallReceiveBuffer: those while it starts do).
	addr, stdout, stderr, stop = start(t, "-listen", "127.0.0.1:0", "-allow", "127.0.0.1")
	refused, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if _, err := refused.Write(v5Datagram(1)); err != nil {
		t.Fatal(err)
	}
	send(t, addr, v5Datagram(3))
	waitFor(t, "three rows", func() bool { return strings.Count(stdout.String(), "\n") == 4 })
	stop()
	if errs := stderr.String(); !strings.Contains(errs, "denied 1") || strings.Contains(errs, "refusing") {
		t.Errorf("without -v, stderr:\n%s", errs)
	}
	rows := strings.Split(stdout.String(), "\n")
	for _, want := range []string{"192.0.2.3:1002", "198.51.100.3:80", "tcp", "...AP.SF", "300"} {
		if !strings.Contains(rows[3], want) {
			t.Errorf("row %q lacks %q", rows[3], want)
		}
	}
}

func TestCollectorUsage(t *testing.T) {
	noLeak(t)
	var out, errs syncBuffer
	if s := run(context.Background(), []string{"-allow", "nonsense"}, &out, &errs); s != 2 {
		t.Errorf("bad -allow: status %d", s)
	}
	if s := run(context.Background(), []string{"extra"}, &out, &errs); s != 2 {
		t.Errorf("extra argument: status %d", s)
	}
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	errs = syncBuffer{}
	if s := run(context.Background(), []string{"-listen", busy.LocalAddr().String()}, &out, &errs); s != 1 ||
		!strings.Contains(errs.String(), "netflow: listen failed") {
		t.Errorf("address in use: status %d, stderr %q", s, errs.String())
	}
}

// TestCollectorSignals builds the command and stops it with SIGINT and
// SIGTERM.
func TestCollectorSignals(t *testing.T) {
	t.Parallel() // a collector process: waits
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	bin := collectorBinary(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-json")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderrPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		errs := bufio.NewReader(stderrPipe)
		first, err := errs.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		addr, err := netip.ParseAddrPort(strings.TrimSpace(strings.TrimPrefix(first, "listening on ")))
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("first line %q: %v", first, err)
		}
		send(t, addr, v5Datagram(1))
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, `{"exporter":"127.0.0.1:`) {
			t.Errorf("%v: stdout %q, %v", sig, line, err)
		}
		cmd.Process.Signal(sig)
		rest := new(strings.Builder)
		bufio.NewReader(errs).WriteTo(rest)
		if err := cmd.Wait(); err != nil {
			t.Errorf("%v: %v\n%s", sig, err, rest)
		}
		if !strings.Contains(rest.String(), "total: datagrams 1,") {
			t.Errorf("%v: counters missing from stderr:\n%s", sig, rest)
		}
	}
}
