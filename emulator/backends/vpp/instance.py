"""One VPP process per vpp node, in the node's namespace, with its own runtime directory:

    /run/emulator/LAB/vpp/NODE/startup.conf   what it was started with
    /run/emulator/LAB/vpp/NODE/setup.cli      the CLI commands that configured it (one a line)
    /run/emulator/LAB/vpp/NODE/{cli,api,stats}.sock, vpp.log, vpp.out (its stdout), vpp.pid
    /dev/shm/emu-LAB.NODE-vpe-api, -global_vm  its API segment (prefix emu-LAB.NODE)

The journal holds {"op": "vpp"} (run directory and prefix) before VPP starts and {"op":
"vpp-pid"} right after; teardown stops that PID (if its command line still names this
startup.conf), then removes the sockets, the two /dev/shm files of this prefix and the directory.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field

from ... import names
from ...deploy import actions as A
from ...deploy import hostcmd, state
from ...errors import DeployError
from . import config, find

PHASE = A.SWITCHPORTS + 1   # after the veths are up (af_packet takes them), before routes and exec
START_TIMEOUT = 30.0
LINK_TIMEOUT = float(os.environ.get("EMULATOR_VPP_LINK_TIMEOUT", 30))
CMD_TIMEOUT = 60.0   # s one configuration command may take (creating an af_packet port maps its rings)
_HW_UP = re.compile(r"^(\S+)\s+\d+\s+up\s", re.M)
# what VPP's CLI prints for a command it rejects: "unknown input `...'" or "<command path>: <why>"
_ERROR = re.compile(r"^(unknown input|\w[\w -]*: )", re.M)


def vppctl(ctl: str, sock: str, cmd: str, timeout: float = 10) -> str:
    r = hostcmd.run([ctl, "-s", sock] + cmd.split(), timeout=timeout)
    return (r.stdout + r.stderr).strip()


def configure_one(ctl: str, sock: str, cmd: str, where: str, node: str) -> None:
    """Run one configuration command; DeployError naming WHERE when VPP rejects it or does not answer
    (a timed-out vppctl printed nothing an error would show: the next command then failed instead)."""
    r = hostcmd.run([ctl, "-s", sock] + cmd.split(), timeout=CMD_TIMEOUT)
    out = (r.stdout + r.stderr).strip()
    if r.returncode == 124:
        raise DeployError(f"{where}: vpp node '{node}' did not answer `{cmd}` within {CMD_TIMEOUT:g} s")
    if rejected(cmd, out):
        raise DeployError(f"{where}: vpp node '{node}' rejected `{cmd}`: VPP says: {out}")


def rejected(cmd: str, out: str) -> bool:
    """Whether VPP's answer to a configuration command is an error (vppctl exits 0 either way)."""
    return bool(out) and not cmd.startswith("show") and bool(_ERROR.search(out))


