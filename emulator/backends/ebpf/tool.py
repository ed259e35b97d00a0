"""The loader a node's startup command runs (`$EMULATOR_PYTHON -m emulator.backends.ebpf ...`, inside
the node's network namespace), and what reads and changes the programs from outside:

    firewall --dev IF --hook tc-ingress|tc-egress|xdp [--allow RULE]... [--deny RULE]...
    forwarder --between IF IF --mode l2|l3
    rules LAB NODE [--dev IF] [--allow RULE]... [--deny RULE]...   (run time: rewrites the rules map)
    show LAB [--json]

Programs and maps are pinned in the lab's own bpffs (progs.bpffs) under NODE/NAME/; what each
attachment is (device, hook, rules, program id) is written to ebpf/attached/NODE/NAME.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from ...deploy import hostcmd, state
from . import progs, rules as R


class Failed(Exception):
    pass


def _run(argv: list[str], what: str, netns: str | None = None, input: str | None = None) -> str:
    r = hostcmd.run(argv, netns=netns, input=input)
    if not r.ok:
        raise Failed(f"{what}: {' '.join(argv)}: {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def _ifindex(dev: str) -> int:
    return int(json.loads(_run(["ip", "-j", "link", "show", "dev", dev], f"no interface {dev}"))[0]["ifindex"])


def _pin_name(s: str) -> str:
    """bpffs refuses names with a dot (an interface eth0.100, a node a.b)."""
    return s.replace(".", "_")


def _pin_dir(lab: str, node: str, name: str) -> str:
    d = os.path.join(progs.bpffs(lab), _pin_name(node), _pin_name(name))
    if not os.path.ismount(progs.bpffs(lab)):
        raise Failed(f"the lab's BPF filesystem {progs.bpffs(lab)} is not mounted (deploy mounts it "
                     f"for labs whose nodes use an eBPF role)")
    os.makedirs(d, exist_ok=True)
    return d


def _load(lab: str, obj: str, pin: str) -> dict:
    ptype = progs.OBJECTS[obj][2]
    _run(["bpftool", "prog", "load", progs.obj_path(lab, obj), os.path.join(pin, "prog"), "type", ptype,
          "pinmaps", pin], f"loading {obj}")
    return json.loads(_run(["bpftool", "-j", "prog", "show", "pinned", os.path.join(pin, "prog")], "prog show"))


def _hex(b: bytes) -> str:
    return " ".join(f"{x:02x}" for x in b)


def write_map(path: str, values: list[bytes], keys: list[bytes] | None = None) -> None:
    """Every entry in one bpftool process (`bpftool batch`)."""
    keys = keys or [k.to_bytes(4, "little") for k in range(len(values))]
    script = "".join(f"map update pinned {path} key hex {_hex(k)} value hex {_hex(v)}\n"
                     for k, v in zip(keys, values))
    _run(["bpftool", "batch", "file", "-"], f"writing {path}", input=script)


def _save(lab: str, node: str, name: str, meta: dict) -> None:
    d = os.path.join(progs.meta_dir(lab), node)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)


def _tc_attach(dev: str, where: str, pin: str) -> None:
    _run(["tc", "qdisc", "replace", "dev", dev, "clsact"], f"clsact on {dev}")
    _run(["tc", "filter", "replace", "dev", dev, where, "prio", "1", "handle", "1", "bpf", "da",
          "object-pinned", os.path.join(pin, "prog")], f"attaching to {dev} {where}")


def firewall(lab: str, node: str, dev: str, hook: str, allow, deny) -> dict:
    problems = R.check(allow, deny)
    if problems:
        raise Failed("; ".join(problems))
    name = f"fw-{dev}-{hook}"
    pin = _pin_dir(lab, node, name)
    info = _load(lab, "fw_xdp" if hook == "xdp" else "fw_tc", pin)
    write_map(os.path.join(pin, "rules"), R.map_values(allow, deny))
    if hook == "xdp":
        r = hostcmd.run(["ip", "link", "set", "dev", dev, "xdpdrv", "pinned", os.path.join(pin, "prog")])
        mode = "xdp native"
        if not r.ok:
            _run(["ip", "link", "set", "dev", dev, "xdpgeneric", "pinned", os.path.join(pin, "prog")],
                 f"attaching XDP to {dev}")
            mode = "xdp generic"
    else:
        _tc_attach(dev, hook.split("-")[1], pin)
        mode = "tc " + hook.split("-")[1]
    meta = {"role": "ebpf-firewall", "node": node, "name": name, "devices": [dev], "hook": hook,
            "attach": mode, "allow": allow, "deny": deny, "prog_id": info["id"],
            "map_ids": info.get("map_ids", []), "counters": ["passed", "dropped"]}
    _save(lab, node, name, meta)
    return meta


def forwarder(lab: str, node: str, a: str, b: str, mode: str) -> dict:
    name = f"fwd-{a}-{b}"
    pin = _pin_dir(lab, node, name)
    info = _load(lab, "fwd_" + mode, pin)
    ia, ib = _ifindex(a), _ifindex(b)
    keys = [ia.to_bytes(4, "little"), ib.to_bytes(4, "little")]
    vals = [ib.to_bytes(4, "little") + (0).to_bytes(4, "little"), ia.to_bytes(4, "little") + (1).to_bytes(4, "little")]
    write_map(os.path.join(pin, "ports"), vals, keys)
    for dev in (a, b):
        _tc_attach(dev, "ingress", pin)
    meta = {"role": "ebpf-forwarder", "node": node, "name": name, "devices": [a, b], "hook": "tc-ingress",
            "mode": mode, "prog_id": info["id"], "map_ids": info.get("map_ids", []),
            "counters": [f"{a}->{b}", f"{b}->{a}"]}
    _save(lab, node, name, meta)
    return meta


def attached(lab: str, node: str | None = None) -> list[dict]:
    """Every attachment of the lab (of NODE), as its loader recorded it."""
    root = progs.meta_dir(lab)
    out = []
    if not os.path.isdir(root):
        return out
    for n in sorted(os.listdir(root)):
        if node is not None and n != node:
            continue
        for f in sorted(os.listdir(os.path.join(root, n))):
            if f.endswith(".json"):
                with open(os.path.join(root, n, f)) as fh:
                    out.append(json.load(fh))
    return out


def counters(lab: str, meta: dict) -> dict[str, dict]:
    path = os.path.join(progs.bpffs(lab), _pin_name(meta["node"]), _pin_name(meta["name"]), "stats")
    dump = json.loads(_run(["bpftool", "-j", "map", "dump", "pinned", path], f"reading {path}"))
    c = R.decode_counters(dump)
    return {label: {"packets": c.get(k, (0, 0))[0], "bytes": c.get(k, (0, 0))[1]}
            for k, label in enumerate(meta["counters"])}


def set_rules(lab: str, node: str, dev: str | None, allow, deny) -> list[str]:
    problems = R.check(allow, deny)
    if problems:
        raise Failed("; ".join(problems))
    done = []
    for m in attached(lab, node):
        if m["role"] != "ebpf-firewall" or (dev is not None and dev not in m["devices"]):
            continue
        write_map(os.path.join(progs.bpffs(lab), _pin_name(node), _pin_name(m["name"]), "rules"),
                  R.map_values(allow, deny))
        m["allow"], m["deny"] = allow, deny
        _save(lab, node, m["name"], m)
        done.append(m["name"])
    if not done:
        raise Failed(f"lab '{lab}' node '{node}' has no eBPF firewall" + (f" on {dev}" if dev else ""))
    return done


def show(lab: str) -> list[dict]:
    out = []
    for m in attached(lab):
        try:
            m["values"] = counters(lab, m)
        except Failed as e:
            m["error"] = str(e)
        out.append(m)
    return out


def show_text(items: list[dict]) -> str:
    lines = []
    for m in items:
        what = (f"mode {m['mode']}" if m["role"] == "ebpf-forwarder" else
                f"allow {m.get('allow')} deny {m.get('deny') or []}")
        lines.append(f"{m['node']}: {m['role']} on {', '.join(m['devices'])} ({m.get('attach', m['hook'])}), "
                     f"{what}, prog id {m['prog_id']}")
        for label, v in (m.get("values") or {}).items():
            lines.append(f"    {label:>16}: {v['packets']} packets, {v['bytes']} bytes")
        if m.get("error"):
            lines.append(f"    {m['error']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.backends.ebpf")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("firewall")
    f.add_argument("--dev", required=True)
    f.add_argument("--hook", choices=["tc-ingress", "tc-egress", "xdp"], default="tc-ingress")
    f.add_argument("--allow", action="append")
    f.add_argument("--deny", action="append")
    w = sub.add_parser("forwarder")
    w.add_argument("--between", nargs=2, required=True, metavar="IF")
    w.add_argument("--mode", choices=["l2", "l3"], default="l2")
    r = sub.add_parser("rules")
    r.add_argument("lab")
    r.add_argument("node")
    r.add_argument("--dev")
    r.add_argument("--allow", action="append")
    r.add_argument("--deny", action="append")
    s = sub.add_parser("show")
    s.add_argument("lab")
    s.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        if a.cmd in ("firewall", "forwarder"):
            lab, node = os.environ["EMULATOR_LAB"], os.environ["EMULATOR_NODE"]
            state.lab_dir(lab)
            if a.cmd == "firewall":
                firewall(lab, node, a.dev, a.hook, a.allow, a.deny)
            else:
                forwarder(lab, node, a.between[0], a.between[1], a.mode)
        elif a.cmd == "rules":
            print("rules replaced in: " + ", ".join(set_rules(a.lab, a.node, a.dev, a.allow, a.deny)))
        else:
            items = show(a.lab)
            print(json.dumps(items, indent=1) if a.json else show_text(items))
    except (Failed, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
