"""Building and loading the lab's eBPF programs, and where their pins live.

Each lab that uses an eBPF role gets, at deploy time (preflight), its own BPF filesystem mounted
at /run/emulator/LAB/bpf (a private bpffs instance: nothing is pinned in /sys/fs/bpf) and its
programs compiled from the C sources in bpf/ with clang's BPF target and libbpf's headers into
/run/emulator/LAB/ebpf/obj/. The mount is journaled before it is made, so `destroy` unmounts it
(and with it every pin) after a crash or a SIGKILL; the programs and maps go when the last pin
and attachment (the lab's interfaces, deleted with its namespaces) go.
"""
from __future__ import annotations

import json
import os
import shutil
import sysconfig
from dataclasses import dataclass

from ...deploy import actions as A, hostcmd, state
from ...errors import EnvironmentProblem
from . import MARKER

SRC = os.path.join(os.path.dirname(__file__), "bpf")
#: object name -> (source, extra clang flags, program type for bpftool)
OBJECTS = {
    "fw_tc": ("fw.c", [], "classifier"),
    "fw_xdp": ("fw.c", ["-DEMU_XDP"], "xdp"),
    "fwd_l2": ("fwd.c", [], "classifier"),
    "fwd_l3": ("fwd.c", ["-DEMU_L3"], "classifier"),
}
TOOLS = (("clang", "clang"), ("bpftool", "bpftool"), ("tc", "iproute2"))
HEADER = "/usr/include/bpf/bpf_helpers.h"


def bpffs(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "bpf")


def obj_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "ebpf", "obj")


def meta_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "ebpf", "attached")


def obj_path(lab: str, name: str) -> str:
    return os.path.join(obj_dir(lab), name + ".o")


def check_toolchain() -> None:
    """Exit 3 with the reason when this host cannot build or load the programs."""
    for binary, pkg in TOOLS:
        hostcmd.require(binary, pkg)
    if not os.path.exists(HEADER):
        raise EnvironmentProblem(f"the eBPF roles need libbpf's headers ({HEADER} is missing; "
                                 f"Debian/Ubuntu package: libbpf-dev)")


def compile_all(out_dir: str) -> None:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    inc = [f"-I/usr/include/{multiarch}"] if multiarch else []
    os.makedirs(out_dir, exist_ok=True)
    for name, (src, flags, _t) in OBJECTS.items():
        out = os.path.join(out_dir, name + ".o")
        r = hostcmd.run(["clang", "-O2", "-g", "-target", "bpf", *inc, *flags, "-c",
                         os.path.join(SRC, src), "-o", out], timeout=120)
        if not r.ok:
            raise EnvironmentProblem(f"clang cannot build the eBPF program {src} ({name}): "
                                     f"{(r.stderr or r.stdout).strip()[-600:]} (clang with the BPF target "
                                     f"and libbpf-dev are needed)")


def probe(lab: str) -> None:
    """Load every object once (the BPF syscall and the verifier accept it), then unpin it."""
    for name, (_s, _f, ptype) in OBJECTS.items():
        pin = os.path.join(bpffs(lab), "probe-" + name)
        r = hostcmd.run(["bpftool", "prog", "load", obj_path(lab, name), pin, "type", ptype])
        if os.path.exists(pin):
            os.unlink(state.inside(pin, bpffs(lab)))
        if not r.ok:
            raise EnvironmentProblem(f"this kernel does not load the eBPF program {name}: "
                                     f"{(r.stderr or r.stdout).strip()[-600:]} (BPF syscall, cls_bpf/XDP "
                                     f"and CAP_BPF are needed)")


@dataclass
class PrepareEbpf(A.Action):
    """Preflight: the toolchain is there, the lab's private bpffs is mounted, programs built and verified."""
    lab: str = ""
    users: str = ""

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.PREFLIGHT, "ebpf", None

    def describe(self):
        return (f"build the eBPF programs for {self.users} (clang -target bpf) into {obj_dir(self.lab)}; "
                f"mount -t bpf bpf {bpffs(self.lab)}")

    def undo_record(self):
        return {"op": "bpffs", "path": bpffs(self.lab)}

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            check_toolchain()
            mnt = bpffs(a.lab)
            os.makedirs(mnt, exist_ok=True)
            if not os.path.ismount(mnt):
                r = hostcmd.run(["mount", "-t", "bpf", "-o", "mode=700", "bpf", mnt])
                if not r.ok:
                    raise EnvironmentProblem(f"cannot mount a BPF filesystem on {mnt}: "
                                             f"{r.stderr.strip()} (the kernel needs CONFIG_BPF_SYSCALL)")
            compile_all(obj_dir(a.lab))
            probe(a.lab)


def _our_prog_ids(ebpf_dir: str) -> set[int]:
    ids = set()
    root = os.path.join(ebpf_dir, "attached")
    for node in (os.listdir(root) if os.path.isdir(root) else []):
        for f in os.listdir(os.path.join(root, node)):
            try:
                with open(os.path.join(root, node, f)) as fh:
                    ids.add(int(json.load(fh)["prog_id"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return ids


def detach_survivors(ids: set[int]) -> list[str]:
    """Detach the lab's programs (by program id: nothing else is touched) from devices in the host's
    namespace: a device that outlived the lab's namespaces (a host NIC moved back) would keep them
    loaded and running."""
    if not ids or shutil.which("bpftool") is None:
        return []
    r = hostcmd.run(["bpftool", "-j", "net", "show"])
    try:
        data = json.loads(r.stdout) if r.ok else []
    except ValueError:
        data = []
    done = []
    for entry in data:
        for x in entry.get("xdp", []):
            if x.get("id") in ids:
                flag = "xdpgeneric" if x.get("mode") == "generic" else "xdpoffload" if x.get("mode") == "offload" else "xdpdrv"
                hostcmd.run(["ip", "link", "set", "dev", x["devname"], flag, "off"])
                done.append(f"{x['devname']} xdp")
        for t in entry.get("tc", []):
            if t.get("id") in ids and t.get("kind") in ("clsact/ingress", "clsact/egress"):
                where = t["kind"].split("/")[1]
                hostcmd.run(["tc", "filter", "del", "dev", t["devname"], where, "prio", "1", "handle", "1", "bpf"])
                done.append(f"{t['devname']} tc {where}")
    return done


def undo_bpffs(rec: dict) -> None:
    """Detach the lab's programs from devices that left its namespaces, unmount the lab's bpffs
    (every pin in it goes with it) and remove its directories."""
    path = state.inside(rec["path"], state.RUN_DIR)
    detach_survivors(_our_prog_ids(os.path.join(os.path.dirname(path), "ebpf")))
    if os.path.ismount(path):
        r = hostcmd.run(["umount", path])
        if not r.ok:
            hostcmd.run(["umount", "-l", path])
    try:
        os.rmdir(path)
    except OSError:
        pass
    ebpf_dir = os.path.join(os.path.dirname(path), "ebpf")
    if os.path.isdir(ebpf_dir):
        shutil.rmtree(state.inside(ebpf_dir, state.RUN_DIR), ignore_errors=True)


def plan(lab) -> list:
    """The preflight action for a lab one of whose nodes runs the loader."""
    users = [n.name for n in lab.nodes.values() if any(MARKER in " ".join(argv) for argv in n.exec)]
    return [PrepareEbpf(lab=lab.name, users=", ".join(users))] if users else []
