"""What this host's kernel and tools can do, probed without changing anything.

Probes run in a throwaway network namespace (`unshare --net`), which vanishes
with the probing process: nothing is left on the host.
"""
from __future__ import annotations

import functools
import shutil
import subprocess

from ..errors import EnvironmentProblem, Issue, TopologyError
from ..core.loader import Source
from ..core.model import Lab


PROBE_TIMEOUT = 90


@functools.lru_cache(maxsize=None)
def qdisc(kind: str, args: str = "") -> tuple[bool, str]:
    """Can a qdisc of this kind be attached? (True, "") or (False, why)."""
    if shutil.which("tc") is None or shutil.which("unshare") is None:
        return False, "tc (package iproute2) or unshare (util-linux) is not installed"
    try:
        # a new namespace can wait long for the kernel while it frees many others (a big lab just
        # destroyed): a slow probe is not a missing feature, so it gets time, and a time-out is said
        # as what it is (exceptions are not cached: the next call probes again)
        p = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", kind] + args.split(),
                           capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"could not find out whether the kernel has the {kind} qdisc: a probe in a new "
                                 f"network namespace took over {PROBE_TIMEOUT} s (the kernel may be busy freeing "
                                 "the namespaces of a large lab); try again in a minute") from None
    except OSError as e:
        return False, str(e)
    if p.returncode == 0:
        return True, ""
    return False, (p.stderr.strip() or p.stdout.strip()).splitlines()[0] if (p.stderr or p.stdout) else "refused"


def netem() -> tuple[bool, str]:
    return qdisc("netem", "delay 1ms")


def tbf() -> tuple[bool, str]:
    return qdisc("tbf", "rate 1mbit burst 16k latency 50ms")


def check_lab(lab: Lab, src: Source) -> None:
    """Refuse, before anything is created, what this kernel cannot do."""
    issues: list[Issue] = []
    for link in lab.links:
        imp = link.impairment
        if imp.needs_netem:
            ok, why = netem()
            if not ok:
                fields = [f for f in ("delay", "jitter", "loss") if getattr(imp, f)]
                issues.append(src.issue(link.path + (fields[0],),
                                        f"{'/'.join(fields)} needs the kernel's netem qdisc (sch_netem), "
                                        f"which this kernel does not provide (tc: {why})",
                                        "load it with 'modprobe sch_netem', or remove delay/jitter/loss; "
                                        "bandwidth limits (tbf) work without it"))
        if imp.bandwidth:
            ok, why = tbf()
            if not ok:
                issues.append(src.issue(link.path + ("bandwidth",),
                                        f"bandwidth needs the kernel's tbf qdisc (sch_tbf): {why}"))
    from ..core import drivers
    for kind in dict.fromkeys(n.kind for n in lab.nodes.values()):   # e.g. SRv6 behaviours of the kernel
        issues += drivers.get(kind).check_host(lab, src)
    if issues:
        raise TopologyError(issues)
