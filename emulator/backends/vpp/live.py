"""Live state of a vpp node's interfaces, keyed node:if like the kernel's view (lab.live_interfaces):
packet, byte and drop counters from the node's stats segment (RUNDIR/stats.sock, read with
vpp_papi's VPPStats), up/down from its binary API (RUNDIR/api.sock, sw_interface_dump); where
either cannot be read (vpp_papi not installed, a socket that does not answer) the node's own CLI
(`show interface`) gives both. vpp_papi is imported here, on first use: every command loads every
backend, and few of them read VPP's counters."""
from __future__ import annotations

import json
import os
import re
import time

from . import config, find
from .instance import vppctl

_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(up|down)\s+\S+\s*(.*)$")
_COUNTER = re.compile(r"^\s*(rx packets|tx packets|rx bytes|tx bytes|drops|rx-miss|tx-error)\s+(\d+)")
#: the API definitions sw_interface_dump needs (FD.io's packages: /usr/share/vpp/api/core)
API_FILES = ("memclnt", "interface", "interface_types", "ethernet_types", "ip_types")
ADMIN_UP, LINK_UP = 1, 2   # vl_api_if_status_flags_t
STATS_TIMEOUT = 2.0


def parse_show_int(text: str) -> dict[str, dict]:
    """VPP's `show interface` table -> name -> {up, stats}."""
    out, cur = {}, None
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            cur = out.setdefault(m.group(1), {"up": m.group(3) == "up", "stats": {}})
            line = m.group(4)
        if cur is None:
            continue
        c = _COUNTER.match(line)
        if c:
            key = c.group(1).replace(" ", "_").replace("-", "_")
            cur["stats"][key] = cur["stats"].get(key, 0) + int(c.group(2))
    return out


def counters_from(names: list, rx: list, tx: list, drops: list) -> dict[str, dict]:
    """The stats segment's per-thread vectors (/if/names, /if/rx, /if/tx as (packets, bytes) per
    interface index, /if/drops) -> VPP name -> the counters, summed over VPP's threads."""
    out = {}
    for i, name in enumerate(names):
        if not name:   # a deleted interface's index
            continue
        out[name] = {"rx_packets": sum(t[i][0] for t in rx), "rx_bytes": sum(t[i][1] for t in rx),
                     "tx_packets": sum(t[i][0] for t in tx), "tx_bytes": sum(t[i][1] for t in tx),
                     "drops": sum(t[i] for t in drops)}
    return out


def read_stats(sock: str, timeout: float = STATS_TIMEOUT, names_by_index: dict | None = None) -> dict[str, dict]:
    """VPP name -> counters, from the stats segment behind SOCK (raises where it cannot be read).
    VPP does not rename an interface in the stats segment (a vhost-user interface keeps the name it
    was created with, VirtualEthernet0/0/0, after it becomes VirtualEthernet0/0/1): `names_by_index`
    (sw_if_index -> name, from the binary API) names the counters instead."""
    from vpp_papi.vpp_stats import VPPStats
    s = VPPStats(socketname=sock, timeout=timeout)
    s.connect()
    try:
        end = time.monotonic() + timeout
        while s.in_progress:   # VPP is updating the directory (its reader would wait for ever)
            if time.monotonic() > end:
                raise TimeoutError(f"{sock}: the stats segment stayed busy for {timeout:g} s")
            time.sleep(0.01)
        names = list(s["/if/names"])
        if names_by_index:
            names = [names_by_index.get(i, n) for i, n in enumerate(names)]
        return counters_from(names, s["/if/rx"], s["/if/tx"], s["/if/drops"])
    finally:
        s.disconnect()


