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
	"github.com/flowkit/netflow/redisstore"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultKafkaTimeout bounds how long a record may wait to be delivered
// (then it counts as failed), and so how long a stopping collector waits
// for Kafka to take what it still buffers.
const defaultKafkaTimeout = 30 * time.Second

// defaultKafkaCompression is snappy: on the collector's JSON it compresses
// about as well as lz4 (9.3 against 9.8 times on the flows of the
// fixtures) for less CPU per flow, and zstd costs more again, for twice the
// ratio (docs/performance-pipeline.md, "Kafka").
const defaultKafkaCompression = "snappy"

// kafkaMaxBufferedBytes bounds the bytes of the records the client holds
// (with kafkaMaxBufferedRecords): Produce then blocks, the receiver's
// queues fill and it counts what it drops (queue_full).
const (
	kafkaMaxBufferedBytes = 64 << 20
	// kafkaMaxBatchBytes bounds -kafka-batch-bytes: a quarter of the
	// buffered bytes, so that several batches are in flight.
	kafkaMaxBatchBytes      = kafkaMaxBufferedBytes / 4
	kafkaMaxBufferedRecords = 100000
)

// The record modes of -kafka-record.
const (
	kafkaRecordFlow     = "flow"     // one record per flow, its JSON object
	kafkaRecordDatagram = "datagram" // one record per datagram, its flows as JSON Lines
)

// kafkaSink produces each flow as one Kafka record (-kafka-record flow, the
// default): the value is the flow's JSON object
// (netflow.Flow.AppendJSONWithFields, the schema of docs/flow.md, "JSON
// output"); or, with -kafka-record datagram, the flows of one datagram as
// one record of JSON Lines (each flow's object and a newline). The key is
// the exporter's address, so that the flows of one exporter stay in order
// in one partition. franz-go batches records per partition (lingering up
// to linger) and compresses the batches (-kafka-compression, snappy by
// default; then lz4, snappy, none: whichever the broker takes). Records
// and their value buffers are reused once their promise has run: a flow is
// encoded straight into its record.
type kafkaSink struct {
	client            *kgo.Client
	perDatagram       bool          // -kafka-record datagram
	produced          atomic.Uint64 // records handed to the client
	delivered, failed atomic.Uint64 // records acknowledged by the broker, or given up on
	// The flows in those records (the same counts with one flow a record).
	flowsProduced, flowsDelivered, flowsFailed atomic.Uint64
	firstErr                                   atomic.Pointer[error]
	promise                                    func(*kgo.Record, error)
	timeout                                    time.Duration
	closeOnce                                  sync.Once
	// Records back from their promise, for more flows. A channel, not a
	// sync.Pool: a pool is emptied by every garbage collection, and the
	// fresh buffers then cost a page fault per 4 KiB written (7% of the
	// CPU of -kafka-record datagram).
	free    chan *kafkaRecord
	maxFree int // the largest value buffer kept in free
}

// kafkaRecord is a pooled record and the flows in its value. It is the
// record's Context (franz-go's field for enriching a record; this one has
// no deadline and is never cancelled), which is how its promise finds it.
type kafkaRecord struct {
	context.Context // context.Background()
	rec             kgo.Record
	flows           int
}

// kafkaCodecs are the batch compressions of -kafka-compression, by name.
var kafkaCodecs = map[string]kgo.CompressionCodec{
	"zstd":   kgo.ZstdCompression(),
	"lz4":    kgo.Lz4Compression(),
	"snappy": kgo.SnappyCompression(),
	"gzip":   kgo.GzipCompression(),
	"none":   kgo.NoCompression(),
}

// kafkaCompression returns the codecs to offer for -kafka-compression
// name: it first, then lz4, snappy and none, for brokers that lack it.
func kafkaCompression(name string) ([]kgo.CompressionCodec, error) {
	first, ok := kafkaCodecs[name]
	if !ok {
		return nil, fmt.Errorf("-kafka-compression: %q is not zstd, lz4, snappy, gzip or none", name)
	}
	codecs := []kgo.CompressionCodec{first}
	for _, c := range []string{"lz4", "snappy", "none"} {
		if c != name {
			codecs = append(codecs, kafkaCodecs[c])
		}
	}
	return codecs, nil
}

