package receiver_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/netflow/receiver"
)

// Knobs for investigating loss; the benchmarks otherwise run with the
// receiver's defaults (only Sockets and BatchSize vary), which is what a user
// gets. Pass them after -args, e.g. -args -rxbench.readbuffer=4194304.
var (
	rxBenchReadBuffer = flag.Int("rxbench.readbuffer", 0, "receiver.Config.ReadBuffer in the loopback benchmarks (0: default)")
	rxBenchQueueLen   = flag.Int("rxbench.queuelen", 0, "receiver.Config.QueueLen in the loopback benchmarks (0: default)")
	rxBenchWorkers    = flag.Int("rxbench.workers", 0, "receiver.Config.Workers in the loopback benchmarks (0: default)")
	rxBenchOneSource  = flag.Bool("rxbench.onesource", false, "send from four ports of 127.0.0.1 rather than from 127.0.0.1-4")
)

// rxBenchRate is the paced send rate, datagrams per second.
const rxBenchRate = 100_000

// rxBenchRates are the send rates of the loopback benchmarks: as fast as one
// goroutine can (0), and paced at rxBenchRate.
var rxBenchRates = []int{0, rxBenchRate}

func rateName(rate int) string {
	if rate == 0 {
		return "rate=full"
	}
	return fmt.Sprintf("rate=%d", rate)
}

// BenchmarkReceiverLoopback sends 30-flow datagrams (v5 of 1464 bytes; v9 of
// 1376 bytes, 18-field template sent first) on loopback from one goroutine,
// as fast as it can (rate=full) or paced at 100,000 datagrams/s, from four
// exporters (127.0.0.1-4, so that workers and SO_REUSEPORT sockets can share
// them), to a Receiver with default settings but for Sockets and BatchSize.
// It reports what the receiver took in: datagrams per second sent, received
// and decoded, flows per second, and the loss (datagrams sent but not
// decoded, in percent; the kernel's part of it as kdrop%, the full worker
// queues' as qdrop%). ns/op and allocs/op are per datagram sent, sender
// included. Compare with BenchmarkReceiverBaseline.
//
//	go test -run '^$' -bench 'ReceiverLoopback|ReceiverBaseline' -benchtime 300000x -count 3
func BenchmarkReceiverLoopback(b *testing.B) {
	for _, version := range []string{"v5", "v9"} {
		for _, rate := range rxBenchRates {
			for _, sockets := range []int{1, 2} {
				for _, batch := range []int{1, 32} {
					if sockets > 1 && runtime.GOOS != "linux" {
						continue
					}
					name := fmt.Sprintf("%s/%s/sockets=%d/batch=%d", version, rateName(rate), sockets, batch)
					b.Run(name, func(b *testing.B) {
						benchReceiver(b, version, rate, receiver.Config{
							Sockets:    sockets,
							BatchSize:  batch,
							ReadBuffer: *rxBenchReadBuffer,
							QueueLen:   *rxBenchQueueLen,
							Workers:    *rxBenchWorkers,
						})
					})
				}
			}
		}
	}
}

// BenchmarkReceiverBaseline is the yardstick of BenchmarkReceiverLoopback: the
// same sender (30-flow v5 datagrams, 1464 bytes) and a bare
// net.ListenUDP + ReadFromUDPAddrPort loop with default socket settings that
// only counts what it reads (-rxbench.readbuffer sets SO_RCVBUF, capped by
// net.core.rmem_max).
func BenchmarkReceiverBaseline(b *testing.B) {
	for _, rate := range rxBenchRates {
		b.Run(rateName(rate), func(b *testing.B) {
			benchBareLoop(b, rate)
		})
	}
}

func benchBareLoop(b *testing.B, rate int) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if *rxBenchReadBuffer > 0 {
		if err := c.SetReadBuffer(*rxBenchReadBuffer); err != nil {
			b.Fatal(err)
		}
	}
	addr := c.LocalAddr().(*net.UDPAddr).AddrPort()
	var recv atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			recv.Add(1)
		}
	}()
	senders := dialSenders(b, addr)
	d := rxV5(0, 0, 30)
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent, sendTime := sendLoad(senders, d, v5Seq, b.N, rate)
	got, lastChange := drain(func() (uint64, uint64) {
		n := recv.Load()
		return n, n
	}, uint64(sent))
	b.StopTimer()
	kdrops, kok := procUDPDrops(addr.Port())
	c.Close()
	<-done
	elapsed := lastChange.Sub(start).Seconds()
	b.ReportMetric(float64(sent)/sendTime.Seconds(), "sent/s")
	b.ReportMetric(float64(got)/elapsed, "recv/s")
	if sent > 0 {
		b.ReportMetric(100*(1-float64(got)/float64(sent)), "loss%")
		if kok {
			b.ReportMetric(100*float64(kdrops)/float64(sent), "kdrop%")
		}
	}
}

