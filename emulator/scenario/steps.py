"""Scenario steps: a registry of step types, each with its JSON Schema and a `run()`.

A step in a scenario is a mapping with one step-type key (`ping:`, `iperf3:`...)
and optional `name:`, `expect:` and `reference:`. Later issues add step types
(DPDK traffic, network-service checks) in their `register()` (emulator/backends/).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ..deploy import hostcmd, runtime
from .. import units
from ..errors import EmulatorError, EnvironmentProblem, UsageError
from ..core.model import Impairment
from .. import registry


class StepError(EmulatorError):
    """The step could not be carried out (a command failed, a node is unknown)."""


@dataclass
class StepResult:
    measurements: dict = field(default_factory=dict)
    series: dict = field(default_factory=dict)
    artifacts: list = field(default_factory=list)
    summary: str = ""          # one line for the progress output


@dataclass
class RunContext:
    """What a step sees: the running lab and where to put what it produces."""
    lab: str
    state: dict
    artifacts_dir: str
    params: dict = field(default_factory=dict)
    background: list = field(default_factory=list)   # (name, Popen, log path) stopped at the end of the run
    lock: threading.Lock = field(default_factory=threading.Lock)
    order: threading.local = field(default_factory=threading.local, repr=False)   # per step of a parallel group

    def started(self) -> None:
        """The running step's work is under way (link_monitor: its baseline is taken): the steps of its
        parallel group with `after: {started: THIS}` start now (by default, when run() returns)."""
        ev = getattr(self.order, "started", None)
        if ev is not None:
            ev.set()

    def has_until(self) -> bool:
        """Whether the running step has an `until:` sibling (sleep() may end early)."""
        return getattr(self.order, "stop", None) is not None

    def sleep(self, secs: float) -> bool:
        """Sleep SECS, or less when the step's `until:` sibling finishes first (then True)."""
        ev = getattr(self.order, "stop", None)
        if ev is None:
            time.sleep(secs)
            return False
        return ev.wait(secs)

    def netns(self, node: str) -> str:
        try:
            return self.state["nodes"][node]["netns"]
        except KeyError:
            raise StepError(f"lab '{self.lab}' has no node '{node}' (nodes: "
                            f"{', '.join(list(self.state['nodes'])[:30])})") from None

    def address(self, target: str, family: int = 4) -> str:
        """A node name -> its first address of that family; an address stays as it is."""
        try:
            return str(ipaddress.ip_address(target))
        except ValueError:
            pass
        node = self.state["nodes"].get(target)
        if node is None:
            raise StepError(f"'{target}' is neither an address nor a node of lab '{self.lab}'")
        for i in node["interfaces"].values():
            for a in i["addresses"]:
                if ipaddress.ip_interface(a).version == family:
                    return a.split("/")[0]
        raise StepError(f"node '{target}' has no IPv{family} address")

    def artifact(self, name: str) -> str:
        os.makedirs(self.artifacts_dir, exist_ok=True)
        return os.path.join(self.artifacts_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", name))


class Step:
    type: str = ""
    summary: str = ""
    schema: dict = {}
    #: metrics a step reports, for --help and for checking `expect:` keys early
    metrics: tuple = ()
    #: fields that name a node (a string or a list of them), a node or an address, a link end NODE:IF:
    #: the scenario checks them against the compiled topology before anything is deployed
    node_fields: tuple = ()
    target_fields: tuple = ()
    endpoint_fields: tuple = ()
    interface_fields: dict = {}   # field naming an interface -> the field naming its node
    #: its run() waits for a while through ctx.sleep(), so `until: SIBLING` can end it early
    stoppable: bool = False

    def default_name(self, args) -> str:
        return self.type

    def check(self, args) -> list[tuple[tuple, str]]:
        """Problems with the values (after parameter substitution) that the schema cannot see,
        as (path inside the step, message); by default every duration field is parsed."""
        if self.schema is DURATION:
            return [((), m) for m in _duration_problem(args)]
        out = []
        for key, sub in (self.schema.get("properties") or {}).items():
            if sub is DURATION and isinstance(args, dict) and args.get(key) is not None:
                out += [((key,), m) for m in _duration_problem(args[key])]
        return out

    def default_expect(self, args) -> dict:
        return {}

    def check_topology(self, lab, args) -> list[tuple[tuple, str]]:
        """Problems with the values against the compiled topology (emulator.core.model.Lab) that the
        fields above cannot say, as (path inside the step, message); checked before deploy."""
        return []

    def run(self, ctx: RunContext, args) -> StepResult:
        raise NotImplementedError


def get(name: str) -> Step:
    return registry.active().steps.get(name)


def names() -> list[str]:
    return registry.active().steps.names()


DURATION = {"type": ["string", "number"], "description": "seconds, or e.g. 500ms, 2s"}


def seconds(v, default: float | None = None) -> float:
    if v is None:
        return default
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return units.duration(v if re.search(r"[a-z]", str(v)) else f"{v}s")


def _duration_problem(v) -> list[str]:
    try:
        secs = seconds(v)
    except ValueError as e:
        return [str(e)]
    if not 0 <= secs <= 86400:   # also nan
        return [f"'{v}' is out of range (0 to 24 hours)"]
    return []


def _argv(cmd) -> list[str]:
    return ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(c) for c in cmd]


