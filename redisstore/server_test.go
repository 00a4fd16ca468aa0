package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// The tests run on a real redis-server that internal/redistest starts (on
// a free loopback port, stopped by its PID; skipped without redis-server).

var prefixes atomic.Int64

// newPrefix returns a prefix no other store of the test run uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d-%s", prefixes.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
}

// openStore opens a store on r under cfg, closed when the test ends.
func openStore(t testing.TB, r *redistest.Server, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, r.URL(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}
