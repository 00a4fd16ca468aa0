package redistest

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServer: a started server stores and returns a value; Restart keeps
// the port and serves again, empty; Stop makes the port refuse connections.
func TestServer(t *testing.T) {
	s := Start(t)
	if want := "127.0.0.1:" + strconv.Itoa(s.Port()); s.Addr() != want {
		t.Fatalf("Addr() = %q, want %q", s.Addr(), want)
	}
	if want := "redis://127.0.0.1:" + strconv.Itoa(s.Port()) + "/0"; s.URL() != want {
		t.Fatalf("URL() = %q, want %q", s.URL(), want)
	}
	expect(t, s, "OK", "SET", "k", "v with spaces")
	expect(t, s, "v with spaces", "GET", "k")
	expect(t, s, "1", "EXISTS", "k")
	expect(t, s, "OK", "SET", "k2", "")
	expect(t, s, "2", "KEYS", "k*")
	expect(t, s, "", "GET", "missing")

	port := s.Port()
	s.Restart()
	if s.Port() != port {
		t.Fatalf("Restart moved the server from port %d to %d", port, s.Port())
	}
	expect(t, s, "0", "EXISTS", "k") // nothing persists
	expect(t, s, "OK", "SET", "k", "again")
	expect(t, s, "again", "GET", "k")

	s.Stop()
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepts a connection after Stop", s.Addr())
	}
	if _, err := s.Command("PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // a second Stop does nothing
}

// TestServerPassword: a server with --requirepass is up (it answers
// NOAUTH); commands before AUTH are refused with a ReplyError, AUTH and
// SELECT apply to the commands after them on the connection.
func TestServerPassword(t *testing.T) {
	s := Start(t, "--requirepass", "pw")
	_, err := s.Command("SET", "k", "v")
	var refused ReplyError
	if !errors.As(err, &refused) || !strings.HasPrefix(string(refused), "NOAUTH") {
		t.Fatalf("SET without AUTH: %v, want a NOAUTH reply", err)
	}
	replies, err := s.Commands([]string{"AUTH", "pw"}, []string{"SELECT", "3"}, []string{"SET", "k", "v"}, []string{"DBSIZE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"OK", "OK", "OK", "1"}; strings.Join(replies, ",") != strings.Join(want, ",") {
		t.Fatalf("replies %q, want %q", replies, want)
	}
	replies, err = s.Commands([]string{"AUTH", "pw"}, []string{"DBSIZE"})
	if err != nil || replies[1] != "0" {
		t.Fatalf("DB 0 size: %q, %v; want 0", replies, err)
	}
	if _, err := s.Commands([]string{"AUTH", "wrong"}, []string{"DBSIZE"}); !errors.As(err, &refused) {
		t.Fatalf("a wrong password: %v, want a ReplyError", err)
	}

	s.Stop()
	s.Restart() // a stopped server starts again, still with its password
	if _, err := s.Command("GET", "k"); !errors.As(err, &refused) {
		t.Fatalf("GET without AUTH after Restart: %v, want a ReplyError", err)
	}
}

// expect sends args to s and checks the reply.
func expect(t *testing.T, s *Server, want string, args ...string) {
	t.Helper()
	got, err := s.Command(args...)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	if got != want {
		t.Fatalf("%q replied %q, want %q", args, got, want)
	}
}
