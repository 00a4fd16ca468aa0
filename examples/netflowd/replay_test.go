package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

func prefixBody(ps ...string) map[string]any {
	list := []map[string]any{}
	for _, s := range ps {
		p := netip.MustParsePrefix(s)
		list = append(list, map[string]any{"prefix": p.Addr().String(), "prefixLen": p.Bits()})
	}
	return map[string]any{"prefixes": list}
}

// TestReplaySoftflowdV5 replays softflowd's v5 capture to the service over
// loopback and compares the hour and minute totals, all and per dstport, with
// those computed from tshark's decode of the same capture. A second sender,
// not registered, sends the same capture and changes nothing.
func TestReplaySoftflowdV5(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	prefixes := []string{"192.0.2.0/24"}
	status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody(prefixes...))
	require.Equal(t, 200, status, "%v", out)

	want, unmatched := totalsFromTshark(t, "../../testdata/expected/softflowd_v5.json", mustPrefixes(prefixes))
	require.NotEmpty(t, want["minutes"])
	require.EqualValues(t, 1, unmatched, "the 127.0.0.1 -> 127.0.0.2 flow")

	payloads := udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap")
	replay(t, "127.0.0.1", ts.udp, payloads)
	ts.waitDatagrams("127.0.0.1", float64(len(payloads)))
	require.NoError(t, ts.svc.flush(context.Background()))
	require.Equal(t, want, statsOf(t, ts.api.URL, "127.0.0.1", want))

	_, detail := ts.call("GET", "/senders/127.0.0.1", nil)
	counters := detail["counters"].(map[string]any)
	require.EqualValues(t, 7, counters["flows"])
	require.EqualValues(t, unmatched, counters["unmatched"])
	require.NotEmpty(t, counters["lastSeen"])

	// An unregistered sender: dropped before decoding, counted, and the
	// totals do not move.
	before := ts.svc.rcv.Stats().Total
	replay(t, "127.0.0.2", ts.udp, payloads)
	require.Eventually(t, func() bool {
		return ts.svc.rcv.Stats().Total.Denied == before.Denied+uint64(len(payloads))
	}, 5e9, 1e7)
	after := ts.svc.rcv.Stats().Total
	require.Equal(t, before.Decoded, after.Decoded, "nothing decoded")
	require.NoError(t, ts.svc.flush(context.Background()))
	require.Equal(t, want, statsOf(t, ts.api.URL, "127.0.0.1", want))
	_, list := ts.call("GET", "/senders", nil)
	require.EqualValues(t, len(payloads), list["unregistered"])
	require.Len(t, list["senders"], 1)
	status, _ = ts.call("GET", "/senders/127.0.0.2", nil)
	require.Equal(t, 404, status)
	status, _ = ts.call("POST", "/stats/127.0.0.2", want.query())
	require.Equal(t, 404, status)
}

// TestReplayJuniperSampled replays a Juniper MX80's v5 datagram whose
// header declares 1-in-1000 sampling: packets and bytes count 1000 times
// tshark's figures, every field (AS numbers included) as tshark shows it.
func TestReplayJuniperSampled(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	prefixes := []string{"10.0.0.0/8", "192.168.0.0/16"}
	status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody(prefixes...))
	require.Equal(t, 200, status, "%v", out)
	want, unmatched := totalsFromTshark(t, "../../testdata/expected/netflow5_test_juniper_mx80.json", mustPrefixes(prefixes))
	require.Zero(t, unmatched)
	dat, err := os.ReadFile("../../testdata/logstash-codec-netflow/netflow5_test_juniper_mx80.dat")
	require.NoError(t, err)
	replay(t, "127.0.0.1", ts.udp, [][]byte{dat})
	ts.waitDatagrams("127.0.0.1", 1)
	require.NoError(t, ts.svc.flush(context.Background()))
	require.Equal(t, want, statsOf(t, ts.api.URL, "127.0.0.1", want))
	var flows uint64
	for _, b := range want["minutes"] {
		a := b["all"]
		flows += a.Flows
		require.Zero(t, a.Packets%1000, "scaled by the sampling interval")
	}
	require.EqualValues(t, 29, flows)
	for _, b := range want["hours"] {
		require.Greater(t, len(b), 20, "fields of every kind compared")
		require.Contains(t, b, "srcas:64497")
	}
}

