#!/bin/sh
# Regenerate testdata/softflowd/: real softflowd exports (v1, v5, v9, IPFIX) of a
# synthetic input pcap, captured on loopback, plus their tshark expectations.
# Needs: softflowd tcpdump tshark python3, root (tcpdump on lo). Sends only to 127.0.0.1.
# Usage: sh scripts/capture_softflowd.sh   (from anywhere)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/testdata/softflowd
PORT=${PORT:-39055}
TMP=$(mktemp -d)
mkdir -p "$OUT"
python3 "$ROOT/scripts/make_input_pcap.py" "$OUT/softflowd_input.pcap" "$OUT/softflowd_input_flows.json"

for V in 1 5 9 10; do
	# listener so the connected UDP socket of softflowd gets no ICMP unreachables
	python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$PORT)); s.settimeout(30)
try:
    while True: s.recv(65535)
except Exception: pass
" &
	LPID=$!
	tcpdump -i lo -U -n -s 0 -w "$TMP/v$V.pcap" "udp and dst port $PORT" >"$TMP/tcpdump$V.log" 2>&1 &
	TPID=$!
	sleep 2
	# relative -r name: softflowd exports it as the interface name (options record)
	(cd "$OUT" && softflowd -r softflowd_input.pcap -a -d -c none -p "$TMP/softflowd.pid" \
		-n 127.0.0.1:$PORT -v $V >"$TMP/softflowd$V.log" 2>&1)
	sleep 2
	kill -INT $TPID; wait $TPID || true
	kill $LPID 2>/dev/null || true; wait $LPID 2>/dev/null || true
	cp "$TMP/v$V.pcap" "$OUT/softflowd_v$V.pcap"
	echo "softflowd -v $V: $(tshark -r "$OUT/softflowd_v$V.pcap" 2>/dev/null | wc -l) datagrams"
done
rm -rf "$TMP"
cd "$ROOT"
for V in 1 5 9 10; do
	python3 scripts/tshark_expected.py decode "testdata/expected/softflowd_v$V.json" "testdata/softflowd/softflowd_v$V.pcap"
done
