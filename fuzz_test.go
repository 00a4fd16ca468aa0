package netflow

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzTimeout is how long one fuzz input may take before the watchdog
// calls it a hang.
const fuzzTimeout = 2 * time.Second

func matchesSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// checkDecoded checks the invariants of one decode of data. It returns an
// error rather than failing t, so that it can run under the watchdog.
func checkDecoded(data []byte, p Packet, err error) error {
	var version uint16
	if len(data) >= 2 {
		version = be.Uint16(data)
	}
	if isSFlow(data) {
		version = sflowVersion
	}
	if err != nil {
		if !matchesSentinel(err) {
			return fmt.Errorf("error matches no sentinel: %v", err)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			return fmt.Errorf("error without *DecodeError: %v", err)
		}
		if de.Offset < 0 || de.Offset > len(data) {
			return fmt.Errorf("error offset %d outside %d bytes: %v", de.Offset, len(data), err)
		}
		_ = err.Error()
		switch {
		case isSFlow(data):
			// Like v9 and IPFIX: a packet with the samples that decoded.
		case version == 1 || version == 5 || version == 6 || version == 7:
			if p != nil {
				return fmt.Errorf("v%d error %v with a packet", version, err)
			}
		}
	} else if p == nil {
		return errors.New("no error and no packet")
	}
	if p == nil {
		return nil
	}
	if p.Version() != version {
		return fmt.Errorf("packet version %d from a v%d datagram", p.Version(), version)
	}
	flows := p.AppendFlows(nil)
	if len(flows) != p.FlowCount() {
		return fmt.Errorf("FlowCount %d, AppendFlows %d", p.FlowCount(), len(flows))
	}
	for i := range flows {
		f := &flows[i]
		_ = fmt.Sprint(*f)
		if f.Version != version {
			return fmt.Errorf("flow %d version %d", i, f.Version)
		}
		if (f.ExportProtocol == ExportSFlow) != isSFlow(data) {
			return fmt.Errorf("flow %d protocol %v", i, f.ExportProtocol)
		}
		if f.Known&FieldStart == 0 && !f.Start.IsZero() || f.Known&FieldEnd == 0 && !f.End.IsZero() {
			return fmt.Errorf("flow %d has a time not marked known: %+v", i, *f)
		}
	}
	var sets *Sets
	switch p := p.(type) {
	case *V9Packet:
		sets = &p.Sets
	case *IPFIXPacket:
		sets = &p.Sets
	}
	if sets == nil {
		return nil
	}
	for _, t := range sets.Templates {
		_ = fmt.Sprint(t.ID, t.Fields, t.MinRecordLen())
	}
	for i := range sets.DataSets {
		ds := &sets.DataSets[i]
		if ds.Template == nil {
			return fmt.Errorf("data set %d without template", i)
		}
		_ = ds.Options()
		for j := range ds.Records {
			if err := walkRecord(&ds.Records[j], 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkRecord formats every value of r and decodes its lists, recursively.
func walkRecord(r *Record, depth int) error {
	if depth > 16 {
		return fmt.Errorf("lists nested %d deep", depth)
	}
	n := 0
	for v := range r.All() {
		n++
		_ = v.String()
		_ = v.Name()
		_, _ = v.Uint()
		_, _ = v.Int()
		_, _ = v.Float()
		_, _ = v.Bool()
		_, _ = v.Addr()
		_, _ = v.MAC()
		_, _ = v.Time()
		_ = v.Text()
		switch v.Info.Type {
		case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
			l, err := r.List(v)
			if err != nil {
				if !matchesSentinel(err) {
					return fmt.Errorf("list error matches no sentinel: %v", err)
				}
				continue
			}
			_ = l.Semantic.String()
			for _, lv := range l.Values {
				_ = lv.String()
			}
			for k := range l.Records {
				if err := walkRecord(&l.Records[k], depth+1); err != nil {
					return err
				}
			}
		}
	}
	if n > len(r.Template.Fields) {
		return fmt.Errorf("record yields %d values of %d fields", n, len(r.Template.Fields))
	}
	_, _ = r.Lookup(8)
	return nil
}

// dirtyInputs are large datagrams of every version, built once.
var dirtyInputs = sync.OnceValue(func() [][]byte {
	return [][]byte{buildV1(30), buildV5(30), buildV6(30), buildV7(30), buildV9(30), buildIPFIX(30), buildSFlow(30)}
})

// dirtyBuffer returns a Buffer that has held large packets of every version.
func dirtyBuffer() *Buffer {
	buf := new(Buffer)
	d := NewDecoder(Config{})
	for _, data := range dirtyInputs() {
		if _, err := d.DecodeInto(buf, testExporter, data); err != nil {
			panic(err)
		}
	}
	return buf
}

func sameFlows(a, b []Flow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzDecode(f *testing.F) {
	for _, d := range allFixtureDatagrams(f) {
		f.Add(d)
	}
	for _, d := range [][]byte{buildV1(2), buildV5(2), buildV6(2), buildV7(2), buildV9(2), buildIPFIX(2), buildSFlow(2), []byte(goflow2Hang)} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var problem error
		withWatchdog(t, fuzzTimeout, func() { problem = fuzzDecodeOnce(data) })
		require.NoError(t, problem)
	})
}

func fuzzDecodeOnce(data []byte) error {
	// One clock for every decoder: sFlow flows carry the decode time.
	cfg := Config{Now: sflowTestNow}
	p, err := NewDecoder(cfg).Decode(testExporter, data)
	if err := checkDecoded(data, p, err); err != nil {
		return err
	}
	var want []Flow
	if p != nil {
		want = p.AppendFlows(nil)
		// The fixed path gives what the general path gives.
		if _, err := checkFillPaths(setsOf(p)); err != nil {
			return err
		}
	}
	// A Buffer that held other packets gives the same result.
	p2, err2 := NewDecoder(cfg).DecodeInto(dirtyBuffer(), testExporter, data)
	if err := checkDecoded(data, p2, err2); err != nil {
		return fmt.Errorf("reused buffer: %w", err)
	}
	if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		return fmt.Errorf("reused buffer: error %v, fresh %v", err2, err)
	}
	if (p == nil) != (p2 == nil) {
		return fmt.Errorf("reused buffer: packet %v, fresh %v", p2, p)
	}
	if p2 != nil && !sameFlows(want, p2.AppendFlows(nil)) {
		return errors.New("reused buffer: other flows")
	}
	// The flows-only path gives the same flows after what dst held.
	prefix := []Flow{{Version: 42}}
	got, err3 := NewDecoder(cfg).DecodeFlows(nil, prefix, testExporter, data)
	if (err == nil) != (err3 == nil) {
		return fmt.Errorf("DecodeFlows: error %v, DecodeInto %v", err3, err)
	}
	if len(got) == 0 || got[0] != prefix[0] || !sameFlows(want, got[1:]) {
		return fmt.Errorf("DecodeFlows: %d flows, DecodeInto %d", len(got)-1, len(want))
	}
	return nil
}

// ---------------------------------------------------------------- stateful

// splitFuzzDatagrams splits fuzz input into up to 8 datagrams: each is a
// 2-byte big-endian length (the high bit selects the second exporter)
// followed by that many bytes; the 8th takes the rest.
func splitFuzzDatagrams(data []byte) (dgs [][]byte, second []bool) {
	for len(data) > 0 && len(dgs) < 8 {
		if len(dgs) == 7 || len(data) < 2 {
			dgs, second = append(dgs, data), append(second, false)
			break
		}
		n := int(be.Uint16(data))
		data = data[2:]
		alt := n&0x8000 != 0
		n = min(n&0x7fff, len(data))
		dgs, second = append(dgs, data[:n]), append(second, alt)
		data = data[n:]
	}
	return dgs, second
}

// joinFuzzDatagrams is the inverse of splitFuzzDatagrams, for seeds (first
// exporter, at most 8 datagrams of at most 32767 bytes).
func joinFuzzDatagrams(dgs ...[]byte) []byte {
	var out []byte
	for i, d := range dgs {
		if i == 7 {
			return append(out, d...)
		}
		d = d[:min(len(d), 0x7fff)]
		out = be.AppendUint16(out, uint16(len(d)))
		out = append(out, d...)
	}
	return out
}

// statefulSeeds pairs every fixture that needs a template from another file
// (MANIFEST.tsv) with that file, template first, and adds whole v9/IPFIX
// captures and built pairs in both orders.
func statefulSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	f, err := os.Open(filepath.Join("testdata", "MANIFEST.tsv"))
	require.NoError(tb, err)
	defer f.Close()
	in := regexp.MustCompile(` in ([^ ;]+\.(?:dat|bin|pcap))`)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 11 || !strings.HasPrefix(cols[10], "yes") {
			continue
		}
		data := filepath.Join("testdata", cols[0])
		if _, err := os.Stat(data); err != nil {
			continue
		}
		var dgs [][]byte
		for _, m := range in.FindAllStringSubmatch(cols[10], -1) {
			tpl := filepath.Join("testdata", m[1])
			if _, err := os.Stat(tpl); err == nil {
				dgs = append(dgs, fixturePayloads(tb, tpl)...)
			}
		}
		dgs = append(dgs, fixturePayloads(tb, data)...)
		if len(dgs) > 8 {
			dgs = dgs[len(dgs)-8:]
		}
		seeds = append(seeds, joinFuzzDatagrams(dgs...))
	}
	for _, name := range []string{"softflowd/softflowd_v9.pcap", "softflowd/softflowd_v10.pcap"} {
		if dgs := fixturePayloads(tb, filepath.Join("testdata", name)); len(dgs) > 0 {
			seeds = append(seeds, joinFuzzDatagrams(dgs...))
		}
	}
	seeds = append(seeds,
		joinFuzzDatagrams(buildV9Template(), buildV9Data(3)),
		joinFuzzDatagrams(buildV9Data(3), buildV9Template()),
		joinFuzzDatagrams(buildIPFIXTemplate(), buildIPFIXData(3)),
		joinFuzzDatagrams(buildIPFIXData(3), buildIPFIXTemplate(), buildIPFIXData(1)),
	)
	return seeds
}

