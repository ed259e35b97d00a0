"""The one place where the emulator runs commands on the host.

Everything that starts a process goes through `run()`, so a dry run can show
it and tests can see it (`with recording() as calls:`). `recorded` keeps only the
last RECORD_MAX argvs: the web UI polls OVS through here every 1.5 s for as long
as it runs. Commands run inside a lab namespace via `nsenter --net=...`: it
enters only the network namespace, which costs no mount-namespace copy (unlike
`ip netns exec`).
"""
from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import EnvironmentProblem
from .kernel import netns as _netns

RECORD_MAX = 1000
recorded: collections.deque[list[str]] = collections.deque(maxlen=RECORD_MAX)  # the last argvs run
dry_run = False
_recorders: list[list[list[str]]] = []


@contextlib.contextmanager
def recording():
    """Collect every argv run (or, in a dry run, that would have run) while the block runs."""
    calls: list[list[str]] = []
    _recorders.append(calls)
    try:
        yield calls
    finally:
        _recorders.remove(calls)


def _record(argv: list[str]) -> None:
    recorded.append(argv)
    for calls in _recorders:
        calls.append(argv)


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def in_netns(argv: list[str], netns: str | None) -> list[str]:
    if netns is None:
        return list(argv)
    mnt = private_mount(netns)
    return ["nsenter", f"--net={_netns.path(netns)}"] + ([f"--mount={mnt}"] if mnt else []) + ["--"] + list(argv)


def private_mount(netns: str) -> str | None:
    """The node's own mount namespace when it has private directories (private_dirs:
    emulator/backends/host/private.py): its nsfs file, bind-mounted in the lab's directory."""
    lab, dot, node = netns[4:].partition(".") if netns.startswith("emu-") else ("", "", "")
    if not dot:
        return None
    from .state import RUN_DIR
    path = os.path.join(RUN_DIR, lab, "private", f"{node}.mnt")
    try:
        return path if os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev else None
    except OSError:
        return None


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise EnvironmentProblem(f"'{binary}' is not installed (Debian/Ubuntu package: {package})")
    return path


def run(argv: list[str], netns: str | None = None, input: str | None = None,
        timeout: float | None = 60, env: dict | None = None, cwd: str | None = None,
        log: str | None = None) -> Result:
    """Run and wait. With `log`, output goes to that file (appended) instead of pipes, so a
    command that leaves a background child holding its stdout does not block the caller."""
    full = in_netns(argv, netns)
    _record(full)
    if dry_run:
        return Result(full, 0, "", "")
    if log is not None:
        return _run_logged(full, log, timeout, env, cwd)
    try:
        p = subprocess.run(full, input=input, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})}, cwd=cwd)
    except FileNotFoundError:
        raise EnvironmentProblem(f"cannot run '{full[0]}': not installed") from None
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return Result(full, 124, out, f"timed out after {timeout} s")
    return Result(full, p.returncode, p.stdout, p.stderr)


def _run_logged(full: list[str], log: str, timeout, env, cwd) -> Result:
    with open(log, "a+") as f:
        start = f.tell()
        f.write(f"$ {' '.join(full)}\n")
        f.flush()
        try:
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
        except FileNotFoundError:
            raise EnvironmentProblem(f"cannot run '{full[0]}': not installed") from None
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = 124
    with open(log) as f:
        f.seek(start)
        text = f.read()
    out = text.split("\n", 1)[1] if "\n" in text else ""
    return Result(full, rc, out, out if rc else "")


def start(argv: list[str], netns: str | None = None, log: str | None = None,
          env: dict | None = None) -> subprocess.Popen:
    """Start a background process (output to `log`, or discarded); the caller stops it by PID."""
    full = in_netns(argv, netns)
    _record(full)
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    except FileNotFoundError:
        raise EnvironmentProblem(f"cannot run '{full[0]}': not installed") from None
    finally:
        if log:
            out.close()


def stop(proc: subprocess.Popen, grace: float = 3.0) -> int | None:
    """Stop a process this program started: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
