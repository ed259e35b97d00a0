"""Hugepages for DPDK nodes and OVS-DPDK: a preflight check, an explicit reservation, a private mount.

Every lab that runs DPDK gets its own hugetlbfs mount, /run/emulator/LAB/hugepages, and every DPDK
process of the lab keeps its hugepage files there (`--huge-dir`). Unmounting it at destroy frees
every file of the lab at once, whatever state the processes died in; nothing is matched by pattern.

The pool itself (vm.nr_hugepages) is host-wide. Deploy checks that enough pages are free and says
how to get them when they are not (exit 3); with `hugepages: {reserve: N}` in the topology or
`emulator deploy --hugepages N` it raises the pool itself, and journals how many pages it added;
destroy (and cleanup) lower the pool by exactly that many, so pages reserved by the user or by
another lab stay reserved.

Labs deployed at the same time must not count the same free pages twice: the check and the
reservation run under one host-wide lock (RUN_DIR/.hugepages.lock), and each lab leaves a ledger
entry (LAB/hugepages.json: the pages its DPDK processes will take). A later check counts as free
only what is free minus what other labs set aside and have not taken yet: their ledger pages less
the pages of the files in their own hugetlbfs mount, while they are still deploying (a deployed
lab's DPDK processes took their memory when they started; OVS-DPDK keeps its memory in memfds,
outside the mount). While a lab's processes are starting, a page they mapped but have not touched
yet may be counted twice (in HugePages_Rsvd and in the ledger): the count errs on the side of
"not free", and a reservation is judged by how much the kernel grew the pool, not by a second count.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
from dataclasses import dataclass

from ...deploy import actions as A
from ...deploy import hostcmd, state
from ...errors import EnvironmentProblem

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
DPDK_RUNTIME = "/var/run/dpdk"       # DPDK's per-file-prefix runtime directories (as root)
#: set by `emulator deploy --hugepages N`: reserve that many pages when they are not free
ENV_RESERVE = "EMULATOR_HUGEPAGES"
LEDGER = "hugepages.json"            # in a lab's directory: {"pages": N} its DPDK processes take

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


@contextlib.contextmanager
def pool_lock():
    """Host-wide: one emulator process at a time checks, reserves or gives back pool pages."""
    os.makedirs(state.RUN_DIR, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(state.RUN_DIR, ".hugepages.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def used_pages(mount: str, size_kb: int) -> int:
    """Pages taken in a lab's hugetlbfs mount: allocated (hugetlbfs counts them in st_blocks) or
    sized (a DPDK process sizes a page's file before it maps it: the page is then reserved, in
    HugePages_Rsvd, and must not also be counted as still set aside)."""
    page = size_kb * 1024
    used = 0
    try:
        with os.scandir(mount) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                used += -(-max(st.st_blocks * 512, st.st_size) // page)
    except OSError:
        return 0
    return used


def set_aside(size_kb: int, exclude: str | None = None) -> dict[str, int]:
    """Other labs' ledger pages that their DPDK processes have not taken yet: lab -> pages."""
    out = {}
    for lab in state.list_labs():
        if lab == exclude or not _deploying(lab):
            continue
        d = state.lab_dir(lab)
        try:
            with open(os.path.join(d, LEDGER)) as f:
                pages = int(json.load(f).get("pages", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        left = pages - used_pages(lab_mount(d), size_kb)
        if left > 0:
            out[lab] = left
    return out


def _deploying(lab: str) -> bool:
    """A lab whose deploy has not finished (no state yet, or status 'deploying')."""
    try:
        with open(os.path.join(state.lab_dir(lab), "state.json")) as f:
            return json.load(f).get("status", "deploying") == "deploying"
    except (OSError, ValueError, AttributeError):
        return True


def check(need_mb: int, reserve: int | None = None, what: str = "", on_reserved=None,
          lab: str | None = None) -> dict:
    """Make sure `need_mb` of hugepages are free (reserving `reserve` pages first when asked).
    `on_reserved(pages)` is told how many pages the pool grew by, as soon as it grew. Pages other
    labs set aside (and have not taken yet) do not count as free; with `lab`, this lab's own need
    is written to its ledger before the lock is let go."""
    with pool_lock():
        info = _check_locked(need_mb, reserve, what, on_reserved, lab)
        if lab is not None and os.path.isdir(state.lab_dir(lab)):
            tmp = os.path.join(state.lab_dir(lab), LEDGER + ".tmp")
            with open(tmp, "w") as f:
                json.dump({"pages": info["need"], "size_kb": info["size_kb"]}, f)
            os.replace(tmp, os.path.join(state.lab_dir(lab), LEDGER))
        return info


def _check_locked(need_mb, reserve, what, on_reserved, lab) -> dict:
    info = meminfo()
    need = pages_for(need_mb, info["size_kb"])
    others = set_aside(info["size_kb"], exclude=lab)
    held = sum(others.values())
    avail = max(0, info["free"] - info["reserved"] - held)
    want = max(need, reserve or 0)
    if reserve and avail < want:
        target = info["total"] + (want - avail)
        try:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(target))
        except OSError as e:
            raise EnvironmentProblem(f"cannot reserve hugepages (writing {target} to {NR_HUGEPAGES}: "
                                     f"{e.strerror})") from None
        before, asked = info["total"], want - avail
        info = meminfo()
        grown = max(0, info["total"] - before)
        if on_reserved and grown:
            on_reserved(grown)
        if grown < asked:   # judged by the pool's growth: pages other labs take meanwhile do not count
            raise EnvironmentProblem(
                f"asked the kernel for {asked} more hugepages of {info['size_kb']} kB ({want} free), got {grown} "
                f"(vm.nr_hugepages is {info['total']}{_held_text(others)}): not enough free contiguous "
                f"memory; free some memory, or reserve at boot (kernel parameter hugepages={before + asked})")
        avail += grown
    if avail < need:
        size = info["size_kb"]
        raise EnvironmentProblem(
            f"{what or 'this lab'} needs {need} hugepages of {size} kB ({need_mb} MB) but {avail} are free "
            f"(HugePages_Total {info['total']}, HugePages_Free {info['free']}, HugePages_Rsvd "
            f"{info['reserved']}{_held_text(others)}); reserve them with 'emulator deploy --hugepages {need}', "
            f"'hugepages: {{reserve: {need}}}' in the topology, or "
            f"'echo {info['total'] - avail + need} > {NR_HUGEPAGES}'")
    return {**info, "need": need, "set_aside": others}


def _held_text(others: dict[str, int]) -> str:
    if not others:
        return ""
    labs = ", ".join(f"'{k}' {v}" for k, v in sorted(others.items())[:5]) + (", ..." if len(others) > 5 else "")
    return f", {sum(others.values())} set aside for other labs' DPDK processes ({labs})"


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
                  if journal is not None else None, lab=a.lab)
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
        os.rmdir(state.inside(path, state.RUN_DIR))
    except OSError:
        pass
    with contextlib.suppress(OSError):   # the lab's ledger entry: its pages are no longer set aside
        os.unlink(state.inside(os.path.join(os.path.dirname(path), LEDGER), state.RUN_DIR))


