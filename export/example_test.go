package export_test

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// datagrams keeps each message a Writer writes, as a UDP socket would send
// it.
type datagrams [][]byte

func (d *datagrams) Write(b []byte) (int, error) {
	*d = append(*d, bytes.Clone(b))
	return len(b), nil
}

// exampleFlows are two flows, an IPv4 and an IPv6 one.
func exampleFlows() []netflow.Flow {
	start := time.Date(2024, 5, 1, 11, 59, 0, 0, time.UTC)
	known := netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldSrcPort | netflow.FieldDstPort |
		netflow.FieldProto | netflow.FieldPackets | netflow.FieldBytes | netflow.FieldStart | netflow.FieldEnd
	return []netflow.Flow{
		{SrcAddr: netip.MustParseAddr("192.0.2.1"), DstAddr: netip.MustParseAddr("198.51.100.2"),
			SrcPort: 40000, DstPort: 443, Proto: 6, Packets: 12, Bytes: 3400,
			Start: start, End: start.Add(2 * time.Second), Known: known},
		{SrcAddr: netip.MustParseAddr("2001:db8::1"), DstAddr: netip.MustParseAddr("2001:db8::2"),
			SrcPort: 5353, DstPort: 53, Proto: 17, Packets: 1, Bytes: 80,
			Start: start, End: start, Known: known},
	}
}

// A Writer writes the flows of one exporter. Here its messages are kept in
// memory and decoded again; a program passes a connected UDP socket
// (net.DialUDP) as the output instead, which sends each message as one
// datagram.
func ExampleWriter() {
	var out datagrams
	w, err := export.NewWriter(&out, export.Config{
		Version: 10,
		Domain:  7,
		Now:     func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	if err := w.WriteFlows(exampleFlows()); err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	dec := netflow.NewDecoder(netflow.Config{})
	exporter := netip.MustParseAddrPort("192.0.2.100:4739")
	for _, d := range out {
		flows, err := dec.DecodeFlows(new(netflow.Buffer), nil, exporter, d)
		if err != nil {
			panic(err)
		}
		for _, f := range flows {
			fmt.Println(f.SrcAddr, f.DstAddr, f.Packets, f.Bytes, f.Start.Format(time.TimeOnly), f.Domain)
		}
	}
	fmt.Println(len(out), "message,", w.Stats().Templates, "templates")
	// Output:
	// 192.0.2.1 198.51.100.2 12 3400 11:59:00 7
	// 2001:db8::1 2001:db8::2 1 80 11:59:00 7
	// 1 message, 2 templates
}

// An RFC 5655 IPFIX file is a stream of IPFIX messages: a Writer with
// Stream set writes one (templates once, messages up to 65535 bytes), and
// netflow.MessageReader reads it back.
func ExampleWriter_ipfixFile() {
	var file bytes.Buffer // an *os.File in a program
	w, err := export.NewWriter(&file, export.Config{Version: 10, Stream: true})
	if err != nil {
		panic(err)
	}
	if err := w.WriteFlows(exampleFlows()); err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	mr := netflow.NewMessageReader(&file)
	dec := netflow.NewDecoder(netflow.Config{})
	for {
		msg, err := mr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		p, err := dec.Decode(netip.AddrPort{}, msg)
		if err != nil {
			panic(err)
		}
		fmt.Println(p.Version(), p.FlowCount(), "flows")
	}
	// Output:
	// 10 2 flows
}

// WriteRecords re-exports decoded v9 or IPFIX records with every field they
// have, here those of an IPFIX message with a vendor's enterprise element.
func ExampleWriter_WriteRecords() {
	tmpl, err := netflow.NewTemplate(10, 400, false, 0, []netflow.TemplateField{
		{ID: 8, Length: 4},                       // sourceIPv4Address
		{ID: 82, Length: netflow.VariableLength}, // interfaceName
		{ID: 1, PEN: 32473, Length: 2},           // an enterprise element
	})
	if err != nil {
		panic(err)
	}
	rec := []byte{192, 0, 2, 1}
	rec, _ = export.AppendVariableLength(rec, []byte("ge-0/0/1"))
	rec, _ = export.AppendUint(rec, 9, 2)

	var out datagrams
	w, err := export.NewWriter(&out, export.Config{Version: 10})
	if err != nil {
		panic(err)
	}
	if err := w.WriteRecords(export.RecordHeader{Domain: 1}, []netflow.Record{{Template: tmpl, Data: rec}}); err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	p, err := netflow.Decode(netip.AddrPort{}, out[0], nil)
	if err != nil {
		panic(err)
	}
	r := &p.(*netflow.IPFIXPacket).DataSets[0].Records[0]
	fmt.Println(string(r.AppendFieldsJSON(nil)))
	// Output:
	// {"sourceIPv4Address":"192.0.2.1","interfaceName":"ge-0/0/1","32473.1":"0009"}
}

// The Append functions write the pieces of a message; the fixed formats'
// typed records are the decoder's.
func ExampleAppendV5Record() {
	h := netflow.V5Header{Count: 1, SysUptime: 60_000, UnixSecs: 1_700_000_000, FlowSequence: 42}
	msg, err := export.AppendV5Header(nil, &h)
	if err != nil {
		panic(err)
	}
	msg = export.AppendV5Record(msg, &netflow.V5Record{
		SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("10.0.0.2"),
		NextHop: netip.IPv4Unspecified(), Packets: 3, Octets: 180, First: 58_000, Last: 59_000,
		SrcPort: 1234, DstPort: 80, Proto: 6,
	})
	p, err := netflow.Decode(netip.AddrPort{}, msg, nil)
	if err != nil {
		panic(err)
	}
	r := p.(*netflow.V5Packet).Records[0]
	fmt.Println(len(msg), r.SrcAddr, r.DstPort, r.Octets, r.Start.Format(time.RFC3339))
	// Output:
	// 72 10.0.0.1 80 180 2023-11-14T22:13:18Z
}
