package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCollectorStateRestart: a collector with -state learns softflowd's
// templates and options record (message 0 of the capture), is stopped by
// SIGTERM (or SIGINT) and saves; a new collector process with the same
// -state gets the data messages only, from the same exporter socket: every
// flow is decoded at once (none held), with the sampling interval and the
// start and end times the options record gave, as tshark decodes them.
func TestCollectorStateRestart(t *testing.T) {
	t.Parallel() // a collector process: waits
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			ex := newExporter(t)
			a := startCollector(t, "-state", state, "-state-interval", "1h")
			a.waitStderr("state: " + state + " not found, starting empty")
			ex.send(a.addr, msgs[0])
			a.waitLines(flowsIn(e, 0), "message 0")
			require.NoFileExists(t, state, "no save before the interval or the signal")
			require.Equal(t, 0, a.signal(sig), a.stderr.String())
			require.FileExists(t, state)

			b := startCollector(t, "-state", state)
			b.waitStderr("state: loaded " + state + ": 5 templates of 1 exporters")
			data := span(1, len(msgs))
			for _, i := range data {
				ex.send(b.addr, msgs[i])
			}
			b.waitLines(flowsIn(e, data...), "data after the restart")
			b.stop()
			keys, options := flowKeys(t, b.stdout.String())
			require.Zero(t, options)
			require.ElementsMatch(t, expectedKeys(e, data...), keys, "every flow decoded and scaled, against tshark")
			require.Contains(t, b.stderr.String(), "pending: held 0 (0 bytes), added 0,")
			require.NotContains(t, b.stderr.String(), "template not found")
		})
	}
}

// TestCollectorStatePeriodic: saves happen every -state-interval, so a
// collector killed without a chance to save (SIGKILL) still leaves a
// snapshot that a restarted one decodes with.
func TestCollectorStatePeriodic(t *testing.T) {
	t.Parallel() // a collector process: waits
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	state := filepath.Join(t.TempDir(), "state.json")
	ex := newExporter(t)
	a := startCollector(t, "-state", state, "-state-interval", "50ms")
	ex.send(a.addr, msgs[0])
	a.waitLines(flowsIn(e, 0), "message 0")
	waitFor(t, "a periodic save with the templates and the options state", func() bool {
		b, err := os.ReadFile(state)
		if err != nil {
			return false
		}
		var doc struct {
			Templates []json.RawMessage `json:"templates"`
			States    []json.RawMessage `json:"states"`
		}
		return json.Unmarshal(b, &doc) == nil && len(doc.Templates) == 5 && len(doc.States) == 1
	})
	require.NoError(t, a.cmd.Process.Kill())
	a.wait()

	// The kill may have cut a save short and left its temporary file:
	// the next start removes it when it loads the snapshot.
	b := startCollector(t, "-state", state)
	tmps, err := filepath.Glob(filepath.Join(filepath.Dir(state), ".state.json.tmp*"))
	require.NoError(t, err)
	require.Empty(t, tmps, "temporary files left beside the snapshot after the next start")
	ex.send(b.addr, msgs[1])
	b.waitLines(flowsIn(e, 1), "message 1 after the kill")
	b.stop()
	keys, _ := flowKeys(t, b.stdout.String())
	require.ElementsMatch(t, expectedKeys(e, 1), keys)
}

