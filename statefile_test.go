package netflow

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// Issue 16 items 2 and 3: a state file is input; Load beside look-ups is
// race-free.

func TestLoadHostileStateFiles(t *testing.T) {
	t.Parallel()
	tmpl := func(extra string) string {
		return `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"fields":[{"ID":8,"PEN":0,"Length":4}]` + extra + `}]}`
	}
	manyFields := func(n, length int) string {
		field := fmt.Sprintf(`{"ID":8,"PEN":0,"Length":%d}`, length)
		return `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"fields":[` +
			strings.Repeat(field+",", n-1) + field + `]}]}`
	}
	for _, c := range []struct {
		name, doc string
		want      error
	}{
		{"null", `null`, ErrMalformed},
		{"empty", ``, ErrMalformed},
		{"array, old form", `[]`, ErrMalformed},
		{"trailing garbage", `{"format":"netflow-state/1","templates":[]} garbage`, ErrMalformed},
		{"array then garbage", `[] garbage`, ErrMalformed},
		{"wrong format", `{"format":"something/9"}`, ErrMalformed},
		{"unknown key", `{"extra":1}`, ErrMalformed},
		{"template ID 0", strings.Replace(tmpl(""), `"id":256`, `"id":0`, 1), ErrMalformed},
		{"version 0", strings.Replace(tmpl(""), `"version":10`, `"version":0`, 1), ErrMalformed},
		{"version 7", strings.Replace(tmpl(""), `"version":10`, `"version":7`, 1), ErrMalformed},
		{"65535 fields", manyFields(65535, 4), ErrLimit},
		{"a million zero-length fields", manyFields(1_000_000, 0), ErrLimit},
		{"truncated", tmpl("")[:60], ErrMalformed},
		{"bad state name", `{"states":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"state":{"InterfaceNames":{"1":"` + strings.Repeat("x", 300) + `"}}}]}`, ErrMalformed},
		{"state of version 5", `{"states":[{"exporter":"192.0.2.1:2055","version":5,"domain":1,"state":{}}]}`, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewMemoryStore(MemoryStoreConfig{})
			err := s.Load(strings.NewReader(c.doc))
			require.ErrorIs(t, err, c.want)
			require.Zero(t, s.Stats().Templates)
		})
	}
}

// TestLoadNullLists: "templates" and "states" null are empty lists (what
// encoding/json writes for nil slices), and the document loads; a list of
// another type is an error that says what was found.
func TestLoadNullLists(t *testing.T) {
	for _, doc := range []string{
		`{"format":"netflow-state/1","templates":null}`,
		`{"format":"netflow-state/1","templates":null,"states":null}`,
		`{"states":null,"format":"netflow-state/1","templates":[]}`,
	} {
		s := NewMemoryStore(MemoryStoreConfig{})
		require.NoError(t, s.Load(strings.NewReader(doc)), doc)
		require.Zero(t, s.Stats().Templates, doc)
	}
	// null lists beside a real one: the template still loads.
	s := NewMemoryStore(MemoryStoreConfig{})
	doc := `{"format":"netflow-state/1","states":null,"templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"fields":[{"ID":8,"PEN":0,"Length":4}]}]}`
	require.NoError(t, s.Load(strings.NewReader(doc)))
	require.Equal(t, 1, s.Stats().Templates)

	for _, c := range []struct{ doc, msg string }{
		{`{"format":"netflow-state/1","templates":5}`, `state file: "templates" is the number 5, want an array`},
		{`{"format":"netflow-state/1","states":{}}`, `state file: "states" is an object, want an array`},
		{`{"format":"netflow-state/1","templates":"x"}`, `state file: "templates" is the string "x", want an array`},
		{`null`, `state file: null where "{" belongs`},
		{`[]`, `state file: an array where "{" belongs`},
	} {
		err := NewMemoryStore(MemoryStoreConfig{}).Load(strings.NewReader(c.doc))
		require.ErrorIs(t, err, ErrMalformed, c.doc)
		require.EqualError(t, err, "netflow: malformed: "+c.msg, c.doc)
	}
}

