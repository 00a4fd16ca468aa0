// Command gf2dump prints the flows of a pcap capture of NetFlow/IPFIX
// datagrams as JSON Lines the way goflow2 v2.2.6's collector does: its
// NetFlowPipe (decoder, then the proto producer with the default mapping,
// then the "json" format), one line per flow message. It is the reference
// that bench/jsonspeed.sh times flowdump -json against.
//
// Usage:
//
//	go run ./cmd/gf2dump [-lean] FILE.pcap > out.jsonl
//
// With -lean the json format is replaced by encoding/json of a struct of
// ten keys (exporter, addresses, ports, protocol, packets, bytes, start,
// end) built from the producer's message: the cheapest JSON a goflow2-based
// program can write, and what the first measurement used.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/netsampler/goflow2/v2/format"
	_ "github.com/netsampler/goflow2/v2/format/json"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
	"github.com/netsampler/goflow2/v2/utils"
	"github.com/netsampler/goflow2/v2/utils/templates"
)

// lines is goflow2's transport here: each formatted message, then a newline.
type lines struct{ w *bufio.Writer }

func (l lines) Send(_, data []byte) error {
	l.w.Write(data)
	return l.w.WriteByte('\n')
}

// leanFormat marshals ten keys of goflow2's flow message.
type leanFormat struct{}

type leanFlow struct {
	Exporter string `json:"exporter"`
	SrcAddr  string `json:"src_addr"`
	DstAddr  string `json:"dst_addr"`
	SrcPort  uint32 `json:"src_port"`
	DstPort  uint32 `json:"dst_port"`
	Proto    uint32 `json:"proto"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	Start    uint64 `json:"start_ns"`
	End      uint64 `json:"end_ns"`
}

func addrString(b []byte) string {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap().String()
}

func (leanFormat) Format(data any) ([]byte, []byte, error) {
	m := data.(*protoproducer.ProtoProducerMessage)
	out, err := json.Marshal(leanFlow{
		Exporter: addrString(m.SamplerAddress), SrcAddr: addrString(m.SrcAddr), DstAddr: addrString(m.DstAddr),
		SrcPort: m.SrcPort, DstPort: m.DstPort, Proto: m.Proto, Packets: m.Packets, Bytes: m.Bytes,
		Start: m.TimeFlowStartNs, End: m.TimeFlowEndNs,
	})
	return nil, out, err
}

func main() {
	lean := flag.Bool("lean", false, "write ten keys with encoding/json instead of goflow2's json format")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gf2dump [-lean] FILE.pcap")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *lean, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gf2dump:", err)
		os.Exit(1)
	}
}

func run(name string, lean bool, stdout io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		return err
	}
	var formatter format.FormatInterface = leanFormat{}
	if !lean {
		f, err := format.FindFormat("json")
		if err != nil {
			return err
		}
		formatter = f
	}
	var cfg *protoproducer.ProducerConfig // nil: the default mapping, as goflow2 without -mapping
	cfgm, err := cfg.Compile()
	if err != nil {
		return err
	}
	prod, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	pipe := utils.NewNetFlowPipe(&utils.PipeConfig{
		Format:           formatter,
		Transport:        lines{out},
		Producer:         prod,
		NetFlowTemplater: templates.DefaultTemplateGenerator,
	})
	first := layers.LayerTypeEthernet
	if r.LinkType() == layers.LinkTypeRaw || r.LinkType() == 12 {
		first = layers.LayerTypeIPv4
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true})
		ip, _ := pkt.NetworkLayer().(*layers.IPv4)
		udp, _ := pkt.TransportLayer().(*layers.UDP)
		if ip == nil || udp == nil {
			continue
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(udp.SrcPort))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(udp.DstPort))
		if err := pipe.DecodeFlow(&utils.Message{Src: src, Dst: dst, Payload: udp.Payload, Received: ci.Timestamp}); err != nil {
			fmt.Fprintln(os.Stderr, "gf2dump:", err)
		}
	}
	return out.Flush()
}
