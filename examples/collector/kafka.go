package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultKafkaTimeout bounds how long a record may wait to be delivered
// (then it counts as failed), and so how long a stopping collector waits
// for Kafka to take what it still buffers.
const defaultKafkaTimeout = 30 * time.Second

// kafkaSink produces each flow as one Kafka record: the value is the flow's
// JSON object (netflow.Flow.AppendJSONWithFields, the schema of
// docs/flow.md, "JSON output"), the key the exporter's address, so that
// the flows of one exporter stay in order in one partition. franz-go
// batches records per partition (lingering up to linger) and compresses
// the batches (zstd, else lz4, snappy, none: whichever the broker takes).
type kafkaSink struct {
	client            *kgo.Client
	produced          atomic.Uint64 // handed to the client
	delivered, failed atomic.Uint64 // acknowledged by the broker, or given up on
	firstErr          atomic.Pointer[error]
	promise           func(*kgo.Record, error)
	timeout           time.Duration
	closeOnce         sync.Once
}

func newKafkaSink(brokers, topic string, linger, timeout time.Duration, extra ...kgo.Opt) (*kafkaSink, error) {
	if topic == "" {
		return nil, fmt.Errorf("-kafka needs -topic")
	}
	var seeds []string
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("-kafka: no broker address")
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
		// Produce blocks when this many records wait: the receiver's
		// queues then fill and it counts what it drops (queue_full).
		kgo.MaxBufferedRecords(100000),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RecordDeliveryTimeout(timeout),
	}, extra...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("-kafka: %w", err)
	}
	k := &kafkaSink{client: client, timeout: timeout}
	k.promise = func(_ *kgo.Record, err error) {
		if err != nil {
			k.failed.Add(1)
			k.firstErr.CompareAndSwap(nil, &err)
			return
		}
		k.delivered.Add(1)
	}
	return k, nil
}

// produce sends one flow. The record owns a copy of line.
func (k *kafkaSink) produce(key []byte, line []byte) {
	r := &kgo.Record{Key: key, Value: append([]byte(nil), line...)}
	k.produced.Add(1)
	k.client.Produce(context.Background(), r, k.promise)
}

// produceFlows sends the flows of one packet (each with its record for v9
// and IPFIX), reusing buf for the encoding and flows for the flows.
func (k *kafkaSink) produceFlows(buf []byte, exporter string, pkt netflow.Packet, flows []netflow.Flow) ([]byte, []netflow.Flow) {
	key := []byte(exporter)
	var s *netflow.Sets
	switch pk := pkt.(type) {
	case *netflow.V9Packet:
		s = &pk.Sets
	case *netflow.IPFIXPacket:
		s = &pk.Sets
	default:
		flows = pkt.AppendFlows(flows[:0])
		for i := range flows {
			buf = flows[i].AppendJSON(buf[:0])
			k.produce(key, buf)
		}
		return buf, flows
	}
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		if ds.Options() {
			continue
		}
		// A data set's flows are its records', in order.
		flows = ds.AppendFlows(flows[:0])
		for j := range flows {
			buf = flows[j].AppendJSONWithFields(buf[:0], &ds.Records[j])
			k.produce(key, buf)
		}
	}
	return buf, flows
}

// close flushes what the client buffers, within timeout, then closes it.
// It returns the records not delivered.
// Only the first call does anything.
func (k *kafkaSink) close(timeout time.Duration) (undelivered uint64, err error) {
	k.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err = k.client.Flush(ctx)
		k.client.Close()
	})
	return k.produced.Load() - k.delivered.Load(), err
}

// outputOptions are the flags of the metrics endpoint and of Kafka.
type outputOptions struct {
	metrics          *string
	metricsExporters *int
	kafka, topic     *string
	linger, timeout  *time.Duration
}

func outputFlags(fs *flag.FlagSet) *outputOptions {
	return &outputOptions{
		metrics:          fs.String("metrics", "", "serve Prometheus metrics at http://`address`/metrics"),
		metricsExporters: fs.Int("metrics-exporters", defaultMetricsExporters, "exporters with a metrics label of their own (the rest: exporter=\"other\")"),
		kafka:            fs.String("kafka", "", "send each flow as one JSON record to these comma-separated Kafka `brokers` instead of standard output"),
		topic:            fs.String("topic", "", "with -kafka: the `topic`"),
		linger:           fs.Duration("kafka-linger", 50*time.Millisecond, "with -kafka: how long a batch may wait for more records"),
		timeout:          fs.Duration("kafka-timeout", defaultKafkaTimeout, "with -kafka: how long a record may wait to be delivered before it counts as failed"),
	}
}

// kafkaSink returns the sink of -kafka, or nil without it.
func (o *outputOptions) kafkaSink() (*kafkaSink, error) {
	if *o.kafka == "" {
		if *o.topic != "" {
			return nil, fmt.Errorf("-topic needs -kafka")
		}
		return nil, nil
	}
	if *o.timeout <= 0 {
		return nil, fmt.Errorf("-kafka-timeout must be positive")
	}
	return newKafkaSink(*o.kafka, *o.topic, *o.linger, *o.timeout)
}

// startMetrics serves -metrics, if given, and says where on errOut.
func (o *outputOptions) startMetrics(errOut io.Writer, r *receiver.Receiver, dec *netflow.Decoder, k *kafkaSink) (stop func(), err error) {
	if *o.metrics == "" {
		return func() {}, nil
	}
	n := *o.metricsExporters
	if n < 0 {
		n = 0
	}
	addr, stop, err := serveMetrics(*o.metrics, newMetrics(r, dec, k, n))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(errOut, "metrics on %v\n", addr)
	return stop, nil
}

// toKafka produces the flows of a datagram.
func (p *printer) toKafka(d *receiver.Datagram) {
	l, _ := p.bufs.Get().(*lines)
	if l == nil {
		l = new(lines)
	}
	l.b, l.flows = p.kafka.produceFlows(l.b, d.Exporter.Addr().String(), d.Packet, l.flows)
	p.bufs.Put(l)
}

// closeKafka flushes Kafka and reports what it did.
func (p *printer) closeKafka(errOut io.Writer) {
	if p.kafka == nil {
		return
	}
	undelivered, err := p.kafka.close(p.kafka.timeout + time.Second)
	fmt.Fprintf(errOut, "kafka: %d records produced, %d delivered, %d failed\n",
		p.kafka.produced.Load(), p.kafka.delivered.Load(), p.kafka.failed.Load())
	if e := p.kafka.firstErr.Load(); e != nil {
		fmt.Fprintf(errOut, "kafka: first delivery failure: %v\n", *e)
	}
	if err != nil {
		fmt.Fprintf(errOut, "kafka: flush: %v (%d records not delivered)\n", err, undelivered)
	}
}
