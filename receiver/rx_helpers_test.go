package receiver_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
)

// rxCoalesceCases are the Config.ReadCoalesce of the tests run both ways:
// reading at once, and coalescing reads (a detached socket on Linux).
var rxCoalesceCases = []time.Duration{0, 10 * time.Millisecond}

// rxNoLeak fails t if the goroutines started during the test have not all
// ended once its other cleanups ran. Call it first in a test.
func rxNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// rxV5 builds a NetFlow v5 datagram of n records. Record i goes from
// 192.0.2.(i+1):(1000+i) to 198.51.100.(i+1):80 over TCP, with i+1 packets
// and (i+1)*100 bytes.
func rxV5(seq uint32, engineID uint8, n int) []byte {
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 100000)     // sys uptime, ms
	binary.BigEndian.PutUint32(b[8:], 1700000000) // unix secs
	binary.BigEndian.PutUint32(b[16:], seq)
	b[21] = engineID
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:], []byte{192, 0, 2, byte(i + 1)})
		copy(r[4:], []byte{198, 51, 100, byte(i + 1)})
		binary.BigEndian.PutUint32(r[16:], uint32(i+1))
		binary.BigEndian.PutUint32(r[20:], uint32(i+1)*100)
		binary.BigEndian.PutUint32(r[24:], 90000)
		binary.BigEndian.PutUint32(r[28:], 95000)
		binary.BigEndian.PutUint16(r[32:], uint16(1000+i))
		binary.BigEndian.PutUint16(r[34:], 80)
		r[37] = 0x1b
		r[38] = 6
	}
	return b
}

// rxSink collects what a Receiver hands over.
type rxSink struct {
	mu    sync.Mutex
	flows []netflow.Flow
	errs  []error
	data  [][]byte
	seqs  map[netip.AddrPort][]uint32
	calls int
}

func (s *rxSink) handle(d *receiver.Datagram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.seqs == nil {
		s.seqs = make(map[netip.AddrPort][]uint32)
	}
	if d.Packet != nil {
		s.flows = d.Packet.AppendFlows(s.flows)
		if p, ok := d.Packet.(*netflow.V5Packet); ok {
			s.seqs[d.Exporter] = append(s.seqs[d.Exporter], p.Header.FlowSequence)
		}
	}
	if d.Err != nil {
		s.errs = append(s.errs, d.Err)
		s.data = append(s.data, bytes.Clone(d.Data))
	}
}

func (s *rxSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// rxWaitFor polls cond for up to 10 s.
func rxWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rxDial(t *testing.T, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rxSend(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}
