package receiver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"net/netip"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
)

// tsharkFlow is one data record as tshark decodes it.
type tsharkFlow struct {
	key                 string // src:sport->dst:dport/proto
	packets, bytes      uint64
	tos, tcpFlags       uint64
	startUp, endUp      time.Duration // flowStart/EndSysUpTime, since system init
	hasPorts, hasFlags  bool
	hasTimes, hasTosVal bool
}

func flowKey(src, dst netip.Addr, sport, dport uint16, proto uint8) string {
	return fmt.Sprintf("%v:%d->%v:%d/%d", src, sport, dst, dport, proto)
}

// tsharkDecode decodes the IPFIX-over-TCP stream to port in a capture with
// tshark, returning its data records and the system init time of the
// exporter (from its options record).
func tsharkDecode(t *testing.T, pcap string, port uint16) ([]tsharkFlow, time.Time) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-d", fmt.Sprintf("tcp.port==%d,cflow", port),
		"-T", "json", "--no-duplicate-keys").Output()
	require.NoError(t, err, "tshark")
	var doc any
	require.NoError(t, json.Unmarshal(out, &doc))
	var flows []tsharkFlow
	var sysInit time.Time
	var walk func(v any)
	str := func(m map[string]any, k string) (string, bool) {
		s, ok := m[k].(string)
		return s, ok
	}
	num := func(m map[string]any, k string) uint64 {
		s, _ := str(m, k)
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), map[bool]int{true: 16, false: 10}[strings.HasPrefix(s, "0x")], 64)
		require.NoError(t, err, "%s=%q", k, s)
		return n
	}
	secs := func(s string) time.Duration {
		f, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		return time.Duration(f*1000+0.5) * time.Millisecond
	}
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if s, ok := str(v, "cflow.sys_init_time"); ok {
				at, err := time.Parse("Jan _2, 2006 15:04:05.000000000 MST", s)
				require.NoError(t, err)
				sysInit = at
			}
			src, ok4 := str(v, "cflow.srcaddr")
			dst, _ := str(v, "cflow.dstaddr")
			if s6, ok6 := str(v, "cflow.srcaddrv6"); ok6 {
				src, ok4 = s6, true
				dst, _ = str(v, "cflow.dstaddrv6")
			}
			if !ok4 {
				for _, e := range v {
					walk(e)
				}
				return
			}
			var f tsharkFlow
			var sport, dport uint64
			if _, ok := v["cflow.srcport"]; ok {
				sport, dport, f.hasPorts = num(v, "cflow.srcport"), num(v, "cflow.dstport"), true
			}
			f.key = flowKey(netip.MustParseAddr(src), netip.MustParseAddr(dst), uint16(sport), uint16(dport),
				uint8(num(v, "cflow.protocol")))
			f.packets, f.bytes = num(v, "cflow.packets"), num(v, "cflow.octets")
			if _, ok := v["cflow.tcpflags"]; ok {
				f.tcpFlags, f.hasFlags = num(v, "cflow.tcpflags"), true
			}
			if _, ok := v["cflow.tos"]; ok {
				f.tos, f.hasTosVal = num(v, "cflow.tos"), true
			}
			if td, ok := v["cflow.timedelta_tree"].(map[string]any); ok {
				st, ok1 := str(td, "cflow.timestart")
				if abs, ok := str(td, "cflow.abstimestart"); !ok1 && ok && strings.HasPrefix(abs, "Jan  1, 1970 00:00:00.") {
					// tshark 4.0 shows a flowStartSysUpTime of 0 as the
					// epoch (DESIGN.md section 9).
					st, ok1 = "0", true
				}
				en, ok2 := str(td, "cflow.timeend")
				if ok1 && ok2 {
					f.startUp, f.endUp, f.hasTimes = secs(st), secs(en), true
				}
			}
			flows = append(flows, f)
		}
	}
	walk(doc)
	return flows, sysInit
}

