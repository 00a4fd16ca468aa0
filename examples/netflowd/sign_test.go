package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestSignature: the request signature covers the method, the path,
// the timestamp and the body: a captured request is refused when replayed,
// when its signature is put on another method, path or body, and once its
// timestamp is out of the window; the seed's key signature, still
// accepted, authorises any call (what -require-request-signature stops).
func TestRequestSignature(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	body := []byte(`{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`)
	const path = "/senders/127.0.0.1"
	put := signedHeaders("PUT", path, body, time.Now(), newNonce())
	status, out := request(t, ts.api.URL, "PUT", path, body, put)
	require.Equal(t, 200, status, "%v", out)

	refused := func(what, method, path string, body []byte, h http.Header, message string) {
		t.Helper()
		status, out := request(t, ts.api.URL, method, path, body, h)
		assert.Equal(t, 401, status, what)
		assert.Contains(t, out["error"], message, what)
	}
	refused("replayed", "PUT", path, body, put, "replayed request")
	// The PUT's headers on a DELETE of the same path (no body, and with it).
	refused("another method", "DELETE", path, nil, put, "wrong signature")
	refused("another method, same body", "DELETE", path, body, put, "wrong signature")
	refused("another path", "PUT", "/senders/127.0.0.2", body, put, "wrong signature")
	refused("another body", "PUT", path, []byte(`{"prefixes":[{"prefix":"0.0.0.0","prefixLen":0}]}`), put, "wrong signature")
	// A GET's signature on a DELETE.
	get := signedHeaders("GET", path, nil, time.Now(), newNonce())
	status, _ = request(t, ts.api.URL, "GET", path, nil, get)
	require.Equal(t, 200, status)
	refused("a GET's signature on a DELETE", "DELETE", path, nil, get, "wrong signature")

	// The window: 5 minutes either way.
	for _, c := range []struct {
		off  time.Duration
		want int
	}{{-6 * time.Minute, 401}, {-4 * time.Minute, 200}, {4 * time.Minute, 200}, {6 * time.Minute, 401}} {
		status, out := request(t, ts.api.URL, "GET", "/senders", nil, signedHeaders("GET", "/senders", nil, time.Now().Add(c.off), newNonce()))
		assert.Equal(t, c.want, status, "timestamp %v off: %v", c.off, out)
		if c.want == 401 {
			assert.Contains(t, out["error"], "off the service's clock")
		}
	}

	// Malformed headers.
	h := signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	h.Del("X-Io-Nonce")
	refused("no nonce", "GET", "/senders", nil, h, "missing X-Io-Nonce")
	h = signedHeaders("GET", "/senders", nil, time.Now(), "short")
	refused("short nonce", "GET", "/senders", nil, h, "X-Io-Nonce must be 16 to 64")
	h = signedHeaders("GET", "/senders", nil, time.Now(), "0123456789abcdef/")
	refused("slash in the nonce", "GET", "/senders", nil, h, "X-Io-Nonce must be")
	h = signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	h.Set("X-Io-Timestamp", "+"+h.Get("X-Io-Timestamp"))
	refused("signed timestamp", "GET", "/senders", nil, h, "is not Unix seconds")
	h = signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	h.Add("X-Io-Signature", h.Get("X-Io-Signature"))
	refused("two signatures", "GET", "/senders", nil, h, "repeated X-Io-Signature")
	h = signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	h.Set(headerSign, signature(testSignKey, []byte(testAuthKey)))
	refused("both schemes", "GET", "/senders", nil, h, "use one scheme")
	h = signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	h.Set("X-Io-Auth", "other")
	refused("wrong auth key", "GET", "/senders", nil, h, "wrong auth key")

	// The seed's key signature still works, for any call: replayable.
	keySig := headers(testAuthKey, signature(testSignKey, []byte(testAuthKey)))
	for range 2 {
		status, _ = request(t, ts.api.URL, "GET", path, nil, keySig)
		assert.Equal(t, 200, status)
	}
	status, _ = request(t, ts.api.URL, "DELETE", path, nil, keySig)
	assert.Equal(t, 200, status)
}

// TestRequireRequestSignature: with -require-request-signature the seed's
// schemes are refused, with a message saying what to use.
func TestRequireRequestSignature(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.requireRequestSignature = true
	ts := startService(t, url, opts)
	body := []byte(`{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`)
	for _, h := range []http.Header{
		headers(testAuthKey, signature(testSignKey, []byte(testAuthKey))),
		headers(testAuthKey, signature(testSignKey, body)),
	} {
		status, out := request(t, ts.api.URL, "PUT", "/senders/127.0.0.1", body, h)
		assert.Equal(t, 401, status)
		assert.Contains(t, out["error"], "accepts only request signatures")
	}
	status, out := ts.call("PUT", "/senders/127.0.0.1", string(body))
	require.Equal(t, 200, status, "%v", out)
}