@dataclass
class StartVpp(A.Action):
    lab: str = ""
    node: str = ""
    ns: str = ""                                   # the node's namespace, where VPP runs
    conf: str = ""
    commands: list = field(default_factory=list)   # [(command, "file:line")]
    notes: list = field(default_factory=list)      # how each interface is made (for plan)
    ifmap: dict = field(default_factory=dict)      # VPP's interface name -> the topology's
    where: str = ""                                # file:line of the node in the topology
    wait_up: list = field(default_factory=list)    # VPP interfaces up before deploy goes on (not those
                                                   # to dpdk-apps: they start later, and wait themselves)

    def __post_init__(self):
        # one batch for the whole lab (netns None): every VPP starts, then each is configured, then
        # the links are waited for (a memif master is up only once its slave, configured later, connects)
        self.phase, self.batch, self.netns = PHASE, "vpp", None

    def phase_label(self):
        return "VPP instances"

    @property
    def rundir(self) -> str:
        return config.run_dir(self.lab, self.node)

    def describe(self):
        lines = [f"[{self.ns}] vpp -c {self.rundir}/startup.conf"]
        lines += [f"    # {n}" for n in self.notes]
        lines += [f"    vppctl {c}" for c, _where in self.commands]
        return "\n".join(lines)

    def undo_record(self):
        return {"op": "vpp", "lab": self.lab, "node": self.node, "rundir": self.rundir,
                "prefix": names.vpp_prefix(self.lab, self.node)}

    @classmethod
    def apply_batch(cls, actions, ctx):
        if hostcmd.dry_run:
            return
        vpp, ctl = find.require()
        started = []
        for a in actions:   # start them all, then wait: they boot in parallel
            started.append((a, a.launch(vpp, ctx)))
            a.write_vppctl(ctl)
        for a, proc in started:
            a.wait_ready(ctl, proc)
        for a, proc in started:
            a.configure(ctl, proc)
        end = time.monotonic() + LINK_TIMEOUT   # memif peers connect, af_packet sees its veth: then traffic
        for a, proc in started:
            a.wait_links(ctl, proc, end)

    def launch(self, vpp: str, ctx):
        d = self.rundir
        os.makedirs(d, exist_ok=True)
        os.makedirs(os.path.join(state.lab_dir(self.lab), "sock"), exist_ok=True)   # memif sockets
        with open(os.path.join(d, "startup.conf"), "w") as f:
            f.write(self.conf)
        with open(os.path.join(d, "ifmap.json"), "w") as f:
            json.dump(self.ifmap, f)
        with open(os.path.join(d, "setup.cli"), "w") as f:
            f.write("".join(f"{c}\n" for c, _w in self.commands))
        proc = hostcmd.start([vpp, "-c", os.path.join(d, "startup.conf")], netns=self.ns,
                             log=os.path.join(d, "vpp.out"))
        with open(os.path.join(d, "vpp.pid"), "w") as f:
            f.write(f"{proc.pid}\n")
        if ctx.journal is not None:
            ctx.journal.append([{"op": "vpp-pid", "lab": self.lab, "node": self.node, "pid": proc.pid,
                                 "rundir": d}])
        return proc

    def write_vppctl(self, ctl: str) -> None:
        """RUNDIR/bin/vppctl: the node's own vppctl, first on PATH in what `emulator exec` runs there
        (a shell or the web UI's console too), so a plain `vppctl show int` reaches this VPP."""
        b = os.path.join(self.rundir, "bin")
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "vppctl"), "w") as f:
            f.write(f"#!/bin/sh\nexec {shlex.quote(ctl)} -s {shlex.quote(os.path.join(self.rundir, 'cli.sock'))} "
                    '"$@"\n')
            os.fchmod(f.fileno(), 0o755)

    def _failed(self, what: str) -> DeployError:
        return DeployError(f"{self.where}: vpp node '{self.node}': {what}\n{vpp_messages(self.rundir)}")

    def wait_ready(self, ctl: str, proc, timeout: float = START_TIMEOUT):
        sock = os.path.join(self.rundir, "cli.sock")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise self._failed(f"VPP exited at start (status {proc.returncode})")
            if os.path.exists(sock) and "vpp v" in vppctl(ctl, sock, "show version", timeout=5):
                return
            time.sleep(0.1)
        raise self._failed(f"VPP did not answer on {sock} within {timeout:g} s")

    def configure(self, ctl: str, proc):
        sock = os.path.join(self.rundir, "cli.sock")
        for cmd, where in self.commands:
            try:
                configure_one(ctl, sock, cmd, where, self.node)
            except DeployError:
                if proc.poll() is None:
                    raise
            if proc.poll() is not None:   # VPP's own exit is the better message than the command's
                raise self._failed(f"VPP exited after `{cmd}` ({where})")


    def wait_links(self, ctl: str, proc, end: float):
        sock = os.path.join(self.rundir, "cli.sock")
        down = list(self.wait_up)
        while down:
            if proc.poll() is not None:
                raise self._failed(f"VPP exited (status {proc.returncode})")
            text = vppctl(ctl, sock, "show hardware-interfaces brief", timeout=5)
            up = {m.group(1) for m in _HW_UP.finditer(text)}
            down = [i for i in self.wait_up if i not in up]
            if not down:
                return
            if time.monotonic() > end:
                raise self._failed(f"link still down after {LINK_TIMEOUT:g} s: {', '.join(down)}")
            time.sleep(0.05)


def vpp_messages(rundir: str, limit: int = 1500) -> str:
    """The end of VPP's own output (stdout, where it says why it stops) and log."""
    out = []
    for name in ("vpp.out", "vpp.log"):
        try:
            with open(os.path.join(rundir, name), errors="replace") as f:
                text = f.read()[-limit:].strip()
        except OSError:
            continue
        if text:
            out.append(f"{name} ends:\n{text}")
    return "\n".join(out) or f"(VPP wrote nothing in {rundir})"


# -- teardown ----------------------------------------------------------------------------------
def _ours(pid: int, rundir: str) -> bool:
    """Whether PID is a VPP started with RUNDIR/startup.conf (not a reused PID, not another VPP)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return os.path.join(rundir, "startup.conf").encode() in argv


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def stop(pid: int, rundir: str, grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not (_alive(pid) and _ours(pid, rundir)):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + grace
        while time.monotonic() < end and _alive(pid):
            time.sleep(0.05)


def _undo_pid(rec: dict) -> None:
    rundir = state.inside(str(rec["rundir"]), state.lab_dir(rec["lab"]))
    stop(int(rec["pid"]), rundir)


def _undo_vpp(rec: dict) -> None:
    lab, node = rec["lab"], names.check_node(rec["node"])
    rundir = state.inside(str(rec["rundir"]), state.lab_dir(lab))
    try:   # killed before its PID was journaled: the PID file it left
        with open(os.path.join(rundir, "vpp.pid")) as f:
            stop(int(f.read().strip()), rundir)
    except (OSError, ValueError):
        pass
    prefix = names.vpp_prefix(lab, node)
    if rec.get("prefix") == prefix:   # exactly this node's two files, never a pattern
        for suffix in config.SHM_SUFFIXES:
            try:
                os.unlink(os.path.join("/dev/shm", prefix + suffix))
            except FileNotFoundError:
                pass
    shutil.rmtree(rundir, ignore_errors=True)


UNDO = {"vpp": _undo_vpp, "vpp-pid": _undo_pid}