# -- ping -------------------------------------------------------------------------
_PING_SUM = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


def parse_ping(out: str) -> dict:
    m = {"sent": 0, "received": 0, "loss_pct": 100.0}
    s = _PING_SUM.search(out)
    if s:
        sent, recv = int(s.group(1)), int(s.group(2))
        m.update(sent=sent, received=recv, loss_pct=round(100.0 * (sent - recv) / sent, 3) if sent else 100.0)
    r = _PING_RTT.search(out)
    if r:
        m.update(rtt_min_ms=float(r.group(1)), rtt_avg_ms=float(r.group(2)), rtt_max_ms=float(r.group(3)),
                 rtt_mdev_ms=float(r.group(4)))
    return m


def _ping_argv(dst: str, count: int, interval: float | None, size: int | None, wait: float) -> list[str]:
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(max(1, int(round(wait))))]
    if interval is not None:
        argv += ["-i", f"{interval:g}"]
    if size is not None:
        argv += ["-s", str(size)]
    if ":" in dst:
        argv.insert(1, "-6")
    return argv + [dst]


class Ping(Step):
    type = "ping"
    node_fields, target_fields = ("from",), ("to",)
    summary = ("ping from one node to another node (its first address) or an address; with until: SIBLING, "
               "until that step has finished (at most count packets)")
    metrics = ("sent", "received", "loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "error")
    stoppable = True
    schema = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
              "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                             "count": {"type": "integer", "minimum": 1}, "interval": DURATION,
                             "size": {"type": "integer", "minimum": 0, "maximum": 65507},
                             "timeout": DURATION, "ipv6": {"type": "boolean"}}}

    def default_name(self, a):
        return f"ping {a['from']} -> {a['to']}"

    def default_expect(self, a):
        return {"loss_pct": "== 0"}

    def run(self, ctx, a):
        dst = ctx.address(a["to"], 6 if a.get("ipv6") else 4)
        count = a.get("count", 3)
        interval = seconds(a.get("interval"))
        wait = seconds(a.get("timeout"), 2.0)
        argv = _ping_argv(dst, count, interval, a.get("size"), wait)
        if ctx.has_until():
            r = self._until(ctx, a, argv, wait)
        else:
            r = hostcmd.run(argv, netns=ctx.netns(a["from"]), timeout=count * (interval or 1) + wait + 10)
        m = parse_ping(r.stdout)
        if not _PING_SUM.search(r.stdout):
            # e.g. "Network is unreachable": nothing could be sent, which is 100% loss to the user
            why = (r.stderr or r.stdout).strip()[:300]
            m["error"] = why
            return StepResult(m, summary=f"no replies: {why}")
        rtt = f", rtt avg {m['rtt_avg_ms']:.3f} ms" if "rtt_avg_ms" in m else ""
        return StepResult(m, summary=f"{m['received']}/{m['sent']} replies{rtt}")


    def _until(self, ctx, a, argv, wait):
        """Ping in the background until the until: sibling has finished, then SIGINT (ping's summary)."""
        log = ctx.artifact(f"ping-{a['from']}-{a['to']}-{time.monotonic_ns()}.log")
        p = hostcmd.start(argv, netns=ctx.netns(a["from"]), log=log)
        try:
            while p.poll() is None and not ctx.sleep(0.05):
                pass
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=wait + 10)
        finally:
            hostcmd.stop(p)
        with open(log) as f:
            text = f.read()
        return hostcmd.Result(argv, p.returncode, text, "" if _PING_SUM.search(text) else text)


