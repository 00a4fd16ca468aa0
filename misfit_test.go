package netflow

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 20, item 4 in one process: decoders whose stores are copies of a
// shared store that lag behind it (lagStore, the root package's model of
// redisstore; the real one is tested in redisstore and the collector's
// tests) never decode a data set with a template of the copy it does not
// fit.

// lagStore is one instance's copy of a shared store (the role Redis plays
// for redisstore): look-ups and announcements come from the copy, writes go
// to both, and the copy learns what other instances wrote only when the
// test delivers it (deliver: a change notification). CheckTemplate reads
// the shared store, failing with ErrStore while down is set; the copy is
// not confirmed while down is set.
type lagStore struct {
	*MemoryStore              // the copy
	shared       *MemoryStore // what every copy converges to
	now          func() time.Time

	mu    sync.Mutex
	down  bool
	since map[TemplateKey]time.Time // when the copy first held its layout
}

func newLagStore(shared *MemoryStore, now func() time.Time) *lagStore {
	if now == nil {
		now = time.Now
	}
	return &lagStore{MemoryStore: NewMemoryStore(MemoryStoreConfig{}), shared: shared, now: now, since: map[TemplateKey]time.Time{}}
}

var _ TemplateChecker = (*lagStore)(nil)

func (s *lagStore) AddTemplate(k TemplateKey, t *Template) error {
	s.copyIn(k, t)
	return s.shared.AddTemplate(k, t)
}

// copyIn stores t in the copy, which announces it, keeping since for the
// same layout.
func (s *lagStore) copyIn(k TemplateKey, t *Template) {
	old, err := s.MemoryStore.Template(k)
	s.mu.Lock()
	if err != nil || !old.sameLayout(t) {
		s.since[k] = s.now()
	}
	s.mu.Unlock()
	if err := s.MemoryStore.AddTemplate(k, t); err != nil {
		panic(err)
	}
}

// deliver brings the shared store's template of k into the copy: the
// change notification of another instance's write.
func (s *lagStore) deliver(k TemplateKey) {
	t, err := s.shared.Template(k)
	if err != nil {
		s.MemoryStore.WithdrawTemplate(k) // gone from the shared store
		return
	}
	s.copyIn(k, t)
}

func (s *lagStore) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Confirmed: the copy is confirmed while the shared store is up.
func (s *lagStore) Confirmed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down
}

func (s *lagStore) CheckTemplate(k TemplateKey) (*Template, time.Time, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, time.Time{}, errors.Join(ErrStore, errors.New("lagStore: the shared store is down"))
	}
	t, err := s.shared.Template(k)
	if err != nil {
		return nil, time.Time{}, err
	}
	if c, err := s.MemoryStore.Template(k); err == nil && c.sameLayout(t) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return c, s.since[k], nil
	}
	return t, s.now(), nil
}

// Template 256 of the v9 builders (45-byte records) and a redefinition
// with one more 4-byte field, octets again (49 bytes).
var fields49 = append(append([]tmplField(nil), v9BenchFields...), tmplField{1, 4, 0})

func templates45() []byte { return v9Packet(1, 1, set(0, templateRecord(256, v9BenchFields...), true)) }
func templates49() []byte { return v9Packet(1, 2, set(0, templateRecord(256, fields49...), true)) }
func data45(n int) []byte {
	return v9Packet(1, 3, set(256, flowRecords(v9BenchFields, n), true))
}
func data49(n int) []byte { return v9Packet(1, 4, set(256, flowRecords(fields49, n), true)) }

var key256 = TemplateKey{Exporter: testExporter, Version: 9, Domain: 1, ID: 256}

// signalled reports whether d's Releases channel holds a signal (taking it).
func signalled(d *Decoder) bool {
	select {
	case <-d.Releases():
		return true
	default:
		return false
	}
}

// checkTestFlows requires that flows are testFlowN(0..n-1), in order.
func checkTestFlows(t *testing.T, flows []Flow, n int) {
	t.Helper()
	require.Len(t, flows, n)
	for i, f := range flows {
		w := testFlowN(i)
		require.Equal(t, w.Src, f.SrcAddr, "flow %d", i)
		require.Equal(t, w.Dst, f.DstAddr, "flow %d", i)
		require.Equal(t, uint64(w.Packets), f.Packets, "flow %d", i)
		require.Equal(t, uint64(w.Octets), f.Bytes, "flow %d", i)
	}
}

