#!/usr/bin/env python3
"""Independent expected values for the NetFlow/IPFIX fixtures, from tshark.

Wireshark's cflow dissector (tshark) decodes each capture; this script reduces
its JSON (-T json -x) to one small JSON document per capture that Go tests can
compare flow by flow. Python 3 standard library only.

Usage (from the repository root):
  python3 scripts/tshark_expected.py all        # regenerate testdata/expected/*.json
  python3 scripts/tshark_expected.py logstash   # testdata/expected/logstash/*.json
  python3 scripts/tshark_expected.py rich       # testdata/expected/rich/*.json (issue 14 fields)
  python3 scripts/tshark_expected.py sflow [CAPTURE...]  # testdata/expected/sflow/*.json (issue 22)
  python3 scripts/tshark_expected.py sflow-decode OUT.json CAPTURE  # one sFlow capture
  python3 scripts/tshark_expected.py decode OUT.json INPUT...   # one capture
  python3 scripts/tshark_expected.py wrap OUT.pcap INPUT...     # raw payloads -> pcap

INPUT is a .pcap (decoded as is; every UDP destination port in it is handed to
cflow with -d udp.port==P,cflow, and every TCP port that data segments are sent
to with -d tcp.port==P,cflow, so that tshark reassembles IPFIX over TCP) or a raw UDP payload file (.dat/.bin), which is
split into NetFlow/IPFIX messages when it holds several back to back (v1/v5/v7
by header count, IPFIX by its length field; only when the pieces tile the file
exactly) and wrapped one message per UDP datagram into a pcap
(Ethernet/IPv4/UDP, 192.0.2.1:2055 -> 192.0.2.2:2055). All raw files of one
call go into the same pcap in order, so templates carry over like in a
collector fed those files in that order.

Output: {"source": ..., "inputs": [...], "datagrams": [...]} where each
datagram has the header keys of its version and "flows" (see testdata/README.md).
Over TCP a "datagram" is one IPFIX message as tshark reassembled it, listed at
the frame that completed it ("index" is that frame's, so several messages
completed by one frame share it); frames of a TCP capture that complete no
message (ACKs, first segments of a message) are not listed.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TD = os.path.join(ROOT, "testdata")
RAW_PORT = 2055

# ---------------------------------------------------------------- raw -> pcap


def split_messages(buf):
    """Split a raw payload into messages if it is several messages back to back."""
    pieces, off = [], 0
    while off < len(buf):
        if len(buf) - off < 4:
            return [buf]
        ver, n = struct.unpack(">HH", buf[off:off + 4])
        if ver == 1:
            ln = 16 + 48 * n
        elif ver == 5:
            ln = 24 + 48 * n
        elif ver == 7:
            ln = 24 + 52 * n
        elif ver == 10:
            ln = n
        else:
            return [buf]
        if ln < 4 or off + ln > len(buf):
            return [buf]
        pieces.append((off, buf[off:off + ln]))
        off += ln
    if len(pieces) <= 1:
        return [buf]
    return [p for _, p in pieces]


def _csum(hdr):
    s = sum(struct.unpack(">%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def write_pcap(path, payloads, sport=RAW_PORT, dport=RAW_PORT,
               src=(192, 0, 2, 1), dst=(192, 0, 2, 2)):
    """payloads: list of (ts_seconds, bytes). Linktype 1 (Ethernet)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (ts, pl) in enumerate(payloads):
            udp = struct.pack(">HHHH", sport, dport, 8 + len(pl), 0) + pl
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), (i + 1) & 0xFFFF,
                             0, 64, 17, 0, bytes(src), bytes(dst))
            ip = ip[:10] + struct.pack(">H", _csum(ip)) + ip[12:]
            frame = (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" +
                     b"\x08\x00" + ip + udp)
            f.write(struct.pack("<IIII", ts, i % 1000000, len(frame), len(frame)) + frame)


def export_secs(msg):
    """Header export time (seconds) of a message, for the pcap frame time only."""
    if len(msg) >= 12:
        ver = struct.unpack(">H", msg[:2])[0]
        if ver in (1, 5, 7, 9):
            return struct.unpack(">I", msg[8:12])[0]
        if ver == 10 and len(msg) >= 8:
            return struct.unpack(">I", msg[4:8])[0]
    return 0


def raw_inputs_to_pcap(files, pcap_path):
    """Returns the list of datagram origins [{file, offset, length}]."""
    payloads, origins = [], []
    for fn in files:
        buf = open(fn, "rb").read()
        off = 0
        for msg in split_messages(buf):
            payloads.append((export_secs(msg), msg))
            origins.append({"file": os.path.relpath(fn, TD), "offset": off, "length": len(msg)})
            off += len(msg)
    write_pcap(pcap_path, payloads)
    return origins

# ---------------------------------------------------------------- tshark


def tshark_version():
    # A caller that runs the script many times (a Go test) may say it once.
    if os.environ.get("TSHARK_VERSION"):
        return os.environ["TSHARK_VERSION"]
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"TShark \(Wireshark\) (\S+)", out)
    return m.group(1) if m else "unknown"


def udp_ports(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "udp.dstport"],
                         capture_output=True, text=True, env=_env()).stdout
    return sorted({int(x) for x in out.split() if x.strip().isdigit()})


def tcp_data_ports(pcap):
    """TCP ports that segments with payload are sent to (the collectors)."""
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.dstport", "-e", "tcp.len"],
                         capture_output=True, text=True, env=_env()).stdout
    ports = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0].isdigit() and f[1].isdigit() and int(f[1]) > 0:
            ports.add(int(f[0]))
    return sorted(ports)


