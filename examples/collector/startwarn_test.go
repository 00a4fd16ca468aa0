//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		// nobody must reach the binary: its directory is the test's own.
		require.NoError(t, os.Chmod(filepath.Dir(collectorBinary(t)), 0o755))
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	p := startCollectorAs(t, attr, "-rcvbuf", strconv.Itoa(2*rmemMax)) // checks the first line: "listening on"
	defer p.stop()
	p.waitStderr("receive buffer smaller than asked")
	_, rest, _ := strings.Cut(p.stderr.String(), "\n")
	require.Contains(t, rest, "asked="+strconv.Itoa(2*rmemMax))
	require.NotContains(t, rest, "INFO", "more than the start's warnings without -v")
}