func benchReceiver(b *testing.B, version string, rate int, cfg receiver.Config) {
	r := receiver.New(nil, cfg)
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	senders := dialSenders(b, addr)
	var (
		d   []byte
		seq func([]byte, int, int)
	)
	switch version {
	case "v5":
		d, seq = rxV5(0, 0, 30), v5Seq
	case "v9":
		// Each exporter announces the template once, before the run.
		tmpl := rxBenchV9Template()
		for _, s := range senders {
			if _, err := s.Write(tmpl); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			t := r.Stats().Total
			if t.Decoded+t.Failed >= uint64(len(senders)) {
				if t.Failed > 0 || t.Flows > 0 {
					b.Fatalf("template datagrams: %+v", t)
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("templates not all received: %+v", t)
			}
			time.Sleep(time.Millisecond)
		}
		d, seq = rxBenchV9Data(30), v9Seq
	}
	before := r.Stats()
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent, sendTime := sendLoad(senders, d, seq, b.N, rate)
	_, lastChange := drain(func() (uint64, uint64) {
		st := r.Stats()
		t := st.Total
		return t.Datagrams + t.Decoded, t.Decoded - before.Total.Decoded + t.Failed + t.Dropped + st.KernelDrops
	}, uint64(sent))
	b.StopTimer()
	kdrops, kok := procUDPDrops(addr.Port())
	cancel()
	st := r.Stats()
	if !kok {
		kdrops = st.KernelDrops
	}
	t := st.Total
	t.Datagrams -= before.Total.Datagrams
	t.Decoded -= before.Total.Decoded
	elapsed := lastChange.Sub(start).Seconds()
	b.ReportMetric(float64(sent)/sendTime.Seconds(), "sent/s")
	b.ReportMetric(float64(t.Datagrams)/elapsed, "recv/s")
	b.ReportMetric(float64(t.Decoded)/elapsed, "decoded/s")
	b.ReportMetric(float64(t.Flows)/elapsed, "flows/s")
	if sent > 0 {
		b.ReportMetric(100*(1-float64(t.Decoded)/float64(sent)), "loss%")
		b.ReportMetric(100*float64(kdrops)/float64(sent), "kdrop%")
		b.ReportMetric(100*float64(t.Dropped)/float64(sent), "qdrop%")
	}
	if t.Failed > 0 {
		b.Errorf("%d datagrams failed to decode", t.Failed)
	}
	if t.Flows != 30*t.Decoded {
		b.Errorf("%d flows in %d datagrams, want 30 each", t.Flows, t.Decoded)
	}
}

// drain waits until progress reports everything sent accounted for, or its
// first figure has not moved for 50 ms. progress returns a figure that moves
// while datagrams arrive and the number accounted for. drain returns the
// latter and when the former last moved.
func drain(progress func() (moving, accounted uint64), sent uint64) (uint64, time.Time) {
	last, acc := progress()
	lastChange := time.Now()
	for acc < sent && time.Since(lastChange) <= 50*time.Millisecond {
		time.Sleep(time.Millisecond)
		var m uint64
		m, acc = progress()
		if m != last {
			last, lastChange = m, time.Now()
		}
	}
	return acc, lastChange
}

// dialSenders returns four UDP sockets connected to addr: from 127.0.0.1,
// .2, .3 and .4 on Linux (four exporters, spread over the workers), else from
// four ports of 127.0.0.1 (four exporters of one address: one worker).
func dialSenders(b *testing.B, addr netip.AddrPort) []*net.UDPConn {
	var senders []*net.UDPConn
	for i := range 4 {
		var laddr *net.UDPAddr
		if runtime.GOOS == "linux" && !*rxBenchOneSource {
			laddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
		}
		c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		senders = append(senders, c)
	}
	return senders
}

// sendLoad sends n datagrams d round-robin over conns, calling seq(d, conn,
// k) before the kth datagram of a conn: as fast as it can with rate 0, else
// paced at rate datagrams per second by a time budget, rate/1000 datagrams
// per millisecond slot (sleeping when ahead, catching up when behind). It
// returns the number sent without error and the time it took.
func sendLoad(conns []*net.UDPConn, d []byte, seq func(d []byte, conn, k int), n, rate int) (int, time.Duration) {
	start := time.Now()
	sent := 0
	for i := 0; i < n; {
		end := n
		if rate > 0 {
			slot := time.Since(start) / time.Millisecond
			end = min(n, int((int64(slot)+1)*int64(rate)/1000))
			if i >= end {
				time.Sleep(time.Until(start.Add((slot + 1) * time.Millisecond)))
				continue
			}
		}
		for ; i < end; i++ {
			c := i % len(conns)
			seq(d, c, i/len(conns))
			if _, err := conns[c].Write(d); err == nil {
				sent++
			}
		}
	}
	return sent, time.Since(start)
}

// v5Seq sets the flow sequence of the kth 30-flow v5 datagram of an exporter.
func v5Seq(d []byte, _, k int) { binary.BigEndian.PutUint32(d[16:], uint32(k*30)) }

// v9Seq sets the sequence of the kth v9 data datagram of an exporter (the
// template was number 0).
func v9Seq(d []byte, _, k int) { binary.BigEndian.PutUint32(d[12:], uint32(k+1)) }

// rxBenchV9Fields is an 18-field v9 template (45-byte records): addresses,
// next hop, interfaces, packets, octets, first/last uptime, ports, flags,
// protocol, ToS, AS numbers and masks.
var rxBenchV9Fields = [][2]uint16{
	{8, 4}, {12, 4}, {15, 4}, {10, 2}, {14, 2}, {2, 4}, {1, 4},
	{22, 4}, {21, 4}, {7, 2}, {11, 2}, {6, 1}, {4, 1}, {5, 1},
	{16, 2}, {17, 2}, {9, 1}, {13, 1},
}

const rxBenchTemplateID = 256

func rxBenchV9Header(seq uint32) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], 9)
	binary.BigEndian.PutUint16(b[2:], 1)          // one flowset
	binary.BigEndian.PutUint32(b[4:], 100000)     // sys uptime, ms
	binary.BigEndian.PutUint32(b[8:], 1700000000) // unix secs
	binary.BigEndian.PutUint32(b[12:], seq)
	binary.BigEndian.PutUint32(b[16:], 1) // source ID
	return b
}

