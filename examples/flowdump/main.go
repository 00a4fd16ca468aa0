// Command flowdump prints the flows in NetFlow v1/v5/v6/v7/v9, IPFIX and
// sFlow v5 captures: what an exporter sends, one flow a line.
//
// Usage:
//
//	go run ./examples/flowdump [flags] FILE...
//
// Each FILE is a pcap or pcapng capture (told by its magic number, not its
// name) or a raw payload file (.dat, .bin): one export datagram, or several
// v5/v9/IPFIX messages stored back to back. From a capture flowdump decodes
// every UDP datagram (NetFlow, IPFIX or sFlow, told by its first bytes, on
// any port: sFlow's is 6343) over IPv4 (fragments reassembled) or IPv6, on Ethernet
// (VLAN tags included), Linux cooked (SLL and SLL2), raw IP and BSD
// loopback links; the exporter is the datagram's source address and port.
// The exporter of a raw file's messages is 0.0.0.0:0.
//
// From a capture it also reads IPFIX over TCP (RFC 7011 section 10.4): TCP
// streams are reassembled (retransmitted and out-of-order segments put
// right, several streams at once), and each direction of a connection is
// its own exporter, its source address and port, so the templates of two
// streams never mix. A stream is read as IPFIX when it is sent to the
// -tcp-port (4739, IANA's IPFIX port, by default), or when its data begins
// with an IPFIX (version 10) header. When the capture missed a stream's
// start, or lost segments in the middle, flowdump resynchronises: it skips
// to the next place that holds a valid message (a version 10 header whose
// length its sets tile exactly, followed by another header or the end of
// the stream) and says on standard error how many bytes it skipped; a
// stream not known to be IPFIX is searched for 256 KiB before it is taken
// for something else. A stream that breaks the framing (a length below 16)
// or ends inside a message is reported and read no further. SCTP, IPFIX's
// third transport, is not read.
//
// One decoder, and so one template store, reads all the files in order: in
// `flowdump tpl.pcap data.pcap` the data of the second file decodes with the
// templates of the first. Data that comes before its template is held and
// printed when the template arrives.
//
// Flags:
//
//	-json        write JSON Lines, one object per flow, instead of a table
//	-port N      only decode UDP datagrams and TCP streams sent to port N (captures only)
//	-tcp-port N  read TCP streams sent to port N as IPFIX whatever they begin with (default 4739; 0: none)
//	-flows-only  do not print options data records
//	-stats       print counts at the end, on standard error
//	-w FILE      write what is read to FILE, an RFC 5655 IPFIX file, instead of printing it
//
// Table output has a header line, then one line per flow; an options data
// record is a line that starts with "# options". JSON output has one object
// per flow, netflow.Flow.AppendJSONWithFields's (docs/flow.md, "JSON
// output", lists every key): exporter, version, then each field the record
// carries, and for v9 and IPFIX a "fields" object with every field of the
// record by element name, typed (numbers are numbers). An options data
// record is an object {"options":true,"exporter":..,"version":..,"domain":..,
// "template_id":..,"fields":{..}}.
//
// An sFlow flow sample is one flow: one sampled packet (packets 1, bytes
// its frame length), dated when the capture took its datagram (sFlow
// carries no wall clock; a payload file's samples are dated when flowdump
// reads them); its table row has version "sf5" and its JSON
// "protocol":"sflow" (docs/sflow.md). Counter samples are counted by
// -stats, not printed.
//
// A datagram that does not decode is reported on standard error with its
// file and index, and the run goes on; what a v9 or IPFIX datagram held
// besides the bad set is still printed. The exit status is 0 when every file
// could be read, 1 when one could not, and 2 for bad usage.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/examples/internal/decflags"
	"github.com/flowkit/netflow/internal/flowfmt"
	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, dumps the files to stdout and
