package netflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Saving and restoring a MemoryStore: its templates and options state as
// one JSON document, so that a restarted collector decodes at once instead
// of waiting up to an exporter's template refresh interval.

// stateFormat names the document Save writes.
const stateFormat = "netflow-state/1"

// savedTemplate is the JSON form of one stored template.
type savedTemplate struct {
	Exporter   string          `json:"exporter"`
	Version    uint16          `json:"version"`
	Domain     uint32          `json:"domain"`
	ID         uint16          `json:"id"`
	Options    bool            `json:"options,omitempty"`
	ScopeCount int             `json:"scope_count,omitempty"`
	Fields     []TemplateField `json:"fields"`
	Seen       time.Time       `json:"seen"`
	// Confirmed: the exporter was confirmed (MemoryStoreConfig.MaxExporters),
	// and is again when loaded.
	Confirmed bool `json:"confirmed,omitempty"`
}

// savedState is the JSON form of one domain's options state.
type savedState struct {
	Exporter string        `json:"exporter"`
	Version  uint16        `json:"version"`
	Domain   uint32        `json:"domain"`
	State    ExporterState `json:"state"`
	Set      time.Time     `json:"set"`
}

// Bounds of one saved domain state, as the decoder's defaults bound what
// options data can make it hold (Limits).
const (
	maxSavedEntries   = 4096
	maxSavedNameBytes = 256
	maxSavedStateSize = 1 << 20
)

// maxSavedEntryBytes bounds the JSON of one saved template or state: Load
// refuses a longer one before decoding more of the file.
const maxSavedEntryBytes = 4 << 20

// Save writes every template and every domain's options state as one JSON
// document, for Load after a restart (SaveFile writes it atomically).
func (s *MemoryStore) Save(w io.Writer) error {
	s.mu.RLock()
	doc := struct {
		Format    string          `json:"format"`
		Templates []savedTemplate `json:"templates"`
		States    []savedState    `json:"states"`
	}{Format: stateFormat, Templates: []savedTemplate{}, States: []savedState{}}
	for dk, d := range s.domains {
		for id, e := range d.templates {
			doc.Templates = append(doc.Templates, savedTemplate{
				Exporter: dk.Exporter.String(), Version: dk.Version, Domain: dk.Domain, ID: id,
				Options: e.t.Options, ScopeCount: e.t.ScopeCount, Fields: e.t.Fields, Seen: e.seen,
				Confirmed: d.exporter.confirmed(),
			})
		}
	}
	for dk, e := range s.states {
		doc.States = append(doc.States, savedState{Exporter: dk.Exporter.String(), Version: dk.Version, Domain: dk.Domain, State: savableNames(e.st.clone()), Set: e.set})
	}
	s.mu.RUnlock()
	return json.NewEncoder(w).Encode(doc)
}

// savableNames makes each name of st (a clone: its maps are its own)
// what Load takes back: valid UTF-8 of at most maxSavedNameBytes, cut at a
// character boundary. A name of options data may hold any bytes, and
// encoding/json writes an invalid byte as U+FFFD, three bytes: a name of
// 256 bytes could be saved as one Load refuses, and with it the file.
func savableNames(st ExporterState) ExporterState {
	for _, m := range []map[uint32]string{st.InterfaceNames, st.InterfaceDescriptions, st.VRFNames} {
		for k, v := range m {
			m[k] = savableName(v)
		}
	}
	for k, v := range st.ApplicationNames {
		st.ApplicationNames[k] = savableName(v)
	}
	return st
}

func savableName(v string) string {
	if len(v) <= maxSavedNameBytes && utf8.ValidString(v) {
		return v
	}
	v = strings.ToValidUTF8(v, "\uFFFD")
	n := min(len(v), maxSavedNameBytes)
	for n < len(v) && n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}

// Load adds the templates and options state that Save wrote, subject to the
// store's limits. The file is input like a datagram: it is read one entry
// at a time, each validated as if it came off the wire (NewTemplate, at
// most MaxTemplateFields fields, the decoder's bounds on options state),
// refresh times in the future are taken as now, and memory is bounded by
// the store's limits and maxSavedEntryBytes per entry, not by the file.
// A malformed document is an error matching ErrMalformed (what was loaded
// before it stays); a limit reached, one matching ErrLimit. "templates" or
// "states" null is an empty list, as encoding/json reads it.
func (s *MemoryStore) Load(r io.Reader) error {
	lr := &entryLimitReader{r: r, limit: maxSavedEntryBytes}
	dec := json.NewDecoder(lr)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		lr.reset()
		tok, err := dec.Token()
		if err != nil {
			return loadErr(err)
		}
		switch tok {
		case "format":
			var f string
			if err := dec.Decode(&f); err != nil {
				return loadErr(err)
			}
			if f != stateFormat {
				return fmt.Errorf("%w: state file format %q, want %q", ErrMalformed, f, stateFormat)
			}
		case "templates":
			if err := loadArray(dec, lr, "templates", s.cfg.MaxTemplates, s.loadTemplate); err != nil {
				return err
			}
		case "states":
			if err := loadArray(dec, lr, "states", s.cfg.MaxStates, s.loadState); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: state file: unknown key %v", ErrMalformed, tok)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: state file: data after the document", ErrMalformed)
	}
	return nil
}

