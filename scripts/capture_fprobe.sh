#!/bin/sh
# Regenerate testdata/fprobe/: real fprobe 1.1 exports (NetFlow v1, v5, v7) of
# live loopback traffic (ICMP echo, TCP, UDP between 127.0.0.1 and 127.0.0.1),
# captured with tcpdump on lo, plus their tshark expectations.
# fprobe only reads live interfaces; with no expiry during the run (-d/-e 3600)
# and a large queue, SIGTERM flushes the whole cache at the end (DESIGN.md 9).
# Needs root, fprobe, tcpdump, tshark, python3. All traffic stays on 127.0.0.1.
# Usage: sh scripts/capture_fprobe.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/testdata/fprobe
PORT=${PORT:-39155}
TMP=$(mktemp -d)
mkdir -p "$OUT"

traffic() {
	python3 - <<'EOF'
import socket, struct, threading, time
# TCP: server on 127.0.0.1:18080, 3 connections each sending 100 bytes, reply 1000 bytes
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 18080)); srv.listen(5)
def serve():
    for _ in range(3):
        c, _ = srv.accept(); c.recv(4096); c.sendall(b"r" * 1000); c.close()
t = threading.Thread(target=serve); t.start()
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", 18080)); s.sendall(b"q" * 100); s.recv(4096)
    while s.recv(4096): pass
    s.close(); time.sleep(0.05)
t.join(); srv.close()
# UDP: 5 datagrams of 40 bytes to 127.0.0.1:15353 (a bound receiver, so no ICMP errors)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 15353))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    u.sendto(b"u" * 40, ("127.0.0.1", 15353)); r.recv(100); time.sleep(0.02)
# ICMP echo to 127.0.0.1 (the kernel answers), 3 times
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def csum(b):
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b)); s = (s & 0xffff) + (s >> 16); s += s >> 16
    return ~s & 0xffff
for seq in range(1, 4):
    h = struct.pack(">BBHHH", 8, 0, 0, 0x4242, seq) + b"p" * 56
    h = h[:2] + struct.pack(">H", csum(h)) + h[4:]
    ic.sendto(h, ("127.0.0.1", 0)); time.sleep(0.1)
EOF
}

for V in 1 5 7; do
	python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$PORT)); s.settimeout(30)
try:
    while True: s.recv(65535)
except Exception: pass
" &
	LPID=$!
	tcpdump -i lo -U -n -s 0 -w "$TMP/v$V.pcap" "udp and dst port $PORT" >"$TMP/tcpdump$V.log" 2>&1 &
	TPID=$!
	fprobe -l 2 -i lo -p -f "ip and not port $PORT" -s 1 -d 3600 -e 3600 -q 200000 -b 100000 \
		-n $V 127.0.0.1:$PORT >"$TMP/fprobe$V.log" 2>&1 &
	FPID=$!
	sleep 2
	traffic
	sleep 2
	kill -TERM $FPID; wait $FPID || true
	sleep 2
	kill -INT $TPID; wait $TPID || true
	kill $LPID 2>/dev/null || true; wait $LPID 2>/dev/null || true
	cp "$TMP/v$V.pcap" "$OUT/fprobe_v$V.pcap"
	echo "fprobe -n $V: $(tshark -r "$OUT/fprobe_v$V.pcap" 2>/dev/null | wc -l) datagrams"
done
rm -rf "$TMP"
cd "$ROOT"
for V in 1 5 7; do
	python3 scripts/tshark_expected.py decode "testdata/expected/fprobe_live_v$V.json" "testdata/fprobe/fprobe_v$V.pcap"
done
