"""Live state of a vpp node's interfaces, from its own CLI (`show interface`): up/down and the
packet, byte and drop counters, keyed node:if like the kernel's view (lab.live_interfaces)."""
from __future__ import annotations

import json
import os
import re

from . import config, find
from .instance import vppctl

_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(up|down)\s+\S+\s*(.*)$")
_COUNTER = re.compile(r"^\s*(rx packets|tx packets|rx bytes|tx bytes|drops|rx-miss|tx-error)\s+(\d+)")


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


def interfaces(lab: str, node: str, st: dict) -> dict:
    d = config.run_dir(lab, node)
    try:
        with open(os.path.join(d, "ifmap.json")) as f:
            ifmap = json.load(f)   # VPP name -> interface name, written when VPP started
    except (OSError, ValueError):
        return {}
    _vpp, ctl, _why = find.locate()
    if ctl is None:
        return {}
    table = parse_show_int(vppctl(ctl, os.path.join(d, "cli.sock"), "show interface", timeout=5))
    out = {}
    for vname, ifname in ifmap.items():
        row = table.get(vname)
        if row is None:
            continue
        s = row["stats"]
        out[f"{node}:{ifname}"] = {
            "up": row["up"], "operstate": "up" if row["up"] else "down", "kind": f"vpp {vname}",
            "stats": {"rx_packets": s.get("rx_packets", 0), "tx_packets": s.get("tx_packets", 0),
                      "rx_bytes": s.get("rx_bytes", 0), "tx_bytes": s.get("tx_bytes", 0),
                      "drops": s.get("drops", 0)}}
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
