package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// stateTemps returns the temporary files of saves of state beside it.
func stateTemps(t *testing.T, state string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(state))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(state)+".tmp") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestCollectorKilledMidSave (issue 20 item 6): a collector with -state
// whose store holds 8,400 templates (42,000 under NETFLOW_SOAK=1; a save
// writes about 6 MB, or 30 MB) is killed
// by SIGKILL while a save runs, seen by its temporary file: the file stays
// behind. The collector started again with the same -state loads the last
// complete snapshot and removes the stale temporary file; stopped, it
// saves once more and leaves none. On main before this change the
// temporary file stayed for good.
func TestCollectorKilledMidSave(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	ex := newExporter(t)
	// 12 domains (60 in soak) of 700 templates of the builders' 18 IPFIX
	// fields, about 720 bytes each in the state file.
	domains := testkit.SoakSize(12, 60)
	var msgs [][]byte
	for domain := range domains {
		var recs []byte
		for id := range 700 {
			recs = append(recs, testkit.TemplateRecord(uint16(256+id), testkit.IPFIXFields...)...)
		}
		msgs = append(msgs, testkit.IPFIXMessage(uint32(domain), 0, testkit.Set(2, recs, false)))
	}

	var left []string
	for attempt := 0; len(left) == 0; attempt++ {
		require.Less(t, attempt, 5, "no save was ever caught in the middle")
		a := startCollector(t, "-state", state, "-state-interval", "10ms")
		for _, m := range msgs { // at most 3.2 MB: within the socket's 16 MiB buffer
			ex.send(a.addr, m)
		}
		// Once a save of most templates is complete, catch the next one
		// in the middle. A race-built collector on a loaded machine may
		// take seconds for each 30 MB save, and may lose some of the
		// datagrams: a save of two fifths of the templates will do.
		waitWithin(t, 60*time.Second, "a snapshot of two fifths of the templates", func() bool {
			fi, err := os.Stat(state)
			return err == nil && fi.Size() > int64(domains*700*720*2/5)
		})
		deadline := time.Now().Add(10 * time.Second)
		for len(stateTemps(t, state)) == 0 {
			require.True(t, time.Now().Before(deadline), "no save under way")
			time.Sleep(200 * time.Microsecond)
		}
		require.NoError(t, a.cmd.Process.Kill())
		a.wait()
		left = stateTemps(t, state) // empty if the kill came after the rename
	}
	require.Len(t, left, 1)

	b := startCollector(t, "-state", state, "-state-interval", "1h")
	b.waitStderr("state: loaded " + state + ": ")
	require.Empty(t, stateTemps(t, state), "the stale temporary file is removed at start")
	b.stop()
	require.Empty(t, stateTemps(t, state))
	require.FileExists(t, state)
}