class PingAll(Step):
    type = "pingall"
    node_fields = ("nodes",)
    summary = "every addressed node pings every other one (Mininet's pingall), in parallel"
    metrics = ("pairs", "reachable", "loss_pct", "matrix")
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"count": {"type": "integer", "minimum": 1}, "timeout": DURATION,
                             "nodes": {"type": "array", "items": {"type": "string"}},
                             "parallel": {"type": "integer", "minimum": 1}}}

    def default_expect(self, a):
        return {"loss_pct": "== 0"}

    def run(self, ctx, a):
        a = a or {}
        nodes = a.get("nodes") or [n for n, d in ctx.state["nodes"].items()
                                   if any(i["addresses"] for i in d["interfaces"].values())]
        targets = {}
        for n in nodes:
            try:
                targets[n] = ctx.address(n)
            except StepError:
                pass
        pairs = [(s, d) for s in targets for d in targets if s != d]
        count, wait = a.get("count", 1), seconds(a.get("timeout"), 1.0)
        results: dict[tuple, bool] = {}
        width = a.get("parallel", 32)
        for i in range(0, len(pairs), width):
            procs = []
            for s, d in pairs[i:i + width]:
                procs.append(((s, d), hostcmd.start(_ping_argv(targets[d], count, 0.2 if count > 1 else None,
                                                               None, wait), netns=ctx.netns(s))))
            for key, p in procs:
                try:
                    results[key] = p.wait(timeout=count + wait + 10) == 0
                except subprocess.TimeoutExpired:
                    hostcmd.stop(p)
                    results[key] = False
        matrix = {s: {d: results[(s, d)] for d in targets if d != s} for s in targets}
        ok = sum(results.values())
        loss = round(100.0 * (len(pairs) - ok) / len(pairs), 3) if pairs else 0.0
        failed = [f"{s}->{d}" for (s, d), v in results.items() if not v]
        summary = f"{ok}/{len(pairs)} pairs reachable" + (f"; failed: {', '.join(failed[:8])}" if failed else "")
        return StepResult({"pairs": len(pairs), "reachable": ok, "loss_pct": loss, "matrix": matrix,
                           "failed": failed}, summary=summary)


