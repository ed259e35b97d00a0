#!/usr/bin/env python3
"""Web UI model benchmark: what the server does with a big drawing, against a plain YAML dump.

For Mininet's linear,N shape (2N nodes) it times, in one process, the steps the web UI runs when a
topology is opened or edited: layout of nodes without positions (webui.model.layout_missing), the
Cytoscape elements (model.elements), the YAML text (model.to_yaml) and validation (model.validate,
the emulator's own compile up to the plan). The reference, measured in the same run, is
yaml.safe_dump of the same topology: the floor of turning it into text.

    .venv/bin/python bench/webui_model.py                 # N = 25, 250, 1000 (50, 500, 2000 nodes)
    .venv/bin/python bench/webui_model.py --sizes 250 --repeat 5

Prints a table (median of --repeat runs, in ms) and writes bench/results/webui_model-<time>.json.
Needs no root and creates nothing on the host.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

import yaml  # noqa: E402

from emulator.topo_gen import generate  # noqa: E402
from webui import model  # noqa: E402

STEPS = ("layout", "elements", "to_yaml", "validate", "reference: yaml.safe_dump")


def once(n: int) -> dict:
    data = generate(f"linear,{n}").data
    out = {}
    t0 = time.perf_counter()
    laid = model.layout_missing(copy.deepcopy(data))
    out["layout"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    els = model.elements(laid)
    out["elements"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    text = model.to_yaml(laid)
    out["to_yaml"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    problems = model.validate(text)
    out["validate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    yaml.safe_dump(laid, sort_keys=False)
    out["reference: yaml.safe_dump"] = time.perf_counter() - t0
    if problems or len(els) < 2 * n:
        raise SystemExit(f"linear,{n}: the model is wrong ({len(els)} elements, problems {problems[:2]})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="25,250,1000", help="values of N in linear,N (2N nodes each)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the table shows the median")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    rows = []
    for n in sizes:
        runs = [once(n) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in STEPS}
        rows.append({"n": n, "nodes": 2 * n, "median_s": med, "runs": runs})
    head = f"{'nodes':>6} " + " ".join(f"{k.split(':')[0][:10]:>10}" for k in STEPS) + f" {'ui/ref':>7}"
    print("web UI model, median ms of", args.repeat, "runs (ref = yaml.safe_dump of the same topology)")
    print(head)
    for r in rows:
        m = r["median_s"]
        ui = sum(m[k] for k in STEPS[:3])
        ratio = ui / m[STEPS[-1]] if m[STEPS[-1]] else float("nan")
        print(f"{r['nodes']:>6} " + " ".join(f"{m[k] * 1000:>10.1f}" for k in STEPS) + f" {ratio:>6.1f}x")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", time.strftime("webui_model-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                   "repeat": args.repeat, "rows": rows}, f, indent=1)
    print("json:", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
