package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
	"github.com/flowkit/netflow/redisstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// otherExporters is the exporter label of the sources beyond the cap, and
// of those the receiver itself counts together (receiver.Config.MaxExporters).
const otherExporters = "other"

// defaultMetricsExporters is how many exporters get a label of their own.
const defaultMetricsExporters = 100

// metrics is a prometheus.Collector that reads the receiver's, the
// decoder's and the template store's counters when Prometheus scrapes, so
// nothing is counted twice and the hot path pays nothing.
type metrics struct {
	recv  *receiver.Receiver
	dec   *netflow.Decoder
	kafka *kafkaSink        // nil without -kafka
	redis *redisstore.Store // nil without -store
	sflow *sflowCounters    // sFlow interface counters (sflow.go)
	sfd   sflowDescs

	maxExporters int
	mu           sync.Mutex
	labelled     map[netip.AddrPort]string // exporters with a label of their own, for as long as they are counted

	datagrams, bytes, flows, decodeErrors, dropped *prometheus.Desc
	kernelDrops, templates, templateEvents         *prometheus.Desc
	templatesRefused                               *prometheus.Desc
	pendingSets, pendingBytes, pendingEvents       *prometheus.Desc
	kafkaRecords                                   *prometheus.Desc
	seqLost, seqLate, seqDuplicates, seqRestarts   *prometheus.Desc
	released, storeConnected, storeConfirmed       *prometheus.Desc
	storeOutages                                   *prometheus.Desc
	tableEvents, tableEntries                      *prometheus.Desc
	tcpOpen, tcpEvents                             *prometheus.Desc
	scrapes                                        atomic.Uint64
}

