package netflow

// Concurrency: one Decoder shared by goroutines, each with its own Buffer,
// gives the same flows as a sequential run; and data racing its template
// across goroutines is decoded once, never left pending.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/stretchr/testify/require"
)

var (
	concV5    = netip.MustParseAddrPort("192.0.2.5:2055")
	concV9    = netip.MustParseAddrPort("192.0.2.9:2055")
	concV9s   = netip.MustParseAddrPort("192.0.2.19:9995")
	concIPFIX = netip.MustParseAddrPort("192.0.2.10:4739")
)

// concDatagram is one datagram of the concurrent workload.
type concDatagram struct {
	exporter netip.AddrPort
	data     []byte
}

// concWorkload returns the datagrams that set up templates and options
// state, and the interleaved datagrams of several exporters: v5; v9
// templates and data; v9 with a sampler (options template and data, data
// records naming the sampler); IPFIX templates and data with options data
// for sampling, per selector (domain 3) and exporter-wide (domain 4).
// Every datagram of the mix leaves the decoder's state as it was, so that
// every order gives the same flows.
func concWorkload() (setup, mix []concDatagram) {
	// v9 with FLOW_SAMPLER_ID (48): options template 261, scope system,
	// sampler ID and FLOW_SAMPLER_RANDOM_INTERVAL (50): sampler 0 is 1 in
	// 100.
	v9sFields := append(append([]tmplField(nil), v9BenchFields...), tmplField{48, 1, 0})
	v9sTmpl := v9Packet(7, 1, set(0, templateRecord(260, v9sFields...), false),
		set(1, []byte{1, 5, 0, 4, 0, 8, 0, 1, 0, 4, 0, 48, 0, 1, 0, 50, 0, 4}, true))
	v9sOpts := v9Packet(7, 2, set(261, []byte{0, 0, 0, 1, 0, 0, 0, 0, 100}, true))
	v9sData := func(n int) []byte { return v9Packet(7, uint32(100+n), set(260, flowRecords(v9sFields, n), true)) }

	// IPFIX domain 3: data template 256 with selectorId (302); options
	// template 257, scope selectorId, samplingPacketInterval (305) and
	// samplingPacketSpace (306): selector 0 samples 1 in 50.
	ipFields := append(append([]tmplField(nil), ipfixBenchFields...), tmplField{302, 2, 0})
	ipOptTmpl := append(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 257), 3), 1),
		0x01, 0x2e, 0, 2, 0x01, 0x31, 0, 4, 0x01, 0x32, 0, 4)
	ipTmpl := ipfixMessage(3, 0, set(2, templateRecord(256, ipFields...), false), set(3, ipOptTmpl, false))
	ipOpts := ipfixMessage(3, 0, set(257, []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 49}, false))
	ipData := func(n int) []byte { return ipfixMessage(3, uint32(n), set(256, flowRecords(ipFields, n), false)) }

	// IPFIX domain 4: exporter-wide samplingInterval (34) of 10, from
	// options template 258 scoped by meteringProcessId (143).
	ip4OptTmpl := []byte{1, 2, 0, 2, 0, 1, 0, 143, 0, 4, 0, 34, 0, 4}
	ip4Tmpl := ipfixMessage(4, 0, set(2, templateRecord(256, ipfixBenchFields...), false), set(3, ip4OptTmpl, false))
	ip4Opts := ipfixMessage(4, 0, set(258, []byte{0, 0, 0, 9, 0, 0, 0, 10}, false))
	ip4Data := func(n int) []byte {
		return ipfixMessage(4, uint32(1000+n), set(256, flowRecords(ipfixBenchFields, n), false))
	}

	setup = []concDatagram{
		{concV9, buildV9Template()}, {concV9s, v9sTmpl}, {concV9s, v9sOpts},
		{concIPFIX, ipTmpl}, {concIPFIX, ipOpts}, {concIPFIX, ip4Tmpl}, {concIPFIX, ip4Opts},
	}
	mix = append(mix, setup...)
	for n := 1; n <= 12; n++ {
		mix = append(mix,
			concDatagram{concV5, buildV5(n)},
			concDatagram{concV9, buildV9Data(n)},
			concDatagram{concV9, buildV9(n)},
			concDatagram{concV9s, v9sData(n)},
			concDatagram{concIPFIX, ipData(n)},
			concDatagram{concIPFIX, ip4Data(n)},
		)
	}
	return setup, mix
}

// concFlows counts flows per exporter.
type concFlows map[netip.AddrPort]map[Flow]int

func (c concFlows) add(flows []Flow) {
	for _, f := range flows {
		m := c[f.Exporter]
		if m == nil {
			m = map[Flow]int{}
			c[f.Exporter] = m
		}
		m[f]++
	}
}

