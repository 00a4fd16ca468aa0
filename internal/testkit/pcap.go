package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapngMagic is the block type of a pcapng section header block, the first
// four bytes of every pcapng file.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// ReadUDPPayloads returns the UDP payloads of a pcap or pcapng capture, in
// capture order, copied out of the reader's buffers. Frames that hold no
// UDP datagram are skipped.
func ReadUDPPayloads(path string) ([][]byte, error) {
	dgs, err := ReadUDPDatagrams(path)
	out := make([][]byte, len(dgs))
	for i := range dgs {
		out[i] = dgs[i].Payload
	}
	return out, err
}

// ReadUDPDatagrams is ReadUDPPayloads with each payload's addresses and
// capture time.
func ReadUDPDatagrams(path string) ([]UDPDatagram, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var (
		src  source
		link func(gopacket.CaptureInfo) layers.LinkType
	)
	if bytes.Equal(magic, pcapngMagic) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng %s: %w", path, err)
		}
		src = r
		link = func(ci gopacket.CaptureInfo) layers.LinkType {
			if iface, err := r.Interface(ci.InterfaceIndex); err == nil {
				return iface.LinkType
			}
			return r.LinkType()
		}
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap %s: %w", path, err)
		}
		src = r
		link = func(gopacket.CaptureInfo) layers.LinkType { return r.LinkType() }
	}
	var out []UDPDatagram
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("capture %s: %w", path, err)
		}
		pkt := gopacket.NewPacket(data, link(ci), gopacket.Default)
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			continue
		}
		dg := UDPDatagram{Payload: append([]byte(nil), udp.Payload...), Time: ci.Timestamp}
		if nl := pkt.NetworkLayer(); nl != nil {
			src, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
			dst, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
			dg.From = netip.AddrPortFrom(src.Unmap(), uint16(udp.SrcPort))
			dg.To = netip.AddrPortFrom(dst.Unmap(), uint16(udp.DstPort))
		}
		out = append(out, dg)
	}
}

// UDPPayloads is ReadUDPPayloads that fails tb on an error.
func UDPPayloads(tb testing.TB, path string) [][]byte {
	tb.Helper()
	out, err := ReadUDPPayloads(path)
	require.NoError(tb, err)
	return out
}
