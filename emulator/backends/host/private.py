"""Private node filesystems: `private_dirs: [/etc/frr, /var/run/frr]` on a host or router.

A node's namespace shares the host's filesystem, so two routing daemons writing /etc/frr or
/var/run/frr collide. With `private_dirs`, the node gets its own mount namespace (kept by a bind
mount of its nsfs file, `/run/emulator/LAB/private/NODE.mnt`, as `ip netns` keeps network
namespaces) in which an empty directory of the lab's own (`/run/emulator/LAB/private/NODE/...`) is
bind-mounted over each path. The host's mount events still reach the node (slave propagation), the
node's never reach the host. Everything that runs in the node goes through it (hostcmd.in_netns:
startup commands, scenario steps, `emulator exec`, consoles), with /sys remounted for the node's
network namespace as `ip netns exec` does. Destroy unmounts it and removes the directories.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from ...deploy import actions as A
from ...deploy import hostcmd, state
from ...deploy.kernel import netns as kns
from ...errors import DeployError

SUBDIR = "private"
FORBIDDEN = ("/", "/proc", "/sys", "/dev", "/run", "/run/netns", "/tmp")   # and what lies under /proc, /sys, /dev
SCHEMA = {"type": "array", "uniqueItems": True, "maxItems": 64,
          "items": {"type": "string", "pattern": "^/", "description": "an absolute path of a directory"},
          "description": "directories this node sees privately (Mininet's privateDirs): an empty directory of "
                         "the node's own is mounted over each, in the node's mount namespace (startup "
                         "commands, exec, consoles see it; the host does not); removed at destroy"}


def base(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), SUBDIR)


def mount_ns_file(lab: str, node: str) -> str:
    return os.path.join(base(lab), f"{node}.mnt")


def check(paths: list) -> list[tuple[tuple, str, str | None]]:
    """Problems of the node's private_dirs (path under the node, message, hint); the host's
    directories must exist: the emulator does not create directories on the host."""
    problems = []
    for i, p in enumerate(paths or []):
        norm = os.path.normpath(p)
        if norm in FORBIDDEN or norm.startswith(("/proc/", "/sys/", "/dev/", "/run/netns/", "/run/emulator")) \
                or norm == state.RUN_DIR or norm.startswith(state.RUN_DIR + "/"):
            problems.append((("private_dirs", i), f"{p} cannot be private to a node",
                             "name the directory a program writes to, e.g. /etc/frr or /var/run/frr"))
        elif not os.path.isdir(norm):
            problems.append((("private_dirs", i), f"{p} is not a directory on this host",
                             "a private directory is mounted over an existing one (create it, or install the "
                             "package that does)"))
    return problems


def _encode(path: str) -> str:
    return os.path.normpath(path).strip("/").replace("/", "%")


@dataclass
class PrivateDirs(A.Action):
    lab: str = ""
    node: str = ""
    paths: list = field(default_factory=list)

    def __post_init__(self):
        self.phase, self.batch = A.SETUP, "private-dirs"

    def describe(self):
        return f"[{self.netns}] private directories {' '.join(map(shlex.quote, self.paths))}"

    @classmethod
    def apply_batch(cls, actions, ctx):
        by_lab: dict[str, list] = {}
        for a in actions:
            by_lab.setdefault(a.lab, []).append(a)
        for lab, acts in by_lab.items():
            _apply_lab(lab, acts, ctx)


def _journal(ctx, rec: dict) -> None:
    if ctx.journal is not None:
        ctx.journal.append([rec])


def _run(argv: list[str], what: str) -> None:
    r = hostcmd.run(argv, netns=None, timeout=30)
    if not r.ok:
        raise DeployError(f"{what}: {shlex.join(argv)}: {(r.stderr or r.stdout).strip()[:400]}")


def _apply_lab(lab: str, acts: list, ctx) -> None:
    root = base(lab)
    os.makedirs(root, exist_ok=True)
    # the directory holding the nsfs files must be a private mount (as /run/netns is for ip netns);
    # once: mounted again, it would hide the nodes' files mounted in it before
    if not _mounted(root):   # (os.path.ismount does not see a directory bind-mounted on itself)
        _journal(ctx, {"op": "private-mount", "lab": lab, "path": root})
        _run(["mount", "--bind", root, root], "private directories")
        _run(["mount", "--make-private", root], "private directories")
    for a in acts:
        nsfile = mount_ns_file(lab, a.node)
        home = os.path.join(root, a.node)
        os.makedirs(home, exist_ok=True)
        with open(nsfile, "w"):
            pass
        _journal(ctx, {"op": "private-mount", "lab": lab, "path": nsfile})
        net = f"--net={kns.path(a.netns)}"
        _run(["nsenter", net, "--", "unshare", f"--mount={nsfile}", "--propagation", "slave", "--", "true"],
             f"node {a.node}: its mount namespace")
        enter = ["nsenter", net, f"--mount={nsfile}", "--"]
        _run(enter + ["mount", "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", "/sys"],
             f"node {a.node}: /sys for its network namespace")
        for p in a.paths:
            d = os.path.join(home, _encode(p))
            os.makedirs(d, exist_ok=True)
            _run(enter + ["mount", "--bind", d, os.path.normpath(p)], f"node {a.node}: private {p}")


def plan(lab, node) -> list:
    paths = node.props.get("private_dirs") or []
    return [PrivateDirs(netns=node.netns, lab=lab.name, node=node.name, paths=list(paths))] if paths else []


def undo(rec: dict) -> None:
    """Unmount (lazily: a process of the node may still hold it) and remove; idempotent."""
    path = state.inside(rec["path"], state.lab_dir(rec["lab"]))
    if _mounted(path):
        hostcmd.run(["umount", "-l", path], timeout=30)
    if os.path.isdir(path) and not _mounted(path):
        import shutil
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.isfile(path):
        os.unlink(path)


def _mounted(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False
