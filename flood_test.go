package netflow

// Floods (templates from spoofed exporters, data without templates) and
// one test per limit, at the limit: what it refuses, with which error and
// which counter, and that what was held before is still served.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// floodAddr is spoofed exporter i.
func floodAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i%7))
}

// floodOnlyLimit fails unless every problem err joins matches ErrLimit.
func floodOnlyLimit(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			floodOnlyLimit(tb, e)
		}
		return
	}
	if !errors.Is(err, ErrLimit) {
		tb.Fatalf("flood error %v, want only ErrLimit", err)
	}
}

// floodHeap returns the live heap after a full collection.
func floodHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// floodIDs are the v9 types and IPFIX elements the random templates use:
// every Flow field's source and some that fill nothing.
var floodIDs = []uint16{1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 27, 28, 32, 34, 48, 56, 61, 89, 95, 152, 153, 160, 176, 225, 226, 227, 228, 234, 302, 305}

// floodTemplates appends to dst a v9 packet or IPFIX message from domain
// holding n random templates (data and options) of 1 to maxFields fields.
func floodTemplates(dst []byte, r *rand.Rand, version uint16, domain uint32, n, maxFields int) []byte {
	dst = dst[:0]
	if version == 9 {
		dst = v9Header(dst, domain)
	} else {
		dst = be.AppendUint16(dst, 10)
		dst = be.AppendUint16(dst, 0) // length, below
		dst = be.AppendUint32(dst, buildUnixSecs)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, domain)
	}
	for range n {
		options := r.IntN(4) == 0
		setID := uint16(0)
		switch {
		case version == 9 && options:
			setID = 1
		case version == 10 && options:
			setID = 3
		case version == 10:
			setID = 2
		}
		start := len(dst)
		dst = be.AppendUint16(dst, setID)
		dst = be.AppendUint16(dst, 0) // set length, below
		count := 1 + r.IntN(maxFields)
		scope := 0
		dst = be.AppendUint16(dst, uint16(256+r.IntN(0xffff-256)))
		if options {
			scope = 1 + r.IntN(count)
		}
		switch {
		case version == 9 && options:
			dst = be.AppendUint16(dst, uint16(4*scope))
			dst = be.AppendUint16(dst, uint16(4*(count-scope)))
		case options:
			dst = be.AppendUint16(dst, uint16(count))
			dst = be.AppendUint16(dst, uint16(scope))
		default:
			dst = be.AppendUint16(dst, uint16(count))
		}
		for i := range count {
			id := floodIDs[r.IntN(len(floodIDs))]
			if version == 9 && options && i < scope {
				id = uint16(1 + r.IntN(5))
			}
			length := []uint16{1, 2, 4, 8, 16}[r.IntN(5)]
			pen := version == 10 && r.IntN(8) == 0
			if version == 10 && r.IntN(8) == 0 {
				length = VariableLength
			}
			if pen {
				id |= 0x8000
			}
			dst = be.AppendUint16(dst, id)
			dst = be.AppendUint16(dst, length)
			if pen {
				dst = be.AppendUint32(dst, 29305+uint32(r.IntN(3)))
			}
		}
		be.PutUint16(dst[start+2:], uint16(len(dst)-start))
	}
	if version == 10 {
		be.PutUint16(dst[2:], uint16(len(dst)))
	}
	return dst
}

// v9Header appends the builders' v9 header with source ID domain.
func v9Header(dst []byte, domain uint32) []byte {
	dst = be.AppendUint16(dst, 9)
	dst = be.AppendUint16(dst, 1)
	dst = be.AppendUint32(dst, buildSysUptime)
	dst = be.AppendUint32(dst, buildUnixSecs)
	dst = be.AppendUint32(dst, 0)
	return be.AppendUint32(dst, domain)
}

// floodLegit is a legitimate exporter's traffic: v9 and IPFIX templates
// and data, and the flows the data must give.
type floodLegit struct {
	addr            netip.AddrPort
	v9Tmpl, v9Data  []byte
	ipTmpl, ipData  []byte
	v9Want, ipWant  []Flow
	buf             Buffer
	flows           []Flow
	refreshes, runs int
}

func newFloodLegit(tb testing.TB, addr netip.AddrPort) *floodLegit {
	l := &floodLegit{
		addr:   addr,
		v9Tmpl: buildV9Template(), v9Data: buildV9Data(5),
		ipTmpl: buildIPFIXTemplate(), ipData: buildIPFIXData(5),
	}
	ref := NewDecoder(Config{})
	for _, dg := range [][]byte{l.v9Tmpl, l.ipTmpl} {
		_, err := ref.Decode(addr, dg)
		require.NoError(tb, err)
	}
	p, err := ref.Decode(addr, l.v9Data)
	require.NoError(tb, err)
	l.v9Want = p.AppendFlows(nil)
	p, err = ref.Decode(addr, l.ipData)
	require.NoError(tb, err)
	l.ipWant = p.AppendFlows(nil)
	require.Len(tb, l.v9Want, 5)
	require.Len(tb, l.ipWant, 5)
	return l
}

