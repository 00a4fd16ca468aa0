package redisstore

import (
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/templatetest"
)

// TestKit runs the conformance kit, the StateStore, Announcer and
// ExporterForgetter checks included, against stores on one real Redis,
// each under its own prefix.
func TestKit(t *testing.T) {
	t.Parallel() // waits on Redis
	r := redistest.Start(t)
	templatetest.TestStoreWith(t, func() netflow.TemplateStore {
		return openStore(t, r, Config{Prefix: newPrefix(t)})
	}, templatetest.Options{})
}

// TestKitTTL runs the kit with a TTL on (long enough never to expire in
// the test): every write sets it, and every read checks it.
func TestKitTTL(t *testing.T) {
	t.Parallel() // waits on Redis
	r := redistest.Start(t)
	templatetest.TestStoreWith(t, func() netflow.TemplateStore {
		return openStore(t, r, Config{Prefix: newPrefix(t), TTL: 1 << 40})
	}, templatetest.Options{})
}
