package netflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tsharkToFields maps tshark's keys (the reduced top-level ones and the
// cflow.* names of testdata/expected) to the element names of the fields
// object. A value is compared as a JSON number unless listed in
// tsharkTextKeys.
var tsharkToFields = map[string][]string{
	"src_addr": {"sourceIPv4Address", "sourceIPv6Address"}, "dst_addr": {"destinationIPv4Address", "destinationIPv6Address"},
	"src_port": {"sourceTransportPort"}, "dst_port": {"destinationTransportPort"}, "proto": {"protocolIdentifier"},
	"tos": {"ipClassOfService"}, "tcp_flags": {"tcpControlBits"}, "packets": {"packetDeltaCount"},
	"bytes": {"octetDeltaCount"}, "first_uptime_ms": {"flowStartSysUpTime"}, "last_uptime_ms": {"flowEndSysUpTime"},
	"in_if": {"ingressInterface"}, "out_if": {"egressInterface"},
	"cflow.direction": {"flowDirection"}, "cflow.flow_end_reason": {"flowEndReason"}, "cflow.ip_version": {"ipVersion"},
	"cflow.scope_interface": {"scope_interface"}, "cflow.sampling_interval": {"samplingInterval"},
	"cflow.sampling_algorithm": {"samplingAlgorithm"}, "cflow.if_name": {"interfaceName"},
	"cflow.icmp_ipv6_type": {"icmpTypeIPv6"}, "cflow.icmp_ipv6_code": {"icmpCodeIPv6"},
	"cflow.mp_id": {"meteringProcessId"}, "cflow.sampling_packet_interval": {"samplingPacketInterval"},
	"cflow.sampling_packet_space": {"samplingPacketSpace"}, "cflow.selector_algorithm": {"selectorAlgorithm"},
	"cflow.sys_init_time": {"systemInitTimeMilliseconds"}, "cflow.icmp_type_code_ipv4": {"icmpTypeCodeIPv4"},
}

var tsharkTextKeys = map[string]bool{"src_addr": true, "dst_addr": true, "cflow.if_name": true, "cflow.sys_init_time": true}

// TestFieldsJSONAgainstTshark decodes softflowd's v9 and IPFIX exports and
// compares every value tshark shows with the record's fields object:
// numbers must be JSON numbers equal to tshark's, addresses, names and
// times strings equal to tshark's.
func TestFieldsJSONAgainstTshark(t *testing.T) {
	for _, c := range []struct{ pcap, expected string }{
		{"softflowd_v9.pcap", "softflowd_v9.json"},
		{"softflowd_v10.pcap", "softflowd_v10.json"},
	} {
		t.Run(c.pcap, func(t *testing.T) {
			payloads := readPcapPayloads(t, filepath.Join("testdata", "softflowd", c.pcap))
			doc := loadExpected(t, c.expected)
			skipped := tsharkSkippedSets(t, c.expected)
			require.Len(t, doc.Datagrams, len(payloads))
			d := NewDecoder(Config{})
			compared := 0
			for i, payload := range payloads {
				p, err := d.Decode(testExporter, payload)
				require.NoError(t, err)
				next := 0
				for _, ds := range packetSets(t, p).DataSets {
					if slices.Contains(skipped[i], ds.TemplateID) {
						continue
					}
					for j := range ds.Records {
						ef := doc.Datagrams[i].Flows[next]
						next++
						obj := ds.Records[j].AppendFieldsJSON(nil)
						require.True(t, json.Valid(obj), "%s", obj)
						compared += compareFieldsWithTshark(t, fmt.Sprintf("datagram %d record %d", i, next), obj, ef)
					}
				}
			}
			t.Logf("%d values compared with tshark", compared)
			require.Greater(t, compared, 100)
		})
	}
}

func compareFieldsWithTshark(t *testing.T, where string, obj []byte, ef expectedFlow) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	var fields map[string]any
	require.NoError(t, dec.Decode(&fields))
	// tshark shows ICMPv6 type and code apart; the element holds both.
	if tc, ok := fields["icmpTypeCodeIPv6"].(json.Number); ok {
		n, err := strconv.ParseUint(tc.String(), 10, 16)
		require.NoError(t, err)
		fields["icmpTypeIPv6"] = json.Number(strconv.FormatUint(n>>8, 10))
		fields["icmpCodeIPv6"] = json.Number(strconv.FormatUint(n&0xff, 10))
	}

	want := map[string]any{}
	raw, err := json.Marshal(ef)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &want))
	for k, v := range ef.Fields {
		want[k] = v
	}
	n := 0
	for key, tv := range want {
		names, ok := tsharkToFields[key]
		if !ok || tv == nil {
			continue
		}
		var got any
		for _, name := range names {
			if v, ok := fields[name]; ok {
				got = v
			}
		}
		require.NotNil(t, got, "%s: tshark has %s=%v, fields has none of %v: %s", where, key, tv, names, obj)
		if tsharkTextKeys[key] {
			s, ok := got.(string)
			require.True(t, ok, "%s: %s is %T, want a string", where, names[0], got)
			if key == "cflow.sys_init_time" {
				tt, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", tv.(string))
				require.NoError(t, err)
				tv = tt.UTC().Format(JSONTimeLayout)
			}
			require.Equal(t, tv, s, "%s: %s", where, key)
		} else {
			num, ok := got.(json.Number)
			require.True(t, ok, "%s: %s is %T %v, want a number", where, names[0], got, got)
			var exp uint64
			switch tv := tv.(type) {
			case float64:
				exp = uint64(tv)
			case string:
				exp, err = strconv.ParseUint(tv, 0, 64)
				require.NoError(t, err, "%s: tshark %s=%q", where, key, tv)
			}
			require.Equal(t, strconv.FormatUint(exp, 10), num.String(), "%s: %s", where, key)
		}
		n++
	}
	return n
}

