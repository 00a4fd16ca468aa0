package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

func headers(auth, sign string) http.Header {
	h := http.Header{}
	if auth != "" {
		h.Set(headerAuth, auth)
	}
	if sign != "" {
		h.Set(headerSign, sign)
	}
	return h
}

// TestAuthFailures: every way to fail authentication is a 401 with a JSON
// error saying why, and changes nothing.
func TestAuthFailures(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	keySig := signature(testSignKey, []byte(testAuthKey))
	body := []byte(`{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`)
	bodySig := signature(testSignKey, body)
	cases := []struct {
		name    string
		method  string
		body    []byte
		h       http.Header
		message string
	}{
		{"no headers", "GET", nil, headers("", ""), "missing"},
		{"no signature", "GET", nil, headers(testAuthKey, ""), "missing"},
		{"no auth key", "GET", nil, headers("", keySig), "missing"},
		{"wrong auth key", "GET", nil, headers("other-key", signature(testSignKey, []byte("other-key"))), "wrong auth key"},
		{"auth key prefix", "GET", nil, headers(testAuthKey[:4], keySig), "wrong auth key"},
		{"signature with another key", "GET", nil, headers(testAuthKey, signature("other", []byte(testAuthKey))), "wrong signature"},
		{"uppercase signature", "GET", nil, headers(testAuthKey, strings.ToUpper(keySig)), "wrong signature"},
		{"truncated signature", "GET", nil, headers(testAuthKey, keySig[:63]), "wrong signature"},
		{"body signature without a body", "GET", nil, headers(testAuthKey, bodySig), "wrong signature"},
		{"signature of another body", "PUT", body, headers(testAuthKey, signature(testSignKey, []byte("{}"))), "wrong signature"},
		{"right signature, wrong key", "PUT", body, headers("x", bodySig), "wrong auth key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/senders"
			if c.method == "PUT" {
				path = "/senders/127.0.0.1"
			}
			status, out := request(t, ts.api.URL, c.method, path, c.body, c.h)
			require.Equal(t, 401, status)
			require.Contains(t, out["error"], c.message)
		})
	}
	// Repeated headers are refused too.
	h := headers(testAuthKey, keySig)
	h.Add(headerSign, keySig)
	status, _ := request(t, ts.api.URL, "GET", "/senders", nil, h)
	require.Equal(t, 401, status)

	// Nothing was registered by the refused PUTs.
	status, out := ts.call("GET", "/senders", nil)
	require.Equal(t, 200, status)
	require.Empty(t, out["senders"])

	// Both forms work by default: the auth key's signature, and the body's.
	status, _ = request(t, ts.api.URL, "PUT", "/senders/127.0.0.1", body, headers(testAuthKey, keySig))
	require.Equal(t, 200, status)
	status, _ = request(t, ts.api.URL, "PUT", "/senders/127.0.0.2", body, headers(testAuthKey, bodySig))
	require.Equal(t, 200, status)
}

// TestRequireBodySignature: with -require-body-signature, a request with a
// body must sign the body; one without a body still signs the auth key.
func TestRequireBodySignature(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.requireBodySignature = true
	ts := startService(t, url, opts)
	keySig := signature(testSignKey, []byte(testAuthKey))
	body := []byte(`{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`)

	status, out := request(t, ts.api.URL, "PUT", "/senders/127.0.0.1", body, headers(testAuthKey, keySig))
	require.Equal(t, 401, status)
	require.Contains(t, out["error"], "must sign the body")
	status, _ = ts.call("GET", "/senders/127.0.0.1", nil)
	require.Equal(t, 404, status, "the refused PUT registered nothing")

	status, _ = request(t, ts.api.URL, "PUT", "/senders/127.0.0.1", body, headers(testAuthKey, signature(testSignKey, body)))
	require.Equal(t, 200, status)
	status, _ = request(t, ts.api.URL, "GET", "/senders", nil, headers(testAuthKey, keySig))
	require.Equal(t, 200, status)
	status, _ = request(t, ts.api.URL, "DELETE", "/senders/127.0.0.1", nil, headers(testAuthKey, keySig))
	require.Equal(t, 200, status)
}

