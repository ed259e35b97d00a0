"""DPDK apps: dpdk-testpmd in a node's namespace, controlled through a FIFO at run time.

Each `dpdk-app` node runs one interactive `dpdk-testpmd`:

    /run/emulator/LAB/dpdk/NODE.json   how it was started (argv, ports, mode), for steps and inspect
    /run/emulator/LAB/dpdk/NODE.ctl    a FIFO on testpmd's stdin: write commands to it
    /run/emulator/LAB/logs/NODE.testpmd.log   testpmd's output (line-buffered)
    /run/emulator/LAB/hugepages/       the lab's hugetlbfs (--huge-dir); unmounted at destroy
    /run/emulator/LAB/sock/            vhost-user and memif sockets

testpmd opens the FIFO read-write, so it never sees end-of-file; anyone may write commands
(`echo 'show port stats all' > NODE.ctl`). Steps (emulator/backends/dpdk/steps.py) switch forwarding modes,
start and stop traffic and read the counters this way, without restarting the process: memif
clients do not reconnect, and OVS's vhost-user ports stay attached.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field

from ...core.driver import LabResource
from ...deploy import actions as A
from ...deploy import hostcmd, state
from ... import names
from ...errors import DeployError, LabError

TESTPMD = "dpdk-testpmd"
MODES = ["io", "mac", "macswap", "txonly", "rxonly", "flowgen", "icmpecho"]
#: modes whose nodes start forwarding at deploy; traffic endpoints wait for a traffic step
AUTOSTART = {"io", "mac", "macswap", "icmpecho"}
PROMPT = "testpmd> "


CPU_LIST = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1023}, "minItems": 1,
            "uniqueItems": True}


#: DPDK's dynamic memory mode lets a process grow past its -m / socket-mem (memif and vhost
#: rings, mempools): each gets this much headroom, or the last app of a tight pool fails to start
APP_HEADROOM_MB, OVS_HEADROOM_MB = 32, 128


def hugepage_users(lab) -> tuple[int, list[str]]:
    """MB of hugepages the lab's DPDK processes take (with headroom), and who takes them: the nodes
    whose drivers declare DPDK memory (`Driver.dpdk_memory`); a process shared by several nodes
    (the lab's ovs-vswitchd) counts once, after the nodes' own."""
    from ...core import drivers
    procs: dict[str, object] = {}
    for n in lab.nodes.values():
        m = drivers.get(n.kind).dpdk_memory(lab, n)
        if m is not None and m.process not in procs:
            procs[m.process] = m
    mb, who = 0, []
    for m in sorted(procs.values(), key=lambda m: m.shared):   # stable: nodes' own first, in node order
        mb += m.mb + m.headroom_mb
        who.append(f"{m.process} {m.mb}+{m.headroom_mb} MB")
    return mb, who


class Hugepages(LabResource):
    """The lab's hugepages: checked (and reserved when asked) once for all its DPDK processes."""
    name = "hugepages"

    def plan(self, lab):
        return [preflight(lab)]


def preflight(lab) -> A.Action:
    from . import hugepages
    mb, who = hugepage_users(lab)
    return hugepages.PrepareHugepages(lab=lab.name, need_mb=mb,
                                      reserve=(lab.props.get("hugepages") or {}).get("reserve"),
                                      mount=hugepages.lab_mount(state.lab_dir(lab.name)), users=", ".join(who))


def start_waves(actions: list) -> list[list]:
    """The apps in waves: an app starts once every memif server it connects to has started."""
    left = {a.node: a for a in actions}
    started: set[str] = set()
    waves = []
    while left:
        wave = [a for a in left.values() if all(d in started or d not in left for d in a.after)]
        if not wave:
            cycle = " -> ".join(sorted(left))
            raise DeployError(f"the memif links of {cycle} form a cycle of clients waiting for servers; "
                              f"swap the endpoints of one of them (a memif link's first endpoint is the server)")
        waves.append(wave)
        for a in wave:
            started.add(a.node)
            del left[a.node]
    return waves


def dpdk_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "dpdk")


def sock_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "sock")


def spec_path(lab: str, node: str) -> str:
    return os.path.join(dpdk_dir(lab), f"{names.check_node(node)}.json")


def file_prefix(lab: str, node: str) -> str:
    return names.dpdk_prefix(lab, node)   # emu-LAB.NODE: no other lab's node gets the same


def lcores(main: int, cores: list[int]) -> str:
    return ",".join([f"0@{main}"] + [f"{i + 1}@{c}" for i, c in enumerate(cores)])