// TestMisfitHeldUntilRedefinition: B's copy still holds the 45-byte
// template when the exporter's 49-byte data reaches it; B holds the sets
// (decoding them with the 45-byte layout would turn 5 records into 5
// records of garbage), counts them, and releases them by itself, decoded
// with the new template, when the redefinition reaches its copy.
func TestMisfitHeldUntilRedefinition(t *testing.T) {
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, nil), newLagStore(shared, nil)
	a, b := NewDecoder(Config{Store: sa}), NewDecoder(Config{Store: sb})
	defer a.Close()
	defer b.Close()

	_, err := a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	checkTestFlows(t, decodeFlowsOf(t, b, testExporter, data45(5)), 5)

	_, err = a.Decode(testExporter, templates49()) // not delivered to B yet
	require.NoError(t, err)
	signalled(b)
	for range 2 {
		p, err := b.Decode(testExporter, data49(5))
		require.NoError(t, err)
		require.Zero(t, p.FlowCount(), "decoded with a template the set does not fit")
		require.Equal(t, 0, len(setsOf(p).DataSets))
	}
	st := b.Stats().Pending
	require.Equal(t, uint64(2), st.Misfits)
	require.Equal(t, 2, st.Held)
	for _, ps := range b.PendingSets() {
		require.True(t, ps.Misfit)
		require.Equal(t, key256, ps.Key)
	}
	p, err := b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p, "nothing to release: the copy has no template the sets fit")
	require.Equal(t, 2, b.Stats().Pending.Held)

	sb.deliver(key256)
	require.True(t, signalled(b), "the announcement signals B")
	var buf Buffer
	p, err = b.TakeReleased(&buf)
	require.NoError(t, err)
	require.NotNil(t, p)
	v9 := p.(*V9Packet)
	require.Equal(t, testExporter, v9.Exporter)
	require.Equal(t, uint32(1), v9.Header.SourceID)
	require.Equal(t, uint32(4), v9.Header.Sequence, "the header of the datagram the first set came in")
	require.Len(t, v9.DataSets, 2)
	for _, ds := range v9.DataSets {
		require.True(t, ds.Late)
		require.Len(t, ds.Template.Fields, len(fields49))
		checkTestFlows(t, ds.AppendFlows(nil), 5)
	}
	p, err = b.TakeReleased(&buf)
	require.NoError(t, err)
	require.Nil(t, p)
	st = b.Stats().Pending
	require.Zero(t, st.Held)
	require.Equal(t, uint64(2), st.Matched)
	require.Zero(t, st.MisfitsAccepted)

	// The exporter's next datagrams decode at once.
	checkTestFlows(t, decodeFlowsOf(t, b, testExporter, data49(3)), 3)
}

// TestMisfitReleasedOnlyWithAFittingTemplate: a set held for an unknown
// template stays held (now as a misfit) when the template that comes does
// not fit it, and is released by the one that does; a datagram of the
// exporter that defines the template itself releases it too.
func TestMisfitReleasedOnlyWithAFittingTemplate(t *testing.T) {
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, nil), newLagStore(shared, nil)
	a, b := NewDecoder(Config{Store: sa}), NewDecoder(Config{Store: sb})
	defer a.Close()
	defer b.Close()
	p, err := b.Decode(testExporter, data49(4))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Zero(t, b.Stats().Pending.Misfits, "held for an unknown template")

	_, err = a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p)
	st := b.Stats().Pending
	require.Equal(t, 1, st.Held)
	require.Equal(t, uint64(1), st.Misfits, "the 45-byte template that came does not fit it")

	// B's own template datagram: the set decodes with it.
	p, err = b.Decode(testExporter, templates49())
	require.NoError(t, err)
	v9 := p.(*V9Packet)
	require.Len(t, v9.DataSets, 1)
	require.True(t, v9.DataSets[0].Late)
	checkTestFlows(t, p.AppendFlows(nil), 4)
	require.Zero(t, b.Stats().Pending.Held)
}