def api_dir(vpp: str) -> str:
    """The API definitions beside a VPP binary: PREFIX/bin/vpp -> PREFIX/share/vpp/api/core."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(vpp))), "share", "vpp", "api", "core")


def read_flags(sock: str, apidir: str, timeout: float = STATS_TIMEOUT) -> dict[int, tuple[str, int]]:
    """sw_if_index -> (VPP name, its status flags (ADMIN_UP, LINK_UP)), from sw_interface_dump on the
    binary API socket SOCK."""
    from vpp_papi import VPPApiClient
    files = [p for f in API_FILES if os.path.exists(p := os.path.join(apidir, f + ".api.json"))]
    if not any(f.endswith("/interface.api.json") for f in files):
        raise FileNotFoundError(f"no interface.api.json in {apidir}")
    c = VPPApiClient(apifiles=files, server_address=sock, use_socket=True, read_timeout=timeout)
    c.connect(f"emulator-live-{os.getpid()}")
    try:
        return {int(i.sw_if_index): (i.interface_name, int(i.flags)) for i in c.api.sw_interface_dump()}
    finally:
        c.disconnect()


def _from_segment(d: str, vpp: str) -> dict[str, dict]:
    api = read_flags(os.path.join(d, "api.sock"), api_dir(vpp))
    flags = {name: f for name, f in api.values()}
    out = {}
    for name, s in read_stats(os.path.join(d, "stats.sock"),
                              names_by_index={i: name for i, (name, _f) in api.items()}).items():
        f = flags.get(name, 0)
        out[name] = {"up": bool(f & ADMIN_UP), "link": f & (ADMIN_UP | LINK_UP) == ADMIN_UP | LINK_UP,
                     "stats": s, "source": "stats"}
    return out


def _from_cli(d: str, ctl: str) -> dict[str, dict]:
    table = parse_show_int(vppctl(ctl, os.path.join(d, "cli.sock"), "show interface", timeout=5))
    # `show interface` has the admin state only: the link is taken to follow it
    return {name: {"up": row["up"], "link": row["up"], "stats": row["stats"], "source": "cli"}
            for name, row in table.items()}


def interfaces(lab: str, node: str, st: dict) -> dict:
    d = config.run_dir(lab, node)
    try:
        with open(os.path.join(d, "ifmap.json")) as f:
            ifmap = json.load(f)   # VPP name -> interface name, written when VPP started
    except (OSError, ValueError):
        return {}
    vpp, ctl, _why = find.locate()
    if ctl is None:
        return {}
    try:
        table = _from_segment(d, vpp)
    except Exception:   # no vpp_papi, a segment or socket that does not answer: VPP's CLI
        table = _from_cli(d, ctl)
    out = {}
    for vname, ifname in ifmap.items():
        row = table.get(vname)
        if row is None:
            continue
        s = row["stats"]
        out[f"{node}:{ifname}"] = {
            "up": row["up"], "operstate": "up" if row["link"] else "down", "kind": f"vpp {vname}",
            "source": row["source"],
            "stats": {k: s.get(k, 0) for k in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "drops")}}
    return out


def inspect_text(st: dict) -> str:
    """`emulator inspect LAB`: each VPP's interfaces, up/down, packets, bytes and drops."""
    from ...ui_text import table
    rows = []
    for node, n in (st.get("nodes") or {}).items():
        if n.get("kind") != "vpp":
            continue
        try:
            live = interfaces(st["name"], node, n)
        except Exception as e:   # a VPP that does not answer is shown as such, inspect goes on
            rows.append([node, "-", f"no answer ({e})", "-", "-", "-", "-", "-"])
            continue
        if not live:
            rows.append([node, "-", "not running", "-", "-", "-", "-", "-"])
        for key, v in sorted(live.items()):
            s = v["stats"]
            rows.append([key, v["kind"][4:], "up" if v["up"] else "DOWN", s["rx_packets"], s["tx_packets"],
                         s["rx_bytes"], s["tx_bytes"], s["drops"]])
    if not rows:
        return ""
    return "VPP interfaces:\n" + table(["interface", "in VPP", "state", "rx pkts", "tx pkts", "rx bytes",
                                        "tx bytes", "drops"], rows)
