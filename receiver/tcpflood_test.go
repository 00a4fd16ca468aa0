//go:build linux

package receiver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// needFiles raises the soft limit on open files to n if it is lower (and
// the hard limit with it, which root may do); it skips the test if it
// cannot (fails it under CI).
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(lim.Max, n)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		if testkit.InCI() {
			t.Fatalf("RLIMIT_NOFILE %d, the test needs %d: %v", lim.Cur, n, err)
		}
		t.Skipf("RLIMIT_NOFILE %d, the test needs %d and cannot raise it: %v", lim.Cur, n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// inputFlow is one flow of testdata/softflowd/softflowd_input.pcap as its
// generator lists it (softflowd_input_flows.json): the exporter-independent
// oracle.
type inputFlow struct {
	SrcAddr  string `json:"src_addr"`
	DstAddr  string `json:"dst_addr"`
	Proto    uint8  `json:"proto"`
	SrcPort  uint16 `json:"src_port"`
	DstPort  uint16 `json:"dst_port"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	TCPFlags uint8  `json:"tcp_flags"`
}

func (f inputFlow) key() string {
	sp, dp := f.SrcPort, f.DstPort
	if f.Proto == 1 || f.Proto == 58 { // ICMP: type and code, however the exporter puts them
		sp, dp = 0, 0
	}
	return fmt.Sprintf("%s:%d->%s:%d/%d %d packets %d bytes flags %#x", f.SrcAddr, sp, f.DstAddr, dp, f.Proto,
		f.Packets, f.Bytes, f.TCPFlags)
}

func loadInputFlows(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../testdata/softflowd/softflowd_input_flows.json")
	require.NoError(t, err)
	var doc struct {
		Flows []inputFlow `json:"flows"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Flows)
	keys := make([]string, len(doc.Flows))
	for i, f := range doc.Flows {
		keys[i] = f.key()
	}
	return keys
}

func flowKeyOf(f netflow.Flow) string {
	return inputFlow{SrcAddr: f.SrcAddr.String(), DstAddr: f.DstAddr.String(), Proto: f.Proto, SrcPort: f.SrcPort,
		DstPort: f.DstPort, Packets: f.Packets, Bytes: f.Bytes, TCPFlags: f.TCPFlags}.key()
}

