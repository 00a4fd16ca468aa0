package netflow

// One test per limit (TestLimit*), at the limit: what it refuses, with
// which error and which counter, and that what was held before is still
// served.

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLimitMaxTemplatesTotal: at the store's total bound a new template
// evicts the exporter longest on probation, with its templates; when every
// other exporter is confirmed it is refused with ErrLimit, counted, and
// the store keeps serving what it holds.
func TestLimitMaxTemplatesTotal(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{MaxTemplates: 10})
	tmpl, err := NewTemplate(9, 256, false, 0, []TemplateField{{ID: 8, Length: 4}})
	require.NoError(t, err)
	key := func(i int) TemplateKey {
		return TemplateKey{Exporter: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 2055), Version: 9, ID: 256}
	}
	for i := range 10 {
		require.NoError(t, s.AddTemplate(key(i), tmpl))
	}
	for i := range 9 {
		_, err := s.Template(key(i)) // data decoded with it: confirmed
		require.NoError(t, err)
	}
	require.NoError(t, s.AddTemplate(key(10), tmpl), "exporter 9, on probation, makes room")
	st := s.Stats()
	require.Equal(t, uint64(1), st.ExportersEvicted)
	require.Equal(t, uint64(1), st.TemplatesEvictedWithExporters)
	_, err = s.Template(key(9))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	_, err = s.Template(key(10))
	require.NoError(t, err)
	s.Expire()
	err = s.AddTemplate(key(9), tmpl)
	require.ErrorIs(t, err, ErrLimit, "no other exporter on probation")
	st = s.Stats()
	require.Equal(t, 10, st.Templates)
	require.Equal(t, 10, st.Exporters, "a refused exporter leaves no empty domain behind")
	require.EqualValues(t, 1, st.Rejected)
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 10} {
		got, err := s.Template(key(i))
		require.NoError(t, err)
		require.Same(t, tmpl, got)
	}
	// Room again after a withdrawal.
	require.NoError(t, s.WithdrawTemplate(key(3)))
	require.NoError(t, s.AddTemplate(key(9), tmpl))
	require.Equal(t, 10, s.Stats().Templates)
}

// TestLimitTemplateFieldsSkipsOnlyThatTemplate: a template over
// MaxTemplateFields is refused and counted; the set's next template is
// still learned.
func TestLimitTemplateFieldsSkipsOnlyThatTemplate(t *testing.T) {
	d := NewDecoder(Config{Limits: Limits{MaxTemplateFields: 4}})
	big := make([]tmplField, 5)
	for i := range big {
		big[i] = tmplField{id: 8, length: 4}
	}
	body := append(templateRecord(300, big...), templateRecord(301, tmplField{id: 8, length: 4})...)
	p, err := d.Decode(netip.MustParseAddrPort("192.0.2.1:2055"), v9Packet(1, 1, set(0, body, false)))
	require.ErrorIs(t, err, ErrLimit)
	var de *DecodeError
	require.True(t, errors.As(err, &de))
	require.Len(t, p.(*V9Packet).Templates, 1)
	require.EqualValues(t, 301, p.(*V9Packet).Templates[0].ID)
	require.EqualValues(t, 1, d.Stats().TemplatesRefused)
}