// fakeClock advances one minute each time the fuzz loop ticks it.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// newFuzzDecoder returns a decoder with small limits, expiry and a clock
// the caller advances, so that a few datagrams reach every limit.
func newFuzzDecoder(c *fakeClock) (*Decoder, *MemoryStore) {
	store := NewMemoryStore(MemoryStoreConfig{
		MaxTemplatesPerDomain: 16,
		MaxDomainsPerExporter: 3,
		MaxExporters:          2,
		TTL:                   3 * time.Minute,
		Now:                   c.Now,
	})
	d := NewDecoder(Config{
		Store:   store,
		Pending: PendingLimits{MaxSetsPerExporter: 4, MaxBytesPerExporter: 4 << 10, MaxBytes: 6 << 10, MaxExporters: 2, MaxAge: 2 * time.Minute},
		Limits:  Limits{MaxTemplateFields: 64, MaxOptionsEntries: 8, MaxStateDomains: 4, MaxListDepth: 2},
		Now:     c.Now,
	})
	return d, store
}

var fuzzExporters = [2]netip.AddrPort{testExporter, netip.MustParseAddrPort("[2001:db8::1]:4739")}

func FuzzStateful(f *testing.F) {
	for _, s := range statefulSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var problem error
		withWatchdog(t, fuzzTimeout, func() { problem = fuzzStatefulOnce(data) })
		require.NoError(t, problem)
	})
}

