package netflow_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

// BenchmarkReceiverLoopback sends 30-flow v5 datagrams on loopback as fast
// as one goroutine can, from four source ports (four exporters, so that
// SO_REUSEPORT sockets and workers can share them), and reports what the
// receiver took in: datagrams per second received and decoded, flows per
// second, and the loss (datagrams sent but not decoded, in percent; the
// kernel's part of it as kdrop%, the full worker queues' as qdrop%). ns/op and allocs/op are per datagram sent,
// sender included.
//
//	go test -run '^$' -bench ReceiverLoopback -benchtime 300000x
func BenchmarkReceiverLoopback(b *testing.B) {
	for _, sockets := range []int{1, 2} {
		for _, batch := range []int{1, 32} {
			if sockets > 1 && runtime.GOOS != "linux" {
				continue
			}
			b.Run(fmt.Sprintf("sockets=%d/batch=%d", sockets, batch), func(b *testing.B) {
				benchReceiver(b, netflow.ReceiverConfig{Sockets: sockets, BatchSize: batch, ReadBuffer: 8 << 20})
			})
		}
	}
}

func benchReceiver(b *testing.B, cfg netflow.ReceiverConfig) {
	r := netflow.NewReceiver(nil, cfg)
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	var senders []*net.UDPConn
	for range 4 {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		senders = append(senders, c)
	}
	d := rxV5(0, 0, 30)
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for i := range b.N {
		binary.BigEndian.PutUint32(d[16:], uint32(i*30))
		if _, err := senders[i%len(senders)].Write(d); err == nil {
			sent++
		}
	}
	sendTime := time.Since(start)
	// Wait until everything is accounted for or nothing moved for 50 ms.
	last, lastChange := r.Stats(), time.Now()
	for {
		time.Sleep(time.Millisecond)
		st := r.Stats()
		t := st.Total
		if t != last.Total {
			last, lastChange = st, time.Now()
		}
		if t.Decoded+t.Failed+t.Dropped+st.KernelDrops >= uint64(sent) || time.Since(lastChange) > 50*time.Millisecond {
			break
		}
	}
	b.StopTimer()
	cancel()
	st := r.Stats()
	elapsed := lastChange.Sub(start).Seconds()
	b.ReportMetric(float64(sent)/sendTime.Seconds(), "sent/s")
	b.ReportMetric(float64(st.Total.Datagrams)/elapsed, "recv/s")
	b.ReportMetric(float64(st.Total.Decoded)/elapsed, "decoded/s")
	b.ReportMetric(float64(st.Total.Flows)/elapsed, "flows/s")
	if sent > 0 {
		b.ReportMetric(100*(1-float64(st.Total.Decoded)/float64(sent)), "loss%")
		b.ReportMetric(100*float64(st.KernelDrops)/float64(sent), "kdrop%")
		b.ReportMetric(100*float64(st.Total.Dropped)/float64(sent), "qdrop%")
	}
	if st.Total.Failed > 0 {
		b.Errorf("%d datagrams failed to decode", st.Total.Failed)
	}
}
