package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// ipfixTCPPort is the IANA port of IPFIX over TCP (RFC 7011 section 10.4).
const ipfixTCPPort = 4739

// Bounds on what the assembler buffers while it waits for missing segments
// (pages of 1900 bytes): when one is reached, it gives up waiting and the
// stream resynchronises past the gap.
const (
	maxPagesPerConn = 4096  // about 7.4 MiB
	maxPagesTotal   = 32768 // about 59 MiB
	// gapWait is how long, in capture time, data waits for a missing segment
	// before the gap is given up on.
	gapWait = 30 * time.Second
)

// tcpAssembly reassembles the TCP streams of one capture file with
// gopacket's reassembly package and frames the IPFIX messages each
// direction carries. Each direction is its own exporter (its source address
// and port), so templates of two streams never mix.
type tcpAssembly struct {
	d    *dumper
	file string
	asm  *reassembly.Assembler

	halves    []*tcpHalf // in the order their connection was first seen
	flushing  bool       // inside a flush: events are queued on their half
	lastFlush time.Time
	frame     int // the frame being assembled
}

func newTCPAssembly(d *dumper, file string) *tcpAssembly {
	a := &tcpAssembly{d: d, file: file}
	a.asm = reassembly.NewAssembler(reassembly.NewStreamPool(a))
	a.asm.MaxBufferedPagesPerConnection = maxPagesPerConn
	a.asm.MaxBufferedPagesTotal = maxPagesTotal
	return a
}

// frameContext is the reassembly.AssemblerContext of one frame.
type frameContext struct {
	ci    gopacket.CaptureInfo
	frame int
}

func (c *frameContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// segment hands one TCP segment to the assembler. netFlow is its IP
// layer's flow.
func (a *tcpAssembly) segment(netFlow gopacket.Flow, tcp *layers.TCP, ci gopacket.CaptureInfo, frame int) {
	a.frame = frame
	a.asm.AssembleWithContext(netFlow, tcp, &frameContext{ci: ci, frame: frame})
	if ts := ci.Timestamp; ts.Sub(a.lastFlush) > gapWait/3 || ts.Before(a.lastFlush) {
		a.lastFlush = ts
		a.flush(func() { a.asm.FlushWithOptions(reassembly.FlushOptions{T: ts.Add(-gapWait)}) })
	}
}

// end flushes what is left at the end of the capture and closes every
// stream.
func (a *tcpAssembly) end() {
	a.flush(func() { a.asm.FlushAll() })
	for _, h := range a.halves {
		h.close()
	}
}

// flush runs a flush of the assembler, which visits connections in map
// order, and then replays what it delivered half by half in the order the
// connections were first seen, so that the output does not depend on that
// order.
func (a *tcpAssembly) flush(f func()) {
	a.flushing = true
	f()
	a.flushing = false
	kept := a.halves[:0]
	for _, h := range a.halves {
		q := h.queue
		h.queue = nil
		for _, ev := range q {
			h.event(ev)
		}
		if !h.closed {
			kept = append(kept, h)
		}
	}
	clear(a.halves[len(kept):])
	a.halves = kept
}

// New implements reassembly.StreamFactory.
func (a *tcpAssembly) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	src, ok1 := endpointAddr(netFlow.Src(), tcpFlow.Src())
	dst, ok2 := endpointAddr(netFlow.Dst(), tcpFlow.Dst())
	c := &tcpConn{a: a}
	for i, e := range [2][2]netip.AddrPort{{src, dst}, {dst, src}} {
		h := &tcpHalf{a: a, src: e[0], dst: e[1], ignored: !ok1 || !ok2}
		if a.d.port != 0 && h.dst.Port() != a.d.port {
			h.ignored = true
		}
		c.half[i] = h
		a.halves = append(a.halves, h)
	}
	return c
}

func endpointAddr(ip, port gopacket.Endpoint) (netip.AddrPort, bool) {
	addr, ok := addrOf(ip.Raw())
	if !ok || len(port.Raw()) != 2 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(port.Raw())), true
}

// tcpConn is one connection: a reassembly.Stream with its two directions.
type tcpConn struct {
	a    *tcpAssembly
	half [2]*tcpHalf // by reassembly.TCPFlowDirection: client to server, server to client
}

func dirIndex(dir reassembly.TCPFlowDirection) int {
	if dir == reassembly.TCPDirServerToClient {
		return 1
	}
	return 0
}

