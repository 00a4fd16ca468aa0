package main

import (
	"bufio"
	"io"
	"net/netip"
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
