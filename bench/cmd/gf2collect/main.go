// Command gf2collect is goflow2 v2.2.6's collector path for NetFlow v5, v9
// and IPFIX, as its goflow2 command runs it with -format json -transport
// file and its defaults: its UDPReceiver (one socket, two workers, a
// non-blocking queue of 1,000,000 datagrams), its NetFlowPipe (decoder,
// proto producer with the default mapping, "json" format) and its "file"
// transport to standard output. It is what cmd/pipebench measures this
// module's collector against; it adds only the count of flows written,
// printed on standard error at SIGTERM or SIGINT ("flows N", before it
// stops), after it printed "listening on ADDR" at start.
//
// Usage:
//
//	go run ./cmd/gf2collect [-listen 127.0.0.1:0] > /dev/null
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/netsampler/goflow2/v2/format"
	_ "github.com/netsampler/goflow2/v2/format/json"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
	"github.com/netsampler/goflow2/v2/transport"
	_ "github.com/netsampler/goflow2/v2/transport/file"
	"github.com/netsampler/goflow2/v2/utils"
	"github.com/netsampler/goflow2/v2/utils/templates"
)

// counting is goflow2's file transport, counting the flows it sends.
type counting struct {
	*transport.Transport
	flows atomic.Uint64
}

func (c *counting) Send(key, data []byte) error {
	c.flows.Add(1)
	return c.Transport.Send(key, data)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP `address` to listen on (port 0 picks one)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "gf2collect:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen string) error {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	if port == 0 {
		// goflow2's receiver takes a port number: find a free one.
		c, err := net.ListenPacket("udp", listen)
		if err != nil {
			return err
		}
		port = c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
	}
	formatter, err := format.FindFormat("json")
	if err != nil {
		return err
	}
	file, err := transport.FindTransport("file")
	if err != nil {
		return err
	}
	out := &counting{Transport: file}
	var cfg *protoproducer.ProducerConfig
	cfgm, err := cfg.Compile()
	if err != nil {
		return err
	}
	prod, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
	if err != nil {
		return err
	}
	pipe := utils.NewNetFlowPipe(&utils.PipeConfig{
		Format: formatter, Transport: out, Producer: prod,
		NetFlowTemplater: templates.DefaultTemplateGenerator,
	})
	recv, err := utils.NewUDPReceiver(&utils.UDPReceiverConfig{Sockets: 1, Workers: 2, QueueSize: 1000000})
	if err != nil {
		return err
	}
	if err := recv.Start(host, port, pipe.DecodeFlow); err != nil {
		return err
	}
	go func() {
		for range recv.Errors() { // template-not-found and the like, as goflow2 mutes them
		}
	}()
	fmt.Fprintf(os.Stderr, "listening on %s\n", net.JoinHostPort(host, strconv.Itoa(port)))
	<-ctx.Done()
	// The count first: stopping waits for what is still queued.
	fmt.Fprintf(os.Stderr, "flows %d\n", out.flows.Load())
	err = recv.Stop()
	pipe.Close()
	return err
}
