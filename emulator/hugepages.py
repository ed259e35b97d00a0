"""Hugepages for DPDK nodes and OVS-DPDK: a preflight check, an explicit reservation, a private mount.

Every lab that runs DPDK gets its own hugetlbfs mount, /run/emulator/LAB/hugepages, and every DPDK
process of the lab keeps its hugepage files there (`--huge-dir`). Unmounting it at destroy frees
every file of the lab at once, whatever state the processes died in; nothing is matched by pattern.

The pool itself (vm.nr_hugepages) is host-wide. Deploy checks that enough pages are free and says
how to get them when they are not (exit 3); with `hugepages: {reserve: N}` in the topology or
`emulator deploy --hugepages N` it raises the pool itself, and journals how many pages it added;
destroy (and cleanup) lower the pool by exactly that many, so pages reserved by the user or by
another lab stay reserved.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass

from . import actions as A
from . import hostcmd, teardown
from .errors import EnvironmentProblem

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
DPDK_RUNTIME = "/var/run/dpdk"       # DPDK's per-file-prefix runtime directories (as root)
#: set by `emulator deploy --hugepages N`: reserve that many pages when they are not free
ENV_RESERVE = "EMULATOR_HUGEPAGES"

SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "hugepages for DPDK nodes and OVS-DPDK",
    "properties": {
        "reserve": {"type": "integer", "minimum": 1, "maximum": 1048576,
                    "description": "make sure at least this many hugepages are free, raising vm.nr_hugepages "
                                   "if needed (default: only check that the lab's need is free)"},
    },
}


def meminfo() -> dict:
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.startswith("HugePages_") or k == "Hugepagesize":
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return {"total": out.get("HugePages_Total", 0), "free": out.get("HugePages_Free", 0),
            "reserved": out.get("HugePages_Rsvd", 0), "size_kb": out.get("Hugepagesize", 2048)}


def pages_for(mb: int, size_kb: int | None = None) -> int:
    size_kb = size_kb or meminfo()["size_kb"]
    return math.ceil(mb * 1024 / size_kb)


def lab_mount(lab_dir: str) -> str:
    return os.path.join(lab_dir, "hugepages")


def runtime_dir(prefix: str) -> str:
    return os.path.join(DPDK_RUNTIME, prefix)


def check(need_mb: int, reserve: int | None = None, what: str = "", on_reserved=None) -> dict:
    """Make sure `need_mb` of hugepages are free (reserving `reserve` pages first when asked).
    `on_reserved(pages)` is told how many pages the pool grew by, as soon as it grew."""
    info = meminfo()
    need = pages_for(need_mb, info["size_kb"])
    avail = info["free"] - info["reserved"]
    want = max(need, reserve or 0)
    if reserve and avail < want:
        target = info["total"] + (want - avail)
        try:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(target))
        except OSError as e:
            raise EnvironmentProblem(f"cannot reserve hugepages (writing {target} to {NR_HUGEPAGES}: "
                                     f"{e.strerror})") from None
        before = info["total"]
        info = meminfo()
        if on_reserved and info["total"] > before:
            on_reserved(info["total"] - before)
        avail = info["free"] - info["reserved"]
        if avail < want:
            raise EnvironmentProblem(
                f"asked the kernel for {want} free hugepages of {info['size_kb']} kB, got {avail} "
                f"(vm.nr_hugepages is {info['total']}): not enough free contiguous memory; free some "
                f"memory, or reserve at boot (kernel parameter hugepages={want})")
    if avail < need:
        size = info["size_kb"]
        raise EnvironmentProblem(
            f"{what or 'this lab'} needs {need} hugepages of {size} kB ({need_mb} MB) but {avail} are free "
            f"(HugePages_Total {info['total']}, HugePages_Free {info['free']}, HugePages_Rsvd "
            f"{info['reserved']}); reserve them with 'emulator deploy --hugepages {need}', "
            f"'hugepages: {{reserve: {need}}}' in the topology, or "
            f"'echo {info['total'] - avail + need} > {NR_HUGEPAGES}'")
    return {**info, "need": need}


@dataclass
class PrepareHugepages(A.Action):
    """Preflight: enough free hugepages (or reserve them), then the lab's private hugetlbfs mount."""
    lab: str = ""
    need_mb: int = 0
    reserve: int | None = None
    mount: str = ""
    users: str = ""

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.PREFLIGHT, "hugepages", None

    def describe(self):
        r = f", reserving {self.reserve} pages if needed" if self.reserve else ""
        return (f"check {self.need_mb} MB of free hugepages for {self.users}{r}; "
                f"mount -t hugetlbfs nodev {self.mount}")

    def undo_record(self):
        return {"op": "hugetlbfs", "path": self.mount}

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            reserve = a.reserve
            env = os.environ.get(ENV_RESERVE)
            if env and env.isdigit():
                reserve = max(reserve or 0, int(env))
            journal = ctx.journal
            check(a.need_mb, reserve, f"lab '{a.lab}' ({a.users})",
                  on_reserved=(lambda n: journal.append([{"op": "hugepages-reserved", "pages": n}]))
                  if journal is not None else None)
            os.makedirs(a.mount, exist_ok=True)
            if not os.path.ismount(a.mount):
                r = hostcmd.run(["mount", "-t", "hugetlbfs", "-o", f"pagesize={meminfo()['size_kb']}K",
                                 "nodev", a.mount])
                if not r.ok:
                    raise EnvironmentProblem(f"cannot mount hugetlbfs on {a.mount}: {r.stderr.strip()} "
                                             f"(the kernel needs CONFIG_HUGETLBFS)")