// TestMisfitStoreDown: while the shared store cannot be asked, the
// periodic checks leave the sets held; the template another instance
// wrote back reaches the copy and releases them.
func TestMisfitStoreDown(t *testing.T) {
	clock := newTestClock()
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, clock.Now), newLagStore(shared, clock.Now)
	a, b := NewDecoder(Config{Store: sa, Now: clock.Now}), NewDecoder(Config{Store: sb, Now: clock.Now})
	defer a.Close()
	defer b.Close()
	_, err := a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	sb.setDown(true)
	_, err = a.Decode(testExporter, templates49())
	require.NoError(t, err)
	_, err = b.Decode(testExporter, data49(5))
	require.NoError(t, err)
	for range 5 {
		clock.Advance(2 * ReleaseInterval)
		p, err := b.TakeReleased(nil)
		require.NoError(t, err)
		require.Nil(t, p)
	}
	require.Equal(t, 1, b.Stats().Pending.Held)
	sb.setDown(false)
	clock.Advance(2 * ReleaseInterval)
	p, err := b.TakeReleased(nil)
	require.NoError(t, err)
	require.NotNil(t, p, "the periodic check reads the shared store's template afresh")
	checkTestFlows(t, p.AppendFlows(nil), 5)
}

// TestMisfitAccepted: with AcceptMisfitsAfter, the sets of an exporter
// that pads beyond the RFCs (17 bytes, as nProbe with DPI) decode with the
// template the shared store has held since long before they came, once
// they waited; later ones decode at once. A set of a template the copy
// learned only lately is not accepted (it may be one made before that
// redefinition).
func TestMisfitAccepted(t *testing.T) {
	clock := newTestClock()
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, clock.Now), newLagStore(shared, clock.Now)
	cfg := Config{Now: clock.Now, AcceptMisfitsAfter: 2 * time.Second}
	cfg.Store = sa
	a := NewDecoder(cfg)
	cfg.Store = sb
	b := NewDecoder(cfg)
	defer a.Close()
	defer b.Close()
	_, err := a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	clock.Advance(time.Minute)

	quirky := func(n int) []byte {
		body := append(flowRecords(v9BenchFields, n), 0x6c, 0, 0, 0, 0x11)
		return v9Packet(1, 5, set(256, append(body, make([]byte, 12)...), false))
	}
	p, err := b.Decode(testExporter, quirky(3))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p, "not before it waited AcceptMisfitsAfter")
	clock.Advance(3 * time.Second)
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	checkTestFlows(t, p.AppendFlows(nil), 3)
	checkTestFlows(t, decodeFlowsOf(t, b, testExporter, quirky(4)), 4)
	st := b.Stats().Pending
	require.Equal(t, uint64(1), st.Misfits)
	require.Equal(t, uint64(2), st.MisfitsAccepted)

	// A redefinition the copy has held for a moment only: its misfits
	// wait, however long.
	_, err = a.Decode(testExporter, templates49())
	require.NoError(t, err)
	sb.deliver(key256)
	p, err = b.Decode(testExporter, data45(2)) // made before the redefinition
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	for range 5 {
		clock.Advance(3 * time.Second)
		p, err = b.TakeReleased(nil)
		require.NoError(t, err)
		require.Nil(t, p)
	}
	require.Equal(t, 1, b.Stats().Pending.Held)
}

// TestMisfitLocalTemplateNotChecked: a template defined in the same
// datagram is the exporter's own word: its sets decode even where they do
// not fit (beyond the RFCs' padding), as with any store.
func TestMisfitLocalTemplateNotChecked(t *testing.T) {
	shared := NewMemoryStore(MemoryStoreConfig{})
	d := NewDecoder(Config{Store: newLagStore(shared, nil)})
	defer d.Close()
	body := append(flowRecords(v9BenchFields, 2), 1, 2, 3, 4, 5, 6, 7)
	dg := v9Packet(1, 1, set(0, templateRecord(256, v9BenchFields...), true), set(256, body, false))
	checkTestFlows(t, decodeFlowsOf(t, d, testExporter, dg), 2)
	require.Zero(t, d.Stats().Pending.Misfits)
}

// TestMisfitDisablePending: without the pending buffer a misfit fails as
// a set of an unknown template.
func TestMisfitDisablePending(t *testing.T) {
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, nil), newLagStore(shared, nil)
	a := NewDecoder(Config{Store: sa})
	b := NewDecoder(Config{Store: sb, DisablePending: true})
	_, err := a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	p, err := b.Decode(testExporter, data49(5))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	require.Zero(t, p.FlowCount())
	require.Nil(t, b.Releases())
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	require.Nil(t, p)
}

