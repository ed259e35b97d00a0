"""A small Python API in the spirit of Mininet's, and the `pingall` / `iperf` verbs.

    from emulator.net import Topo, Net

    t = Topo("demo")
    t.addHost("h1", ip="10.0.0.1/24")
    t.addHost("h2", ip="10.0.0.2/24")
    t.addSwitch("s1")                       # a Linux bridge; t.addSwitch("s1", ovs=True) for OVS
    t.addLink("h1", "s1", bw=100, delay="1ms")
    t.addLink("h2", "s1")
    with Net(t) as net:                     # validated like a YAML file, deployed; destroyed on exit
        print(net["h1"].cmd("ip -br addr"))
        assert net.pingall() == 0.0         # percent dropped, as Mininet's pingAll()

A `Topo` is the project's topology dict built by calls; errors name the Python file and line of
the call that added the node or link. `Net` also takes a topology file or a `Source`.
"""
from __future__ import annotations

import os
import sys
import tempfile

from . import lab as api
from .core.loader import Source
from .deploy import hostcmd
from .errors import UsageError


class Topo:
    def __init__(self, name: str = "net", **settings):
        self.data: dict = {"name": name, **settings, "nodes": {}, "links": []}
        self.values: dict = {}
        self.file = "<python>"

    def _where(self, path: tuple) -> None:
        f = sys._getframe(2)
        here = os.path.abspath(__file__)
        while f is not None and os.path.abspath(f.f_code.co_filename) == here:
            f = f.f_back
        if f is not None:
            self.file = f.f_code.co_filename
            self.values[path] = (f.f_lineno, 1)

    def addNode(self, name: str, kind: str, **props) -> str:
        self._where(("nodes", name))
        if isinstance(props.get("ip"), str):
            props["ip"] = [props["ip"]]
        self.data["nodes"][name] = {"kind": kind, **props}
        return name

    def addHost(self, name: str, **props) -> str:
        return self.addNode(name, "host", **props)

    def addRouter(self, name: str, **props) -> str:
        return self.addNode(name, "router", **props)

    def addSwitch(self, name: str, ovs: bool = False, **props) -> str:
        return self.addNode(name, "ovs" if ovs else "bridge", **props)

    def addLink(self, a: str, b: str, bw: float | str | None = None, **props) -> int:
        """a and b are NODE or NODE:INTERFACE; bw in Mbit/s as Mininet's (or '100mbit');
        delay, jitter, loss, mtu as in a topology file."""
        self._where(("links", len(self.data["links"])))
        link = {"endpoints": [a, b], **props}
        if bw is not None:
            link["bandwidth"] = bw if isinstance(bw, str) else f"{bw:g}mbit"
        if isinstance(link.get("loss"), (int, float)):
            link["loss"] = f"{link['loss']:g}%"
        self.data["links"].append(link)
        return len(self.data["links"]) - 1

    def source(self) -> Source:
        return Source(self.data, self.file, dict(self.values), dict(self.values))


class Node:
    def __init__(self, net: "Net", name: str):
        self.net, self.name = net, name

    def run(self, argv: list[str], timeout: float | None = 60) -> hostcmd.Result:
        return api.exec_in(self.net.name, self.name, list(argv), timeout=timeout)

    def cmd(self, command: str | list[str], timeout: float | None = 60) -> str:
        """Output (stdout then stderr) of a shell command (a string) or an argv, run in the node."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        r = self.run(argv, timeout)
        return r.stdout + r.stderr

    def IP(self) -> str | None:
        for i in self.net.state["nodes"][self.name]["interfaces"].values():
            for a in i["addresses"]:
                return a.split("/")[0]
        return None

    def __repr__(self):
        return f"<Node {self.name} of lab {self.net.name}>"


class Net:
    """A deployed lab: `with Net(topo) as net:` deploys, and destroys at the end of the block."""

    def __init__(self, topo: Topo | Source | str, start: bool = True):
        self.topo = topo
        self.state: dict | None = None
        if start:
            self.start()

    @property
    def name(self) -> str:
        return self.state["name"]

    def start(self) -> dict:
        src = self.topo.source() if isinstance(self.topo, Topo) else self.topo
        self.state = api.deploy(src)
        return self.state

    def stop(self) -> list[str]:
        if self.state is None:
            return []
        problems = api.destroy(self.name)
        self.state = None
        return problems

    def __enter__(self) -> "Net":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getitem__(self, node: str) -> Node:
        if self.state is None or node not in self.state["nodes"]:
            raise KeyError(node)
        return Node(self, node)

    def nodes(self) -> list[str]:
        return list(self.state["nodes"]) if self.state else []

    def pingall(self, timeout: float = 1.0) -> float:
        """Every addressed node pings every other; the percentage of pings dropped."""
        return pingall(self.name, timeout=timeout)["loss_pct"]

    def iperf(self, a: str, b: str, seconds: float = 2) -> dict:
        return iperf(self.name, a, b, seconds)


def _live_addresses(st: dict) -> dict:
    """A copy of the state where namespace nodes without addresses get the ones their startup
    commands gave them (a containerlab file's `ip addr add` in exec:)."""
    out = {**st, "nodes": {}}
    for name, n in st["nodes"].items():
        if n.get("kind") in ("host", "router") and not any(i["addresses"] for i in n["interfaces"].values()):
            r = hostcmd.run(["ip", "-o", "addr", "show", "scope", "global"], netns=n["netns"], timeout=10)
            addrs = []
            for line in r.stdout.splitlines():
                w = line.split()
                if len(w) > 3 and w[2] in ("inet", "inet6"):
                    addrs.append((w[2], w[3]))
            addrs.sort(key=lambda a: a[0] != "inet")   # IPv4 first, as the step picks the first
            n = {**n, "interfaces": {**n["interfaces"], "_live": {"addresses": [a for _f, a in addrs]}}}
        out["nodes"][name] = n
    return out


def _run_step(lab: str, step: str, args: dict) -> dict:
    from .scenario import steps
    st = api.get(lab)
    if st.get("status") != "running":
        raise UsageError(f"lab '{lab}' is {st.get('status')}, not running")
    with tempfile.TemporaryDirectory(prefix="emulator-") as d:   # the step's artifacts: not kept
        ctx = steps.RunContext(lab, _live_addresses(st), d)
        return steps.get(step).run(ctx, args).measurements


def pingall(lab: str, timeout: float = 1.0) -> dict:
    """Mininet's pingall on a running lab: {pairs, reachable, loss_pct, matrix, failed}."""
    return _run_step(lab, "pingall", {"timeout": timeout})


def iperf(lab: str, a: str, b: str, seconds: float = 2) -> dict:
    """iperf3 TCP from node a to node b (b runs the server): the step's measurements."""
    return _run_step(lab, "iperf3", {"client": a, "server": b, "duration": seconds})
