package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/netflow"
)

// Bounds on what is read back from Redis, which is untrusted input: another
// program (or another fleet with a buggy build) may have written anything
// under the prefix.
const (
	// MaxTemplateFields is the most fields of a stored template.
	MaxTemplateFields = 512
	// templateHeaderLen is the encoded template's fixed part.
	templateHeaderLen = 10
	// fieldLen is the encoded length of one field.
	fieldLen = 8
	// maxTemplateValue is the longest template value accepted (4106 bytes).
	maxTemplateValue = templateHeaderLen + MaxTemplateFields*fieldLen
	// MaxStateValue is the longest encoded options state accepted (64 KiB);
	// SetExporterState refuses a larger one with netflow.ErrLimit.
	MaxStateValue = 64 << 10
	// maxKeySuffix bounds a key's part after the prefix.
	maxKeySuffix = 128
	// maxMessage bounds a change notification.
	maxMessage = 2 + maxKeySuffix + MaxStateValue
	// templateFormat is the first byte of every encoded template.
	templateFormat = 1
)

// malformed returns an error matching both netflow.ErrStore and
// netflow.ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %w: redisstore: %s", netflow.ErrStore, netflow.ErrMalformed, fmt.Sprintf(format, args...))
}

// encodeTemplate encodes t: format byte 1, flags (bit 0: options), version,
// ID, scope count, field count (big-endian uint16 each), then per field its
// ID (uint16), PEN (uint32) and length (uint16).
func encodeTemplate(t *netflow.Template) []byte {
	b := make([]byte, 0, templateHeaderLen+fieldLen*len(t.Fields))
	var flags byte
	if t.Options {
		flags = 1
	}
	b = append(b, templateFormat, flags)
	b = binary.BigEndian.AppendUint16(b, t.Version)
	b = binary.BigEndian.AppendUint16(b, t.ID)
	b = binary.BigEndian.AppendUint16(b, uint16(t.ScopeCount))
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Fields)))
	for _, f := range t.Fields {
		b = binary.BigEndian.AppendUint16(b, f.ID)
		b = binary.BigEndian.AppendUint32(b, f.PEN)
		b = binary.BigEndian.AppendUint16(b, f.Length)
	}
	return b
}

// decodeTemplate decodes a template stored under key and validates it with
// netflow.NewTemplate. It checks the length before it allocates.
func decodeTemplate(key netflow.TemplateKey, b []byte) (*netflow.Template, error) {
	if len(b) < templateHeaderLen || len(b) > maxTemplateValue {
		return nil, malformed("template %v: value of %d bytes", key, len(b))
	}
	if b[0] != templateFormat || b[1]&^1 != 0 {
		return nil, malformed("template %v: unknown format %d flags %#x", key, b[0], b[1])
	}
	version := binary.BigEndian.Uint16(b[2:])
	id := binary.BigEndian.Uint16(b[4:])
	scope := int(binary.BigEndian.Uint16(b[6:]))
	n := int(binary.BigEndian.Uint16(b[8:]))
	switch {
	case version != key.Version || id != key.ID:
		return nil, malformed("template %v: value holds version %d template %d", key, version, id)
	case n > MaxTemplateFields:
		return nil, malformed("template %v: %d fields (at most %d)", key, n, MaxTemplateFields)
	case len(b) != templateHeaderLen+n*fieldLen:
		return nil, malformed("template %v: %d fields in %d bytes", key, n, len(b))
	}
	fields := make([]netflow.TemplateField, n)
	for i := range fields {
		p := b[templateHeaderLen+i*fieldLen:]
		fields[i] = netflow.TemplateField{
			ID:     binary.BigEndian.Uint16(p),
			PEN:    binary.BigEndian.Uint32(p[2:]),
			Length: binary.BigEndian.Uint16(p[6:]),
		}
	}
	t, err := netflow.NewTemplate(version, id, b[1]&1 == 1, scope, fields)
	if err != nil {
		return nil, fmt.Errorf("%w: redisstore: template %v: %w", netflow.ErrStore, key, err)
	}
	return t, nil
}

// sameLayout reports whether two templates describe the same records.
func sameLayout(a, b *netflow.Template) bool {
	if a.Version != b.Version || a.ID != b.ID || a.Options != b.Options || a.ScopeCount != b.ScopeCount || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i] != b.Fields[i] {
			return false
		}
	}
	return true
}