// TestReceiverTCPFloodSoftflowd is issue 20's item 3 measured: with the
// default bounds (1,024 connections, 128 per source address, IdleTimeout 5
// minutes), 2,000 idle connections (1,000 from 127.0.0.2, 1,000 from
// twenty other loopback addresses) and then 100 connections trickling a
// message a byte a second (each from an address of its own) are opened
// before a real exporter, softflowd -P tcp from 127.0.0.1, exports its
// flows. Every flow of its input must be handed over exactly once, with
// the generator's counters (softflowd_input_flows.json, not our decode);
// open connections never exceed MaxConnections; each connection is counted
// under one reason. MessageTimeout is 300 ms so that the tricklers are cut
// quickly (a byte a second is far under MinProgressRate anyway).
func TestReceiverTCPFloodSoftflowd(t *testing.T) {
	testkit.NeedTool(t, "softflowd")
	rxNoLeak(t)
	idle := testkit.SoakSize(2000, 5000)
	tricklers := testkit.SoakSize(100, 500)
	needFiles(t, uint64(idle+tricklers+2048)) // the clients, the open server sides, some slack

	var sink rxSink
	r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{MessageTimeout: 300 * time.Millisecond})
	dialed := uint64(0)
	atAccept := func() uint64 {
		st := r.Stats().TCP
		return st.Accepted + st.OverLimit + st.SourceLimit + st.Refused
	}
	maxOpen := uint64(0)
	checkOpen := func() {
		st := r.Stats().TCP
		maxOpen = max(maxOpen, st.Open)
		require.LessOrEqual(t, st.Open, uint64(receiver.DefaultMaxConnections))
	}
	var conns []net.Conn
	dial := func(from string) net.Conn {
		c := tcpDialFrom(t, from, addr)
		conns = append(conns, c)
		dialed++
		return c
	}
	// 1,000 idle from one address: 128 stay.
	for range idle / 2 {
		dial("127.0.0.2")
	}
	rxWaitFor(t, "the first idle half at accept", func() bool { return atAccept() == dialed })
	checkOpen()
	assert.EqualValues(t, receiver.DefaultMaxConnectionsPerSource, r.Stats().TCP.Open)
	assert.EqualValues(t, idle/2-receiver.DefaultMaxConnectionsPerSource, r.Stats().TCP.SourceLimit)
	// 1,000 idle from 127.0.1.1-20, in turn: together past the bound.
	for i := range idle - idle/2 {
		dial(fmt.Sprintf("127.0.1.%d", 1+i%20))
		if i%100 == 0 {
			checkOpen()
		}
	}
	rxWaitFor(t, "the idle connections at accept", func() bool { return atAccept() == dialed })
	checkOpen()
	require.EqualValues(t, receiver.DefaultMaxConnections, r.Stats().TCP.Open, "every slot taken")

	// Tricklers, each from an address of its own: a newcomer gets in
	// (in place of an idle connection of a busier source), and is cut by
	// the progress deadline.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { close(stop) }) // before wg.Wait: cleanups run last first
	msg := testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...))
	for i := range tricklers {
		c := dial(fmt.Sprintf("127.0.%d.%d", 2+i/250, 1+i%250))
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickle(c, msg, time.Second, stop)
		}()
	}
	rxWaitFor(t, "every trickler cut", func() bool { return r.Stats().TCP.Slow == uint64(tricklers) })
	checkOpen()
	before := r.Stats()

	// The real exporter.
	sfAddr := runSoftflowd(t, addr)
	rxWaitFor(t, "softflowd's connection closed", func() bool { return r.Stats().TCP.Closed == 1 })
	checkOpen()

	want := loadInputFlows(t)
	sink.mu.Lock()
	var got []string
	for _, f := range sink.flows {
		require.Equal(t, sfAddr, f.Exporter.Addr(), "only softflowd sends flows")
		got = append(got, flowKeyOf(f))
	}
	sink.mu.Unlock()
	assert.ElementsMatch(t, want, got, "every flow of the input, once")
	assert.Empty(t, sink.errs)

	st := r.Stats().TCP
	t.Logf("%d idle + %d trickling connections, then softflowd: %d of %d flows handed over; "+
		"open at most %d; accepted %d, source limit %d, over limit %d, evicted %d, slow %d, closed %d; "+
		"%d evictions before softflowd came",
		idle, tricklers, len(got), len(want), maxOpen, st.Accepted, st.SourceLimit, st.OverLimit, st.Evicted,
		st.Slow, st.Closed, before.TCP.Evicted)
	assert.Equal(t, dialed+1, atAccept(), "every connection counted once at accept")
	assert.Equal(t, st.Accepted, st.Open+st.Evicted+st.Slow+st.Closed+st.IdleClosed+st.StreamErrors+st.NoFirstMessage,
		"every accepted connection open or counted once at its end: %+v", st)
	assert.Positive(t, st.Evicted)
	cancel()
}

// runSoftflowd runs softflowd 1.1.0 on testdata/softflowd/softflowd_input.pcap,
// exporting IPFIX over TCP to addr, and returns the address it connected
// from (127.0.0.1).
func runSoftflowd(t *testing.T, addr netip.AddrPort) netip.Addr {
	t.Helper()
	in, err := filepath.Abs("../testdata/softflowd/softflowd_input.pcap")
	require.NoError(t, err)
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	cmd := exec.CommandContext(ctx, "softflowd", "-r", in, "-a", "-d", "-c", "none",
		"-p", filepath.Join(t.TempDir(), "pid"), "-n", addr.String(), "-P", "tcp", "-v", "10")
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Run(), "%v\n%s", cmd, out)
	return netip.MustParseAddr("127.0.0.1")
}