// startCapture runs tcpdump on loopback for TCP port port until the
// returned func is called (it stops tcpdump by its PID and waits for it).
// --immediate-mode: without it the packets of the last ring block are
// still in the kernel when tcpdump is interrupted, and lost.
func startCapture(t *testing.T, pcap string, port uint16) func() {
	t.Helper()
	cmd := exec.Command("tcpdump", "-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0", "-w", pcap, fmt.Sprintf("tcp and port %d", port))
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("tcpdump did not start")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestReceiverSoftflowdTCP runs the real softflowd exporting IPFIX over TCP
// (-P tcp) to the receiver's TCP listener, captures the connection with
// tcpdump meanwhile, and checks that every flow the receiver hands over
// equals tshark's decode of that capture: addresses, ports, protocol,
// counters, ToS, TCP flags and times.
func TestReceiverSoftflowdTCP(t *testing.T) {
	for _, tool := range []string{"softflowd", "tcpdump", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install softflowd tcpdump tshark): skipping", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("tcpdump on lo needs root: skipping")
	}
	rxNoLeak(t)
	var sink rxSink
	r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{})
	pcap := filepath.Join(t.TempDir(), "tcp.pcap")
	if d := os.Getenv("RX_KEEP_PCAP"); d != "" { // keep the capture for a look with tshark
		pcap = d
	}
	stopCapture := startCapture(t, pcap, addr.Port())

	in, err := filepath.Abs("../testdata/softflowd/softflowd_input.pcap")
	require.NoError(t, err)
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	cmd := exec.CommandContext(ctx, "softflowd", "-r", in, "-a", "-d", "-c", "none",
		"-p", filepath.Join(t.TempDir(), "pid"), "-n", addr.String(), "-P", "tcp", "-v", "10")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%v\n%s", cmd, out)
	// softflowd closes its connection at the end of the file.
	rxWaitFor(t, "softflowd's connection closed", func() bool {
		st := r.Stats().TCP
		return st.Accepted == 1 && st.Open == 0
	})
	stopCapture()
	cancel()

	want, sysInit := tsharkDecode(t, pcap, addr.Port())
	require.NotEmpty(t, want, "tshark found no flows in the capture")
	require.False(t, sysInit.IsZero(), "no system init time in the capture")
	st := r.Stats()
	assert.Zero(t, st.Total.Failed, "decode errors: %v", sink.errs)
	assert.EqualValues(t, len(want), st.Total.Flows)
	assert.Equal(t, receiver.TCPStats{Accepted: 1, Closed: 1}, st.TCP)

	got := make(map[string]netflow.Flow)
	for _, f := range sink.flows {
		if !f.Known.Has(netflow.FieldSrcPort) {
			f.SrcPort, f.DstPort = 0, 0
		}
		k := flowKey(f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto)
		_, dup := got[k]
		require.False(t, dup, "flow %s twice", k)
		got[k] = f
	}
	for _, w := range want {
		f, ok := got[w.key]
		if !assert.True(t, ok, "flow %s (tshark) not handed over", w.key) {
			continue
		}
		assert.Equal(t, w.packets, f.Packets, w.key)
		assert.Equal(t, w.bytes, f.Bytes, w.key)
		assert.Equal(t, uint16(10), f.Version, w.key)
		if w.hasFlags {
			assert.EqualValues(t, w.tcpFlags, f.TCPFlags, w.key)
		}
		if w.hasTosVal {
			assert.EqualValues(t, w.tos, f.ToS, w.key)
		}
		if assert.True(t, w.hasTimes, w.key) {
			assert.Equal(t, sysInit.Add(w.startUp).UTC(), f.Start.UTC(), "%s start", w.key)
			assert.Equal(t, sysInit.Add(w.endUp).UTC(), f.End.UTC(), "%s end", w.key)
		}
	}
	assert.Len(t, got, len(want))
	t.Logf("softflowd over TCP: %d messages, %d flows, each equal to tshark's decode", st.Total.Datagrams, len(want))
}
