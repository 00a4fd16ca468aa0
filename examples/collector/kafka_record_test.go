package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tsharkDatagrams returns, for each datagram of a capture that tshark
// decoded flows from (options records aside), the summaries of its flows
// in the datagram's order.
func tsharkDatagrams(t *testing.T, name string) [][]string {
	t.Helper()
	var out [][]string
	for _, d := range tsharkDatagramFlows(t, name) {
		var flows []string
		for _, f := range d {
			flows = append(flows, flowSummary(f.SrcAddr, f.DstAddr, *f.Packets, *f.Bytes))
		}
		out = append(out, flows)
	}
	return out
}

// netflow5Datagrams splits logstash's netflow5.dat (softflowd's v5
// datagrams back to back) into its twelve datagrams.
func netflow5Datagrams(t *testing.T) [][]byte {
	t.Helper()
	file, err := os.ReadFile(td + "logstash-codec-netflow/netflow5.dat")
	require.NoError(t, err)
	var msgs [][]byte
	for len(file) >= 24 {
		n := 24 + 48*int(binary.BigEndian.Uint16(file[2:]))
		msgs, file = append(msgs, file[:n]), file[n:]
	}
	require.Len(t, msgs, 12)
	return msgs
}

// TestKafkaRecordDatagram: with -kafka-record datagram, each datagram's
// flows arrive as one record of JSON Lines, keyed by the exporter, in the
// exporter's order: the twelve v5 datagrams of netflow5.dat and softflowd's
// IPFIX capture, read back by a consumer, hold tshark's flows datagram for
// datagram, line for line; the records and flows counted delivered are
// those read. With each -kafka-compression the consumer reads the same.
func TestKafkaRecordDatagram(t *testing.T) {
	for _, compression := range []string{"lz4", "snappy", "zstd", "gzip", "none"} {
		t.Run(compression, func(t *testing.T) {
			noLeak(t)
			cluster := newCluster(t)
			wantV5 := tsharkDatagrams(t, "netflow5.json")
			wantIPFIX := tsharkDatagrams(t, "softflowd_v10.json")
			records, flows := len(wantV5)+len(wantIPFIX), 0
			for _, d := range append(wantV5, wantIPFIX...) {
				flows += len(d)
			}

			addr, stdout, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-kafka", strings.Join(cluster.ListenAddrs(), ","),
				"-topic", "flows", "-kafka-record", "datagram", "-kafka-compression", compression, "-metrics", "127.0.0.1:0")
			defer stop()
			maddr := stderrValue(t, stderr, "metrics on ")
			v5 := send(t, addr, netflow5Datagrams(t)...)
			ipfix := send(t, addr, pcapPayloads(t, td+"softflowd/softflowd_v10.pcap")...)
			waitFlows(t, maddr, v5, 30)
			waitFlows(t, maddr, ipfix, len(tsharkFlows(t, "softflowd_v10.json")))
			delivered := `netflow_kafka_records_total{result="delivered"}`
			waitFor(t, "records delivered", func() bool { return metricValue(scrape(t, maddr), delivered) == fmt.Sprint(records) })
			require.Equal(t, 0, stop())
			require.Empty(t, stdout.String(), "with -kafka nothing goes to stdout")
			require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d records produced, %d delivered, 0 failed\n", records, records))
			require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d flows produced, %d delivered, 0 failed\n", flows, flows))

			got := map[string][][]string{} // exporter: its records' flows, in order
			for _, r := range consume(t, cluster.ListenAddrs(), "flows", records) {
				require.Equal(t, "127.0.0.1", string(r.Key))
				value, ok := strings.CutSuffix(string(r.Value), "\n")
				require.True(t, ok, "JSON Lines end with a newline: %q", r.Value)
				var exporter string
				var lines []string
				for _, line := range strings.Split(value, "\n") {
					var f kafkaFlow
					require.NoError(t, json.Unmarshal([]byte(line), &f), line)
					if exporter == "" {
						exporter = f.Exporter
					}
					require.Equal(t, exporter, f.Exporter, "one exporter's flows in a record")
					if f.Version == 10 {
						require.NotEmpty(t, f.Fields, "IPFIX records carry their fields")
					}
					lines = append(lines, f.summary())
				}
				got[exporter] = append(got[exporter], lines)
			}
			require.Equal(t, map[string][][]string{v5.String(): wantV5, ipfix.String(): wantIPFIX}, got)
		})
	}
}