func newMetrics(recv *receiver.Receiver, dec *netflow.Decoder, kafka *kafkaSink, sflow *sflowCounters, maxExporters int) *metrics {
	exp := []string{"exporter"}
	return &metrics{
		recv: recv, dec: dec, kafka: kafka, sflow: sflow, sfd: newSFlowDescs(), maxExporters: maxExporters,
		labelled: map[netip.AddrPort]string{},
		datagrams: prometheus.NewDesc("netflow_datagrams_total",
			"Datagrams (IPFIX messages over TCP) received, by exporter.", exp, nil),
		bytes: prometheus.NewDesc("netflow_bytes_total",
			"Bytes of the datagrams received, by exporter.", exp, nil),
		flows: prometheus.NewDesc("netflow_flows_total",
			"Flow records decoded, by exporter.", exp, nil),
		decodeErrors: prometheus.NewDesc("netflow_decode_errors_total",
			"Datagrams whose decoding failed, in whole or in part, by exporter and by the error's kind "+
				"(truncated, unsupported_version, empty, malformed, template_not_found, limit, store, other).",
			[]string{"exporter", "kind"}, nil),
		dropped: prometheus.NewDesc("netflow_dropped_total",
			"Datagrams dropped before decoding, by exporter and reason (denied: not in -allow, counted under "+
				"exporter=\"other\"; oversize; queue_full: the workers were behind; stopped: still queued at shutdown).",
			[]string{"exporter", "reason"}, nil),
		kernelDrops: prometheus.NewDesc("netflow_kernel_drops_total",
			"Datagrams the kernel dropped because the socket buffer was full (Linux).", nil, nil),
		templates: prometheus.NewDesc("netflow_templates",
			"Templates held by the template store now.", nil, nil),
		templateEvents: prometheus.NewDesc("netflow_template_events_total",
			"What the template store did with templates (learned, refreshed, replaced, withdrawn, expired, evicted, rejected; evicted_with_exporter: dropped with an exporter on probation that made room for a newcomer).",
			[]string{"event"}, nil),
		templatesRefused: prometheus.NewDesc("netflow_templates_refused_total",
			"Templates refused for having more fields than the decoder's limit.", nil, nil),
		pendingSets: prometheus.NewDesc("netflow_pending_sets",
			"Data sets held while they wait for their template.", nil, nil),
		pendingBytes: prometheus.NewDesc("netflow_pending_bytes",
			"Bytes held by the data sets waiting for their template.", nil, nil),
		pendingEvents: prometheus.NewDesc("netflow_pending_events_total",
			"Data sets waiting for a template: added, matched (decoded late), expired, refused; evicted: dropped with an exporter on probation to make room for another's; misfit: held because their template from a shared store could not account for them, misfit_accepted: decoded with it all the same.",
			[]string{"event"}, nil),
		seqLost: prometheus.NewDesc("netflow_sequence_lost_total",
			"Flows (v5-v7), datagrams (v9, sFlow) or data records (IPFIX) the exporter's sequence numbers say were sent and never arrived.", []string{"exporter"}, nil),
		seqLate: prometheus.NewDesc("netflow_sequence_late_total",
			"Messages that arrived after a later one, into a gap (taken back from lost).", []string{"exporter"}, nil),
		seqDuplicates: prometheus.NewDesc("netflow_sequence_duplicates_total",
			"Messages behind the sequence that filled no gap.", []string{"exporter"}, nil),
		seqRestarts: prometheus.NewDesc("netflow_sequence_restarts_total",
			"Exporter restarts told by uptime or sequence numbers going back.", []string{"exporter"}, nil),
		released: prometheus.NewDesc("netflow_released_total",
			"Packets of held data sets handed over without a datagram, when their template became known through the store, by exporter.", exp, nil),
		storeConnected: prometheus.NewDesc("netflow_store_connected",
			"With -store: 1 while the collector is subscribed to Redis' change channel.", nil, nil),
		storeConfirmed: prometheus.NewDesc("netflow_store_confirmed",
			"With -store: 1 while the templates cached from Redis are confirmed (0 from losing Redis until re-read and settled).", nil, nil),
		storeOutages: prometheus.NewDesc("netflow_store_outages_total",
			"With -store: the times the collector lost Redis.", nil, nil),
		tableEvents: prometheus.NewDesc("netflow_table_events_total",
			"What the bounded tables keyed by exporter did to admit newcomers (docs/limits-eviction.md), by table "+
				"(store_exporters, store_states, state_domains, sequence_domains, pending_exporters) and event "+
				"(confirmed, demoted: sent back to probation; evicted: dropped from probation for a newcomer; "+
				"reclaimed: idle; refused: nothing could make room).",
			[]string{"table", "event"}, nil),
		tableEntries: prometheus.NewDesc("netflow_table_entries",
			"Entries of the bounded tables keyed by exporter now, by table (store_exporters, state_domains, "+
				"sequence_domains) and segment (all, confirmed).",
			[]string{"table", "segment"}, nil),
		tcpOpen: prometheus.NewDesc("netflow_tcp_connections",
			"IPFIX-over-TCP connections open now.", nil, nil),
		tcpEvents: prometheus.NewDesc("netflow_tcp_connections_total",
			"IPFIX-over-TCP connections by what happened to them: accepted; closed at accept: refused (not in -allow), "+
				"over_limit, source_limit, handshake_failed; closed later: closed (by the exporter), idle_closed, "+
				"stream_error, evicted (for a newcomer from a source with fewer), no_first_message, slow.",
			[]string{"event"}, nil),
		kafkaRecords: prometheus.NewDesc("netflow_kafka_records_total",
			"Flow records given to Kafka, by result (delivered, failed).", []string{"result"}, nil),
	}
}

// Describe sends every descriptor.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.datagrams, m.bytes, m.flows, m.decodeErrors, m.dropped, m.kernelDrops,
		m.templates, m.templateEvents, m.templatesRefused, m.pendingSets, m.pendingBytes, m.pendingEvents, m.kafkaRecords,
		m.seqLost, m.seqLate, m.seqDuplicates, m.seqRestarts, m.released, m.storeConnected, m.storeConfirmed, m.storeOutages,
		m.tableEvents, m.tableEntries, m.tcpOpen, m.tcpEvents} {
		ch <- d
	}
	m.sfd.describe(ch)
}

// label returns the exporter label of a source: its address and port for
// the first maxExporters sources, otherExporters for the rest. A source
// keeps its label while the receiver counts it, so that its series stay
// continuous.
func (m *metrics) label(ap netip.AddrPort, live map[netip.AddrPort]receiver.Counters) string {
	if !ap.IsValid() {
		return otherExporters
	}
	if l, ok := m.labelled[ap]; ok {
		return l
	}
	if len(m.labelled) >= m.maxExporters {
		// Free the labels of sources the receiver no longer counts.
		for old := range m.labelled {
			if _, ok := live[old]; !ok {
				delete(m.labelled, old)
			}
		}
		if len(m.labelled) >= m.maxExporters {
			return otherExporters
		}
	}
	l := ap.String()
	m.labelled[ap] = l
	return l
}

