//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A collector without CAP_NET_ADMIN that asks for a receive buffer larger
// than net.core.rmem_max says so after "listening on", without -v. As
// root, the test runs it as nobody, which lacks the capability.
func TestCollectorWarnsOfSmallReceiveBuffer(t *testing.T) {
	t.Parallel() // a collector process
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("no rmem_max: %v", err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	if rmemMax > 1<<29 {
		t.Skipf("rmem_max %d: twice it is past what SO_RCVBUF takes", rmemMax)
	}
	bin := collectorBinary(t)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-rcvbuf", strconv.Itoa(2*rmemMax))
	if os.Geteuid() == 0 {
		// nobody must reach the binary: its directory is the test's own.
		require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "receive buffer smaller than asked") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of the receive buffer:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, rest, _ := strings.Cut(stderr.String(), "\n")
	require.True(t, strings.HasPrefix(first, "listening on "), "first line %q", first)
	require.Contains(t, rest, "asked="+strconv.Itoa(2*rmemMax))
	require.NotContains(t, rest, "INFO", "more than the start's warnings without -v")
}