// TestConcurrentDecode decodes the workload's interleaved datagrams from 8
// goroutines, each with its own Buffer (half by DecodeInto and AppendFlows,
// half by DecodeFlows), through one Decoder and store for 2 seconds, and
// compares the flows of each exporter, as multisets, with those of a
// sequential run over the same datagrams.
func TestConcurrentDecode(t *testing.T) {
	t.Parallel()
	const goroutines = 8
	run := 2 * time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	setup, mix := concWorkload()
	newDecoder := func() *Decoder {
		d := NewDecoder(Config{})
		for _, dg := range setup {
			_, err := d.Decode(dg.exporter, dg.data)
			require.NoError(t, err)
		}
		return d
	}

	// The sequential run: the flows of each datagram of the mix.
	seq := newDecoder()
	perDatagram := make([][]Flow, len(mix))
	sampled := map[uint32]bool{}
	for i, dg := range mix {
		p, err := seq.Decode(dg.exporter, dg.data)
		require.NoError(t, err)
		perDatagram[i] = p.AppendFlows(nil)
		for _, f := range perDatagram[i] {
			sampled[f.SamplingInterval] = true
		}
	}
	require.Equal(t, map[uint32]bool{0: true, 10: true, 50: true, 100: true}, sampled,
		"the workload's flows carry the sampling intervals of its options data")

	// The concurrent run: goroutines claim datagrams in mix order, round
	// and round, until the time is up.
	d := newDecoder()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		got      = concFlows{}
		failures []string
		deadline = time.Now().Add(run)
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				buf   Buffer
				flows []Flow
				mine  = concFlows{}
				fail  string
			)
			for fail == "" && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				dg := mix[i%len(mix)]
				var err error
				if g%2 == 0 {
					var p Packet
					p, err = d.DecodeInto(&buf, dg.exporter, dg.data)
					if err == nil {
						flows = p.AppendFlows(flows[:0])
					}
				} else {
					flows, err = d.DecodeFlows(&buf, flows[:0], dg.exporter, dg.data)
				}
				if err != nil {
					fail = fmt.Sprintf("goroutine %d, datagram %d: %v", g, i, err)
				}
				mine.add(flows)
			}
			mu.Lock()
			defer mu.Unlock()
			if fail != "" {
				failures = append(failures, fail)
			}
			for e, m := range mine {
				if got[e] == nil {
					got[e] = map[Flow]int{}
				}
				for f, n := range m {
					got[e][f] += n
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failures)

	claimed := int(next.Load())
	want := concFlows{}
	for i := range claimed {
		want.add(perDatagram[i%len(mix)])
	}
	total := 0
	for e, m := range want {
		n := 0
		for _, c := range m {
			n += c
		}
		total += n
		require.Equal(t, m, got[e], "flows of exporter %v", e)
	}
	require.Equal(t, len(want), len(got))
	require.Zero(t, d.Stats().Pending.Held)
	t.Logf("%d goroutines decoded %d datagrams (%.1f rounds of %d) in %v: %d flows of %d exporters, equal to the sequential run",
		goroutines, claimed, float64(claimed)/float64(len(mix)), len(mix), run, total, len(want))
}

// concSlowStore is a store whose look-ups that miss take a while, as a
// remote store's would.
type concSlowStore struct {
	TemplateStore
	delay time.Duration
}

func (s *concSlowStore) Template(key TemplateKey) (*Template, error) {
	t, err := s.TemplateStore.Template(key)
	if err != nil {
		time.Sleep(s.delay)
	}
	return t, err
}

// TestConcurrentLateTemplate races a data datagram against the datagram
// of its template, from two goroutines through one Decoder, many times:
// each record must be decoded exactly once, directly or as a late set when
// the template comes, and nothing may be left pending. The store's misses
// are slow, as a remote store's are, which widens the window between the
// decoder's last look-up of a missing template and its handing the set to
// the pending buffer.
func TestConcurrentLateTemplate(t *testing.T) {
	rounds := 400
	if testing.Short() {
		rounds = 100
	}
	const records = 3
	tmpl, data := buildV9Template(), buildV9Data(records)
	r := rand.New(rand.NewPCG(5, 5))
	lost := 0
	for round := range rounds {
		d := NewDecoder(Config{Store: &concSlowStore{TemplateStore: NewMemoryStore(MemoryStoreConfig{}), delay: 200 * time.Microsecond}})
		jitter := time.Duration(r.IntN(600)) * time.Microsecond
		var (
			wg           sync.WaitGroup
			start        = make(chan struct{})
			nData, nTmpl int
			errData      error
			errTmpl      error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			var p Packet
			p, errData = d.Decode(testExporter, data)
			if p != nil {
				nData = p.FlowCount()
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(jitter)
			var p Packet
			p, errTmpl = d.Decode(testExporter, tmpl)
			if p != nil {
				nTmpl = p.FlowCount()
			}
		}()
		close(start)
		wg.Wait()
		require.NoError(t, errData)
		require.NoError(t, errTmpl)
		if got := nData + nTmpl; got != records || d.Stats().Pending.Held != 0 {
			lost++
			if lost == 1 {
				assert.Failf(t, "data set left pending", "round %d (template %v after): %d records decoded, want %d; %d sets left pending", round, jitter, got, records, d.Stats().Pending.Held)
			}
		}
	}
	assert.Zero(t, lost, "rounds of %d that left a data set pending although its template was known", rounds)
}