// reports problems on stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowdump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		jsonOut   = fs.Bool("json", false, "write JSON Lines, one object per flow, instead of a table")
		port      = fs.Int("port", 0, "only decode UDP datagrams and TCP streams sent to this port (captures only; 0: any)")
		tcpPort   = fs.Int("tcp-port", ipfixTCPPort, "TCP streams sent to this port are IPFIX whatever they begin with (0: none); to other ports,\nwhen their data begins with a version 10 header or, if the capture missed their start, holds a valid one")
		flowsOnly = fs.Bool("flows-only", false, "do not print options data records")
		stats     = fs.Bool("stats", false, "print counts on standard error at the end")
		writeFile = fs.String("w", "", "write what is read to this `file`, an RFC 5655 IPFIX file (IPFIX records as they are, other flows as IPFIX records), instead of printing it")
		decFlags  = decflags.Add(fs)
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: flowdump [flags] FILE...\n\n"+
			"Prints the NetFlow, IPFIX and sFlow flows in pcap, pcapng, IPFIX (RFC 5655) or raw payload files.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(stderr, "flowdump: -port %d: not a port\n", *port)
		return 2
	}
	if *tcpPort < 0 || *tcpPort > 65535 {
		fmt.Fprintf(stderr, "flowdump: -tcp-port %d: not a port\n", *tcpPort)
		return 2
	}

	decCfg, err := decFlags.Config()
	if err != nil {
		fmt.Fprintf(stderr, "flowdump: %v\n", err)
		return 2
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	d := newDumper(out, stderr)
	decCfg.Now = d.now
	d.dec = netflow.NewDecoder(decCfg)
	d.json, d.flowsOnly = *jsonOut, *flowsOnly
	d.port, d.tcpPort = uint16(*port), uint16(*tcpPort)
	if *writeFile != "" {
		if d.ipfix, err = createIPFIXFile(*writeFile); err != nil {
			fmt.Fprintf(stderr, "flowdump: -w: %v\n", err)
			return 1
		}
	}
	status := 0
	for _, name := range fs.Args() {
		if err := d.file(name); err != nil {
			d.errorf("%v", err)
			status = 1
		}
	}
	if d.ipfix != nil {
		if err := d.ipfix.close(); err != nil {
			d.errorf("%v", err)
			status = 1
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "flowdump: writing output: %v\n", err)
		status = 1
	}
	ps := d.dec.Stats().Pending
	if ps.Held > 0 {
		fmt.Fprintf(stderr, "flowdump: %d data set(s) still wait for a template that no file brought\n", ps.Held)
	}
	if *stats {
		d.stats.print(stderr, ps)
		decflags.PrintSequences(stderr, d.dec.Stats())
	}
	return status
}

// newDumper returns a dumper writing flows to out and problems to errw,
// with the default options.
func newDumper(out *bufio.Writer, errw io.Writer) *dumper {
	return &dumper{
		tcpPort: ipfixTCPPort,
		dec:     netflow.NewDecoder(netflow.Config{}),
		out:     out,
		errw:    errw,
		stats:   counts{versions: map[uint16]int{}},
	}
}

// dumper decodes datagrams and prints their flows.
type dumper struct {
	json      bool
	port      uint16 // 0: any
	tcpPort   uint16 // TCP streams to this port are IPFIX (0: none)
	flowsOnly bool

	dec *netflow.Decoder
	buf netflow.Buffer
	// clock is the capture time of the frame being decoded, the decoder's
	// clock while a capture is read (zero: the wall clock, for payload
	// files): sFlow flows are dated by it, and held data ages by it.
	clock  time.Time
	flows  []netflow.Flow
	line   []byte
	header bool // the table header is written

	out   *bufio.Writer
	errw  io.Writer
	ipfix *ipfixFile // -w
	stats counts
	index int // datagrams and TCP messages seen in the current capture file
	// tcpErrs are the errors that ended TCP streams, in order.
	tcpErrs []error
}

// errorf writes one line to stderr, after what stdout holds so far, so that
// the two read in order on a terminal.
func (d *dumper) errorf(format string, args ...any) {
	d.out.Flush()
	fmt.Fprintf(d.errw, "flowdump: "+format+"\n", args...)
}

