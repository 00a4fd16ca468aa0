#!/bin/sh
# Regenerate testdata/softflowd/softflowd_v10_tcp.pcap: real softflowd 1.1.0 IPFIX
# export over TCP (-v 10 -P tcp) of a synthetic input pcap, captured on loopback,
# plus its tshark decode testdata/expected/softflowd_v10_tcp.json.
#
# The collector is a small Python listener on 127.0.0.1:PORT that accepts the
# connection and reads it to its end. It sets TCP_MAXSEG on the listening socket,
# so the SYN-ACK announces a small MSS and softflowd's messages span several
# segments, with message boundaries inside segments (what a reassembler must handle).
#
# Needs: softflowd tcpdump tshark python3, root (tcpdump on lo). Sends only to 127.0.0.1.
# Usage: sh scripts/capture_softflowd_tcp.sh   (from anywhere)
#   PORT (default 39739), FLOWS (extra one-packet UDP flows, default 400), MSS (default 536)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/testdata/softflowd
PORT=${PORT:-39739}
FLOWS=${FLOWS:-400}
MSS=${MSS:-536}
TMP=$(mktemp -d)
mkdir -p "$OUT"
python3 "$ROOT/scripts/make_input_pcap.py" --extra-udp-flows "$FLOWS" "$TMP/softflowd_tcp_input.pcap"

python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, $MSS)
s.bind(('127.0.0.1', $PORT)); s.listen(1); s.settimeout(30)
total = 0
try:
    c, _ = s.accept(); c.settimeout(30)
    while True:
        b = c.recv(65536)
        if not b:
            break
        total += len(b)
    c.close()
except Exception as e:
    print('listener:', e)
print('listener: read', total, 'bytes')
" &
LPID=$!
tcpdump -i lo -U -n -s 0 -w "$TMP/v10_tcp.pcap" "tcp port $PORT" >"$TMP/tcpdump.log" 2>&1 &
TPID=$!
sleep 2
# relative -r name: softflowd exports it as the interface name (options record)
(cd "$TMP" && softflowd -r softflowd_tcp_input.pcap -a -d -c none -p "$TMP/softflowd.pid" \
	-n 127.0.0.1:$PORT -v 10 -P tcp >"$TMP/softflowd.log" 2>&1)
wait $LPID || true
sleep 1
kill -INT $TPID; wait $TPID || true
cp "$TMP/v10_tcp.pcap" "$OUT/softflowd_v10_tcp.pcap"
echo "softflowd -v 10 -P tcp: $(tshark -r "$OUT/softflowd_v10_tcp.pcap" 2>/dev/null | wc -l) frames"
rm -rf "$TMP"
cd "$ROOT"
python3 scripts/tshark_expected.py decode testdata/expected/softflowd_v10_tcp.json testdata/softflowd/softflowd_v10_tcp.pcap