@dataclass
class StartDpdkApps(A.Action):
    """Start the testpmd of every dpdk-app node, each after the memif servers it connects to (a memif
    client started before its server never connects), and wait until each is ready."""
    lab: str = ""
    node: str = ""
    ns: str = ""
    argv: list = field(default_factory=list)
    prefix: str = ""
    mode: str = "io"
    autostart: bool = True
    ports: list = field(default_factory=list)     # [{"interface", "vdev", "link"}]
    after: list = field(default_factory=list)    # nodes serving its memif client ports: started first
    burst: int = 32
    size: int = 64

    def __post_init__(self):
        # one batch for the whole lab (netns None): the order of starting matters across nodes
        self.phase, self.batch, self.netns = A.EXEC, "dpdk-apps", None

    def describe(self):
        from shlex import join
        return f"[{self.ns}] {join(self.argv)}" + ("; start" if self.autostart else "")

    def undo_record(self):
        return {"op": "dpdk-runtime", "prefix": self.prefix}

    def spec(self) -> dict:
        d = dpdk_dir(self.lab)
        return {"lab": self.lab, "node": self.node, "netns": self.ns, "argv": self.argv, "prefix": self.prefix,
                "mode": self.mode, "autostart": self.autostart, "ports": self.ports, "burst": self.burst,
                "size": self.size, "ctl": os.path.join(d, f"{self.node}.ctl"),
                "log": os.path.join(state.lab_dir(self.lab), "logs", f"{self.node}.testpmd.log")}

    @classmethod
    def apply_batch(cls, actions, ctx):
        if hostcmd.dry_run:
            return
        hostcmd.require(TESTPMD, "dpdk-dev")
        hostcmd.require("stdbuf", "coreutils")
        ordered = list(actions)
        for wave in start_waves(ordered):
            started = [(a, a.launch()) for a in wave]
            for a, (proc, spec) in started:
                a.wait_ready(proc, spec)
        # every port connected (OVS attaches to a vhost-user socket within its 1 s reconnect period,
        # a memif client to its server) before the lab counts as deployed: traffic sent earlier is lost
        end = time.monotonic() + 30
        for a in ordered:
            if a.ports:
                Testpmd.of(a.lab, a.node).wait_links_up(max(1.0, end - time.monotonic()))

    def launch(self):
        os.makedirs(dpdk_dir(self.lab), exist_ok=True)
        os.makedirs(sock_dir(self.lab), exist_ok=True)
        spec = self.spec()
        os.makedirs(os.path.dirname(spec["log"]), exist_ok=True)
        if os.path.lexists(spec["ctl"]):
            os.unlink(state.inside(spec["ctl"], dpdk_dir(self.lab)))
        os.mkfifo(spec["ctl"], 0o600)
        with open(spec_path(self.lab, self.node), "w") as f:
            json.dump(spec, f, indent=1)
        from shlex import join
        shell = f"exec {join(self.argv)} <>{spec['ctl']} >>{spec['log']} 2>&1"
        proc = hostcmd.start(["/bin/sh", "-c", shell], netns=self.ns)
        return proc, spec

    def wait_ready(self, proc, spec, timeout: float = 60.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = _read(spec["log"])
            if PROMPT in text:
                break
            if proc.poll() is not None:
                raise DeployError(f"dpdk-app {self.node}: dpdk-testpmd exited (status {proc.returncode}); "
                                  f"{spec['log']} ends:\n{text[-1500:]}")
            time.sleep(0.05)
        else:
            raise DeployError(f"dpdk-app {self.node}: dpdk-testpmd not ready after {timeout:g} s; "
                              f"{spec['log']} ends:\n{_read(spec['log'])[-1500:]}")
        with open(spec_path(self.lab, self.node), "w") as f:
            json.dump({**spec, "pid": proc.pid}, f, indent=1)
        if self.autostart:
            Testpmd(spec).run(["start"])


def _read(path: str, offset: int = 0) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class Testpmd:
    """A running testpmd of a lab, driven through its FIFO."""

    def __init__(self, spec: dict):
        self.spec = spec

    @classmethod
    def of(cls, lab: str, node: str) -> "Testpmd":
        try:
            with open(spec_path(lab, node)) as f:
                return cls(json.load(f))
        except FileNotFoundError:
            raise LabError(f"node '{node}' of lab '{lab}' is not a running dpdk-app") from None

    @property
    def node(self) -> str:
        return self.spec["node"]

    def links(self) -> list[bool]:
        """Link state of each port (up or not), from `show port info all`."""
        out = self.run(["show port info all"], until=r"Link status: \w+(?:.|\n)*" * max(1, len(self.spec["ports"])))
        return [m == "up" for m in re.findall(r"Link status: (\w+)", out)]

    def wait_links_up(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while True:
            state = self.links()
            if state and all(state):
                return
            if time.monotonic() > end:
                by_id = sorted(self.spec["ports"], key=lambda p: p["port"])   # DPDK's order: PCI ports first
                down = [p["interface"] + f" ({p['link']})" for p, up in zip(by_id, state) if not up]
                raise DeployError(f"dpdk-app {self.node}: port(s) {', '.join(down) or '?'} still down after "
                                  f"{timeout:g} s (the other end never connected); see {self.spec['log']}")
            time.sleep(0.1)

    def run(self, commands: list[str], timeout: float = 20.0, until: str | None = None,
            poll: float = 0.02) -> str:
        """Send commands; return their output once testpmd has prompted once per command (and,
        with `until`, once that regular expression matches the output). `poll`: seconds between
        looks at the log (paced traffic looks every millisecond)."""
        log = self.spec["log"]
        start = os.path.getsize(log) if os.path.exists(log) else 0
        try:
            fd = os.open(self.spec["ctl"], os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise DeployError(f"dpdk-app {self.node}: testpmd is not running ({self.spec['ctl']}: "
                              f"{e.strerror})") from None
        try:
            os.write(fd, "".join(c + "\n" for c in commands).encode())
        finally:
            os.close(fd)
        end = time.monotonic() + timeout
        while True:
            text = _read(log, start)
            if text.count(PROMPT) >= len(commands) and (until is None or re.search(until, text)):
                return text
            if time.monotonic() > end:
                raise DeployError(f"dpdk-app {self.node}: no answer from testpmd to {commands} after "
                                  f"{timeout:g} s; output: {text[-800:]!r}")
            time.sleep(poll)


STOPPED = r"Accumulated forward statistics[^\n]*\n(?:.*\n){3}|Forward statistics for port \d+[^\n]*\n(?:.*\n){2}.*TX-total|Packet forwarding not started"
RATES = r"Tx-pps:\s*\d+\s+Tx-bps:\s*\d+"
_ACC = re.compile(r"Accumulated forward statistics for all ports\+*\s*"
                  r"RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)\s+RX-total:\s*(\d+)\s*"
                  r"TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)\s+TX-total:\s*(\d+)")
_FWD1 = re.compile(r"Forward statistics for port (\d+)\s*-*\s*"
                   r"RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)\s+RX-total:\s*(\d+)\s*"
                   r"TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)\s+TX-total:\s*(\d+)")
_RATE = re.compile(r"statistics for port (\d+)\s+#+.*?Rx-pps:\s*(\d+)\s+Rx-bps:\s*(\d+)\s+"
                   r"Tx-pps:\s*(\d+)\s+Tx-bps:\s*(\d+)", re.S)
_NIC = re.compile(r"statistics for port (\d+)\s+#+\s*RX-packets:\s*(\d+)\s+RX-missed:\s*(\d+)\s+RX-bytes:\s*(\d+)"
                  r".*?TX-packets:\s*(\d+)\s+TX-errors:\s*(\d+)\s+TX-bytes:\s*(\d+)", re.S)


def parse_forward_stats(text: str) -> dict:
    """The last 'stop' block: accumulated rx/tx packets and drops (since the last 'start')."""
    m = list(_ACC.finditer(text))
    if not m:
        ports = list(_FWD1.finditer(text))   # one port: testpmd prints no accumulated block
        if not ports:
            return {}
        g = [int(x) for x in ports[-1].groups()[1:]]
    else:
        g = [int(x) for x in m[-1].groups()]
    return {"rx_packets": g[0], "rx_dropped": g[1], "rx_total": g[2],
            "tx_packets": g[3], "tx_dropped": g[4], "tx_total": g[5]}


def parse_rates(text: str) -> dict[int, dict]:
    """`show port stats all`: per port, the rates since the previous show."""
    out = {}
    for m in _RATE.finditer(text):
        out[int(m.group(1))] = {"rx_pps": int(m.group(2)), "rx_bps": int(m.group(3)),
                                "tx_pps": int(m.group(4)), "tx_bps": int(m.group(5))}
    return out


def parse_nic(text: str) -> dict[int, dict]:
    out = {}
    for m in _NIC.finditer(text):
        out[int(m.group(1))] = {"rx_packets": int(m.group(2)), "rx_missed": int(m.group(3)),
                                "rx_bytes": int(m.group(4)), "tx_packets": int(m.group(5)),
                                "tx_errors": int(m.group(6)), "tx_bytes": int(m.group(7))}
    return out
