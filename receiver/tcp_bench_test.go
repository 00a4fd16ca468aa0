package receiver_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// BenchmarkReceiverTCP streams IPFIX messages of 30 records (layoutA, 886
// bytes) over one loopback TCP connection to a receiver with no handler,
// and reports messages and flows decoded per second. ns/op and allocs/op
// are per message, the sender included.
//
//	go test -run '^$' -bench ReceiverTCP -benchtime 200000x ./receiver/
func BenchmarkReceiverTCP(b *testing.B) {
	r := receiver.New(nil, receiver.Config{})
	addr, cancel, err := r.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	recs := make([][]byte, 30)
	for i := range recs {
		recs[i] = recordA(addrA1, addrA2, uint16(1000+i), 443, 6, 10, 1000)
	}
	msg := testkit.IPFIXMessage(1, 0, testkit.IPFIXDataSet(256, recs...))
	w := bufio.NewWriterSize(c, 64<<10)
	if _, err := w.Write(testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := w.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for r.Stats().Total.Decoded < uint64(b.N)+1 {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	st := r.Stats().Total
	if st.Failed != 0 {
		b.Fatalf("decode failures: %+v", st)
	}
	b.ReportMetric(float64(b.N)/elapsed, "msgs/s")
	b.ReportMetric(float64(st.Flows)/elapsed, "flows/s")
}
