package receiver_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/flowkit/netflow/receiver"
)

// A collector for the exporters of 127.0.0.0/8: it receives one NetFlow v5
// datagram on a loopback port and prints its flow.
func ExampleReceiver() {
	got := make(chan string, 1)
	r := receiver.New(func(d *receiver.Datagram) {
		if d.Err != nil {
			log.Printf("%v: %v", d.Exporter, d.Err)
		}
		if d.Packet == nil {
			return
		}
		// d and d.Packet are reused once this returns; flows are copies.
		for _, f := range d.Packet.AppendFlows(nil) {
			got <- fmt.Sprintf("v%d %v:%d -> %v:%d proto %d, %d packets, %d bytes",
				f.Version, f.SrcAddr, f.SrcPort, f.DstAddr, f.DstPort, f.Proto, f.Packets, f.Bytes)
		}
	}, receiver.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0") // port 0: a free port
	if err != nil {
		log.Fatal(err) // errors.Is(err, receiver.ErrListen)
	}
	defer cancel()

	// An exporter: one v5 datagram with one record.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(exampleV5()); err != nil {
		log.Fatal(err)
	}

	fmt.Println(<-got)
	cancel() // stops the receiver: every datagram read is handed over first
	st := r.Stats().Total
	fmt.Printf("datagrams %d, decoded %d, flows %d\n", st.Datagrams, st.Decoded, st.Flows)
	// Output:
	// v5 192.0.2.1:1000 -> 198.51.100.1:80 proto 6, 3 packets, 180 bytes
	// datagrams 1, decoded 1, flows 1
}

// exampleV5 is a NetFlow v5 datagram (header, then one 48-byte record).
func exampleV5() []byte {
	b := make([]byte, 24+48)
	binary.BigEndian.PutUint16(b[0:], 5)          // version
	binary.BigEndian.PutUint16(b[2:], 1)          // count
	binary.BigEndian.PutUint32(b[4:], 100000)     // sysUptime, ms
	binary.BigEndian.PutUint32(b[8:], 1700000000) // unix_secs
	r := b[24:]
	copy(r[0:], []byte{192, 0, 2, 1})       // srcaddr
	copy(r[4:], []byte{198, 51, 100, 1})    // dstaddr
	binary.BigEndian.PutUint32(r[16:], 3)   // dPkts
	binary.BigEndian.PutUint32(r[20:], 180) // dOctets
	binary.BigEndian.PutUint16(r[32:], 1000)
	binary.BigEndian.PutUint16(r[34:], 80)
	r[38] = 6 // TCP
	return b
}

// IPFIX over TCP: each connection's templates belong to it, and a slow
// handler slows the exporter down instead of filling memory.
func ExampleReceiver_ListenTCP() {
	got := make(chan string, 1)
	r := receiver.New(func(d *receiver.Datagram) {
		if d.Packet != nil && d.Packet.FlowCount() > 0 {
			f := d.Packet.AppendFlows(nil)[0]
			got <- fmt.Sprintf("%v: %v -> %v, %d bytes", d.Transport, f.SrcAddr, f.DstAddr, f.Bytes)
		}
	}, receiver.Config{})
	addr, cancel, err := r.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer cancel()

	// An exporter: a template (source and destination address, octet
	// count) and one record of it, in two messages on one connection.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	template := []byte{0, 2, 0, 20, 1, 0, 0, 3, // template set: ID 256, 3 fields
		0, 8, 0, 4, 0, 12, 0, 4, 0, 1, 0, 4} // sourceIPv4Address, destinationIPv4Address, octetDeltaCount
	data := []byte{1, 0, 0, 16, 192, 0, 2, 1, 198, 51, 100, 7, 0, 0, 5, 220} // data set of template 256
	for _, set := range [][]byte{template, data} {
		msg := binary.BigEndian.AppendUint16([]byte{0, 10}, uint16(16+len(set))) // version 10, length
		msg = binary.BigEndian.AppendUint32(msg, 1700000000)                     // export time
		msg = append(msg, 0, 0, 0, 0, 0, 0, 0, 1)                                // sequence, domain 1
		if _, err := c.Write(append(msg, set...)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(<-got)
	// Output:
	// tcp: 192.0.2.1 -> 198.51.100.7, 1500 bytes
}
