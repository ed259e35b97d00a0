"""Seed 003's layout and plots of a scenario's results: throughput and latency vs packet size.

    python -m emulator.backends.dpdk.plot results/seed003-pairs-20261122-010000

reads results.json and writes, under its directory:

    seed003/burst-<B>/<step>/size-<P>/measurements.json    one file per run (mean over repeats)
    seed003/throughput-burst-<B>.svg    received Mpps and Gbit/s vs packet size (log x), a line per step
    seed003/latency-burst-<B>.svg       mean and p99 round trip (us) vs packet size, a line per step

Points come from the `size` and `burst` parameters of each run (a sweep); a missing burst is "-".
A `rate` parameter (dpdk_traffic's paced sending) makes a step a line per rate ("STEP @ RATE pps").
SVG drawn by emulator/report/chart.py (the scenario report's charts), no plotting library.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys

from ...report.chart import PALETTE, line_chart, side_by_side
from ...report.results import Results, load


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "step"


def collect(results: Results) -> dict:
    """{burst: {step name: {size: {metric: mean}}}} for dpdk_traffic and dpdk_latency steps."""
    acc: dict = {}
    for run in results.runs:
        params = run.params
        for st in run.steps:
            if st.type not in ("dpdk_traffic", "dpdk_latency") or st.status == "error":
                continue
            m = st.measurements
            size = params.get("size", m.get("size"))
            burst = params.get("burst", m.get("burst", "-"))
            if size is None:
                continue
            name = st.label + (f" @ {params['rate']} pps" if params.get("rate") is not None else "")
            slot = acc.setdefault(str(burst), {}).setdefault(name, {}).setdefault(int(size), {})
            for k, v in m.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    slot.setdefault(k, []).append(float(v))
    return {b: {s: {p: {k: statistics.fmean(v) for k, v in mm.items()} for p, mm in sizes.items()}
                for s, sizes in steps.items()} for b, steps in acc.items()}


def _panel(lines: dict, metric: str, scale: float, title: str, y_label: str, y_kind: str,
           y_unit=None) -> str:
    """One chart: `metric` vs packet size (log x), a line per step."""
    sizes = sorted({p for sz in lines.values() for p in sz})
    series = [{"label": name, "color": PALETTE[i % len(PALETTE)], "dash": "",
               "points": [(math.log10(p), m[metric] * scale, None) for p, m in sorted(sz.items())
                          if metric in m]}
              for i, (name, sz) in enumerate(lines.items())]
    return line_chart(series, title=title, x_label="packet size (bytes, log)", y_label=y_label,
                      y_kind=y_kind, y_unit=y_unit, x_ticks=[(math.log10(p), str(p)) for p in sizes],
                      legend=True, width=460)


def write(results_dir: str) -> list[str]:
    data = collect(load(os.path.join(results_dir, "results.json")))
    out_dir = os.path.join(results_dir, "seed003")
    written = []
    for burst, steps in data.items():
        for step, sizes in steps.items():
            for size, m in sizes.items():
                d = os.path.join(out_dir, f"burst-{burst}", _slug(step), f"size-{size}")
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "measurements.json"), "w") as f:
                    json.dump(m, f, indent=1)
        thr = {s: sz for s, sz in steps.items() if any("mpps" in m for m in sz.values())}
        lat = {s: {p: {**m, "rtt_p99_us": m.get("rtt_p99_us", m["rtt_avg_us"])} for p, m in sz.items()
                   if "rtt_avg_us" in m}
               for s, sz in steps.items() if any("rtt_avg_us" in m for m in sz.values())}
        figures = []
        if thr:
            figures.append(("throughput", f"throughput vs packet size, burst {burst}", [
                _panel(thr, "mpps", 1.0, "received packet rate", "rate", "plain", "Mpps"),
                _panel(thr, "gbps", 1e9, "received throughput", "throughput", "rate")]))
        if lat:
            figures.append(("latency", f"latency vs packet size, burst {burst}", [
                _panel(lat, "rtt_avg_us", 1e-6, "mean round trip", "round trip", "s"),
                _panel(lat, "rtt_p99_us", 1e-6, "99th percentile round trip", "round trip", "s")]))
        for what, title, panels in figures:
            path = os.path.join(out_dir, f"{what}-burst-{burst}.svg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(side_by_side(panels, title=title) + "\n")
            written.append(path)
    return written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for p in write(argv[0]):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
