package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

const (
	testAuthKey = "test-auth-key"
	testSignKey = "test-sign-key"
)

// testOptions are the options of an in-process service under test.
func testOptions() options {
	return options{
		authKey: []byte(testAuthKey), signKey: []byte(testSignKey),
		maxValues: 10000, maxBuckets: 100000, kinds: allKinds, ttls: defaultTTLs,
		redisPrefix: "netflowd", flushEvery: time.Hour, maxBody: 1 << 20, workers: 2,
	}
}

// testService is a service running in the test process: its UDP address
// and an HTTP client of its API.
type testService struct {
	t   testing.TB
	svc *service
	udp netip.AddrPort
	api *httptest.Server
	// stop stops the receiver (every datagram read is counted when it
	// returns) and the API.
	stop func()
}

func startService(t testing.TB, redisURL string, opts options) *testService {
	t.Helper()
	return startServiceOn(t, redisURL, opts, "127.0.0.1:0")
}

// startServiceOn is startService receiving on the UDP address listen.
func startServiceOn(t testing.TB, redisURL string, opts options, listen string) *testService {
	t.Helper()
	rdb := redisClient(t, redisURL)
	svc, err := newService(context.Background(), opts, rdb)
	require.NoError(t, err)
	udp, stopUDP, err := svc.listen(context.Background(), listen)
	require.NoError(t, err)
	api := httptest.NewServer(svc.handler())
	ts := &testService{t: t, svc: svc, udp: udp, api: api}
	ts.stop = func() {
		api.Close()
		stopUDP()
	}
	t.Cleanup(ts.stop)
	return ts
}

// signature is the X-Io-Sign of msg.
func signature(key string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// call makes an API request with a request signature (the recommended
// scheme: signedHeaders). It returns the status and the decoded JSON answer.
func (ts *testService) call(method, path string, body any) (int, map[string]any) {
	return callAPI(ts.t, ts.api.URL, method, path, body)
}

func callAPI(t testing.TB, base, method, path string, body any) (int, map[string]any) {
	t.Helper()
	raw := bodyBytes(t, body)
	return request(t, base, method, path, raw, signedHeaders(method, path, raw, time.Now(), newNonce()))
}

// bodyBytes is body as sent: nil, a string as is, anything else as JSON.
func bodyBytes(t testing.TB, body any) []byte {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return raw
}

// signedHeaders are the request signature's headers of a request with the
// test keys, written from docs/netflowd-api-auth.md (not from the service's
// code): HMAC-SHA256 of the six lines.
func signedHeaders(method, target string, body []byte, at time.Time, nonce string) http.Header {
	digest := sha256.Sum256(body)
	ts := strconv.FormatInt(at.Unix(), 10)
	msg := strings.Join([]string{"netflowd-request-v1", method, target, ts, nonce, hex.EncodeToString(digest[:])}, "\n")
	h := http.Header{}
	h.Set("X-Io-Auth", testAuthKey)
	h.Set("X-Io-Timestamp", ts)
	h.Set("X-Io-Nonce", nonce)
	h.Set("X-Io-Signature", signature(testSignKey, []byte(msg)))
	return h
}

// newNonce returns 32 random hex digits.
func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// request sends one request with exactly headers h and returns the status
// and the JSON answer (every answer must be a JSON object).
func request(t testing.TB, base, method, path string, body []byte, h http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "answer %s", data)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), "answer %s", data)
	return resp.StatusCode, out
}

// udpPayloads returns the UDP payloads of a pcap file, in order.
func udpPayloads(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	src := gopacket.NewPacketSource(r, r.LinkType())
	var out [][]byte
	for p := range src.Packets() {
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			out = append(out, bytes.Clone(u.Payload))
		}
	}
	require.NotEmpty(t, out, "no UDP datagram in %s", path)
	return out
}

// replay sends payloads over UDP from the loopback address from (port
// chosen by the system) to to.
func replay(t testing.TB, from string, to netip.AddrPort, payloads [][]byte) {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)), net.UDPAddrFromAddrPort(to))
	require.NoError(t, err)
	defer c.Close()
	for _, p := range payloads {
		_, err := c.Write(p)
		require.NoError(t, err)
	}
}

// waitDatagrams waits until the service has handled n datagrams from
// sender ip (counted in GET /senders/{ip}).
func (ts *testService) waitDatagrams(ip string, n float64) {
	ts.t.Helper()
	require.Eventually(ts.t, func() bool {
		_, out := ts.call("GET", "/senders/"+ip, nil)
		c, _ := out["counters"].(map[string]any)
		return c != nil && c["datagrams"] == n
	}, 5*time.Second, 10*time.Millisecond, "datagrams from %s", ip)
}

func itoa(i int) string { return strconv.Itoa(i) }

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// testBinDir is the directory of the test binary, removed by TestMain.
var testBinDir string

func osMkdirTemp() (string, error) {
	dir, err := os.MkdirTemp("", "netflowd-test-")
	testBinDir = dir
	return dir, err
}

func TestMain(m *testing.M) {
	testkit.RaiseParallel(4)
	code := m.Run()
	if testBinDir != "" {
		os.RemoveAll(testBinDir)
	}
	os.Exit(code)
}
