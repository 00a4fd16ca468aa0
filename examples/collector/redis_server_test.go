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
	args []string // more redis-server arguments
}

// startRedis starts a redis-server for the test, or skips the test if
// none is installed.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does): skipping the collector tests on a real Redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &redisServer{t: t, path: path, port: port, args: args}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start runs the server (again, on the same port) and waits for a PONG.
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
		reply, err := r.command("PING")
		// A server with a password answers NOAUTH: it is up.
		if err == nil && (reply == "+PONG" || strings.HasPrefix(reply, "-NOAUTH")) {
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
	replies, err := r.commands(cmd)
	if err != nil {
		return "", err
	}
	return replies[0], nil
}

// commands sends inline commands on one connection and returns the first
// line of each reply.
func (r *redisServer) commands(cmds ...string) ([]string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	var replies []string
	for _, cmd := range cmds {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			return nil, err
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		replies = append(replies, strings.TrimRight(line, "\r\n"))
		// Skip an array's elements (KEYS: bulk strings, two lines each).
		if n, ok := strings.CutPrefix(replies[len(replies)-1], "*"); ok {
			var count int
			fmt.Sscan(n, &count)
			for range 2 * count {
				if _, err := br.ReadString('\n'); err != nil {
					return nil, err
				}
			}
		}
	}
	return replies, nil
}

// keys returns how many keys of DB 0 match pattern (KEYS: the test
// keyspace is tiny), -1 if the server refuses.
func (r *redisServer) keys(pattern string) int {
	reply, err := r.command("KEYS " + pattern)
	return arrayLen(reply, err)
}

// keysIn is keys in DB db after AUTH password.
func (r *redisServer) keysIn(db int, password, pattern string) int {
	replies, err := r.commands("AUTH "+password, fmt.Sprintf("SELECT %d", db), "KEYS "+pattern)
	if err != nil {
		return -1
	}
	return arrayLen(replies[2], nil)
}

func arrayLen(reply string, err error) int {
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
