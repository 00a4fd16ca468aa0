#!/usr/bin/env python3
"""Synthesize a small Ethernet pcap of known IPv4/IPv6 TCP/UDP/ICMP flows.

Used as the input of softflowd (scripts/capture_softflowd.sh). Addresses are
loopback or documentation ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32);
the packets only ever exist inside the pcap file, nothing is sent.

  python3 scripts/make_input_pcap.py [--extra-udp-flows N] OUT.pcap [OUT_flows.json]

--extra-udp-flows N adds N one-packet IPv4 UDP flows (192.0.2.0/24 ->
198.51.100.7, distinct ports) after the others, so that an exporter has enough
records to fill several export messages (scripts/capture_softflowd_tcp.sh).
Without it the output is the same as it always was.

The optional JSON lists each unidirectional flow with its packet count, byte
count as IP total length (what softflowd counts: frame minus Ethernet header),
first/last packet time and TCP flags OR-ed, as an exporter-independent oracle.
Deterministic: same bytes every run.
"""
import json
import socket
import struct
import sys

BASE = 1700000000  # 2023-11-14T22:13:20Z


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def l4(proto, src, dst, sport, dport, payload, flags=0, v6=False, icmp=None):
    if proto == 6:
        hdr = struct.pack(">HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0)
    elif proto == 17:
        hdr = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
    else:  # ICMP / ICMPv6 echo
        typ, code = icmp
        hdr = struct.pack(">BBHHH", typ, code, 0, 0x1234, sport)
    seg = hdr + payload
    if v6:
        pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
            struct.pack(">IxxxB", len(seg), proto)
    else:
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">xBH", proto, len(seg))
    off = {6: 16, 17: 6, 1: 2, 58: 2}[proto]
    c = csum((b"" if proto == 1 else pseudo) + seg)
    return seg[:off] + struct.pack(">H", c) + seg[off + 2:]


def ip4(src, dst, proto, seg, tos=0, ident=1):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, tos, 20 + len(seg), ident & 0xFFFF, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack(">H", csum(h)) + h[12:] + seg


def ip6(src, dst, proto, seg, tc=0):
    vtf = (6 << 28) | (tc << 20)
    return struct.pack(">IHBB", vtf, len(seg), proto, 64) + socket.inet_pton(socket.AF_INET6, src) + \
        socket.inet_pton(socket.AF_INET6, dst) + seg