# -- iperf3 -------------------------------------------------------------------------
class Iperf3(Step):
    type = "iperf3"
    node_fields = ("client", "server")
    summary = "iperf3 TCP or UDP between two nodes; throughput per interval and in sum, retransmits, CPU"
    metrics = ("throughput_bps", "throughput_trimmed_bps", "sent_bps", "retransmits", "sender_cpu_pct",
               "receiver_cpu_pct", "lost_pct", "jitter_ms", "intervals")
    schema = {"type": "object", "additionalProperties": False, "required": ["client", "server"],
              "properties": {"client": {"type": "string"}, "server": {"type": "string"},
                             "address": {"type": "string", "description": "server address (default: its first)"},
                             "protocol": {"enum": ["tcp", "udp"]}, "duration": DURATION,
                             "parallel": {"type": "integer", "minimum": 1, "maximum": 128},
                             "reverse": {"type": "boolean"}, "bitrate": {"type": ["string", "integer"]},
                             "length": {"type": ["string", "integer"]}, "interval": DURATION,
                             "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                             "omit": {"type": "integer", "minimum": 0},
                             "extra": {"type": "array", "items": {"type": "string"}}}}

    def default_name(self, a):
        return f"iperf3 {a['client']} -> {a['server']}"

    def run(self, ctx, a):
        if hostcmd.dry_run is False and not _which("iperf3"):
            raise EnvironmentProblem("iperf3 is not installed (Debian package iperf3)")
        dst = a.get("address") or ctx.address(a["server"])
        port = a.get("port", 5201)
        duration = seconds(a.get("duration"), 10.0)
        log = ctx.artifact(f"iperf3-server-{a['server']}-{port}.log")
        server = hostcmd.start(["iperf3", "-s", "-1", "-J", "-p", str(port)], netns=ctx.netns(a["server"]), log=log)
        try:
            _wait_listening(ctx.netns(a["server"]), port)
            argv = ["iperf3", "-c", dst, "-p", str(port), "-J", "--get-server-output", "-t", f"{duration:g}",
                    "-i", f"{seconds(a.get('interval'), 1.0):g}"]
            if a.get("protocol") == "udp":
                argv.append("-u")
            if a.get("parallel"):
                argv += ["-P", str(a["parallel"])]
            if a.get("reverse"):
                argv.append("-R")
            if a.get("bitrate") is not None:
                argv += ["-b", str(a["bitrate"])]
            if a.get("length") is not None:
                argv += ["-l", str(a["length"])]
            if a.get("omit"):
                argv += ["-O", str(a["omit"])]
            argv += list(a.get("extra", []))
            r = hostcmd.run(argv, netns=ctx.netns(a["client"]), timeout=duration + 30)
        finally:
            hostcmd.stop(server)
        path = ctx.artifact(f"iperf3-{a['client']}-{a['server']}-{port}.json")
        m, series = iperf3_result(r, path)
        return StepResult(m, series, [path], summary=f"{units.human_rate(m['throughput_bps'])}"
                          + (f", {m['retransmits']} retransmits" if m.get("retransmits") is not None else ""))


def iperf3_result(r, path: str, what: str = "iperf3", tail: bool = False) -> tuple[dict, dict]:
    """Keep the JSON of a finished `iperf3 -c ... -J` run R (hostcmd.run's result) at PATH and read it
    (parse_iperf3). StepError naming WHAT where it reported an error, or wrote no JSON: then with its
    exit code and the start of what it said (TAIL: the end, where its own message follows others' logs)."""
    with open(path, "w") as f:
        f.write(r.stdout)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        said = (r.stderr or r.stdout).strip()
        raise StepError(f"{what} failed (exit {r.returncode}): {said[-300:] if tail else said[:300]}") from None
    if data.get("error"):
        raise StepError(f"{what}: {data['error']}")
    return parse_iperf3(data)