func fuzzStatefulOnce(data []byte) error {
	dgs, second := splitFuzzDatagrams(data)
	clock := &fakeClock{now: time.Unix(buildUnixSecs, 0)}
	fastClock := &fakeClock{now: clock.now}
	d, store := newFuzzDecoder(clock)
	fast, _ := newFuzzDecoder(fastClock)
	var buf, fastBuf Buffer
	var got []Flow
	for i, dg := range dgs {
		exp := fuzzExporters[0]
		if second[i] {
			exp = fuzzExporters[1]
		}
		p, err := d.DecodeInto(&buf, exp, dg)
		if err := checkDecoded(dg, p, err); err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		var want []Flow
		if p != nil {
			want = p.AppendFlows(nil)
		}
		var ferr error
		got, ferr = fast.DecodeFlows(&fastBuf, got[:0], exp, dg)
		if (err == nil) != (ferr == nil) || !sameFlows(want, got) {
			return fmt.Errorf("datagram %d: DecodeFlows %d flows (%v), DecodeInto %d (%v)", i, len(got), ferr, len(want), err)
		}
		clock.now = clock.now.Add(time.Minute)
		fastClock.now = clock.now
		if i%3 == 2 {
			d.Sweep()
			store.Expire()
		}
	}
	ps := d.Stats().Pending
	if ps.Held < 0 || ps.Bytes < 0 || ps.Held > 2*4 || ps.Bytes > 6<<10 {
		return fmt.Errorf("pending stats out of bounds: %+v", ps)
	}
	st := store.Stats()
	if st.Templates < 0 || st.Templates > 2*3*16 || st.Exporters > 2 {
		return fmt.Errorf("store stats out of bounds: %+v", st)
	}
	for _, e := range fuzzExporters {
		for _, v := range []uint16{9, 10} {
			if es, ok := d.ExporterState(e, v, 0); ok {
				_ = fmt.Sprint(es)
			}
		}
	}
	var saved bytes.Buffer
	if err := store.Save(&saved); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	restored := NewMemoryStore(MemoryStoreConfig{})
	if err := restored.Load(&saved); err != nil {
		return fmt.Errorf("load what save wrote: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- stream

func FuzzMessageReader(f *testing.F) {
	var ipfix [][]byte
	for _, file := range fixtureFiles(f) {
		for _, d := range fixturePayloads(f, file) {
			if len(d) >= 2 && be.Uint16(d) == 10 {
				ipfix = append(ipfix, d)
			}
		}
	}
	for _, d := range ipfix {
		f.Add(d)
	}
	// Whole streams: every message back to back, and a cut one.
	all := bytes.Join(ipfix, nil)
	f.Add(all)
	f.Add(all[:len(all)-7])
	f.Add(append(buildIPFIX(3), buildV5(1)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var problem error
		withWatchdog(t, fuzzTimeout, func() { problem = fuzzReaderOnce(data) })
		require.NoError(t, problem)
	})
}

func fuzzReaderOnce(data []byte) error {
	read := func(r io.Reader) ([][]byte, error) {
		m := NewMessageReader(r)
		var msgs [][]byte
		for i := 0; ; i++ {
			if i > len(data)/16+1 {
				return msgs, fmt.Errorf("%d messages from %d bytes", i, len(data))
			}
			msg, err := m.Next()
			if err != nil {
				return msgs, err
			}
			msgs = append(msgs, append([]byte(nil), msg...))
		}
	}
	msgs, err := read(bytes.NewReader(data))
	if !errors.Is(err, io.EOF) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
		return fmt.Errorf("reader error %v", err)
	}
	if errors.Is(err, io.EOF) && err != io.EOF {
		return fmt.Errorf("end of stream wrapped: %v", err)
	}
	n := 0
	clock := &fakeClock{now: time.Unix(buildUnixSecs, 0)}
	d, _ := newFuzzDecoder(clock)
	for i, msg := range msgs {
		if len(msg) < 16 || be.Uint16(msg) != 10 || int(be.Uint16(msg[2:])) != len(msg) {
			return fmt.Errorf("message %d: bad framing % x", i, msg[:min(len(msg), 4)])
		}
		if !bytes.Equal(msg, data[n:n+len(msg)]) {
			return fmt.Errorf("message %d is not the stream's bytes", i)
		}
		n += len(msg)
		p, err := d.Decode(testExporter, msg)
		if err := checkDecoded(msg, p, err); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	if err == io.EOF && n != len(data) {
		return fmt.Errorf("EOF after %d of %d bytes", n, len(data))
	}
	// Reading one byte at a time gives the same messages and error.
	msgs1, err1 := read(iotest.OneByteReader(bytes.NewReader(data)))
	if len(msgs1) != len(msgs) || (err == nil) != (err1 == nil) || (err != nil && err.Error() != err1.Error()) {
		return fmt.Errorf("one byte at a time: %d messages (%v), at once %d (%v)", len(msgs1), err1, len(msgs), err)
	}
	return nil
}
