package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// netflowdBinary builds the netflowd command once per test run.
func netflowdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "netflowd")
		buildOut, buildErr = exec.Command(testkit.NeedTool(t, "go"), testkit.GoBuildArgs(binPath, ".")...).CombinedOutput()
		testkit.NoRaceExitSleep()
	})
	require.NoError(t, buildErr, "%s", buildOut)
	return binPath
}

// process is a running netflowd.
type process struct {
	cmd      *exec.Cmd
	udp      netip.AddrPort
	api      string // http://ADDR
	mu       sync.Mutex
	stderr   strings.Builder
	lines    chan string
	exited   chan struct{}
	exitCode int
}

// startBinary runs netflowd with args (listening on free loopback ports)
// and waits for its "listening on" and "api on" lines.
func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	args = append([]string{"-listen", "127.0.0.1:0", "-http", "127.0.0.1:0"}, args...)
	p := &process{cmd: exec.Command(netflowdBinary(t), args...), lines: make(chan string, 100), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	pid := p.cmd.Process.Pid
	go p.read(stderr)
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			if p.cmd.Process.Pid == pid {
				p.cmd.Process.Kill()
			}
			<-p.exited
		}
	})
	deadline := time.After(10 * time.Second)
	for p.udp == (netip.AddrPort{}) || p.api == "" {
		select {
		case line, ok := <-p.lines:
			require.True(t, ok, "netflowd exited: %s", p.output())
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				p.udp = netip.MustParseAddrPort(a)
			}
			if a, ok := strings.CutPrefix(line, "api on "); ok {
				p.api = "http://" + a
			}
		case <-deadline:
			t.Fatalf("netflowd did not start: %s", p.output())
		}
	}
	return p
}

func (p *process) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.stderr.WriteString(sc.Text() + "\n")
		p.mu.Unlock()
		select {
		case p.lines <- sc.Text():
		default:
		}
	}
	close(p.lines)
	p.cmd.Wait()
	p.exitCode = p.cmd.ProcessState.ExitCode()
	close(p.exited)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// signal sends sig and waits (at most 10 s) for the exit status.
func (p *process) signal(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(10 * time.Second):
		t.Fatalf("netflowd did not exit on %v: %s", sig, p.output())
		return -1
	}
}

