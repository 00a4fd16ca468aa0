package netflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A Buffer remembers the options-state domain of its last message
// (domainCache). These tests change the domain behind a Buffer's back,
// through other Buffers and the decoder's housekeeping, and check that the
// Buffer's next flows see the change.

// cacheExporter is a v9 exporter (source ID 1) whose options data sets a
// sampling interval.
type cacheExporter struct {
	seq uint32
}

func (e *cacheExporter) options(interval uint64) []byte {
	e.seq++
	tmpl := v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{34, 4, 0}})
	return v9Packet(1, e.seq, set(1, tmpl, true), set(300, append(uintBytes(0, 4), uintBytes(interval, 4)...), true))
}

// data carries its template, so that it decodes after Forget too.
func (e *cacheExporter) data() []byte {
	e.seq++
	return v9Packet(1, e.seq, set(0, templateRecord(256, v9BenchFields...), true), set(256, flowRecords(v9BenchFields, 2), true))
}

// intervals decodes data through buf and returns each flow's sampling
// interval (0 where it has none).
func intervals(t *testing.T, d *Decoder, buf *Buffer, data []byte) []uint32 {
	t.Helper()
	flows, err := d.DecodeFlows(buf, nil, testExporter, data)
	require.NoError(t, err)
	require.Len(t, flows, 2)
	var out []uint32
	for _, f := range flows {
		require.Equal(t, f.Known.Has(FieldSamplingInterval), f.SamplingInterval != 0)
		out = append(out, f.SamplingInterval)
	}
	return out
}

// A Buffer that found no state for the domain sees state made since, by
// another Buffer. (With a StateStore, as the default MemoryStore is, a
// domain is made on its first datagram: the store is asked for its state.)
func TestDomainCacheSeesNewState(t *testing.T) {
	d := NewDecoder(Config{Store: quietStore{NewMemoryStore(MemoryStoreConfig{})}})
	var e cacheExporter
	var buf Buffer
	require.Equal(t, []uint32{0, 0}, intervals(t, d, &buf, e.data()))
	require.Equal(t, []uint32{0, 0}, intervals(t, d, &buf, e.data()))
	_, err := d.Decode(testExporter, e.options(7)) // a Buffer of its own
	require.NoError(t, err)
	require.Equal(t, []uint32{7, 7}, intervals(t, d, &buf, e.data()))
}

// A Buffer that holds a domain Sweep dropped does not use it again, and
// sees the domain made after. (Without a StateStore, as here, nothing
// brings the dropped state back.)
func TestDomainCacheAfterSweep(t *testing.T) {
	clock := newTestClock()
	d := NewDecoder(Config{Store: quietStore{NewMemoryStore(MemoryStoreConfig{})}, Now: clock.Now, Limits: Limits{StateIdle: time.Minute}})
	var e cacheExporter
	var buf Buffer
	_, err := d.DecodeInto(&buf, testExporter, e.options(7))
	require.NoError(t, err)
	require.Equal(t, []uint32{7, 7}, intervals(t, d, &buf, e.data()))
	clock.Advance(2 * time.Minute)
	d.Sweep()
	require.Zero(t, d.Stats().StateDomains)
	require.Equal(t, []uint32{0, 0}, intervals(t, d, &buf, e.data()))
	_, err = d.Decode(testExporter, e.options(9))
	require.NoError(t, err)
	require.Equal(t, []uint32{9, 9}, intervals(t, d, &buf, e.data()))
}

// A Buffer that holds a domain of an exporter Forget dropped sees the
// domain made after.
func TestDomainCacheAfterForget(t *testing.T) {
	d := NewDecoder(Config{})
	var e cacheExporter
	var buf Buffer
	_, err := d.DecodeInto(&buf, testExporter, e.options(7))
	require.NoError(t, err)
	require.Equal(t, []uint32{7, 7}, intervals(t, d, &buf, e.data()))
	require.NoError(t, d.Forget(testExporter))
	require.Equal(t, []uint32{0, 0}, intervals(t, d, &buf, e.data()))
	_, err = d.Decode(testExporter, e.options(11))
	require.NoError(t, err)
	require.Equal(t, []uint32{11, 11}, intervals(t, d, &buf, e.data()))
}

// A Buffer used with two decoders takes each one's state.
func TestDomainCachePerDecoder(t *testing.T) {
	a, b := NewDecoder(Config{}), NewDecoder(Config{})
	var ea, eb cacheExporter
	_, err := a.Decode(testExporter, ea.options(3))
	require.NoError(t, err)
	_, err = b.Decode(testExporter, eb.options(5))
	require.NoError(t, err)
	var buf Buffer
	require.Equal(t, []uint32{3, 3}, intervals(t, a, &buf, ea.data()))
	require.Equal(t, []uint32{5, 5}, intervals(t, b, &buf, eb.data()))
	require.Equal(t, []uint32{3, 3}, intervals(t, a, &buf, ea.data()))
}
