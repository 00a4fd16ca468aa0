package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/testkit"
)

// tcpAddrOf waits for the "tcp listening on ADDR" line, which must be the
// second line on stderr.
func tcpAddrOf(t *testing.T, stderr *syncBuffer) netip.AddrPort {
	t.Helper()
	waitFor(t, "tcp listening on", func() bool { return strings.Count(stderr.String(), "\n") >= 2 })
	lines := strings.Split(stderr.String(), "\n")
	a, ok := strings.CutPrefix(lines[1], "tcp listening on ")
	require.True(t, ok, "second line on stderr %q", lines[1])
	addr, err := netip.ParseAddrPort(a)
	require.NoError(t, err)
	return addr
}

// ipfixStream is two IPFIX messages of observation domain 5, built with
// the encoder's pieces: a template, then one data record of it: TCP from
// 192.0.2.10:40000 to 198.51.100.20:443, 12 packets, 3400 bytes.
func ipfixStream() []byte {
	tmpl, err := netflow.NewTemplate(10, 256, false, 0, []netflow.TemplateField{
		{ID: 8, Length: 4}, {ID: 12, Length: 4}, {ID: 7, Length: 2}, {ID: 11, Length: 2},
		{ID: 4, Length: 1}, {ID: 2, Length: 4}, {ID: 1, Length: 4},
	})
	if err != nil {
		panic(err)
	}
	ft, err := export.NewFlowTemplate(tmpl, nil)
	if err != nil {
		panic(err)
	}
	message := func(dst []byte, seq uint32, setID uint16, body func([]byte) ([]byte, error)) []byte {
		start := len(dst)
		dst = export.AppendIPFIXHeader(dst, &netflow.IPFIXHeader{UnixSecs: 1_700_000_000, Sequence: seq, ObservationDomainID: 5})
		set := len(dst)
		dst = export.AppendSetHeader(dst, setID)
		dst, err := body(dst)
		if err == nil {
			dst, err = export.FinishSet(dst, set, false)
		}
		if err == nil {
			dst, err = export.FinishIPFIXMessage(dst, start)
		}
		if err != nil {
			panic(err)
		}
		return dst
	}
	f := netflow.Flow{
		SrcAddr: netip.MustParseAddr("192.0.2.10"), DstAddr: netip.MustParseAddr("198.51.100.20"),
		SrcPort: 40000, DstPort: 443, Proto: 6, Packets: 12, Bytes: 3400,
	}
	stream := message(nil, 0, 2, func(b []byte) ([]byte, error) { return export.AppendTemplateRecord(b, tmpl) })
	return message(stream, 0, 256, func(b []byte) ([]byte, error) { return ft.AppendRecord(b, &f, &export.Context{}) })
}

// checkStreamFlow checks the JSON line of ipfixStream's flow.
func checkStreamFlow(t *testing.T, line string, from netip.AddrPort) {
	t.Helper()
	var f map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &f), line)
	assert.Equal(t, from.String(), f["exporter"])
	assert.EqualValues(t, 10, f["version"])
	assert.EqualValues(t, 5, f["domain"])
	assert.Equal(t, "192.0.2.10", f["src_addr"])
	assert.Equal(t, "198.51.100.20", f["dst_addr"])
	assert.EqualValues(t, 40000, f["src_port"])
	assert.EqualValues(t, 443, f["dst_port"])
	assert.EqualValues(t, 6, f["proto"])
	assert.EqualValues(t, 12, f["packets"])
	assert.EqualValues(t, 3400, f["bytes"])
}

