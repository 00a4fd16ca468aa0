// Command udpsink is the floor of cmd/pipebench: a bare Go loop that reads
// UDP datagrams with ReadFromUDPAddrPort and counts them, nothing else. It
// prints "listening on ADDR" on standard error at start and "datagrams N"
// at SIGTERM or SIGINT. What a collector costs above it is its own work;
// what it costs itself is the machine's and the Go runtime's price of a
// datagram.
//
// Usage:
//
//	go run ./cmd/udpsink [-listen 127.0.0.1:0]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP `address` to listen on (port 0 picks one)")
	flag.Parse()
	addr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpsink:", err)
		os.Exit(2)
	}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpsink:", err)
		os.Exit(1)
	}
	c.SetReadBuffer(4 << 20)
	fmt.Fprintf(os.Stderr, "listening on %v\n", c.LocalAddr())
	var n atomic.Uint64
	go func() {
		b := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFromUDPAddrPort(b); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintf(os.Stderr, "datagrams %d\n", n.Load())
}