func newKafkaSink(brokers, topic string, linger, timeout time.Duration, compression, recordMode string, batchBytes int, extra ...kgo.Opt) (*kafkaSink, error) {
	if topic == "" {
		return nil, fmt.Errorf("-kafka needs -topic")
	}
	if recordMode != kafkaRecordFlow && recordMode != kafkaRecordDatagram {
		return nil, fmt.Errorf("-kafka-record: %q is not flow or datagram", recordMode)
	}
	codecs, err := kafkaCompression(compression)
	if err != nil {
		return nil, err
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
	if batchBytes < 0 || batchBytes > kafkaMaxBatchBytes {
		return nil, fmt.Errorf("-kafka-batch-bytes: %d is not in 0-%d", batchBytes, kafkaMaxBatchBytes)
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchCompression(codecs...),
		// Produce blocks when this many records or bytes wait: the
		// receiver's queues then fill and it counts what it drops
		// (queue_full).
		kgo.MaxBufferedRecords(kafkaMaxBufferedRecords),
		kgo.MaxBufferedBytes(kafkaMaxBufferedBytes),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RecordDeliveryTimeout(timeout),
	}, extra...)
	if batchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(batchBytes)))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("-kafka: %w", err)
	}
	k := &kafkaSink{client: client, timeout: timeout, perDatagram: recordMode == kafkaRecordDatagram}
	// As many free records as a linger's worth of 300,000 flows a second
	// (or of 10,000 datagrams): 16-32 MiB, at most 64 MiB.
	if k.perDatagram {
		k.free, k.maxFree = make(chan *kafkaRecord, 1024), 64<<10
	} else {
		k.free, k.maxFree = make(chan *kafkaRecord, 16384), 4<<10
	}
	k.promise = func(r *kgo.Record, err error) {
		kr := r.Context.(*kafkaRecord)
		flows := uint64(kr.flows)
		if err != nil {
			k.failed.Add(1)
			k.flowsFailed.Add(flows)
			k.firstErr.CompareAndSwap(nil, &err)
		} else {
			k.delivered.Add(1)
			k.flowsDelivered.Add(flows)
		}
		// The client is done with the record: it serves another flow.
		k.put(kr)
	}
	return k, nil
}

// record returns a record for one flow (or a datagram's flows), with a
// value buffer of earlier flows to encode it into.
func (k *kafkaSink) record() *kafkaRecord {
	select {
	case kr := <-k.free:
		// The client may have set any field (the timestamp too): start
		// from a blank record with the value's buffer.
		kr.rec = kgo.Record{Value: kr.rec.Value[:0], Context: kr}
		kr.flows = 0
		return kr
	default:
	}
	size := 1024 // a flow with its record: 700-900 bytes
	if k.perDatagram {
		size = 32 << 10 // 30 of them
	}
	kr := &kafkaRecord{Context: context.Background()}
	kr.rec = kgo.Record{Value: make([]byte, 0, size), Context: kr}
	return kr
}

// put keeps kr for another record, if the free list has room and its
// buffer is of a usual size.
func (k *kafkaSink) put(kr *kafkaRecord) {
	if cap(kr.rec.Value) > k.maxFree {
		return
	}
	select {
	case k.free <- kr:
	default:
	}
}

// produce sends kr, its flows encoded in its value. The record and its
// value belong to the client until its promise runs.
func (k *kafkaSink) produce(key []byte, kr *kafkaRecord) {
	kr.rec.Key = key
	k.produced.Add(1)
	k.flowsProduced.Add(uint64(kr.flows))
	k.client.Produce(kr, &kr.rec, k.promise)
}

// addFlow encodes f, with rec (its record, for v9 and IPFIX; nil for the
// fixed versions and sFlow), as a line of batch (-kafka-record datagram)
// or, when batch is nil, into a record of its own, which it produces.
func (k *kafkaSink) addFlow(key []byte, batch *kafkaRecord, f *netflow.Flow, rec *netflow.Record) {
	if batch != nil {
		batch.rec.Value = append(f.AppendJSONWithFields(batch.rec.Value, rec), '\n')
		batch.flows++
		return
	}
	r := k.record()
	r.rec.Value = f.AppendJSONWithFields(r.rec.Value, rec)
	r.flows = 1
	k.produce(key, r)
}