// TestNonceCacheFull: a service remembering 3 nonces refuses the 4th signed
// request of the window with 503 and Retry-After, and forgets no nonce
// early: the first request replayed is still refused.
func TestNonceCacheFull(t *testing.T) {
	url := redistest.Start(t).URL()
	opts := testOptions()
	opts.nonceCache = 3
	ts := startService(t, url, opts)
	first := signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	status, _ := request(t, ts.api.URL, "GET", "/senders", nil, first)
	require.Equal(t, 200, status)
	for range 2 {
		status, _ := ts.call("GET", "/senders", nil)
		require.Equal(t, 200, status)
	}
	req, err := http.NewRequest("GET", ts.api.URL+"/senders", nil)
	require.NoError(t, err)
	req.Header = signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	status, out := request(t, ts.api.URL, "GET", "/senders", nil, first)
	assert.Equal(t, 401, status)
	assert.Contains(t, out["error"], "replayed")
}

// TestNonceCache: a nonce is refused until its expiry, then may come back;
// the cache never holds more than its bound, and drops expired nonces to
// make room (at most one walk a second).
func TestNonceCache(t *testing.T) {
	c := newNonceCache(3)
	require.NoError(t, c.add("a", 100, 0))
	assert.ErrorIs(t, c.add("a", 100, 50), errReplayed)
	assert.ErrorIs(t, c.add("a", 100, 100), errReplayed, "refused through its last second")
	require.NoError(t, c.add("a", 300, 101), "expired: a new request may use it")
	require.NoError(t, c.add("b", 200, 101))
	require.NoError(t, c.add("c", 200, 101))
	assert.ErrorIs(t, c.add("d", 200, 101), errNonceCacheFull)
	assert.ErrorIs(t, c.add("e", 200, 150), errNonceCacheFull, "nothing expired")
	assert.Equal(t, 3, c.len())
	// At 201, b and c have expired: one walk drops them.
	require.NoError(t, c.add("d", 400, 201))
	require.NoError(t, c.add("e", 400, 201))
	assert.ErrorIs(t, c.add("f", 400, 201), errNonceCacheFull)
	assert.ErrorIs(t, c.add("a", 400, 250), errReplayed)
	assert.Equal(t, 3, c.len())
}

