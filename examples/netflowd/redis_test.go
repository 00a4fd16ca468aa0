package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// startRedis starts a real redis-server on a free loopback port, without
// persistence, and returns its URL; the test's cleanup stops it by PID. It
// skips the test when redis-server is not installed.
func startRedis(t testing.TB) string {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		if url, _, ok := startRedisOn(t, freePort(t)); ok {
			return url
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

// startRedisOn starts redis-server on port; stop stops it (and the test's
// cleanup, if it still runs); ok is false if it did not start.
func startRedisOn(t testing.TB, port int) (url string, stop func(), ok bool) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (CI installs it: apt-get install redis-server)")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	require.NoError(t, cmd.Start())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill() // by the PID Start got
			cmd.Wait()
		})
	}
	url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	if !waitRedis(url) {
		stop()
		return "", nil, false
	}
	t.Cleanup(stop)
	return url, stop, true
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitRedis waits up to 5 s for the server at url to answer PING.
func waitRedis(url string) bool {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return false
	}
	c := redis.NewClient(opts)
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// redisClient returns a client of url, closed at the test's end.
func redisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