def parse_iperf3(data: dict) -> tuple[dict, dict]:
    end = data.get("end", {})
    # iperf3 3.12 writes sum_received for UDP too: the protocol it ran says which it was
    proto = data.get("start", {}).get("test_start", {}).get("protocol")
    udp = proto == "UDP" if proto else ("sum" in end and "sum_received" not in end)
    if udp:
        recv = end.get("sum", {})
        sent = recv
    else:
        recv = end.get("sum_received", {})
        sent = end.get("sum_sent", {})
    ts, bps = [], []
    # per-interval throughput as the receiver saw it (the sender's intervals count bytes written
    # into its socket buffer, which run ahead of a shaped link)
    server = data.get("server_output_json") or {}
    receiver_side = not data.get("start", {}).get("test_start", {}).get("reverse")
    intervals = server.get("intervals") if receiver_side and server.get("intervals") else data.get("intervals", [])
    for iv in intervals:
        s = iv.get("sum", {})
        if s.get("omitted") or s.get("seconds", 1.0) < 0.25:  # omitted, or a sliver at the very end
            continue
        ts.append(round(s.get("end", 0.0), 3))
        bps.append(s.get("bits_per_second", 0.0))
    trimmed = bps[1:-1] if len(bps) >= 3 else bps
    cpu = end.get("cpu_utilization_percent", {})
    m = {
        "throughput_bps": recv.get("bits_per_second", 0.0),
        "throughput_trimmed_bps": sum(trimmed) / len(trimmed) if trimmed else recv.get("bits_per_second", 0.0),
        "sent_bps": sent.get("bits_per_second", 0.0),
        "bytes": recv.get("bytes", 0),
        "retransmits": sent.get("retransmits"),
        "sender_cpu_pct": cpu.get("host_total"),
        "receiver_cpu_pct": cpu.get("remote_total"),
        "protocol": "udp" if udp else "tcp",
        "intervals": len(bps),
    }
    if udp:
        m.update(lost_pct=recv.get("lost_percent"), jitter_ms=recv.get("jitter_ms"))
    return m, {"t_s": ts, "throughput_bps": bps}


def _which(binary: str) -> bool:
    import shutil
    return shutil.which(binary) is not None


def _wait_listening(netns: str, port: int, timeout: float = 5.0) -> None:
    """Wait until something listens on the TCP port inside the namespace (iperf3 -s is up)."""
    end = time.monotonic() + timeout
    needle = f":{port:04X} "
    while time.monotonic() < end:
        r = hostcmd.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], netns=netns, timeout=5)
        if any(needle in line and line.split()[3] == "0A" for line in r.stdout.splitlines()[1:]
               if len(line.split()) > 3):
            return
        time.sleep(0.05)


# -- exec, background, wait ---------------------------------------------------------
class Exec(Step):
    type = "exec"
    node_fields = ("node",)
    summary = "run a command in a node; expect its exit status and output"
    metrics = ("exit_code", "stdout", "stderr", "duration_s")
    schema = {"type": "object", "additionalProperties": False, "required": ["node", "cmd"],
              "properties": {"node": {"type": "string"},
                             "cmd": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                             "timeout": DURATION}}

    def default_name(self, a):
        c = a["cmd"] if isinstance(a["cmd"], str) else shlex.join(a["cmd"])
        return f"{a['node']}: {c[:40]}"

    def default_expect(self, a):
        return {"exit_code": 0}

    def run(self, ctx, a):
        t0 = time.monotonic()
        r = hostcmd.run(_argv(a["cmd"]), netns=ctx.netns(a["node"]), timeout=seconds(a.get("timeout"), 60.0))
        m = {"exit_code": r.returncode, "stdout": r.stdout[-10000:], "stderr": r.stderr[-10000:],
             "duration_s": round(time.monotonic() - t0, 3)}
        first = (r.stdout.strip().splitlines() or [""])[0][:60]
        return StepResult(m, summary=f"exit {r.returncode}" + (f": {first}" if first else ""))


