"""`emulator ebpf show LAB` and `emulator ebpf rules LAB NODE --allow ... --deny ...` (run time)."""
from __future__ import annotations

import argparse
import json

from ...errors import LabError
from . import tool


def add_parsers(sub, fmt=argparse.RawDescriptionHelpFormatter) -> None:
    s = sub.add_parser("ebpf", help="the eBPF programs of a running lab: counters, firewall rules at run time",
                       formatter_class=fmt,
                       epilog="examples:\n  emulator ebpf show 4s1c\n"
                              "  emulator ebpf rules 4s1c server --allow icmp --allow tcp/5201-5210 --deny 'tcp/22'")
    sp = s.add_subparsers(dest="ebpf_cmd", required=True)
    a = sp.add_parser("show", help="every eBPF program of the lab with its counters")
    a.add_argument("lab")
    a.add_argument("-f", "--format", choices=["text", "json"], default="text")
    a.set_defaults(fn=cmd_show)
    r = sp.add_parser("rules", help="replace the rules of a node's eBPF firewall(s) while they run")
    r.add_argument("lab")
    r.add_argument("node")
    r.add_argument("--dev", help="only the firewall on this interface")
    r.add_argument("--allow", action="append", metavar="RULE", help="e.g. icmp, tcp/5201-5210, 'udp from 10.0.1.0/24'")
    r.add_argument("--deny", action="append", metavar="RULE")
    r.set_defaults(fn=cmd_rules)


def cmd_show(args) -> int:
    items = tool.show(args.lab)
    print(json.dumps(items, indent=1) if args.format == "json" else (tool.show_text(items) or "no eBPF programs"))
    return 0


def cmd_rules(args) -> int:
    try:
        done = tool.set_rules(args.lab, args.node, args.dev, args.allow, args.deny)
    except tool.Failed as e:
        raise LabError(str(e)) from None
    print("rules replaced in " + ", ".join(done))
    return 0
