package templatetest_test

import (
	"sync"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/templatetest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	templatetest.TestStore(t, func() netflow.TemplateStore {
		return netflow.NewMemoryStore(netflow.MemoryStoreConfig{})
	})
}

// TestMemoryStoreSmallLimits runs the kit against a MemoryStore bounded as
// tightly as the kit allows, with expiry on.
func TestMemoryStoreSmallLimits(t *testing.T) {
	t.Parallel()
	templatetest.TestStore(t, func() netflow.TemplateStore {
		return netflow.NewMemoryStore(netflow.MemoryStoreConfig{
			MaxTemplatesPerDomain: 8,
			MaxDomainsPerExporter: 8,
			MaxExporters:          4,
			TTL:                   1 << 40, // long enough never to expire in a test
		})
	})
}

// countingStore is a store that wraps another and counts the calls: the
// kind of TemplateStore a collector writes around the default one, and
// that TestStore checks.
type countingStore struct {
	netflow.TemplateStore
	mu    sync.Mutex
	calls map[string]int
}

func (s *countingStore) count(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

func (s *countingStore) Template(key netflow.TemplateKey) (*netflow.Template, error) {
	s.count("Template")
	return s.TemplateStore.Template(key)
}

func (s *countingStore) AddTemplate(key netflow.TemplateKey, t *netflow.Template) error {
	s.count("AddTemplate")
	return s.TemplateStore.AddTemplate(key, t)
}

// newCountingStore returns a new, empty countingStore around a
// MemoryStore: what TestStore wants of its newStore argument.
func newCountingStore() netflow.TemplateStore {
	return &countingStore{
		TemplateStore: netflow.NewMemoryStore(netflow.MemoryStoreConfig{}),
		calls:         map[string]int{},
	}
}

// Example checks a store implementation with the kit, from the
// implementation's own tests. The kit needs the test's *testing.T, so the
// call goes in a Test function, as here (go test runs
// TestCountingStore below, which is this function):
//
//	func TestCountingStore(t *testing.T) {
//		templatetest.TestStore(t, newCountingStore)
//	}
func Example() {
	testCountingStore := func(t *testing.T) {
		templatetest.TestStore(t, newCountingStore)
	}
	_ = testCountingStore // go test calls it as TestCountingStore
}

// TestCountingStore is the Test function of Example.
func TestCountingStore(t *testing.T) {
	t.Parallel()
	templatetest.TestStore(t, newCountingStore)
}