// TestMisfitOtherExporterUnaffected: sets of another exporter, and of the
// same exporter's other templates, decode as before.
func TestMisfitOtherExporterUnaffected(t *testing.T) {
	shared := NewMemoryStore(MemoryStoreConfig{})
	s := newLagStore(shared, nil)
	d := NewDecoder(Config{Store: s})
	defer d.Close()
	other := netip.MustParseAddrPort("192.0.2.77:2055")
	for _, e := range []netip.AddrPort{testExporter, other} {
		_, err := d.Decode(e, templates45())
		require.NoError(t, err)
	}
	p, err := d.Decode(testExporter, data49(2))
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	checkTestFlows(t, decodeFlowsOf(t, d, other, data45(6)), 6)
	checkTestFlows(t, decodeFlowsOf(t, d, testExporter, data45(6)), 6)
}

// TestDecodeCheckedZeroAllocs: with a checking store, decoding data sets
// that fit their template stays free of allocations (the check is a
// division per set for fixed-length templates).
func TestDecodeCheckedZeroAllocs(t *testing.T) {
	for _, c := range []struct {
		name           string
		template, data []byte
	}{
		{"v9", buildV9Template(), buildV9Data(30)},
		{"ipfix", buildIPFIXTemplate(), buildIPFIXData(30)},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{Store: newLagStore(NewMemoryStore(MemoryStoreConfig{}), nil)})
			defer d.Close()
			_, err := d.Decode(testExporter, c.template)
			require.NoError(t, err)
			var buf Buffer
			flows := make([]Flow, 0, 32)
			decode := func() {
				flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, c.data)
				if err != nil || len(flows) != 30 {
					panic("DecodeFlows")
				}
			}
			decode()
			require.Zero(t, testing.AllocsPerRun(200, decode))
		})
	}
}

// BenchmarkDecodeFlowsChecked is BenchmarkDecodeFlows for v9 and IPFIX
// with a store that is not a MemoryStore (so Buffers do not keep its
// templates) and does not check (wrapped), and with one that checks
// (checked, a TemplateChecker): the difference is what the fit check of
// every data set costs.
func BenchmarkDecodeFlowsChecked(b *testing.B) {
	for _, c := range benchCases()[4:] {
		for _, kind := range []string{"wrapped", "checked"} {
			b.Run(c.name+"/"+kind, func(b *testing.B) {
				var store TemplateStore = quietStore{NewMemoryStore(MemoryStoreConfig{})}
				if kind == "checked" {
					store = newLagStore(NewMemoryStore(MemoryStoreConfig{}), nil)
				}
				d := NewDecoder(Config{Store: store})
				_, err := d.Decode(testExporter, c.template)
				require.NoError(b, err)
				var buf Buffer
				flows := make([]Flow, 0, benchRecords)
				b.ReportAllocs()
				b.SetBytes(int64(len(c.data)))
				for b.Loop() {
					flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, c.data)
					if err != nil {
						b.Fatal(err)
					}
				}
				require.Len(b, flows, benchRecords)
				reportPerFlow(b)
			})
		}
	}
}

// TestMisfitVariableLength: the same for a template with a variable-length
// field (IPFIX): three records of a redefinition that appends a 4-byte
// destination address run past the set when split by the old template, so
// the set is held, then released with the new one.
func TestMisfitVariableLength(t *testing.T) {
	old := []tmplField{{8, 4, 0}, {82, VariableLength, 0}}
	redefined := append(append([]tmplField(nil), old...), tmplField{12, 4, 0})
	tmpl := func(fs []tmplField) []byte { return ipfixMessage(7, 1, set(2, templateRecord(300, fs...), false)) }
	var body []byte
	for i := range 3 {
		body = append(body, 10, 0, 0, byte(i+1))
		body = append(body, varText("eth0")...)
		body = append(body, 172, 16, 0, byte(i+1))
	}
	data := ipfixMessage(7, 2, set(300, body, false))
	oldT, err := NewTemplate(10, 300, false, 0, fieldsOf(old))
	require.NoError(t, err)
	require.False(t, oldT.Fits(body))

	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, nil), newLagStore(shared, nil)
	a, b := NewDecoder(Config{Store: sa}), NewDecoder(Config{Store: sb})
	defer a.Close()
	defer b.Close()
	key := TemplateKey{Exporter: testExporter, Version: 10, Domain: 7, ID: 300}
	_, err = a.Decode(testExporter, tmpl(old))
	require.NoError(t, err)
	sb.deliver(key)
	_, err = a.Decode(testExporter, tmpl(redefined))
	require.NoError(t, err)
	p, err := b.Decode(testExporter, data)
	require.NoError(t, err, "a misfit is no truncation error")
	require.Zero(t, p.FlowCount())
	require.Empty(t, setsOf(p).DataSets)
	require.Equal(t, uint64(1), b.Stats().Pending.Misfits)

	sb.deliver(key)
	p, err = b.TakeReleased(nil)
	require.NoError(t, err)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, 3)
	for i, f := range flows {
		require.Equal(t, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), f.SrcAddr)
		require.Equal(t, netip.AddrFrom4([4]byte{172, 16, 0, byte(i + 1)}), f.DstAddr)
	}
	// Sets of the new definition decode at once. One whose last record
	// is cut short cannot be told from a set of yet another definition:
	// it is held too (without a checking store it decodes in part, with
	// ErrTruncated).
	checkTestLen := func(d *Decoder, b []byte, n int, err error) {
		t.Helper()
		p, e := d.Decode(testExporter, b)
		require.ErrorIs(t, e, err)
		require.Equal(t, n, p.FlowCount())
	}
	checkTestLen(b, data, 3, nil)
	cut := ipfixMessage(7, 3, set(300, append(append([]byte(nil), body...), 10, 0, 0, 9, 200, 1, 2, 3, 4, 5), false))
	checkTestLen(b, cut, 0, nil)
	require.Equal(t, uint64(2), b.Stats().Pending.Misfits)
	plain := NewDecoder(Config{})
	_, err = plain.Decode(testExporter, tmpl(redefined))
	require.NoError(t, err)
	checkTestLen(plain, cut, 3, ErrTruncated)
}