// TestPrefixValidation: each bad prefix is a 400 whose message says what
// is wrong; nothing is stored.
func TestPrefixValidation(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	cases := []struct {
		name, body, message string
	}{
		{"not the first address v4", `{"prefixes":[{"prefix":"192.0.2.1","prefixLen":24}]}`, "not the first address of its network 192.0.2.0/24"},
		{"not the first address v6", `{"prefixes":[{"prefix":"2001:db8::1","prefixLen":32}]}`, "not the first address of its network 2001:db8::/32"},
		{"length over 32", `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":33}]}`, "prefixLen 33 out of range 0-32"},
		{"length over 128", `{"prefixes":[{"prefix":"2001:db8::","prefixLen":129}]}`, "prefixLen 129 out of range 0-128"},
		{"negative length", `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":-1}]}`, "out of range"},
		{"missing length", `{"prefixes":[{"prefix":"192.0.2.0"}]}`, "prefixLen missing"},
		{"not an address", `{"prefixes":[{"prefix":"example.com","prefixLen":24}]}`, "not an IP address"},
		{"zone", `{"prefixes":[{"prefix":"fe80::%eth0","prefixLen":64}]}`, "not an IP address"},
		{"mapped", `{"prefixes":[{"prefix":"::ffff:192.0.2.0","prefixLen":120}]}`, "IPv4-mapped"},
		{"second one bad", `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24},{"prefix":"10.0.0.1","prefixLen":8}]}`, "prefixes[1]"},
		{"bad JSON", `{"prefixes":[`, "bad JSON"},
		{"length as string", `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":"24"}]}`, "bad JSON"},
		{"fractional length", `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24.5}]}`, "bad JSON"},
		{"unknown key", `{"prefixes":[],"extra":1}`, "bad JSON"},
		{"no prefixes key", `{}`, "bad JSON"},
		{"trailing data", `{"prefixes":[]} {}`, "bad JSON"},
		{"not an object", `[1,2]`, "bad JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := ts.call("PUT", "/senders/127.0.0.1", c.body)
			require.Equal(t, 400, status, "%v", out)
			require.Contains(t, out["error"], c.message)
		})
	}
	status, out := ts.call("GET", "/senders", nil)
	require.Equal(t, 200, status)
	require.Empty(t, out["senders"])

	status, out = ts.call("PUT", "/senders/not-an-ip", `{"prefixes":[]}`)
	require.Equal(t, 400, status)
	require.Contains(t, out["error"], "not an IP address")

	// Good prefixes, /0 and full length included, in any order and twice:
	// stored once, sorted.
	status, out = ts.call("PUT", "/senders/2001:db8::1", prefixBody("2001:db8::/32", "192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0", "2001:db8::1/128"))
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, []any{
		map[string]any{"prefix": "0.0.0.0", "prefixLen": 0.0},
		map[string]any{"prefix": "192.0.2.0", "prefixLen": 24.0},
		map[string]any{"prefix": "2001:db8::", "prefixLen": 32.0},
		map[string]any{"prefix": "2001:db8::1", "prefixLen": 128.0},
	}, out["prefixes"])
}

