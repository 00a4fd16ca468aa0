package netflow

// Floods: templates from spoofed exporters, data without templates. The
// tests of each limit at the limit are in limits_test.go.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
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
	require.ErrorIs(tb, err, ErrLimit, "flood errors: only ErrLimit")
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
			require.NoError(tb, err, "%s: legitimate template refresh", when)
			require.Len(tb, floodSets(p).Templates, 1, "%s: legitimate template refresh", when)
		}
		l.refreshes++
	}
	for _, c := range []struct {
		data []byte
		want []Flow
	}{{l.v9Data, l.v9Want}, {l.ipData, l.ipWant}} {
		p, err := d.DecodeInto(&l.buf, l.addr, c.data)
		require.NoError(tb, err, "%s: legitimate data", when)
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
	templates := floodSize(40_000, 200_000, 1_000_000)
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

	// A new exporter that first shows up once the store is full is
	// admitted, in place of one on probation (issue 20): the store never
	// pushes out a confirmed exporter (the legitimate one) for a new one.
	evicted := st.ExportersEvicted
	_, err := d.Decode(floodAddr(exporters+1), buildIPFIXTemplate())
	require.NoError(t, err)
	st = store.Stats()
	require.Equal(t, evicted+1, st.ExportersEvicted)
	require.LessOrEqual(t, st.Exporters, storeCfg.MaxExporters)
	legit.send(t, d, false, "after a new exporter")
}

// floodSize is the size of a flood: quick unless NETFLOW_SOAK=1 asks for
// the soak variant (testkit.Soak, which .ci/run sets), and then soakRace
// with -race or -short, soak otherwise. The quick size still fills the
// bounds under test, so every assertion holds at each size.
func floodSize(quick, soakRace, soak int) int {
	switch {
	case !testkit.Soak():
		return quick
	case raceEnabled() || testing.Short():
		return soakRace
	}
	return soak
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
		require.LessOrEqual(tb, len(q.sets), l.MaxSetsPerExporter, "exporter %v sets", e)
		require.LessOrEqual(tb, q.bytes, l.MaxBytesPerExporter, "exporter %v bytes", e)
	}
	return st
}

// TestFloodPendingData sends data sets of unknown templates from 10,000
// spoofed exporters (some heavy) until the pending buffer is full. Its
// bounds hold throughout (total bytes, exporters, sets and bytes per
// exporter); a legitimate exporter whose data arrived early in the flood
// gets its flows when its templates come; data that arrives once the
// buffer is full of confirmed exporters' sets (most of the flood's senders
// send several datagrams) is refused with ErrLimit and counted, never
// pushing out what they hold.
func TestFloodPendingData(t *testing.T) {
	lim := PendingLimits{MaxSetsPerExporter: 64, MaxBytesPerExporter: 32 << 10, MaxBytes: 4 << 20, MaxExporters: 1024, MaxAge: time.Hour}
	datagrams := floodSize(20_000, 20_000, 60_000)
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
