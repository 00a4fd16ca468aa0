package main

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
	"github.com/prometheus/client_golang/prometheus"
)

// sFlow counter samples as Prometheus metrics: the latest generic
// interface counters of every agent and ifIndex (sFlow's counters are
// totals since the interface started, so the latest sample is the
// counter's value). The agents get a label of their own up to the
// -metrics-exporters cap, in address order; the interfaces of the others
// add up under agent="other", ifindex="other". The table itself is bounded:
// interfaces beyond sflowMaxInterfaces are not kept, and counted.

// sflowMaxInterfacesPerAgent bounds the interfaces kept per labelled agent
// (a large chassis has a few hundred).
const sflowMaxInterfacesPerAgent = 1024

type sflowIfKey struct {
	agent   netip.Addr
	ifIndex uint32
}

// sflowCounters holds the latest interface counters seen, for metrics.
type sflowCounters struct {
	mu      sync.Mutex
	max     int // entries kept
	latest  map[sflowIfKey]netflow.SFlowInterfaceCounters
	samples map[netip.Addr]uint64 // counter samples per agent, of the agents kept
	refused uint64                // interface counters not kept (table full)
}

func newSFlowCounters(maxAgents int) *sflowCounters {
	return &sflowCounters{
		max:     max(1, maxAgents) * sflowMaxInterfacesPerAgent,
		latest:  map[sflowIfKey]netflow.SFlowInterfaceCounters{},
		samples: map[netip.Addr]uint64{},
	}
}

// sflowCounters returns the table of sFlow interface counters of -metrics,
// nil without it.
func (o *outputOptions) sflowCounters() *sflowCounters {
	if *o.metrics == "" {
		return nil
	}
	return newSFlowCounters(*o.metricsExporters)
}

// observing returns a receiver handler that records the interface
// counters of sFlow datagrams, then calls next (next itself for a nil s).
func (s *sflowCounters) observing(next receiver.Handler) receiver.Handler {
	if s == nil {
		return next
	}
	return func(d *receiver.Datagram) {
		if p, ok := d.Packet.(*netflow.SFlowPacket); ok && len(p.CounterSamples) > 0 {
			s.observe(p)
		}
		next(d)
	}
}

func (s *sflowCounters) observe(p *netflow.SFlowPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range p.CounterSamples {
		c := &p.CounterSamples[i]
		if c.Has&netflow.SFlowHasInterfaceCounters == 0 {
			continue
		}
		k := sflowIfKey{c.Interface.Agent, c.Interface.IfIndex}
		if _, ok := s.latest[k]; !ok && len(s.latest) >= s.max {
			s.refused++
			continue
		}
		s.latest[k] = c.Interface
		s.samples[k.agent]++
	}
}

// sflowDescs are the metrics of sFlow interface counters.
type sflowDescs struct {
	octets, packets, discards, errors *prometheus.Desc
	speed, up, samples, refused       *prometheus.Desc
}

func newSFlowDescs() sflowDescs {
	ifl := []string{"agent", "ifindex"}
	dir := []string{"agent", "ifindex", "direction"}
	return sflowDescs{
		octets: prometheus.NewDesc("netflow_sflow_interface_octets_total",
			"Octets in and out of an interface, from sFlow generic interface counters (ifInOctets, ifOutOctets), by agent and ifIndex.", dir, nil),
		packets: prometheus.NewDesc("netflow_sflow_interface_packets_total",
			"Packets in and out of an interface by kind (unicast, multicast, broadcast), from sFlow interface counters.",
			[]string{"agent", "ifindex", "direction", "cast"}, nil),
		discards: prometheus.NewDesc("netflow_sflow_interface_discards_total",
			"Packets discarded in and out, from sFlow interface counters.", dir, nil),
		errors: prometheus.NewDesc("netflow_sflow_interface_errors_total",
			"Packets in error in and out, from sFlow interface counters.", dir, nil),
		speed: prometheus.NewDesc("netflow_sflow_interface_speed_bits",
			"Interface speed in bits per second (ifSpeed), from sFlow interface counters.", ifl, nil),
		up: prometheus.NewDesc("netflow_sflow_interface_up",
			"1 if the interface is up, administratively (status=\"admin\") or operationally (status=\"oper\"), from sFlow interface counters.",
			[]string{"agent", "ifindex", "status"}, nil),
		samples: prometheus.NewDesc("netflow_sflow_counter_samples_total",
			"sFlow generic interface counter records kept, by agent.", []string{"agent"}, nil),
		refused: prometheus.NewDesc("netflow_sflow_interfaces_refused_total",
			"sFlow interface counters not kept because the table of interfaces was full.", nil, nil),
	}
}

func (d *sflowDescs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.octets, d.packets, d.discards, d.errors, d.speed, d.up, d.samples, d.refused} {
		ch <- x
	}
}

