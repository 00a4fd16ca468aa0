package netflow

// Robustness tests: every malformed fixture, and seeded random mutations of
// every fixture datagram, decoded through a stateful decoder seeded with the
// fixture's templates. No panic, no hang (a watchdog fails the run when one
// decode takes longer than a second), every error matches a sentinel, and
// the bytes allocated per decode stay within a small multiple of the
// datagram's size.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raceEnabled reports whether the test binary was built with -race, so that
// the heavier tests can scale their counts down.
var raceEnabled = sync.OnceValue(testkit.RaceEnabled)

// mutSentinels are the errors every decoder error must match.
var mutSentinels = []error{
	ErrTruncated, ErrUnsupportedVersion, ErrEmpty, ErrMalformed,
	ErrTemplateNotFound, ErrLimit, ErrStore,
}

// mutCheckErr returns a description of the first leaf of err (errors.Join
// trees are walked) that matches no sentinel, or "".
func mutCheckErr(err error) string {
	if err == nil {
		return ""
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if s := mutCheckErr(e); s != "" {
				return s
			}
		}
		return ""
	}
	for _, s := range mutSentinels {
		if errors.Is(err, s) {
			return ""
		}
	}
	return fmt.Sprintf("error %q (%T) matches no sentinel", err, err)
}

// ---------------------------------------------------------------- watchdog

// mutWatchdog fails the run if one decode takes longer than limit: the test
// goroutine marks the start and end of every decode, and a goroutine checks
// every tick. On a hang it prints the input and panics, which ends the test
// binary with the input on record (the hung goroutine cannot be stopped).
type mutWatchdog struct {
	limit time.Duration
	start atomic.Int64 // unix ns of the running decode's start, 0 if none
	cur   atomic.Pointer[mutInput]
	stop  chan struct{}
	done  sync.WaitGroup
}

// mutInput names one decode's input for the watchdog.
type mutInput struct {
	desc string
	data []byte
}

func newMutWatchdog(tb testing.TB, limit time.Duration) *mutWatchdog {
	w := &mutWatchdog{limit: limit, stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		tick := time.NewTicker(limit / 10)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			s := w.start.Load()
			if s == 0 || time.Since(time.Unix(0, s)) < w.limit {
				continue
			}
			in := w.cur.Load()
			msg := "watchdog: a decode has run for more than " + w.limit.String()
			if in != nil {
				msg += " on " + in.desc + "\ninput: " + hex.EncodeToString(in.data)
			}
			fmt.Fprintln(os.Stderr, msg)
			panic(msg)
		}
	}()
	tb.Cleanup(func() { close(w.stop); w.done.Wait() })
	return w
}

func (w *mutWatchdog) begin(in *mutInput) {
	w.cur.Store(in)
	w.start.Store(time.Now().UnixNano())
}

func (w *mutWatchdog) end() { w.start.Store(0) }

// ---------------------------------------------------------------- fixtures

// mutManifestDeps maps a fixture path (relative to testdata) to the fixture
// files holding the templates it needs, from MANIFEST.tsv's
// needs_template_from_other_file column.
func mutManifestDeps(tb testing.TB) map[string][]string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "MANIFEST.tsv"))
	require.NoError(tb, err)
	defer f.Close()
	re := regexp.MustCompile(`in (\S+?\.(?:dat|bin|pcap))`)
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	col := -1
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "\t")
		if col < 0 {
			for i, c := range cells {
				if c == "needs_template_from_other_file" {
					col = i
				}
			}
			require.GreaterOrEqual(tb, col, 0, "MANIFEST.tsv: no needs_template_from_other_file column")
			continue
		}
		if col >= len(cells) {
			continue
		}
		seen := map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(cells[col], -1) {
			if !seen[m[1]] && m[1] != cells[0] {
				seen[m[1]] = true
				deps[cells[0]] = append(deps[cells[0]], m[1])
			}
		}
	}
	require.NoError(tb, sc.Err())
	return deps
}

