package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Expected is one testdata/expected/*.json or testdata/expected/logstash/*.json
// file: tshark's decode of the inputs, reduced by scripts/tshark_expected.py
// (testdata/README.md describes every key). It is the one schema every test
// reads these files with; LoadExpected refuses a key it does not know.
type Expected struct {
	Source string   `json:"source"`
	Inputs []string `json:"inputs"` // relative to testdata/
	// Context and LogstashDecodeSize are set in testdata/expected/logstash:
	// the context of logstash's netflow_spec.rb and the number of events
	// logstash expects (nil where its spec gives none).
	Context            string             `json:"context"`
	LogstashDecodeSize *int               `json:"logstash_decode_size"`
	Datagrams          []ExpectedDatagram `json:"datagrams"`
}

// Origin is where a datagram of a raw payload input lies in its file.
type Origin struct {
	File   string `json:"file"` // relative to testdata/
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// SkippedSet is a set tshark could not decode and left out.
type SkippedSet struct {
	SetID  uint16 `json:"set_id"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// ExpectedDatagram is one decoded datagram (over TCP, one IPFIX message).
// Times are as on the wire: uptimes in ms, export time in seconds and
// nanoseconds. A nil pointer is a header key the version does not have.
type ExpectedDatagram struct {
	Index            int            `json:"index"` // among the UDP payloads of the inputs
	Origin           *Origin        `json:"origin"`
	Version          uint16         `json:"version"`
	Count            *uint16        `json:"count"`
	SysUptimeMS      *uint32        `json:"sys_uptime_ms"`
	UnixSecs         *uint32        `json:"unix_secs"`
	UnixNsecs        *uint32        `json:"unix_nsecs"`
	Sequence         *uint32        `json:"sequence"`
	EngineType       *uint8         `json:"engine_type"`
	EngineID         *uint8         `json:"engine_id"`
	SamplingMode     *uint8         `json:"sampling_mode"`
	SamplingInterval *uint16        `json:"sampling_interval"`
	Length           *uint16        `json:"length"`
	SourceID         *uint32        `json:"source_id"`
	Flows            []ExpectedFlow `json:"flows"`
	// NoTemplateSets are the template IDs of data sets tshark could not
	// decode because it had not seen the template.
	NoTemplateSets []uint16     `json:"no_template_sets"`
	SkippedSets    []SkippedSet `json:"tshark_skipped_sets"`
	Malformed      bool         `json:"tshark_malformed"`
	Expert         []string     `json:"tshark_expert"`

	// sFlow (testdata/expected/sflow, `tshark_expected.py sflow`): the
	// header's agent, sub-agent and sample count (Sequence and
	// SysUptimeMS hold its sequence number and uptime), the counter
	// samples, and the number of samples of other formats.
	Agent        *string                 `json:"agent"`
	SubAgentID   *uint32                 `json:"sub_agent_id"`
	Samples      *uint32                 `json:"samples"`
	Counters     []ExpectedSFlowCounters `json:"counters"`
	OtherSamples *int                    `json:"other_samples"`
}

// ExpectedSFlowSample is what tshark showed of an sFlow flow sample beyond
// the ExpectedFlow keys it shares with NetFlow (addresses, ports, protocol,
// ToS, TCP flags, bytes = frame length, in_if/out_if of format-0
// interfaces, next hop and masks of the extended router record, AS
// numbers of the extended gateway record). A nil pointer is a value tshark
// did not show. The header values are the outermost layers'.
type ExpectedSFlowSample struct {
	SampleType     uint32   `json:"sample_type"` // 1, or 3 for an expanded sample
	Sequence       uint32   `json:"sequence"`
	SourceClass    uint32   `json:"source_class"`
	SourceIndex    uint32   `json:"source_index"`
	SamplingRate   uint32   `json:"sampling_rate"`
	SamplePool     uint32   `json:"sample_pool"`
	Drops          uint32   `json:"drops"`
	InFormat       uint32   `json:"in_format"`
	InValue        uint32   `json:"in_value"`
	OutFormat      uint32   `json:"out_format"`
	OutValue       uint32   `json:"out_value"`
	Records        []uint32 `json:"records"` // enterprise<<12 | format, in order
	HeaderProtocol *uint32  `json:"header_protocol"`
	FrameLength    *uint32  `json:"frame_length"`
	Stripped       *uint32  `json:"stripped"`
	HeaderLength   *uint32  `json:"header_length"`
	Layers         []string `json:"layers"` // tshark's layers of the sampled header
	ExpectedHeaderValues
	VLANIDs        []uint16 `json:"vlan_ids"` // every tag, outer first
	MPLSLabel      *uint32  `json:"mpls_label"`
	VLANIn         *uint32  `json:"vlan_in"` // extended switch
	PriIn          *uint32  `json:"pri_in"`
	VLANOut        *uint32  `json:"vlan_out"`
	PriOut         *uint32  `json:"pri_out"`
	BGPNextHop     *string  `json:"bgp_next_hop"` // extended gateway
	RouterAS       *uint32  `json:"router_as"`
	SrcPeerAS      *uint32  `json:"src_peer_as"`
	ASPathSegments *uint32  `json:"as_path_segments"`
	ASPath         []uint32 `json:"as_path"`
	Communities    *uint32  `json:"communities"`
	LocalPref      *uint32  `json:"local_pref"`
	// Inner holds the last IP layer's values and its transport's, when
	// tshark shows more than one IP layer (a tunnel); InnerL2 the last
	// Ethernet layer's, when it shows more than one.
	Inner   *ExpectedHeaderValues `json:"inner"`
	InnerL2 *ExpectedHeaderValues `json:"inner_l2"`
	// VXLANUnresolved: a VXLAN sample whose inner frame tshark showed
	// outside the sflow tree in a way that could not be matched to it.
	VXLANUnresolved bool `json:"vxlan_unresolved"`
}

// ExpectedHeaderValues are values of a layer of a sampled packet header.
type ExpectedHeaderValues struct {
	SrcMAC         *string  `json:"src_mac"`
	DstMAC         *string  `json:"dst_mac"`
	EthType        *uint16  `json:"eth_type"`
	VLAN           *uint16  `json:"vlan"`
	IPVersion      *uint8   `json:"ip_version"`
	SrcAddr        *string  `json:"src_addr"`
	DstAddr        *string  `json:"dst_addr"`
	Proto          *uint8   `json:"proto"`
	ToS            *uint8   `json:"tos"`
	SrcPort        *uint16  `json:"src_port"`
	DstPort        *uint16  `json:"dst_port"`
	TCPFlags       *uint8   `json:"tcp_flags"`
	ICMPType       *uint8   `json:"icmp_type"`
	ICMPCode       *uint8   `json:"icmp_code"`
	FragmentOffset *uint16  `json:"fragment_offset"`
	IPv6Extensions []string `json:"ipv6_extensions"`
}

// ExpectedSFlowCounters is an sFlow counter sample as tshark showed it;
// Interface has the generic interface counters by our key names
// (tshark_expected.py SFLOW_COUNTER_MAP).
type ExpectedSFlowCounters struct {
	SampleType  uint32            `json:"sample_type"`
	Sequence    uint32            `json:"sequence"`
	SourceType  uint32            `json:"source_type"`
	SourceIndex uint32            `json:"source_index"`
	Records     []uint32          `json:"records"`
	Interface   map[string]uint64 `json:"interface"`
}

// ExpectedFlow is one data or options record. A nil pointer is a key tshark
// did not give.
type ExpectedFlow struct {
	SrcAddr       *string           `json:"src_addr"`
	DstAddr       *string           `json:"dst_addr"`
	NextHop       *string           `json:"next_hop"`
	SrcPort       *uint16           `json:"src_port"`
	DstPort       *uint16           `json:"dst_port"`
	Proto         *uint8            `json:"proto"`
	ToS           *uint8            `json:"tos"`
	TCPFlags      *uint8            `json:"tcp_flags"`
	Packets       *uint64           `json:"packets"`
	Bytes         *uint64           `json:"bytes"`
	FirstUptimeMS *uint32           `json:"first_uptime_ms"`
	LastUptimeMS  *uint32           `json:"last_uptime_ms"`
	Start         *string           `json:"start"`
	End           *string           `json:"end"`
	InIf          *uint32           `json:"in_if"`
	OutIf         *uint32           `json:"out_if"`
	SrcAS         *uint32           `json:"src_as"`
	DstAS         *uint32           `json:"dst_as"`
	SrcMask       *uint8            `json:"src_mask"`
	DstMask       *uint8            `json:"dst_mask"`
	Flags         *uint8            `json:"flags"`
	RouterSC      *string           `json:"router_sc"`
	TemplateID    *uint16           `json:"template_id"`
	Options       bool              `json:"options"`
	Fields        map[string]string `json:"fields"` // tshark's field name: its text
	TsharkNotes   []string          `json:"tshark_notes"`
	// SFlow holds the rest of an sFlow flow sample.
	SFlow *ExpectedSFlowSample `json:"sflow"`
}

// ParseExpected decodes one expected document, refusing unknown keys.
func ParseExpected(data []byte) (Expected, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Expected
	if err := dec.Decode(&doc); err != nil {
		return Expected{}, err
	}
	return doc, nil
}

// LoadExpected reads and parses the expected document at path.
func LoadExpected(tb testing.TB, path string) Expected {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	doc, err := ParseExpected(data)
	require.NoError(tb, err, path)
	return doc
}

// Payloads returns the datagram that each expected datagram of doc decodes:
// from its origin (raw payload file, offset, length), or by index among the
// UDP payloads of the document's pcap inputs. testdata is the directory the
// inputs are named relative to.
func (doc Expected) Payloads(tb testing.TB, testdata string) [][]byte {
	tb.Helper()
	out, err := doc.ReadPayloads(testdata)
	require.NoError(tb, err)
	return out
}

// ReadPayloads is Payloads returning its error.
func (doc Expected) ReadPayloads(testdata string) ([][]byte, error) {
	var fromPcap [][]byte
	for _, in := range doc.Inputs {
		if strings.HasSuffix(in, ".pcap") || strings.HasSuffix(in, ".pcapng") {
			p, err := ReadUDPPayloads(filepath.Join(testdata, in))
			if err != nil {
				return nil, err
			}
			fromPcap = append(fromPcap, p...)
		}
	}
	files := map[string][]byte{}
	out := make([][]byte, len(doc.Datagrams))
	for i, dg := range doc.Datagrams {
		if o := dg.Origin; o != nil {
			data, ok := files[o.File]
			if !ok {
				var err error
				data, err = os.ReadFile(filepath.Join(testdata, o.File))
				if err != nil {
					return nil, err
				}
				files[o.File] = data
			}
			if o.Offset < 0 || o.Length < 0 || o.Offset+o.Length > len(data) {
				return nil, fmt.Errorf("%s: origin %d+%d beyond %d bytes", o.File, o.Offset, o.Length, len(data))
			}
			out[i] = data[o.Offset : o.Offset+o.Length]
			continue
		}
		if dg.Index < 0 || dg.Index >= len(fromPcap) {
			return nil, fmt.Errorf("expected datagram %d, inputs %v hold %d", dg.Index, doc.Inputs, len(fromPcap))
		}
		out[i] = fromPcap[dg.Index]
	}
	return out, nil
}
