#!/bin/sh
# Capture a real sFlow v5 export: pmacctd (Debian pmacct) with its sfprobe
# plugin samples frames replayed into a veth pair inside a network namespace
# of our own, and exports to sfacctd (pmacct's sFlow collector, print plugin)
# on the namespace's loopback; tcpdump captures the export there. Nothing
# leaves the namespace, which is deleted at the end.
#
# Writes to OUT (default testdata/sflow/pmacctd/):
#   pmacctd-sfprobe.pcap        the export (UDP to 127.0.0.1:PORT)
#   pmacctd-sfprobe.pmacctd.conf the exact pmacctd configuration
#   pmacctd-sfprobe.sfacctd.csv sfacctd's print of the same export
#   (and with EXPECTED=1, the default for testdata, tshark's decode in
#   testdata/expected/sflow/pmacctd__pmacctd-sfprobe.json)
#
# Needs root, ip, pmacctd, sfacctd, tcpreplay, tcpdump, python3 (tshark for
# EXPECTED). FRAMES frames (default 2400) of scripts/make_sflow_input.py are
# replayed at PPS (default 100) frames a second, long enough for a counter
# sample (every 20 s); sampling 1 in RATE (default 3). SETTLE seconds
# (default 3) pass between the replay's end and pmacctd's stop; SFACCTD=0
# runs no sfacctd (a live test that needs only the capture).
# Usage: sh scripts/capture_pmacctd_sflow.sh [OUT]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/testdata/sflow/pmacctd}
EXPECTED=${EXPECTED:-}
[ -z "${1:-}" ] && EXPECTED=${EXPECTED:-1}
FRAMES=${FRAMES:-2400}
PPS=${PPS:-100}
RATE=${RATE:-3}
PORT=${PORT:-6343}
SFACCTD=${SFACCTD:-1}
SETTLE=${SETTLE:-3}
NS=nf-sflow-$$
TMP=$(mktemp -d)
mkdir -p "$OUT"

cleanup() {
	for p in $(cat "$TMP"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

python3 "$ROOT/scripts/make_sflow_input.py" "$TMP/input.pcap" "$FRAMES" 22

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add veth0 type veth peer name veth1
ip -n "$NS" link set veth0 up
ip -n "$NS" link set veth1 up
# Jumbo frames reach pmacctd whole.
ip -n "$NS" link set veth0 mtu 9100
ip -n "$NS" link set veth1 mtu 9100

cat >"$TMP/pmacctd.conf" <<EOF
! pmacctd sfprobe, written by scripts/capture_pmacctd_sflow.sh
daemonize: false
pcap_interface: veth0
promisc: true
plugins: sfprobe[sf]
sampling_rate: $RATE
sfprobe_receiver[sf]: 127.0.0.1:$PORT
sfprobe_agentip[sf]: 192.0.2.22
sfprobe_agentsubid[sf]: 5
sfprobe_ifspeed[sf]: 1000000000
sfprobe_direction[sf]: in
sfprobe_ifindex[sf]: 12
EOF
cat >"$TMP/sfacctd.conf" <<EOF
daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: $PORT
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, vlan, tos
print_output[p]: csv
print_output_file[p]: $TMP/sfacctd.csv
print_refresh_time[p]: 3600
print_output_file_append[p]: true
EOF

ip netns exec "$NS" tcpdump -i lo -U -n -s 0 -w "$TMP/export.pcap" "udp and dst port $PORT" >"$TMP/tcpdump.log" 2>&1 &
echo $! >"$TMP/tcpdump.pid"
if [ "$SFACCTD" = 1 ]; then
	ip netns exec "$NS" sfacctd -f "$TMP/sfacctd.conf" >"$TMP/sfacctd.log" 2>&1 &
	echo $! >"$TMP/sfacctd.pid"
fi
ip netns exec "$NS" pmacctd -f "$TMP/pmacctd.conf" >"$TMP/pmacctd.log" 2>&1 &
echo $! >"$TMP/pmacctd.pid"
# pmacctd is ready when it has opened veth0.
for _ in $(seq 50); do
	grep -q "veth0" "$TMP/pmacctd.log" 2>/dev/null && break
	sleep 0.1
done
sleep 1
ip netns exec "$NS" tcpreplay -q -i veth1 --pps "$PPS" "$TMP/input.pcap" >"$TMP/tcpreplay.log" 2>&1
# sfprobe sends a datagram when it fills one or a second has passed.
sleep "$SETTLE"
kill -INT "$(cat "$TMP/pmacctd.pid")"; wait "$(cat "$TMP/pmacctd.pid")" 2>/dev/null || true
if [ "$SFACCTD" = 1 ]; then
	sleep 1
	kill -INT "$(cat "$TMP/sfacctd.pid")"; wait "$(cat "$TMP/sfacctd.pid")" 2>/dev/null || true
fi
kill -INT "$(cat "$TMP/tcpdump.pid")"; wait "$(cat "$TMP/tcpdump.pid")" 2>/dev/null || true
rm -f "$TMP"/*.pid

cp "$TMP/export.pcap" "$OUT/pmacctd-sfprobe.pcap"
cp "$TMP/pmacctd.conf" "$OUT/pmacctd-sfprobe.pmacctd.conf"
[ -f "$TMP/sfacctd.csv" ] && cp "$TMP/sfacctd.csv" "$OUT/pmacctd-sfprobe.sfacctd.csv"
echo "pmacctd sfprobe: $(tcpdump -r "$OUT/pmacctd-sfprobe.pcap" 2>/dev/null | wc -l) datagrams in $OUT/pmacctd-sfprobe.pcap"
if [ -n "$EXPECTED" ]; then
	cd "$ROOT"
	python3 scripts/tshark_expected.py sflow "$OUT/pmacctd-sfprobe.pcap"
	mv testdata/expected/sflow/pmacctd-sfprobe.json testdata/expected/sflow/pmacctd__pmacctd-sfprobe.json
fi
