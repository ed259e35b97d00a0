"""SRv6 kernel routes: `encap seg6` (policies at their headend) and `encap seg6local` (SIDs), as
`ip -batch` lines applied through the host-command module, one `ip` process per namespace; and the
probe of what this kernel can do, in a throwaway `unshare --net` namespace (as netem is probed).

The project's netlink batch (emulator/deploy/kernel/netlink.py) encodes plain routes only, so the
locator routes go through it and the seg6 ones through `ip -batch` (bench/srv6_routes.py compares
`ip -batch` with pyroute2 for this).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ...deploy import actions as A
from ...deploy import hostcmd
from ...errors import DeployError
from .spec import Policy, Sid

TABLE_MAIN = 254
PROBE_TIMEOUT = 90


def seg6local_line(sid: Sid, nh: str | None, dev: str) -> str:
    """The `ip route` arguments (after 'route add') of a SID's seg6local route."""
    action = sid.behaviour
    if sid.behaviour in ("End.X", "End.DX6"):
        action += f" nh6 {nh}"
    elif sid.behaviour == "End.DX4":
        action += f" nh4 {nh}"
    elif sid.behaviour == "End.DT6":
        action += f" table {TABLE_MAIN}"
    elif sid.behaviour in ("End.DT4", "End.DT46"):
        action += f" vrftable {TABLE_MAIN}"
    return f"{sid.addr}/128 encap seg6local action {action} count dev {dev}"


def seg6_line(pol: Policy, segments: list[str], dev: str) -> str:
    table = f" table {pol.table}" if pol.table else ""
    return f"{pol.to} encap seg6 mode {pol.mode} segs {','.join(segments)} dev {dev}{table}"


def rule_lines(pol: Policy, sources: list[str]) -> list[str]:
    """`ip rule` lines (whole, for `ip -batch`) that send the traffic from SOURCES (the from: node's
    addresses of the policy's family) to POL.to into the policy's own table."""
    bits = 32 if pol.family == 4 else 128
    return [f"rule add from {a}/{bits} to {pol.to} table {pol.table} pref {pol.table}" for a in sources]


@dataclass
class Seg6Routes(A.Action):
    """seg6/seg6local routes of one namespace, applied as one `ip -batch -` (phase ROUTES)."""
    routes: list[str] = field(default_factory=list)   # each: the arguments after 'route add'
    label: str = ""
    rules: list[tuple[int, str]] = field(default_factory=list)   # (family, whole `ip -batch` line): from:

    def __post_init__(self):
        self.phase, self.batch = A.ROUTES, "seg6"

    def describe(self):
        return "\n".join([f"[{self.netns}] ip route add {r}" for r in self.routes]
                         + [f"[{self.netns}] ip -{f} {r}" for f, r in self.rules])

    @classmethod
    def apply_batch(cls, actions, ctx):
        apply(actions[0].netns, [f"route add {r}" for a in actions for r in a.routes])
        for fam in (4, 6):   # `ip -batch` keeps the family of its first rule line: one run per family
            apply(actions[0].netns, [r for a in actions for f, r in a.rules if f == fam], fam)


def apply(netns: str | None, lines: list[str], family: int | None = None) -> None:
    """Run `ip -batch -` (`ip -4|-6 -batch -` with FAMILY) with LINES in NETNS; DeployError with ip's
    message on failure."""
    if not lines:
        return
    r = hostcmd.run(["ip"] + ([f"-{family}"] if family else []) + ["-batch", "-"], netns=netns,
                    input="".join(line + "\n" for line in lines))
    if not r.ok:
        raise DeployError(f"SRv6 routes in {netns}: {(r.stderr.strip() or r.stdout.strip())[-600:]}")


PROBES = {   # behaviour -> the route that shows the kernel has it (in a namespace with only lo)
    "encap": "route add 2001:db8:9::/64 encap seg6 mode encap segs fc00::2 dev lo",
    "inline": "route add 2001:db8:8::/64 encap seg6 mode inline segs fc00::2 dev lo",
    "End": "route add fc00:1::1/128 encap seg6local action End count dev lo",
    "End.X": "route add fc00:1::2/128 encap seg6local action End.X nh6 fc00::2 count dev lo",
    "End.DX4": "route add fc00:1::3/128 encap seg6local action End.DX4 nh4 10.0.0.2 count dev lo",
    "End.DX6": "route add fc00:1::4/128 encap seg6local action End.DX6 nh6 fc00::2 count dev lo",
    "End.DT6": "route add fc00:1::5/128 encap seg6local action End.DT6 table 254 count dev lo",
    "End.DT4": "route add fc00:1::6/128 encap seg6local action End.DT4 vrftable 254 count dev lo",
    "End.DT46": "route add fc00:1::7/128 encap seg6local action End.DT46 vrftable 254 count dev lo",
}


@functools.lru_cache(maxsize=None)
def probe(what: str) -> tuple[bool, str]:
    """Can this kernel install a route of WHAT (a behaviour, 'encap' or 'inline')? (ok, why not)."""
    script = ("link set lo up\naddr add fc00::1/64 dev lo\naddr add 10.0.0.1/24 dev lo\n"
              + PROBES[what] + "\n")
    r = hostcmd.run(["unshare", "--net", "ip", "-batch", "-"], input=script, timeout=PROBE_TIMEOUT)
    if r.returncode == 124:
        probe.cache_clear()
        return False, f"the probe in a new network namespace took over {PROBE_TIMEOUT} s"
    if r.ok:
        return True, ""
    text = (r.stderr.strip() or r.stdout.strip() or "refused").splitlines()
    return False, next((t for t in text if "RTNETLINK" in t or "Error" in t), text[0])
