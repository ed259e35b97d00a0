#!/usr/bin/env python3
"""`emulator export kubernetes --spread N`: links cut and time, on generated shapes.

    .venv/bin/python bench/k8s_spread.py                  # linear,200 and tree,3,4; N = 2, 4, 8
    .venv/bin/python bench/k8s_spread.py --shapes tree,2,6 --parts 2 16

For each shape (a topo_gen spec) and N: pods, links, links cut by the partition (placement.py),
the lower bound N-1 for a connected lab, the largest part, and the seconds the export took
(compile, objects, partition and the Kubernetes schema check; nothing is written). Prints a table
and writes bench/results/k8s_spread-<time>.json. No root, no cluster; nothing is created.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from emulator import topo_gen  # noqa: E402
from emulator.backends.kubernetes import cli as kcli, placement  # noqa: E402


def run(spec: str, parts: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml.safe_dump(topo_gen.generate(spec).data, sort_keys=False))
    try:
        t0 = time.perf_counter()
        files, report = kcli.build(f.name, spread=parts)
        secs = time.perf_counter() - t0
    finally:
        os.unlink(f.name)
    pods = [o for objs in files.values() for o in objs if o["kind"] == "Pod"]
    sizes = {}
    for p in pods:
        k = p["spec"]["nodeSelector"][placement.PART_LABEL]
        sizes[k] = sizes.get(k, 0) + 1
    head = report[0]
    cut, links = (int(x) for x in head.split("; ")[1].split(" links")[0].split(" of "))
    return {"shape": spec, "parts": parts, "pods": len(pods), "links": links, "cut": cut,
            "lower_bound": parts - 1, "largest_part": max(sizes.values()), "seconds": round(secs, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["linear,200", "tree,3,4"])
    ap.add_argument("--parts", nargs="+", type=int, default=[2, 4, 8])
    a = ap.parse_args()
    rows = [run(s, n) for s in a.shapes for n in a.parts]
    cols = ["shape", "parts", "pods", "links", "cut", "lower_bound", "largest_part", "seconds"]
    print("  ".join(f"{c:>12}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>12}" for c in cols))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", time.strftime("k8s_spread-%Y%m%d-%H%M%S.json"))
    with open(out, "w") as f:
        json.dump({"machine": platform.node(), "python": platform.python_version(), "rows": rows}, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
