package netflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// ElementDefinitions is what a definitions file names: information
// elements for a Registry and the Flow fields some of them fill.
type ElementDefinitions struct {
	Elements []InfoElement
	Mappings []FlowMapping
}

// Registry returns a registry that knows the definitions' elements besides
// the built-in ones (NewRegistry).
func (d *ElementDefinitions) Registry() *Registry { return NewRegistry(d.Elements...) }

// elementDefinition is one entry of a definitions file.
type elementDefinition struct {
	Name      string `json:"name"`
	PEN       uint32 `json:"pen"`
	ID        *int   `json:"id"`
	Type      string `json:"type"`
	FlowField string `json:"flow_field"`
}

// Limits of a definitions file: it is read whole, so its size is bounded.
const (
	maxDefinitionsBytes = 4 << 20
	maxDefinitions      = 65536
	maxDefinitionName   = 256
)

// ParseElementDefinitions reads a definitions file: a JSON array of
// elements, each {"name": ..., "pen": ..., "id": ..., "type": ...,
// "flow_field": ...}. type is an IANA abstract data type ("unsigned32",
// "ipv4Address", ...); flow_field, optional, is the JSON key of the Flow
// field the element fills (FlowFieldByName: "src_addr", "vlan", ...). An
// enterprise element (pen not 0) has an ID below 32768; pen 0 names a v9
// field type or an IANA element. Every problem, including a file over
// 4 MiB, more than 65536 elements, a repeated (pen, id), an unknown type or
// field, or an unknown key, is an error matching ErrMalformed.
func ParseElementDefinitions(r io.Reader) (*ElementDefinitions, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDefinitionsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: element definitions: %v", ErrMalformed, err)
	}
	if len(data) > maxDefinitionsBytes {
		return nil, fmt.Errorf("%w: element definitions: more than %d bytes", ErrMalformed, maxDefinitionsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var defs []elementDefinition
	if err := dec.Decode(&defs); err != nil {
		return nil, fmt.Errorf("%w: element definitions: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: element definitions: data after the array", ErrMalformed)
	}
	if len(defs) > maxDefinitions {
		return nil, fmt.Errorf("%w: element definitions: more than %d elements", ErrMalformed, maxDefinitions)
	}
	out := &ElementDefinitions{}
	seen := make(map[elementKey]bool, len(defs))
	for i, def := range defs {
		bad := func(what string) error {
			return fmt.Errorf("%w: element definition %d (%.64q): %s", ErrMalformed, i, def.Name, what)
		}
		switch {
		case def.Name == "" || len(def.Name) > maxDefinitionName:
			return nil, bad("name empty or longer than 256 bytes")
		case def.ID == nil || *def.ID < 0 || *def.ID > 0xffff || (def.PEN != 0 && *def.ID > 0x7fff):
			return nil, bad("id missing or out of range")
		}
		typ, ok := dataTypeByName(def.Type)
		if !ok {
			return nil, bad("unknown type")
		}
		k := elementKey{pen: def.PEN, id: uint16(*def.ID)}
		if seen[k] {
			return nil, bad("(pen, id) defined twice")
		}
		seen[k] = true
		out.Elements = append(out.Elements, InfoElement{ID: k.id, PEN: k.pen, Name: def.Name, Type: typ})
		if def.FlowField == "" {
			continue
		}
		f, ok := FlowFieldByName(def.FlowField)
		if _, mappable := destOfField(f); !ok || !mappable {
			return nil, bad("unknown flow_field")
		}
		out.Mappings = append(out.Mappings, FlowMapping{PEN: k.pen, ID: k.id, Field: f})
	}
	return out, nil
}

func dataTypeByName(s string) (DataType, bool) {
	for t, name := range dataTypeNames {
		if name == s && DataType(t) != TypeUnknown {
			return DataType(t), true
		}
	}
	return TypeUnknown, false
}

// flowFieldNames are the JSON keys of the Flow fields an element may fill.
var flowFieldNames = map[string]FlowFields{
	"src_addr": FieldSrcAddr, "dst_addr": FieldDstAddr, "next_hop": FieldNextHop,
	"src_port": FieldSrcPort, "dst_port": FieldDstPort, "proto": FieldProto, "tos": FieldToS,
	"tcp_flags": FieldTCPFlags, "src_mask": FieldSrcMask, "dst_mask": FieldDstMask,
	"packets": FieldPackets, "bytes": FieldBytes, "in_if": FieldInIf, "out_if": FieldOutIf,
	"src_as": FieldSrcAS, "dst_as": FieldDstAS, "sampling_interval": FieldSamplingInterval,
	"src_mac": FieldSrcMAC, "dst_mac": FieldDstMAC, "vlan": FieldVLAN, "post_vlan": FieldPostVLAN,
	"direction": FieldDirection, "end_reason": FieldEndReason, "bgp_next_hop": FieldBGPNextHop,
	"icmp_type": FieldICMPType, "icmp_code": FieldICMPCode, "ip_version": FieldIPVersion,
	"in_vrf": FieldInVRF, "out_vrf": FieldOutVRF, "mpls_label": FieldMPLSLabel, "eth_type": FieldEthType,
	"post_nat_src_addr": FieldPostNATSrcAddr, "post_nat_dst_addr": FieldPostNATDstAddr,
	"post_nat_src_port": FieldPostNATSrcPort, "post_nat_dst_port": FieldPostNATDstPort,
}

// FlowFieldByName returns the Flow field whose JSON key is name
// ("src_addr", "vlan", "post_nat_src_port", ...), for the fields an element
// may fill (FlowMapping).
func FlowFieldByName(name string) (FlowFields, bool) {
	f, ok := flowFieldNames[name]
	return f, ok
}