// TestLoadBoundedMemory: a 14 MB file of empty entries stops at the first
// one, before reading the rest; a file whose entry would be huge is
// refused before it is buffered whole.
func TestLoadBoundedMemory(t *testing.T) {
	entries := `{"format":"netflow-state/1","templates":[` + strings.Repeat(`{},`, 14<<20/3) + `{}]}`
	heap := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	s := NewMemoryStore(MemoryStoreConfig{})
	used := heap(func() { require.ErrorIs(t, s.Load(strings.NewReader(entries)), ErrMalformed) })
	require.Less(t, used, uint64(1<<20), "allocated %d bytes for a 14 MB file of empty entries", used)

	huge := `{"templates":[{"exporter":"` + strings.Repeat("1", 32<<20) + `"}]}`
	used = heap(func() { require.ErrorIs(t, s.Load(strings.NewReader(huge)), ErrLimit) })
	require.Less(t, used, uint64(24<<20), "allocated %d bytes for one 32 MB entry", used)
}

// TestLoadClampsFutureRefresh: a template saved as refreshed in the year
// 9999 is taken as refreshed now, so the TTL still applies.
func TestLoadClampsFutureRefresh(t *testing.T) {
	clock := newTestClock()
	s := NewMemoryStore(MemoryStoreConfig{TTL: time.Minute, Now: clock.Now})
	doc := `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":1,"id":256,"fields":[{"ID":8,"PEN":0,"Length":4}],"seen":"9999-01-01T00:00:00Z"}]}`
	require.NoError(t, s.Load(strings.NewReader(doc)))
	key := TemplateKey{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 10, Domain: 1, ID: 256}
	_, err := s.Template(key)
	require.NoError(t, err)
	clock.Advance(2 * time.Minute)
	_, err = s.Template(key)
	require.ErrorIs(t, err, ErrTemplateNotFound)
}

// TestLoadBesideLookups: Load refreshes entries that look-ups read at the
// same time (run with -race).
func TestLoadBesideLookups(t *testing.T) {
	src := NewMemoryStore(MemoryStoreConfig{})
	key := TemplateKey{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 10, Domain: 1, ID: 256}
	tm, err := NewTemplate(10, 256, false, 0, []TemplateField{{ID: 8, Length: 4}})
	require.NoError(t, err)
	require.NoError(t, src.AddTemplate(key, tm))
	var saved bytes.Buffer
	require.NoError(t, src.Save(&saved))
	s := NewMemoryStore(MemoryStoreConfig{TTL: time.Hour})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					s.Template(key)
				}
			}
		}()
	}
	for range 2000 {
		require.NoError(t, s.Load(bytes.NewReader(saved.Bytes())))
	}
	close(stop)
	wg.Wait()
	_, err = s.Template(key)
	require.NoError(t, err)
}

// TestSaveNamesLoadBack: names of options data may hold any bytes. Saved
// as JSON, an invalid byte becomes U+FFFD (three bytes), so a 256-byte
// name of such bytes came back as one of up to 768 bytes, which Load
// refuses as malformed, and with it the whole file (found by
// FuzzStateful). Save now writes names as valid UTF-8 of at most 256
// bytes, cut at a character boundary; a valid name comes back as it was.
func TestSaveNamesLoadBack(t *testing.T) {
	key := TemplateKey{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 10, Domain: 1}
	valid := strings.Repeat("é", 128) // 256 bytes
	invalid := strings.Repeat("\xff", 256)
	mixed := strings.Repeat("a\xfe", 128)
	s := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, s.SetExporterState(key, ExporterState{
		InterfaceNames:        map[uint32]string{1: valid, 2: invalid},
		InterfaceDescriptions: map[uint32]string{1: mixed},
		VRFNames:              map[uint32]string{7: invalid},
		ApplicationNames:      map[string]string{"0d0050": mixed},
	}))
	var saved bytes.Buffer
	require.NoError(t, s.Save(&saved))
	restored := NewMemoryStore(MemoryStoreConfig{})
	require.NoError(t, restored.Load(&saved))
	st, ok, err := restored.ExporterState(key)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, valid, st.InterfaceNames[1])
	for _, name := range []string{st.InterfaceNames[2], st.InterfaceDescriptions[1], st.VRFNames[7], st.ApplicationNames["0d0050"]} {
		require.True(t, utf8.ValidString(name), "%q", name)
		require.LessOrEqual(t, len(name), 256)
		require.Contains(t, name, "\uFFFD")
	}
	require.True(t, strings.HasPrefix(st.InterfaceDescriptions[1], "a\uFFFDa\uFFFD"), "the valid bytes are kept: %q", st.InterfaceDescriptions[1])
	// The store's own names are unchanged: only what is saved is mended.
	own, _, err := s.ExporterState(key)
	require.NoError(t, err)
	require.Equal(t, invalid, own.InterfaceNames[2])
}