// TestMethodNotAllowed: a method a path does not take is 405 with Allow
// (JSON, before authentication); a path with no call is 404.
func TestMethodNotAllowed(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/senders", "GET, HEAD"},
		{"POST", "/senders", "GET, HEAD"},
		{"PATCH", "/senders/192.0.2.1", "GET, HEAD, PUT, DELETE"},
		{"POST", "/senders/192.0.2.1", "GET, HEAD, PUT, DELETE"},
		{"GET", "/stats/192.0.2.1", "POST"},
		{"PUT", "/stats/192.0.2.1", "POST"},
	} {
		req, err := http.NewRequest(c.method, ts.api.URL+c.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 405, resp.StatusCode, "%s %s", c.method, c.path)
		assert.Equal(t, c.allow, resp.Header.Get("Allow"), "%s %s", c.method, c.path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	status, out := ts.call("DELETE", "/senders", nil)
	assert.Equal(t, 405, status)
	assert.Contains(t, out["error"], "not allowed")
	status, _ = ts.call("GET", "/stats", nil)
	assert.Equal(t, 404, status)
	status, _ = ts.call("GET", "/nothing", nil)
	assert.Equal(t, 404, status)
}

// TestSenderValidation: a sender no datagram can come from, and an empty
// prefix list, are 400 and store nothing.
func TestSenderValidation(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	for _, ip := range []string{"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"} {
		status, out := ts.call("PUT", "/senders/"+ip, prefixBody("192.0.2.0/24"))
		assert.Equal(t, 400, status, ip)
		assert.Contains(t, out["error"], "cannot be the source of a datagram", ip)
	}
	status, out := ts.call("PUT", "/senders/192.0.2.1", `{"prefixes":[]}`)
	assert.Equal(t, 400, status)
	assert.Contains(t, out["error"], "no prefixes")
	status, out = ts.call("GET", "/senders", nil)
	require.Equal(t, 200, status)
	assert.Empty(t, out["senders"])

	status, _ = ts.call("PUT", "/senders/192.0.2.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status)
	status, out = ts.call("DELETE", "/senders/192.0.2.1", `{"prefixes":[]}`)
	assert.Equal(t, 400, status)
	assert.Contains(t, out["error"], "without a body deletes the sender")
	_, out = ts.call("GET", "/senders/192.0.2.1", nil)
	assert.Len(t, out["prefixes"], 1)
}

// TestStatsKeysAsSpelled: the answer of POST /stats is keyed by the fields
// as the request spelled them (dstport:053, srcip:2001:DB8::10), each with
// the counts of its canonical form, which tshark's decode of softflowd's v9
// capture gives.
func TestStatsKeysAsSpelled(t *testing.T) {
	url := redistest.Start(t).URL()
	ts := startService(t, url, testOptions())
	// TestReplaySoftflowdV9's prefixes: they leave out the set tshark
	// skips.
	prefixes := []string{"198.51.100.16/28", "198.51.100.48/28", "2001:db8::/32", "127.0.0.0/8"}
	status, out := ts.call("PUT", "/senders/127.0.0.1", prefixBody(prefixes...))
	require.Equal(t, 200, status, "%v", out)
	want, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v9.json", mustPrefixes(prefixes))
	payloads := udpPayloads(t, "../../testdata/softflowd/softflowd_v9.pcap")
	replay(t, "127.0.0.1", ts.udp, payloads)
	ts.waitDatagrams("127.0.0.1", float64(len(payloads)))
	require.NoError(t, ts.svc.flush(t.Context()))

	const minute = "2023-11-14 22:13"
	w := want["minutes"][minute]
	require.Contains(t, w, "dstport:53")
	require.Contains(t, w, "srcip:2001:db8::10")
	spellings := map[string]string{ // as asked -> canonical
		"dstport:053": "dstport:53", "dstport:53": "dstport:53",
		"srcip:2001:DB8::10": "srcip:2001:db8::10", "srcip:2001:db8:0:0::10": "srcip:2001:db8::10",
		"proto:017": "proto:17", "all": "all",
	}
	var asked []string
	for s := range spellings {
		asked = append(asked, s)
	}
	status, raw := ts.call("POST", "/stats/127.0.0.1", map[string]any{"minutes": map[string][]string{minute: asked}})
	require.Equal(t, 200, status, "%v", raw)
	got := raw["minutes"].(map[string]any)[minute].(map[string]any)
	require.Len(t, got, len(spellings))
	for spelling, canon := range spellings {
		a, ok := got[spelling].(map[string]any)
		if !assert.True(t, ok, "no answer under %q: %v", spelling, got) {
			continue
		}
		assert.EqualValues(t, w[canon].Flows, a["flows"], spelling)
		assert.EqualValues(t, w[canon].Packets, a["packets"], spelling)
		assert.EqualValues(t, w[canon].Bytes, a["bytes"], spelling)
		assert.NotZero(t, a["flows"], spelling)
	}
}

// TestPutSenderCostFlat: adding a sender allocates the same with 10,000
// senders registered as with 10 (before, each change copied every sender
// and rebuilt the receiver's allow-list: 2.3 MB a PUT at 10,000).
// BenchmarkPutSender shows the time.
func TestPutSenderCostFlat(t *testing.T) {
	url := redistest.Start(t).URL()
	perPut := map[int]float64{}
	for _, n := range []int{10, 10000} {
		opts := testOptions()
		opts.redisPrefix = "flat" + strconv.Itoa(n)
		ts := startService(t, url, opts)
		preloadSenders(t, ts.svc, n)
		h := ts.svc.handler()
		put := func(i int) {
			a := senderAddr(n + i)
			body := []byte(`{"prefixes":[{"prefix":"198.51.100.0","prefixLen":24}]}`)
			req := newSignedRequest(t, "PUT", "/senders/"+a.String(), body)
			w := newRecorder()
			h.ServeHTTP(w, req)
			require.Equal(t, 200, w.Code, w.Body.String())
		}
		put(0) // warm up
		perPut[n] = allocatedPerRun(20, func(i int) { put(1 + i) })
	}
	t.Logf("bytes allocated per PUT: %.0f with 10 senders, %.0f with 10,000", perPut[10], perPut[10000])
	assert.Less(t, perPut[10000], 2*perPut[10]+16<<10, "a PUT's cost grows with the senders registered")
}
