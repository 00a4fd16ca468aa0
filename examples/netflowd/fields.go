package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// kind is a tracked flow field: the part before the colon of a statistics
// field name such as dstport:443.
type kind uint8

// The tracked fields. kindAll is the field "all", every flow.
const (
	kindProto kind = iota
	kindSrcIP
	kindSrcPort
	kindSrcAS
	kindDstIP
	kindDstPort
	kindDstAS
	numKinds
	kindAll = numKinds
)

// kindNames are the field names as the API writes them.
var kindNames = [numKinds]string{"proto", "srcip", "srcport", "srcas", "dstip", "dstport", "dstas"}

// otherValue is the value under which a bucket counts the flows whose value
// of a field came after -max-values others: dstport:other.
const otherValue = "other"

// String returns the field's API name.
func (k kind) String() string {
	if k == kindAll {
		return "all"
	}
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// isAddr reports whether the field's values are addresses.
func (k kind) isAddr() bool { return k == kindSrcIP || k == kindDstIP }

// kindSet is a set of tracked fields, one bit each.
type kindSet uint8

// allKinds tracks every field.
const allKinds kindSet = 1<<numKinds - 1

func (s kindSet) has(k kind) bool { return s&(1<<k) != 0 }

// parseKinds parses the -fields flag: comma-separated field names, or
// "all" (or empty) for every field, or "none".
func parseKinds(list string) (kindSet, error) {
	switch strings.TrimSpace(list) {
	case "", "all":
		return allKinds, nil
	case "none":
		return 0, nil
	}
	var s kindSet
	for name := range strings.SplitSeq(list, ",") {
		k, ok := kindByName(strings.TrimSpace(name))
		if !ok {
			return 0, fmt.Errorf("unknown field %q (want proto, srcip, srcport, srcas, dstip, dstport, dstas)", name)
		}
		s |= 1 << k
	}
	return s, nil
}

func kindByName(name string) (kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return kind(k), true
		}
	}
	return 0, false
}

// parseField checks a statistics field name of a request ("all",
// "dstport:443", "srcip:2001:db8::1", "proto:other") and returns its
// canonical form.
func parseField(name string) (string, error) {
	if name == "all" {
		return name, nil
	}
	kn, value, ok := strings.Cut(name, ":")
	k, known := kindByName(kn)
	if !ok || !known {
		return "", fmt.Errorf("field %q: want all or one of proto:N, srcip:IP, srcport:N, srcas:N, dstip:IP, dstport:N, dstas:N", name)
	}
	if value == otherValue {
		return name, nil
	}
	switch {
	case k.isAddr():
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("field %q: %q is not an IP address", name, value)
		}
		return kn + ":" + a.String(), nil
	default:
		bits := map[kind]int{kindProto: 8, kindSrcPort: 16, kindDstPort: 16, kindSrcAS: 32, kindDstAS: 32}[k]
		n, err := strconv.ParseUint(value, 10, bits)
		if err != nil {
			return "", fmt.Errorf("field %q: %q is not a number of %d bits", name, value, bits)
		}
		return kn + ":" + strconv.FormatUint(n, 10), nil
	}
}
