"""The expand stage that checks SRv6 (located errors), the `srv6` verb (each policy's path hop by hop)
and the SIDs and policies `inspect LAB` shows."""
from __future__ import annotations

import argparse
import json
import os

from ...errors import TopologyError
from . import spec


def expand(raw: dict, src):
    """Check locators, SIDs and policies against the whole topology; the raw topology is unchanged."""
    nodes = raw.get("nodes") or {}
    _, problems = spec.build(nodes, raw.get("srv6"), spec.service_names(nodes, raw.get("services")))
    if "srv6" in raw and not any(isinstance(n, dict) and spec.is_router(n) for n in (raw.get("nodes") or {}).values()):
        problems.append((("srv6",), "srv6: policies need routers of kind srv6-router (or vpp routers with a locator)",
                         None))
    if problems:
        raise TopologyError([src.issue(p, m, h) for p, m, h in problems])
    return raw, src, []


def cmd_srv6(args) -> int:
    from ... import lab as api
    from ...core import loader
    from . import driver, paths
    c = api.compile(loader.load_named(args.topology, args.name), check_host=False)
    core = driver.core(c.lab)
    if args.format == "json":
        print(json.dumps(driver.state_dict(c.lab, core), indent=1))
    else:
        print(paths.explain(c.lab, core), end="")
    return 0


def add_parsers(sub, fmt=argparse.RawDescriptionHelpFormatter) -> None:
    s = sub.add_parser("srv6", help="SRv6: every router's SIDs and every policy's path, hop by hop",
                       formatter_class=fmt, epilog="example:\n  emulator srv6 topologies/srv6-te.yaml")
    s.add_argument("topology", metavar="TOPOLOGY", help="topology YAML file")
    s.add_argument("--name", metavar="LAB", help="lab name instead of the file's name:")
    s.add_argument("-f", "--format", choices=["text", "json"], default="text")
    s.set_defaults(fn=cmd_srv6)


def inspect_text(st: dict) -> str:
    """SRv6 policies of a running lab (from its srv6.json), for `emulator inspect LAB`."""
    from ...deploy import state
    try:
        with open(os.path.join(state.lab_dir(st["name"]), "srv6.json")) as f:
            data = json.load(f)
    except (OSError, ValueError, KeyError):
        return ""
    out = [f"  {name}: {p['headend']} -> {p['to']}" + (f" from {p['from']}" if p.get("from") else "")
           + f" ({p['mode']}) over " + " -> ".join(p["labels"])
           for name, p in data.get("policies", {}).items()]
    from .monitor import sid_counters
    try:
        counts = sid_counters(st, data.get("routers", {}))
    except Exception:   # inspect shows what it can (not root: no namespace to enter)
        counts = {}
    if counts:
        out.append("  packets per SID: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    text = ("SRv6 policies:\n" + "\n".join(out)) if out else ""
    loss = link_loss(st)
    if loss:
        from ...ui_text import table
        rows = [[k, v["sent"], v["received"], v["lost"] or "-"] for k, v in loss.items()]
        text += ("\n" if text else "") + "Per-link loss since deploy (IP packets, nftables counters at both ends):\n" \
            + table(["link", "sent", "received", "lost"], rows)
    return text


def link_loss(st: dict) -> dict:
    """Live per-link loss of a running SRv6 lab (its deploy-time counters), {} when it has none."""
    from ...deploy import state
    from .monitor import live_loss
    try:
        with open(os.path.join(state.lab_dir(st["name"]), "srv6.json")) as f:
            links = json.load(f).get("link_counters") or []
        return live_loss(st, links) if links else {}
    except Exception:   # not root, an older lab without counters, a namespace going away
        return {}
