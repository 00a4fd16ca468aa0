package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/flowkit/netflow/internal/testkit"
)

// kafkaDefaultBatchBytes is franz-go's default ProducerBatchMaxBytes.
const kafkaDefaultBatchBytes = 1_000_012

// TestKafkaBatchBytes: -kafka-batch-bytes bounds the batches the producer
// builds (before compression), and is what lets them grow past franz-go's
// default. 150 v9 datagrams of 30 flows, one record each (about 3 MB of
// JSON Lines), lingering a second: with the default each batch holds at
// most 1,000,012 bytes of record values, with 4 MiB they leave in
// batches larger than that; every flow arrives either way.
func TestKafkaBatchBytes(t *testing.T) {
	const datagrams = 150
	for _, c := range []struct {
		name, flag string
		limit      int
	}{
		{"default", "0", kafkaDefaultBatchBytes},
		{"4MiB", "4194304", 4 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			noLeak(t)
			cluster := newCluster(t)
			batches := produceBatches(cluster)
			stderr, _, stop := sendBatched(t, cluster, datagrams, "-kafka-batch-bytes", c.flag)
			require.Equal(t, 0, stop())
			require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d flows produced, %d delivered, 0 failed\n", datagrams*30, datagrams*30))

			recs := consume(t, cluster.ListenAddrs(), "flows", datagrams)
			require.Len(t, recs, datagrams)
			size := map[int64]int{} // offset: the record's value bytes
			for _, r := range recs {
				size[r.Offset] = len(r.Value)
			}
			largest := 0
			for _, b := range batches() {
				bytes := 0
				for o := b.first; o < b.first+int64(b.records); o++ {
					bytes += size[o]
				}
				require.LessOrEqual(t, bytes, c.limit, "a batch of %d records", b.records)
				largest = max(largest, bytes)
			}
			if c.limit > kafkaDefaultBatchBytes {
				require.Greater(t, largest, kafkaDefaultBatchBytes, "no batch larger than the default")
			}
			t.Logf("largest batch: %d bytes of record values", largest)
		})
	}
}

// TestKafkaBatchBytesTooLarge: a batch the broker refuses as larger than
// its message.max.bytes (kfake's default, 1,048,588 bytes, checked after
// compression) fails its records, and they are counted failed, not lost
// silently: 4 MiB batches without compression, 150 records of about 27 KB
// in a second's linger.
func TestKafkaBatchBytesTooLarge(t *testing.T) {
	const datagrams = 150
	noLeak(t)
	cluster := newCluster(t)
	stderr, maddr, stop := sendBatched(t, cluster, datagrams, "-kafka-compression", "none", "-kafka-batch-bytes", "4194304")
	failed := `netflow_kafka_records_total{result="failed"}`
	waitFor(t, "records failed", func() bool { return metricValue(scrape(t, maddr), failed) != "0" })
	require.Equal(t, 0, stop(), "failed deliveries are counted, as in TestKafkaFailures")
	out := stderr.String()
	require.Contains(t, out, fmt.Sprintf("kafka: %d flows produced, 0 delivered, %d failed\n", datagrams*30, datagrams*30))
	require.Contains(t, out, "kafka: first delivery failure: MESSAGE_TOO_LARGE")
}

// sendBatched starts a collector producing datagram records to cluster
// with a second's linger and args, sends it a v9 template and n datagrams
// of 30 flows, and waits until it decoded them. It returns the
// collector's standard error, its metrics address and its stop (deferred
// here as well).
func sendBatched(t *testing.T, cluster *kfake.Cluster, n int, args ...string) (stderr *syncBuffer, maddr string, stop func() int) {
	t.Helper()
	addr, _, stderr, stop := startOnce(t, append([]string{"-listen", "127.0.0.1:0", "-kafka", strings.Join(cluster.ListenAddrs(), ","),
		"-topic", "flows", "-kafka-record", "datagram", "-kafka-linger", "1s", "-metrics", "127.0.0.1:0"}, args...)...)
	t.Cleanup(func() { stop() })
	msgs := [][]byte{testkit.V9Template()}
	for range n {
		msgs = append(msgs, testkit.V9Data(30))
	}
	exporter := send(t, addr, msgs...)
	maddr = stderrValue(t, stderr, "metrics on ")
	waitFlows(t, maddr, exporter, n*30)
	return stderr, maddr, stop
}

// TestKafkaBatchBytesFlag: -kafka-batch-bytes takes 0 to 16 MiB.
func TestKafkaBatchBytesFlag(t *testing.T) {
	for _, v := range []string{"-1", "16777217"} {
		var out, errs syncBuffer
		status := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-kafka", "127.0.0.1:1", "-topic", "t", "-kafka-batch-bytes", v}, &out, &errs)
		require.Equal(t, 2, status, v)
		require.Contains(t, errs.String(), "-kafka-batch-bytes: "+v+" is not in 0-16777216")
	}
}

// producedBatch is a record batch a producer sent: its first offset and
// how many records it holds.
type producedBatch struct {
	first   int64
	records int
}

// produceBatches watches the cluster's produce requests and returns a
// function that lists the batches they carried, with the offsets the
// cluster gave them (one partition: offsets follow in request order).
func produceBatches(cluster *kfake.Cluster) func() []producedBatch {
	var (
		mu   sync.Mutex
		seen []producedBatch
		next int64
	)
	cluster.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range topic.Partitions {
				var b kmsg.RecordBatch
				if b.ReadFrom(p.Records) == nil {
					seen = append(seen, producedBatch{first: next, records: int(b.NumRecords)})
					next += int64(b.NumRecords)
				}
			}
		}
		return nil, nil, false // the cluster handles it
	})
	return func() []producedBatch {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}