// loadArray decodes the JSON array of the key name, at most max entries of
// E, one at a time, handing each to add. null is an empty array, as
// encoding/json writes a nil slice and reads null into one.
func loadArray[E any](dec *json.Decoder, lr *entryLimitReader, name string, max int, add func(*E) error) error {
	tok, err := dec.Token()
	if err != nil {
		return loadErr(err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%w: state file: %q is %s, want an array", ErrMalformed, name, describeToken(tok))
	}
	for n := 0; dec.More(); n++ {
		if n >= max {
			return fmt.Errorf("%w: state file holds more than %d entries", ErrLimit, max)
		}
		lr.reset()
		var e E
		if err := dec.Decode(&e); err != nil {
			return loadErr(err)
		}
		if err := add(&e); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func (s *MemoryStore) loadTemplate(st *savedTemplate) error {
	exp, err := netip.ParseAddrPort(st.Exporter)
	if err != nil {
		return loadErr(err)
	}
	if len(st.Fields) > s.cfg.MaxTemplateFields {
		return fmt.Errorf("%w: state file: template %d has %d fields, more than %d", ErrLimit, st.ID, len(st.Fields), s.cfg.MaxTemplateFields)
	}
	t, err := NewTemplate(st.Version, st.ID, st.Options, st.ScopeCount, st.Fields)
	if err != nil {
		return err
	}
	seen := st.Seen
	if now := s.cfg.Now(); seen.IsZero() || seen.After(now) {
		seen = now // a refresh time in the future would defeat the TTL
	}
	key := TemplateKey{Exporter: exp, Version: st.Version, Domain: st.Domain, ID: st.ID}
	if err := s.addTemplate(key, t, seen); err != nil {
		return err
	}
	if st.Confirmed {
		s.confirmExporter(exp)
	}
	s.subs.announce(key)
	return nil
}

func (s *MemoryStore) loadState(st *savedState) error {
	exp, err := netip.ParseAddrPort(st.Exporter)
	if err != nil {
		return loadErr(err)
	}
	if dialectOf(st.Version) == nil {
		return fmt.Errorf("%w: state file: options state of version %d", ErrMalformed, st.Version)
	}
	if err := checkSavedState(&st.State, s.cfg.Now()); err != nil {
		return err
	}
	set := st.Set
	if now := s.cfg.Now(); set.IsZero() || set.After(now) {
		set = now
	}
	return s.setExporterState(TemplateKey{Exporter: exp, Version: st.Version, Domain: st.Domain}, st.State, set)
}

// checkSavedState checks a loaded state against the bounds that options
// data is held to.
func checkSavedState(st *ExporterState, now time.Time) error {
	entries := len(st.Samplers) + len(st.InterfaceNames) + len(st.InterfaceDescriptions) + len(st.VRFNames) + len(st.ApplicationNames)
	if entries > maxSavedEntries || len(st.SamplerAlgorithms) > maxSavedEntries {
		return fmt.Errorf("%w: state file: %d options entries in one domain", ErrLimit, entries)
	}
	size := 0
	for _, m := range []map[uint32]string{st.InterfaceNames, st.InterfaceDescriptions, st.VRFNames} {
		for _, v := range m {
			if len(v) > maxSavedNameBytes {
				return fmt.Errorf("%w: state file: name of %d bytes", ErrMalformed, len(v))
			}
			size += len(v)
		}
	}
	for k, v := range st.ApplicationNames {
		if len(v) > maxSavedNameBytes || len(k) > 2*maxSavedNameBytes {
			return fmt.Errorf("%w: state file: application name of %d bytes", ErrMalformed, len(v))
		}
		size += len(k) + len(v)
	}
	if size > maxSavedStateSize {
		return fmt.Errorf("%w: state file: %d bytes of names in one domain", ErrLimit, size)
	}
	if st.SystemInit.After(now) || (!st.SystemInit.IsZero() && st.SystemInit.Year() < 1970) {
		return fmt.Errorf("%w: state file: system init time %v", ErrMalformed, st.SystemInit)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return loadErr(err)
	}
	if tok != want {
		return fmt.Errorf("%w: state file: %s where %q belongs", ErrMalformed, describeToken(tok), string(want))
	}
	return nil
}

// describeToken names a JSON token for an error message: null, a string
// or number with its value, or a delimiter.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		if len(v) > 32 {
			v = v[:32] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("%t", v)
	default:
		return fmt.Sprintf("the number %v", v)
	}
}

func loadErr(err error) error {
	if errors.Is(err, ErrLimit) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: state file: %v", ErrMalformed, err)
}

// entryLimitReader fails once more than limit bytes were read since the
// last reset: Load resets it before each entry, so that no single entry
// (a template of a million fields, a name of a gigabyte) is buffered whole.
type entryLimitReader struct {
	r     io.Reader
	n     int
	limit int
}

func (l *entryLimitReader) reset() { l.n = 0 }

func (l *entryLimitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, fmt.Errorf("%w: state file entry longer than %d bytes", ErrLimit, l.limit)
	}
	if len(p) > l.limit-l.n {
		p = p[:l.limit-l.n]
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}
