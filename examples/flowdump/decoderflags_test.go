package main

import (
	"strings"
	"testing"
)

// TestDecoderFlags: -stats prints the sequence counters (netflow5.dat: 12
// datagrams in order, no loss), -ie loads a definitions file, the sampling
// flags and the table bounds are checked.
func TestDecoderFlags(t *testing.T) {
	root := "../../testdata/"
	_, errOut, code := flowdump(t, "-stats", root+"logstash-codec-netflow/netflow5.dat")
	if code != 0 || !strings.Contains(errOut, "v5 domain 0: 12 messages, lost 0 flows, late 0, duplicates 0, restarts 0") {
		t.Fatalf("exit %d, -stats:\n%s", code, errOut)
	}
	out, _, code := flowdump(t, "-json", "-ie", root+"definitions/barracuda.json", "-sampling-default", "0.0.0.0/0=10",
		"-sampling-scale", root+"logstash-codec-netflow/ipfix_test_barracuda_extended_uniflow_tpl256.dat",
		root+"logstash-codec-netflow/ipfix_test_barracuda_extended_uniflow_data256.dat")
	if code != 0 || !strings.Contains(out, "barracudaBindIPv4Address") {
		t.Fatalf("exit %d, -ie output lacks the element's name:\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"-ie", root + "definitions/missing.json"},
		{"-ie", root + "logstash-codec-netflow/netflow5.dat"},
		{"-sampling-default", "10.0.0.0/8"},
		{"-sampling-override", "10.0.0.0/8=0"},
		{"-sampling-override", "nonsense=5"},
		{"-max-exporters", "-1"},
		{"-max-domains", "-3"},
	} {
		if _, _, code := flowdump(t, append(bad, root+"logstash-codec-netflow/netflow5.dat")...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
