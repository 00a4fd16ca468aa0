package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/flowkit/netflow"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// -replay: the export datagrams of a capture, sent again.

// datagram is one export datagram of a capture and who sent it.
type datagram struct {
	from netip.AddrPort
	data []byte
}

// readCapture returns the UDP payloads of a pcap or pcapng capture with
// their sources, or the messages of a file of messages stored back to back
// (from 0.0.0.0:0).
func readCapture(path string) ([]datagram, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic, _ := r.Peek(4)
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var link func(gopacket.CaptureInfo) layers.LinkType
	switch {
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		nr, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		src = nr
		link = func(ci gopacket.CaptureInfo) layers.LinkType {
			if iface, err := nr.Interface(ci.InterfaceIndex); err == nil {
				return iface.LinkType
			}
			return nr.LinkType()
		}
	case len(magic) == 4 && isPcap(magic):
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, err
		}
		src = pr
		link = func(gopacket.CaptureInfo) layers.LinkType { return pr.LinkType() }
	default:
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		var out []datagram
		for len(data) > 0 {
			msg, rest, err := netflow.SplitMessage(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, datagram{data: msg})
			data = rest
		}
		return out, nil
	}
	var out []datagram
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		pkt := gopacket.NewPacket(data, link(ci), gopacket.Default)
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || pkt.NetworkLayer() == nil {
			continue
		}
		a, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Src().Raw())
		out = append(out, datagram{from: netip.AddrPortFrom(a.Unmap(), uint16(udp.SrcPort)), data: bytes.Clone(udp.Payload)})
	}
}

func isPcap(magic []byte) bool {
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return true
	}
	return false
}

// parseShift reads -shift: a duration in whole seconds, or "now" (the
// first datagram's export time moved to now).
func parseShift(s string, dgs []datagram) (int64, error) {
	switch s {
	case "":
		return 0, nil
	case "now":
		for _, d := range dgs {
			if t, ok := exportTime(d.data); ok {
				return int64(time.Until(t).Round(time.Second) / time.Second * -1), nil
			}
		}
		return 0, errors.New("-shift now: no datagram with an export time")
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "+"))
	if err != nil {
		return 0, fmt.Errorf("-shift %q: %v", s, err)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("-shift %v: whole seconds (v9 and IPFIX headers hold seconds)", d)
	}
	return int64(d / time.Second), nil
}

// exportTime returns a message's export time from its header.
func exportTime(b []byte) (time.Time, bool) {
	if len(b) < 16 {
		return time.Time{}, false
	}
	switch binary.BigEndian.Uint16(b) {
	case 1, 5, 6, 7, 9:
		return time.Unix(int64(binary.BigEndian.Uint32(b[8:])), 0), true
	case 10:
		return time.Unix(int64(binary.BigEndian.Uint32(b[4:])), 0), true
	}
	return time.Time{}, false
}

// shifter moves the times of datagrams by secs seconds. It decodes them
// (its own decoder, so that it knows their templates) to find the time
// elements of their records, which alias the datagram, and changes them
// in place.
type shifter struct {
	secs int64
	dec  *netflow.Decoder
	buf  netflow.Buffer
}

// shift moves the times of d's data in place.
func (s *shifter) shift(d *datagram) {
	b := d.data
	if s.secs == 0 || len(b) < 16 {
		return
	}
	add32 := func(at int) {
		binary.BigEndian.PutUint32(b[at:], uint32(int64(binary.BigEndian.Uint32(b[at:]))+s.secs))
	}
	switch binary.BigEndian.Uint16(b) {
	case 1, 5, 6, 7, 9:
		add32(8)
	case 10:
		add32(4)
	default:
		return
	}
	p, _ := s.dec.DecodeInto(&s.buf, d.from, b)
	var sets *netflow.Sets
	switch p := p.(type) {
	case *netflow.V9Packet:
		sets = &p.Sets
	case *netflow.IPFIXPacket:
		sets = &p.Sets
	default:
		return
	}
	for i := range sets.DataSets {
		ds := &sets.DataSets[i]
		if ds.Late {
			continue // a copy the decoder kept, not this datagram's bytes
		}
		for j := range ds.Records {
			for v := range ds.Records[j].All() {
				s.shiftValue(v)
			}
		}
	}
}

// shiftValue moves one absolute time element.
func (s *shifter) shiftValue(v netflow.Value) {
	if v.Field.PEN != 0 || v.Scope {
		return
	}
	raw := v.Raw
	switch v.Field.ID {
	case 150, 151: // flowStart/EndSeconds
		if len(raw) == 4 {
			binary.BigEndian.PutUint32(raw, uint32(int64(binary.BigEndian.Uint32(raw))+s.secs))
		}
	case 152, 153, 160: // flowStart/EndMilliseconds, systemInitTimeMilliseconds
		if len(raw) == 8 {
			binary.BigEndian.PutUint64(raw, uint64(int64(binary.BigEndian.Uint64(raw))+s.secs*1000))
		}
	case 154, 155, 156, 157: // NTP seconds and fraction
		if len(raw) == 8 {
			binary.BigEndian.PutUint32(raw, uint32(int64(binary.BigEndian.Uint32(raw))+s.secs))
		}
	}
}

// runReplay sends the capture of o.replay.
func runReplay(ctx context.Context, o *options, stderr io.Writer) int {
	dgs, err := readCapture(o.replay)
	if err != nil {
		fmt.Fprintf(stderr, "flowgen: -replay: %v\n", err)
		return 1
	}
	secs, err := parseShift(o.shift, dgs)
	if err != nil {
		fmt.Fprintf(stderr, "flowgen: %v\n", err)
		return 2
	}
	raddr, err := net.ResolveUDPAddr("udp", o.to)
	if err != nil {
		fmt.Fprintf(stderr, "flowgen: %v\n", err)
		return 2
	}
	conns := map[netip.AddrPort]*net.UDPConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	sh := &shifter{secs: secs, dec: netflow.NewDecoder(netflow.Config{})}
	start := time.Now()
	var sent, bytes, refused uint64
	for i := range dgs {
		if err := ctx.Err(); err != nil {
			break
		}
		d := &dgs[i]
		c := conns[d.from]
		if c == nil {
			if c, err = net.DialUDP("udp", nil, raddr); err != nil {
				fmt.Fprintf(stderr, "flowgen: %v\n", err)
				return 1
			}
			conns[d.from] = c
		}
		sh.shift(d)
		if o.rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))))
		}
		if _, err := c.Write(d.data); err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				fmt.Fprintf(stderr, "flowgen: %v\n", err)
				return 1
			}
			refused++
			continue
		}
		sent++
		bytes += uint64(len(d.data))
	}
	fmt.Fprintf(stderr, "flowgen: replayed %d of %d datagrams (%d bytes) from %d exporters in %v, times shifted %ds\n",
		sent, len(dgs), bytes, len(conns), time.Since(start).Round(time.Millisecond), secs)
	if refused > 0 {
		fmt.Fprintf(stderr, "flowgen: %d datagrams refused by %s (nothing listening?)\n", refused, o.to)
	}
	return 0
}
