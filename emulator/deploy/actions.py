"""Plan actions: small command objects that the planner orders and the executor applies.

Each action belongs to a phase (namespaces before links, links before
addresses...) and to a namespace. The executor applies all actions of one
phase, kind and namespace together: one netlink socket and one batched
request for every link, address and route of a namespace.

An action that creates something outside the lab's namespaces returns an
`undo_record()`; the journal stores it before the action runs, so teardown
can undo it after a crash. Everything created inside a lab namespace goes
away with the namespace and needs no record.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from . import hostcmd
from ..errors import DeployError
from .kernel import netlink, netns

# phases, in the order they are applied
NETNS, SETUP, SWITCHES, LINKS, PORTS, ROUTES, IMPAIR, EXEC = 10, 20, 30, 40, 50, 60, 70, 80
PREFLIGHT = 5  # host checks and host-wide set-up (hugepages) before anything of the lab exists
SWITCHPORTS = 55  # software-switch ports and flows (OVS), once their kernel ports are up
READY = 75  # wait until every port is up and every bridge port forwards (emulator/deploy/ready.py)
PHASE_NAMES = {PREFLIGHT: "preflight", SWITCHPORTS: "switch ports and flows", NETNS: "namespaces", SETUP: "node set-up", SWITCHES: "switches", LINKS: "links",
               PORTS: "interfaces and addresses", ROUTES: "routes", IMPAIR: "link impairments",
               READY: "ports forwarding", EXEC: "startup commands"}


class Context:
    """What actions need while they run: namespace fds, the journal, the lab tag."""

    def __init__(self, tag: str, journal=None, log_dir: str | None = None):
        self.tag = tag
        self.journal = journal
        self.log_dir = log_dir  # where startup-command output goes (one file per node)
        self._fds: dict[str, int] = {}
        self.lo_up: set[str] = set()   # namespaces whose lo CreateNetns set up and tagged
        self._procsys: netns.ProcSys | None = None

    def procsys(self) -> netns.ProcSys:
        """The sysctl writer of this deploy (started on first use, stopped by close())."""
        if self._procsys is None:
            self._procsys = netns.ProcSys()
        return self._procsys

    def close(self) -> None:
        self.close_fds()
        if self._procsys is not None:
            self._procsys.close()
            self._procsys = None

    def fd(self, ns: str) -> int:
        if ns not in self._fds:
            self._fds[ns] = netns.open_fd(ns)
        return self._fds[ns]

    def close_fds(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


@dataclass
class Action:
    phase: int = field(init=False, default=0)
    batch: str = field(init=False, default="")  # actions with the same batch kind and netns run together

    netns: str | None = None

    def describe(self) -> str:
        raise NotImplementedError

    def undo_record(self) -> dict | None:
        return None

    def phase_label(self) -> str | None:
        """What the progress shows for this action's phase, when not the phase's name."""
        return None

    @classmethod
    def apply_batch(cls, actions: list["Action"], ctx: Context) -> None:
        raise NotImplementedError


# -- namespaces ---------------------------------------------------------------
@dataclass
class CreateNetns(Action):
    name: str = ""

    def __post_init__(self):
        self.phase, self.batch, self.netns = NETNS, "netns", None

    def describe(self) -> str:
        return f"create network namespace {self.name}"

    # no undo_record(): the journal gets {"op": "netns"} only once the /run/netns file is
    # ours (created with O_EXCL), so a rollback never removes a namespace that was already there

    @classmethod
    def apply_batch(cls, actions, ctx):
        journal = ctx.journal
        def claimed(name: str, cookie: int | None) -> None:
            # the namespace's cookie: teardown knows it again by it, without a netlink request
            journal.append([{"op": "netns", "name": name, "tag": ctx.tag,
                             **({"cookie": cookie} if cookie is not None else {})}])
        for name, err in netns.create_many([a.name for a in actions], tag=ctx.tag, lo_up=True,
                                           on_claimed=claimed if journal is not None else None):
            if err is None:
                ctx.lo_up.add(name)   # its LoopbackUp is done: lo was set up with its tag
            if isinstance(err, FileExistsError):
                raise DeployError(f"network namespace {name} already exists (left alone): another lab with "
                                  f"this name is running, a crashed one left it (emulator cleanup), or it "
                                  f"is not the emulator's")
            if err is not None:
                raise DeployError(f"cannot create network namespace {name}: {err}")


@dataclass
class Sysctl(Action):
    key: str = ""        # e.g. net.ipv4.ip_forward
    value: str = ""

    def __post_init__(self):
        self.phase, self.batch = SETUP, "sysctl"

    def describe(self) -> str:
        return f"[{self.netns}] sysctl {self.key}={self.value}"

    @classmethod
    def apply_batch(cls, actions, ctx):
        errors = ctx.procsys().write(actions[0].netns, [(a.key, str(a.value)) for a in actions])
        for a, e in zip(actions, errors):
            if e is not None:
                raise DeployError(f"sysctl {a.key}={a.value} in {a.netns}: {e.strerror}")


# -- netlink ------------------------------------------------------------------
@dataclass
class NetlinkAction(Action):
    """Base of the actions sent as rtnetlink requests on a socket in `netns`."""

    def __post_init__(self):
        self.batch = "netlink"

    def add_to(self, batch: netlink.Batch, ctx: Context) -> None:
        raise NotImplementedError

    @classmethod
    def apply_batch(cls, actions, ctx):
        chunk = 256  # bounds the namespace fds held open at once
        with netlink.Socket(actions[0].netns) as sock:
            for start in range(0, len(actions), chunk):
                batch = netlink.Batch()
                for a in actions[start:start + chunk]:
                    a.add_to(batch, ctx)
                errors = sock.run(batch)
                ctx.close_fds()
                if errors:
                    e = errors[0]
                    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                    raise DeployError(f"in {actions[0].netns}: {e.what}: {e.strerror}"
                                      f"{' - ' + e.kmsg if e.kmsg else ''}{more}")


@dataclass
class LinkUp(NetlinkAction):
    index: int = 0
    device: str = ""
    master: int | None = None
    phase_: int = SETUP
    alias: str | None = None
    master_name: str = ""   # the master's device name, for describe() (the request carries the index)

    def __post_init__(self):
        super().__post_init__()
        self.phase = self.phase_

    def describe(self):
        m = f" master {self.master_name or '#' + str(self.master)}" if self.master else ""
        return f"[{self.netns}] ip link set {self.device}{m} up"

    def add_to(self, batch, ctx):
        attrs = netlink.attr_u32(netlink.IFLA_MASTER, self.master) if self.master else b""
        if self.alias:
            attrs += netlink.attr_str(netlink.IFLA_IFALIAS, self.alias)
        batch.add(netlink.Request(netlink.RTM_NEWLINK, 0,
                                  netlink.ifinfo(self.index, netlink.IFF_UP, netlink.IFF_UP) + attrs,
                                  f"set {self.device} up"))


@dataclass
class LoopbackUp(LinkUp):
    """`lo` up, tagged with the lab's tag. In a namespace this deploy created, the create's own
    request did both before the namespace was mounted (netns.create_many: one socket per
    namespace, not a second one here); applied on its own otherwise."""

    def __post_init__(self):
        super().__post_init__()
        self.batch = "loopback"

    @classmethod
    def apply_batch(cls, actions, ctx):
        todo = [a for a in actions if a.netns not in ctx.lo_up or a.alias != ctx.tag]
        if todo:
            super().apply_batch(todo, ctx)


@dataclass
class CreateBridge(NetlinkAction):
    device: str = ""
    index: int = 0
    mtu: int | None = None
    stp: bool = False

    def __post_init__(self):
        super().__post_init__()
        self.phase = SWITCHES

    def describe(self):
        stp = (f" stp_state 1 forward_delay {STP_TIMERS[0]} hello_time {STP_TIMERS[1]} "
               f"max_age {STP_TIMERS[2]}") if self.stp else ""
        return f"[{self.netns}] ip link add {self.device} index {self.index} type bridge{stp}"

    def add_to(self, batch, ctx):
        batch.bridge(self.device, self.index, ctx.tag, self.mtu, self.stp, STP_TIMERS)


# STP timers of `stp: true` bridges, in centiseconds (USER_HZ): forward delay 2 s, hello 1 s, max age
# 6 s, the kernel's minimums; with its defaults (15 s, 2 s, 20 s) a port forwards only after 30 s
STP_TIMERS = (200, 100, 600)


@dataclass
class CreateVeth(NetlinkAction):
    device: str = ""
    index: int = 0
    peer_netns: str = ""
    peer_device: str = ""
    peer_index: int = 0
    mac: str | None = None
    peer_mac: str | None = None
    mtu: int | None = None
    label: str = ""

    def __post_init__(self):
        super().__post_init__()
        self.phase = LINKS

    def describe(self):
        return (f"[{self.netns}] ip link add {self.device} index {self.index} type veth peer "
                f"{self.peer_device} index {self.peer_index} netns {self.peer_netns}")

    def add_to(self, batch, ctx):
        fd = None if self.peer_netns == self.netns else ctx.fd(self.peer_netns)
        batch.veth(self.device, self.index, self.peer_device, self.peer_index, fd, ctx.tag,
                   f"link {self.label} (veth {self.device} <-> {self.peer_device})",
                   mac=self.mac, peer_mac=self.peer_mac, mtu=self.mtu, up=False)


@dataclass
class AddAddress(NetlinkAction):
    index: int = 0
    device: str = ""
    cidr: str = ""

    def __post_init__(self):
        super().__post_init__()
        self.phase = PORTS

    def describe(self):
        return f"[{self.netns}] ip addr add {self.cidr} dev {self.device}"

    def add_to(self, batch, ctx):
        batch.address(self.index, self.cidr, f"address {self.cidr} on {self.device}")


@dataclass
class AddRoute(NetlinkAction):
    to: str = ""
    via: str | None = None
    oif: int | None = None
    device: str | None = None
    metric: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self.phase = ROUTES

    def describe(self):
        s = f"[{self.netns}] ip route add {self.to}"
        if self.via:
            s += f" via {self.via}"
        if self.device:
            s += f" dev {self.device}"
        if self.metric is not None:
            s += f" metric {self.metric}"
        return s

    def add_to(self, batch, ctx):
        batch.route(self.to, f"route {self.to}" + (f" via {self.via}" if self.via else ""),
                    via=self.via, oif=self.oif, metric=self.metric)


# -- processes ----------------------------------------------------------------
@dataclass
class TcBatch(Action):
    """tc commands for one namespace, run as one `tc -batch` process."""
    commands: list[str] = field(default_factory=list)
    label: str = ""

    def __post_init__(self):
        self.phase, self.batch = IMPAIR, "tc"

    def describe(self):
        return "\n".join(f"[{self.netns}] tc {c}" for c in self.commands)

    @classmethod
    def apply_batch(cls, actions, ctx):
        script = "".join(c + "\n" for a in actions for c in a.commands)
        r = hostcmd.run(["tc", "-batch", "-"], netns=actions[0].netns, input=script)
        if not r.ok:
            raise DeployError(f"tc in {actions[0].netns} failed: {r.stderr.strip() or r.stdout.strip()}")


EXEC_TIMEOUT = 120.0   # s a node's startup command may run (its `exec_timeout:` overrides)


@dataclass
class Exec(Action):
    node: str = ""
    argv: list[str] = field(default_factory=list)
    timeout: float = EXEC_TIMEOUT
    env: dict = field(default_factory=dict)

    def __post_init__(self):
        self.phase, self.batch = EXEC, "exec"

    def describe(self):
        return f"[{self.netns}] {shlex.join(self.argv)}"

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            log = os.path.join(ctx.log_dir, f"{a.node}.log") if ctx.log_dir else None
            r = hostcmd.run(a.argv, netns=a.netns, timeout=a.timeout, log=log, env=a.env)
            if not r.ok:
                detail = (r.stderr.strip() or r.stdout.strip() or "no output")[-800:]
                if r.returncode == 124:   # what hostcmd returns when it killed the command at the timeout
                    detail += (f"\n    (exit 124 is also a command stopped after its exec_timeout of "
                               f"{a.timeout:g} s)")
                raise DeployError(f"node {a.node}: startup command failed (exit {r.returncode}): "
                                  f"{shlex.join(a.argv)}\n    {detail}")


@dataclass
class TxChecksumOff(Action):
    """`ethtool -K DEV tx off` on the kernel node's end of a veth into a userspace datapath.

    OVS's netdev datapath reads and writes veths through packet sockets without the checksum
    metadata, and VPP's SRv6 encapsulation and decapsulation drop it: a TCP segment sent with a
    partial (offloaded) checksum arrives corrupt. With the checksum computed by the sender's (or the
    forwarding) kernel, TCP works (through OVS ~1 Gbit/s instead of nothing)."""
    device: str = ""
    label: str = ""

    def __post_init__(self):
        self.phase, self.batch = PORTS, "ethtool"

    def describe(self):
        return f"[{self.netns}] ethtool -K {self.device} tx off    # {self.label}"

    @classmethod
    def apply_batch(cls, actions, ctx):   # the actions of one namespace: one socket, an ioctl each
        from .kernel import ethtool
        failed = ethtool.tx_checksum_off(actions[0].netns, [a.device for a in actions])
        for a in actions:
            if a.device in failed:
                raise DeployError(f"ethtool -K {a.device} tx off in {a.netns} ({a.label}): "
                                  f"{failed[a.device].strerror}")