// Accept implements reassembly.Stream. A direction whose first segment is
// not a SYN started before the capture did: its start is forced there, and
// its bytes are resynchronised on the first valid message header.
func (c *tcpConn) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	h := c.half[dirIndex(dir)]
	if h.ignored || h.closed {
		return false
	}
	if !h.seen {
		h.seen = true
		h.synced = tcp.SYN
		if !tcp.SYN {
			*start = true
		}
	}
	return true
}

// ReassembledSG implements reassembly.Stream.
func (c *tcpConn) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	h := c.half[dirIndex(dir)]
	n, _ := sg.Lengths()
	ev := tcpEvent{skip: skip, end: end, frame: c.a.frame}
	if fc, ok := ac.(*frameContext); ok && fc != nil {
		ev.frame = fc.frame
	}
	if n > 0 {
		ev.data = sg.Fetch(n)
	}
	if c.a.flushing {
		ev.data = append([]byte(nil), ev.data...)
		h.queue = append(h.queue, ev)
		return
	}
	h.event(ev)
}

// ReassemblyComplete implements reassembly.Stream.
func (c *tcpConn) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	for _, h := range c.half {
		if c.a.flushing {
			h.queue = append(h.queue, tcpEvent{end: true, frame: c.a.frame})
		} else {
			h.close()
		}
	}
	return true
}

// tcpEvent is what the assembler delivered to one direction: bytes after a
// gap of skip bytes (-1: unknown), and whether the direction ended.
type tcpEvent struct {
	data  []byte
	skip  int
	end   bool
	frame int
}

// tcpHalf is one direction of a connection.
type tcpHalf struct {
	a        *tcpAssembly
	src, dst netip.AddrPort
	ignored  bool // filtered out by -port, or not IP
	seen     bool // a segment was accepted
	synced   bool // its first segment was a SYN
	closed   bool
	queue    []tcpEvent
	stream   *ipfixStream
	frame    int // the frame whose bytes are being framed
}

func (h *tcpHalf) event(ev tcpEvent) {
	if h.closed {
		return
	}
	h.frame = ev.frame
	if len(ev.data) > 0 || ev.skip > 0 {
		if h.stream == nil {
			byPort := h.dst.Port() == h.a.d.tcpPort
			h.stream = newIPFIXStream(h, h.synced, byPort)
			h.a.d.stats.tcp.streams++
		}
		if ev.skip != 0 {
			h.stream.gap(ev.skip)
		}
		h.stream.write(ev.data)
	}
	if ev.end {
		h.close()
	}
}

// close ends this direction and reports how its stream ended.
func (h *tcpHalf) close() {
	if h.closed {
		return
	}
	h.closed = true
	h.queue = nil
	s := h.stream
	if s == nil {
		return
	}
	err := s.close()
	st := &h.a.d.stats.tcp
	st.skipped += s.skipped
	st.missing += s.missing
	st.messages += s.messages
	switch {
	case errors.Is(err, errNotIPFIX):
		st.notIPFIX++ // some other protocol: not a problem
		return
	case err != nil:
		st.ipfix++
		st.failed++
		h.a.d.tcpErrs = append(h.a.d.tcpErrs, err)
		h.a.d.errorf("%s: %s (frame %d): %v; the rest of the stream is not read", h.a.file, h.name(), h.frame, err)
		return
	}
	st.ipfix++
	if s.resyncSkipped > 0 || s.resyncMissing > 0 {
		h.a.d.errorf("%s: %s: the stream ends after %d byte(s) that hold no whole message", h.a.file, h.name(), s.resyncSkipped)
	}
}

func (h *tcpHalf) name() string { return fmt.Sprintf("tcp stream %v -> %v", h.src, h.dst) }

// message implements streamSink.
func (h *tcpHalf) message(off int64, msg []byte) {
	where := fmt.Sprintf("frame %d, %s byte %d", h.frame, h.name(), off)
	h.a.d.datagram(h.a.file, h.a.d.index, where, h.src, msg)
	h.a.d.index++
}

// resynced implements streamSink.
func (h *tcpHalf) resynced(at, skipped, missing int64) {
	switch {
	case missing > 0:
		h.a.d.errorf("%s: %s (frame %d): %d byte(s) missing from the capture; skipped %d byte(s) to the next IPFIX message header, at byte %d",
			h.a.file, h.name(), h.frame, missing, skipped, at)
	case !h.synced && at == skipped:
		if skipped > 0 {
			h.a.d.errorf("%s: %s (frame %d): the capture starts inside the stream; skipped %d byte(s) to the first IPFIX message header",
				h.a.file, h.name(), h.frame, skipped)
		}
	default:
		h.a.d.errorf("%s: %s (frame %d): skipped %d byte(s) to the next IPFIX message header, at byte %d",
			h.a.file, h.name(), h.frame, skipped, at)
	}
}
