package main

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
)

// batchSize is how many datagrams one system call sends (sendmmsg on
// Linux; elsewhere x/net sends them one by one).
const batchSize = 64

// maxDatagram is the largest message the writers make (their MTU).
const maxDatagram = 1500

// udpSender sends an exporter's messages as datagrams on a connected UDP
// socket, batchSize at a time. The JSON lines of each message's flows
// (-record) go to rec when the message has been sent, so that the record
// is in the order the datagrams left.
type udpSender struct {
	conn  *net.UDPConn
	pc    *ipv4.PacketConn // batches (an IPv6 socket's too: the call is the same)
	exp   *exporter
	rec   *bufio.Writer
	msgs  []ipv4.Message
	bufs  [][maxDatagram]byte
	lines [][]byte // per queued message
	n     int

	datagrams, bytes, refused uint64
}

// dialUDP opens the connected socket of exporter e.
func dialUDP(to string, e *exporter, rec *bufio.Writer) (sender, netip.AddrPort, error) {
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	_ = conn.SetWriteBuffer(4 << 20)
	s := &udpSender{
		conn:  conn,
		pc:    ipv4.NewPacketConn(conn),
		exp:   e,
		rec:   rec,
		msgs:  make([]ipv4.Message, batchSize),
		bufs:  make([][maxDatagram]byte, batchSize),
		lines: make([][]byte, batchSize),
	}
	for i := range s.msgs {
		s.msgs[i].Buffers = make([][]byte, 1)
	}
	return s, localAddr(conn.LocalAddr()), nil
}

// Write queues one message, and sends the batch when it is full.
func (s *udpSender) Write(msg []byte) (int, error) {
	if len(msg) > maxDatagram {
		return 0, errors.New("flowgen: message larger than a datagram")
	}
	m := &s.msgs[s.n]
	m.Buffers[0] = s.bufs[s.n][:copy(s.bufs[s.n][:], msg)]
	if s.rec != nil {
		s.lines[s.n] = s.exp.takeLines(s.lines[s.n][:0])
	}
	s.n++
	if s.n == len(s.msgs) {
		if err := s.flush(); err != nil {
			return 0, err
		}
	}
	return len(msg), nil
}

// flush sends the queued messages. A datagram the destination refused
// (an ICMP port unreachable reported on the socket) is counted and not
// sent again: nothing listens.
func (s *udpSender) flush() error {
	ms := s.msgs[:s.n]
	for len(ms) > 0 {
		n, err := s.pc.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				s.refused++
				n = max(n, 1)
			} else {
				return err
			}
		}
		for _, m := range ms[:n] {
			s.datagrams++
			s.bytes += uint64(len(m.Buffers[0]))
		}
		ms = ms[n:]
	}
	if s.rec != nil {
		for _, l := range s.lines[:s.n] {
			if _, err := s.rec.Write(l); err != nil {
				return err
			}
		}
	}
	s.n = 0
	return nil
}

func (s *udpSender) close() error { return s.conn.Close() }

func (s *udpSender) counts() (datagrams, bytes, refused uint64) {
	return s.datagrams, s.bytes, s.refused
}

// tcpSender sends an exporter's messages back to back on a TCP
// connection (IPFIX over TCP).
type tcpSender struct {
	conn *net.TCPConn
	w    *bufio.Writer
	exp  *exporter
	rec  *bufio.Writer
	buf  []byte

	messages, bytes uint64
}

// dialTCP opens exporter e's connection.
func dialTCP(to string, e *exporter, rec *bufio.Writer) (sender, netip.AddrPort, error) {
	raddr, err := net.ResolveTCPAddr("tcp", to)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	conn, err := net.DialTCP("tcp", nil, raddr)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return &tcpSender{conn: conn, w: bufio.NewWriterSize(conn, 256<<10), exp: e, rec: rec}, localAddr(conn.LocalAddr()), nil
}

func (s *tcpSender) Write(msg []byte) (int, error) {
	n, err := s.w.Write(msg)
	if err != nil {
		return n, err
	}
	s.messages++
	s.bytes += uint64(n)
	if s.rec != nil {
		s.buf = s.exp.takeLines(s.buf[:0])
		if _, err := s.rec.Write(s.buf); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *tcpSender) flush() error { return s.w.Flush() }

// close ends the stream: the collector reads it to its end.
func (s *tcpSender) close() error {
	err := s.w.Flush()
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *tcpSender) counts() (datagrams, bytes, refused uint64) { return s.messages, s.bytes, 0 }
