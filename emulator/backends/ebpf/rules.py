"""Firewall rules in the words of `iptables-firewall` (icmp, all, tcp, udp, tcp/PORT, tcp/FIRST-LAST),
optionally narrowed by prefixes (`tcp/22 from 10.0.1.0/24`, `all to 10.0.2.0/24`), encoded as the
entries of the eBPF firewall's `rules` map (bpf/fw.c: struct rule), and its counters decoded."""
from __future__ import annotations

import ipaddress
import re
import struct

MAX_RULES = 64                      # bpf/fw.c MAX_RULES
END, ALLOW, DENY = 0, 1, 2
PROTOS = {"all": 0, "icmp": 1, "tcp": 6, "udp": 17}
_RULE = re.compile(r"^(all|icmp|tcp|udp)(?:/([0-9]+)(?:-([0-9]+))?)?((?: (?:from|to) \S+)*)$")
PATTERN = r"^(all|icmp|(tcp|udp)(/[0-9]+(-[0-9]+)?)?)( (from|to) [0-9.]+(/[0-9]+)?)*$"
TEXT = ("what passes (allow) or is dropped (deny): icmp, all, tcp, udp, tcp/PORT or tcp/FIRST-LAST "
        "(udp alike), each optionally followed by 'from PREFIX' and/or 'to PREFIX'")
RULE_LIST = {"type": "array", "items": {"type": "string", "pattern": PATTERN, "description": TEXT},
             "description": TEXT}
_FMT = "=4s4s4s4sHHBBxx"
SIZE = struct.calcsize(_FMT)        # 24: sizeof(struct rule)


class RuleError(ValueError):
    pass


def parse(word: str) -> dict:
    """One rule word -> {proto, lo, hi, src, dst}; RuleError says what is wrong."""
    m = _RULE.match(word.strip())
    if not m:
        raise RuleError(f"rule '{word}' is not of the form PROTO[/PORTS][ from PREFIX][ to PREFIX] "
                        f"(PROTO: all, icmp, tcp, udp)")
    proto, lo, hi, quals = m.groups()
    if lo is not None and proto not in ("tcp", "udp"):
        raise RuleError(f"rule '{word}': only tcp and udp have ports")
    lo_i = int(lo) if lo is not None else 0
    hi_i = int(hi) if hi is not None else (lo_i if lo is not None else 65535)
    if lo is not None and not (1 <= lo_i <= hi_i <= 65535):
        raise RuleError(f"rule '{word}': ports must be 1-65535, the first not above the last")
    out = {"proto": PROTOS[proto], "lo": lo_i, "hi": hi_i, "src": None, "dst": None}
    toks = quals.split()
    for key, val in zip(toks[::2], toks[1::2]):
        k = "src" if key == "from" else "dst"
        if out[k] is not None:
            raise RuleError(f"rule '{word}': '{key}' given twice")
        try:
            out[k] = ipaddress.IPv4Network(val, strict=False)
        except ValueError:
            raise RuleError(f"rule '{word}': '{val}' is not an IPv4 prefix") from None
    return out


def check(allow: list[str] | None, deny: list[str] | None) -> list[str]:
    problems = []
    for w in (deny or []) + (allow or []):
        try:
            parse(w)
        except RuleError as e:
            problems.append(str(e))
    n = len(entries(allow, deny)) if not problems else 0
    if n > MAX_RULES - 1:
        problems.append(f"{n} rules: the eBPF firewall holds at most {MAX_RULES - 1}")
    return problems


def entries(allow: list[str] | None, deny: list[str] | None) -> list[tuple[int, dict]]:
    """The rule list in match order: every deny first, then every allow; with deny rules and
    no allow list, everything else passes (one `all` allow at the end); a packet that matches
    nothing is dropped."""
    out = [(DENY, parse(w)) for w in deny or []]
    out += [(ALLOW, parse(w)) for w in allow or []]
    if deny and allow is None:
        out.append((ALLOW, parse("all")))
    return out


def _net(n) -> tuple[bytes, bytes]:
    if n is None:
        return b"\0" * 4, b"\0" * 4
    return n.network_address.packed, n.netmask.packed


def encode(action: int, r: dict | None) -> bytes:
    if r is None:
        return b"\0" * SIZE
    src, smask = _net(r["src"])
    dst, dmask = _net(r["dst"])
    return struct.pack(_FMT, src, smask, dst, dmask, r["lo"], r["hi"], r["proto"], action)


def map_values(allow: list[str] | None, deny: list[str] | None) -> list[bytes]:
    """All MAX_RULES values of the map: the rules, then END entries."""
    vals = [encode(a, r) for a, r in entries(allow, deny)]
    return vals + [encode(END, None)] * (MAX_RULES - len(vals))


def decode_counters(dump: list) -> dict[int, tuple[int, int]]:
    """`bpftool -j map dump` of a per-CPU array of {packets, bytes} -> key -> (packets, bytes)."""
    out = {}
    for el in dump:
        key = int.from_bytes(bytes(int(b, 16) for b in el["key"]), "little")
        pk = by = 0
        for cpu in el.get("values", []):
            raw = bytes(int(b, 16) for b in cpu["value"])
            p, b = struct.unpack("=QQ", raw[:16])
            pk, by = pk + p, by + b
        out[key] = (pk, by)
    return out