def _env():
    e = dict(os.environ)
    e["TZ"] = "UTC"
    e["LC_ALL"] = "C"
    return e


def decode_as(ports, tcp_ports=()):
    return ["udp.port==%d,cflow" % p for p in ports] + ["tcp.port==%d,cflow" % p for p in tcp_ports]


def run_tshark(pcap, ports, tcp_ports=()):
    cmd = ["tshark", "-r", pcap]
    for d in decode_as(ports, tcp_ports):
        cmd += ["-d", d]
    cmd += ["-T", "json", "-x"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True).stdout
    # tshark's JSON repeats keys (e.g. two cflow.padding in one record): keep pairs.
    return json.loads(out, object_pairs_hook=lambda pairs: pairs)


def is_tree(v):
    return isinstance(v, list) and (not v or isinstance(v[0], tuple))


def get(pairs, key, default=None):
    for k, v in pairs:
        if k == key:
            return v
    return default

# ---------------------------------------------------------------- reduction

MONTHS = {m: i + 1 for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}


def rfc3339(disp):
    """'Oct  8, 2015 19:06:29.000000000 UTC' -> '2015-10-08T19:06:29Z' (Go RFC3339Nano)."""
    m = re.match(r"(\w{3})\s+(\d+), (\d+) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (UTC)$", disp.strip())
    if not m:
        return None
    mon, day, year, hh, mm, ss, frac, _ = m.groups()
    s = "%04d-%02d-%02dT%s:%s:%s" % (int(year), MONTHS[mon], int(day), hh, mm, ss)
    frac = (frac or "").rstrip("0")
    if frac:
        s += "." + frac
    return s + "Z"


def hexint(s):
    return int(s, 16) if s.lower().startswith("0x") else int(s)


# tshark field -> (our key, converter). First occurrence in a record wins.
FLOW_MAP = {
    "cflow.srcaddr": ("src_addr", str), "cflow.srcaddrv6": ("src_addr", str),
    "cflow.dstaddr": ("dst_addr", str), "cflow.dstaddrv6": ("dst_addr", str),
    "cflow.nexthop": ("next_hop", str), "cflow.nexthopv6": ("next_hop", str),
    "cflow.srcport": ("src_port", int), "cflow.dstport": ("dst_port", int),
    "cflow.protocol": ("proto", int), "cflow.tos": ("tos", hexint),
    "cflow.tcpflags": ("tcp_flags", hexint),
    "cflow.packets": ("packets", int), "cflow.packets64": ("packets", int),
    "cflow.octets": ("bytes", int), "cflow.octets64": ("bytes", int),
    "cflow.inputint": ("in_if", int), "cflow.outputint": ("out_if", int),
    "cflow.srcas": ("src_as", int), "cflow.dstas": ("dst_as", int),
    "cflow.srcmask": ("src_mask", int), "cflow.dstmask": ("dst_mask", int),
    "cflow.srcmaskv6": ("src_mask", int), "cflow.dstmaskv6": ("dst_mask", int),
    "cflow.flags": ("flags", hexint), "cflow.routersc": ("router_sc", str),
}
KEY_ORDER = ["template_id", "options", "src_addr", "dst_addr", "next_hop", "src_port",
             "dst_port", "proto", "tos", "tcp_flags", "packets", "bytes", "first_uptime_ms",
             "last_uptime_ms", "start", "end", "in_if", "out_if", "src_as", "dst_as",
             "src_mask", "dst_mask", "flags", "router_sc", "fields", "tshark_notes"]
SKIP_FIELDS = {"cflow.timedelta", "cflow.padding"}
SKIP_PREFIX = ("cflow.tcpflags.",)


def leaves(pairs):
    """Flatten a record subtree to [(name, value, raw)] in order, raw = tshark _raw list."""
    out, raw = [], {}
    for k, v in pairs:
        if k.endswith("_raw"):
            raw[k[:-4]] = v
    for k, v in pairs:
        if k.endswith("_raw"):
            continue
        if is_tree(v):
            if k == "cflow.timedelta_tree":
                out.append((k, v, None))
            else:
                out.extend(leaves(v))
        elif isinstance(v, str):
            r = raw.get(k)
            if isinstance(r, list) and r and isinstance(r[0], list):
                r = r[0]
            out.append((k, v, r))
    return out


def reduce_times(tree, rec, notes, fields, add_field):
    """One cflow.timedelta_tree: a start and an end, relative (uptime) or absolute."""
    raw = {k[:-4]: v for k, v in tree if k.endswith("_raw")}
    items = [(k, v) for k, v in tree if not k.endswith("_raw")]
    kinds = {}
    for k, v in items:
        kinds[k] = v
    rel_present = "cflow.timestart" in kinds or "cflow.timeend" in kinds
    for k, v in items:
        side = "first" if k.endswith("start") else "last"
        r = raw.get(k)
        rawint = int(r[0], 16) if r and re.fullmatch(r"[0-9a-f]+", r[0] or "x") else None
        if k in ("cflow.timestart", "cflow.timeend"):
            ms = round(float(v) * 1000)
            if rawint is not None and r[2] == 4 and rawint != ms:
                notes.append("%s shown %s but raw 0x%s" % (k, v, r[0]))
            key = side + "_uptime_ms"
            if key in rec:
                add_field(k, v)
            else:
                rec[key] = ms
        elif k in ("cflow.abstimestart", "cflow.abstimeend"):
            if rel_present and rawint == 0 and r[2] == 4:
                # tshark quirk: an uptime of exactly 0 ms is shown as absolute 1970-01-01.
                key = side + "_uptime_ms"
                notes.append("%s=0 shown by tshark as %s" % (side + "_uptime", k))
                if key in rec:
                    add_field(k, v)
                else:
                    rec[key] = 0
                continue
            key = "start" if side == "first" else "end"
            t = rfc3339(v)
            if key in rec or t is None:
                add_field(k, v)
            else:
                rec[key] = t
        else:
            add_field(k, v)


