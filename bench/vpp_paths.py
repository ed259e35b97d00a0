#!/usr/bin/env python3
"""Frames per second between two testpmd apps: direct memif against a VPP in the middle.

Paths (each a lab deployed by `emulator run`, a testpmd txonly sender on CPU 0 and an rxonly
receiver on CPU 1, flat out, for each frame size):

    memif direct            tx ==memif== rx
    vpp xconnect memif      tx ==memif== VPP (l2 xconnect) ==memif== rx
    vpp bridge memif        tx ==memif== VPP (bridge domain) ==memif== rx
    vpp xconnect vhost      tx ==vhost-user== VPP (l2 xconnect) ==vhost-user== rx
    ovs-dpdk vhost          tx ==vhost-user== OVS-DPDK (a flow each way, PMD on --vpp-core) ==vhost-user== rx

VPP (EMULATOR_VPP or PATH) runs its one main thread on CPU --vpp-core: on a 2-CPU machine it
shares that CPU with a busy-polling testpmd, which is what the numbers measure here.

    EMULATOR_VPP=../shared/vpp .venv/bin/python bench/vpp_paths.py --duration 3 --sizes 64 1518
    EMULATOR_VPP=../shared/vpp .venv/bin/python bench/vpp_paths.py --chain 10   # deploy+destroy of 10 VPPs

Prints a table and writes bench/results/vpp_paths-<timestamp>.json. Exit 0 (a benchmark), 3 when
not root or VPP is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")


def topology(path: str, vpp_core: int) -> dict:
    nodes = {"tx": {"kind": "dpdk-app", "mode": "txonly", "cores": [0], "memory": 64},
             "rx": {"kind": "dpdk-app", "mode": "rxonly", "cores": [1], "memory": 64}}
    if path == "memif direct":
        links = [{"endpoints": ["rx:eth0", "tx:eth0"], "type": "memif"}]
    elif path == "ovs-dpdk vhost":   # OVS-DPDK's PMD on the VPP's CPU, a flow each way
        nodes["br"] = {"kind": "ovs-dpdk", "pmd_cores": [vpp_core], "socket_mem": 256, "pmd_maxsleep": 200,
                       "flows": ["in_port=1,actions=output:2", "in_port=2,actions=output:1"]}
        links = [{"endpoints": ["tx:eth0", "br:eth1"], "type": "vhost-user"},
                 {"endpoints": ["rx:eth0", "br:eth2"], "type": "vhost-user"}]
    else:
        mode = "bridge" if "bridge" in path else "xconnect"
        ltype = "vhost-user" if "vhost" in path else "memif"
        nodes["v"] = {"kind": "vpp", "mode": mode, "main_core": vpp_core, "buffers": 16384}
        if ltype == "memif":   # VPP serves both (the apps are its clients)
            links = [{"endpoints": ["v:eth0", "tx:eth0"], "type": ltype},
                     {"endpoints": ["v:eth1", "rx:eth0"], "type": ltype}]
        else:                  # the apps' virtio_user listen, VPP connects
            links = [{"endpoints": ["tx:eth0", "v:eth0"], "type": ltype},
                     {"endpoints": ["rx:eth0", "v:eth1"], "type": ltype}]
    return {"name": "vppbench", "hugepages": {"reserve": 400}, "nodes": nodes, "links": links}


def run_path(path: str, sizes: list[int], duration: float, vpp_core: int, lab: str) -> list[dict]:
    scenario = {"name": "vpp-paths", "topology": topology(path, vpp_core), "sweep": {"size": sizes},
                "steps": [{"dpdk_traffic": {"sender": "tx", "receiver": "rx", "duration": duration,
                                            "size": "${size}"}, "name": path, "expect": {}}]}
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "s.yaml")
        with open(f, "w") as fh:
            yaml.safe_dump(scenario, fh)
        res = os.path.join(d, "res")
        r = subprocess.run([sys.executable, "-m", "emulator", "run", f, "--name", lab, "--results", res],
                           cwd=ROOT, capture_output=True, text=True)
        try:
            with open(os.path.join(res, "results.json")) as fh:
                data = json.load(fh)
        except OSError:
            return [{"path": path, "size": s, "error": (r.stderr or r.stdout)[-500:]} for s in sizes]
    out = []
    for run in data.get("runs", []):
        size = run.get("params", {}).get("size")
        for st in run.get("steps", []):
            m = st.get("measurements", {})
            out.append({"path": path, "size": size, "mpps": m.get("mpps"), "gbps": m.get("gbps"),
                        "loss_pct": m.get("loss_pct"), "tx_mpps": m.get("tx_mpps"),
                        "error": st.get("error")})
    return out


def chain(n: int, lab: str) -> dict:
    """Deploy h1 -- x1 == x2 == ... == xN -- h2 (VPP l2 xconnects, memif between them), ping across,
    destroy; the seconds each took."""
    nodes = {"h1": {"kind": "host", "interfaces": {"eth0": {"ip": ["10.0.0.1/24"]}}},
             "h2": {"kind": "host", "interfaces": {"eth0": {"ip": ["10.0.0.2/24"]}}}}
    nodes.update({f"x{i}": {"kind": "vpp", "mode": "xconnect", "heap": 64} for i in range(1, n + 1)})
    links = [["h1:eth0", "x1:eth0"], [f"x{n}:eth1", "h2:eth0"]]
    links += [{"endpoints": [f"x{i}:eth1", f"x{i + 1}:eth0"], "type": "memif"} for i in range(1, n)]
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "chain.yaml")
        with open(f, "w") as fh:
            yaml.safe_dump({"name": lab, "nodes": nodes, "links": links}, fh)
        em = [sys.executable, "-m", "emulator"]
        t0 = time.monotonic()
        r = subprocess.run(em + ["deploy", f], cwd=ROOT, capture_output=True, text=True)
        t_deploy = time.monotonic() - t0
        if r.returncode != 0:
            return {"vpps": n, "error": r.stderr[-500:]}
        ping = subprocess.run(em + ["exec", lab, "h1", "--", "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"],
                              cwd=ROOT, capture_output=True, text=True)
        t0 = time.monotonic()
        subprocess.run(em + ["destroy", lab], cwd=ROOT, capture_output=True, text=True)
        t_destroy = time.monotonic() - t0
    return {"vpps": n, "deploy_s": round(t_deploy, 2), "destroy_s": round(t_destroy, 2),
            "ping_ok": ping.returncode == 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 1518])
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--vpp-core", type=int, default=1, help="CPU of VPP's main thread (default 1)")
    ap.add_argument("--paths", nargs="+", default=["memif direct", "vpp xconnect memif", "vpp bridge memif",
                                                   "vpp xconnect vhost", "ovs-dpdk vhost"])
    ap.add_argument("--chain", type=int, default=0, metavar="N",
                    help="instead: deploy+destroy time of a chain of N VPP xconnects (memif between them)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 3
    sys.path.insert(0, ROOT)
    from emulator.backends.vpp import find
    if find.missing():
        print(find.missing(), file=sys.stderr)
        return 3
    if a.chain:
        row = chain(a.chain, f"bvpc{os.getpid() % 10000}")
        print(json.dumps(row))
        os.makedirs(RESULTS_DIR, exist_ok=True)
        out = os.path.join(RESULTS_DIR, f"vpp_chain-{time.strftime('%Y%m%d-%H%M%S')}.json")
        with open(out, "w") as f:
            json.dump({"cpus": os.cpu_count(), "vpp": find.locate()[0], **row}, f, indent=1)
        print(f"wrote {out}")
        return 0
    rows = []
    for k, p in enumerate(a.paths):
        rows += run_path(p, a.sizes, a.duration, a.vpp_core, f"bvpp{os.getpid() % 10000}x{k}")
    print(f"{'path':<22} {'size':>5} {'Mpps':>8} {'Gbit/s':>8} {'loss %':>7}")
    for r in rows:
        if r.get("mpps") is None:
            print(f"{r['path']:<22} {r['size']!s:>5}  error: {str(r.get('error'))[:80]}")
            continue
        print(f"{r['path']:<22} {r['size']:>5} {r['mpps']:>8.3f} {r['gbps'] or 0:>8.2f} {r['loss_pct'] or 0:>7.2f}")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = os.path.join(RESULTS_DIR, f"vpp_paths-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump({"cpus": os.cpu_count(), "duration_s": a.duration, "vpp_core": a.vpp_core,
                   "vpp": find.locate()[0], "rows": rows}, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