// storedState is the JSON form of netflow.ExporterState.
type storedState struct {
	Samplers              map[uint64]uint32 `json:"samplers,omitempty"`
	SamplerAlgorithms     map[uint64]uint8  `json:"sampler_algorithms,omitempty"`
	SamplingInterval      uint32            `json:"sampling_interval,omitempty"`
	SamplingAlgorithm     uint8             `json:"sampling_algorithm,omitempty"`
	SystemInitNanos       int64             `json:"system_init_ns,omitempty"`
	HasSystemInit         bool              `json:"has_system_init,omitempty"`
	InterfaceNames        map[uint32]string `json:"interface_names,omitempty"`
	InterfaceDescriptions map[uint32]string `json:"interface_descriptions,omitempty"`
	VRFNames              map[uint32]string `json:"vrf_names,omitempty"`
	ApplicationNames      map[string]string `json:"application_names,omitempty"`
	Refused               uint64            `json:"refused,omitempty"`
}

// encodeState encodes st as JSON. A state whose encoding is longer than
// MaxStateValue is refused with netflow.ErrLimit.
func encodeState(st netflow.ExporterState) ([]byte, error) {
	s := storedState{
		Samplers: st.Samplers, SamplerAlgorithms: st.SamplerAlgorithms,
		SamplingInterval: st.SamplingInterval, SamplingAlgorithm: st.SamplingAlgorithm,
		InterfaceNames: st.InterfaceNames, InterfaceDescriptions: st.InterfaceDescriptions,
		VRFNames: st.VRFNames, ApplicationNames: st.ApplicationNames, Refused: st.Refused,
	}
	if !st.SystemInit.IsZero() {
		s.SystemInitNanos, s.HasSystemInit = st.SystemInit.UnixNano(), true
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: redisstore: encode state: %v", netflow.ErrStore, err)
	}
	if len(b) > MaxStateValue {
		return nil, fmt.Errorf("%w: redisstore: options state of %d bytes (at most %d)", netflow.ErrLimit, len(b), MaxStateValue)
	}
	return b, nil
}

// decodeState decodes a state value, bounded by MaxStateValue.
func decodeState(key netflow.TemplateKey, b []byte) (netflow.ExporterState, error) {
	if len(b) == 0 || len(b) > MaxStateValue {
		return netflow.ExporterState{}, malformed("state %v: value of %d bytes", key, len(b))
	}
	var s storedState
	if err := json.Unmarshal(b, &s); err != nil {
		return netflow.ExporterState{}, malformed("state %v: %v", key, err)
	}
	st := netflow.ExporterState{
		Samplers: s.Samplers, SamplerAlgorithms: s.SamplerAlgorithms,
		SamplingInterval: s.SamplingInterval, SamplingAlgorithm: s.SamplingAlgorithm,
		InterfaceNames: s.InterfaceNames, InterfaceDescriptions: s.InterfaceDescriptions,
		VRFNames: s.VRFNames, ApplicationNames: s.ApplicationNames, Refused: s.Refused,
	}
	if s.HasSystemInit {
		st.SystemInit = time.Unix(0, s.SystemInitNanos).UTC()
	}
	return st, nil
}

// templateSuffix is a template key's part after "<prefix>:t:":
// "<exporter>|<version>|<domain>|<id>", the exporter as
// netip.AddrPort.String ("192.0.2.1:2055", "[2001:db8::1]:2055").
func templateSuffix(k netflow.TemplateKey) string {
	return domainSuffix(k) + "|" + strconv.FormatUint(uint64(k.ID), 10)
}

// domainSuffix is a state key's part after "<prefix>:s:":
// "<exporter>|<version>|<domain>".
func domainSuffix(k netflow.TemplateKey) string {
	return k.Exporter.String() + "|" + strconv.FormatUint(uint64(k.Version), 10) + "|" + strconv.FormatUint(uint64(k.Domain), 10)
}

// parseSuffix parses a template suffix (withID) or a domain suffix. The
// exporter comes first and may itself hold '|' only in an IPv6 zone, so the
// numbers are taken from the right.
func parseSuffix(s string, withID bool) (netflow.TemplateKey, error) {
	var k netflow.TemplateKey
	if len(s) > maxKeySuffix {
		return k, malformed("key of %d bytes", len(s))
	}
	parts := 2
	if withID {
		parts = 3
	}
	nums := make([]uint64, parts)
	bits := []int{16, 32, 16}
	for i := parts - 1; i >= 0; i-- {
		j := strings.LastIndexByte(s, '|')
		if j < 0 {
			return k, malformed("key %q", s)
		}
		n, err := strconv.ParseUint(s[j+1:], 10, bits[i])
		if err != nil {
			return k, malformed("key %q: %v", s, err)
		}
		nums[i], s = n, s[:j]
	}
	exp, err := netip.ParseAddrPort(s)
	if err != nil {
		return k, malformed("key exporter %q: %v", s, err)
	}
	k.Exporter, k.Version, k.Domain = exp, uint16(nums[0]), uint32(nums[1])
	if withID {
		k.ID = uint16(nums[2])
	}
	return k, nil
}

// globEscape escapes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