// TestCollectorHostileState: a state file that is not a valid snapshot
// makes the collector exit with status 1 and a message, before it listens;
// it is not overwritten.
func TestCollectorHostileState(t *testing.T) {
	fields := strings.Repeat(`{"ID":1,"PEN":0,"Length":4},`, 70000)
	fields = fields[:len(fields)-1]
	for _, c := range []struct{ name, content, msg string }{
		{"garbage", "\x00\xff not json {{{", "malformed"},
		{"null", "null", "malformed"},
		{"empty", "", "malformed"},
		{"array", "[]", "malformed"},
		{"truncated", `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,`, "malformed"},
		{"other format", `{"format":"netflow-state/99","templates":[],"states":[]}`, "format"},
		{"huge field count", `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":0,"id":256,"fields":[` + fields + `],"seen":"2026-01-01T00:00:00Z"}],"states":[]}`, "limit reached: state file: template 256 has 70000 fields"},
		{"zero-length template", `{"format":"netflow-state/1","templates":[{"exporter":"192.0.2.1:2055","version":10,"domain":0,"id":256,"fields":[],"seen":"2026-01-01T00:00:00Z"}],"states":[]}`, "malformed"},
		{"bad exporter", `{"format":"netflow-state/1","templates":[{"exporter":"not an address","version":10,"domain":0,"id":256,"fields":[{"ID":1,"PEN":0,"Length":4}],"seen":"2026-01-01T00:00:00Z"}],"states":[]}`, "malformed"},
		{"huge name", `{"format":"netflow-state/1","templates":[],"states":[{"exporter":"192.0.2.1:2055","version":10,"domain":0,"state":{"InterfaceNames":{"1":"` + strings.Repeat("x", 5<<20) + `"}},"set":"2026-01-01T00:00:00Z"}]}`, "limit reached"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(state, []byte(c.content), 0o600))
			var stdout, stderr syncBuffer
			status := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-state", state}, &stdout, &stderr)
			require.Equal(t, 1, status, stderr.String())
			require.Contains(t, stderr.String(), "collector: -state "+state+": netflow: ")
			require.Contains(t, stderr.String(), c.msg)
			require.NotContains(t, stderr.String(), "listening on")
			require.Empty(t, stdout.String())
			after, err := os.ReadFile(state)
			require.NoError(t, err)
			require.Equal(t, c.content, string(after), "the file is left as it was")
		})
	}
	t.Run("process", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state.json")
		require.NoError(t, os.WriteFile(state, []byte("null"), 0o600))
		var stderr strings.Builder
		cmd := execCollector(t, "-listen", "127.0.0.1:0", "-state", state)
		cmd.Stderr = &stderr
		err := cmd.Run()
		require.Error(t, err)
		require.Equal(t, 1, cmd.ProcessState.ExitCode(), stderr.String())
		require.Contains(t, stderr.String(), "collector: -state")
		require.NotContains(t, stderr.String(), "panic")
		require.NotContains(t, stderr.String(), "goroutine")
	})
	t.Run("directory", func(t *testing.T) {
		var stdout, stderr syncBuffer
		status := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-state", t.TempDir()}, &stdout, &stderr)
		require.Equal(t, 1, status, stderr.String())
		require.Contains(t, stderr.String(), "collector: -state")
	})
}

// TestCollectorStateSaveFails: a last save that cannot be written (its
// directory is gone) is reported and makes the exit status 1.
func TestCollectorStateSaveFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	require.NoError(t, os.Mkdir(dir, 0o700))
	_, _, stderr, stop := start(t, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state.json"), "-state-interval", "1h")
	require.NoError(t, os.RemoveAll(dir))
	require.Equal(t, 1, stop(), stderr.String())
	require.Contains(t, stderr.String(), "collector: -state: netflow: snapshot: ")
	require.Contains(t, stderr.String(), "total: datagrams 0,", "the counters are still printed")
}

// TestCollectorStateRestartSampled: the restart with softflowd's live
// sampled export: after the restart, data only, every flow carries the
// sampling interval (10) softflowd was given.
func TestCollectorStateRestartSampled(t *testing.T) {
	t.Parallel() // a collector process: waits
	input := filepath.Join(t.TempDir(), "input.pcap")
	inputFlows := sampledInput(t, input)
	msgs := softflowdExport(t, input)
	require.GreaterOrEqual(t, len(msgs), 2)
	state := filepath.Join(t.TempDir(), "state.json")
	ex := newExporter(t)
	a := startCollector(t, "-state", state)
	ex.send(a.addr, msgs[0])
	a.waitStderr("state: " + state + " not found")
	waitFor(t, "message 0 decoded", func() bool { return a.lines() > 1 })
	first := a.lines()
	a.stop()

	b := startCollector(t, "-state", state)
	for _, m := range msgs[1:] {
		ex.send(b.addr, m)
	}
	rest := sampledFlows/samplingRate + 1 - first
	b.waitLines(rest, "data after the restart")
	b.stop()
	lines := outputLines(b.stdout.String())
	require.Len(t, lines, rest)
	for _, line := range lines {
		var f collectorFlow
		require.NoError(t, json.Unmarshal([]byte(line), &f))
		require.False(t, f.Options)
		key := f.sampledKey()
		require.True(t, inputFlows[key], "flow %s is not one of the input's, with sampling interval %d", key, samplingRate)
	}
}
