#!/usr/bin/env bash
# Proves a release before it is tagged (docs/releasing.md): every module of
# the commit is served at the release-candidate version by a module proxy
# built in a temporary directory (GOPROXY=file://, made by
# internal/cmd/modproxy from `git archive`), and, with GOWORK=off so that
# go.work plays no part:
#   1. each module's go.mod is what `go mod tidy` makes it against the
#      others at that version alone (no go.work, no replace), and the
#      modules users build (all but bench and redisstore/clientbench) build;
#   2. a scratch module outside the repository `go get`s the root module and
#      redisstore at that version and builds the README's programs (every
#      ```go block that is a package main), as a user would;
#   3. `go install github.com/flowkit/netflow/examples/flowdump@VERSION`
#      works, and the installed flowdump decodes a shipped capture.
# Third-party modules come from the local module cache or the real proxy.
#
# Usage: scripts/proxycheck.sh [COMMIT]   (default HEAD)
# The version is the one the nested modules require of the root module
# (redisstore/go.mod); every nested go.mod must require that version of the
# modules of this repository, without replace directives.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-HEAD}
root=github.com/flowkit/netflow

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proxycheck.XXXXXX")
cleanup() { chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir "$tmp/src"
git -C "$repo" archive "$commit" | tar -x -C "$tmp/src"
when=$(git -C "$repo" show -s --format=%cI "$commit")
echo "commit $(git -C "$repo" rev-parse --short "$commit") of $when"

# The release-candidate version, and the nested modules' requirements of
# this repository's modules: all at it, none replaced.
version=$(awk -v m="$root" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$tmp/src/redisstore/go.mod")
[ -n "$version" ] || { echo "redisstore/go.mod does not require $root"; exit 1; }
echo "release candidate $version"
bad=0
while IFS= read -r gomod; do
	if grep -nE "^[[:space:]]*replace|=>" "$tmp/src/$gomod" | grep -F "$root" >/dev/null; then
		echo "$gomod replaces a module of this repository: users' builds ignore replace directives"
		bad=1
	fi
	while read -r path ver; do
		if [ "$ver" != "$version" ]; then
			echo "$gomod requires $path $ver, not the release candidate $version"
			bad=1
		fi
	done < <(sed -nE "s#^[[:space:]]*(require[[:space:]]+)?($root(/[^[:space:]]+)?)[[:space:]]+(v[^[:space:]]+).*#\2 \4#p" "$tmp/src/$gomod")
done < <(cd "$tmp/src" && find . -name go.mod -not -path ./go.mod | sed 's#^\./##' | sort)
[ "$bad" -eq 0 ] || exit 1

echo
echo "-- module proxy from the commit"
(cd "$tmp/src" && GOWORK=off GOFLAGS=-mod=mod go run ./internal/cmd/modproxy -src . -version "$version" -time "$when" -out "$tmp/proxy") | tee "$tmp/modules.txt"

# This proxy, then the module cache's downloads, then the real proxy;
# a module cache of its own (a real one may hold another build of the same
# version); no checksum database for the modules of this repository, which
# it has not seen yet.
export GOWORK=off
# -trimpath: compiled packages do not depend on where this run's module
# cache is, so the build cache serves them from one run to the next.
export GOFLAGS="-mod=mod -modcacherw -trimpath"
export GOPROXY="file://$tmp/proxy,file://$(go env GOMODCACHE)/cache/download,https://proxy.golang.org"
export GONOSUMDB="$root" GOPRIVATE= GONOPROXY=
export GOMODCACHE="$tmp/modcache"
export GOTOOLCHAIN=local

echo
echo "-- every module, alone, against $version"
while read -r dir; do
	(
		cd "$tmp/src/$dir"
		cp go.mod "$tmp/go.mod.orig"
		go mod tidy
		if ! diff -u "$tmp/go.mod.orig" go.mod; then
			echo "$dir/go.mod: not what go mod tidy makes it against $version (above: - committed, + tidy)"
			exit 1
		fi
		case "$dir" in
		bench | */clientbench) built="tidy" ;; # measurements: nobody builds them from the proxy
		*)
			go build ./...
			built="tidy, builds"
			;;
		esac
		echo "ok  $dir ($(sed -n 's/^module //p' go.mod)): $built"
	)
done < <(cd "$tmp/src" && find . -name go.mod | xargs -n1 dirname | sed 's#^\./##; s#^\.$#.#' | sort)

echo
echo "-- a module outside the repository: go get $root@$version $root/redisstore@$version"
mkdir "$tmp/scratch"
cd "$tmp/scratch"
go mod init example.com/scratch >/dev/null 2>&1
# Every README program (a ```go block that starts with package main).
awk -v dir="$tmp/scratch" '
	/^```go[[:space:]]*$/ { inblock = 1; n++; buf = ""; next }
	inblock && /^```[[:space:]]*$/ {
		inblock = 0
		if (buf ~ /^package main\n/) {
			d = dir "/readme" n; system("mkdir -p " d); printf "%s", buf > (d "/main.go"); close(d "/main.go")
			print "README program " n ": readme" n "/main.go"
		}
		next
	}
	inblock { buf = buf $0 "\n" }
' "$tmp/src/README.md"
grep -l "redisstore" readme*/main.go >/dev/null || { echo "README has no redisstore program"; exit 1; }
go get "$root@$version" "$root/redisstore@$version"
go mod tidy
go build ./...
go vet ./...
grep -F "$root" go.mod
for m in "$root" "$root/redisstore"; do
	want=$(awk -v m="$m@$version" '$1 == m {print $NF}' "$tmp/modules.txt")
	got=$(awk -v m="$m" -v v="$version" '$1 == m && $2 == v {print $3}' go.sum)
	if [ "$want" != "$got" ]; then
		echo "go.sum has $m $version $got, the proxy's zip is $want"
		exit 1
	fi
done
echo "ok  the README's programs build; go.sum holds the hashes of the zips above"

echo
echo "-- go install $root/examples/flowdump@$version"
GOBIN="$tmp/bin" go install "$root/examples/flowdump@$version"
"$tmp/bin/flowdump" "$repo/testdata/generated-fprobe/fprobe_v5.pcap" | tail -n 2
echo
echo "proxycheck: $version of $(sed -n 's/^\([^ ]*\)@.*/\1/p' "$tmp/modules.txt" | wc -l) modules resolves from a module proxy"