class Background(Step):
    type = "background"
    node_fields = ("node",)
    summary = "start a command in a node and leave it running until the end of the run"
    metrics = ("pid",)
    schema = {"type": "object", "additionalProperties": False, "required": ["node", "cmd"],
              "properties": {"node": {"type": "string"},
                             "cmd": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}

    def default_name(self, a):
        return f"background {a['node']}"

    def run(self, ctx, a):
        log = ctx.artifact(f"background-{a['node']}-{len(ctx.background)}.log")
        p = hostcmd.start(_argv(a["cmd"]), netns=ctx.netns(a["node"]), log=log)
        with ctx.lock:
            ctx.background.append((a["node"], p, log))
        time.sleep(0.05)
        if p.poll() not in (None, 0):
            raise StepError(f"exited at once with status {p.returncode} (see {log})")
        return StepResult({"pid": p.pid}, artifacts=[log], summary=f"pid {p.pid}")


class Wait(Step):
    type = "wait"
    summary = "sleep for a while (e.g. wait: 2s; with until: SIBLING, at most that long)"
    metrics = ("cut_short",)
    schema = DURATION
    stoppable = True

    def default_name(self, a):
        return f"wait {a}"

    def run(self, ctx, a):
        cut = ctx.sleep(seconds(a))
        return StepResult({"cut_short": cut}, summary="ended by its until: step" if cut else "")


class WaitPackets(Step):
    type = "wait_packets"
    endpoint_fields = ("endpoint",)
    summary = ("wait until a link end has sent (or received) N more packets (the kernel's interface counters, "
               "from when the step starts), or fail after a timeout: e.g. a fault once a flow runs")
    metrics = ("packets", "waited_s")
    schema = {"type": "object", "additionalProperties": False, "required": ["endpoint"],
              "properties": {"endpoint": {"type": "string", "description": "NODE:IF"},
                             "sent": {"type": "integer", "minimum": 1}, "received": {"type": "integer", "minimum": 1},
                             "timeout": DURATION, "interval": DURATION},
              "oneOf": [{"required": ["sent"]}, {"required": ["received"]}]}

    def default_name(self, a):
        n, way = (a["sent"], "from") if "sent" in a else (a.get("received"), "to")
        return f"wait for {n} packets {way} {a['endpoint']}"

    def run(self, ctx, a):
        node, _, ifname = a["endpoint"].partition(":")
        i = ctx.state["nodes"].get(node, {}).get("interfaces", {}).get(ifname) or {}
        if not i.get("device"):
            raise StepError(f"{a['endpoint']} is not a kernel device of lab '{ctx.lab}'")
        key, want = ("tx_packets", a["sent"]) if "sent" in a else ("rx_packets", a["received"])
        from ..deploy.kernel import netlink

        def count(sock) -> int:   # one request on a socket kept open (not a process per poll)
            links = sock.get_links([i["index"]])
            if not links or "stats" not in links[0]:
                raise StepError(f"{a['endpoint']}: no device {i['device']} (index {i['index']}) any more")
            return links[0]["stats"][key]
        timeout, interval = seconds(a.get("timeout"), 60.0), seconds(a.get("interval"), 0.05)
        with netlink.Socket(i.get("netns")) as sock:
            t0, base = time.monotonic(), count(sock)
            while (n := count(sock) - base) < want:
                if time.monotonic() - t0 >= timeout:
                    raise StepError(f"{a['endpoint']}: {n} packet(s) {'sent' if key == 'tx_packets' else 'received'} "
                                    f"in {timeout:g} s, waiting for {want}")
                time.sleep(interval)
        waited = time.monotonic() - t0
        return StepResult({"packets": n, "waited_s": round(waited, 3)}, summary=f"{n} packets after {waited:.1f} s")


class WaitFor(Step):
    type = "wait_for"
    node_fields = ("node",)
    summary = "repeat a command in a node until it succeeds, or fail after a timeout"
    metrics = ("attempts", "waited_s")
    schema = {"type": "object", "additionalProperties": False, "required": ["node", "cmd"],
              "properties": {"node": {"type": "string"},
                             "cmd": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                             "timeout": DURATION, "interval": DURATION}}

    def default_name(self, a):
        return f"wait for {a['node']}"

    def run(self, ctx, a):
        timeout, interval = seconds(a.get("timeout"), 30.0), seconds(a.get("interval"), 0.5)
        t0 = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            r = hostcmd.run(_argv(a["cmd"]), netns=ctx.netns(a["node"]), timeout=max(timeout, 1))
            waited = time.monotonic() - t0
            if r.ok:
                return StepResult({"attempts": attempts, "waited_s": round(waited, 3)},
                                  summary=f"after {waited:.1f} s")
            if waited >= timeout:
                raise StepError(f"condition not met after {timeout:g} s ({attempts} attempts): "
                                f"{(r.stderr or r.stdout).strip()[:200]}")
            time.sleep(interval)


# -- link changes, capture ---------------------------------------------------------------
class LinkChange(Step):
    type = "link"
    endpoint_fields = ("endpoint",)
    summary = "change a link at run time: state down/up, or new bandwidth/delay/jitter/loss"
    schema = {"type": "object", "additionalProperties": False, "required": ["endpoint"],
              "properties": {"endpoint": {"type": "string", "description": "NODE:IF, one end of the link"},
                             "state": {"enum": ["up", "down"]}, "bandwidth": {"type": ["string", "integer"]},
                             "delay": DURATION, "jitter": DURATION, "loss": {"type": ["string", "number"]},
                             "clear": {"type": "boolean", "description": "remove all impairments"}}}

    def check(self, a):
        out = super().check(a)
        for key, parse in (("bandwidth", units.rate), ("delay", units.duration), ("jitter", units.duration),
                           ("loss", units.percent)):
            if key in a:
                try:
                    parse(a[key])
                except ValueError as e:
                    out.append(((key,), str(e)))
        return out

    def default_name(self, a):
        what = a.get("state") or ("clear" if a.get("clear") else "impair")
        return f"link {a['endpoint']} {what}"

    def run(self, ctx, a):
        if a.get("state"):
            runtime.set_link_state(ctx.lab, a["endpoint"], a["state"] == "up")
        keys = [k for k in ("bandwidth", "delay", "jitter", "loss") if k in a]
        if keys or a.get("clear"):
            try:
                imp = Impairment(bandwidth=units.rate(a["bandwidth"]) if "bandwidth" in a else None,
                                 delay=units.duration(a["delay"]) if "delay" in a else None,
                                 jitter=units.duration(a["jitter"]) if "jitter" in a else None,
                                 loss=units.percent(a["loss"]) if "loss" in a else None)
            except ValueError as e:
                raise UsageError(str(e)) from None
            runtime.set_impairment(ctx.lab, a["endpoint"], imp)
        ctx.state = runtime.state.read_state(ctx.lab) or ctx.state
        return StepResult({}, summary=", ".join(f"{k}={a[k]}" for k in ("state", *keys) if k in a))


class Capture(Step):
    type = "capture"
    node_fields = ("node",)
    interface_fields = {"interface": "node"}
    summary = "tcpdump on a node's interface until the end of the run; the pcap goes with the results"
    metrics = ("pid",)
    schema = {"type": "object", "additionalProperties": False, "required": ["node"],
              "properties": {"node": {"type": "string"}, "interface": {"type": "string"},
                             "filter": {"type": "string"}, "snaplen": {"type": "integer", "minimum": 0},
                             "file": {"type": "string"}}}

    def default_name(self, a):
        return f"capture {a['node']}:{a.get('interface', 'any')}"

    def run(self, ctx, a):
        if not _which("tcpdump"):
            raise EnvironmentProblem("tcpdump is not installed (Debian package tcpdump)")
        iface = a.get("interface", "any")
        path = ctx.artifact(a.get("file") or f"capture-{a['node']}-{iface}.pcap")
        argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-w", path, "-s", str(a.get("snaplen", 262144))]
        if a.get("filter"):
            argv += shlex.split(a["filter"])
        log = path + ".log"
        p = hostcmd.start(argv, netns=ctx.netns(a["node"]), log=log)
        with ctx.lock:
            ctx.background.append((f"capture {a['node']}:{iface}", p, log))
        end = time.monotonic() + 5
        while time.monotonic() < end:  # tcpdump says "listening on" once it captures
            if p.poll() is not None:
                raise StepError(f"tcpdump exited: {open(log).read().strip()[-300:]}")
            if os.path.exists(log) and "listening on" in open(log).read():
                break
            time.sleep(0.05)
        return StepResult({"pid": p.pid}, artifacts=[path], summary=os.path.basename(path))


# registered by name (emulator/backends CORE_STEPS)
BUILTIN_STEPS = (Ping, PingAll, Iperf3, Exec, Background, Wait, WaitPackets, WaitFor, LinkChange, Capture)
