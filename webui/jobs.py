"""Long operations (deploy, destroy, scenario runs) in background threads, with progress.

The browser polls a job's state; one job per lab at a time (the emulator's own lab lock
refuses a second deploy of the same lab anyway).
"""
from __future__ import annotations

import io
import itertools
import os
import re
import tempfile
import threading
import time
import traceback

from emulator import lab as api
from emulator.errors import EmulatorError
from emulator.core.loader import load_text
from emulator.deploy import state

_ids = itertools.count(1)
JOBS: dict[int, "Job"] = {}
_lock = threading.Lock()


class Job:
    def __init__(self, kind: str, target: str):
        self.id = next(_ids)
        self.kind, self.target = kind, target
        self.status = "running"  # running | done | failed
        self.phase, self.total, self.count = "starting", 0, 0
        self.message = ""
        self.log = io.StringIO()
        self.result: dict = {}
        self.started = time.monotonic()
        self.ended: float | None = None

    # the emulator's Progress protocol
    def phase_(self, name: str, total: int) -> None:
        self.phase, self.total, self.count = name, total, 0

    def advance(self, n: int = 1) -> None:
        self.count += n

    def done(self) -> None:
        pass

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "target": self.target, "status": self.status,
                "phase": self.phase, "total": self.total, "count": self.count, "message": self.message,
                "elapsed": round((self.ended or time.monotonic()) - self.started, 2), "result": self.result,
                "log": self.log.getvalue()[-20000:]}


class _Progress:
    def __init__(self, job: Job):
        self.job = job

    def phase(self, name: str, total: int) -> None:
        self.job.phase_(name, total)

    def advance(self, n: int = 1) -> None:
        self.job.advance(n)

    def done(self) -> None:
        pass


def _start(job: Job, fn) -> Job:
    with _lock:
        JOBS[job.id] = job

    def run():
        try:
            fn(job)
            job.status = "done"
        except EmulatorError as e:
            job.status, job.message = "failed", str(e)
        except BaseException as e:  # noqa: BLE001  a job must always end with a state
            job.status, job.message = "failed", f"{type(e).__name__}: {e}"
            job.log.write(traceback.format_exc())
        finally:
            job.ended = time.monotonic()

    threading.Thread(target=run, name=f"job-{job.kind}-{job.id}", daemon=True).start()
    return job


def busy(target: str) -> Job | None:
    return next((j for j in JOBS.values() if j.target == target and j.status == "running"), None)


def deploy(yaml_text: str, name: str) -> Job:
    def fn(job: Job):
        st = api.deploy(load_text(yaml_text, f"<web ui: {name}>"), progress=_Progress(job))
        keep_source(st, yaml_text)
        job.message = f"deployed {len(st['nodes'])} nodes, {len(st['links']) + len(st.get('endpoints', []))} links"
        job.result = {"lab": st["name"]}
    return _start(Job("deploy", name), fn)


def keep_source(st: dict, text: str) -> bool:
    """Keep the topology as drawn (positions, addresses, routes, impairments: the YAML deployed) in
    the lab's state, so that reopening the running lab shows what was deployed. Only in the state
    this deploy wrote (same pid and creation time): never in a lab another process made since."""
    try:
        with state.locked(st["name"], create=False):
            cur = state.read_state(st["name"])
            if not cur or (cur.get("pid"), cur.get("created")) != (st.get("pid"), st.get("created")):
                return False
            cur["source"] = {"text": text, "by": "web ui"}
            state.write_state(st["name"], cur)
            return True
    except (EmulatorError, OSError):
        return False   # busy (being destroyed) or gone: reopening falls back to the file or the state


def destroy(name: str) -> Job:
    def fn(job: Job):
        problems = api.destroy(name, progress=_Progress(job))
        job.message = "destroyed" + (f" with {len(problems)} problem(s): {problems[0]}" if problems else "")
    return _start(Job("destroy", name), fn)


def scenario_printer(job: Job):
    """The runner's printer writing the job's log, and its progress read from it: the lab
    deployed, run N of M."""
    from emulator.scenario import runner

    class Printer(runner.Printer):
        def line(self, text: str) -> None:
            super().line(text)
            m = re.match(r"deployed lab (\S+)", text)
            if m:
                job.result["lab"] = m.group(1)
                job.phase = "deployed"
            m = re.match(r"run (\d+)/(\d+)", text)
            if m:
                job.phase, job.count, job.total = "run", int(m.group(1)) - 1, int(m.group(2))
    return Printer(job.log)


def scenario(path: str, overrides: dict | None = None, lab_name: str | None = None) -> Job:
    from emulator.scenario import runner

    def fn(job: Job):
        out_dir = tempfile.mkdtemp(prefix="emulator-ui-scenario-")
        job.result = {"dir": out_dir}
        job.phase = "loading and deploying"
        code = runner.run(path, results_dir=out_dir, out=scenario_printer(job), overrides=overrides or None,
                          lab_name=lab_name)
        job.result.update(exit_code=code, html=os.path.join(out_dir, "report.html"))
        job.message = f"scenario finished: exit code {code}"
        if code != 0:
            raise EmulatorError(f"scenario finished with exit code {code}")
    job = Job("scenario", os.path.basename(path))
    return _start(job, fn)


def labs_made_here() -> set[str]:
    """The labs this server deployed (from the drawing or by a scenario run)."""
    return {j.result["lab"] for j in list(JOBS.values()) if isinstance(j.result.get("lab"), str)}


def get(job_id: int) -> Job | None:
    return JOBS.get(job_id)
