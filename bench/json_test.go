package bench

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/netsampler/goflow2/v2/format"
	_ "github.com/netsampler/goflow2/v2/format/json"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
	"github.com/netsampler/goflow2/v2/utils"
	"github.com/netsampler/goflow2/v2/utils/templates"
)

// BenchmarkJSONDump is decoding plus JSON Lines to a buffered writer, per
// datagram of each case, the two ways side by side in one run:
// impl=netflow is DecodeInto and Flow.AppendJSONWithFields (what flowdump
// -json does); impl=goflow2 is goflow2's NetFlowPipe with its proto
// producer and "json" format (what its collector does with -format json).
//
//	go test -run='^$' -bench=JSONDump -benchtime=2000x
func BenchmarkJSONDump(b *testing.B) {
	for _, c := range cases(b) {
		b.Run(c.name+"/impl=netflow", func(b *testing.B) {
			d := netflow.NewDecoder(netflow.Config{})
			for _, w := range c.warm {
				if _, err := d.Decode(exporter, w); err != nil {
					b.Fatal(err)
				}
			}
			var buf netflow.Buffer
			var flows []netflow.Flow
			var line []byte
			out := bufio.NewWriterSize(io.Discard, 64<<10)
			dump := func(data []byte) error {
				p, err := d.DecodeInto(&buf, exporter, data)
				if err != nil {
					return err
				}
				flows = p.AppendFlows(flows[:0])
				var s *netflow.Sets
				switch p := p.(type) {
				case *netflow.V9Packet:
					s = &p.Sets
				case *netflow.IPFIXPacket:
					s = &p.Sets
				}
				k := 0
				if s == nil {
					for i := range flows {
						line = append(flows[i].AppendJSON(line[:0]), '\n')
						out.Write(line)
					}
					return nil
				}
				for i := range s.DataSets {
					ds := &s.DataSets[i]
					if ds.Options() {
						continue
					}
					for j := range ds.Records {
						line = append(flows[k].AppendJSONWithFields(line[:0], &ds.Records[j]), '\n')
						out.Write(line)
						k++
					}
				}
				return nil
			}
			if err := dump(c.data); err != nil {
				b.Fatal(err)
			}
			run(b, c, dump)
		})
		b.Run(c.name+"/impl=goflow2", func(b *testing.B) {
			formatter, err := format.FindFormat("json")
			if err != nil {
				b.Fatal(err)
			}
			var cfg *protoproducer.ProducerConfig
			cfgm, err := cfg.Compile()
			if err != nil {
				b.Fatal(err)
			}
			prod, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
			if err != nil {
				b.Fatal(err)
			}
			out := bufio.NewWriterSize(io.Discard, 64<<10)
			pipe := utils.NewNetFlowPipe(&utils.PipeConfig{
				Format: formatter, Producer: prod, Transport: lineTransport{out},
				NetFlowTemplater: templates.DefaultTemplateGenerator,
			})
			dst := netip.MustParseAddrPort("127.0.0.1:2055")
			dump := func(data []byte) error {
				return pipe.DecodeFlow(&utils.Message{Src: exporter, Dst: dst, Payload: data, Received: time.Now()})
			}
			for _, w := range c.warm {
				if err := dump(w); err != nil {
					b.Fatal(err)
				}
			}
			if err := dump(c.data); err != nil {
				b.Fatal(err)
			}
			run(b, c, dump)
		})
	}
}

type lineTransport struct{ w *bufio.Writer }

func (l lineTransport) Send(_, data []byte) error {
	l.w.Write(data)
	return l.w.WriteByte('\n')
}

// TestJSONDumpValid: both dumps of each case are valid JSON, one flow a line.
func TestJSONDumpValid(t *testing.T) {
	for _, c := range cases(t) {
		d := netflow.NewDecoder(netflow.Config{})
		for _, w := range c.warm {
			if _, err := d.Decode(exporter, w); err != nil {
				t.Fatal(err)
			}
		}
		p, err := d.Decode(exporter, c.data)
		if err != nil {
			t.Fatal(err)
		}
		flows := p.AppendFlows(nil)
		if len(flows) != c.flows {
			t.Fatalf("%s: %d flows", c.name, len(flows))
		}
		for i := range flows {
			if b := flows[i].AppendJSON(nil); !json.Valid(b) {
				t.Fatalf("%s: %s", c.name, b)
			}
		}
	}
}

// stdFlow is a flow as a Go program would hand it to encoding/json: the
// keys of Flow.AppendJSON for the fields every case has, typed (addresses
// and times through their MarshalText/MarshalJSON), and the record's
// fields as a map.
type stdFlow struct {
	Exporter         netip.AddrPort `json:"exporter"`
	Version          uint16         `json:"version"`
	Domain           uint32         `json:"domain"`
	Sequence         uint32         `json:"sequence"`
	SrcAddr          netip.Addr     `json:"src_addr"`
	DstAddr          netip.Addr     `json:"dst_addr"`
	NextHop          netip.Addr     `json:"next_hop"`
	SrcPort          uint16         `json:"src_port"`
	DstPort          uint16         `json:"dst_port"`
	Proto            uint8          `json:"proto"`
	ToS              uint8          `json:"tos"`
	TCPFlags         uint8          `json:"tcp_flags"`
	Packets          uint64         `json:"packets"`
	Bytes            uint64         `json:"bytes"`
	Start            time.Time      `json:"start"`
	End              time.Time      `json:"end"`
	InIf             uint32         `json:"in_if"`
	OutIf            uint32         `json:"out_if"`
	SrcAS            uint32         `json:"src_as"`
	DstAS            uint32         `json:"dst_as"`
	SrcMask          uint8          `json:"src_mask"`
	DstMask          uint8          `json:"dst_mask"`
	SamplingInterval uint32         `json:"sampling_interval,omitempty"`
	Fields           map[string]any `json:"fields,omitempty"`
}