def kill_tagged(needle: str, grace: float = 2.0) -> int:
    """SIGKILL live processes with an argument tagged by `needle`: exactly it (--file-prefix=emu-LAB.NODE,
    never a longer prefix that starts the same), or, for a directory ending in '/' (the lab's OVS run
    directory), a path inside it. Teardown finds processes by namespace first; this catches those
    whose namespace was deleted under them."""
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
        if any(_tagged(a, needle) for a in args):
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
    with pool_lock():   # not between another deploy's check and its reservation
        total = meminfo()["total"]
        try:
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(max(0, total - pages)))
        except OSError as e:
            raise OSError(f"cannot give back {pages} hugepages ({NR_HUGEPAGES}: {e.strerror})") from None


def _tagged(arg: str, needle: str) -> bool:
    if not needle.endswith("/"):
        return arg == needle
    value = arg.split("=", 1)[-1]          # --pidfile=DIR/x, --remote=punix:DIR/db.sock
    for scheme in ("unix:", "punix:"):
        value = value[len(scheme):] if value.startswith(scheme) else value
    return value.startswith(needle)


def _undo_runtime(rec: dict) -> None:
    """A DPDK process of one exact file prefix, if still alive, and its runtime directory."""
    prefix = rec["prefix"]
    if not prefix or "/" in prefix or prefix in (".", ".."):
        return
    kill_tagged(f"--file-prefix={prefix}")
    if rec.get("rundir"):   # the lab's OVS run directory, named in every OVS daemon's arguments
        kill_tagged(rec["rundir"].rstrip("/") + "/")
    shutil.rmtree(state.inside(runtime_dir(prefix), DPDK_RUNTIME), ignore_errors=True)


#: journal op -> undo handler (registered by the dpdk backend)
UNDO = {"hugetlbfs": _undo_mount, "hugepages-reserved": _undo_reserved, "dpdk-runtime": _undo_runtime}