// send decodes the legitimate exporter's data, after its templates if
// refresh, and fails unless every flow decodes.
func (l *floodLegit) send(tb testing.TB, d *Decoder, refresh bool, when string) {
	tb.Helper()
	if refresh {
		for _, dg := range [][]byte{l.v9Tmpl, l.ipTmpl} {
			p, err := d.DecodeInto(&l.buf, l.addr, dg)
			if err != nil || len(floodSets(p).Templates) != 1 {
				tb.Fatalf("%s: legitimate template refresh: %v", when, err)
			}
		}
		l.refreshes++
	}
	for _, c := range []struct {
		data []byte
		want []Flow
	}{{l.v9Data, l.v9Want}, {l.ipData, l.ipWant}} {
		p, err := d.DecodeInto(&l.buf, l.addr, c.data)
		if err != nil {
			tb.Fatalf("%s: legitimate data: %v", when, err)
		}
		l.flows = p.AppendFlows(l.flows[:0])
		require.Equal(tb, c.want, l.flows, when)
	}
	l.runs++
}

// floodSets returns the sets of a v9 or IPFIX packet, nil for others.
func floodSets(p Packet) *Sets {
	switch q := p.(type) {
	case *V9Packet:
		return &q.Sets
	case *IPFIXPacket:
		return &q.Sets
	}
	return nil
}

// TestFloodTemplates sends 1,000,000 random templates (v9 and IPFIX, data
// and options, 10 per datagram) from 10,000 spoofed exporters, 10% of the
// datagrams from 100 heavy ones, through one Decoder, while a legitimate
// exporter known before the flood refreshes its templates and sends data
// every 1,000 datagrams. The store must stay within its configured bounds
// (exporters, domains, templates) and the live heap at the end within
// those bounds times the measured cost of the largest template the flood
// sends; every legitimate data set must decode.
func TestFloodTemplates(t *testing.T) {
	const (
		perDatagram = 10
		maxFields   = 32
		legitEvery  = 1000
		exporters   = 10_000
	)
	templates := 1_000_000
	if raceEnabled() || testing.Short() {
		templates = 200_000
	}
	storeCfg := MemoryStoreConfig{MaxExporters: 1000, MaxDomainsPerExporter: 4, MaxTemplatesPerDomain: 16}
	maxHeld := storeCfg.MaxExporters * storeCfg.MaxDomainsPerExporter * storeCfg.MaxTemplatesPerDomain
	perTemplate := floodTemplateCost(t, maxFields)

	start := time.Now()
	before := floodHeap()
	store := NewMemoryStore(storeCfg)
	d := NewDecoder(Config{Store: store, Limits: Limits{MaxTemplateFields: maxFields}})
	legit := newFloodLegit(t, testExporter)
	legit.send(t, d, true, "before the flood")

	r := rand.New(rand.NewPCG(2024, 11))
	var (
		buf      Buffer
		dg       []byte
		refused  int
		accepted int
	)
	for i := range templates / perDatagram {
		e := r.IntN(exporters)
		if r.IntN(10) == 0 {
			e = r.IntN(100)
		}
		version := uint16(9 + r.IntN(2))
		dg = floodTemplates(dg, r, version, uint32(r.IntN(8)), perDatagram, maxFields)
		p, err := d.DecodeInto(&buf, floodAddr(e), dg)
		floodOnlyLimit(t, err)
		n := len(floodSets(p).Templates)
		accepted += n
		refused += perDatagram - n
		if i%legitEvery == legitEvery-1 {
			legit.send(t, d, i%(2*legitEvery) == legitEvery-1, fmt.Sprintf("after %d flood datagrams", i+1))
		}
	}
	legit.send(t, d, false, "after the flood")
	after := floodHeap()
	heap := after - min(before, after)
	runtime.KeepAlive(d)

	st := store.Stats()
	bound := uint64(maxHeld)*perTemplate + 4<<20
	t.Logf("%d templates from %d exporters in %v: %d accepted, %d refused; store holds %d templates of %d exporters (bound %d templates); Learned %d Refreshed %d Replaced %d Rejected %d",
		templates, exporters, time.Since(start).Round(time.Millisecond), accepted, refused, st.Templates, st.Exporters, maxHeld, st.Learned, st.Refreshed, st.Replaced, st.Rejected)
	t.Logf("live heap at the end %.1f MiB, bound %.1f MiB (%d templates x %d bytes, the cost of a %d-field template, + 4 MiB); legitimate exporter decoded %d times, %d refreshes",
		float64(heap)/(1<<20), float64(bound)/(1<<20), maxHeld, perTemplate, maxFields, legit.runs, legit.refreshes)
	require.LessOrEqual(t, st.Exporters, storeCfg.MaxExporters)
	require.LessOrEqual(t, st.Templates, maxHeld)
	require.Positive(t, st.Rejected)
	require.Equal(t, uint64(refused), st.Rejected)
	require.LessOrEqual(t, heap, bound)

	// A new exporter that first shows up once the store is full is refused:
	// the store never pushes out known exporters for new ones.
	_, err := d.Decode(floodAddr(exporters+1), buildIPFIXTemplate())
	require.ErrorIs(t, err, ErrLimit)
}

