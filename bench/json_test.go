package bench

import (
	"bufio"
	"encoding/json"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/netsampler/goflow2/v2/format"
	_ "github.com/netsampler/goflow2/v2/format/json"
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
