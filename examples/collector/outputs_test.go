package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const td = "../../testdata/"

// pcapPayloads returns the UDP payloads of a capture, in order.
func pcapPayloads(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if udp, ok := pkt.TransportLayer().(*layers.UDP); ok {
			out = append(out, slices.Clone(udp.Payload))
		}
	}
}

// startOnce is start with a stop that may be called again (deferred).
func startOnce(t *testing.T, args ...string) (netip.AddrPort, *syncBuffer, *syncBuffer, func() int) {
	t.Helper()
	addr, stdout, stderr, stop := start(t, args...)
	return addr, stdout, stderr, sync.OnceValue(stop)
}

// oracleFlow is a flow of testdata/expected/*.json, tshark's decode.
type oracleFlow struct {
	Options bool    `json:"options"`
	SrcAddr string  `json:"src_addr"`
	DstAddr string  `json:"dst_addr"`
	Packets *uint64 `json:"packets"`
	Bytes   *uint64 `json:"bytes"`
}

// tsharkFlows reads the flows (not the options records) tshark decoded
// from a capture, and checks that it skipped no set.
func tsharkFlows(t *testing.T, name string) []oracleFlow {
	t.Helper()
	var out []oracleFlow
	for _, d := range tsharkDatagramFlows(t, name) {
		out = append(out, d...)
	}
	return out
}