// floodTemplateCost measures the live heap one stored template of
// maxFields fields (every Flow field's source, and more) costs.
func floodTemplateCost(tb testing.TB, maxFields int) uint64 {
	const n = 20_000
	fields := make([]TemplateField, maxFields)
	for i := range fields {
		fields[i] = TemplateField{ID: floodIDs[i%len(floodIDs)], Length: 4}
	}
	before := floodHeap()
	s := NewMemoryStore(MemoryStoreConfig{MaxExporters: n, MaxTemplatesPerDomain: n})
	for i := range n {
		t, err := NewTemplate(10, uint16(256+i%1000), false, 0, append([]TemplateField(nil), fields...))
		require.NoError(tb, err)
		require.NoError(tb, s.AddTemplate(TemplateKey{Exporter: floodAddr(i / 1000), Version: 10, Domain: uint32(i % 7), ID: t.ID}, t))
	}
	after := floodHeap()
	runtime.KeepAlive(s)
	return (after - min(before, after)) / n
}

// floodData appends to dst a v9 packet or IPFIX message from domain
// holding n data sets of random unknown templates (IDs 1000-1099), of 0 to
// maxBody bytes each.
func floodData(dst []byte, r *rand.Rand, version uint16, domain uint32, n, maxBody int) []byte {
	dst = dst[:0]
	if version == 9 {
		dst = v9Header(dst, domain)
	} else {
		dst = be.AppendUint16(dst, 10)
		dst = be.AppendUint16(dst, 0)
		dst = be.AppendUint32(dst, buildUnixSecs)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, domain)
	}
	for range n {
		body := r.IntN(maxBody + 1)
		dst = be.AppendUint16(dst, uint16(1000+r.IntN(100)))
		dst = be.AppendUint16(dst, uint16(4+body))
		for range body {
			dst = append(dst, byte(r.IntN(256)))
		}
	}
	if version == 10 {
		be.PutUint16(dst[2:], uint16(len(dst)))
	}
	return dst
}

// floodPendingBounds checks the pending buffer's limits, per exporter too.
func floodPendingBounds(tb testing.TB, d *Decoder, l PendingLimits) PendingStats {
	tb.Helper()
	st := d.Stats().Pending
	require.LessOrEqual(tb, st.Bytes, l.MaxBytes)
	b := d.pending
	b.mu.Lock()
	defer b.mu.Unlock()
	require.LessOrEqual(tb, len(b.by), l.MaxExporters)
	for e, q := range b.by {
		if len(q.sets) > l.MaxSetsPerExporter || q.bytes > l.MaxBytesPerExporter {
			tb.Fatalf("exporter %v holds %d sets, %d bytes; limits %d, %d", e, len(q.sets), q.bytes, l.MaxSetsPerExporter, l.MaxBytesPerExporter)
		}
	}
	return st
}

