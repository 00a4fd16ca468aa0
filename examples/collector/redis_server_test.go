package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowkit/netflow/internal/redistest"
)

// The Redis tests run on a real redis-server that internal/redistest
// starts (on a free loopback port, stopped by its PID; skipped without
// redis-server).

// redisKeys returns how many keys of DB 0 of r match pattern (KEYS: the
// test keyspace is tiny), -1 if the server refuses.
func redisKeys(r *redistest.Server, pattern string) int {
	reply, err := r.Command("KEYS", pattern)
	return arrayLen(reply, err)
}

// redisKeysIn is redisKeys in DB db after AUTH password.
func redisKeysIn(r *redistest.Server, db int, password, pattern string) int {
	replies, err := r.Commands([]string{"AUTH", password}, []string{"SELECT", strconv.Itoa(db)}, []string{"KEYS", pattern})
	if err != nil {
		return -1
	}
	return arrayLen(replies[2], nil)
}

// arrayLen is the length Command gives for an array reply, -1 on an error.
func arrayLen(reply string, err error) int {
	n, convErr := strconv.Atoi(reply)
	if err != nil || convErr != nil {
		return -1
	}
	return n
}

var prefixes atomic.Int64

// newPrefix returns a key prefix no other collector of the run uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d-%s", prefixes.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}