// file dumps one file. The error says why the file could not be read (or
// not to its end); problems with single datagrams are reported as they come.
func (d *dumper) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		d.stats.badFiles++
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic, _ := r.Peek(4)
	switch {
	case len(magic) == 4 && isPcap(magic):
		err = d.pcap(name, r)
	case len(magic) == 4 && binary.BigEndian.Uint32(magic) == 0x0a0d0d0a:
		err = d.pcapng(name, r)
	default:
		var data []byte
		if data, err = io.ReadAll(r); err == nil {
			d.raw(name, data)
		}
	}
	if err != nil {
		d.stats.badFiles++
		return fmt.Errorf("%s: %w", name, err)
	}
	d.stats.files++
	return nil
}

func isPcap(magic []byte) bool {
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return true
	}
	return false
}

// raw dumps a file of export messages stored back to back. A file that does
// not split (one datagram with a bad header, say) is decoded whole, so that
// the decoder says what is wrong with it.
func (d *dumper) raw(name string, data []byte) {
	exporter := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	off := 0
	for i := 0; off < len(data); i++ {
		msg, rest, err := netflow.SplitMessage(data[off:])
		if err != nil {
			msg, rest = data[off:], nil
		}
		d.datagram(name, i, fmt.Sprintf("offset %d", off), exporter, msg)
		off += len(msg)
		if len(rest) == 0 {
			break
		}
	}
}

// packetSource is what pcapgo's two readers have in common.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func (d *dumper) pcap(name string, r io.Reader) error {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return err
	}
	lt := pr.LinkType()
	return d.packets(name, pr, func(gopacket.CaptureInfo) layers.LinkType { return lt })
}

func (d *dumper) pcapng(name string, r io.Reader) error {
	opts := pcapgo.DefaultNgReaderOptions
	opts.WantMixedLinkType = true
	nr, err := pcapgo.NewNgReader(r, opts)
	if err != nil {
		return err
	}
	return d.packets(name, nr, func(ci gopacket.CaptureInfo) layers.LinkType {
		if len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				return lt
			}
		}
		return nr.LinkType()
	})
}

// packets reads a capture to its end and decodes its UDP datagrams and
// the IPFIX messages of its TCP streams.
func (d *dumper) packets(name string, src packetSource, linkType func(gopacket.CaptureInfo) layers.LinkType) error {
	defrag := ip4defrag.NewIPv4Defragmenter()
	var lastPurge time.Time
	badLink := map[layers.LinkType]bool{}
	d.index = 0
	var streams *tcpAssembly // made at the first TCP segment
	defer func() {
		if streams != nil {
			streams.end()
		}
	}()
	for frame := 1; ; frame++ {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			d.clock = time.Time{}
			return nil
		}
		d.clock = ci.Timestamp
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("frame %d: capture file ends inside a packet", frame)
			}
			return fmt.Errorf("frame %d: %w", frame, err)
		}
		lt := linkType(ci)
		first, frameData, ok := firstLayer(lt, data)
		if !ok {
			if !badLink[lt] {
				badLink[lt] = true
				d.errorf("%s: frame %d: link type %v not supported, its frames are skipped", name, frame, lt)
			}
			d.stats.skipped++
			continue
		}
		if ci.Timestamp.Sub(lastPurge) > time.Minute || ci.Timestamp.Before(lastPurge) {
			defrag.DiscardOlderThan(ci.Timestamp.Add(-time.Minute))
			lastPurge = ci.Timestamp
		}
		tp, ok := transport(gopacket.NewPacket(frameData, first, gopacket.DecodeOptions{NoCopy: true}), defrag, ci.Timestamp)
		if !ok {
			d.stats.skipped++
			continue
		}
		if tp.tcp != nil {
			if d.port != 0 && uint16(tp.tcp.DstPort) != d.port && uint16(tp.tcp.SrcPort) != d.port {
				d.stats.skipped++
				continue
			}
			if streams == nil {
				streams = newTCPAssembly(d, name)
			}
			streams.segment(tp.netFlow, tp.tcp, ci, frame)
			continue
		}
		from, to, payload, ok := endpoints(tp.srcIP, tp.dstIP, tp.udp)
		if !ok || d.port != 0 && to.Port() != d.port {
			d.stats.skipped++
			continue
		}
		where := fmt.Sprintf("frame %d", frame)
		if ci.CaptureLength < ci.Length {
			where += ", cut short by the capture's snap length"
		}
		d.datagram(name, d.index, where, from, payload)
		d.index++
	}
}