func toStdFlow(f *netflow.Flow, rec *netflow.Record) stdFlow {
	s := stdFlow{Exporter: f.Exporter, Version: f.Version, Domain: f.Domain, Sequence: f.Sequence,
		SrcAddr: f.SrcAddr, DstAddr: f.DstAddr, NextHop: f.NextHop, SrcPort: f.SrcPort, DstPort: f.DstPort,
		Proto: f.Proto, ToS: f.ToS, TCPFlags: f.TCPFlags, Packets: f.Packets, Bytes: f.Bytes,
		Start: f.Start, End: f.End, InIf: f.InIf, OutIf: f.OutIf, SrcAS: f.SrcAS, DstAS: f.DstAS,
		SrcMask: f.SrcMask, DstMask: f.DstMask, SamplingInterval: f.SamplingInterval}
	if rec == nil {
		return s
	}
	s.Fields = make(map[string]any)
	for v := range rec.All() {
		var x any = v.String()
		if n, ok := v.Uint(); ok && v.Info.Type >= netflow.TypeUnsigned8 && v.Info.Type <= netflow.TypeUnsigned64 {
			x = n
		} else if a, ok := v.Addr(); ok {
			x = a
		} else if t, ok := v.Time(); ok {
			x = t
		}
		s.Fields[v.Name()] = x
	}
	return s
}

// BenchmarkJSONEncode is the JSON encoding of one flow, the three ways
// side by side in one run, on the flows of each case's datagram (decoded
// before the timer starts; ns/op is per flow, B/s the output of ours):
// impl=netflow is Flow.AppendJSONWithFields (AppendJSON for v5) into a
// reused buffer; impl=encoding-json is json.Marshal of stdFlow, the same
// keys in a struct and the record's fields in a map; impl=goflow2 is
// goflow2's "json" format of its proto producer's message for the flow
// (what its collector writes for each flow).
//
//	go test -run='^$' -bench=JSONEncode -count=3
func BenchmarkJSONEncode(b *testing.B) {
	for _, c := range cases(b) {
		// Ours: the flows and the records they came from.
		d := netflow.NewDecoder(netflow.Config{})
		for _, w := range c.warm {
			if _, err := d.Decode(exporter, w); err != nil {
				b.Fatal(err)
			}
		}
		p, err := d.Decode(exporter, c.data)
		if err != nil {
			b.Fatal(err)
		}
		flows := p.AppendFlows(nil)
		recs := make([]*netflow.Record, len(flows))
		var s *netflow.Sets
		switch p := p.(type) {
		case *netflow.V9Packet:
			s = &p.Sets
		case *netflow.IPFIXPacket:
			s = &p.Sets
		}
		if s != nil {
			k := 0
			for i := range s.DataSets {
				if ds := &s.DataSets[i]; !ds.Options() {
					for j := range ds.Records {
						recs[k] = &ds.Records[j]
						k++
					}
				}
			}
		}
		size := 0
		for i := range flows {
			size += len(flows[i].AppendJSONWithFields(nil, recs[i]))
		}
		b.Run(c.name+"/impl=netflow", func(b *testing.B) {
			line := make([]byte, 0, 4096)
			b.SetBytes(int64(size / len(flows)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				line = flows[i].AppendJSONWithFields(line[:0], recs[i])
				if i++; i == len(flows) {
					i = 0
				}
			}
		})
		b.Run(c.name+"/impl=encoding-json", func(b *testing.B) {
			std := make([]stdFlow, len(flows))
			for i := range flows {
				std[i] = toStdFlow(&flows[i], recs[i])
			}
			b.SetBytes(int64(size / len(flows)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := json.Marshal(&std[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(flows) {
					i = 0
				}
			}
		})
		b.Run(c.name+"/impl=goflow2", func(b *testing.B) {
			msgs := goflow2Messages(b, c)
			formatter, err := format.FindFormat("json")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size / len(flows)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, err := formatter.Format(msgs[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(msgs) {
					i = 0
				}
			}
		})
	}
}

// goflow2Messages decodes c's datagram with goflow2 and returns its proto
// producer's messages, one per flow.
func goflow2Messages(b *testing.B, c benchCase) []producer.ProducerMessage {
	th := newTheirs(b, c)
	if err := th.decode(c.data); err != nil {
		b.Fatal(err)
	}
	var cfg *protoproducer.ProducerConfig
	cfgm, err := cfg.Compile()
	if err != nil {
		b.Fatal(err)
	}
	prod, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
	if err != nil {
		b.Fatal(err)
	}
	var pkt any
	switch binary.BigEndian.Uint16(c.data) {
	case 5:
		pkt = &th.v5
	case 9:
		pkt = &th.v9
	default:
		pkt = &th.ipfix
	}
	msgs, err := prod.Produce(pkt, &producer.ProduceArgs{Src: exporter, SamplerAddress: exporter.Addr(), TimeReceived: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	if len(msgs) != c.flows {
		b.Fatalf("%s: goflow2 produced %d messages, want %d", c.name, len(msgs), c.flows)
	}
	return msgs
}