// TestBinaryRestart runs the real command: register a sender, replay
// softflowd's v5 capture, SIGTERM (counts are flushed only then: -flush
// 1h), start a new process on the same Redis: the sender and the counts
// are there, tshark's totals; a second replay doubles them.
func TestBinaryRestart(t *testing.T) {
	t.Parallel() // waits on processes and Redis
	url := redistest.Start(t).URL()
	keys := []string{"-redis", url, "-auth-key", testAuthKey, "-sign-key", testSignKey}
	first := startBinary(t, append(keys, "-flush", "1h")...)
	status, out := callAPI(t, first.api, "PUT", "/senders/127.0.0.1", prefixBody("192.0.2.0/24"))
	require.Equal(t, 200, status, "%v", out)

	want, _ := totalsFromTshark(t, "../../testdata/expected/softflowd_v5.json", mustPrefixes([]string{"192.0.2.0/24"}))
	payloads := udpPayloads(t, "../../testdata/softflowd/softflowd_v5.pcap")
	replay(t, "127.0.0.1", first.udp, payloads)
	require.Eventually(t, func() bool {
		_, out := callAPI(t, first.api, "GET", "/senders/127.0.0.1", nil)
		c, _ := out["counters"].(map[string]any)
		return c != nil && c["datagrams"] == float64(len(payloads))
	}, 5*time.Second, 10*time.Millisecond)
	// Nothing flushed yet.
	empty := statsOf(t, first.api, "127.0.0.1", want)
	require.Zero(t, empty["minutes"]["2023-11-14 22:13"]["all"].Flows)
	require.Equal(t, 0, first.signal(t, syscall.SIGTERM), "%s", first.output())

	second := startBinary(t, append(keys, "-flush", "50ms")...)
	status, list := callAPI(t, second.api, "GET", "/senders", nil)
	require.Equal(t, 200, status)
	require.Equal(t, []any{map[string]any{"ip": "127.0.0.1",
		"prefixes": []any{map[string]any{"prefix": "192.0.2.0", "prefixLen": 24.0}}}}, list["senders"])
	require.Equal(t, want, statsOf(t, second.api, "127.0.0.1", want))
	_, detail := callAPI(t, second.api, "GET", "/senders/127.0.0.1", nil)
	require.EqualValues(t, len(payloads), detail["counters"].(map[string]any)["datagrams"])

	// The restored sender is in the allow-list at once.
	replay(t, "127.0.0.1", second.udp, payloads)
	doubled := expectedTotals{}
	for gran, buckets := range want {
		doubled[gran] = map[string]map[string]statAnswer{}
		for b, fields := range buckets {
			doubled[gran][b] = map[string]statAnswer{}
			for name, a := range fields {
				doubled[gran][b][name] = statAnswer{statCounts: addCounts(a.statCounts, a.statCounts),
					In: addCounts(a.In, a.In), Out: addCounts(a.Out, a.Out)}
			}
		}
	}
	require.Eventually(t, func() bool {
		got := statsOf(t, second.api, "127.0.0.1", want)
		return got["minutes"]["2023-11-14 22:13"]["all"] == doubled["minutes"]["2023-11-14 22:13"]["all"]
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, doubled, statsOf(t, second.api, "127.0.0.1", want))
	require.Equal(t, 0, second.signal(t, syscall.SIGINT), "%s", second.output())
}

// TestBinaryRandomKeys: without -auth-key and -sign-key the command prints
// random keys once, and they work.
func TestBinaryRandomKeys(t *testing.T) {
	url := redistest.Start(t).URL()
	p := startBinary(t, "-redis", url)
	var auth, sign string
	for _, line := range strings.Split(p.output(), "\n") {
		if k, ok := strings.CutPrefix(line, "auth key "); ok {
			auth = k
		}
		if k, ok := strings.CutPrefix(line, "sign key "); ok {
			sign = k
		}
	}
	require.Len(t, auth, 32, "%s", p.output())
	require.Len(t, sign, 32)
	require.NotEqual(t, auth, sign)
	h := headers(auth, signature(sign, []byte(auth)))
	status, _ := request(t, p.api, "GET", "/senders", nil, h)
	require.Equal(t, 200, status)
	status, _ = request(t, p.api, "GET", "/senders", nil, headers(testAuthKey, signature(testSignKey, []byte(testAuthKey))))
	require.Equal(t, 401, status)
	require.Equal(t, 0, p.signal(t, syscall.SIGTERM))
}

// TestBinaryNoRedis: a Redis that does not answer is exit status 1 with a
// message; bad flags are 2.
func TestBinaryNoRedis(t *testing.T) {
	t.Parallel() // waits on processes and Redis
	port := redistest.FreePort(t)
	out, err := exec.Command(netflowdBinary(t), "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-redis", "redis://127.0.0.1:"+itoa(port)+"/0").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "netflowd: redis")

	out, err = exec.Command(netflowdBinary(t), "-fields", "dstmac").CombinedOutput()
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 2, exit.ExitCode())
}

// docScript extracts the signing script of docs/netflowd-api-auth.md: the
// fenced block after its "test: netflowd-sign.sh" marker.
func docScript(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/netflowd-api-auth.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "<!-- test: netflowd-sign.sh -->\n```sh\n")
	require.True(t, ok, "no script marker in the doc")
	script, _, ok := strings.Cut(rest, "\n```")
	require.True(t, ok)
	path := filepath.Join(t.TempDir(), "netflowd-sign.sh")
	require.NoError(t, os.WriteFile(path, []byte(script+"\n"), 0o755))
	return path
}