// linkTypeLinuxSLL2 is LINKTYPE_LINUX_SLL2 (276, tcpdump -i any since
// 4.99), which gopacket does not know. Its LinkType is a uint8, so pcapgo
// hands it over as 276&0xff, a value no other link type has.
const linkTypeLinuxSLL2 = layers.LinkType(276 & 0xff)

// firstLayer returns the layer type a frame of link type lt starts with and
// the frame from there. A Linux SLL2 header, which gopacket cannot read, is
// skipped: 20 bytes that start with the EtherType of the packet.
func firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, []byte, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, data, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, data, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, data, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// 12 and 14 are DLT_RAW on BSD and OpenBSD, in captures that kept
		// the DLT value.
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, data, true
		}
		return layers.LayerTypeIPv4, data, true
	case linkTypeLinuxSLL2:
		if len(data) < 20 {
			return gopacket.LayerTypeZero, nil, true
		}
		return layers.EthernetType(binary.BigEndian.Uint16(data)).LayerType(), data[20:], true
	}
	return gopacket.LayerTypeZero, nil, false
}

// transportPacket is the UDP datagram or the TCP segment of a packet.
type transportPacket struct {
	srcIP, dstIP net.IP
	netFlow      gopacket.Flow // of the IP layer
	udp          *layers.UDP
	tcp          *layers.TCP
}

// transport finds the UDP datagram or TCP segment in pkt. Fragments of an
// IPv4 packet are held in defrag until the last one comes.
func transport(pkt gopacket.Packet, defrag *ip4defrag.IPv4Defragmenter, ts time.Time) (tp transportPacket, ok bool) {
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			tp.srcIP, tp.dstIP, tp.netFlow = l.SrcIP, l.DstIP, l.NetworkFlow()
			if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
				whole, err := defrag.DefragIPv4WithTimestamp(l, ts)
				if err != nil || whole == nil {
					return tp, false
				}
				switch whole.Protocol {
				case layers.IPProtocolUDP:
					tp.udp = &layers.UDP{}
					return tp, tp.udp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback) == nil
				case layers.IPProtocolTCP:
					tp.tcp = &layers.TCP{}
					return tp, tp.tcp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback) == nil
				}
				return tp, false
			}
		case *layers.IPv6:
			tp.srcIP, tp.dstIP, tp.netFlow = l.SrcIP, l.DstIP, l.NetworkFlow()
		case *layers.UDP:
			tp.udp = l
			return tp, tp.srcIP != nil
		case *layers.TCP:
			tp.tcp = l
			return tp, tp.srcIP != nil
		}
	}
	return tp, false
}

func endpoints(srcIP, dstIP net.IP, udp *layers.UDP) (src, dst netip.AddrPort, payload []byte, ok bool) {
	s, ok1 := addrOf(srcIP)
	t, ok2 := addrOf(dstIP)
	if !ok1 || !ok2 {
		return src, dst, nil, false
	}
	return netip.AddrPortFrom(s, uint16(udp.SrcPort)), netip.AddrPortFrom(t, uint16(udp.DstPort)), udp.Payload, true
}

