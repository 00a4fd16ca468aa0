#!/usr/bin/env python3
"""Synthesize the Ethernet frames pmacctd's sfprobe samples (scripts/capture_pmacctd_sflow.sh).

Deterministic (seeded) mixed traffic, documentation and private prefixes only:
IPv4 and IPv6 TCP/UDP/ICMP/ICMPv6, 802.1Q and QinQ (0x8100 in 0x8100) tags of
every priority, MPLS label stacks, GRE, IP-in-IP, 6in4 and VXLAN tunnels, IPv6
hop-by-hop/routing/destination-options headers, IPv4 options and fragments,
jumbo frames. The frames only ever exist in the pcap and on the veth pair of
the capture script's private network namespace.

  python3 scripts/make_sflow_input.py OUT.pcap [N] [SEED]
"""
import random
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(i):
    return bytes([2, i & 0xFF, (i >> 8) & 0xFF, 0x5f, 0x10, 0x01])


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    import socket
    return socket.inet_pton(socket.AF_INET6, a)


def ipv4(src, dst, proto, payload, tos=0, opts=b"", frag=0, ident=1):
    ihl = (20 + len(opts)) // 4
    h = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(opts) + len(payload), ident, frag, 64, proto, 0,
                    ip4(src), ip4(dst)) + opts
    h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, nh, payload, tclass=0, flow=0):
    return struct.pack(">IHBB", 6 << 28 | tclass << 20 | flow, len(payload), nh, 64) + ip6(src) + ip6(dst) + payload


def tcp(sport, dport, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload=b""):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(t, c):
    return struct.pack(">BBHHH", t, c, 0, 7, 1) + b"ping" * 8


def eth(dst, src, etype, payload, tags=()):
    b = dst + src
    for pri, vid in tags:
        b += struct.pack(">HH", 0x8100, pri << 13 | vid)
    b += struct.pack(">H", etype) + payload
    if len(b) < 60:
        b += b"\0" * (60 - len(b))
    return b


V4 = ["192.0.2.%d" % i for i in range(10, 40)] + ["198.51.100.%d" % i for i in range(1, 30)] + \
     ["203.0.113.%d" % i for i in range(1, 30)] + ["10.1.%d.%d" % (i, i * 7 % 250 + 1) for i in range(20)]
V6 = ["2001:db8:%x::%x" % (i, i * 13 + 1) for i in range(1, 40)] + ["fd00:a::%x" % i for i in range(1, 20)]


def frame(r):
    kind = r.choice(["tcp4", "tcp4", "udp4", "icmp4", "tcp6", "udp6", "icmp6", "vlan", "qinq", "mpls",
                     "gre", "ipip", "6in4", "vxlan", "ext6", "opts4", "frag4", "jumbo"])
    src, dst = r.choice(V4), r.choice(V4)
    s6, d6 = r.choice(V6), r.choice(V6)
    sport, dport = r.randrange(1024, 65535), r.choice([22, 25, 53, 80, 123, 443, 3306, 5432, 8080])
    flags = r.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x04])
    tos = r.choice([0, 0x10, 0x28, 0x48, 0xb8])
    body = bytes(r.randrange(256) for _ in range(r.randrange(0, 600)))
    dm, sm = mac(r.randrange(1, 40)), mac(r.randrange(40, 80))
    tags = ()
    if kind == "tcp4":
        return eth(dm, sm, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, flags, body), tos))
    if kind == "udp4":
        return eth(dm, sm, 0x0800, ipv4(src, dst, 17, udp(sport, dport, body), tos))
    if kind == "icmp4":
        return eth(dm, sm, 0x0800, ipv4(src, dst, 1, icmp(r.choice([0, 8, 3, 11]), r.choice([0, 1, 3])), tos))
    if kind == "tcp6":
        return eth(dm, sm, 0x86DD, ipv6(s6, d6, 6, tcp(sport, dport, flags, body), tos))
    if kind == "udp6":
        return eth(dm, sm, 0x86DD, ipv6(s6, d6, 17, udp(sport, dport, body), tos))
    if kind == "icmp6":
        return eth(dm, sm, 0x86DD, ipv6(s6, d6, 58, icmp(r.choice([128, 129, 1]), 0), tos))
    if kind == "vlan":
        tags = ((r.randrange(8), r.choice([1, 10, 100, 300, 4094])),)
        return eth(dm, sm, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, flags, body), tos), tags)
    if kind == "qinq":
        tags = ((r.randrange(8), r.choice([100, 200])), (r.randrange(8), r.choice([2, 20, 4000])))
        return eth(dm, sm, 0x86DD, ipv6(s6, d6, 17, udp(sport, dport, body), tos), tags)
    if kind == "mpls":
        labels = struct.pack(">II", (r.randrange(16, 1 << 20) << 12) | 64, (r.randrange(16, 1 << 20) << 12) | 0x100 | 64)
        return eth(dm, sm, 0x8847, labels + ipv4(src, dst, 6, tcp(sport, dport, flags, body), tos))
    if kind == "gre":
        inner = ipv4(r.choice(V4), r.choice(V4), 6, tcp(sport, 443, 0x18, body), 0x28)
        return eth(dm, sm, 0x0800, ipv4(src, dst, 47, struct.pack(">HH", 0, 0x0800) + inner, 0xb8))
    if kind == "ipip":
        inner = ipv4(r.choice(V4), r.choice(V4), 17, udp(sport, 53, body))
        return eth(dm, sm, 0x0800, ipv4(src, dst, 4, inner))
    if kind == "6in4":
        inner = ipv6(s6, d6, 6, tcp(sport, 22, 0x18, body))
        return eth(dm, sm, 0x0800, ipv4(src, dst, 41, inner))
    if kind == "vxlan":
        inner = eth(mac(90), mac(91), 0x0800, ipv4(r.choice(V4), r.choice(V4), 6, tcp(sport, 80, 0x18, body)))
        vx = struct.pack(">II", 0x08000000, 4242 << 8)
        return eth(dm, sm, 0x0800, ipv4(src, dst, 17, udp(r.randrange(49152, 65535), 4789, vx + inner)))
    if kind == "ext6":
        t = tcp(sport, dport, flags, body)
        hbh = struct.pack(">BB", 43, 0) + b"\x01\x04\0\0\0\0"
        rt = struct.pack(">BBBB", 60, 2, 0, 1) + b"\0" * 4 + ip6("2001:db8:ffff::1")
        do = struct.pack(">BB", 6, 0) + b"\x01\x04\0\0\0\0"
        return eth(dm, sm, 0x86DD, ipv6(s6, d6, 0, hbh + rt + do + t, tos))
    if kind == "opts4":
        return eth(dm, sm, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, flags, body), tos, opts=b"\x01\x01\x01\x00"))
    if kind == "frag4":
        t = udp(sport, dport, body + b"x" * 800)
        first = r.random() < 0.5
        if first:
            return eth(dm, sm, 0x0800, ipv4(src, dst, 17, t[:512], tos, frag=0x2000, ident=99))
        return eth(dm, sm, 0x0800, ipv4(src, dst, 17, t[512:], tos, frag=512 // 8, ident=99))
    # jumbo
    return eth(dm, sm, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, 0x10, bytes(8900)), tos))


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 22
    r = random.Random(seed)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            fr = frame(r)
            f.write(struct.pack("<IIII", 1700000000 + i // 100, (i % 100) * 10000, len(fr), len(fr)) + fr)


if __name__ == "__main__":
    main()