// TestBinaryDocScript runs the netflowd binary with the API over TLS and
// -require-request-signature, and the docs' curl and openssl script
// against it: PUT a sender, GET it, ask its statistics (dstport:053 keeps
// its spelling). A plain HTTP request, a request signed the seed's way and
// a replayed request are refused.
func TestBinaryDocScript(t *testing.T) {
	testkit.NeedTool(t, "curl")
	testkit.NeedTool(t, "openssl")
	url := redistest.Start(t).URL()
	pki := testkit.NewPKI(t, t.TempDir())
	p := startBinary(t, "-redis", url, "-auth-key", testAuthKey, "-sign-key", testSignKey,
		"-http-tls-cert", pki.CertFile, "-http-tls-key", pki.KeyFile, "-require-request-signature")
	base := strings.Replace(p.api, "http://", "https://", 1)
	script := docScript(t)
	curl := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "NETFLOWD_URL="+base, "NETFLOWD_AUTH_KEY="+testAuthKey,
			"NETFLOWD_SIGN_KEY="+testSignKey, "NETFLOWD_CA="+pki.CAFile)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		var v map[string]any
		require.NoError(t, json.Unmarshal(out, &v), "%s", out)
		return v
	}
	out := curl("PUT", "/senders/2001:db8::7", `{"prefixes":[{"prefix":"198.51.100.0","prefixLen":24}]}`)
	require.Equal(t, "2001:db8::7", out["ip"], "%v", out)
	out = curl("GET", "/senders/2001:db8::7")
	require.Equal(t, []any{map[string]any{"prefix": "198.51.100.0", "prefixLen": 24.0}}, out["prefixes"], "%v", out)
	out = curl("POST", "/stats/2001:db8::7", `{"minutes":{"2024-03-01 12:00":["all","dstport:053"]}}`)
	require.Contains(t, out["minutes"].(map[string]any)["2024-03-01 12:00"], "dstport:053", "%v", out)
	out = curl("PUT", "/senders/0.0.0.0", `{"prefixes":[{"prefix":"198.51.100.0","prefixLen":24}]}`)
	require.Contains(t, out["error"], "cannot be the source")

	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Roots}}}
	do := func(method, path string, body []byte, h http.Header) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header = h
		resp, err := tlsClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	// Signed in Go as the doc shows: works once.
	h := signedHeaders("GET", "/senders", nil, time.Now(), newNonce())
	status, body := do("GET", "/senders", nil, h)
	require.Equal(t, 200, status, body)
	status, body = do("GET", "/senders", nil, h)
	require.Equal(t, 401, status)
	require.Contains(t, body, "replayed")
	status, body = do("GET", "/senders", nil, headers(testAuthKey, signature(testSignKey, []byte(testAuthKey))))
	require.Equal(t, 401, status)
	require.Contains(t, body, "accepts only request signatures")

	// Plain HTTP to the TLS port.
	resp, err := http.Get(p.api + "/senders")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, 0, p.signal(t, syscall.SIGTERM), "%s", p.output())
}

// TestBinaryRedisLogsAndUsage: go-redis's own log lines come out as
// netflowd's ("netflowd: redis: ..."), never in go-redis's format
// ("redis: 2024/03/01 12:00:00 pool.go:..."); bad TLS and signature flags
// are exit status 2.
func TestBinaryRedisLogsAndUsage(t *testing.T) {
	t.Parallel() // waits on processes and Redis
	port := redistest.FreePort(t)
	out, err := exec.Command(netflowdBinary(t), "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-redis", "redis://127.0.0.1:"+itoa(port)+"/0").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "netflowd: redis: connection pool: failed to dial", "go-redis's line")
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "auth key ") || strings.HasPrefix(line, "sign key ") {
			continue
		}
		require.True(t, strings.HasPrefix(line, "netflowd: "), "a line not netflowd's: %q", line)
	}

	pki := testkit.NewPKI(t, t.TempDir())
	for _, args := range [][]string{
		{"-http-tls-cert", pki.CertFile},
		{"-http-tls-cert", pki.KeyFile, "-http-tls-key", pki.KeyFile},
		{"-sign-window", "0s"},
		{"-nonce-cache", "0"},
	} {
		out, err := exec.Command(netflowdBinary(t), args...).CombinedOutput()
		require.ErrorAs(t, err, &exit, "%v: %s", args, out)
		require.Equal(t, 2, exit.ExitCode(), "%v: %s", args, out)
		require.Contains(t, string(out), "netflowd: ", args)
	}
}