// TestMisfitCoincidence: 12 records of 49 bytes fit the 45-byte template
// by coincidence (588 = 13*45 + 3 bytes of "padding"). While the copy is
// confirmed that is the window that remains (13 flows of garbage, decoded
// at once); while it is not (the shared store is down), padding of non-zero
// bytes is not taken on trust: the set is held, and released right once
// the copy is confirmed again. An exporter's real non-zero padding
// (MikroTik's 2 bytes) is held the same while unconfirmed, and released
// with its template, unchanged, once confirmed.
func TestMisfitCoincidence(t *testing.T) {
	clock := newTestClock()
	shared := NewMemoryStore(MemoryStoreConfig{})
	sa, sb := newLagStore(shared, clock.Now), newLagStore(shared, clock.Now)
	a, b := NewDecoder(Config{Store: sa, Now: clock.Now}), NewDecoder(Config{Store: sb, Now: clock.Now})
	defer a.Close()
	defer b.Close()
	_, err := a.Decode(testExporter, templates45())
	require.NoError(t, err)
	sb.deliver(key256)
	_, err = a.Decode(testExporter, templates49())
	require.NoError(t, err)

	coincidence := v9Packet(1, 9, set(256, flowRecords(fields49, 12), false))
	p, err := b.Decode(testExporter, coincidence)
	require.NoError(t, err)
	require.Equal(t, 13, p.FlowCount(), "confirmed copy, in the notification window: decoded with the old template")
	require.NotEqual(t, testFlowN(1).Src, p.AppendFlows(nil)[1].SrcAddr)

	sb.setDown(true)
	p, err = b.Decode(testExporter, coincidence)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount(), "unconfirmed copy: non-zero padding is not trusted")
	quirk := v9Packet(1, 10, set(257, append(flowRecords(v9BenchFields, 2), 0x6b, 0xab), false))
	k257 := key256
	k257.ID = 257
	require.NoError(t, sa.AddTemplate(k257, mustTemplate(t, 257, v9BenchFields)))
	sb.deliver(k257)
	p, err = b.Decode(testExporter, quirk)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	require.Equal(t, uint64(2), b.Stats().Pending.Misfits)

	sb.setDown(false)
	clock.Advance(2 * ReleaseInterval)
	var flows []Flow
	for {
		p, err := b.TakeReleased(nil)
		require.NoError(t, err)
		if p == nil {
			break
		}
		flows = p.AppendFlows(flows)
	}
	require.Len(t, flows, 14)
	checkTestFlows(t, flows[:12], 12)
	checkTestFlows(t, flows[12:], 2)
	require.Zero(t, b.Stats().Pending.Held)
}

func mustTemplate(t *testing.T, id uint16, fs []tmplField) *Template {
	t.Helper()
	tmpl, err := NewTemplate(9, id, false, 0, fieldsOf(fs))
	require.NoError(t, err)
	return tmpl
}