// TestErrorsPerMessageBounded: a message of many bad sets reports the
// first maxErrors one by one and counts the rest.
func TestErrorsPerMessageBounded(t *testing.T) {
	d := NewDecoder(Config{DisablePending: true})
	var sets [][]byte
	for i := range 100 {
		sets = append(sets, set(uint16(1000+i), []byte{1, 2, 3, 4}, false))
	}
	_, err := d.Decode(netip.MustParseAddrPort("192.0.2.1:2055"), v9Packet(1, 1, sets...))
	require.ErrorIs(t, err, ErrTemplateNotFound)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok)
	require.Len(t, joined.Unwrap(), maxErrors+1)
	require.Contains(t, err.Error(), "84 more problems")
}

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
// exporters (default 4096); a new exporter is admitted in place of the
// exporter longest on probation, whose templates go with it (counted in
// ExportersEvicted and TemplatesEvictedWithExporters; nothing is
// Rejected), while confirmed exporters (data decoded with their
// templates) are still served and may still open new domains.
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
	limitServed(t, d, limitAddr(0), 10, 1, 256) // confirms exporter 0
	limitServed(t, d, limitAddr(max-1), 10, 1, 256)
	_, err := d.Decode(limitAddr(max), tmpl)
	require.NoError(t, err)
	st := s.Stats()
	require.Zero(t, st.Rejected)
	require.Equal(t, uint64(1), st.ExportersEvicted)
	require.Equal(t, uint64(1), st.TemplatesEvictedWithExporters)
	require.Equal(t, max, st.Exporters)
	require.Equal(t, max, st.Templates)
	require.Equal(t, 2, st.Confirmed)
	// Exporter 1 was the oldest on probation: its data now waits for a
	// template.
	p, err := d.Decode(limitAddr(1), limitData(10, 1, 256))
	require.NoError(t, err)
	require.Equal(t, 1, packetSets(t, p).Pending)
	limitServed(t, d, limitAddr(0), 10, 1, 256)
	limitServed(t, d, limitAddr(max-1), 10, 1, 256)
	limitServed(t, d, limitAddr(max), 10, 1, 256)
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
	t.Parallel()
	// What a held set counts: its body's copy as the allocator sizes it,
	// and its bookkeeping; an exporter's queue counts pendingQueueOverhead.
	cost := func(body int) int { return cap(append([]byte(nil), make([]byte, body)...)) + pendingSetOverhead }
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
		require.Equal(t, pendingQueueOverhead+max*cost(4), st.Bytes)
		p, err = d.Decode(testExporter, limitTemplates(10, 1, 300))
		require.NoError(t, err)
		require.Equal(t, max, p.FlowCount())
		require.Equal(t, uint64(max), d.Stats().Pending.Matched)
		require.Zero(t, d.Stats().Pending.Bytes)
	})
	t.Run("MaxBytesPerExporter", func(t *testing.T) {
		const body = 65000
		fit := ((1 << 20) - pendingQueueOverhead) / cost(body)
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
		require.Equal(t, pendingQueueOverhead+fit*cost(body), st.Bytes)
		require.LessOrEqual(t, st.Bytes, 1<<20)
		require.Equal(t, uint64(1), st.Refused)
		// A set that fits in what is left is still taken.
		left := (1 << 20) - st.Bytes
		size := left - pendingSetOverhead
		for cost(size) > left {
			size--
		}
		_, err = d.DecodeInto(&buf, testExporter, unknown(300, 1, size))
		require.NoError(t, err)
	})
	t.Run("MaxBytes", func(t *testing.T) {
		const body = 65000
		perExporter := ((1 << 20) - pendingQueueOverhead) / cost(body)
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
		require.Equal(t, st.Held, refusedAt)
		require.Equal(t, refusedAt*cost(body)+(refusedAt+perExporter-1)/perExporter*pendingQueueOverhead, st.Bytes)
		require.LessOrEqual(t, st.Bytes, 64<<20)
		require.Greater(t, st.Bytes+cost(body)+pendingQueueOverhead, 64<<20)
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
		// One more exporter takes the place of the first, on probation
		// (its sets came in one datagram), counted as evicted.
		_, err := d.DecodeInto(&buf, limitAddr(max), unknown(300, 1, 4))
		require.NoError(t, err)
		st := d.Stats().Pending
		require.Equal(t, max, st.Held)
		require.Zero(t, st.Refused)
		require.Equal(t, uint64(1), st.Evicted)
		require.Equal(t, uint64(1), st.ExportersEvicted)
		// A held exporter may still add sets, which confirms it.
		_, err = d.DecodeInto(&buf, limitAddr(1), unknown(301, 1, 4))
		require.NoError(t, err)
		_, err = d.DecodeInto(&buf, limitAddr(max+1), unknown(300, 1, 4))
		require.NoError(t, err)
		require.Equal(t, uint64(2), d.Stats().Pending.ExportersEvicted)
		var held int
		for _, s := range d.PendingSets() {
			if s.Key.Exporter == limitAddr(1) {
				held++
			}
		}
		require.Equal(t, 2, held, "the confirmed exporter keeps its sets")
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
// kept in place of the domain longest on probation (used by one datagram
// only), counted in StateDomainsEvicted.
func TestLimitMaxStateDomains(t *testing.T) {
	t.Parallel()
	const max = 16384
	d := NewDecoder(Config{})
	tmpl := set(3, append(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 257), 1), 1), be.AppendUint16(be.AppendUint16(nil, 34), 4)...), false)
	data := set(257, be.AppendUint32(nil, 100), false)
	var buf Buffer
	for i := range max + 1 {
		_, err := d.DecodeInto(&buf, limitAddr(i/64), ipfixMessage(uint32(i%64), 0, tmpl, data))
		require.NoError(t, err)
	}
	for _, i := range []int{max - 1, max} {
		st, ok := d.ExporterState(limitAddr(i/64), 10, uint32(i%64))
		require.True(t, ok, "domain %d", i)
		require.Equal(t, uint32(100), st.SamplingInterval)
	}
	ds := d.Stats()
	require.Equal(t, max, ds.StateDomains)
	require.Equal(t, uint64(1), ds.StateDomainsEvicted)
	require.Zero(t, ds.StateDomainsRefused)
	d.state.mu.RLock()
	_, held := d.state.domains[TemplateKey{Exporter: limitAddr(0), Version: 10}]
	d.state.mu.RUnlock()
	require.False(t, held, "the first domain, the oldest on probation, made room")
}
