// Package redistest starts a real redis-server for a test or benchmark: on
// a free loopback port, without persistence, in a temporary directory of
// its own, stopped by its PID when the test ends. Tests of the nested
// modules (redisstore, the examples) share it; it imports only the
// standard library, and the root package does not import it.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a started server to answer PING.
const startTimeout = 10 * time.Second

// startAttempts is how many free ports Start tries: another process may
// take a port between FreePort's check and redis-server's bind.
const startAttempts = 5

// Server is a redis-server started by Start. Its methods are for the
// test's goroutine (Stop and Restart are not safe for concurrent use).
type Server struct {
	tb   testing.TB
	path string
	dir  string
	port int
	args []string // more redis-server arguments, on every (re)start

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been waited for
}

// Start starts a redis-server for tb on a free port of 127.0.0.1, with
// args appended to its command line (for example "--requirepass", "pw"),
// and waits until it answers PING with PONG (or, for a server with a
// password, NOAUTH). tb's cleanup stops it. If redis-server is not on PATH
// it skips tb, or fails it under CI=true (as testkit.NeedTool does); it fails tb
// (with the server's output) if the server does not answer within a few
// seconds.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		// testkit.NeedTool's convention, kept here so that this package
		// imports the standard library only (clientbench's go.mod does
		// not inherit testkit's gopacket and testify).
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is not installed, and CI=true: .ci/run installs it (apt-get install redis-server); %v", err)
		}
		tb.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does): skipping the tests on a real Redis")
	}
	s := &Server{tb: tb, path: path, dir: tb.TempDir(), args: args}
	tb.Cleanup(s.Stop)
	for attempt := 1; ; attempt++ {
		s.port = FreePort(tb)
		err := s.start()
		if err == nil {
			return s
		}
		var exited *exitedError
		if !errors.As(err, &exited) || attempt == startAttempts {
			tb.Fatalf("redistest: %v", err)
		}
	}
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago
// (it listens on port 0 and closes the listener).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Port returns the server's TCP port on 127.0.0.1; it stays the same
// across Restart.
func (s *Server) Port() int { return s.port }

// Addr returns the server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the server's URL for DB 0 without a password,
// "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server with SIGKILL (as a crash would, by the PID it was
// started with) and waits for it to exit. It does nothing if the server is
// not running; a server that exited by itself (SHUTDOWN) is reaped.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Restart stops the server if it runs, then starts it again on the same
// port with the same arguments, empty (nothing persists), and waits until
// it answers as Start does; it fails the test if it does not.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// exitedError is a server that exited before it answered (on a port
// taken meanwhile, for one): Start tries another port.
type exitedError struct {
	port int
	err  error
	out  string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("redis-server on port %d exited before it answered PING (%v):\n%s", e.port, e.err, e.out)
}

// start runs redis-server on s.port and waits until it answers PING; on
// failure the server is not running.
func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", s.dir}, s.args...)
	out := &strings.Builder{}
	cmd := exec.Command(s.path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			// Wait has returned: out is complete and no longer written.
			return &exitedError{port: s.port, err: waitErr, out: out.String()}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %v\n%s", s.port, startTimeout, err, out.String())
		}
	}
}

// ping checks that the server answers PING: with PONG, or with NOAUTH
// when it has a password.
func (s *Server) ping() error {
	reply, err := s.Command("PING")
	var refused ReplyError
	if errors.As(err, &refused) && strings.HasPrefix(string(refused), "NOAUTH") {
		return nil
	}
	if err == nil && reply != "PONG" {
		err = fmt.Errorf("PING answered %q", reply)
	}
	return err
}
