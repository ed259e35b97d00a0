"""Seed 003's layout and plots of a scenario's results: throughput and latency vs packet size.

    python -m emulator.dpdk.plot results/seed003-pairs-20261122-010000

reads results.json and writes, under its directory:

    seed003/burst-<B>/<step>/size-<P>/measurements.json    one file per run (mean over repeats)
    seed003/throughput-burst-<B>.svg    received Mpps and Gbit/s vs packet size (log x), a line per step
    seed003/latency-burst-<B>.svg       mean and p99 round trip (us) vs packet size, a line per step

Points come from the `size` and `burst` parameters of each run (a sweep); a missing burst is "-".
A `rate` parameter (dpdk_traffic's paced sending) makes a step a line per rate ("STEP @ RATE pps").
Plain SVG, no plotting library.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "step"


def collect(results: dict) -> dict:
    """{burst: {step name: {size: {metric: mean}}}} for dpdk_traffic and dpdk_latency steps."""
    acc: dict = {}
    for run in results.get("runs", []):
        params = run.get("params", {})
        for st in run.get("steps", []):
            if st.get("type") not in ("dpdk_traffic", "dpdk_latency") or st.get("status") == "error":
                continue
            m = st.get("measurements", {})
            size = params.get("size", m.get("size"))
            burst = params.get("burst", m.get("burst", "-"))
            if size is None:
                continue
            name = st["name"] + (f" @ {params['rate']} pps" if params.get("rate") is not None else "")
            slot = acc.setdefault(str(burst), {}).setdefault(name, {}).setdefault(int(size), {})
            for k, v in m.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    slot.setdefault(k, []).append(float(v))
    return {b: {s: {p: {k: statistics.fmean(v) for k, v in mm.items()} for p, mm in sizes.items()}
                for s, sizes in steps.items()} for b, steps in acc.items()}


def _panel(x0, y0, w, h, series: dict, ylabel: str, title: str) -> list[str]:
    pts = [(x, y) for line in series.values() for x, y in line]
    if not pts:
        return []
    xs = sorted({x for x, _ in pts})
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))
    if lx1 - lx0 < 1e-9:
        lx0, lx1 = lx0 - 0.5, lx1 + 0.5
    ymax = max(y for _, y in pts) * 1.1 or 1.0

    def px(x):
        return x0 + (math.log10(x) - lx0) / (lx1 - lx0) * w

    def py(y):
        return y0 + h - y / ymax * h

    out = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="13">{title}</text>',
           f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
           f'<text x="{x0 - 42}" y="{y0 + h / 2}" font-size="11" transform="rotate(-90 {x0 - 42} {y0 + h / 2})" '
           f'text-anchor="middle">{ylabel}</text>',
           f'<text x="{x0 + w / 2}" y="{y0 + h + 32}" text-anchor="middle" font-size="11">packet size (bytes, log)</text>']
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{y0 + h}" x2="{px(x):.1f}" y2="{y0 + h + 4}" stroke="#999"/>')
        out.append(f'<text x="{px(x):.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="10">{x}</text>')
    for i in range(5):
        y = ymax * i / 4
        out.append(f'<text x="{x0 - 4}" y="{py(y) + 3:.1f}" text-anchor="end" font-size="10">{y:.3g}</text>')
        out.append(f'<line x1="{x0}" y1="{py(y):.1f}" x2="{x0 + w}" y2="{py(y):.1f}" stroke="#eee"/>')
    for i, (name, line) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        line = sorted(line)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>' for x, y in line]
    return out


def _svg(panels: list[tuple[dict, str, str]], names: list[str], title: str) -> str:
    w, h, pw, ph = 460 * len(panels) + 40, 400, 360, 250
    body = [f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="15">{title}</text>']
    for i, (series, ylabel, ptitle) in enumerate(panels):
        body += _panel(80 + i * 460, 60, pw, ph, series, ylabel, ptitle)
    for i, n in enumerate(names):
        c = COLORS[i % len(COLORS)]
        x = 80 + (i % 3) * 280
        y = 365 + (i // 3) * 16
        body.append(f'<rect x="{x}" y="{y - 9}" width="12" height="4" fill="{c}"/>')
        body.append(f'<text x="{x + 18}" y="{y - 4}" font-size="11">{n}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 20 * (len(names) // 3)}" '
            f'font-family="Helvetica, Arial, sans-serif">\n' + "\n".join(body) + "\n</svg>\n")


def write(results_dir: str) -> list[str]:
    with open(os.path.join(results_dir, "results.json")) as f:
        results = json.load(f)
    data = collect(results)
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
        lat = {s: sz for s, sz in steps.items() if any("rtt_avg_us" in m for m in sz.values())}
        if thr:
            panels = [({s: [(p, m["mpps"]) for p, m in sz.items()] for s, sz in thr.items()}, "Mpps",
                       "received packet rate"),
                      ({s: [(p, m["gbps"]) for p, m in sz.items()] for s, sz in thr.items()}, "Gbit/s",
                       "received throughput")]
            path = os.path.join(out_dir, f"throughput-burst-{burst}.svg")
            with open(path, "w") as f:
                f.write(_svg(panels, list(thr), f"throughput vs packet size, burst {burst}"))
            written.append(path)
        if lat:
            panels = [({s: [(p, m["rtt_avg_us"]) for p, m in sz.items()] for s, sz in lat.items()}, "us",
                       "mean round trip"),
                      ({s: [(p, m.get("rtt_p99_us", m["rtt_avg_us"])) for p, m in sz.items()]
                        for s, sz in lat.items()}, "us", "99th percentile round trip")]
            path = os.path.join(out_dir, f"latency-burst-{burst}.svg")
            with open(path, "w") as f:
                f.write(_svg(panels, list(lat), f"latency vs packet size, burst {burst}"))
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