// TestFloodPendingData sends data sets of unknown templates from 10,000
// spoofed exporters (some heavy) until the pending buffer is full. Its
// bounds hold throughout (total bytes, exporters, sets and bytes per
// exporter); a legitimate exporter whose data arrived early in the flood
// gets its flows when its templates come; data that arrives once the
// buffer is full is refused with ErrLimit and counted, never pushing out
// what is held.
func TestFloodPendingData(t *testing.T) {
	lim := PendingLimits{MaxSetsPerExporter: 64, MaxBytesPerExporter: 32 << 10, MaxBytes: 4 << 20, MaxExporters: 1024, MaxAge: time.Hour}
	datagrams := 60_000
	if raceEnabled() || testing.Short() {
		datagrams = 20_000
	}
	before := floodHeap()
	d := NewDecoder(Config{Pending: lim})
	legit := newFloodLegit(t, testExporter)
	r := rand.New(rand.NewPCG(7, 7))
	var (
		buf         Buffer
		dg          []byte
		legitHeld   bool
		maxSeen     PendingStats
		refusedSeen int
	)
	for i := range datagrams {
		e := r.IntN(10_000)
		if r.IntN(4) == 0 {
			e = r.IntN(16)
		}
		dg = floodData(dg, r, uint16(9+r.IntN(2)), uint32(r.IntN(4)), 1+r.IntN(4), 1000)
		_, err := d.DecodeInto(&buf, floodAddr(e), dg)
		if err != nil {
			floodOnlyLimit(t, err)
			refusedSeen++
		}
		if i == 100 {
			// The legitimate exporter's data comes before its templates.
			for _, data := range [][]byte{legit.v9Data, legit.ipData} {
				p, err := d.DecodeInto(&legit.buf, legit.addr, data)
				require.NoError(t, err)
				require.Equal(t, 1, floodSets(p).Pending)
			}
			legitHeld = true
		}
		if i%1000 == 0 {
			if st := floodPendingBounds(t, d, lim); st.Bytes > maxSeen.Bytes {
				maxSeen = st
			}
		}
	}
	st := floodPendingBounds(t, d, lim)
	require.True(t, legitHeld)
	require.Positive(t, st.Refused)
	require.Greater(t, st.Bytes, lim.MaxBytes*3/4, "the flood should fill the pending buffer")

	// Late data of the legitimate exporter is refused now that the buffer
	// is full (with ErrLimit, counted) ...
	_, err := d.DecodeInto(&legit.buf, legit.addr, buildIPFIXData(1))
	require.ErrorIs(t, err, ErrLimit)
	require.Equal(t, st.Refused+1, d.Stats().Pending.Refused)

	// ... but what it sent early is held, and decodes when the templates
	// come.
	for _, c := range []struct {
		tmpl []byte
		want []Flow
	}{{legit.v9Tmpl, legit.v9Want}, {legit.ipTmpl, legit.ipWant}} {
		p, err := d.DecodeInto(&legit.buf, legit.addr, c.tmpl)
		require.NoError(t, err)
		flows := p.AppendFlows(nil)
		require.Equal(t, c.want, flows)
	}
	after := floodHeap()
	heap := after - min(before, after)
	runtime.KeepAlive(d)
	t.Logf("%d datagrams of pending data: %d refused; pending holds %d sets, %d bytes (MaxBytes %d), Added %d Refused %d Matched %d; live heap %.1f MiB",
		datagrams, refusedSeen, st.Held, st.Bytes, lim.MaxBytes, st.Added, st.Refused, d.Stats().Pending.Matched, float64(heap)/(1<<20))
	require.LessOrEqual(t, heap, uint64(2*lim.MaxBytes+4<<20))
}

// TestFloodPendingTinySets floods the pending buffer with empty and
// one-byte data sets, 345 to a datagram, from 400 exporters: what it
// holds must stay within MaxBytes in memory too, not only in the bytes of
// set bodies (each held set costs its bookkeeping as well).
func TestFloodPendingTinySets(t *testing.T) {
	lim := PendingLimits{MaxBytes: 4 << 20, MaxAge: time.Hour}
	before := floodHeap()
	d := NewDecoder(Config{Pending: lim})
	var buf Buffer
	r := rand.New(rand.NewPCG(3, 4))
	var dg []byte
	for i := range 400 {
		dg = floodData(dg, r, 9, 0, 345, 1)
		_, err := d.DecodeInto(&buf, floodAddr(i), dg)
		floodOnlyLimit(t, err)
	}
	st := d.Stats().Pending
	after := floodHeap()
	heap := after - min(before, after)
	runtime.KeepAlive(d)
	t.Logf("pending holds %d sets, Bytes %d (MaxBytes %d), Refused %d; live heap %.1f MiB", st.Held, st.Bytes, lim.MaxBytes, st.Refused, float64(heap)/(1<<20))
	require.LessOrEqual(t, st.Bytes, lim.MaxBytes)
	require.LessOrEqual(t, heap, uint64(2*lim.MaxBytes+4<<20), "held sets cost more memory than MaxBytes allows")
}

// ---------------------------------------------------------------- limits

// limitAddr is exporter i of the limit tests.
func limitAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, byte(113 + i>>8), byte(i)}), 2055)
}

