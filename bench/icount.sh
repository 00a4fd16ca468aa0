#!/bin/sh
# Counts the instructions per flow of this module's side of BenchmarkDecode,
# with valgrind's callgrind: the difference between a 5,000- and a
# 25,000-iteration run of one case, over the flows decoded in between. Unlike
# times on a shared machine, the count repeats. Pass a test binary to count
# another build (go test -c in its bench/ folder).
# Usage: sh bench/icount.sh [BINARY]   (needs valgrind)
set -eu
cd "$(dirname "$0")"
BIN=${1:-}
if [ -z "$BIN" ]; then
	BIN=$(mktemp)
	trap 'rm -f "$BIN"' EXIT
	go test -c -o "$BIN" .
fi
# callgrind fails on the signals of Go's asynchronous preemption: they are
# turned off. valgrind may still stall now and then: each run is retried.
export GODEBUG=asyncpreemptoff=1
# A run counts only if the benchmark ran to its end (its ns/op line): a
# valgrind that cannot execute an instruction of the Go runtime (RDTSCP on
# some AMD CPUs: "unhandled instruction bytes: 0xF 0x1 0xF9") kills the
# program early, and the few instructions it collected mean nothing.
count() {
	for try in 1 2 3 4 5; do
		out=$(timeout 120 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" \
			-test.run='^$' -test.bench="^BenchmarkDecode\$/^$1\$/^impl=netflow\$" \
			-test.cpu=1 -test.benchtime="$2x" 2>&1) || true
		n=$(printf '%s\n' "$out" | awk '/Collected/ {print $4}')
		if [ -n "$n" ] && printf '%s\n' "$out" | grep -q 'ns/op'; then
			echo "$n"
			return
		fi
		if printf '%s\n' "$out" | grep -q 'unhandled instruction'; then
			printf '%s\n' "$out" | grep -m1 'unhandled instruction' >&2
			echo "valgrind cannot run this binary on this CPU: no count for $1" >&2
			exit 1
		fi
	done
	echo "valgrind failed on $1" >&2
	exit 1
}
for c in v5:30 v9:30 ipfix:30 v9-cisco-asa:14 ipfix-mikrotik:28; do
	name=${c%:*}
	flows=${c#*:}
	a=$(count "$name" 5000)
	b=$(count "$name" 25000)
	echo "$name $(( (b - a) / (20000 * flows) )) instructions/flow"
done
