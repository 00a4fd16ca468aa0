package main

// The collector receives flowgen's IPFIX over TCP exactly: every flow and
// options record flowgen recorded, nothing else.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until cond holds, polling, or fails after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTCPToCollector(t *testing.T) {
	t.Parallel() // waits on the programs it starts
	for _, exporters := range []string{"1", "3"} {
		t.Run("exporters="+exporters, func(t *testing.T) {
			var stdout, stderr lockedBuffer
			cmd := exec.Command(buildBinary(t, "../collector"), "-json", "-listen", "127.0.0.1:0", "-tcp", "127.0.0.1:0")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			var addr string
			waitFor(t, "tcp listening", func() bool {
				for _, line := range strings.Split(stderr.String(), "\n") {
					if a, ok := strings.CutPrefix(line, "tcp listening on "); ok {
						addr = a
						return true
					}
				}
				return false
			})
			rec := filepath.Join(t.TempDir(), "record.jsonl")
			flowgen(t, "-to", addr, "-tcp", "-version", "10", "-flows", "5000", "-exporters", exporters,
				"-ipv6", "0.2", "-sampling", "100", "-record", rec)
			want, err := os.ReadFile(rec)
			require.NoError(t, err)
			lines := bytes.Count(want, []byte("\n"))
			require.Greater(t, lines, 5000, "the flows and their options records")
			waitFor(t, "the collector's lines", func() bool { return strings.Count(stdout.String(), "\n") >= lines })
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, cmd.Wait())
			got := stdout.String()
			if exporters == "1" {
				require.Equal(t, string(want), got)
				return
			}
			// Three connections: each one's lines in order, interleaved.
			w, g := strings.Split(string(want), "\n"), strings.Split(got, "\n")
			slices.Sort(w)
			slices.Sort(g)
			require.Equal(t, w, g)
		})
	}
}