func TestCollectorTCP(t *testing.T) {
	noLeak(t)
	_, stdout, stderr, stop := start(t, "-listen", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-json", "-flows-only")
	addr := tcpAddrOf(t, stderr)
	c, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	_, err = c.Write(ipfixStream())
	require.NoError(t, err)
	waitFor(t, "the flow", func() bool { return strings.Count(stdout.String(), "\n") == 1 })
	from := c.LocalAddr().(*net.TCPAddr).AddrPort()
	c.Close()
	assert.Equal(t, 0, stop())
	checkStreamFlow(t, strings.TrimSpace(stdout.String()), from)
	assert.Contains(t, stderr.String(), "tcp: accepted 1, refused 0")
	assert.Contains(t, stderr.String(), "total: datagrams 2,")
}

func TestCollectorTLS(t *testing.T) {
	noLeak(t)
	pki := testkit.NewPKI(t, t.TempDir())
	_, stdout, stderr, stop := start(t, "-listen", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-json", "-flows-only",
		"-tls-cert", pki.CertFile, "-tls-key", pki.KeyFile, "-tls-ca", pki.CAFile)
	addr := tcpAddrOf(t, stderr)

	// Without a client certificate: refused.
	bad, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pki.Roots})
	if err == nil {
		bad.Write(ipfixStream())
		bad.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = bad.Read(make([]byte, 1))
		bad.Close()
	}
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "not refused: %v", err)

	c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pki.Roots, Certificates: []tls.Certificate{pki.Client}})
	require.NoError(t, err)
	_, err = c.Write(ipfixStream())
	require.NoError(t, err)
	waitFor(t, "the flow", func() bool { return strings.Count(stdout.String(), "\n") == 1 })
	from := c.LocalAddr().(*net.TCPAddr).AddrPort()
	c.Close()
	assert.Equal(t, 0, stop())
	checkStreamFlow(t, strings.TrimSpace(stdout.String()), from)
	assert.Contains(t, stderr.String(), "tcp: accepted 2, refused 0, over limit 0, handshake failed 1,")
}

func TestCollectorTLSUsage(t *testing.T) {
	pki := testkit.NewPKI(t, t.TempDir())
	for _, args := range [][]string{
		{"-tls-cert", pki.CertFile, "-tls-key", pki.KeyFile},                       // no -tcp
		{"-tcp", "127.0.0.1:0", "-tls-cert", pki.CertFile},                         // no key
		{"-tcp", "127.0.0.1:0", "-tls-cert", pki.KeyFile, "-tls-key", pki.KeyFile}, // not a certificate
	} {
		var out, errs syncBuffer
		assert.Equal(t, 2, run(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, args...), &out, &errs), args)
		assert.Contains(t, errs.String(), "collector: ", args)
	}
}

// stalledWriter blocks every write until released.
type stalledWriter struct {
	release chan struct{}
	once    sync.Once
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func (w *stalledWriter) unblock() { w.once.Do(func() { close(w.release) }) }

// A stalled standard output does not hold the stop: the collector prints
// its counters and returns within a few seconds, saying how much output it
// could not write.
func TestCollectorStalledStdout(t *testing.T) {
	noLeak(t)
	out := &stalledWriter{release: make(chan struct{})}
	t.Cleanup(out.unblock) // after the test, for the leak check
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	status := make(chan int, 1)
	go func() { status <- run(ctx, []string{"-listen", "127.0.0.1:0", "-json", "-workers", "1"}, out, &stderr) }()
	waitFor(t, "listening on", func() bool { return strings.Contains(stderr.String(), "\n") })
	addr := netip.MustParseAddrPort(strings.TrimPrefix(strings.Split(stderr.String(), "\n")[0], "listening on "))
	d := v5Datagram(30)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	require.NoError(t, err)
	defer c.Close()
	for i := range 3000 { // more than the output queue (1024) holds
		c.Write(d)
		if i%100 == 99 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	began := time.Now()
	cancel()
	select {
	case s := <-status:
		assert.Equal(t, 0, s)
	case <-time.After(10 * time.Second):
		t.Fatal("the collector did not stop with its stdout stalled")
	}
	took := time.Since(began)
	assert.Less(t, took, 5*time.Second)
	assert.Contains(t, stderr.String(), "collector: standard output stalled:")
	assert.Contains(t, stderr.String(), "total: datagrams ")
	t.Logf("stopped in %v", took.Round(time.Millisecond))
}

// The built command, its stdout a pipe nobody reads, exits on SIGTERM
// within a few seconds, with its counters on stderr.
func TestCollectorSIGTERMStalledStdout(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	bin := collectorBinary(t)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-json")
	stdout, err := cmd.StdoutPipe() // never read
	require.NoError(t, err)
	defer stdout.Close()
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	errs := bufio.NewReader(stderrPipe)
	first, err := errs.ReadString('\n')
	require.NoError(t, err)
	addr, err := netip.ParseAddrPort(strings.TrimSpace(strings.TrimPrefix(first, "listening on ")))
	require.NoError(t, err, first)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	require.NoError(t, err)
	defer c.Close()
	d := v5Datagram(30)
	for i := range 3000 {
		c.Write(d)
		if i%100 == 99 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest := new(strings.Builder)
	done := make(chan error, 1)
	go func() {
		errs.WriteTo(rest)
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		assert.NoError(t, err, rest.String())
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop the collector with its stdout stalled")
	}
	assert.Contains(t, rest.String(), "total: datagrams ")
	assert.Contains(t, rest.String(), "standard output stalled")
}
