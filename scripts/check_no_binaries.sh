#!/usr/bin/env bash
# Fails (exit status 1) when a file tracked by git is an executable binary:
# ELF (Linux, BSD), Mach-O (macOS, thin or fat) or PE (Windows). Build
# outputs belong in .gitignore, never in the repository; captures and other
# binary test data are fine. Usage: scripts/check_no_binaries.sh [DIR]
# (default: the repository holding this script).
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

found=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	magic=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
	kind=
	case "$magic" in
	7f454c46) kind=ELF ;;
	feedface | cefaedfe | feedfacf | cffaedfe | cafebabe | bebafeca) kind=Mach-O ;;
	4d5a*)
		# MZ: a PE file has "PE\0\0" at the offset stored at 0x3c.
		off=$(od -An -tu4 --endian=little -j60 -N4 "$f" | tr -d ' \n')
		if [ -n "$off" ] && [ "$(od -An -tx1 -j"$off" -N4 "$f" 2>/dev/null | tr -d ' \n')" = 50450000 ]; then
			kind=PE
		fi
		;;
	esac
	if [ -n "$kind" ]; then
		echo "tracked executable ($kind): $f"
		found=1
	fi
done < <(git ls-files -z)

if [ "$found" -ne 0 ]; then
	echo "remove it (git rm --cached FILE) and ignore it in .gitignore"
	exit 1
fi
echo "no tracked executables among $(git ls-files | wc -l) files"
