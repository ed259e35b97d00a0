#!/usr/bin/env python3
"""Does a lab forward right after deploy while the machine is busy?

For each repetition: deploy linear,N with the CLI, then at once ping h1 -> hN once (-c1 -W2,
across all N bridges), then destroy, then wait for the kernel to settle (see deploy_scale.py).
During the whole run, one `nice -n 19` busy loop per CPU competes for the cores (like a long
compile at low priority); each is started under `timeout` (so it ends by itself even if this
script dies) and stopped by its PID at the end. --load 0 runs on a quiet machine.

    .venv/bin/python bench/deploy_under_load.py --size 1000 --repeat 3
    .venv/bin/python bench/deploy_under_load.py --repo /tmp/old-checkout ...   # another version

Prints a table and writes bench/results/deploy_under_load-<timestamp>.json. Exit 0 (a
benchmark), 3 when not root.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from deploy_scale import RESULTS_DIR, wait_settle  # noqa: E402


def start_load(cpus: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen(["timeout", str(int(seconds)), "nice", "-n", "19", "sh", "-c", "while :; do :; done"])
            for _ in range(cpus)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()   # timeout(1) passes SIGTERM on to the loop
    for p in procs:
        p.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1, help="busy loops (default: one per CPU)")
    ap.add_argument("--max-seconds", type=float, default=300, help="the load ends by itself after this")
    ap.add_argument("--repo", default=os.path.dirname(HERE), help="the emulator checkout to run")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 3
    env = {**os.environ, "PYTHONPATH": a.repo}
    emu = [a.python, "-m", "emulator"]
    name = f"benchload{a.size}"
    rows = []
    load = start_load(a.load, a.max_seconds) if a.load else []
    t_end = time.monotonic() + a.max_seconds
    try:
        for rep in range(a.repeat):
            if time.monotonic() > t_end - 30:
                print("load time used up; stopping early", file=sys.stderr)
                break
            t0 = time.monotonic()
            d = subprocess.run(emu + ["deploy", "--topo", f"linear,{a.size}", "--name", name, "--max-rows", "0"],
                               capture_output=True, text=True, env=env, cwd=a.repo, timeout=600)
            t_dep = time.monotonic() - t0
            row = {"repeat": rep, "deploy_rc": d.returncode, "deploy_s": round(t_dep, 2)}
            m = re.search(r"ports forwarding\s+\d+\s+([\d.]+) s", d.stderr)
            row["wait_s"] = float(m.group(1)) if m else None
            if d.returncode == 0:
                st = json.loads(subprocess.run(emu + ["inspect", name, "-f", "json"], capture_output=True,
                                               text=True, env=env, cwd=a.repo).stdout)
                addr = st["nodes"][f"h{a.size}"]["interfaces"]["eth0"]["addresses"][0].split("/")[0]
                p = subprocess.run(emu + ["exec", name, "h1", "--", "ping", "-c1", "-W2", addr],
                                   capture_output=True, text=True, env=env, cwd=a.repo)
                row["ping_ok"] = p.returncode == 0
                x = subprocess.run(emu + ["destroy", name], capture_output=True, text=True, env=env, cwd=a.repo)
                row["destroy_rc"] = x.returncode
            else:
                row["error"] = d.stderr.strip()[-400:]
            row["settle"] = wait_settle(f"benchprobe-{os.getpid()}", time.monotonic(), 180).get("settle_s")
            rows.append(row)
            print(f"  run {rep}: deploy {row['deploy_s']} s (rc {d.returncode}, wait {row['wait_s']} s), "
                  f"first ping {'ok' if row.get('ping_ok') else 'FAILED'}", file=sys.stderr, flush=True)
    finally:
        stop_load(load)
        subprocess.run(emu + ["destroy", name], capture_output=True, env=env, cwd=a.repo)
    ok = sum(bool(r.get("ping_ok")) for r in rows)
    print(f"linear,{a.size}, {a.load} nice-19 busy loops, {a.repo}: first ping right after deploy ok in "
          f"{ok} of {len(rows)} runs")
    print("| run | deploy s | ports-forwarding wait s | first ping |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['repeat']} | {r['deploy_s']} | {r['wait_s'] if r['wait_s'] is not None else '-'} | "
              f"{'ok' if r.get('ping_ok') else 'failed'} |")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = {"size": a.size, "load": a.load, "repo": a.repo, "runs": rows, "first_ping_ok": ok}
    path = os.path.join(RESULTS_DIR, f"deploy_under_load-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
