package main

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The tests run on a real redis-server that internal/redistest starts (on
// a free loopback port, stopped by its PID; skipped without redis-server).

// redisClient returns a client of url, closed at the test's end.
func redisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