// sflowSeries is the sum of the counters of one (agent, ifindex) label
// pair.
type sflowSeries struct {
	agent, ifIndex string
	c              ifSums
	adminUp        bool
	operUp         bool
}

// ifSums are interface counters summed in 64 bits (sFlow's packet counters
// are 32-bit).
type ifSums struct {
	speed, inOctets, outOctets                     uint64
	inUcast, inMcast, inBcast, inDiscards, inErrs  uint64
	outUcast, outMcast, outBcast, outDisc, outErrs uint64
}

// collect sends the metrics: the first maxAgents agents (in address order)
// labelled, the others summed under "other".
func (s *sflowCounters) collect(ch chan<- prometheus.Metric, d *sflowDescs, maxAgents int) {
	s.mu.Lock()
	keys := make([]sflowIfKey, 0, len(s.latest))
	agents := make([]netip.Addr, 0, len(s.samples))
	for k := range s.latest {
		keys = append(keys, k)
	}
	for a := range s.samples {
		agents = append(agents, a)
	}
	slices.SortFunc(agents, netip.Addr.Compare)
	labelled := map[netip.Addr]bool{}
	for i, a := range agents {
		labelled[a] = i < maxAgents
	}
	slices.SortFunc(keys, func(a, b sflowIfKey) int {
		if c := a.agent.Compare(b.agent); c != 0 {
			return c
		}
		return int(int64(a.ifIndex) - int64(b.ifIndex))
	})
	var series []*sflowSeries
	byLabel := map[[2]string]*sflowSeries{}
	samples := map[string]uint64{}
	for _, k := range keys {
		agent, ifIndex := otherExporters, otherExporters
		if labelled[k.agent] {
			agent, ifIndex = k.agent.String(), strconv.FormatUint(uint64(k.ifIndex), 10)
		}
		sr := byLabel[[2]string{agent, ifIndex}]
		if sr == nil {
			sr = &sflowSeries{agent: agent, ifIndex: ifIndex}
			byLabel[[2]string{agent, ifIndex}] = sr
			series = append(series, sr)
		}
		c := s.latest[k]
		sr.c.add(&c)
		sr.adminUp = sr.adminUp || c.AdminUp()
		sr.operUp = sr.operUp || c.OperUp()
	}
	for _, a := range agents {
		l := otherExporters
		if labelled[a] {
			l = a.String()
		}
		samples[l] += s.samples[a]
	}
	refused := s.refused
	s.mu.Unlock()

	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, sr := range series {
		a, i, c := sr.agent, sr.ifIndex, &sr.c
		counter(d.octets, c.inOctets, a, i, "in")
		counter(d.octets, c.outOctets, a, i, "out")
		for _, p := range []struct {
			dir, cast string
			n         uint64
		}{
			{"in", "unicast", c.inUcast}, {"in", "multicast", c.inMcast}, {"in", "broadcast", c.inBcast},
			{"out", "unicast", c.outUcast}, {"out", "multicast", c.outMcast}, {"out", "broadcast", c.outBcast},
		} {
			counter(d.packets, p.n, a, i, p.dir, p.cast)
		}
		counter(d.discards, c.inDiscards, a, i, "in")
		counter(d.discards, c.outDisc, a, i, "out")
		counter(d.errors, c.inErrs, a, i, "in")
		counter(d.errors, c.outErrs, a, i, "out")
		gauge(d.speed, float64(c.speed), a, i)
		gauge(d.up, b(sr.adminUp), a, i, "admin")
		gauge(d.up, b(sr.operUp), a, i, "oper")
	}
	for _, a := range slices.Sorted(func(yield func(string) bool) {
		for l := range samples {
			if !yield(l) {
				return
			}
		}
	}) {
		counter(d.samples, samples[a], a)
	}
	counter(d.refused, refused)
}

// add adds the counters of c (the speed too: the capacity of the
// interfaces summed).
func (sum *ifSums) add(c *netflow.SFlowInterfaceCounters) {
	sum.speed += c.Speed
	sum.inOctets += c.InOctets
	sum.outOctets += c.OutOctets
	sum.inUcast += uint64(c.InUcastPkts)
	sum.inMcast += uint64(c.InMulticastPkts)
	sum.inBcast += uint64(c.InBroadcastPkts)
	sum.inDiscards += uint64(c.InDiscards)
	sum.inErrs += uint64(c.InErrors)
	sum.outUcast += uint64(c.OutUcastPkts)
	sum.outMcast += uint64(c.OutMulticastPkts)
	sum.outBcast += uint64(c.OutBroadcastPkts)
	sum.outDisc += uint64(c.OutDiscards)
	sum.outErrs += uint64(c.OutErrors)
}
