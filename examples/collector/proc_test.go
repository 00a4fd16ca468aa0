package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// Collector processes for the tests of -store and -state: the binary is
// built once per test run, each process is started with -json on a free
// loopback port and stopped by its PID.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	testkit.RaiseParallel(4) // the parallel tests wait on collector processes and Redis outages
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// collectorBinary builds the collector (once) and returns its path.
func collectorBinary(t *testing.T) string {
	t.Helper()
	gobin := testkit.NeedTool(t, "go")
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "collector-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "collector")
		out, err := exec.Command(gobin, testkit.GoBuildArgs(binPath, ".")...).CombinedOutput()
		testkit.NoRaceExitSleep()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// execCollector returns the command of a collector process with args.
func execCollector(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(collectorBinary(t), args...)
}

// proc is a running collector process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   netip.AddrPort
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// startCollector runs the collector with -json -listen 127.0.0.1:0 and
// args, and waits for its "listening on" line.
func startCollector(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCollectorAs(t, nil, args...)
}

// startCollectorAs is startCollector with the process's attributes (its
// user, say; nil: this process's).
func startCollectorAs(t *testing.T, attr *syscall.SysProcAttr, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(collectorBinary(t), append([]string{"-json", "-listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = attr
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	// A deadline for a collector that never listens, not a speed limit:
	// one that loads 30 MB of -state, race-built on a loaded machine, took
	// over 15 s.
	deadline := time.Now().Add(60 * time.Second)
	for {
		first, _, found := strings.Cut(p.stderr.String(), "\n")
		if found {
			a, ok := strings.CutPrefix(first, "listening on ")
			require.True(t, ok, "first line on stderr: %q", first)
			addr, err := netip.ParseAddrPort(a)
			require.NoError(t, err)
			p.addr = addr
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("collector %v exited: %v\n%s", args, p.err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector %v: no listening line:\n%s", args, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStderr waits until the process wrote s on standard error.
func (p *proc) waitStderr(s string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%q not on stderr:\n%s", s, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lines returns the number of lines on the process's standard output.
func (p *proc) lines() int { return strings.Count(p.stdout.String(), "\n") }

// waitLines waits until the process printed at least n lines.
func (p *proc) waitLines(n int, what string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for p.lines() < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %d lines on stdout, want %d\nstderr:\n%s", what, p.lines(), n, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signal sends sig and waits for the process to exit; it returns the exit
// status.
func (p *proc) signal(sig os.Signal) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	return p.wait()
}

// wait waits (bounded) for the process to exit and returns its status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("collector did not exit:\n%s", p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop ends the process with SIGTERM and requires exit status 0.
func (p *proc) stop() {
	p.t.Helper()
	require.Equal(p.t, 0, p.signal(syscall.SIGTERM), "exit status; stderr:\n%s", p.stderr)
}

// exporter is one UDP socket bound once: every datagram comes from the
// same exporter address and port, whichever collector it goes to.
type exporter struct {
	t *testing.T
	c *net.UDPConn
}

func newExporter(t *testing.T) *exporter {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &exporter{t: t, c: c}
}

func (e *exporter) send(to netip.AddrPort, d []byte) {
	e.t.Helper()
	_, err := e.c.WriteToUDPAddrPort(d, to)
	require.NoError(e.t, err)
}

// flowsIn counts the flow lines (options records included) tshark's decode
// has for messages msgs of the capture.
func flowsIn(e expectation, msgs ...int) int {
	n := 0
	for _, i := range msgs {
		n += len(e.perMsg[i])
		if i == 0 {
			n += e.options // the options record is in the first message
		}
	}
	return n
}

// expectedKeys returns tshark's flow keys of messages msgs.
func expectedKeys(e expectation, msgs ...int) []string {
	var keys []string
	for _, i := range msgs {
		keys = append(keys, e.perMsg[i]...)
	}
	return keys
}

func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}
