#!/usr/bin/env python3
"""Compile-time scaling: how long each pipeline stage takes on large generated topologies.

    .venv/bin/python bench/compile_scale.py                # N = 500, 1000, 2000
    .venv/bin/python bench/compile_scale.py --sizes 1000

Shapes, N nodes each: `linear` (Mininet's linear,N/2: hosts on a chain of bridges, one L2
segment), `routers` (a chain of N routers: N-1 point-to-point /30s from the pool) and `memif`
(a chain of N dpdk-app nodes joined by memif links). Each stage is timed by wrapping it; the
reference column, measured in the same run, is the time to deep-copy the raw topology (the
floor of touching every node and link once). Prints a table (ms) and writes
bench/results/compile_scale-<time>.json. No root needed; nothing is created on the host.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from emulator.core import addressing, graph, plan, resolve, validate
from emulator import lab, topo_gen  # noqa: E402
from emulator.core.loader import Source  # noqa: E402
from emulator.backends.nsm import expand  # noqa: E402

STAGES = [("validate", validate, "check"), ("expand", expand, "expand"), ("resolve", resolve, "resolve"),
          ("graph", graph, "build"), ("addressing", addressing, "allocate"), ("plan", plan, "plan")]


def shape(kind: str, n: int) -> Source:
    if kind == "linear":
        return topo_gen.generate(f"linear,{n // 2}")
    if kind == "routers":
        nodes = {f"r{i}": {"kind": "router"} for i in range(n)}
        links = [[f"r{i}", f"r{i + 1}"] for i in range(n - 1)]
    else:
        nodes = {f"a{i}": {"kind": "dpdk-app"} for i in range(n)}
        links = [{"endpoints": [f"a{i}", f"a{i + 1}"], "type": "memif"} for i in range(n - 1)]
    return Source({"name": "bench", "nodes": nodes, "links": links}, file=f"<{kind},{n}>")


def timed_compile(src: Source) -> dict:
    spent: dict[str, float] = {}
    saved = []
    for name, mod, fn in STAGES:
        orig = getattr(mod, fn)
        saved.append((mod, fn, orig))

        def wrap(*a, _orig=orig, _name=name, **k):
            t0 = time.perf_counter()
            try:
                return _orig(*a, **k)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - t0
        setattr(mod, fn, wrap)
    try:
        t0 = time.perf_counter()
        lab.compile(src, check_host=False)
        spent["total"] = time.perf_counter() - t0
    finally:
        for mod, fn, orig in saved:
            setattr(mod, fn, orig)
    t0 = time.perf_counter()
    copy.deepcopy(src.data)
    spent["ref: deepcopy"] = time.perf_counter() - t0
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,1000,2000", help="node counts")
    ap.add_argument("--shapes", default="linear,routers,memif")
    ap.add_argument("--repeat", type=int, default=3,
                    help="compiles per shape and size; the fastest is shown (default 3: the machine's noise "
                         "and the first run's allocations are not the pipeline's)")
    args = ap.parse_args()
    cols = [s for s, _m, _f in STAGES] + ["total", "ref: deepcopy"]
    rows = []
    for kind in args.shapes.split(","):   # imports paid before timing (backends import a kind's modules
        lab.compile(shape(kind, 4), check_host=False)   # on its first use)
    print("compile stages, ms (ref = deepcopy of the raw topology)")
    print(f"{'shape':>8} {'nodes':>6} " + " ".join(f"{c.split(':')[0][:10]:>10}" for c in cols))
    for kind in args.shapes.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            spent = min((timed_compile(shape(kind, n)) for _ in range(max(1, args.repeat))),
                        key=lambda sp: sp["total"])
            rows.append({"shape": kind, "nodes": n, "seconds": spent})
            print(f"{kind:>8} {n:>6} " + " ".join(f"{spent.get(c, 0) * 1000:>10.1f}" for c in cols))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", time.strftime("compile_scale-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                   "rows": rows}, f, indent=1)
    print("json:", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