// TestSendersAPI: add (idempotent), remove prefixes, delete, 404s.
func TestSendersAPI(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	for range 2 {
		status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24", "2001:db8::/32"))
		require.Equal(t, 200, status, "%v", out)
		require.Len(t, out["prefixes"], 2)
	}
	status, out := ts.call("GET", "/senders/127.0.0.1", nil)
	require.Equal(t, 200, status)
	require.Equal(t, "127.0.0.1", out["ip"])
	require.Len(t, out["prefixes"], 2)
	require.EqualValues(t, 0, out["counters"].(map[string]any)["datagrams"])

	status, out = ts.call("DELETE", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, []any{map[string]any{"prefix": "2001:db8::", "prefixLen": 32.0}}, out["prefixes"])

	status, out = ts.call("DELETE", "/senders/127.0.0.1", `{"prefixes":[{"prefix":"1.2.3.4","prefixLen":8}]}`)
	require.Equal(t, 400, status)
	require.Contains(t, out["error"], "not the first address")

	status, _ = ts.call("DELETE", "/senders/127.0.0.1", nil)
	require.Equal(t, 200, status)
	status, _ = ts.call("DELETE", "/senders/127.0.0.1", nil)
	require.Equal(t, 404, status)
	status, _ = ts.call("GET", "/senders/127.0.0.1", nil)
	require.Equal(t, 404, status)
	status, _ = ts.call("DELETE", "/senders/127.0.0.9", prefixBody("192.0.2.0/24"))
	require.Equal(t, 404, status)
}

// TestHostileRequests: oversized bodies, bad stats queries, unknown calls:
// every one a 4xx with a JSON message.
func TestHostileRequests(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.maxBody = 1024
	ts := startService(t, url, opts)
	status, _ := ts.call("PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)

	big := `{"prefixes":[` + strings.Repeat(`{"prefix":"192.0.2.0","prefixLen":24},`, 100) + `]}`
	status, out := ts.call("PUT", "/senders/127.0.0.1", big)
	require.Equal(t, 413, status)
	require.Contains(t, out["error"], "larger than the limit")

	cases := []struct{ name, body, message string }{
		{"unknown granularity", `{"weeks":["2024-03"]}`, "unknown key"},
		{"bad minute", `{"minutes":["2024-03-01 12"]}`, "not in the form"},
		{"bad hour", `{"hours":["2024-03-01 24"]}`, "not in the form"},
		{"month 13", `{"months":["2024-13"]}`, "not in the form"},
		{"non-canonical day", `{"days":["2024-3-1"]}`, "not in the form"},
		{"unknown field", `{"minutes":{"2024-03-01 12:00":["dstmac:1"]}}`, "field"},
		{"port too big", `{"minutes":{"2024-03-01 12:00":["dstport:65536"]}}`, "16 bits"},
		{"proto too big", `{"minutes":{"2024-03-01 12:00":["proto:256"]}}`, "8 bits"},
		{"bad ip", `{"minutes":{"2024-03-01 12:00":["srcip:300.1.1.1"]}}`, "not an IP address"},
		{"field not a string", `{"minutes":{"2024-03-01 12:00":[1]}}`, "bad JSON"},
		{"null", `{"minutes":null}`, "bad JSON"},
		{"no fields", `{"minutes":{"2024-03-01 12:00":[]}}`, "no fields"},
		{"null fields", `{"minutes":{"2024-03-01 12:00":null}}`, "no fields"},
		{"number", `{"minutes":5}`, "bad JSON"},
		{"not an object", `[]`, "bad JSON"},
		{"empty", ``, "bad JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := ts.call("POST", "/stats/127.0.0.1", c.body)
			require.Equal(t, 400, status, "%v", out)
			require.Contains(t, out["error"], c.message)
		})
	}
	// Too many fields in one request (in a body under the limit, with a
	// service whose limit allows it).
	opts.maxBody = 1 << 20
	ts2 := startService(t, url, opts)
	fields := make([]string, maxQueryFields+1)
	for i := range fields {
		fields[i] = "srcport:" + itoa(i)
	}
	status, out = ts2.call("POST", "/stats/127.0.0.1", map[string]any{"minutes": map[string][]string{"2024-03-01 12:00": fields}})
	require.Equal(t, 400, status, "%v", out)
	require.Contains(t, out["error"], "at most")

	status, out = ts.call("GET", "/nothing", nil)
	require.Equal(t, 404, status)
	require.Contains(t, out["error"], "no such call")
	status, _ = ts.call("POST", "/stats/127.0.0.1", `{"minutes":[]}`)
	require.Equal(t, 200, status)
}
