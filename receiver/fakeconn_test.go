package receiver_test

import (
	"net"
	"sync"
	"time"
)

// rxFakeConn is a net.PacketConn fed through a channel.
type rxFakeConn struct {
	in     chan rxFakeDatagram
	closed chan struct{}
	once   sync.Once
}

type rxFakeDatagram struct {
	data []byte
	from net.Addr
	err  error
}

func newRxFakeConn() *rxFakeConn {
	return &rxFakeConn{in: make(chan rxFakeDatagram), closed: make(chan struct{})}
}

func (c *rxFakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		if d.err != nil {
			return 0, nil, d.err
		}
		return copy(b, d.data), d.from, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *rxFakeConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (c *rxFakeConn) Close() error                              { c.once.Do(func() { close(c.closed) }); return nil }
func (c *rxFakeConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2055}
}
func (c *rxFakeConn) SetDeadline(time.Time) error      { return nil }
func (c *rxFakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *rxFakeConn) SetWriteDeadline(time.Time) error { return nil }

// fakeAddr is a net.Addr that is not a *net.UDPAddr.
type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }
