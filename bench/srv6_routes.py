#!/usr/bin/env python3
"""How to install SRv6 routes: `ip -batch` (one process per namespace, what the srv6 backend does)
against pyroute2 (one request + ack per route, in-process).

    .venv/bin/python bench/srv6_routes.py                  # N = 10, 100, 1000 routes
    .venv/bin/python bench/srv6_routes.py --sizes 50 --repeat 5

Each run happens in a fresh network namespace of this process (unshare(CLONE_NEWNET): nothing is
made anywhere else, and it vanishes when the process ends): a veth pair with an IPv6 address, then
N routes, half seg6local End SIDs (fc00:1::K/128 encap seg6local action End count dev va) and half
seg6 encap policies (2001:db8:K::/64 encap seg6 mode encap segs fc00:2::1,fc00:2::2 dev va), the
same for both methods; the routes are deleted between runs (the namespace is reused). Reported:
seconds per method and N (median of --repeat), routes checked present after each run. Prints a
table and writes bench/results/srv6_routes-<time>.json. Needs root.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000


def lines(n: int) -> list[str]:
    out = []
    for k in range(n):
        if k % 2 == 0:
            out.append(f"route add fc00:1::{k:x}/128 encap seg6local action End count dev va")
        else:
            out.append(f"route add 2001:db8:{k:x}::/64 encap seg6 mode encap segs fc00:2::1,fc00:2::2 dev va")
    return out


def via_ip(n: int) -> None:
    r = subprocess.run(["ip", "-batch", "-"], input="".join(x + "\n" for x in lines(n)), capture_output=True,
                       text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)


def via_pyroute2(n: int) -> None:
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname="va")[0]
        for k in range(n):
            if k % 2 == 0:
                ipr.route("add", dst=f"fc00:1::{k:x}/128", oif=idx,
                          encap={"type": "seg6local", "action": "End", "count": True})
            else:
                ipr.route("add", dst=f"2001:db8:{k:x}::/64", oif=idx,
                          encap={"type": "seg6", "mode": "encap", "segs": "fc00:2::1,fc00:2::2"})


def count() -> int:
    out = subprocess.run(["ip", "-6", "route", "show"], capture_output=True, text=True).stdout
    return sum(1 for x in out.splitlines() if "seg6" in x)


def flush() -> None:
    subprocess.run(["ip", "-6", "route", "flush", "dev", "va"], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 3
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        print(f"unshare: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 3
    for cmd in (["ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"], ["ip", "link", "set", "va", "up"],
                ["ip", "link", "set", "vb", "up"], ["ip", "-6", "addr", "add", "fc00::1/64", "dev", "va", "nodad"]):
        subprocess.run(cmd, check=True)
    rows = []
    for n in args.sizes:
        for name, fn in (("ip -batch", via_ip), ("pyroute2", via_pyroute2)):
            times, error = [], None
            for _ in range(args.repeat):
                flush()
                t = time.perf_counter()
                try:
                    fn(n)
                except Exception as e:   # recorded; the other runs go on
                    error = str(e)[:300]
                    break
                times.append(time.perf_counter() - t)
                if count() != n:
                    error = f"{count()} routes present, {n} expected"
                    break
            rows.append({"method": name, "routes": n, "seconds": statistics.median(times) if times else None,
                         "runs": len(times), "error": error})
    flush()
    print(f"{'method':10s} {'routes':>7s} {'seconds':>9s} {'routes/s':>9s}")
    for r in rows:
        s = r["seconds"]
        print(f"{r['method']:10s} {r['routes']:7d} " + (f"{s:9.4f} {r['routes'] / s:9.0f}" if s else
                                                        f"failed: {r['error']}"))
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    out = os.path.join(os.path.dirname(__file__), "results", f"srv6_routes-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump({"kernel": platform.release(), "cpus": os.cpu_count(), "repeat": args.repeat, "rows": rows}, f,
                  indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
