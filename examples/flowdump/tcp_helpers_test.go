package main

// Helpers of the IPFIX-over-TCP capture tests (tcp_test.go): reading and
// writing frames, TCP segments and streams, resequencing.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// pcapFrame is one frame of a capture file.
type pcapFrame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readFrames(t *testing.T, path string) []pcapFrame {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeEthernet, r.LinkType())
	var frames []pcapFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return frames
		}
		require.NoError(t, err)
		frames = append(frames, pcapFrame{ci, data})
	}
}

func writeFrames(t *testing.T, name string, frames []pcapFrame) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	for _, f := range frames {
		require.NoError(t, w.WritePacket(f.ci, f.data))
	}
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// tcpOf decodes the TCP segment of an Ethernet frame, or nil.
func tcpOf(frame []byte) *layers.TCP {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp
}

// dataSegment is a frame of the exporter's direction that carries bytes,
// with the stream offset of its first byte.
type dataSegment struct {
	frame int // index in the capture
	off   int
	n     int
}

// exporterSegments finds the exporter's data segments in frames (sent to
// port), their offsets counted from the byte after the SYN, and the
// stream they make.
func exporterSegments(t *testing.T, frames []pcapFrame, port uint16) ([]dataSegment, []byte) {
	t.Helper()
	var isn uint32
	synSeen := false
	var segs []dataSegment
	var stream []byte
	for i, f := range frames {
		tcp := tcpOf(f.data)
		if tcp == nil || uint16(tcp.DstPort) != port {
			continue
		}
		if tcp.SYN {
			isn, synSeen = tcp.Seq, true
			continue
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		require.True(t, synSeen)
		off := int(tcp.Seq - isn - 1)
		require.Equal(t, len(stream), off, "the capture holds the stream in order, without retransmissions")
		stream = append(stream, tcp.Payload...)
		segs = append(segs, dataSegment{i, off, len(tcp.Payload)})
	}
	return segs, stream
}

// messageStarts walks the length fields of an IPFIX stream (RFC 7011
// section 3.1: bytes 2-3 of each header) and returns where each message
// begins.
func messageStarts(t *testing.T, stream []byte) []int {
	t.Helper()
	var starts []int
	for off := 0; off < len(stream); {
		require.Equal(t, uint16(10), binary.BigEndian.Uint16(stream[off:]))
		starts = append(starts, off)
		off += int(binary.BigEndian.Uint16(stream[off+2:]))
		require.LessOrEqual(t, off, len(stream))
	}
	return starts
}

// reseq rewrites a TCP segment of an Ethernet/IPv4 frame: new sequence
// number and payload, checksums fixed.
func reseq(t *testing.T, frame []byte, seq uint32, payload []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	tcp.Seq = seq
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, tcp, gopacket.Payload(payload))
}

// tcpFrame builds an Ethernet/IPv4/TCP frame.
func tcpFrame(t *testing.T, src, dst netip.AddrPort, seq uint32, syn, fin bool, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, SYN: syn, FIN: fin, ACK: !syn, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	return ethernet(t, serialize(t, ip, tcp, gopacket.Payload(payload)))
}

// tcpStream is the frames of one direction of a connection: a SYN, the
// data in segments of segSize bytes, and a FIN when fin is set.
func tcpStream(t *testing.T, src, dst netip.AddrPort, data []byte, segSize int, fin bool) [][]byte {
	t.Helper()
	isn := uint32(1000 + src.Port())
	frames := [][]byte{tcpFrame(t, src, dst, isn, true, false, nil)}
	seq := isn + 1
	for off := 0; off < len(data); off += segSize {
		seg := data[off:min(off+segSize, len(data))]
		frames = append(frames, tcpFrame(t, src, dst, seq, false, false, seg))
		seq += uint32(len(seg))
	}
	if fin {
		frames = append(frames, tcpFrame(t, src, dst, seq, false, true, nil))
	}
	return frames
}

// interleave takes one frame of each stream in turn.
func interleave(streams ...[][]byte) [][]byte {
	var out [][]byte
	for i := 0; ; i++ {
		more := false
		for _, s := range streams {
			if i < len(s) {
				out = append(out, s[i])
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

// tcpStream6 is tcpStream over IPv6, without a FIN (the capture ends first).
func tcpStream6(t *testing.T, src, dst netip.AddrPort, data []byte, segSize int) [][]byte {
	t.Helper()
	frame := func(seq uint32, syn bool, payload []byte) []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
			Seq: seq, SYN: syn, ACK: !syn, Window: 65535}
		tcp.SetNetworkLayerForChecksum(ip)
		return ethernet(t, serialize(t, ip, tcp, gopacket.Payload(payload)))
	}
	seq := uint32(7)
	frames := [][]byte{frame(seq, true, nil)}
	seq++
	for off := 0; off < len(data); off += segSize {
		seg := data[off:min(off+segSize, len(data))]
		frames = append(frames, frame(seq, false, seg))
		seq += uint32(len(seg))
	}
	return frames
}

// dumpFile runs a dumper on one file, bounded in time, and returns the
// errors that ended TCP streams and what it wrote on stderr.
func dumpFile(t *testing.T, path string) ([]error, string) {
	t.Helper()
	var errw bytes.Buffer
	d := newDumper(bufio.NewWriter(io.Discard), &errw)
	d.json = true
	done := make(chan error, 1)
	go func() { done <- d.file(path) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("flowdump did not finish in 20 s")
	}
	d.out.Flush()
	return d.tcpErrs, errw.String()
}