// limitTemplates returns a v9 packet or IPFIX message from domain defining
// one-field templates (sourceIPv4Address, 4 bytes) of the given IDs.
func limitTemplates(version uint16, domain uint32, ids ...uint16) []byte {
	var body []byte
	for _, id := range ids {
		body = append(body, templateRecord(id, tmplField{8, 4, 0})...)
	}
	if version == 9 {
		return v9Packet(domain, 0, set(0, body, false))
	}
	return ipfixMessage(domain, 0, set(2, body, false))
}

// limitData returns a datagram with one record of a limitTemplates
// template: source address 10.9.8.7.
func limitData(version uint16, domain uint32, id uint16) []byte {
	rec := []byte{10, 9, 8, 7}
	if version == 9 {
		return v9Packet(domain, 1, set(id, rec, false))
	}
	return ipfixMessage(domain, 1, set(id, rec, false))
}

// limitServed fails unless exporter's data for template id decodes.
func limitServed(tb testing.TB, d *Decoder, exporter netip.AddrPort, version uint16, domain uint32, id uint16) {
	tb.Helper()
	p, err := d.Decode(exporter, limitData(version, domain, id))
	require.NoError(tb, err)
	flows := p.AppendFlows(nil)
	require.Len(tb, flows, 1)
	require.Equal(tb, netip.MustParseAddr("10.9.8.7"), flows[0].SrcAddr)
}

func limitIDs(from, n int) []uint16 {
	ids := make([]uint16, n)
	for i := range ids {
		ids[i] = uint16(from + i)
	}
	return ids
}

// TestLimitMaxTemplateFields: a template of Limits.MaxTemplateFields
// fields (default 512) is learned, one more field is refused with ErrLimit
// (a *DecodeError saying "template field count"). No counter counts it.
func TestLimitMaxTemplateFields(t *testing.T) {
	for _, c := range []struct {
		limit, want int
	}{{0, 512}, {8, 8}} {
		for _, version := range []uint16{9, 10} {
			t.Run(fmt.Sprintf("v%d limit %d", version, c.want), func(t *testing.T) {
				d := NewDecoder(Config{Limits: Limits{MaxTemplateFields: c.limit}})
				fields := make([]tmplField, c.want+1)
				for i := range fields {
					fields[i] = tmplField{uint16(1 + i%100), 1, 0}
				}
				msg := func(id uint16, fields []tmplField) []byte {
					if version == 9 {
						return v9Packet(1, 0, set(0, templateRecord(id, fields...), false))
					}
					return ipfixMessage(1, 0, set(2, templateRecord(id, fields...), false))
				}
				p, err := d.Decode(testExporter, msg(256, fields[:c.want]))
				require.NoError(t, err)
				require.Len(t, floodSets(p).Templates, 1)
				require.Len(t, floodSets(p).Templates[0].Fields, c.want)

				p, err = d.Decode(testExporter, msg(257, fields))
				require.ErrorIs(t, err, ErrLimit)
				var de *DecodeError
				require.ErrorAs(t, err, &de)
				require.Equal(t, "template field count", de.What)
				require.Empty(t, floodSets(p).Templates)
				_, err = d.Store().Template(TemplateKey{Exporter: testExporter, Version: version, Domain: 1, ID: 257})
				require.ErrorIs(t, err, ErrTemplateNotFound)
				_, err = d.Store().Template(TemplateKey{Exporter: testExporter, Version: version, Domain: 1, ID: 256})
				require.NoError(t, err)
			})
		}
	}
}

