package main

import (
	"bufio"
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
// the test and stopped by its PID (as in redisstore's tests).
type redisServer struct {
	t    testing.TB
	path string
	port int
	cmd  *exec.Cmd
	out  *strings.Builder
}

// startRedis starts a redis-server for the test, or skips the test if
// none is installed.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does): skipping the collector tests on a real Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &redisServer{t: t, path: path, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start runs the server (again, on the same port) and waits for a PONG.
func (r *redisServer) start() {
	r.t.Helper()
	r.out = &strings.Builder{}
	r.cmd = exec.Command(r.path, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	require.NoError(r.t, r.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply, err := r.command("PING")
		if err == nil && reply == "+PONG" {
			return
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

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// command sends one inline command and returns the first line of the
// reply (for an array, "*N": its length).
func (r *redisServer) command(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// keys returns how many keys match pattern (KEYS: the test keyspace is tiny).
func (r *redisServer) keys(pattern string) int {
	reply, err := r.command("KEYS " + pattern)
	if err != nil || !strings.HasPrefix(reply, "*") {
		return -1
	}
	var n int
	fmt.Sscan(reply[1:], &n)
	return n
}

var prefixes atomic.Int64

// newPrefix returns a key prefix no other collector of the run uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d-%s", prefixes.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}