// TestFixtureJSONTypes encodes every record of every fixture and checks
// that each value has the JSON type its element's abstract type gives.
func TestFixtureJSONTypes(t *testing.T) {
	counts := map[string]int{}
	eachFixtureSets(t, func(file string, s *Sets) {
		for _, ds := range s.DataSets {
			for j := range ds.Records {
				rec := &ds.Records[j]
				obj := rec.AppendFieldsJSON(nil)
				require.True(t, json.Valid(obj), "%s: %s", file, obj)
				dec := json.NewDecoder(bytes.NewReader(obj))
				dec.UseNumber()
				var fields map[string]any
				require.NoError(t, dec.Decode(&fields))
				i := 0
				for v := range rec.All() {
					key := v.Name()
					if k := repeats(rec.Template, i); k > 0 {
						key += "#" + strconv.Itoa(k+1)
					}
					i++
					got, ok := fields[key]
					require.True(t, ok, "%s: no key %s in %s", file, key, obj)
					kind := jsonTypeOf(got)
					want := wantJSONType(rec, v)
					require.Equal(t, want, kind, "%s: %s (%v, %d bytes) = %v", file, key, v.Info.Type, len(v.Raw), got)
					counts[kind]++
				}
				require.Len(t, fields, i, "%s: one key per field", file)
			}
		}
	})
	t.Logf("values by JSON type: %v", counts)
	require.Greater(t, counts["number"], 1000)
	require.Positive(t, counts["array"])
}

func setsOf(p Packet) *Sets {
	switch p := p.(type) {
	case *V9Packet:
		return &p.Sets
	case *IPFIXPacket:
		return &p.Sets
	}
	return nil
}

func jsonTypeOf(v any) string {
	switch v.(type) {
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// wantJSONType is the JSON type RFC 7012 gives a value of v's length.
func wantJSONType(rec *Record, v Value) string {
	n := len(v.Raw)
	switch v.Info.Type {
	case TypeUnsigned8, TypeUnsigned16, TypeUnsigned32, TypeUnsigned64,
		TypeSigned8, TypeSigned16, TypeSigned32, TypeSigned64:
		if n >= 1 && n <= 8 {
			return "number"
		}
	case TypeFloat32, TypeFloat64:
		if f, ok := v.Float(); ok {
			if f != f || f > 1e308 || f < -1e308 {
				return "null"
			}
			return "number"
		}
	case TypeBoolean:
		if n == 1 && (v.Raw[0] == 1 || v.Raw[0] == 2) {
			return "bool"
		}
	case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
		if _, err := rec.List(v); err == nil {
			return "array"
		}
	}
	return "string"
}

// appendPacketJSON encodes everything p holds as flowdump does: each flow
// with its record, each options record's fields. It checks on the way that
// json.Marshal agrees with AppendJSON.
func appendPacketJSON(dst []byte, p Packet, flows []Flow) ([]byte, error) {
	flows = p.AppendFlows(flows[:0])
	s := setsOf(p)
	if s == nil {
		for i := range flows {
			dst = append(flows[i].AppendJSON(dst), '\n')
		}
		return dst, checkMarshal(flows)
	}
	k := 0
	for i := range s.DataSets {
		ds := &s.DataSets[i]
		for j := range ds.Records {
			if ds.Options() || k >= len(flows) {
				dst = ds.Records[j].AppendFieldsJSON(dst)
			} else {
				dst = flows[k].AppendJSONWithFields(dst, &ds.Records[j])
				k++
			}
			dst = append(dst, '\n')
		}
	}
	return dst, checkMarshal(flows)
}

func checkMarshal(flows []Flow) error {
	for i := range flows {
		m, err := json.Marshal(flows[i])
		if err != nil {
			return err
		}
		if a := flows[i].AppendJSON(nil); !bytes.Equal(m, a) {
			return fmt.Errorf("json.Marshal %s, AppendJSON %s", m, a)
		}
		if s := flows[i].String(); strings.Contains(s, "0001-01-01") && flows[i].Known&(FieldStart|FieldEnd) == 0 {
			return fmt.Errorf("String shows an unknown time: %s", s)
		}
	}
	return nil
}

// FuzzJSON decodes the messages of its input through one decoder (so that
// templates of one message serve the data of the next), encodes every flow
// and record, and requires valid JSON, one object a line.
func FuzzJSON(f *testing.F) {
	var prev []byte
	for _, file := range fixtureFiles(f) {
		payloads := fixturePayloads(f, file)
		whole := bytes.Join(payloads, nil)
		for _, p := range payloads {
			f.Add(p)
		}
		f.Add(whole)
		f.Add(append(slices.Clip(prev), whole...)) // a template file, then its data file
		prev = whole
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var problem error
		withWatchdog(t, fuzzTimeout, func() { problem = fuzzJSONOnce(data) })
		if problem != nil {
			t.Fatal(problem)
		}
	})
}

func fuzzJSONOnce(data []byte) error {
	d := NewDecoder(Config{})
	var out []byte
	var flows []Flow
	for len(data) > 0 {
		msg, rest, err := SplitMessage(data)
		if err != nil {
			msg, rest = data, nil
		}
		data = rest
		p, _ := d.Decode(testExporter, msg)
		if p == nil {
			continue
		}
		var err2 error
		out, err2 = appendPacketJSON(out[:0], p, flows)
		if err2 != nil {
			return err2
		}
		if err := matchLegacyJSON(p); err != nil {
			return err
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
			if len(line) > 0 && !json.Valid(line) {
				return errors.New("invalid JSON: " + string(line))
			}
		}
	}
	return nil
}