# (t_ms offset, v6, src, dst, proto, sport, dport, payload_len, tcp_flags, tos, icmp)
def packets(extra_udp=0):
    P = []
    # 1. IPv4 TCP 192.0.2.10:40000 <-> 198.51.100.20:80, ToS 0x10 forward
    c, s = ("192.0.2.10", 40000), ("198.51.100.20", 80)
    seq = [(0, c, s, 0, 0x02), (10, s, c, 0, 0x12), (20, c, s, 0, 0x10), (30, c, s, 100, 0x18),
           (45, s, c, 500, 0x18), (50, s, c, 700, 0x18), (60, c, s, 0, 0x10), (1000, c, s, 0, 0x11),
           (1010, s, c, 0, 0x11), (1020, c, s, 0, 0x10)]
    for t, a, b, n, fl in seq:
        P.append((t, False, a[0], b[0], 6, a[1], b[1], n, fl, 0x10 if a == c else 0, None))
    # 2. IPv4 UDP DNS-like 192.0.2.10:5353 <-> 198.51.100.53:53
    for i in range(3):
        P.append((100 + 200 * i, False, "192.0.2.10", "198.51.100.53", 17, 5353, 53, 40, 0, 0, None))
        P.append((105 + 200 * i, False, "198.51.100.53", "192.0.2.10", 17, 53, 5353, 120, 0, 0, None))
    # 3. IPv4 ICMP echo 192.0.2.10 -> 198.51.100.1 (type 8) and replies (type 0)
    for i in range(3):
        P.append((300 + 1000 * i, False, "192.0.2.10", "198.51.100.1", 1, i + 1, 0, 56, 0, 0, (8, 0)))
        P.append((302 + 1000 * i, False, "198.51.100.1", "192.0.2.10", 1, i + 1, 0, 56, 0, 0, (0, 0)))
    # 4. IPv4 loopback UDP 127.0.0.1:1234 -> 127.0.0.2:5678, one direction only
    for i in range(4):
        P.append((400 + 50 * i, False, "127.0.0.1", "127.0.0.2", 17, 1234, 5678, 10 * (i + 1), 0, 0, None))
    # 5. IPv6 TCP 2001:db8::10:40001 <-> 2001:db8::20:443
    c6, s6 = ("2001:db8::10", 40001), ("2001:db8::20", 443)
    seq6 = [(500, c6, s6, 0, 0x02), (505, s6, c6, 0, 0x12), (510, c6, s6, 0, 0x10), (520, c6, s6, 300, 0x18),
            (530, s6, c6, 1200, 0x18), (1500, c6, s6, 0, 0x11), (1505, s6, c6, 0, 0x11), (1510, c6, s6, 0, 0x10)]
    for t, a, b, n, fl in seq6:
        P.append((t, True, a[0], b[0], 6, a[1], b[1], n, fl, 0, None))
    # 6. IPv6 UDP 2001:db8::10:5000 -> 2001:db8::20:6000
    for i in range(2):
        P.append((600 + 100 * i, True, "2001:db8::10", "2001:db8::20", 17, 5000, 6000, 64, 0, 0, None))
    # 7. IPv6 ICMPv6 echo ::1 -> ::1 (loopback), type 128
    P.append((700, True, "::1", "::1", 58, 7, 0, 32, 0, 0, (128, 0)))
    # 8. Optional one-packet UDP flows, 1 ms apart after the last packet above.
    for i in range(extra_udp):
        P.append((2000 + i, False, "192.0.2.%d" % (100 + i % 100), "198.51.100.7", 17,
                  20000 + i, 9000 + i % 50, 20 + i % 100, 0, 0, None))
    P.sort(key=lambda p: p[0])
    return P


def main():
    args, extra = sys.argv[1:], 0
    if args[:1] == ["--extra-udp-flows"]:
        extra, args = int(args[1]), args[2:]
    out = args[0]
    flows = {}
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (t, v6, src, dst, proto, sp, dp, n, fl, tos, icmp) in enumerate(packets(extra)):
            seg = l4(proto, src, dst, sp, dp, bytes((i + k) & 0xFF for k in range(n)), fl, v6, icmp)
            pkt = ip6(src, dst, proto, seg, tos) if v6 else ip4(src, dst, proto, seg, tos, i + 1)
            eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + (b"\x86\xdd" if v6 else b"\x08\x00")
            frame = eth + pkt
            ts_us = BASE * 1000000 + t * 1000
            f.write(struct.pack("<IIII", ts_us // 1000000, ts_us % 1000000, len(frame), len(frame)) + frame)
            if icmp:
                sp, dp = icmp  # ICMP: type/code instead of ports
            key = (src, dst, proto, sp, dp)
            e = flows.setdefault(key, {"src_addr": src, "dst_addr": dst, "proto": proto, "src_port": sp,
                                       "dst_port": dp, "ip_version": 6 if v6 else 4, "tos": tos,
                                       "packets": 0, "bytes": 0, "tcp_flags": 0,
                                       "first_ms": BASE * 1000 + t})
            e["packets"] += 1
            e["bytes"] += len(pkt)
            e["tcp_flags"] |= fl
            e["last_ms"] = BASE * 1000 + t
    if len(args) > 1:
        doc = {"note": "unidirectional flows in the synthetic input; bytes = sum of IP total lengths; "
                       "for ICMP src_port/dst_port hold type/code; times in Unix ms",
               "flows": list(flows.values())}
        with open(args[1], "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
