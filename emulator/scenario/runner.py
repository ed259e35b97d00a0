"""`emulator run scenario.yaml`: deploy, run the steps, check the assertions, report, tear down.

Exit codes: 0 every assertion held; 1 an assertion failed or a step could not run;
2 invalid input (nothing was deployed); 3 the environment cannot run it; 130 interrupted.
The lab is torn down at the end, on failure and on Ctrl-C/SIGTERM, unless --keep.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

from .. import __version__, backends
from ..deploy import hostcmd, state
from .. import lab as api
from ..errors import EXIT_ENVIRONMENT, EXIT_FAILED, EmulatorError, EnvironmentProblem, LabError
from . import expect, spec as spec_mod, steps
from .steps import RunContext, StepError, StepResult

PRIMARY = {"iperf3": "throughput_trimmed_bps", "ping": "rtt_avg_ms", "pingall": "loss_pct"}


class _Interrupted(BaseException):
    pass


class LabLost(EmulatorError):
    """The lab this run deployed was destroyed (or replaced) by another process."""
    exit_code = EXIT_FAILED


def lab_lost(name: str) -> str | None:
    """Why the lab this process deployed is no longer there to use, or None while it is.

    Between steps no emulator process should hold the lab's lock for long (this one released it
    after deploy; `inspect` tests it for an instant): if one keeps it, another process is
    destroying the lab, and once it lets go the state says what became of it."""
    for _ in range(50):
        if not state.is_busy(name):
            break
        time.sleep(0.1)
    else:
        return f"lab '{name}' is being destroyed by another process"
    st = state.read_state(name)
    if st is None:
        return f"lab '{name}' was destroyed by another process"
    if st.get("pid") != os.getpid():
        return f"lab '{name}' was destroyed and deployed again by another process (pid {st.get('pid')})"
    return None


def _record(s: spec_mod.StepSpec, status: str, **extra) -> dict:
    rec = {"name": s.name, "type": s.type, "status": status, "duration_s": 0.0, "measurements": {},
           "series": {}, "assertions": [], "error": None, "artifacts": []}
    rec.update(extra)
    return rec


def _run_steps(point_steps: list, ctx: RunContext, out: Printer, run_rec: dict, stop_on_failure: bool) -> bool:
    """Run the steps in order; True when stop_on_failure stops the scenario. Raises LabLost when the
    lab goes away under the run (checked before and after every step), after recording it."""
    for n, s in enumerate(point_steps, 1):
        for when in ("before", "during"):
            if when == "during":
                first = len(run_rec["steps"])
                run_rec["steps"].extend(_run_step(s, ctx, out, ""))
            lost = lab_lost(ctx.lab)
            if lost is None:
                continue
            why = f"{lost} {when} step {n} ({s.name})"
            if when == "before":
                run_rec["steps"].append(_record(s, "error", error=why))
            for rec in run_rec["steps"][first if when == "during" else -1:]:
                rec.update(status="error", error=f"{why}; " + (rec.get("error") or "the step ended")
                           if when == "during" else why)
            run_rec["steps"].extend(_record(r, "skipped", reason=f"not run: {why}")
                                    for r in point_steps[n:])
            run_rec["error"] = why
            out.line(f"error: {why}")
            raise LabLost(why)
        if stop_on_failure and any(r["status"] != "passed" for r in run_rec["steps"]):
            return True
    return False


def environment() -> dict:
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    return {
        "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "emulator": __version__, "hostname": platform.node(),
        "iperf3": first_line(["iperf3", "--version"]) if shutil.which("iperf3") else None,
        "ovs": first_line(["ovs-vswitchd", "--version"]) if shutil.which("ovs-vswitchd") else None,
        "dpdk": first_line(["pkg-config", "--modversion", "libdpdk"]) if shutil.which("pkg-config") else None,
    }


class Printer:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def _run_step(s: spec_mod.StepSpec, ctx: RunContext, out: Printer, label: str) -> list[dict]:
    """Run one step (or a parallel group); return step records."""
    if s.type == "parallel":
        records: dict[int, list] = {}
        started = [threading.Event() for _ in s.children]   # `after:` and `until:` (checked at load:
        finished = [threading.Event() for _ in s.children]  # the names they use are unique, no cycle)
        index = {c.name: i for i, c in enumerate(s.children)}

        def worker(i, child):
            try:
                if child.after:
                    event, name, _ = child.after
                    (started if event == "started" else finished)[index[name]].wait()
                ctx.order.started = started[i]
                ctx.order.stop = finished[index[child.until]] if child.until else None
                records[i] = _run_step(child, ctx, out, label)
            finally:
                started[i].set()   # (a step that failed before it said so has started too)
                finished[i].set()

        threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(s.children)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [r for i in sorted(records) for r in records[i]]
    rec = {"name": s.name, "type": s.type, "status": "passed", "duration_s": 0.0, "measurements": {},
           "series": {}, "assertions": [], "error": None, "artifacts": []}
    if s.reference:
        rec["reference"] = s.reference
    t0 = time.monotonic()
    try:
        if s.start_after:
            time.sleep(s.start_after)
        res: StepResult = steps.get(s.type).run(ctx, s.args)
        rec.update(measurements=res.measurements, series=res.series,
                   artifacts=[os.path.relpath(a, ctx.artifacts_dir) for a in res.artifacts])
        rec["assertions"] = expect.evaluate(s.conditions, res.measurements)
        if not all(a["ok"] for a in rec["assertions"]):
            rec["status"] = "failed"
        summary = res.summary
    except (StepError, LabError) as e:
        rec.update(status="error", error=str(e))
        summary = str(e)
    except EmulatorError as e:
        if isinstance(e, EnvironmentProblem):
            raise
        rec.update(status="error", error=str(e))
        summary = str(e)
    rec["duration_s"] = round(time.monotonic() - t0, 3)
    mark = {"passed": "ok", "failed": "FAILED", "error": "ERROR"}[rec["status"]]
    failed = [a["expr"] + f" (got {_fmt(a['value'])})" for a in rec["assertions"] if not a["ok"]]
    out.line(f"  {label}{s.name:<38} {mark:<6} {rec['duration_s']:6.2f} s  {summary}"
             + (f"\n      expected {'; '.join(failed)}" if failed else ""))
    return [rec]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str) and len(v) > 60:
        return repr(v[:60] + "...")
    return repr(v) if isinstance(v, str) else str(v)


def aggregate(results: dict, scenario: spec_mod.Scenario) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for run in results["runs"]:
        for idx, st in enumerate(run["steps"]):
            metrics = set()
            if st["type"] in PRIMARY:
                metrics.add(PRIMARY[st["type"]])
            if st.get("reference"):
                metrics.add(st["reference"]["metric"])
            for metric in metrics:
                v = st["measurements"].get(metric)
                if not isinstance(v, (int, float)) or isinstance(v, bool) or st["status"] == "error":
                    continue
                key = (idx, st["name"], metric, json.dumps(run["params"], sort_keys=True))
                g = groups.setdefault(key, {"step": st["name"], "metric": metric, "unit": spec_mod._unit(metric),
                                            "params": run["params"], "values": [], "reference": st.get("reference")})
                g["values"].append(float(v))
    out = []
    for g in groups.values():
        vals = g.pop("values")
        mean = statistics.fmean(vals)
        g.update(n=len(vals), mean=mean, stdev=statistics.stdev(vals) if len(vals) > 1 else 0.0,
                 min=min(vals), max=max(vals))
        ref = g.get("reference")
        if ref and ref["metric"] == g["metric"]:
            g["ratio"] = mean / ref["value"] if ref["value"] else None
        else:
            g["reference"], g["ratio"] = None, None
        out.append(g)
    return out


def _labelled(params: dict, names: list[str]) -> str:
    return " ".join(f"{k}={params[k]}" for k in names)


def run(path: str, keep: bool = False, results_dir: str | None = None, junit: str | None = None,
        overrides: dict | None = None, out: Printer | None = None, lab_name: str | None = None) -> int:
    out = out or Printer()
    backends.ensure_loaded()   # the backends' step types (dpdk_traffic, nsm_chain...) and undo handlers
    scenario = spec_mod.load(path, overrides, lab_name)   # TopologyError -> exit 2, nothing deployed
    if os.geteuid() != 0:
        raise EnvironmentProblem("running a scenario deploys a lab, which needs root; run with sudo")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results_dir = results_dir or os.path.join("results", f"{scenario.name}-{stamp}")
    os.makedirs(results_dir, exist_ok=True)
    total_runs = len(scenario.points) * scenario.repeat
    results = {
        "scenario": {"name": scenario.name, "file": path, "description": scenario.description,
                     "topology": scenario.topology_label},
        "environment": environment(), "started": state.now(), "duration_s": 0.0, "status": "running",
        "exit_code": None,
        "parameters": {"names": scenario.param_names, "points": len(scenario.points), "repeat": scenario.repeat,
                       "values": {k: v for k, v in scenario.points[0].params.items()
                                  if k not in scenario.param_names}},
        "runs": [], "aggregates": [],
    }
    out.line(f"scenario {scenario.name}: {len(scenario.points)} point(s) x {scenario.repeat} repeat(s) = "
             f"{total_runs} run(s); results in {results_dir}")
    t_start = time.monotonic()
    deployed: str | None = None
    deployed_key = None
    exit_code = 0
    old = signal.signal(signal.SIGTERM, _on_term) if threading.current_thread() is threading.main_thread() else None
    try:
        n = 0
        stop = False
        for point in scenario.points:
            for rep in range(1, scenario.repeat + 1):
                n += 1
                run_id = f"r{n}"
                key = json.dumps(point.topology.data, sort_keys=True, default=str)
                if key != deployed_key:
                    if deployed:
                        api.destroy(deployed)
                        deployed = None
                    t0 = time.monotonic()
                    st = api.deploy(point.topology)
                    deployed, deployed_key = st["name"], key
                    out.line(f"deployed lab {deployed} ({len(st['nodes'])} nodes, "
                             f"{len(st['links']) + len(st.get('endpoints', []))} links) "
                             f"in {time.monotonic() - t0:.2f} s")
                st = state.read_state(deployed)
                label = _labelled(point.params, scenario.param_names)
                out.line(f"run {n}/{total_runs}" + (f" [{label}]" if label else "")
                         + (f" repeat {rep}/{scenario.repeat}" if scenario.repeat > 1 else ""))
                run_rec = {"id": run_id, "params": {k: point.params[k] for k in scenario.param_names},
                           "repeat": rep, "status": "running", "duration_s": 0.0, "steps": []}
                results["runs"].append(run_rec)
                ctx = RunContext(lab=deployed, state=st, artifacts_dir=os.path.join(results_dir, run_id),
                                 params=point.params)
                t_run = time.monotonic()
                try:
                    stop = _run_steps(point.steps, ctx, out, run_rec, scenario.stop_on_failure)
                finally:
                    _stop_background(ctx)
                    run_rec["duration_s"] = round(time.monotonic() - t_run, 3)
                    run_rec["status"] = "error" if run_rec.get("error") else "passed" \
                        if all(r["status"] == "passed" for r in run_rec["steps"]) else "failed"
                if run_rec["status"] != "passed":
                    exit_code = EXIT_FAILED
                if stop:
                    break
            if stop:
                break
        results["status"] = "passed" if exit_code == 0 else "failed"
    except (KeyboardInterrupt, _Interrupted):
        results["status"] = "interrupted"
        exit_code = 130
        out.line("interrupted: tearing down")
    except LabLost as e:
        deployed = None   # not ours any more: another process removed it (or made a new one)
        results["status"] = "error"
        results["error"] = str(e)
        exit_code = EXIT_FAILED
    except EnvironmentProblem as e:
        results["status"] = "error"
        results["error"] = str(e)
        exit_code = EXIT_ENVIRONMENT
        out.line(f"error: {e}")
    except EmulatorError as e:
        results["status"] = "error"
        results["error"] = str(e)
        exit_code = e.exit_code if e.exit_code != 2 else EXIT_FAILED
        out.line(f"error: {e}")
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # no second interruption during teardown
        try:
            if deployed and not keep:
                api.destroy(deployed)
                out.line(f"lab {deployed} destroyed")
            elif deployed:
                out.line(f"lab {deployed} kept (--keep): emulator destroy {deployed}")
        except EmulatorError as e:   # e.g. destroyed meanwhile by another process: the results still count
            results["teardown_error"] = str(e)
            out.line(f"error: tearing down lab {deployed}: {e}")
            if results["status"] == "passed":
                results.update(status="error", error=f"tearing down lab {deployed}: {e}")
            exit_code = exit_code or EXIT_FAILED
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        results["duration_s"] = round(time.monotonic() - t_start, 3)
        results["exit_code"] = exit_code
        results["aggregates"] = aggregate(results, scenario)
        _write(results, results_dir, junit, out)
    return exit_code


def _on_term(signum, frame):
    raise _Interrupted()


def _stop_background(ctx: RunContext) -> None:
    for _name, proc, _log in reversed(ctx.background):
        hostcmd.stop(proc)
    ctx.background.clear()


def _write(results: dict, results_dir: str, junit: str | None, out: Printer) -> None:
    from .. import report
    paths = report.write_all(results, results_dir)
    if junit:
        os.makedirs(os.path.dirname(os.path.abspath(junit)), exist_ok=True)
        with open(junit, "w") as f:
            f.write(report.junit_xml(results))
        paths["junit (copy)"] = junit
    out.line("")
    out.line(report.summary_table(results).rstrip("\n"))  # its footer has each reference ratio
    out.line(f"status: {results['status']}; results: " + ", ".join(f"{k} {v}" for k, v in paths.items()))
