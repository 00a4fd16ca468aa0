package testkit

import (
	"os"
	"os/exec"
	"runtime/debug"
	"testing"
)

// InCI reports whether the tests run in continuous integration: the CI
// environment variable is "true" (as .ci/run and most CI systems set it).
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedTool returns the path of an external program a test drives
// (softflowd, tshark, tcpdump, redis-server, pmacctd, ...). Where it is
// missing the test is skipped, saying how to install it, except in CI
// (InCI), where a missing program fails the test: CI must run every test,
// and go test shows skips only with -v.
func NeedTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if InCI() {
		tb.Fatalf("%s is not installed, and CI=true: .ci/run installs it (apt-get install); %v", name, err)
	}
	tb.Skipf("%s is not installed (.ci/run installs it with apt-get): skipping", name)
	return ""
}

// Soak reports whether the long soak variants of the tests (floods, churn,
// stateful fuzz replays at full size) are asked for: NETFLOW_SOAK=1, which
// .ci/run sets. Without it they run at a size a developer waits for, with
// the same assertions.
func Soak() bool { return os.Getenv("NETFLOW_SOAK") == "1" }

// SoakSize returns full when Soak is on and quick otherwise: the number of
// iterations, exporters or datagrams a soak test uses.
func SoakSize(quick, full int) int {
	if Soak() {
		return full
	}
	return quick
}

// RaceEnabled reports whether the running binary was built with -race.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// GoBuildArgs returns the arguments of `go build` that write the command
// pkg to out, with -race when the running test binary has it (CI's
// GOFLAGS=-race run): the command then reuses the packages compiled for
// the test, so that a cold build compiles each dependency once, not once
// with -race and once without (that race run took 352 s cold with plain
// commands, 204 s with race-built ones), and the race detector watches
// the command too.
func GoBuildArgs(out, pkg string) []string {
	args := []string{"build"}
	if RaceEnabled() {
		args = append(args, "-race")
	}
	return append(args, "-o", out, pkg)
}

// NoRaceExitSleep sets GORACE=atexit_sleep_ms=0 for the commands the test
// process starts from now on, unless GORACE is set already. A command built
// with -race (GoBuildArgs) otherwise sleeps a second before it exits, so
// that late race reports get printed; tests that start and stop dozens of
// processes would pay that second each time. Reports of races found before
// the exit are printed all the same.
func NoRaceExitSleep() {
	if _, ok := os.LookupEnv("GORACE"); !ok {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
}
