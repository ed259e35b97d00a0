#!/usr/bin/env python3
"""The project's rtnetlink client (emulator/deploy/kernel/netlink.py) against pyroute2, building the same lab.

    .venv/bin/python bench/netlink_pyroute2.py                 # N = 100, 500
    .venv/bin/python bench/netlink_pyroute2.py --sizes 100 --repeat 3

The lab, N nodes: a fabric namespace with one bridge and N veths enslaved to it, each veth's
peer (`eth0`) created directly in its node's namespace (by namespace fd); in each node namespace
`lo` and `eth0` up, an IPv4 /24 and an IPv6 /64 (no DAD) on eth0, a default route per family via
the gateway. 7N+1 requests; interface indexes chosen up front (as the planner does). Both send
IFLA_IFALIAS with the creates, as the deploy does; the kernel ignores an alias in a create request
(only a set applies it), so it is not checked.

Variants, run one after the other in the same process (order alternates between repeats):

- netlink.py      namespaces in-process (netns.create_many), one socket per namespace opened by
                  setns, every request of a namespace in batched sendmsg calls (the deploy path)
- pyroute2        pyroute2's own way: pyroute2.netns.create, IPRoute(netns=NAME) per namespace,
                  one call (request + ack) per request
- pyroute2+setns  the project's namespaces and setns-opened sockets, pyroute2's calls: the cost of
                  the requests alone

Columns (seconds, wall clock): netns = creating the N+1 namespaces, sockets = opening one
netlink socket per namespace, requests = sending all requests and reading the acks (pyroute2:
its calls, closing its sockets included), total = the three. Each run is checked afterwards
(bridge ports up and enslaved, addresses and routes present in sampled nodes); a run that fails is
recorded with its error and the others go on. Namespaces are
deleted after each run (that deletes every device made in them; nothing is made in the root
namespace), then the script waits --settle seconds for the kernel to free them before the next run.
Prints a table and writes bench/results/netlink_pyroute2-<time>.json. Needs root.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from emulator.deploy.kernel import netlink as nl, netns  # noqa: E402

ALIAS = "emulator:bench-nl"
BRIDGE, FIRST_VETH, PEER = 2, 3, 2        # interface indexes (lo is 1 in every namespace)


def names(n: int, tag: str) -> tuple[str, list[str]]:
    base = f"bnl{os.getpid()}{tag}"
    return base, [f"{base}.{i}" for i in range(n)]


def addrs(i: int) -> tuple[str, str, str, str]:
    v4 = ipaddress.ip_address("10.0.0.0") + 256 * i
    v6 = ipaddress.ip_address("fd00:b::") + (i << 64)
    return f"{v4 + 2}/24", str(v4 + 1), f"{v6 + 2}/64", str(v6 + 1)


# -- the project's client --------------------------------------------------------------------------
def run_ours(fwd: str, nodes: list[str], pyroute2_requests: bool = False) -> dict:
    t0 = time.perf_counter()
    errs = [e for _, e in netns.create_many([fwd] + nodes) if e]
    if errs:
        raise errs[0]
    t1 = time.perf_counter()
    if pyroute2_requests:
        from pyroute2 import IPRoute
        socks = {}
        for ns in [fwd] + nodes:
            with netns.entered(ns):
                socks[ns] = IPRoute()
        t2 = time.perf_counter()
        _pyroute2_requests(fwd, nodes, socks)
        for s in socks.values():
            s.close()
        return {"netns": t1 - t0, "sockets": t2 - t1, "requests": time.perf_counter() - t2}
    socks = {ns: nl.Socket(ns) for ns in [fwd] + nodes}
    t2 = time.perf_counter()
    b = nl.Batch()
    b.bridge("br0", BRIDGE, ALIAS)
    fds = [netns.open_fd(ns) for ns in nodes]
    for i, fd in enumerate(fds):
        b.veth(f"v{i}", FIRST_VETH + i, "eth0", PEER, fd, ALIAS, f"veth v{i}", master=BRIDGE)
    socks[fwd].check(b)
    for fd in fds:
        os.close(fd)
    for i, ns in enumerate(nodes):
        v4, gw4, v6, gw6 = addrs(i)
        b = nl.Batch()
        b.link_up(1, "lo")
        b.link_up(PEER, "eth0")
        b.address(PEER, v4, "v4")
        b.address(PEER, v6, "v6")
        b.route("0.0.0.0/0", "default v4", via=gw4)
        b.route("::/0", "default v6", via=gw6)
        socks[ns].check(b)
    for s in socks.values():
        s.close()
    return {"netns": t1 - t0, "sockets": t2 - t1, "requests": time.perf_counter() - t2}


# -- pyroute2 ------------------------------------------------------------------------------------------
def _pyroute2_requests(fwd: str, nodes: list[str], socks: dict) -> None:
    ipr = socks[fwd]
    ipr.link("add", index=BRIDGE, ifname="br0", kind="bridge", br_stp_state=0, ifalias=ALIAS, state="up")
    for i, ns in enumerate(nodes):
        ipr.link("add", index=FIRST_VETH + i, ifname=f"v{i}", kind="veth", ifalias=ALIAS, master=BRIDGE,
                 state="up", peer={"ifname": "eth0", "index": PEER, "net_ns_fd": ns, "ifalias": ALIAS})
    for i, ns in enumerate(nodes):
        v4, gw4, v6, gw6 = addrs(i)
        ipr = socks[ns]
        ipr.link("set", index=1, state="up")
        ipr.link("set", index=PEER, state="up")
        a4, a6 = ipaddress.ip_interface(v4), ipaddress.ip_interface(v6)
        ipr.addr("add", index=PEER, address=str(a4.ip), prefixlen=24)
        ipr.addr("add", index=PEER, address=str(a6.ip), prefixlen=64, flags=nl.IFA_F_NODAD)
        ipr.route("add", dst="0.0.0.0/0", gateway=gw4)
        ipr.route("add", dst="::/0", gateway=gw6, family=10)


def run_pyroute2(fwd: str, nodes: list[str]) -> dict:
    from pyroute2 import IPRoute
    from pyroute2 import netns as pns
    t0 = time.perf_counter()
    for ns in [fwd] + nodes:
        pns.create(ns)
    t1 = time.perf_counter()
    socks = {ns: IPRoute(netns=ns, flags=0) for ns in [fwd] + nodes}
    t2 = time.perf_counter()
    _pyroute2_requests(fwd, nodes, socks)
    for s in socks.values():
        s.close()
    return {"netns": t1 - t0, "sockets": t2 - t1, "requests": time.perf_counter() - t2}


# -- checks and clean-up ---------------------------------------------------------------------------
def verify(fwd: str, nodes: list[str]) -> str:
    with nl.Socket(fwd) as s:
        links = s.dump_links()
    ports = [l for l in links if l.get("master") == BRIDGE and l["up"]]
    if len(ports) != len(nodes):
        return f"{len(ports)}/{len(nodes)} bridge ports"
    from pyroute2 import IPRoute
    for i in sorted({0, len(nodes) // 2, len(nodes) - 1}):
        with netns.entered(nodes[i]):
            ipr = IPRoute()
        try:
            got = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=PEER)}
            gws = {r.get_attr("RTA_GATEWAY") for r in ipr.get_routes(family=2) + ipr.get_routes(family=10)}
            up = bool(ipr.get_links(PEER)[0]["flags"] & nl.IFF_UP)
        finally:
            ipr.close()
        v4, gw4, v6, gw6 = addrs(i)
        want = {v4.split("/")[0], v6.split("/")[0]}
        if not (want <= got and {gw4, gw6} <= gws and up):
            return f"node {i}: addresses {sorted(got)}, gateways {sorted(g for g in gws if g)}, up {up}"
    return "ok"


def delete(fwd: str, nodes: list[str]) -> None:
    for ns in [fwd] + nodes:
        netns.delete(ns)


def leftovers(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(netns.NETNS_RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


VARIANTS = {
    "netlink.py": lambda f, n: run_ours(f, n),
    "pyroute2": run_pyroute2,
    "pyroute2+setns": lambda f, n: run_ours(f, n, pyroute2_requests=True),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,500", help="comma-separated N (default 100,500)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant and N; the median is shown")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait after deleting a run's namespaces")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 3
    sizes = [int(x) for x in args.sizes.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    prefix = f"bnl{os.getpid()}"
    runs = []
    try:
        for n in sizes:
            for rep in range(args.repeat):
                order = variants if rep % 2 == 0 else variants[::-1]
                for v in order:
                    fwd, nodes = names(n, f"v{variants.index(v)}")
                    try:
                        t = VARIANTS[v](fwd, nodes)
                        ok = verify(fwd, nodes)
                    except Exception as e:   # recorded, and the other runs go on
                        print(f"  N={n} {v}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
                        runs.append({"n": n, "variant": v, "repeat": rep, "error": f"{type(e).__name__}: {e}"})
                        continue
                    finally:
                        delete(fwd, nodes)
                        time.sleep(args.settle)
                    t["total"] = t["netns"] + t["sockets"] + t["requests"]
                    runs.append({"n": n, "variant": v, "repeat": rep, "verified": ok, "requests_sent": 7 * n + 1,
                                 **{k2: round(x, 4) for k2, x in t.items()}})
                    print(f"  N={n} {v}: {t['total']:.2f} s ({ok})", file=sys.stderr)
    finally:
        left = leftovers(prefix)
        for name in left:   # only if a run died between creating and deleting
            netns.delete(name)

    cols = ("netns", "sockets", "requests", "total")
    rows = []
    for n in sizes:
        for v in variants:
            rs = [r for r in runs if r["n"] == n and r["variant"] == v and "error" not in r]
            failed = sum(1 for r in runs if r["n"] == n and r["variant"] == v and "error" in r)
            med = {c: statistics.median(r[c] for r in rs) if rs else float("nan") for c in cols}
            verified = ",".join(sorted({r["verified"] for r in rs}))
            rows.append({"n": n, "variant": v, **med, "runs": len(rs),
                         "verified": verified + (f" ({failed} failed)" if failed else "")})
    print(f"\n{'N':>5} {'variant':<15} " + " ".join(f"{c + ' s':>10}" for c in cols) + "  verified")
    for r in rows:
        print(f"{r['n']:>5} {r['variant']:<15} " + " ".join(f"{r[c]:>10.3f}" for c in cols) + f"  {r['verified']}")
    print()
    for n in sizes:
        base = next((r for r in rows if r["n"] == n and r["variant"] == "netlink.py"), None)
        for r in rows:
            if base and r["n"] == n and r is not base:
                print(f"N={n}: {r['variant']} takes {r['total'] / base['total']:.1f}x netlink.py's total, "
                      f"{r['requests'] / base['requests']:.1f}x its request time")
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, time.strftime("netlink_pyroute2-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
                   "python": platform.python_version(), "sizes": sizes, "repeat": args.repeat,
                   "settle_s": args.settle, "rows": rows, "runs": runs}, f, indent=1)
    print(f"wrote {path}")
    if left:
        print(f"removed namespaces left by a failed run: {' '.join(left)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