// TestLimitMaxTemplatesPerDomain: a domain holds MaxTemplatesPerDomain
// templates (default 1024); a new one is refused with ErrLimit and counted
// in Stats().Rejected, while the held ones are still served, refreshed and
// replaced, and other domains still learn. With EvictOldest the least
// recently refreshed one makes room instead (Stats().Evicted).
func TestLimitMaxTemplatesPerDomain(t *testing.T) {
	const max = 1024
	clock := time.Unix(buildUnixSecs, 0)
	now := func() time.Time { return clock }
	for _, evict := range []bool{false, true} {
		t.Run(fmt.Sprintf("EvictOldest %v", evict), func(t *testing.T) {
			s := NewMemoryStore(MemoryStoreConfig{EvictOldest: evict, Now: now})
			d := NewDecoder(Config{Store: s})
			_, err := d.Decode(testExporter, limitTemplates(10, 1, 256))
			require.NoError(t, err)
			clock = clock.Add(time.Second)
			_, err = d.Decode(testExporter, limitTemplates(10, 1, limitIDs(257, max-1)...))
			require.NoError(t, err)
			require.Equal(t, max, s.Stats().Templates)
			clock = clock.Add(time.Second)

			_, err = d.Decode(testExporter, limitTemplates(10, 1, 256+max))
			st := s.Stats()
			require.Equal(t, max, st.Templates)
			if evict {
				require.NoError(t, err)
				require.Equal(t, uint64(1), st.Evicted)
				require.Zero(t, st.Rejected)
				limitServed(t, d, testExporter, 10, 1, 256+max)
				_, err = s.Template(TemplateKey{Exporter: testExporter, Version: 10, Domain: 1, ID: 256})
				require.ErrorIs(t, err, ErrTemplateNotFound, "the oldest template is the one evicted")
				return
			}
			require.ErrorIs(t, err, ErrLimit)
			require.Equal(t, uint64(1), st.Rejected)
			limitServed(t, d, testExporter, 10, 1, 256)
			limitServed(t, d, testExporter, 10, 1, 255+max)

			// At the limit, a refresh and a replacement are still taken.
			_, err = d.Decode(testExporter, limitTemplates(10, 1, 256))
			require.NoError(t, err)
			_, err = d.Decode(testExporter, ipfixMessage(1, 0, set(2, templateRecord(257, tmplField{8, 4, 0}, tmplField{12, 4, 0}), false)))
			require.NoError(t, err)
			// Another domain of the same exporter is not affected.
			_, err = d.Decode(testExporter, limitTemplates(10, 2, 256+max))
			require.NoError(t, err)
			st = s.Stats()
			require.Equal(t, uint64(1), st.Rejected)
			require.Equal(t, uint64(1), st.Refreshed)
			require.Equal(t, uint64(1), st.Replaced)
			require.Equal(t, max+1, st.Templates)
		})
	}
}

// TestLimitMaxExporters: the store holds the templates of MaxExporters
// exporters (default 4096); a new exporter is refused with ErrLimit and
// counted in Stats().Rejected, while known exporters are still served and
// may still open new domains.
func TestLimitMaxExporters(t *testing.T) {
	const max = 4096
	s := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: s})
	tmpl := limitTemplates(10, 1, 256)
	var buf Buffer
	for i := range max {
		_, err := d.DecodeInto(&buf, limitAddr(i), tmpl)
		require.NoError(t, err)
	}
	require.Equal(t, max, s.Stats().Exporters)
	_, err := d.Decode(limitAddr(max), tmpl)
	require.ErrorIs(t, err, ErrLimit)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Rejected)
	require.Equal(t, max, st.Exporters)
	require.Equal(t, max, st.Templates)
	limitServed(t, d, limitAddr(0), 10, 1, 256)
	limitServed(t, d, limitAddr(max-1), 10, 1, 256)
	_, err = d.Decode(limitAddr(0), limitTemplates(9, 7, 300))
	require.NoError(t, err)
	limitServed(t, d, limitAddr(0), 9, 7, 300)
}

// TestLimitMaxDomainsPerExporter: an exporter holds templates in
// MaxDomainsPerExporter (version, domain) pairs (default 64), v9 and IPFIX
// counted together; a new one is refused with ErrLimit and counted in
// Stats().Rejected, while its other domains and other exporters are still
// served.
func TestLimitMaxDomainsPerExporter(t *testing.T) {
	const max = 64
	s := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: s})
	for i := range max {
		version := uint16(9 + i%2)
		_, err := d.Decode(testExporter, limitTemplates(version, uint32(i/2), 256))
		require.NoError(t, err)
	}
	_, err := d.Decode(testExporter, limitTemplates(10, max, 256))
	require.ErrorIs(t, err, ErrLimit)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Rejected)
	require.Equal(t, max, st.Templates)
	limitServed(t, d, testExporter, 9, 0, 256)
	limitServed(t, d, testExporter, 10, max/2-1, 256)
	// More templates in a held domain are fine, and so is another exporter.
	_, err = d.Decode(testExporter, limitTemplates(10, 0, 257))
	require.NoError(t, err)
	_, err = d.Decode(limitAddr(1), limitTemplates(10, max, 256))
	require.NoError(t, err)
}

