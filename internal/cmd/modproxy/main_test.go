package main

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tree writes files (slash-separated names) under a temporary directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestWriteProxy: a root module with a nested module (and a module nested
// in that), a version-control directory and a symbolic link. Each module's
// zip holds its own files under module@version/, without those of the
// modules nested in it, the .git directory or the link; list, .info and
// .mod are the proxy protocol's.
func TestWriteProxy(t *testing.T) {
	src := tree(t, map[string]string{
		"go.mod":                       "module example.com/Root\n\ngo 1.25\n",
		"root.go":                      "package root\n",
		"internal/x/x.go":              "package x\n",
		".git/config":                  "[core]\n",
		"sub/go.mod":                   "module example.com/Root/sub\n\nrequire example.com/Root v1.2.3\n",
		"sub/sub.go":                   "package sub\n",
		"sub/testdata/a.bin":           "\x00\x01",
		"sub/deeper/go.mod":            "module example.com/Root/sub/deeper\n",
		"sub/deeper/d.go":              "package deeper\n",
		"notamodule/go.mod.txt":        "not a go.mod\n",
		"notamodule/testdata/file.txt": "x\n",
	})
	if err := os.Symlink("root.go", filepath.Join(src, "link.go")); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	at := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	mods, err := writeProxy(src, "v1.2.3", at, out)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range mods {
		paths = append(paths, m.Path+" "+m.Dir)
		if !strings.HasPrefix(m.Hash, "h1:") || len(m.Hash) != 3+44 {
			t.Errorf("%s: hash %q", m.Path, m.Hash)
		}
	}
	if want := []string{"example.com/Root .", "example.com/Root/sub sub", "example.com/Root/sub/deeper sub/deeper"}; !slices.Equal(paths, want) {
		t.Fatalf("modules %q, want %q", paths, want)
	}

	files := map[string][]string{
		"example.com/!root":            {"go.mod", "internal/x/x.go", "notamodule/go.mod.txt", "notamodule/testdata/file.txt", "root.go"},
		"example.com/!root/sub":        {"go.mod", "sub.go", "testdata/a.bin"},
		"example.com/!root/sub/deeper": {"d.go", "go.mod"},
	}
	for esc, want := range files {
		vdir := filepath.Join(out, filepath.FromSlash(esc), "@v")
		list, err := os.ReadFile(filepath.Join(vdir, "list"))
		if err != nil || string(list) != "v1.2.3\n" {
			t.Errorf("%s/list: %q, %v", esc, list, err)
		}
		var info struct {
			Version string
			Time    time.Time
		}
		b, err := os.ReadFile(filepath.Join(vdir, "v1.2.3.info"))
		if err != nil || json.Unmarshal(b, &info) != nil || info.Version != "v1.2.3" || !info.Time.Equal(at) {
			t.Errorf("%s/v1.2.3.info: %s, %v", esc, b, err)
		}
		mod, err := os.ReadFile(filepath.Join(vdir, "v1.2.3.mod"))
		if err != nil || !strings.HasPrefix(string(mod), "module example.com/Root") {
			t.Errorf("%s/v1.2.3.mod: %q, %v", esc, mod, err)
		}
		zr, err := zip.OpenReader(filepath.Join(vdir, "v1.2.3.zip"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		prefix := strings.NewReplacer("!r", "R").Replace(esc) + "@v1.2.3/"
		for _, f := range zr.File {
			if !strings.HasPrefix(f.Name, prefix) {
				t.Errorf("%s: zip entry %q outside %s", esc, f.Name, prefix)
			}
			names = append(names, strings.TrimPrefix(f.Name, prefix))
		}
		zr.Close()
		if !slices.Equal(names, want) {
			t.Errorf("%s: zip holds %q, want %q", esc, names, want)
		}
	}
}

// TestWriteProxyRefuses: what the go command would refuse in a module zip,
// and a version that is not vX.Y.Z.
func TestWriteProxyRefuses(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"names differing in case": {"go.mod": "module example.com/m\n", "a.go": "", "A.go": ""},
		"Windows reserved name":   {"go.mod": "module example.com/m\n", "aux.go": ""},
		"trailing dot":            {"go.mod": "module example.com/m\n", "dir./a.go": ""},
		"no go.mod at the root":   {"sub/go.mod": "module example.com/m/sub\n"},
		"no module statement":     {"go.mod": "go 1.25\n"},
	} {
		if _, err := writeProxy(tree(t, files), "v0.1.0", time.Now(), t.TempDir()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := writeProxy(tree(t, map[string]string{"go.mod": "module example.com/m\n"}), "0.1.0", time.Now(), t.TempDir()); err == nil {
		t.Error("version 0.1.0: no error")
	}
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/flowkit/netflow": "github.com/flowkit/netflow",
		"github.com/BurntSushi/toml": "github.com/!burnt!sushi/toml",
	} {
		if got, err := escapePath(in); err != nil || got != want {
			t.Errorf("escapePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := escapePath("example.com/a!b"); err == nil {
		t.Error("escapePath accepted '!'")
	}
}