// rxBenchV9Template returns a v9 datagram defining template 256.
func rxBenchV9Template() []byte {
	b := rxBenchV9Header(0)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(4+4+4*len(rxBenchV9Fields)))
	b = binary.BigEndian.AppendUint16(b, rxBenchTemplateID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rxBenchV9Fields)))
	for _, f := range rxBenchV9Fields {
		b = binary.BigEndian.AppendUint16(b, f[0])
		b = binary.BigEndian.AppendUint16(b, f[1])
	}
	return b
}

// rxBenchV9Data returns a v9 datagram of n records of template 256.
func rxBenchV9Data(n int) []byte {
	b := rxBenchV9Header(1)
	fs := len(b)
	b = append(b, 0, 0, 0, 0)
	for i := range n {
		for _, f := range rxBenchV9Fields {
			var v uint64
			switch f[0] {
			case 8:
				v = 0xc0000200 | uint64(i+1) // 192.0.2.x
			case 12:
				v = 0xc6336400 | uint64(i+1) // 198.51.100.x
			case 15:
				v = 0xc0000201
			case 10, 14:
				v = uint64(1 + i%8)
			case 2:
				v = uint64(i + 1)
			case 1:
				v = uint64(i+1) * 100
			case 22:
				v = 90000
			case 21:
				v = 95000
			case 7:
				v = uint64(1000 + i)
			case 11:
				v = 80
			case 6:
				v = 0x1b
			case 4:
				v = 6
			case 16, 17:
				v = 64500
			case 9, 13:
				v = 24
			}
			for k := int(f[1]) - 1; k >= 0; k-- {
				b = append(b, byte(v>>(8*k)))
			}
		}
	}
	for (len(b)-fs)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[fs:], rxBenchTemplateID)
	binary.BigEndian.PutUint16(b[fs+2:], uint16(len(b)-fs))
	return b
}

// procUDPDrops sums the drop counters Linux keeps for the UDP sockets bound
// to local port port (/proc/net/udp and udp6: datagrams the kernel dropped,
// mostly for a full receive buffer, including those after the last read).
func procUDPDrops(port uint16) (uint64, bool) {
	want := fmt.Sprintf(":%04X", port)
	var sum uint64
	found := false
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 || fields[0] == "sl" || !strings.HasSuffix(fields[1], want) {
				continue
			}
			n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64)
			if err != nil {
				continue
			}
			sum += n
			found = true
		}
		f.Close()
	}
	return sum, found
}