// mutFixture is one fixture file: its datagrams, and the datagrams that
// seed a decoder with its templates (those of the files it needs, then its
// own).
type mutFixture struct {
	path      string
	datagrams [][]byte
	seed      [][]byte
}

func mutFixtures(tb testing.TB) []mutFixture {
	tb.Helper()
	deps := mutManifestDeps(tb)
	var out []mutFixture
	for _, path := range fixtureFiles(tb) {
		rel, _ := filepath.Rel("testdata", path)
		fx := mutFixture{path: path, datagrams: fixturePayloads(tb, path)}
		for _, d := range deps[filepath.ToSlash(rel)] {
			p := filepath.Join("testdata", filepath.FromSlash(d))
			_, err := os.Stat(p)
			require.NoError(tb, err, "%s needs %s", rel, d)
			fx.seed = append(fx.seed, fixturePayloads(tb, p)...)
		}
		fx.seed = append(fx.seed, fx.datagrams...)
		out = append(out, fx)
	}
	return out
}

// mutSeededDecoder returns a decoder that has decoded seed, and the seed
// datagrams that defined or withdrew templates (to restore them).
func mutSeededDecoder(cfg Config, seed [][]byte) (*Decoder, [][]byte) {
	d := NewDecoder(cfg)
	var buf Buffer
	var tmpl [][]byte
	for _, s := range seed {
		p, _ := d.DecodeInto(&buf, testExporter, s)
		var sets *Sets
		switch q := p.(type) {
		case *V9Packet:
			sets = &q.Sets
		case *IPFIXPacket:
			sets = &q.Sets
		}
		if sets != nil && (len(sets.Templates) > 0 || len(sets.Withdrawn) > 0) {
			tmpl = append(tmpl, s)
		}
	}
	return d, tmpl
}

// ---------------------------------------------------------------- tests