// TestKafkaRecordFlag: -kafka-record takes flow or datagram only.
func TestKafkaRecordFlag(t *testing.T) {
	var out, errs syncBuffer
	status := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-kafka", "127.0.0.1:1", "-topic", "t", "-kafka-record", "packet"}, &out, &errs)
	require.Equal(t, 2, status)
	require.Contains(t, errs.String(), `-kafka-record: "packet" is not flow or datagram`)
}

// TestKafkaRecordReuse: a record reused for a later flow (once its promise
// has run) carries the time it was produced again, not the time of its
// first use, and the later flows' records hold exactly those flows.
func TestKafkaRecordReuse(t *testing.T) {
	noLeak(t)
	cluster := newCluster(t)
	msgs := netflow5Datagrams(t)
	want := tsharkDatagrams(t, "netflow5.json")

	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-kafka", strings.Join(cluster.ListenAddrs(), ","),
		"-topic", "flows", "-kafka-linger", "1ms", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	delivered := `netflow_kafka_records_total{result="delivered"}`
	send(t, addr, msgs[:6]...)
	first := 0
	for _, d := range want[:6] {
		first += len(d)
	}
	waitFor(t, "the first flows delivered", func() bool { return metricValue(scrape(t, maddr), delivered) == fmt.Sprint(first) })
	// Every record so far was produced before this millisecond.
	later := time.Now().Truncate(time.Millisecond).Add(time.Millisecond)
	waitFor(t, "the next millisecond", func() bool { return !time.Now().Before(later) })
	from := send(t, addr, msgs[6:]...) // another exporter, to the collector
	waitFor(t, "all flows delivered", func() bool { return metricValue(scrape(t, maddr), delivered) == "30" })
	require.Equal(t, 0, stop())
	require.Contains(t, stderr.String(), "kafka: 30 records produced, 30 delivered, 0 failed\n")

	recs := consume(t, cluster.ListenAddrs(), "flows", 30)
	var wantLater, gotLater []string
	for _, d := range want[6:] {
		wantLater = append(wantLater, d...)
	}
	for i, r := range recs {
		if i < first {
			require.True(t, r.Timestamp.Before(later), "record %d: %v", i, r.Timestamp)
			continue
		}
		require.False(t, r.Timestamp.Before(later), "record %d, produced after %v, stamped %v", i, later, r.Timestamp)
		var f kafkaFlow
		require.NoError(t, json.Unmarshal(r.Value, &f), "%s", r.Value)
		require.Equal(t, from.String(), f.Exporter)
		gotLater = append(gotLater, f.summary())
	}
	require.Equal(t, wantLater, gotLater)
}

// TestKafkaRecordDatagramFailures: with the cluster gone, every datagram's
// record fails after -kafka-timeout, and the records and the flows in them
// are counted failed.
func TestKafkaRecordDatagramFailures(t *testing.T) {
	noLeak(t)
	brokers := goneBrokers(t)
	want := tsharkDatagrams(t, "netflow5.json")

	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-kafka", brokers, "-topic", "flows",
		"-kafka-record", "datagram", "-kafka-timeout", "1s", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	from := send(t, addr, netflow5Datagrams(t)...)
	waitFlows(t, maddr, from, 30)
	waitFor(t, "failures counted", func() bool {
		return metricValue(scrape(t, maddr), `netflow_kafka_records_total{result="failed"}`) == fmt.Sprint(len(want))
	})
	require.Equal(t, 0, stop())
	require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d records produced, 0 delivered, %d failed\n", len(want), len(want)))
	require.Contains(t, stderr.String(), "kafka: 30 flows produced, 0 delivered, 30 failed\n")
	require.Contains(t, stderr.String(), "kafka: first delivery failure: ")
}
