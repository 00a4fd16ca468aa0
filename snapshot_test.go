package netflow

// Issue 20 item 6: SIGKILL during a save leaves the save's temporary file;
// the next save or load of the same path removes such stale files, never
// the temporary file of a save still running, in this process or another.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// saveHelperEnv names the environment variable that makes the test binary
// a saving process (TestMain, saveHelper) instead of running the tests.
const saveHelperEnv = "NETFLOW_TEST_SAVE_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(saveHelperEnv); path != "" {
		os.Exit(saveHelper(path))
	}
	// The parallel tests: CPU-bound ones that measure no allocations,
	// beside the live pmacctd capture, which mostly waits.
	testkit.RaiseParallel(2)
	os.Exit(m.Run())
}

// saveHelper is the saving process: SaveFile(path) with a Saver that writes
// the start of a document, says "saving" on standard output and waits for
// standard input to end before it writes the rest. Killed while it waits,
// it leaves its temporary file as a killed save does.
func saveHelper(path string) int {
	err := SaveFile(path, saverFunc(func(w io.Writer) error {
		if _, err := io.WriteString(w, `{"format":"netflow-state/1","templates":[`); err != nil {
			return err
		}
		fmt.Println("saving")
		io.Copy(io.Discard, os.Stdin)
		_, err := io.WriteString(w, `],"states":[]}`+"\n")
		return err
	}))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("saved")
	return 0
}

type saverFunc func(io.Writer) error

func (f saverFunc) Save(w io.Writer) error { return f(w) }

// savingProcess is a saveHelper process blocked in its save.
type savingProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startSaving starts a process saving to path and waits until its save is
// under way: its temporary file is made, locked and half written.
func startSaving(t *testing.T, path string) *savingProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), saveHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &savingProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "saving\n", line)
	return p
}

// temps returns the names in dir that look like temporary files of path's
// saves, sorted.
func temps(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(path)+".tmp") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// killedSaves runs n processes saving to path one after the other, each
// killed by SIGKILL in the middle of SaveFile, and returns the temporary
// files left: the last one's only, as each save removed what the killed
// one before it left (on main before this change, all n stayed).
func killedSaves(t *testing.T, path string, n int) []string {
	t.Helper()
	before := temps(t, path)
	for range n {
		p := startSaving(t, path)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		err := p.cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "%v", err)
		require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	}
	left := slices.DeleteFunc(temps(t, path), func(n string) bool { return slices.Contains(before, n) })
	require.Len(t, left, 1, "what %d killed saves left", n)
	return left
}

// TestStaleTempsRemovedOnSave: of three saves killed by SIGKILL one after
// the other, each removed what the one before left, and the last one's
// temporary file is removed by the next SaveFile, which leaves alone the
// files whose names only look alike. Fails on main before this change
// (the three killed saves left three files, and nothing removed them).
func TestStaleTempsRemovedOnSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	alike := []string{".state.json.tmpx", "state.json.tmp1", ".other.json.tmp1", ".state.json.tmp"}
	for _, name := range alike {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o600))
	}
	killedSaves(t, path, 3)

	require.NoError(t, SaveFile(path, NewMemoryStore(MemoryStoreConfig{})))
	require.Equal(t, []string{".state.json.tmp", ".state.json.tmpx"}, temps(t, path))
	for _, name := range append(alike, "state.json") {
		require.FileExists(t, filepath.Join(dir, name))
	}
	loaded, err := LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.True(t, loaded)
}

// TestStaleTempsRemovedOnLoad: a collector killed mid-save and started
// again loads its state first: the load removes what the killed save
// left, even without a snapshot yet. Fails on main before this change.
func TestStaleTempsRemovedOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	killedSaves(t, path, 2)
	loaded, err := LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.False(t, loaded, "no snapshot was ever completed")
	require.Empty(t, temps(t, path))
}

// TestLiveSaveTempKept: a save running in another process holds its
// temporary file locked: a save killed meanwhile, loads, saves and
// RemoveStaleTemps of the same path leave it alone (the killed save's file
// goes), and the running save completes with its rename. The same for a
// save running in this process.
func TestLiveSaveTempKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := startSaving(t, path)
	live := temps(t, path)
	require.Len(t, live, 1)
	killedSaves(t, path, 1) // its SaveFile left the live one alone
	require.Len(t, temps(t, path), 2)

	require.Equal(t, 1, RemoveStaleTemps(path), "the killed save's file only")
	require.Equal(t, live, temps(t, path))
	_, err := LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.NoError(t, SaveFile(path, NewMemoryStore(MemoryStoreConfig{})))
	require.Zero(t, RemoveStaleTemps(path))
	require.Equal(t, live, temps(t, path))

	require.NoError(t, p.stdin.Close()) // the running save goes on
	line, err := p.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "saved\n", line)
	require.NoError(t, p.cmd.Wait())
	require.Empty(t, temps(t, path))
	loaded, err := LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.True(t, loaded, "the helper's document")

	// In this process: a save blocked in its Saver, and another goroutine
	// saving and loading meanwhile.
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- SaveFile(path, saverFunc(func(w io.Writer) error {
			close(started)
			<-release
			return NewMemoryStore(MemoryStoreConfig{}).Save(w)
		}))
	}()
	<-started
	require.Len(t, temps(t, path), 1)
	require.Zero(t, RemoveStaleTemps(path))
	require.NoError(t, SaveFile(path, NewMemoryStore(MemoryStoreConfig{})))
	_, err = LoadFile(path, NewMemoryStore(MemoryStoreConfig{}))
	require.NoError(t, err)
	require.Len(t, temps(t, path), 1)
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked save did not finish")
	}
	require.Empty(t, temps(t, path))
}

// TestFutureSystemInitNotKept: options data whose systemInitTimeMilliseconds
// lies in the future is not kept, so the store's state can still be saved
// and loaded again (found by FuzzStateful,
// testdata/fuzz/FuzzStateful/690fdb0a2762dd94: on main a time beyond the
// year 9999 made every later Save fail with "year outside of range", and
// one merely in the future made the saved file refused by Load, so that a
// collector with -state would not start again).
func TestFutureSystemInitNotKept(t *testing.T) {
	clock := newTestClock()
	optTmpl := set(3, ipfixOptionsTemplate(300, 1, tmplField{144, 4, 0}, tmplField{160, 8, 0}), false)
	for _, c := range []struct {
		at   time.Time
		kept bool
	}{
		{clock.Now().Add(-time.Hour), true},
		{clock.Now(), true},
		{clock.Now().Add(time.Second), false},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.UnixMilli(1 << 61), false},
	} {
		store := NewMemoryStore(MemoryStoreConfig{Now: clock.Now})
		d := NewDecoder(Config{Store: store, Now: clock.Now})
		_, err := d.Decode(testExporter, ipfixMessage(9, 0, optTmpl, set(300, append(uintBytes(1, 4), uintBytes(uint64(c.at.UnixMilli()), 8)...), false)))
		require.NoError(t, err)
		st, ok := d.ExporterState(testExporter, 10, 9)
		require.True(t, ok)
		require.Equal(t, c.kept, !st.SystemInit.IsZero(), "%v", c.at)
		var saved strings.Builder
		require.NoError(t, store.Save(&saved), "%v", c.at)
		require.NoError(t, NewMemoryStore(MemoryStoreConfig{Now: clock.Now}).Load(strings.NewReader(saved.String())), "%v", c.at)
	}
}