// tsharkDatagramFlows reads, for each datagram of a capture that tshark
// decoded flows from, its flows (not the options records) in order, and
// checks that tshark skipped no set.
func tsharkDatagramFlows(t *testing.T, name string) [][]oracleFlow {
	t.Helper()
	b, err := os.ReadFile(td + "expected/" + name)
	require.NoError(t, err)
	var doc struct {
		Datagrams []struct {
			Flows   []oracleFlow `json:"flows"`
			Skipped []any        `json:"tshark_skipped_sets"`
		} `json:"datagrams"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	var out [][]oracleFlow
	for _, d := range doc.Datagrams {
		require.Empty(t, d.Skipped, "%s: tshark skipped sets: it is no oracle for the flow count", name)
		var flows []oracleFlow
		for _, f := range d.Flows {
			if !f.Options {
				flows = append(flows, f)
			}
		}
		if len(flows) > 0 {
			out = append(out, flows)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// flowSummary is what the tests compare of a flow.
func flowSummary(src, dst string, packets, bytes uint64) string {
	return fmt.Sprintf("%s>%s %d/%d", src, dst, packets, bytes)
}

func tsharkSummaries(flows []oracleFlow) []string {
	var out []string
	for _, f := range flows {
		out = append(out, flowSummary(f.SrcAddr, f.DstAddr, *f.Packets, *f.Bytes))
	}
	slices.Sort(out)
	return out
}

// stderrValue waits for a line of stderr that starts with prefix and
// returns the rest of it.
func stderrValue(t *testing.T, stderr *syncBuffer, prefix string) string {
	t.Helper()
	var v string
	waitFor(t, prefix, func() bool {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if s, ok := strings.CutPrefix(l, prefix); ok {
				v = s
				return true
			}
		}
		return false
	})
	return v
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// metricValue returns the value of the sample name{labels} ("" if absent).
func metricValue(text, sample string) string {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetrics replays two real captures from two sockets and scrapes the
// flow counts tshark finds in them, per exporter, plus a truncated datagram
// as a decode error.
func TestMetrics(t *testing.T) {
	noLeak(t)
	ipfix := pcapPayloads(t, td+"softflowd/softflowd_v10.pcap")
	v5 := pcapPayloads(t, td+"generated-fprobe/fprobe_v5.pcap")
	wantIPFIX, wantV5 := len(tsharkFlows(t, "softflowd_v10.json")), len(tsharkFlows(t, "fprobe_v5.json"))

	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-json", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	a := send(t, addr, ipfix...)
	b := send(t, addr, v5...)
	c := send(t, addr, v5[0][:30]) // a v5 header that promises records it lacks
	sample := func(name string, ap netip.AddrPort, extra string) string {
		return fmt.Sprintf(`%s{%sexporter="%s"}`, name, extra, ap)
	}
	// Datagrams count when read, flows and errors when decoded: wait for
	// tshark's flow counts (a wrong count fails here, with the last scrape).
	var text string
	done := func() bool {
		return metricValue(text, sample("netflow_flows_total", a, "")) == fmt.Sprint(wantIPFIX) &&
			metricValue(text, sample("netflow_flows_total", b, "")) == fmt.Sprint(wantV5) &&
			metricValue(text, fmt.Sprintf(`netflow_decode_errors_total{exporter="%s",kind="truncated"}`, c)) == "1"
	}
	deadline := time.Now().Add(10 * time.Second)
	for text = scrape(t, maddr); !done() && time.Now().Before(deadline); text = scrape(t, maddr) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, fmt.Sprint(wantIPFIX), metricValue(text, sample("netflow_flows_total", a, "")), text)
	require.Equal(t, fmt.Sprint(wantV5), metricValue(text, sample("netflow_flows_total", b, "")), text)
	require.Equal(t, fmt.Sprint(len(ipfix)), metricValue(text, sample("netflow_datagrams_total", a, "")))
	require.Equal(t, fmt.Sprint(len(v5)), metricValue(text, sample("netflow_datagrams_total", b, "")))
	require.Equal(t, "1", metricValue(text, sample("netflow_datagrams_total", c, "")))
	require.Equal(t, "1", metricValue(text, fmt.Sprintf(`netflow_decode_errors_total{exporter="%s",kind="truncated"}`, c)))
	require.Equal(t, "0", metricValue(text, fmt.Sprintf(`netflow_decode_errors_total{exporter="%s",kind="truncated"}`, a)))
	require.Equal(t, "0", metricValue(text, fmt.Sprintf(`netflow_dropped_total{exporter="%s",reason="queue_full"}`, a)))
	require.NotEqual(t, "", metricValue(text, "netflow_templates"))
	require.NotEqual(t, "0", metricValue(text, "netflow_templates"), "softflowd's IPFIX templates are held")
	require.Equal(t, "0", metricValue(text, "netflow_pending_sets"))
	require.Contains(t, text, "go_goroutines ")
	require.Equal(t, 0, stop())
}

// TestMetricsExporterCap: beyond -metrics-exporters, sources share the
// label exporter="other", and their counts add up there.
func TestMetricsExporterCap(t *testing.T) {
	noLeak(t)
	v5 := pcapPayloads(t, td+"generated-fprobe/fprobe_v5.pcap")
	want := len(tsharkFlows(t, "fprobe_v5.json"))
	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-json", "-metrics", "127.0.0.1:0", "-metrics-exporters", "1")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	first := send(t, addr, v5...)
	waitFor(t, "first exporter counted", func() bool {
		return metricValue(scrape(t, maddr), fmt.Sprintf(`netflow_flows_total{exporter="%s"}`, first)) == fmt.Sprint(want)
	})
	second := send(t, addr, v5...)
	third := send(t, addr, v5...)
	var text string
	waitFor(t, "others counted", func() bool {
		text = scrape(t, maddr)
		return metricValue(text, `netflow_flows_total{exporter="other"}`) == fmt.Sprint(2*want)
	})
	require.Equal(t, fmt.Sprint(want), metricValue(text, fmt.Sprintf(`netflow_flows_total{exporter="%s"}`, first)))
	require.NotContains(t, text, second.String())
	require.NotContains(t, text, third.String())
	require.Equal(t, 0, stop())
}

// waitFlows waits until the collector's metrics count n flows from exporter.
func waitFlows(t *testing.T, maddr string, exporter netip.AddrPort, n int) {
	t.Helper()
	sample := fmt.Sprintf(`netflow_flows_total{exporter="%s"}`, exporter)
	waitFor(t, sample+" "+fmt.Sprint(n), func() bool { return metricValue(scrape(t, maddr), sample) == fmt.Sprint(n) })
}

// consume reads n records of topic from the start, within a deadline.
func consume(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
		recs = append(recs, fs.Records()...)
	}
	require.Len(t, recs, n, "records read back")
	// Nothing more comes.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	require.Empty(t, cl.PollFetches(short).Records(), "more records than flows")
	return recs
}

// newCluster starts an in-process Kafka cluster (kfake) of one broker with
// the topic "flows", closed when the test ends.
func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "flows"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	return cluster
}

// goneBrokers returns the addresses of a cluster closed again: a Kafka
// that answers no more.
func goneBrokers(t *testing.T) string {
	t.Helper()
	cluster := newCluster(t)
	brokers := strings.Join(cluster.ListenAddrs(), ",")
	cluster.Close()
	return brokers
}

// kafkaFlow is what the tests read of a flow the collector produced to
// Kafka (a record's value, or a line of one).
type kafkaFlow struct {
	Exporter string          `json:"exporter"`
	SrcAddr  string          `json:"src_addr"`
	DstAddr  string          `json:"dst_addr"`
	Packets  uint64          `json:"packets"`
	Bytes    uint64          `json:"bytes"`
	Fields   json.RawMessage `json:"fields"`
	Version  int             `json:"version"`
}

// summary is f's flowSummary, to compare with tshark's.
func (f *kafkaFlow) summary() string { return flowSummary(f.SrcAddr, f.DstAddr, f.Packets, f.Bytes) }

// checkKafkaFlows compares the records with tshark's flows.
func checkKafkaFlows(t *testing.T, recs []*kgo.Record, exporter netip.Addr, want []oracleFlow) {
	t.Helper()
	var got []string
	for _, r := range recs {
		require.Equal(t, exporter.String(), string(r.Key))
		require.True(t, json.Valid(r.Value), "%s", r.Value)
		var f kafkaFlow
		require.NoError(t, json.Unmarshal(r.Value, &f))
		require.True(t, strings.HasPrefix(f.Exporter, exporter.String()+":"), f.Exporter)
		require.NotEmpty(t, f.Fields, "v9/IPFIX records carry their fields")
		got = append(got, f.summary())
	}
	slices.Sort(got)
	require.Equal(t, tsharkSummaries(want), got)
}

// TestKafka replays a real IPFIX capture to a collector producing to an
// in-process Kafka cluster (kfake), stops it, and reads every flow back.
func TestKafka(t *testing.T) {
	noLeak(t)
	cluster := newCluster(t)
	payloads := pcapPayloads(t, td+"softflowd/softflowd_v10.pcap")
	want := tsharkFlows(t, "softflowd_v10.json")

	addr, stdout, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-kafka", strings.Join(cluster.ListenAddrs(), ","),
		"-topic", "flows", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	from := send(t, addr, payloads...)
	waitFlows(t, maddr, from, len(want))
	require.Equal(t, 0, stop())
	require.Empty(t, stdout.String(), "with -kafka nothing goes to stdout")
	require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d records produced, %d delivered, 0 failed", len(want), len(want)))
	checkKafkaFlows(t, consume(t, cluster.ListenAddrs(), "flows", len(want)), from.Addr(), want)
}

// TestKafkaSIGTERM: the collector process is signalled while its records
// linger in the producer's buffer; it flushes them before it exits.
func TestKafkaSIGTERM(t *testing.T) {
	t.Parallel() // a collector process: waits
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	bin := collectorBinary(t)
	cluster := newCluster(t)
	ipfix := pcapPayloads(t, td+"softflowd/softflowd_v10.pcap")
	want := tsharkFlows(t, "softflowd_v10.json")

	// A linger far longer than the test: only the flush at exit can send.
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-kafka", strings.Join(cluster.ListenAddrs(), ","),
		"-topic", "flows", "-kafka-linger", "1m", "-metrics", "127.0.0.1:0")
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	errs := bufio.NewReader(stderrPipe)
	first, err := errs.ReadString('\n')
	require.NoError(t, err)
	addr, err := netip.ParseAddrPort(strings.TrimSpace(strings.TrimPrefix(first, "listening on ")))
	require.NoError(t, err, first)
	second, err := errs.ReadString('\n')
	require.NoError(t, err)
	maddr, ok := strings.CutPrefix(strings.TrimSpace(second), "metrics on ")
	require.True(t, ok, second)
	from := send(t, addr, ipfix...)
	waitFlows(t, maddr, from, len(want)) // decoded and produced: they wait in the producer's buffer

	// Nothing reached the broker yet.
	probe, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("flows"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	require.Empty(t, probe.PollFetches(short).Records(), "records sent before the signal: the test proves nothing")
	cancel()
	probe.Close()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest := new(strings.Builder)
	errs.WriteTo(rest)
	require.NoError(t, cmd.Wait(), rest.String())
	require.Contains(t, rest.String(), fmt.Sprintf("kafka: %d records produced, %d delivered, 0 failed", len(want), len(want)))
	checkKafkaFlows(t, consume(t, cluster.ListenAddrs(), "flows", len(want)), from.Addr(), want)
}

// TestKafkaFailures: with the cluster gone, every flow's record fails
// after -kafka-timeout, is counted, and the collector still stops.
func TestKafkaFailures(t *testing.T) {
	noLeak(t)
	brokers := goneBrokers(t)
	payloads := pcapPayloads(t, td+"softflowd/softflowd_v10.pcap")
	want := len(tsharkFlows(t, "softflowd_v10.json"))

	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-kafka", brokers, "-topic", "flows",
		"-kafka-timeout", "1s", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	from := send(t, addr, payloads...)
	waitFlows(t, maddr, from, want)
	waitFor(t, "failures counted", func() bool {
		return metricValue(scrape(t, maddr), `netflow_kafka_records_total{result="failed"}`) == fmt.Sprint(want)
	})
	require.Equal(t, 0, stop())
	require.Contains(t, stderr.String(), fmt.Sprintf("kafka: %d records produced, 0 delivered, %d failed", want, want))
	require.Contains(t, stderr.String(), "kafka: first delivery failure: ")
}

// TestMetricsSequenceLoss: softflowd's twelve v5 datagrams of netflow5.dat
// with the fourth and the eighth left out. v5's flow_sequence counts flows,
// so the exporter's own headers say how many flows never arrived: the
// counts of the two missing datagrams (read from their headers here, not
// from the decoder), which netflow_sequence_lost_total must show.
func TestMetricsSequenceLoss(t *testing.T) {
	noLeak(t)
	msgs := netflow5Datagrams(t)
	var sent [][]byte
	wantLost := 0
	for i, m := range msgs {
		if i == 3 || i == 7 {
			wantLost += int(binary.BigEndian.Uint16(m[2:]))
			continue
		}
		sent = append(sent, m)
	}
	require.Positive(t, wantLost)

	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-json", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	from := send(t, addr, sent...)
	lost := fmt.Sprintf(`netflow_sequence_lost_total{exporter="%s"}`, from)
	var text string
	waitFor(t, "the loss counted", func() bool {
		text = scrape(t, maddr)
		return metricValue(text, lost) == fmt.Sprint(wantLost)
	})
	require.Equal(t, fmt.Sprint(wantLost), metricValue(text, lost), text)
	require.Equal(t, "0", metricValue(text, fmt.Sprintf(`netflow_sequence_late_total{exporter="%s"}`, from)))
	require.Equal(t, "0", metricValue(text, fmt.Sprintf(`netflow_sequence_restarts_total{exporter="%s"}`, from)))
	require.Equal(t, 0, stop())
}