# The tshark fields of issue 14's Flow fields, for `rich`: each under its
# tshark name without "cflow.", the first occurrence in a record, as shown.
RICH_FIELDS = {
    "cflow.srcmac", "cflow.dstmac", "cflow.post_srcmac", "cflow.post_dstmac",
    "cflow.vlanid", "cflow.dot1q_vlan_id", "cflow.post_vlanid", "cflow.post_dot1q_vlan_id",
    "cflow.direction", "cflow.flow_end_reason", "cflow.bgpnexthop", "cflow.bgpnexthopv6",
    "cflow.icmp_type_code_ipv4", "cflow.icmp_ipv4_type", "cflow.icmp_ipv4_code",
    "cflow.icmp_ipv6_type", "cflow.icmp_ipv6_code", "cflow.ip_version",
    "cflow.ingress_vrfid", "cflow.egress_vrfid", "cflow.mpls_label", "cflow.ethernet_type",
    "cflow.post_natsource_ipv4_address", "cflow.post_natdestination_ipv4_address",
    "cflow.post_nat_source_ipv6_address", "cflow.post_nat_destination_ipv6_address",
    "cflow.post_naptsource_transport_port", "cflow.post_naptdestination_transport_port",
    "cflow.nexthop", "cflow.nexthopv6", "cflow.protocol", "cflow.srcport", "cflow.dstport",
}
RICH = False  # set by `rich`: reduce_record emits RICH_FIELDS only


def reduce_rich(pairs):
    rec = {}
    for k, v, _ in leaves(pairs):
        if k in RICH_FIELDS and k[6:] not in rec:
            rec[k[6:]] = v
    return {"rich": rec}


def reduce_record(pairs, with_fields):
    if RICH:
        return reduce_rich(pairs)
    rec, fields, notes = {}, {}, []

    def add_field(k, v):
        name, n = k, 2
        while name in fields:
            name = "%s#%d" % (k, n)
            n += 1
        fields[name] = v

    for k, v, r in leaves(pairs):
        if k == "cflow.timedelta_tree":
            reduce_times(v, rec, notes, fields, add_field)
            continue
        m = FLOW_MAP.get(k)
        # First wins, except that an unspecified address gives way to the
        # other family's element of the same template (Procera sends both
        # and fills one per record).
        if m and (m[0] not in rec or rec[m[0]] in ("0.0.0.0", "::")):
            try:
                rec[m[0]] = m[1](v)
                continue
            except ValueError:
                pass
        if k.startswith("_ws.") or k in SKIP_FIELDS or k.startswith(SKIP_PREFIX):
            if k == "_ws.expert.message":
                notes.append(v)
            continue
        add_field(k, v)
    if with_fields:
        rec["fields"] = fields
    if notes:
        rec["tshark_notes"] = notes
    return {k: rec[k] for k in KEY_ORDER if k in rec}


def rawint(pairs, key):
    r = get(pairs, key + "_raw")
    if isinstance(r, list) and r and isinstance(r[0], list):
        r = r[0]
    return int(r[0], 16) if r else None


def collect_expert(pairs, out):
    for k, v in pairs:
        if k == "_ws.expert.message":
            out.append(v)
        elif is_tree(v):
            collect_expert(v, out)


TPL_RE = re.compile(r"^(Options )?Template \(Id = (\d+)")
SET_RE = re.compile(r"^(?:Flow)?Set \d+ \[id=(\d+)\]")


def skipped_sets(buf, ver, seen):
    """v9/IPFIX sets present in the datagram that tshark did not dissect (it stops
    after the v9 header count). Structural walk only: [{set_id, offset, length}]."""
    if buf is None or ver not in (9, 10):
        return []
    off, out, n = (20 if ver == 9 else 16), [], 0
    while off + 4 <= len(buf):
        sid, ln = struct.unpack(">HH", buf[off:off + 4])
        if ln < 4 or off + ln > len(buf):
            break
        n += 1
        if n > seen:
            out.append({"set_id": sid, "offset": off, "length": ln})
        off += ln
    return out


