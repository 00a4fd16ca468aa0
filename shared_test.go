package netflow

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 11: decoders sharing one store (as instances behind a load
// balancer share a Redis) see each other's templates and options state,
// and a restarted decoder starts from a snapshot.

// sharedSampling is a v9 exporter with a sampler: template 256 (the bench
// fields plus FLOW_SAMPLER_ID) and options data for sampler 1 (1 in 100).
func sharedSampling() (templates, options, data []byte) {
	fields := append(append([]tmplField(nil), v9BenchFields...), tmplField{48, 1, 0})
	templates = v9Packet(1, 1,
		set(0, templateRecord(256, fields...), true),
		set(1, v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{48, 1, 0}, {34, 4, 0}}), true))
	options = v9Packet(1, 2, set(300, append(append(uintBytes(0, 4), 1), uintBytes(100, 4)...), true))
	data = v9Packet(1, 3, set(256, flowRecordsWith(v9BenchFields, 3, func(int) []byte { return []byte{1} }), true))
	return templates, options, data
}

// TestSharedStorePendingRelease is the measurement: B holds a data
// set; A learns its template into the shared store; B's next decode for
// that exporter releases it, without B ever seeing the template datagram.
func TestSharedStorePendingRelease(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	a, b := NewDecoder(Config{Store: store}), NewDecoder(Config{Store: store})
	defer a.Close()
	defer b.Close()
	templates, _, data := sharedSampling()
	p, err := b.Decode(testExporter, data)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, 1, b.Stats().Pending.Held)

	_, err = a.Decode(testExporter, templates)
	require.NoError(t, err)
	// B's next datagram from the exporter carries other data only: the
	// announcement made B look the held template up once.
	p, err = b.Decode(testExporter, v9Packet(1, 4))
	require.NoError(t, err)
	require.Equal(t, 3, p.FlowCount())
	st := b.Stats().Pending
	require.Equal(t, uint64(1), st.Matched)
	require.Zero(t, st.Held)
}

// TestSharedStoreLookupRelease: with a store that does not announce, a
// later look-up of the same template releases what was held for it.
func TestSharedStoreLookupRelease(t *testing.T) {
	store := quietStore{NewMemoryStore(MemoryStoreConfig{})}
	a, b := NewDecoder(Config{Store: store}), NewDecoder(Config{Store: store})
	templates, _, data := sharedSampling()
	_, err := b.Decode(testExporter, data)
	require.NoError(t, err)
	_, err = a.Decode(testExporter, templates)
	require.NoError(t, err)
	p, err := b.Decode(testExporter, data)
	require.NoError(t, err)
	require.Equal(t, 6, p.FlowCount(), "the held set, then the new one")
	require.True(t, p.(*V9Packet).DataSets[0].Late)
	require.False(t, p.(*V9Packet).DataSets[1].Late)
}

// quietStore hides MemoryStore's Announcer and StateStore.
type quietStore struct{ m *MemoryStore }

func (q quietStore) Template(k TemplateKey) (*Template, error)    { return q.m.Template(k) }
func (q quietStore) AddTemplate(k TemplateKey, t *Template) error { return q.m.AddTemplate(k, t) }
func (q quietStore) WithdrawTemplate(k TemplateKey) error         { return q.m.WithdrawTemplate(k) }
func (q quietStore) WithdrawAll(k TemplateKey, options bool) error {
	return q.m.WithdrawAll(k, options)
}

// TestSharedStoreOptionsState: B never sees options data, yet applies the
// sampling interval A learned, through the store.
func TestSharedStoreOptionsState(t *testing.T) {
	store := NewMemoryStore(MemoryStoreConfig{})
	a, b := NewDecoder(Config{Store: store}), NewDecoder(Config{Store: store})
	defer a.Close()
	defer b.Close()
	templates, options, data := sharedSampling()
	_, err := a.Decode(testExporter, templates)
	require.NoError(t, err)
	// B decodes first without any options state known anywhere.
	for _, f := range decodeFlowsOf(t, b, testExporter, data) {
		require.False(t, f.Known.Has(FieldSamplingInterval))
	}
	_, err = a.Decode(testExporter, options)
	require.NoError(t, err)
	for _, f := range decodeFlowsOf(t, b, testExporter, data) {
		require.Equal(t, uint32(100), f.SamplingInterval, "learned by A, announced to B")
	}
	st, ok := b.ExporterState(testExporter, 9, 1)
	require.True(t, ok)
	require.Equal(t, map[uint64]uint32{1: 100}, st.Samplers)
}

// TestRestartFromSnapshot: templates and options state are saved by a
// Snapshotter on stop; a new store and decoder loaded from the file decode
// data only, every flow with its sampling interval.
func TestRestartFromSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	store := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: store})
	templates, options, data := sharedSampling()
	for _, m := range [][]byte{templates, options} {
		_, err := d.Decode(testExporter, m)
		require.NoError(t, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Snapshotter{Path: path, Store: store, Interval: time.Hour}).Run(ctx) }()
	stop()
	require.NoError(t, <-done)

	restarted := NewMemoryStore(MemoryStoreConfig{})
	loaded, err := LoadFile(path, restarted)
	require.NoError(t, err)
	require.True(t, loaded)
	d2 := NewDecoder(Config{Store: restarted})
	flows := decodeFlowsOf(t, d2, testExporter, data)
	require.Len(t, flows, 3)
	for _, f := range flows {
		require.Equal(t, uint32(100), f.SamplingInterval)
	}

	// A missing file is a first start; a corrupt one an error.
	loaded, err = LoadFile(filepath.Join(t.TempDir(), "none.json"), NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.False(t, loaded)
	require.NoError(t, os.WriteFile(path, []byte(`{"format":"netflow-state/1","templates":[{`), 0o600))
	_, err = LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.ErrorIs(t, err, ErrMalformed)
}

// TestSaveFileAtomic: a failed save leaves the previous snapshot intact and
// no temporary file behind.
func TestSaveFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	store := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, SaveFile(path, store))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Error(t, SaveFile(path, failingSaver{}))
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

type failingSaver struct{}

func (failingSaver) Save(w io.Writer) error {
	w.Write([]byte(`{"format":`))
	return errors.New("disk full")
}