// TestLimitPending: each PendingLimits bound, at its default, refuses the
// set beyond it with ErrLimit and counts it in PendingStats().Refused;
// what is held stays held and decodes when its template comes.
func TestLimitPending(t *testing.T) {
	cost := func(body int) int { return body + pendingSetOverhead }
	// unknown returns an IPFIX message of n data sets of template id with
	// bodies of size bytes.
	unknown := func(id uint16, n, size int) []byte {
		sets := make([][]byte, n)
		for i := range sets {
			sets[i] = set(id, make([]byte, size), false)
		}
		return ipfixMessage(1, 0, sets...)
	}
	t.Run("MaxSetsPerExporter", func(t *testing.T) {
		const max = 256
		d := NewDecoder(Config{})
		p, err := d.Decode(testExporter, unknown(300, max+1, 4))
		require.ErrorIs(t, err, ErrLimit)
		require.Equal(t, max, floodSets(p).Pending)
		st := d.Stats().Pending
		require.Equal(t, max, st.Held)
		require.Equal(t, uint64(1), st.Refused)
		require.Equal(t, max*cost(4), st.Bytes)
		p, err = d.Decode(testExporter, limitTemplates(10, 1, 300))
		require.NoError(t, err)
		require.Equal(t, max, p.FlowCount())
		require.Equal(t, uint64(max), d.Stats().Pending.Matched)
		require.Zero(t, d.Stats().Pending.Bytes)
	})
	t.Run("MaxBytesPerExporter", func(t *testing.T) {
		const body = 65000
		fit := (1 << 20) / cost(body)
		d := NewDecoder(Config{})
		var buf Buffer
		for range fit {
			_, err := d.DecodeInto(&buf, testExporter, unknown(300, 1, body))
			require.NoError(t, err)
		}
		_, err := d.DecodeInto(&buf, testExporter, unknown(300, 1, body))
		require.ErrorIs(t, err, ErrLimit)
		st := d.Stats().Pending
		require.Equal(t, fit, st.Held)
		require.Equal(t, fit*cost(body), st.Bytes)
		require.LessOrEqual(t, st.Bytes, 1<<20)
		require.Equal(t, uint64(1), st.Refused)
		// A set that fits in what is left is still taken.
		_, err = d.DecodeInto(&buf, testExporter, unknown(300, 1, (1<<20)-st.Bytes-pendingSetOverhead))
		require.NoError(t, err)
	})
	t.Run("MaxBytes", func(t *testing.T) {
		const body = 65000
		perExporter := (1 << 20) / cost(body)
		d := NewDecoder(Config{})
		var buf Buffer
		refusedAt := -1
		for i := 0; refusedAt < 0; i++ {
			_, err := d.DecodeInto(&buf, limitAddr(i/perExporter), unknown(300, 1, body))
			if err != nil {
				require.ErrorIs(t, err, ErrLimit)
				refusedAt = i
			}
		}
		st := d.Stats().Pending
		require.Equal(t, (64<<20)/cost(body), refusedAt)
		require.LessOrEqual(t, st.Bytes, 64<<20)
		require.Greater(t, st.Bytes+cost(body), 64<<20)
		require.Equal(t, uint64(1), st.Refused)
		// The held sets are served when their templates come, at most
		// maxReleaseRecords (plus one set) a call: the rest on the
		// exporter's next decodes.
		served, calls := 0, 0
		for served < perExporter {
			p, err := d.Decode(limitAddr(0), limitTemplates(10, 1, 300))
			require.NoError(t, err)
			records := 0
			for _, ds := range p.(*IPFIXPacket).DataSets {
				require.True(t, ds.Late)
				records += len(ds.Records)
			}
			require.LessOrEqual(t, records, maxReleaseRecords+body)
			served += len(p.(*IPFIXPacket).DataSets)
			calls++
			require.Less(t, calls, perExporter+1, "held sets are not served")
		}
		require.Equal(t, perExporter, served)
		require.Greater(t, calls, 1, "one call released more than maxReleaseRecords")
	})
	t.Run("MaxExporters", func(t *testing.T) {
		const max = 4096
		d := NewDecoder(Config{})
		var buf Buffer
		for i := range max {
			_, err := d.DecodeInto(&buf, limitAddr(i), unknown(300, 1, 4))
			require.NoError(t, err)
		}
		_, err := d.DecodeInto(&buf, limitAddr(max), unknown(300, 1, 4))
		require.ErrorIs(t, err, ErrLimit)
		st := d.Stats().Pending
		require.Equal(t, max, st.Held)
		require.Equal(t, uint64(1), st.Refused)
		// A held exporter may still add sets.
		_, err = d.DecodeInto(&buf, limitAddr(0), unknown(301, 1, 4))
		require.NoError(t, err)
	})
}

