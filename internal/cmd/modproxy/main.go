// Command modproxy writes a Go module proxy (the GOPROXY=file:// layout) that
// serves every module of a source tree at one version, so that a release can
// be proven before it is tagged: a module outside the repository fetches the
// root module and the nested ones from it as users will from the real proxy.
//
//	go run ./internal/cmd/modproxy -src DIR -version v0.1.0 -out PROXYDIR [-time 2026-12-06T00:00:00Z]
//
// DIR is a checkout of the commit to release (scripts/proxycheck.sh extracts
// one with git archive). Every directory of DIR holding a go.mod is a module;
// its zip holds its files but those of nested modules (directories with a
// go.mod of their own) and of version-control directories, as the go command
// and golang.org/x/mod/zip make module zips. For each module modproxy writes
// PROXYDIR/<escaped module path>/@v/list, VERSION.info, VERSION.mod and
// VERSION.zip, and prints the module's path, its file count and the h1: hash
// of its files (what go.sum records), computed as golang.org/x/mod/sumdb/dirhash
// computes it.
//
// It uses the standard library only, as the root module does.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

func main() {
	src := flag.String("src", ".", "the source tree: a checkout of the commit to release")
	version := flag.String("version", "", "the version to serve every module at, vX.Y.Z")
	out := flag.String("out", "", "the proxy directory to write (GOPROXY=file://DIR)")
	at := flag.String("time", "", "the version's time in the .info files, RFC 3339 (default now)")
	flag.Parse()
	if *version == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -src DIR -version vX.Y.Z -out PROXYDIR [-time RFC3339]")
		os.Exit(2)
	}
	t := time.Now().UTC()
	if *at != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, *at); err != nil {
			fmt.Fprintln(os.Stderr, "modproxy: -time:", err)
			os.Exit(2)
		}
	}
	mods, err := writeProxy(*src, *version, t, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
	for _, m := range mods {
		fmt.Printf("%s@%s  %d files  %s\n", m.Path, *version, m.Files, m.Hash)
	}
}

// module is one module written to the proxy.
type module struct {
	Path  string // module path
	Dir   string // its directory, relative to the source tree ("." for the root)
	Files int    // files in its zip
	Hash  string // h1: hash of its files, as go.sum records it
}

// semver is the form of a release version this tool serves.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// writeProxy writes every module under src at version into the proxy
// directory out, and returns them sorted by path.
func writeProxy(src, version string, at time.Time, out string) ([]module, error) {
	if !semver.MatchString(version) {
		return nil, fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH", version)
	}
	dirs, err := moduleDirs(src)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 || dirs[0] != "." {
		return nil, fmt.Errorf("%s: no go.mod at the root", src)
	}
	var mods []module
	for _, dir := range dirs {
		m, err := writeModule(src, dir, dirs, version, at, out)
		if err != nil {
			return nil, fmt.Errorf("module in %s: %w", dir, err)
		}
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

// moduleDirs lists the directories under src holding a go.mod, relative to
// src and sorted ("." first).
func moduleDirs(src string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && isVCSDir(d.Name()) {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			rel, err := filepath.Rel(src, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(dirs)
	return dirs, err
}

func isVCSDir(name string) bool {
	switch name {
	case ".git", ".hg", ".svn", ".bzr":
		return true
	}
	return false
}

// moduleFiles lists the files of the module in dir: every regular file
// under it except those in the directories of other modules and in
// version-control directories. Names are slash-separated, relative to dir,
// sorted.
func moduleFiles(src, dir string, allDirs []string) ([]string, error) {
	nested := make(map[string]bool)
	for _, d := range allDirs {
		if d != dir {
			nested[d] = true
		}
	}
	root := filepath.Join(src, filepath.FromSlash(dir))
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != root && (nested[rel] || isVCSDir(d.Name())) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // symbolic links and the like are not part of a module
		}
		name, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(name))
		return nil
	})
	slices.Sort(files)
	return files, err
}

// writeModule writes the module in dir to the proxy.
func writeModule(src, dir string, allDirs []string, version string, at time.Time, out string) (module, error) {
	root := filepath.Join(src, filepath.FromSlash(dir))
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return module{}, err
	}
	modPath, err := modulePath(gomod)
	if err != nil {
		return module{}, err
	}
	files, err := moduleFiles(src, dir, allDirs)
	if err != nil {
		return module{}, err
	}
	if err := checkNames(files); err != nil {
		return module{}, err
	}
	esc, err := escapePath(modPath)
	if err != nil {
		return module{}, err
	}
	vdir := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return module{}, err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, at.UTC()})
	if err != nil {
		return module{}, err
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return module{}, err
		}
	}
	hash, err := writeZip(filepath.Join(vdir, version+".zip"), root, modPath+"@"+version, files)
	if err != nil {
		return module{}, err
	}
	return module{Path: modPath, Dir: dir, Files: len(files), Hash: hash}, nil
}

// writeZip writes the module zip: each file as prefix/name, no directory
// entries. It returns the h1: hash of the files (golang.org/x/mod/sumdb/
// dirhash.Hash1 over the zip's names): the SHA-256 of the lines
// "<hex SHA-256 of the file>  <name>\n" in name order, in base64.
func writeZip(zipPath, root, prefix string, files []string) (string, error) {
	f, err := os.Create(zipPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	zw := zip.NewWriter(bw)
	var summary bytes.Buffer
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			return "", err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + "/" + name, Method: zip.Deflate})
		if err != nil {
			return "", err
		}
		if _, err := w.Write(data); err != nil {
			return "", err
		}
		fmt.Fprintf(&summary, "%x  %s\n", sha256.Sum256(data), prefix+"/"+name)
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(summary.Bytes())
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:]), nil
}

// modulePath returns the path of the module statement of a go.mod file.
func modulePath(gomod []byte) (string, error) {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`), nil
		}
	}
	return "", errors.New("go.mod has no module statement")
}

// escapePath escapes a module path for the proxy protocol: each upper-case
// letter becomes '!' and its lower case.
func escapePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '!' || r >= 0x80:
			return "", fmt.Errorf("module path %q: %q cannot be escaped", p, r)
		case 'A' <= r && r <= 'Z':
			b.WriteByte('!')
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// checkNames refuses what the go command refuses in a module zip: names
// that differ only in case, and path elements that are empty, dots only,
// end in a dot, or are reserved on Windows.
func checkNames(files []string) error {
	seen := make(map[string]string)
	for _, name := range files {
		fold := strings.ToLower(name)
		if other, ok := seen[fold]; ok {
			return fmt.Errorf("%q and %q differ only in case", other, name)
		}
		seen[fold] = name
		for _, elem := range strings.Split(name, "/") {
			if err := checkElem(elem); err != nil {
				return fmt.Errorf("file %q: %w", name, err)
			}
		}
	}
	return nil
}

// windowsReserved are the names Windows reserves, with any extension.
var windowsReserved = []string{"CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"}

func checkElem(elem string) error {
	if elem == "" || strings.Trim(elem, ".") == "" || strings.HasSuffix(elem, ".") {
		return fmt.Errorf("invalid path element %q", elem)
	}
	short, _, _ := strings.Cut(elem, ".")
	for _, bad := range windowsReserved {
		if strings.EqualFold(short, bad) {
			return fmt.Errorf("%q is a reserved file name on Windows", elem)
		}
	}
	if path.Clean(elem) != elem {
		return fmt.Errorf("invalid path element %q", elem)
	}
	return nil
}
