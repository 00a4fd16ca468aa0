package redisstore

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// redisServer is a real redis-server on a free loopback port, started by
// the test and stopped by its PID.
type redisServer struct {
	t    testing.TB
	path string
	port int
	cmd  *exec.Cmd
	out  *strings.Builder
	args []string // more redis-server arguments
	// ping is the port the readiness check dials in plain text (0: port).
	ping int
}

// startRedis starts a redis-server for the test, or skips the test if
// none is installed.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisWith(t, nil)
}

// startRedisWith starts a redis-server with more arguments; args may use
// the port chosen for it through the func.
func startRedisWith(t testing.TB, args func(port int) []string) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does): skipping the tests on a real Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &redisServer{t: t, path: path, port: port}
	if args != nil {
		r.args = args(port)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	r.out = &strings.Builder{}
	args := append([]string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no"}, r.args...)
	r.cmd = exec.Command(r.path, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	require.NoError(r.t, r.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		ping := r.port
		if r.ping != 0 {
			ping = r.ping
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ping), 100*time.Millisecond)
		if err == nil {
			_, err = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(time.Second))
				_, err = c.Read(buf)
			}
			c.Close()
			// A server with a password answers NOAUTH: it is up.
			if err == nil && (string(buf) == "+PONG\r\n" || string(buf) == "-NOAUTH") {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d did not start: %v\n%s", r.port, err, r.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL, as a crash) and waits for it.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// freePort returns a loopback TCP port free now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
func (r *redisServer) url() string { return "redis://" + r.addr() + "/0" }

var prefixes atomic.Int64

// newPrefix returns a prefix no other store of the test run uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d-%s", prefixes.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
}

// open opens a store on r under prefix, closed when the test ends.
func (r *redisServer) open(t testing.TB, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, r.url(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}
