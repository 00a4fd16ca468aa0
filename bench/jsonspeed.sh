#!/bin/sh
# Times flowdump's table output, flowdump -json and a goflow2 v2.2.6 JSON dump
# (cmd/gf2dump: its decoder, proto producer and json format, as its collector
# runs them; and -lean, the same with ten keys by encoding/json) on one
# capture, in one hyperfine run.
#
# The capture is real softflowd v9 export: softflowd reads a synthetic input
# of FLOWS flows (documentation addresses, inside a pcap only) and exports to
# a listener on 127.0.0.1 that writes the datagrams it receives to a pcap;
# that capture is then repeated REPEAT times. Everything is in a temp dir.
# Needs softflowd, python3 and hyperfine (else `time` is used).
# Usage: sh bench/jsonspeed.sh   (FLOWS=4000 REPEAT=50 by default)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLOWS=${FLOWS:-4000}
REPEAT=${REPEAT:-50}
PORT=${PORT:-39077}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

python3 - "$TMP/input.pcap" "$FLOWS" <<'PY'
import struct, sys
out, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
f = open(out, "wb")
f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
t = 1700000000.0
for i in range(n):
    src = bytes([192, 0, 2, 1 + i % 250]); dst = bytes([198, 51, 100, 1 + (i // 250) % 250])
    for k in range(3):  # three packets a flow, 10 ms apart
        proto = 6 if i % 3 else 17
        if proto == 6:
            l4 = struct.pack(">HHIIBBHHH", 1024 + i % 60000, 443, k, 0, 0x50, 0x18 if k else 0x02, 65535, 0, 0)
        else:
            l4 = struct.pack(">HHHH", 1024 + i % 60000, 53, 8 + 20, 0) + b"x" * 20
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), i & 0xFFFF, 0, 64, proto, 0, src, dst)
        ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
        frame = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + l4
        ts = t + i * 0.001 + k * 0.01
        f.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), len(frame)) + frame)
PY

# The listener writes each datagram it gets as a raw-IP pcap record.
python3 - "$TMP/one.pcap" "$PORT" <<'PY' &
import socket, struct, sys, time
out, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
s.bind(("127.0.0.1", port)); s.settimeout(5)
f = open(out, "wb"); f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
try:
    while True:
        data, (host, sport) = s.recvfrom(65535)
        udp = struct.pack(">HHHH", sport, port, 8 + len(data), 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(data), 0, 0, 64, 17, 0,
                         socket.inet_aton(host), socket.inet_aton("127.0.0.1"))
        now = time.time(); pkt = ip + udp + data
        f.write(struct.pack("<IIII", int(now), int((now % 1) * 1e6), len(pkt), len(pkt)) + pkt)
except socket.timeout:
    pass
f.close()
PY
LPID=$!
sleep 1
softflowd -r "$TMP/input.pcap" -a -d -c none -p "$TMP/sf.pid" -n 127.0.0.1:$PORT -v 9 >"$TMP/softflowd.log" 2>&1
wait $LPID

python3 - "$TMP/one.pcap" "$TMP/capture.pcap" "$REPEAT" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, "rb").read()
open(dst, "wb").write(b[:24] + b[24:] * n)
PY

cd "$ROOT"
go build -o "$TMP/flowdump" ./examples/flowdump
(cd bench && go build -o "$TMP/gf2dump" ./cmd/gf2dump)
"$TMP/flowdump" -stats "$TMP/capture.pcap" 2>&1 >/dev/null | sed -n 2,3p
echo "capture: $(wc -c <"$TMP/capture.pcap") bytes; gf2dump lines: $("$TMP/gf2dump" "$TMP/capture.pcap" | wc -l); flowdump -json -flows-only lines: $("$TMP/flowdump" -json -flows-only "$TMP/capture.pcap" | wc -l)"
if command -v hyperfine >/dev/null 2>&1; then
	hyperfine -N --warmup 1 --runs ${RUNS:-10} \
		-n table "$TMP/flowdump -flows-only $TMP/capture.pcap" \
		-n json "$TMP/flowdump -json -flows-only $TMP/capture.pcap" \
		-n goflow2-lean-json "$TMP/gf2dump -lean $TMP/capture.pcap" \
		-n goflow2-json "$TMP/gf2dump $TMP/capture.pcap" \
		--output=null
else
	for c in "flowdump -flows-only" "flowdump -json -flows-only" "gf2dump -lean" "gf2dump"; do
		echo "== $c"; time sh -c "$TMP/$c $TMP/capture.pcap >/dev/null"
	done
fi