// TestReplaySoftflowdV9 replays softflowd's v9 capture. tshark stops after
// the header's count of sets and misses the last set (two ICMPv4 flows
// between 192.0.2.10 and 198.51.100.1, testdata/README.md), so the
// sender's prefixes leave those addresses out: the totals compared are
// those of flows tshark decoded. The prefixes make some flows out, some
// in and some both.
func TestReplaySoftflowdV9(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	prefixes := []string{"198.51.100.16/28", "198.51.100.48/28", "2001:db8::/32", "127.0.0.0/8"}
	status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody(prefixes...))
	require.Equal(t, 200, status, "%v", out)

	want, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v9.json", mustPrefixes(prefixes))
	payloads := udpPayloads(t, "../../testdata/softflowd/softflowd_v9.pcap")
	replay(t, "127.0.0.1", ts.udp, payloads)
	ts.waitDatagrams("127.0.0.1", float64(len(payloads)))
	require.NoError(t, ts.svc.flush(context.Background()))
	got := statsOf(t, ts.api.URL, "127.0.0.1", want)
	require.Equal(t, want, got)
	// The capture's flows start within one minute: 22:13 on 2023-11-14.
	all := got["minutes"]["2023-11-14 22:13"]["all"]
	require.EqualValues(t, 8, all.Flows)
	require.NotZero(t, all.In.Flows)
	require.NotZero(t, all.Out.Flows)
	// The sender's counters: tshark's 9 data flows and the 2 of the set
	// it skipped; unmatched, the ::1 flow and those 2.
	_, detail := ts.call("GET", "/senders/127.0.0.1", nil)
	counters := detail["counters"].(map[string]any)
	require.EqualValues(t, 9+2, counters["flows"])
	require.EqualValues(t, 1+2, counters["unmatched"])
}

func mustPrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestSendersTakeEffectAtOnce: a sender's datagrams are refused before it
// is registered, counted from the PUT on, and refused again after the
// DELETE.
func TestSendersTakeEffectAtOnce(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	payloads := udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap")
	denied := func() uint64 { return ts.svc.rcv.Stats().Total.Denied }

	replay(t, "127.0.0.3", ts.udp, payloads)
	require.Eventually(t, func() bool { return denied() == 1 }, 5*time.Second, 10*time.Millisecond)

	status, _ := ts.call("PUT", "/senders/127.0.0.3", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)
	replay(t, "127.0.0.3", ts.udp, payloads)
	ts.waitDatagrams("127.0.0.3", 1)
	require.EqualValues(t, 1, denied())

	status, _ = ts.call("DELETE", "/senders/127.0.0.3", nil)
	require.Equal(t, 200, status)
	replay(t, "127.0.0.3", ts.udp, payloads)
	require.Eventually(t, func() bool { return denied() == 2 }, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 1, ts.svc.rcv.Stats().Total.Decoded, "only the datagram sent while registered was decoded")
}

// TestIPv6Sender: a sender registered by its IPv6 address, sending over
// IPv6 loopback.
func TestIPv6Sender(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	url := redistest.Start(t).URL()
	ts := startServiceOn(t, url, testOptions(), "[::1]:0")
	prefixes := []string{"192.0.2.0/24"}
	status, out := ts.call("PUT", "/senders/::1", prefixBody(prefixes...))
	require.Equal(t, 200, status, "%v", out)
	want, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v5.json", mustPrefixes(prefixes))
	replay(t, "::1", ts.udp, udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap"))
	ts.waitDatagrams("::1", 1)
	require.NoError(t, ts.svc.flush(context.Background()))
	require.Equal(t, want, statsOf(t, ts.api.URL, "::1", want))
	_, list := ts.call("GET", "/senders", nil)
	require.Equal(t, "::1", list["senders"].([]any)[0].(map[string]any)["ip"])
}