def reduce_datagram(index, c, templates, cflow_bytes=None):
    ver = int(get(c, "cflow.version"))
    d = {"index": index, "version": ver}
    if ver in (1, 5, 7, 9):
        d["count"] = int(get(c, "cflow.count"))
        up = rawint(c, "cflow.sysuptime")
        d["sys_uptime_ms"] = up
        ts = get(c, "cflow.timestamp_tree", [])
        d["unix_secs"] = int(get(ts, "cflow.unix_secs"))
        if ver != 9:
            d["unix_nsecs"] = int(get(ts, "cflow.unix_nsecs"))
    elif ver == 10:
        d["length"] = int(get(c, "cflow.len"))
        ts = get(c, "cflow.timestamp_tree", [])
        d["unix_secs"] = int(get(ts, "cflow.exporttime"))
    if get(c, "cflow.sequence") is not None:
        d["sequence"] = int(get(c, "cflow.sequence"))
    if ver == 5:
        d["engine_type"] = int(get(c, "cflow.engine_type"))
        d["engine_id"] = int(get(c, "cflow.engine_id"))
        d["sampling_mode"] = int(get(c, "cflow.samplingmode"))
        d["sampling_interval"] = int(get(c, "cflow.samplerate"))
    if ver == 9:
        d["source_id"] = int(get(c, "cflow.source_id"))
    if ver == 10:
        d["source_id"] = int(get(c, "cflow.od_id"))
    flows, no_tpl, seen_sets = [], [], 0
    for k, v in c:
        if not is_tree(v):
            continue
        if k.startswith("pdu "):
            flows.append(reduce_record(v, False))
            continue
        m = SET_RE.match(k)
        if not m:
            continue
        set_id = int(m.group(1))
        seen_sets += 1
        for k2, v2 in v:
            tm = TPL_RE.match(k2)
            if tm and is_tree(v2):
                templates[(ver, d.get("source_id"), int(tm.group(2)))] = bool(tm.group(1))
            elif k2.startswith("Flow ") and is_tree(v2):
                rec = reduce_record(v2, True)
                rec["template_id"] = set_id
                if templates.get((ver, d.get("source_id"), set_id)):
                    rec["options"] = True
                flows.append({kk: rec[kk] for kk in KEY_ORDER + ["rich"] if kk in rec})
            elif "no template found" in k2:
                no_tpl.append(set_id)
    d["flows"] = flows
    skipped = skipped_sets(cflow_bytes, ver, seen_sets)
    if skipped:
        d["tshark_skipped_sets"] = skipped
    if no_tpl:
        d["no_template_sets"] = no_tpl
    return d


def decode(inputs, tmpdir):
    """inputs: list of paths (one pcap, or raw payload files). Returns the document."""
    pcaps = [p for p in inputs if p.endswith(".pcap")]
    if pcaps and len(pcaps) != len(inputs):
        raise SystemExit("mix of pcap and raw inputs is not supported")
    if pcaps:
        if len(pcaps) != 1:
            raise SystemExit("one pcap at a time")
        pcap, origins = pcaps[0], None
        ports, tports = udp_ports(pcap), tcp_data_ports(pcap)
    else:
        pcap = os.path.join(tmpdir, "wrapped.pcap")
        origins = raw_inputs_to_pcap(inputs, pcap)
        ports, tports = [RAW_PORT], []
    pkts = run_tshark(pcap, ports, tports)
    doc = {"source": "tshark %s %s -T json -x" % (
        tshark_version(), " ".join("-d " + d for d in decode_as(ports, tports))),
        "inputs": [os.path.relpath(p, TD) for p in inputs]}
    datagrams, templates = [], {}
    for i, p in enumerate(pkts):
        layers = get(get(p, "_source"), "layers")
        # One cflow layer per message: a UDP datagram has one, a TCP segment
        # none or several (each message tshark reassembled and completed here).
        cs = [v for k, v in layers if k == "cflow"]
        raws = [v for k, v in layers if k == "cflow_raw"]
        if not cs and get(layers, "tcp") is not None:
            continue
        tcp = get(layers, "tcp") is not None
        ds = []  # (datagram, the tree its expert messages come from)
        if not cs:
            ds.append(({"index": i, "undecoded": True}, layers))
        for n, c in enumerate(cs):
            raw = raws[n] if n < len(raws) else None
            if isinstance(raw, list) and raw and isinstance(raw[0], list):
                raw = raw[0]
            # Over TCP only the message's own tree: tshark's TCP analysis
            # (segments, ACKs) says nothing about the decode.
            ds.append((reduce_datagram(i, c, templates, bytes.fromhex(raw[0]) if raw else None),
                       c if tcp else layers))
        for d, tree in ds:
            if origins:
                d = dict(list(d.items())[:1] + [("origin", origins[i])] + list(d.items())[1:])
            expert = []
            collect_expert(tree, expert)
            if get(layers, "_ws.malformed") is not None or any("Malformed" in e for e in expert):
                d["tshark_malformed"] = True
            # tshark's cross-datagram sequence analysis is not a decoding problem: drop it.
            expert = [e for e in expert if not e.startswith("Unexpected flow sequence")]
            if expert:
                d["tshark_expert"] = sorted(set(expert))
            datagrams.append(d)
    doc["datagrams"] = datagrams
    return doc