// TestMutationMalformedFixtures decodes every datagram of the malformed
// fixtures (logstash's invalid captures, vflow's hand-edited IPFIX
// messages), each whole file as one datagram too, with a fresh decoder and
// with one seeded with their templates, by every entry point.
func TestMutationMalformedFixtures(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/logstash-codec-netflow/*invalid*", "testdata/vflow/*.bin"} {
		m, err := filepath.Glob(pat)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.GreaterOrEqual(t, len(files), 8, "the malformed fixtures: the 3 invalid and 7 vflow files")
	wd := newMutWatchdog(t, time.Second)
	deps := mutManifestDeps(t)
	for _, path := range files {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		rel, _ := filepath.Rel("testdata", path)
		var seed [][]byte
		for _, dep := range deps[filepath.ToSlash(rel)] {
			seed = append(seed, fixturePayloads(t, filepath.Join("testdata", dep))...)
		}
		dgs := append(fixturePayloads(t, path), raw)
		seed = append(seed, dgs...)
		for i, dg := range dgs {
			for _, stateful := range []bool{false, true} {
				d := NewDecoder(Config{})
				if stateful {
					d, _ = mutSeededDecoder(Config{}, seed)
				}
				in := &mutInput{desc: fmt.Sprintf("%s datagram %d", rel, i), data: dg}
				wd.begin(in)
				var buf Buffer
				p, err := d.DecodeInto(&buf, testExporter, dg)
				var problem string
				if s := mutCheckErr(err); s != "" {
					problem = "DecodeInto: " + s
				}
				if p != nil && problem == "" {
					_, problem = mutExercise(d, p, nil)
				}
				if _, err := d.Decode(testExporter, dg); problem == "" {
					if s := mutCheckErr(err); s != "" {
						problem = "Decode: " + s
					}
				}
				if _, err := d.DecodeFlows(&buf, nil, testExporter, dg); problem == "" {
					if s := mutCheckErr(err); s != "" {
						problem = "DecodeFlows: " + s
					}
				}
				if problem == "" {
					problem = mutFraming(dg, true)
				}
				wd.end()
				if problem != "" {
					assert.Failf(t, "malformed fixture", "%s (stateful %v): %s", in.desc, stateful, problem)
				}
				if stateful {
					t.Logf("%s: %d bytes, err %v", in.desc, len(dg), err)
				}
			}
		}
	}
}

// mutCount is the number of mutations per fixture datagram, and mutPeriod
// the length of TestMutationFixtures' periods (a decoder restored, or a
// cold one): 1,000 with -race or -short and 10,000 otherwise, in periods of
// 128, when NETFLOW_SOAK=1 asks for the soak variant (testkit.Soak, which
// .ci/run sets); else 320 in periods of 64, which still go through every
// phase: warm decoders swept after the clock moved (mutations 64-191), a
// cold decoder holding the mutated data (192-255), the templates that
// release it (at 256), and a period after, each period with measured and
// exercised batches.
func mutCount() int {
	switch {
	case !testkit.Soak():
		return 2 * mutPeriod()
	case raceEnabled(), testing.Short():
		return 1000
	}
	return 10000
}

func mutPeriod() int {
	if testkit.Soak() {
		return 128
	}
	return 64
}

// mutCountData counts a packet that holds records, and the sets it holds
// that were released from the pending buffer.
func mutCountData(p Packet, withData, withLate int) (int, int) {
	if p == nil {
		return withData, withLate
	}
	var sets *Sets
	switch q := p.(type) {
	case *V9Packet:
		sets = &q.Sets
	case *IPFIXPacket:
		sets = &q.Sets
	default:
		return withData + 1, withLate
	}
	if len(sets.DataSets) > 0 {
		withData++
	}
	for i := range sets.DataSets {
		if sets.DataSets[i].Late {
			withLate++
		}
	}
	return withData, withLate
}

// TestMutationFixtures runs mutCount seeded random mutations (bit flips,
// byte and 16-bit sets, length and count field tweaks, truncation,
// extension, insertion, deletion, duplication) of every distinct fixture
// datagram through a decoder seeded with the fixture's templates, restored
// every mutPeriod mutations, with the pending buffer swept on a fake clock.
// One period in four runs on a decoder without the templates, which
// come at its end and release the mutated sets held for them. Half of the
// batches are measured: the bytes they allocate must stay within
// 64 bytes per datagram byte plus 64 KiB per decode; the other half exercise every record
// value, list, flow and the message framers.
func TestMutationFixtures(t *testing.T) {
	const batch = 32
	perDatagram, period := mutCount(), mutPeriod()
	wd := newMutWatchdog(t, time.Second)
	fixtures := mutFixtures(t)
	seen := map[string]bool{}

	clock := time.Unix(buildUnixSecs, 0)
	cfg := Config{Now: func() time.Time { return clock }}
	type slot struct {
		in   mutInput
		data []byte
	}
	slots := make([]slot, batch)
	for i := range slots {
		slots[i].data = make([]byte, 0, mutMaxSize+4096)
	}
	var (
		total, decoded, errored int
		withData, withLate      int
		worstRatio              float64
		worstDesc               string
		worstAlloc              uint64
		flows                   []Flow
		ms0, ms1                runtime.MemStats
		start                   = time.Now()
	)
	for _, fx := range fixtures {
		rel, _ := filepath.Rel("testdata", fx.path)
		for di, orig := range fx.datagrams {
			if seen[string(orig)] {
				continue
			}
			seen[string(orig)] = true
			h := fnv.New64a()
			h.Write([]byte(rel))
			m := &mutator{r: rand.New(rand.NewPCG(h.Sum64(), uint64(di)))}
			var (
				d     *Decoder
				reset [][]byte
				buf   Buffer
				fresh = NewDecoder(cfg)
			)
			cold := false
			for n := 0; n < perDatagram; n += batch {
				if n%period == 0 && cold {
					// The templates come at the end of a cold period,
					// releasing the mutated sets held for them.
					for ri, s := range reset {
						in := &mutInput{desc: fmt.Sprintf("%s datagram %d: template datagram %d after mutations %d-%d", rel, di, ri, n-period, n-1), data: s}
						wd.begin(in)
						p, err := d.DecodeInto(&buf, testExporter, s)
						problem := mutCheckErr(err)
						withData, withLate = mutCountData(p, withData, withLate)
						if p != nil && problem == "" {
							flows, problem = mutExercise(d, p, flows)
						}
						wd.end()
						if problem != "" {
							require.Failf(t, "mutant", "%s: %s", in.desc, problem)
						}
					}
				}
				switch {
				case n%period != 0:
				case (n/period)%4 == 3:
					// A cold period: a decoder without the templates, so
					// that mutated data waits in the pending buffer.
					d, cold = NewDecoder(cfg), true
				case n%(16*period) == 0 || cold:
					d, reset = mutSeededDecoder(cfg, fx.seed)
					cold = false
				default:
					clock = clock.Add(11 * time.Minute)
					d.Sweep()
					for _, s := range reset {
						d.DecodeInto(&buf, testExporter, s)
					}
				}
				k := min(batch, perDatagram-n)
				sum := 0
				for i := range k {
					s := &slots[i]
					s.data = m.mutate(s.data, orig)
					s.in = mutInput{desc: fmt.Sprintf("%s datagram %d mutation %d", rel, di, n+i), data: s.data}
					sum += len(s.data)
				}
				measured := (n/batch)%2 == 0
				if measured {
					runtime.ReadMemStats(&ms0)
					for i := range k {
						s := &slots[i]
						wd.begin(&s.in)
						p, err := d.DecodeInto(&buf, testExporter, s.data)
						wd.end()
						if err != nil {
							errored++
						}
						withData, withLate = mutCountData(p, withData, withLate)
						if str := mutCheckErr(err); str != "" {
							require.Failf(t, "mutant error", "%s: %s\ninput %x", s.in.desc, str, s.data)
						}
					}
					runtime.ReadMemStats(&ms1)
					alloc := ms1.TotalAlloc - ms0.TotalAlloc
					bound := uint64(64*sum) + uint64(k)*(64<<10)
					assert.LessOrEqual(t, alloc, bound, "%s datagram %d mutations %d-%d: bytes allocated for %d bytes decoded", rel, di, n, n+k-1, sum)
					if r := float64(alloc) / float64(sum); r > worstRatio {
						worstRatio, worstAlloc, worstDesc = r, alloc, fmt.Sprintf("%s datagram %d mutations %d-%d (%d bytes)", rel, di, n, n+k-1, sum)
					}
				} else {
					for i := range k {
						s := &slots[i]
						wd.begin(&s.in)
						p, err := d.DecodeInto(&buf, testExporter, s.data)
						problem := mutCheckErr(err)
						if err != nil {
							errored++
						}
						withData, withLate = mutCountData(p, withData, withLate)
						if p != nil && problem == "" {
							flows, problem = mutExercise(d, p, flows)
						}
						if problem == "" {
							if _, err := fresh.DecodeFlows(nil, flows[:0], testExporter, s.data); err != nil {
								problem = mutCheckErr(err)
							}
						}
						if problem == "" {
							problem = mutFraming(s.data, i == 0 && len(s.data) >= 2 && s.data[1] == 10)
						}
						wd.end()
						if problem != "" {
							require.Failf(t, "mutant", "%s: %s\ninput %x", s.in.desc, problem, s.data)
						}
					}
				}
				total += k
			}
			decoded++
			st := d.Stats().Pending
			assert.LessOrEqual(t, st.Bytes, 64<<20, "%s: pending bytes", rel)
		}
	}
	t.Logf("%d mutations of %d distinct datagrams (%d per datagram) in %v: %d with errors, %d decoded records, %d late sets released",
		total, decoded, perDatagram, time.Since(start).Round(time.Millisecond), errored, withData, withLate)
	t.Logf("worst allocation: %.1f bytes per datagram byte (%d bytes) in %s; bound 64 per byte + 64 KiB per decode", worstRatio, worstAlloc, worstDesc)
	assert.GreaterOrEqual(t, decoded, 100, "distinct datagrams mutated: want the 141 of testdata")
}

// mutWorstBound is the most bytes one decode of n bytes of the hand-made
// worst cases of TestMutationAllocWorstCase may allocate. It is looser
// than 64 bytes per byte plus 64 KiB, which the fixtures' mutations meet: a message of
// thousands of four-byte sets or eight-byte templates that all fail makes
// an error each (about 250 bytes: message, *DecodeError, the joined
// slice), and a refused template is compiled before the store refuses it.
func mutWorstBound(n int) uint64 { return uint64(160*n + 64<<10) }

// TestMutationAllocWorstCase measures single decodes of the datagrams that
// make the decoder allocate most per byte: a full-size IPFIX message of
// one-byte records (a Record per byte), template sets of many small
// templates or of the most fields, and messages of many tiny data sets of
// unknown templates. Each is measured cold (a fresh Buffer) and warm (the
// same datagram again into the same Buffer).
func TestMutationAllocWorstCase(t *testing.T) {
	oneByte := []tmplField{{4, 1, 0}}
	var many, full [][]byte
	for i := range 300 {
		many = append(many, templateRecord(uint16(256+i), tmplField{8, 4, 0}))
	}
	for i := range (0xffff - 20) / 8 {
		full = append(full, templateRecord(uint16(256+i), tmplField{8, 4, 0}))
	}
	fields := make([]tmplField, 512)
	for i := range fields {
		fields[i] = tmplField{uint16(1 + i%100), 1, 0}
	}
	var tiny [][]byte
	for i := range (0xffff - 16) / 5 {
		tiny = append(tiny, set(uint16(256+i%300), []byte{1}, false))
	}
	cases := []struct {
		name string
		seed [][]byte
		data []byte
	}{
		{"65535-byte message of 1-byte records", [][]byte{ipfixMessage(1, 0, set(2, templateRecord(300, oneByte...), false))},
			ipfixMessage(1, 1, set(300, make([]byte, 0xffff-16-4), false))},
		{"v9 1400 bytes of 1-byte records", [][]byte{v9Packet(1, 0, set(0, templateRecord(300, oneByte...), false))},
			v9Packet(1, 1, set(300, make([]byte, 1380), false))},
		{"300 templates of one field", nil, ipfixMessage(1, 0, set(2, bytes.Join(many, nil), false))},
		{"65535-byte message of 8189 one-field templates", nil, ipfixMessage(1, 0, set(2, bytes.Join(full, nil), false))},
		{"template of 512 fields", nil, ipfixMessage(1, 0, set(2, templateRecord(300, fields...), false))},
		{"65535-byte message of empty data sets", nil, ipfixMessage(1, 0, bytes.Repeat(set(999, nil, false), (0xffff-16)/4))},
		{"65535-byte message of 1-byte data sets", nil, ipfixMessage(1, 0, tiny...)},
		{"1400-byte v9 packet of empty data sets", nil, v9Packet(1, 0, bytes.Repeat(set(999, nil, false), 345))},
	}
	var ms0, ms1 runtime.MemStats
	for _, c := range cases {
		d, _ := mutSeededDecoder(Config{}, c.seed)
		var buf Buffer
		for _, warm := range []bool{false, true} {
			runtime.ReadMemStats(&ms0)
			_, err := d.DecodeInto(&buf, testExporter, c.data)
			runtime.ReadMemStats(&ms1)
			assert.Empty(t, mutCheckErr(err), c.name)
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			t.Logf("%s (warm %v): %d bytes allocated for %d bytes, %.1f per byte", c.name, warm, alloc, len(c.data), float64(alloc)/float64(len(c.data)))
			assert.LessOrEqual(t, alloc, mutWorstBound(len(c.data)), "%s (warm %v): bytes allocated for a %d-byte datagram", c.name, warm, len(c.data))
		}
	}
}