def _undo_mount(rec: dict) -> None:
    path = rec["path"]
    if os.path.ismount(path):
        r = hostcmd.run(["umount", path])
        if not r.ok:  # a process still maps a file: detach, the pages go when it exits
            hostcmd.run(["umount", "-l", path])
    try:
        os.rmdir(path)
    except OSError:
        pass


def kill_tagged(needle: str, grace: float = 2.0) -> int:
    """SIGKILL live processes whose command line contains `needle` (an exact lab-tagged argument,
    such as --file-prefix=emu-LAB-NODE or the lab's run directory). Teardown finds processes by
    namespace first; this catches those whose namespace was deleted under them."""
    import signal
    import time
    killed = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1][:1] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        if any(needle in a for a in args):
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
            except ProcessLookupError:
                pass
    end = time.monotonic() + grace
    while killed and time.monotonic() < end:
        killed = [p for p in killed if os.path.exists(f"/proc/{p}") and not _zombie(p)]
        time.sleep(0.02)
    return len(killed)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return True


def _undo_reserved(rec: dict) -> None:
    """Give back the pages this lab added to the pool (pages still in use become surplus and are
    freed by the kernel when their last user lets go)."""
    pages = int(rec.get("pages") or 0)
    if pages <= 0:
        return
    total = meminfo()["total"]
    try:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(max(0, total - pages)))
    except OSError as e:
        raise OSError(f"cannot give back {pages} hugepages ({NR_HUGEPAGES}: {e.strerror})") from None


def _undo_runtime(rec: dict) -> None:
    """A DPDK process of one exact file prefix, if still alive, and its runtime directory."""
    prefix = rec["prefix"]
    if not prefix or "/" in prefix or prefix in (".", ".."):
        return
    kill_tagged(f"--file-prefix={prefix}")
    if rec.get("rundir"):   # the lab's OVS run directory, named in every OVS daemon's arguments
        kill_tagged(rec["rundir"].rstrip("/") + "/")
    shutil.rmtree(runtime_dir(prefix), ignore_errors=True)


teardown.register_undo("hugetlbfs", _undo_mount)
teardown.register_undo("hugepages-reserved", _undo_reserved)
teardown.register_undo("dpdk-runtime", _undo_runtime)