def dump(doc, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def td(*p):
    return os.path.join(TD, *p)


# name -> inputs, for `all`
def all_targets():
    t = {
        "fprobe_v1": [td("generated-fprobe", "fprobe_v1.pcap")],
        "fprobe_v5": [td("generated-fprobe", "fprobe_v5.pcap")],
        "fprobe_v7": [td("generated-fprobe", "fprobe_v7.pcap")],
        "netflow5": [td("logstash-codec-netflow", "netflow5.dat")],
        "netflow5_test_juniper_mx80": [td("logstash-codec-netflow", "netflow5_test_juniper_mx80.dat")],
        "netflow5_test_microtik": [td("logstash-codec-netflow", "netflow5_test_microtik.dat")],
        "goflow2_netflowlegacy_test__TestDecodeNetFlowV5__data":
            [td("goflow2", "netflowlegacy_test__TestDecodeNetFlowV5__data.bin")],
    }
    for fn in sorted(os.listdir(td("vflow"))):
        b = open(td("vflow", fn), "rb").read(2)
        if b == b"\x00\x05":
            t["vflow_" + os.path.splitext(fn)[0]] = [td("vflow", fn)]
    for sub in ("softflowd", "fprobe"):
        if os.path.isdir(td(sub)):
            for fn in sorted(os.listdir(td(sub))):
                if re.fullmatch(r"(softflowd|fprobe)_v\d+(_tcp)?\.pcap", fn):
                    # testdata/fprobe/ (live capture) must not clash with generated-fprobe/
                    name = os.path.splitext(fn)[0].replace("fprobe_", "fprobe_live_")
                    t[name] = [td(sub, fn)]
    return t


# ---------------------------------------------------------------- sFlow
#
# `sflow`: tshark's sflow dissector, and its dissection of each sampled
# packet header (eth, vlan, mpls, ip/ipv6, tcp/udp/icmp/icmpv6, gre...),
# reduced to one document per capture under testdata/expected/sflow/. A flow
# sample's values go in the flow keys NetFlow uses where they mean the same
# (src_addr ... bytes = frame_length, in_if/out_if for format-0 interfaces,
# next_hop and masks of the extended router record, src_as/dst_as of the
# gateway record) and in "sflow" for the rest. The header values are the
# outermost layers' (the first eth, vlan, mpls, ip or ipv6 and the
# transport layer right after that IP layer); "inner" holds the last IP
# layer's and its transport's when tshark shows more than one IP layer (a
# tunnel), and "inner_l2" the last Ethernet layer's when it shows more than
# one (VXLAN, GRE TEB).

SFLOW_PORT = 6343


def sflow_int(v):
    return hexint(v) if isinstance(v, str) else None


def sflow_pairs(tree):
    """A tshark subtree as (key, value) pairs, whichever JSON reader made it."""
    return tree if is_tree(tree) else []


def sflow_header_values(tree):
    """The outer (and inner) values of a sampled header's dissection."""
    out, layers = {}, []
    ips, l2s = [], []   # (index in layers, pairs)
    for k, v in tree:
        if not is_tree(v):
            continue
        layers.append(k)
        if k == "eth":
            l2s.append((len(layers) - 1, v))
        if k in ("ip", "ipv6"):
            ips.append((len(layers) - 1, k, v))
    out["layers"] = layers
    pairs = [(k, v) for k, v in tree if is_tree(v)]

    def eth_values(v, dst):
        if get(v, "eth.dst") is not None:
            dst["dst_mac"] = get(v, "eth.dst")
        if get(v, "eth.src") is not None:
            dst["src_mac"] = get(v, "eth.src")
        if get(v, "eth.type") is not None:
            dst["eth_type"] = hexint(get(v, "eth.type"))

    def vlans_after(i):
        """The vlan layers right after layer i, and the EtherType after them."""
        tags = []
        for k, v in pairs[i + 1:]:
            if k != "vlan":
                break
            tags.append(v)
        return tags

    if l2s:
        i, v = l2s[0]
        eth_values(v, out)
        tags = vlans_after(i)
        if tags:
            if get(tags[0], "vlan.id") is not None:
                out["vlan"] = int(get(tags[0], "vlan.id"))
            out["vlan_ids"] = [int(get(t, "vlan.id")) for t in tags if get(t, "vlan.id") is not None]
            if get(tags[-1], "vlan.etype") is not None:
                out["eth_type"] = hexint(get(tags[-1], "vlan.etype"))
    for k, v in pairs:
        if k == "mpls":
            if get(v, "mpls.label") is not None:
                out["mpls_label"] = int(get(v, "mpls.label"))
            break

    def ip_values(i, kind, v, dst):
        if kind == "ip":
            dst["ip_version"] = 4
            for key, name, conv in (("src_addr", "ip.src", str), ("dst_addr", "ip.dst", str),
                                    ("proto", "ip.proto", int), ("tos", "ip.dsfield", hexint)):
                if get(v, name) is not None:
                    dst[key] = conv(get(v, name))
            if get(v, "ip.frag_offset") not in (None, "0"):
                dst["fragment_offset"] = int(get(v, "ip.frag_offset"))
        else:
            dst["ip_version"] = 6
            for key, name, conv in (("src_addr", "ipv6.src", str), ("dst_addr", "ipv6.dst", str),
                                    ("tos", "ipv6.tclass", hexint)):
                if get(v, name) is not None:
                    dst[key] = conv(get(v, name))
            # The upper-layer protocol: the last next header of the
            # extension headers tshark dissected, else ipv6.nxt.
            nxt = get(v, "ipv6.nxt")
            exts = []

            def walk(t):
                nonlocal nxt
                for kk, vv in t:
                    if is_tree(vv):
                        if kk.startswith("ipv6.") and kk not in ("ipv6.src_tree", "ipv6.dst_tree", "ipv6.tclass_tree"):
                            if kk.endswith("_tree"):
                                continue
                            exts.append(kk)
                            n2 = get(vv, kk + ".nxt")
                            if n2 is not None:
                                nxt = n2
                            walk(vv)
                    elif kk == "ipv6.fraghdr.offset" and vv != "0":
                        dst["fragment_offset"] = int(vv)
            walk(v)
            if exts:
                dst["ipv6_extensions"] = exts
            if nxt is not None:
                dst["proto"] = int(nxt)
        # The transport layer right after this IP layer.
        if i + 1 < len(pairs):
            k2, t = pairs[i + 1]
            if k2 in ("tcp", "udp", "sctp", "dccp"):
                if get(t, k2 + ".srcport") is not None:
                    dst["src_port"] = int(get(t, k2 + ".srcport"))
                    dst["dst_port"] = int(get(t, k2 + ".dstport"))
                if k2 == "tcp" and get(t, "tcp.flags") is not None:
                    dst["tcp_flags"] = hexint(get(t, "tcp.flags")) & 0xff
            elif k2 in ("icmp", "icmpv6"):
                if get(t, k2 + ".type") is not None:
                    dst["icmp_type"] = int(get(t, k2 + ".type"))
                if get(t, k2 + ".code") is not None:
                    dst["icmp_code"] = int(get(t, k2 + ".code"))

    if ips:
        i, kind, v = ips[0]
        ip_values(i, kind, v, out)
        if len(ips) > 1:
            inner = {}
            i, kind, v = ips[-1]
            ip_values(i, kind, v, inner)
            out["inner"] = inner
    if len(l2s) > 1:
        inner = {}
        i, v = l2s[-1]
        eth_values(v, inner)
        tags = vlans_after(i)
        if tags and get(tags[0], "vlan.id") is not None:
            inner["vlan"] = int(get(tags[0], "vlan.id"))
        if tags and get(tags[-1], "vlan.etype") is not None:
            inner["eth_type"] = hexint(get(tags[-1], "vlan.etype"))
        out["inner_l2"] = inner
    return out


# Flow record names tshark gives its subtrees, for "records".
SFLOW_FLOW_KEYS = ("Raw packet header", "Extended switch data", "Extended router data",
                   "Extended gateway data", "Ethernet frame data", "IPv4 data", "IPv6 data",
                   "Extended user data", "Extended URL data", "Extended MPLS data", "Extended NAT data")


def sflow_iface(pairs, prefix, compact_key, sample_type):
    """(format, value) of a flow sample's input or output interface."""
    if sample_type == 3:
        f = get(pairs, prefix + "_format")
        if f is None:  # tshark 4.0 spells the expanded output's format with a dot
            f = get(pairs, prefix + ".format")
        return int(f), int(get(pairs, prefix + "_value"))
    tree = get(pairs, compact_key + "_tree")
    if is_tree(tree):
        return int(get(tree, prefix + "_format")), int(get(tree, prefix + "_value"))
    return 0, hexint(get(pairs, compact_key))


def reduce_sflow_flow(st, v):
    sample_type = int(st)
    fl, sf = {}, {"sample_type": sample_type}
    sf["sequence"] = int(get(v, "sflow.flow_sample.sequence_number"))
    if sample_type == 3:
        sf["source_class"] = int(get(v, "sflow.flow_sample.source_id_type"))
        sf["source_index"] = int(get(v, "sflow.flow_sample.source_id_index"))
    else:
        sf["source_class"] = int(get(v, "sflow.flow_sample.source_id_class"))
        sf["source_index"] = int(get(v, "sflow.flow_sample.index"))
    sf["sampling_rate"] = int(get(v, "sflow.flow_sample.sampling_rate"))
    sf["sample_pool"] = int(get(v, "sflow.flow_sample.sample_pool"))
    sf["drops"] = int(get(v, "sflow.flow_sample.dropped_packets"))
    infmt, inval = sflow_iface(v, "sflow.flow_sample.input_interface", "sflow.flow_sample.input_interface", sample_type)
    if sample_type != 3 and get(v, "sflow.flow_sample.input_interface_tree") is None:
        infmt, inval = 0, int(get(v, "sflow.flow_sample.input_interface"))
    outfmt, outval = sflow_iface(v, "sflow.flow_sample.output_interface", "sflow.flow_sample.output_interface", sample_type)
    sf.update({"in_format": infmt, "in_value": inval, "out_format": outfmt, "out_value": outval})
    if infmt == 0:
        fl["in_if"] = inval
    if outfmt == 0:
        fl["out_if"] = outval
    records = []
    for k, r in v:
        if not is_tree(r) or get(r, "sflow_245.flow_record_format") is None:
            continue
        fmt = int(get(r, "sflow_245.flow_record_format"))
        ent = int(get(r, "sflow.enterprise") or 0)
        records.append(ent << 12 | fmt)
        if ent != 0:
            continue
        if fmt == 1 and "header_protocol" not in sf:
            sf["header_protocol"] = int(get(r, "sflow_245.header_protocol"))
            sf["frame_length"] = int(get(r, "sflow_245.header.frame_length"))
            sf["stripped"] = int(get(r, "sflow_245.header.payload_stripped"))
            sf["header_length"] = int(get(r, "sflow_245.header.sampled_header_length"))
            fl["bytes"] = sf["frame_length"]
            tree = get(r, "sflow_245.header_tree")
            if is_tree(tree):
                hv = sflow_header_values(tree)
                for key in ("src_addr", "dst_addr", "src_port", "dst_port", "proto", "tos", "tcp_flags"):
                    if key in hv:
                        fl[key] = hv.pop(key)
                sf.update(hv)
        elif fmt == 1001 and "vlan_in" not in sf:
            sf["vlan_in"] = int(get(r, "sflow_245.vlan.in"))
            sf["pri_in"] = int(get(r, "sflow_245.pri.in"))
            sf["vlan_out"] = int(get(r, "sflow_245.vlan.out"))
            sf["pri_out"] = int(get(r, "sflow_245.pri.out"))
        elif fmt == 1002 and "next_hop" not in fl:
            nh = get(r, "sflow_245.nexthop") or get(r, "sflow_245.nexthop.v6")
            if nh is not None:
                fl["next_hop"] = nh
            fl["src_mask"] = int(get(r, "sflow_245.nexthop.src_mask"))
            fl["dst_mask"] = int(get(r, "sflow_245.nexthop.dst_mask"))
        elif fmt == 1003 and "router_as" not in sf:
            nh = get(r, "sflow_245.nexthop") or get(r, "sflow_245.nexthop.v6")
            if nh is not None:
                sf["bgp_next_hop"] = nh
            sf["router_as"] = int(get(r, "sflow_245.as"))
            fl["src_as"] = int(get(r, "sflow_245.srcAS"))
            sf["src_peer_as"] = int(get(r, "sflow_245.peerAS"))
            sf["as_path_segments"] = int(get(r, "sflow_245.dstASentries"))
            ases = []

            def walk(t):
                for kk, vv in t:
                    if kk == "sflow_245.dstAS":
                        ases.append(int(vv))
                    elif is_tree(vv):
                        walk(vv)
            walk(r)
            sf["as_path"] = ases
            fl["dst_as"] = ases[-1] if ases else 0
            sf["communities"] = int(get(r, "sflow_245.communityEntries"))
            sf["local_pref"] = int(get(r, "sflow_245.localpref"))
    sf["records"] = records
    fl["sflow"] = sf
    return fl


SFLOW_COUNTER_MAP = {
    "sflow_245.ifindex": "if_index", "sflow_245.iftype": "if_type", "sflow_245.ifspeed": "speed",
    "sflow_245.ifdirection": "direction", "sflow_245.ifadmin_status": "admin_status",
    "sflow_245.ifoper_status": "oper_status", "sflow_245.ifinoct": "in_octets",
    "sflow_245.ifinpkt": "in_ucast", "sflow_245.ifinmcast": "in_mcast", "sflow_245.ifinbcast": "in_bcast",
    "sflow_245.ifindisc": "in_discards", "sflow_245.ifinerr": "in_errors", "sflow_245.ifinunk": "in_unknown",
    "sflow_245.ifoutoct": "out_octets", "sflow_245.ifoutpkt": "out_ucast", "sflow_245.ifoutmcast": "out_mcast",
    "sflow_245.ifoutbcast": "out_bcast", "sflow_245.ifoutdisc": "out_discards",
    "sflow_245.ifouterr": "out_errors", "sflow_245.ifpromisc": "promiscuous",
}


def reduce_sflow_counters(st, v):
    c = {"sample_type": int(st)}
    c["sequence"] = int(get(v, "sflow.counters_sample.sequence_number"))
    c["source_type"] = int(get(v, "sflow.counters_sample.source_id_type"))
    c["source_index"] = int(get(v, "sflow.counters_sample.source_id_index"))
    records = []
    for k, r in v:
        if not is_tree(r) or get(r, "sflow_245.counters_record_format") is None:
            continue
        fmt = int(get(r, "sflow_245.counters_record_format"))
        ent = int(get(r, "sflow.enterprise") or 0)
        records.append(ent << 12 | fmt)
        if ent == 0 and fmt == 1 and "interface" not in c:
            c["interface"] = {ours: int(get(r, theirs)) for theirs, ours in SFLOW_COUNTER_MAP.items()
                              if get(r, theirs) is not None}
    c["records"] = records
    return c


def reduce_sflow_datagram(index, s):
    d = {"index": index, "version": int(get(s, "sflow_245.version"))}
    d["agent"] = get(s, "sflow_245.agent") or get(s, "sflow_245.agent.v6")
    d["sub_agent_id"] = int(get(s, "sflow_245.sub_agent_id"))
    d["sequence"] = int(get(s, "sflow_245.sequence_number"))
    d["sys_uptime_ms"] = int(get(s, "sflow_245.sysuptime"))
    d["samples"] = int(get(s, "sflow_245.numsamples"))
    flows, counters, other = [], [], 0
    for k, v in s:
        if not is_tree(v) or get(v, "sflow_245.sampletype") is None:
            continue
        st = get(v, "sflow_245.sampletype")
        ent = int(get(v, "sflow.enterprise") or 0)
        if ent == 0 and st in ("1", "3"):
            flows.append(reduce_sflow_flow(st, v))
        elif ent == 0 and st in ("2", "4"):
            counters.append(reduce_sflow_counters(st, v))
        else:
            other += 1
    d["flows"] = flows
    d["counters"] = counters
    d["other_samples"] = other
    return d


def sflow_vxlan_inner(layers, d):
    """tshark dissects a VXLAN packet's inner frame at the top level of the
    frame, after the sflow layer, not inside the sampled header's tree: the
    groups that begin with a vxlan layer there are the inner frames of the
    datagram's VXLAN samples (headers ending with UDP to 4789), in order.
    They are assigned only when their counts agree."""
    keys = [k for k, _ in layers]
    if "sflow" not in keys:
        return
    after = layers[keys.index("sflow") + 1:]
    groups, cur = [], None
    for k, v in after:
        if k == "vxlan":
            cur = []
            groups.append(cur)
        elif cur is not None and is_tree(v):
            cur.append((k, v))
    samples = [f for f in d["flows"] if f["sflow"].get("layers", [])[-1:] == ["udp"] and f.get("dst_port") == 4789]
    if not groups or len(groups) != len(samples):
        for f in samples:
            f["sflow"]["vxlan_unresolved"] = True
        return
    for f, g in zip(samples, groups):
        hv = sflow_header_values(g)
        f["sflow"]["inner"] = {k: hv[k] for k in ("ip_version", "src_addr", "dst_addr", "proto", "tos", "src_port",
                                                  "dst_port", "tcp_flags", "icmp_type", "icmp_code") if k in hv}
        f["sflow"]["inner_l2"] = {k: hv[k] for k in ("src_mac", "dst_mac", "eth_type", "vlan") if k in hv}


def sflow_decode(inputs, tmpdir):
    pcaps = [p for p in inputs if p.endswith(".pcap")]
    if pcaps:
        pcap, origins = pcaps[0], None
        ports = udp_ports(pcap)
    else:
        pcap = os.path.join(tmpdir, "wrapped.pcap")
        payloads, origins = [], []
        for fn in inputs:
            buf = open(fn, "rb").read()
            payloads.append((0, buf))
            origins.append({"file": os.path.relpath(fn, TD), "offset": 0, "length": len(buf)})
        write_pcap(pcap, payloads, sport=50000, dport=SFLOW_PORT, src=(127, 0, 0, 1), dst=(127, 0, 0, 1))
        ports = [SFLOW_PORT]
    cmd = ["tshark", "-r", pcap]
    for p in ports:
        cmd += ["-d", "udp.port==%d,sflow" % p]
    cmd += ["-T", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True).stdout
    pkts = json.loads(out, object_pairs_hook=lambda pairs: pairs)
    doc = {"source": "tshark %s %s -T json" % (tshark_version(), " ".join("-d udp.port==%d,sflow" % p for p in ports)),
           "inputs": [os.path.relpath(p, TD) for p in inputs]}
    datagrams = []
    for i, p in enumerate(pkts):
        layers = get(get(p, "_source"), "layers")
        s = get(layers, "sflow")
        if s is None:
            continue
        d = reduce_sflow_datagram(i, s)
        sflow_vxlan_inner(layers, d)
        if origins:
            d = dict(list(d.items())[:1] + [("origin", origins[i])] + list(d.items())[1:])
        expert = []
        collect_expert(layers, expert)
        if get(layers, "_ws.malformed") is not None or any("Malformed" in e for e in expert):
            d["tshark_malformed"] = True
        if expert:
            d["tshark_expert"] = sorted(set(expert))
        datagrams.append(d)
    doc["datagrams"] = datagrams
    return doc


def sflow_targets():
    t = {}
    base = td("sflow")
    for sub in sorted(os.listdir(base)):
        if not os.path.isdir(os.path.join(base, sub)):
            continue
        for fn in sorted(os.listdir(os.path.join(base, sub))):
            if fn.endswith(".bin") or fn.endswith(".pcap"):
                t[sub + "__" + os.path.splitext(fn)[0]] = [os.path.join(base, sub, fn)]
    return t


def slug(s):
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        if cmd == "wrap":
            print(json.dumps(raw_inputs_to_pcap(argv[3:], argv[2])))
        elif cmd == "decode":
            dump(decode(argv[3:], tmp), argv[2])
        elif cmd == "all":
            for name, inputs in all_targets().items():
                out = td("expected", name + ".json")
                doc = decode(inputs, tmp)
                dump(doc, out)
                print("%s: %d datagrams, %d flows" % (os.path.relpath(out, ROOT), len(doc["datagrams"]),
                      sum(len(d.get("flows", [])) for d in doc["datagrams"])))
        elif cmd == "rich":
            global RICH
            RICH = True
            targets = dict(all_targets())
            spec = json.load(open(td("logstash-codec-netflow", "EXPECTED_logstash_spec.json")))
            seen = {}
            for _, ctxs in spec.items():
                for ctx in ctxs:
                    name = slug(ctx["context"])
                    seen[name] = seen.get(name, 0) + 1
                    if seen[name] > 1:
                        name += "_%d" % seen[name]
                    targets["logstash_" + name] = [td("logstash-codec-netflow", f) for f in ctx["files"]]
            for name, inputs in targets.items():
                doc = decode(inputs, tmp)
                n = sum(1 for d in doc["datagrams"] for f in d.get("flows", []) if f.get("rich"))
                if n == 0:
                    continue
                out = td("expected", "rich", name + ".json")
                dump(doc, out)
                print("%s: %d datagrams, %d records with rich fields" % (os.path.relpath(out, ROOT), len(doc["datagrams"]), n))
        elif cmd == "sflow-decode":
            dump(sflow_decode(argv[3:], tmp), argv[2])
        elif cmd == "sflow":
            targets = sflow_targets()
            if len(argv) > 2:
                targets = {os.path.splitext(os.path.basename(a))[0]: [os.path.abspath(a)] for a in argv[2:]}
            for name, inputs in targets.items():
                doc = sflow_decode(inputs, tmp)
                out = td("expected", "sflow", name + ".json")
                dump(doc, out)
                print("%s: %d datagrams, %d flow samples, %d counter samples" % (
                    os.path.relpath(out, ROOT), len(doc["datagrams"]),
                    sum(len(d["flows"]) for d in doc["datagrams"]),
                    sum(len(d["counters"]) for d in doc["datagrams"])))
        elif cmd == "logstash":
            spec = json.load(open(td("logstash-codec-netflow", "EXPECTED_logstash_spec.json")))
            seen = {}
            for _, ctxs in spec.items():
                for ctx in ctxs:
                    name = slug(ctx["context"])
                    seen[name] = seen.get(name, 0) + 1
                    if seen[name] > 1:
                        name += "_%d" % seen[name]
                    doc = decode([td("logstash-codec-netflow", f) for f in ctx["files"]], tmp)
                    doc = dict([("context", ctx["context"]), ("logstash_decode_size", ctx.get("decode_size"))]
                               + list(doc.items()))
                    out = td("expected", "logstash", name + ".json")
                    dump(doc, out)
                    print("%s: %d datagrams, %d records" % (os.path.relpath(out, ROOT), len(doc["datagrams"]),
                          sum(len(d.get("flows", [])) for d in doc["datagrams"])))
        else:
            print(__doc__)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