// TestLimitMaxOptionsEntries: options data keeps Limits.MaxOptionsEntries
// entries per exporter domain (default 4096; samplers, interface, VRF and
// application names together); the entry beyond is not kept and counted
// in ExporterState.Refused (no error: the options data itself decoded),
// while held entries are still updated.
func TestLimitMaxOptionsEntries(t *testing.T) {
	const max = 4096
	d := NewDecoder(Config{})
	// Options template 257: scope selectorId (302), samplingPacketInterval
	// (305) and samplingPacketSpace (306): 1 in 100 packets.
	tmpl := ipfixMessage(1, 0, set(3, append(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 257), 3), 1),
		be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 302), 4), 305), 4), 306), 4)...), false))
	records := func(from, n int, space uint32) []byte {
		var b []byte
		for i := range n {
			b = be.AppendUint32(b, uint32(from+i))
			b = be.AppendUint32(b, 1)
			b = be.AppendUint32(b, space)
		}
		return ipfixMessage(1, 1, set(257, b, false))
	}
	_, err := d.Decode(testExporter, tmpl)
	require.NoError(t, err)
	_, err = d.Decode(testExporter, records(1, max, 99))
	require.NoError(t, err)
	st, ok := d.ExporterState(testExporter, 10, 1)
	require.True(t, ok)
	require.Len(t, st.Samplers, max)
	require.Zero(t, st.Refused)
	require.Equal(t, uint32(100), st.Samplers[max])

	_, err = d.Decode(testExporter, records(max+1, 1, 99))
	require.NoError(t, err)
	_, err = d.Decode(testExporter, records(1, 1, 9)) // sampler 1 now 1 in 10
	require.NoError(t, err)
	st, _ = d.ExporterState(testExporter, 10, 1)
	require.Len(t, st.Samplers, max)
	require.Equal(t, uint64(1), st.Refused)
	require.NotContains(t, st.Samplers, uint64(max+1))
	require.Equal(t, uint32(10), st.Samplers[1])
}

// limitNestedLists returns an IPFIX message defining template 300 (one
// variable-length subTemplateList, IE 292) and a data record of it whose
// list holds a record of template 300 whose list holds ..., depth lists
// deep, the innermost empty.
func limitNestedLists(depth int) []byte {
	varlen := func(b []byte) []byte {
		if len(b) < 255 {
			return append([]byte{byte(len(b))}, b...)
		}
		return append([]byte{255, byte(len(b) >> 8), byte(len(b))}, b...)
	}
	rec := varlen([]byte{byte(ListAllOf), 0x01, 0x2c})
	for range depth - 1 {
		rec = varlen(append([]byte{byte(ListAllOf), 0x01, 0x2c}, rec...))
	}
	return ipfixMessage(1, 0,
		set(2, templateRecord(300, tmplField{292, VariableLength, 0}), false),
		set(300, rec, false))
}

// TestLimitMaxListDepth: Record.List decodes lists nested up to
// Limits.MaxListDepth (default 4) and refuses the next level with ErrLimit,
// on a hand-built message of subTemplateLists nested deeper. A limit above
// 255 (the depth a Record counts) is held at 255.
func TestLimitMaxListDepth(t *testing.T) {
	for _, c := range []struct{ limit, want, nesting int }{{0, 4, 8}, {2, 2, 8}, {300, 255, 300}} {
		t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
			d := NewDecoder(Config{Limits: Limits{MaxListDepth: c.limit}})
			p, err := d.Decode(testExporter, limitNestedLists(c.nesting))
			require.NoError(t, err)
			sets := floodSets(p)
			require.Len(t, sets.DataSets, 1)
			rec := &sets.DataSets[0].Records[0]
			for depth := 0; ; depth++ {
				v, ok := rec.Lookup(292)
				require.True(t, ok, "depth %d", depth)
				l, err := rec.List(v)
				if depth == c.want {
					require.ErrorIs(t, err, ErrLimit, "depth %d", depth)
					return
				}
				require.NoError(t, err, "depth %d", depth)
				require.Len(t, l.Records, 1, "depth %d", depth)
				rec = &l.Records[0]
			}
		})
	}
}

// TestLimitMaxStateDomains: the options state of Limits.MaxStateDomains
// exporter domains (default 16384) is kept; options data of one more is
// not. Nothing counts or reports it.
func TestLimitMaxStateDomains(t *testing.T) {
	const max = 16384
	d := NewDecoder(Config{})
	tmpl := set(3, append(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 257), 1), 1), be.AppendUint16(be.AppendUint16(nil, 34), 4)...), false)
	data := set(257, be.AppendUint32(nil, 100), false)
	var buf Buffer
	for i := range max + 1 {
		_, err := d.DecodeInto(&buf, limitAddr(i/64), ipfixMessage(uint32(i%64), 0, tmpl, data))
		require.NoError(t, err)
	}
	st, ok := d.ExporterState(limitAddr((max-1)/64), 10, (max-1)%64)
	require.True(t, ok)
	require.Equal(t, uint32(100), st.SamplingInterval)
	_, ok = d.ExporterState(limitAddr(max/64), 10, max%64)
	require.False(t, ok, "domain beyond MaxStateDomains has state")
}