// Collect reads the counters and sends them.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.scrapes.Add(1)
	st := m.recv.Stats()
	m.mu.Lock()
	// Sources in a fixed order, so that the first ones seen keep labels
	// across scrapes when there are more than the cap.
	sources := make([]netip.AddrPort, 0, len(st.Exporters))
	for ap := range st.Exporters {
		sources = append(sources, ap)
	}
	slices.SortFunc(sources, netip.AddrPort.Compare)
	byLabel := map[string]*receiver.Counters{}
	var order []string
	for _, ap := range sources {
		l := m.label(ap, st.Exporters)
		sum, ok := byLabel[l]
		if !ok {
			sum = new(receiver.Counters)
			byLabel[l] = sum
			order = append(order, l)
		}
		addCounters(sum, st.Exporters[ap])
	}
	m.mu.Unlock()
	// Refused sources are counted in the total only.
	if st.Total.Denied > 0 {
		sum, ok := byLabel[otherExporters]
		if !ok {
			sum = new(receiver.Counters)
			byLabel[otherExporters] = sum
			order = append(order, otherExporters)
		}
		sum.Denied += st.Total.Denied
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, l := range order {
		c := byLabel[l]
		counter(m.datagrams, c.Datagrams, l)
		counter(m.bytes, c.Bytes, l)
		counter(m.flows, c.Flows, l)
		e := c.Errors
		for _, k := range []struct {
			kind string
			n    uint64
		}{
			{"truncated", e.Truncated}, {"unsupported_version", e.UnsupportedVersion}, {"empty", e.Empty},
			{"malformed", e.Malformed}, {"template_not_found", e.TemplateNotFound}, {"limit", e.Limit},
			{"store", e.Store}, {"other", e.Other},
		} {
			counter(m.decodeErrors, k.n, l, k.kind)
		}
		counter(m.dropped, c.Denied, l, "denied")
		counter(m.dropped, c.Oversize, l, "oversize")
		counter(m.dropped, c.Dropped, l, "queue_full")
		counter(m.dropped, c.Stopped, l, "stopped")
		counter(m.released, c.Released, l)
	}
	counter(m.kernelDrops, st.KernelDrops)
	t := st.TCP
	gauge(m.tcpOpen, float64(t.Open))
	for _, e := range []struct {
		event string
		n     uint64
	}{
		{"accepted", t.Accepted}, {"refused", t.Refused}, {"over_limit", t.OverLimit}, {"source_limit", t.SourceLimit},
		{"handshake_failed", t.HandshakeFailed}, {"closed", t.Closed}, {"idle_closed", t.IdleClosed},
		{"stream_error", t.StreamErrors}, {"evicted", t.Evicted}, {"no_first_message", t.NoFirstMessage}, {"slow", t.Slow},
	} {
		counter(m.tcpEvents, e.n, e.event)
	}
	ds := m.dec.Stats()
	if ds.StoreOK {
		ss := ds.Store
		gauge(m.templates, float64(ss.Templates))
		for _, e := range []struct {
			event string
			n     uint64
		}{
			{"learned", ss.Learned}, {"refreshed", ss.Refreshed}, {"replaced", ss.Replaced}, {"withdrawn", ss.Withdrawn},
			{"expired", ss.Expired}, {"evicted", ss.Evicted}, {"rejected", ss.Rejected},
			{"evicted_with_exporter", ss.TemplatesEvictedWithExporters},
		} {
			counter(m.templateEvents, e.n, e.event)
		}
		counter(m.tableEvents, ss.ExportersConfirmed, "store_exporters", "confirmed")
		counter(m.tableEvents, ss.ExportersDemoted, "store_exporters", "demoted")
		counter(m.tableEvents, ss.ExportersEvicted, "store_exporters", "evicted")
		counter(m.tableEvents, ss.StatesEvicted, "store_states", "evicted")
		gauge(m.tableEntries, float64(ss.Exporters), "store_exporters", "all")
		gauge(m.tableEntries, float64(ss.Confirmed), "store_exporters", "confirmed")
	}
	counter(m.tableEvents, ds.StateDomainsEvicted, "state_domains", "evicted")
	counter(m.tableEvents, ds.StateDomainsReclaimed, "state_domains", "reclaimed")
	counter(m.tableEvents, ds.StateDomainsRefused, "state_domains", "refused")
	gauge(m.tableEntries, float64(ds.StateDomains), "state_domains", "all")
	gauge(m.tableEntries, float64(ds.StateDomainsConfirmed), "state_domains", "confirmed")
	counter(m.tableEvents, ds.SequenceDomainsEvicted, "sequence_domains", "evicted")
	counter(m.tableEvents, ds.SequenceDomainsReclaimed, "sequence_domains", "reclaimed")
	counter(m.tableEvents, ds.SequenceDomainsRefused, "sequence_domains", "refused")
	gauge(m.tableEntries, float64(len(ds.Sequences)), "sequence_domains", "all")
	gauge(m.tableEntries, float64(ds.SequenceDomainsConfirmed), "sequence_domains", "confirmed")
	counter(m.tableEvents, ds.Pending.ExportersEvicted, "pending_exporters", "evicted")
	counter(m.templatesRefused, ds.TemplatesRefused)
	ps := ds.Pending
	gauge(m.pendingSets, float64(ps.Held))
	gauge(m.pendingBytes, float64(ps.Bytes))
	counter(m.pendingEvents, ps.Added, "added")
	counter(m.pendingEvents, ps.Matched, "matched")
	counter(m.pendingEvents, ps.Expired, "expired")
	counter(m.pendingEvents, ps.Refused, "refused")
	counter(m.pendingEvents, ps.Misfits, "misfit")
	counter(m.pendingEvents, ps.MisfitsAccepted, "misfit_accepted")
	counter(m.pendingEvents, ps.Evicted, "evicted")
	// Sequence counters per exporter (its domains summed), under the same
	// label cap as the receiver's counters.
	type seqSum struct{ lost, late, dups, restarts uint64 }
	seqs := map[string]*seqSum{}
	var seqOrder []string
	m.mu.Lock()
	for _, q := range ds.Sequences {
		l := m.label(q.Exporter, st.Exporters)
		sum, ok := seqs[l]
		if !ok {
			sum = new(seqSum)
			seqs[l] = sum
			seqOrder = append(seqOrder, l)
		}
		sum.lost += q.Lost
		sum.late += q.Late
		sum.dups += q.Duplicates
		sum.restarts += q.Restarts
	}
	m.mu.Unlock()
	for _, l := range seqOrder {
		q := seqs[l]
		counter(m.seqLost, q.lost, l)
		counter(m.seqLate, q.late, l)
		counter(m.seqDuplicates, q.dups, l)
		counter(m.seqRestarts, q.restarts, l)
	}
	if m.redis != nil {
		rs := m.redis.Stats()
		gauge(m.storeConnected, boolGauge(rs.Connected))
		gauge(m.storeConfirmed, boolGauge(rs.Confirmed))
		counter(m.storeOutages, rs.Outages)
	}
	if m.kafka != nil {
		counter(m.kafkaRecords, m.kafka.delivered.Load(), "delivered")
		counter(m.kafkaRecords, m.kafka.failed.Load(), "failed")
	}
	if m.sflow != nil {
		m.sflow.collect(ch, &m.sfd, m.maxExporters)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func addCounters(sum *receiver.Counters, c receiver.Counters) {
	sum.Datagrams += c.Datagrams
	sum.Bytes += c.Bytes
	sum.Denied += c.Denied
	sum.Oversize += c.Oversize
	sum.Dropped += c.Dropped
	sum.Stopped += c.Stopped
	sum.Decoded += c.Decoded
	sum.Flows += c.Flows
	sum.Failed += c.Failed
	sum.Released += c.Released
	e, f := &sum.Errors, c.Errors
	e.Truncated += f.Truncated
	e.UnsupportedVersion += f.UnsupportedVersion
	e.Empty += f.Empty
	e.Malformed += f.Malformed
	e.TemplateNotFound += f.TemplateNotFound
	e.Limit += f.Limit
	e.Store += f.Store
	e.Other += f.Other
}

// serveMetrics listens on addr and serves m at /metrics, with the Go
// runtime's and the process's collectors. It returns the bound address and
// a func that stops the server.
func serveMetrics(addr string, m *metrics) (net.Addr, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if forwardMetrics != nil {
		reg.MustRegister(forwardMetrics)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // returns http.ErrServerClosed after Shutdown

	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
	return ln.Addr(), stop, nil
}