// addrOf converts a 4- or 16-byte net.IP; gopacket gives IPv4 addresses as
// 4 bytes, so a 16-byte one is a real IPv6 address and is kept as such.
func addrOf(ip net.IP) (netip.Addr, bool) {
	switch len(ip) {
	case 4:
		return netip.AddrFrom4([4]byte(ip)), true
	case 16:
		return netip.AddrFrom16([16]byte(ip)), true
	}
	return netip.Addr{}, false
}

// now is the decoder's clock: the capture time of the frame being decoded,
// or the wall clock outside captures.
func (d *dumper) now() time.Time {
	if !d.clock.IsZero() {
		return d.clock
	}
	return time.Now()
}

// datagram decodes one datagram and prints what it holds. where says where
// it was found in file, for error lines.
func (d *dumper) datagram(file string, index int, where string, exporter netip.AddrPort, data []byte) {
	d.stats.datagrams++
	p, err := d.dec.DecodeInto(&d.buf, exporter, data)
	if err != nil {
		d.stats.addError(err)
		d.errorf("%s: datagram %d (%s, exporter %v): %v", file, index, where, exporter, err)
	}
	if p == nil {
		return
	}
	if _, ok := p.(*netflow.SFlowPacket); ok {
		d.stats.sflow++
	} else {
		d.stats.versions[p.Version()]++
	}
	if d.ipfix != nil {
		d.stats.flows += p.FlowCount()
		if err := d.ipfix.packet(p); err != nil {
			d.errorf("%s: datagram %d (%s, exporter %v): -w: %v", file, index, where, exporter, err)
		}
		return
	}
	switch p := p.(type) {
	case *netflow.V9Packet:
		d.sets(&p.Sets, p.Exporter, 9, p.Header.SourceID)
	case *netflow.IPFIXPacket:
		d.sets(&p.Sets, p.Exporter, 10, p.Header.ObservationDomainID)
	case *netflow.SFlowPacket:
		d.stats.sflowCounters += len(p.CounterSamples)
		d.flows = p.AppendFlows(d.flows[:0])
		for i := range d.flows {
			d.flow(&d.flows[i], nil)
		}
	default:
		d.flows = p.AppendFlows(d.flows[:0])
		for i := range d.flows {
			d.flow(&d.flows[i], nil)
		}
	}
}

// sets prints the data and options records of a v9 or IPFIX packet in the
// order they decoded, each flow with the record it came from.
func (d *dumper) sets(s *netflow.Sets, exporter netip.AddrPort, version uint16, domain uint32) {
	d.stats.templates += len(s.Templates)
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		if ds.Options() {
			d.stats.options += len(ds.Records)
			if d.flowsOnly {
				continue
			}
			for j := range ds.Records {
				d.options(exporter, version, domain, &ds.Records[j])
			}
			continue
		}
		// A data set's flows are its records', in order.
		d.flows = ds.AppendFlows(d.flows[:0])
		for j := range d.flows {
			d.flow(&d.flows[j], &ds.Records[j])
		}
	}
}

func (d *dumper) flow(f *netflow.Flow, rec *netflow.Record) {
	d.stats.flows++
	if d.json {
		d.line = f.AppendJSONWithFields(d.line[:0], rec)
	} else {
		d.tableHeader()
		d.line = flowfmt.AppendFlowRow(d.line[:0], f)
	}
	d.writeLine()
}

func (d *dumper) options(exporter netip.AddrPort, version uint16, domain uint32, rec *netflow.Record) {
	if d.json {
		d.line = flowfmt.AppendOptionsJSON(d.line[:0], exporter, version, domain, rec)
	} else {
		d.tableHeader()
		d.line = flowfmt.AppendOptionsRow(d.line[:0], exporter, version, domain, rec)
	}
	d.writeLine()
}

func (d *dumper) tableHeader() {
	if d.header {
		return
	}
	d.header = true
	d.line = flowfmt.AppendTableHeader(d.line[:0])
	d.writeLine()
}

func (d *dumper) writeLine() {
	d.line = append(d.line, '\n')
	d.out.Write(d.line)
}