// produceFlows sends the flows of one packet (each with its record for v9
// and IPFIX), each encoded straight into a pooled record's value (with
// -kafka-record datagram, all into one record, a line each), reusing flows
// for the flows.
func (k *kafkaSink) produceFlows(exporter string, pkt netflow.Packet, flows []netflow.Flow) []netflow.Flow {
	key := []byte(exporter)
	var batch *kafkaRecord // -kafka-record datagram: the datagram's record
	if k.perDatagram {
		batch = k.record()
	}
	var s *netflow.Sets
	switch pk := pkt.(type) {
	case *netflow.V9Packet:
		s = &pk.Sets
	case *netflow.IPFIXPacket:
		s = &pk.Sets
	default:
		flows = pkt.AppendFlows(flows[:0])
		for i := range flows {
			k.addFlow(key, batch, &flows[i], nil)
		}
	}
	if s != nil {
		for i := range s.DataSets {
			ds := &s.DataSets[i]
			if ds.Options() {
				continue
			}
			// A data set's flows are its records', in order.
			flows = ds.AppendFlows(flows[:0])
			for j := range flows {
				k.addFlow(key, batch, &flows[j], &ds.Records[j])
			}
		}
	}
	if batch != nil {
		if batch.flows == 0 { // templates or options only
			k.put(batch)
		} else {
			k.produce(key, batch)
		}
	}
	return flows
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
	compression      *string
	record           *string
	batchBytes       *int
}

func outputFlags(fs *flag.FlagSet) *outputOptions {
	return &outputOptions{
		metrics:          fs.String("metrics", "", "serve Prometheus metrics at http://`address`/metrics"),
		metricsExporters: fs.Int("metrics-exporters", defaultMetricsExporters, "exporters with a metrics label of their own (the rest: exporter=\"other\")"),
		kafka:            fs.String("kafka", "", "send each flow as one JSON record to these comma-separated Kafka `brokers` instead of standard output"),
		topic:            fs.String("topic", "", "with -kafka: the `topic`"),
		linger:           fs.Duration("kafka-linger", 50*time.Millisecond, "with -kafka: how long a batch may wait for more records"),
		timeout:          fs.Duration("kafka-timeout", defaultKafkaTimeout, "with -kafka: how long a record may wait to be delivered before it counts as failed"),
		compression:      fs.String("kafka-compression", defaultKafkaCompression, "with -kafka: batch `compression`, zstd, lz4, snappy, gzip or none (lz4, snappy, none follow for brokers that lack it)"),
		batchBytes:       fs.Int("kafka-batch-bytes", 0, "with -kafka: the largest batch of records to a partition, in `bytes` before compression (0: franz-go's 1,000,012; larger batches cost less CPU per flow, and the broker's message.max.bytes must hold them compressed)"),
		record:           fs.String("kafka-record", kafkaRecordFlow, "with -kafka: what a record holds, `flow` (one flow's JSON object) or datagram (the flows of a datagram as JSON Lines)"),
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
	return newKafkaSink(*o.kafka, *o.topic, *o.linger, *o.timeout, *o.compression, *o.record, *o.batchBytes)
}

// startMetrics serves -metrics, if given, and says where on errOut. rs is
// the Redis store with -store, else nil.
func (o *outputOptions) startMetrics(errOut io.Writer, r *receiver.Receiver, dec *netflow.Decoder, k *kafkaSink, rs *redisstore.Store, sf *sflowCounters) (stop func(), err error) {
	if *o.metrics == "" {
		return func() {}, nil
	}
	n := *o.metricsExporters
	if n < 0 {
		n = 0
	}
	m := newMetrics(r, dec, k, sf, n)
	m.redis = rs
	addr, stop, err := serveMetrics(*o.metrics, m)
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
	l.flows = p.kafka.produceFlows(d.Exporter.Addr().String(), d.Packet, l.flows)
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
	if p.kafka.perDatagram {
		fmt.Fprintf(errOut, "kafka: %d flows produced, %d delivered, %d failed\n",
			p.kafka.flowsProduced.Load(), p.kafka.flowsDelivered.Load(), p.kafka.flowsFailed.Load())
	}
	if e := p.kafka.firstErr.Load(); e != nil {
		fmt.Fprintf(errOut, "kafka: first delivery failure: %v\n", *e)
	}
	if err != nil {
		fmt.Fprintf(errOut, "kafka: flush: %v (%d records not delivered)\n", err, undelivered)
	}
}
