"""iperf3 on VPP's host stack: the `vcl_iperf3` scenario step (seed 000's 3S2C).

    - vcl_iperf3: {client: c, server: s, duration: 5}
      reference: {throughput_bps: 0.454G}

Both nodes are vpp nodes with `host_stack: true` (startup.conf: `session { enable
use-app-socket-api }`, which makes RUNTIME-DIR/app_ns_sockets/default). Each side gets a VCL
config in its VPP's run directory (`vcl.conf`: fifo sizes, app scopes, that socket), and iperf3
runs with `LD_PRELOAD=libvcl_ldpreload.so` (VCL's POSIX layer) and `VCL_CONFIG`: its sockets are
VPP sessions, its packets go through VPP's own TCP stack and out of VPP's interfaces, never through
the kernel's (the kernel's /proc/net/tcp does not show the listener; VPP's `show session` does).
"""
from __future__ import annotations

import glob
import os
import time

from ...deploy import hostcmd
from ...errors import EnvironmentProblem
from ...scenario.steps import DURATION, Step, StepError, StepResult, iperf3_result, seconds
from ... import units
from . import config, find
from .instance import vppctl

LIB = "libvcl_ldpreload.so"


def preload_lib() -> str:
    """VCL's LD_PRELOAD library, next to the VPP in use (EMULATOR_VPP's lib/ or FD.io's packages)."""
    vpp, _ctl, why = find.locate()
    if vpp is None:
        raise EnvironmentProblem(f"VPP is not available: {why}")
    root = os.path.dirname(os.path.dirname(os.path.realpath(vpp)))
    dirs = [os.path.join(root, d) for d in ("lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib")]
    for d in dirs + ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"]:
        # the library itself, or its versioned file (a copied tree may hold the bare name as a stub)
        for p in [os.path.join(d, LIB)] + sorted(glob.glob(os.path.join(d, LIB + ".*"))):
            if _elf(p):
                return p
    raise EnvironmentProblem(f"VCL's {LIB} was not found next to {vpp} (FD.io's package: libvppinfra and vpp)")


def _elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def vcl_conf(lab: str, node: str) -> str:
    d = config.run_dir(lab, node)
    return ("vcl {\n  rx-fifo-size 4000000\n  tx-fifo-size 4000000\n  app-scope-local\n  app-scope-global\n"
            f"  app-socket-api {d}/app_ns_sockets/default\n}}\n")


def vcl_env(lab: str, node: str) -> dict:
    path = os.path.join(config.run_dir(lab, node), "vcl.conf")
    with open(path, "w") as f:
        f.write(vcl_conf(lab, node))
    return {"VCL_CONFIG": path, "LD_PRELOAD": preload_lib()}


class VclIperf3(Step):
    type = "vcl_iperf3"
    node_fields = ("client", "server")
    summary = "iperf3 TCP between two vpp nodes on VPP's host stack (VCL's LD_PRELOAD library)"
    metrics = ("throughput_bps", "throughput_trimmed_bps", "sent_bps", "retransmits", "intervals")
    schema = {"type": "object", "additionalProperties": False, "required": ["client", "server"],
              "properties": {"client": {"type": "string"}, "server": {"type": "string"},
                             "address": {"type": "string", "description": "server address (default: its first)"},
                             "duration": DURATION, "port": {"type": "integer", "minimum": 1, "maximum": 65535}}}

    def default_name(self, a):
        return f"iperf3 over VCL {a['client']} -> {a['server']}"

    def run(self, ctx, a):
        for role in ("client", "server"):
            n = ctx.state["nodes"].get(a[role]) or {}
            if n.get("kind") != "vpp":
                raise StepError(f"{role} '{a[role]}' is a {n.get('kind')}, not a vpp node: use the iperf3 step")
            if not os.path.exists(os.path.join(config.run_dir(ctx.lab, a[role]), "app_ns_sockets", "default")):
                raise StepError(f"'{a[role]}' has no VCL app socket: give the vpp node host_stack: true")
        dst = a.get("address") or ctx.address(a["server"])
        port = a.get("port", 5201)
        duration = seconds(a.get("duration"), 10.0)
        log = ctx.artifact(f"vcl-iperf3-server-{a['server']}-{port}.log")
        server = hostcmd.start(["iperf3", "-4", "-s", "-1", "-p", str(port)], netns=ctx.netns(a["server"]),
                               log=log, env=vcl_env(ctx.lab, a["server"]))
        try:
            _wait_session(ctx.lab, a["server"], port, server)
            argv = ["iperf3", "-4", "-c", dst, "-p", str(port), "-J", "-t", f"{duration:g}", "-i", "1"]
            r = hostcmd.run(argv, netns=ctx.netns(a["client"]), timeout=duration + 30,
                            env=vcl_env(ctx.lab, a["client"]))
        finally:
            hostcmd.stop(server)
        path = ctx.artifact(f"vcl-iperf3-{a['client']}-{a['server']}-{port}.json")
        m, series = iperf3_result(r, path, "iperf3 over VCL", tail=True)
        m = {k: v for k, v in m.items() if k in self.metrics}
        return StepResult(m, series, [path], summary=f"{units.human_rate(m['throughput_bps'])} on VPP's host stack")


def _wait_session(lab: str, node: str, port: int, proc, timeout: float = 10.0) -> None:
    """Wait until the server's VPP lists the listener (`show session`), or the server exited."""
    _vpp, ctl, _why = find.locate()
    sock = os.path.join(config.run_dir(lab, node), "cli.sock")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise StepError(f"iperf3 -s over VCL on '{node}' exited ({proc.returncode}) before listening")
        if f":{port}" in vppctl(ctl, sock, "show session verbose", timeout=5):
            return
        time.sleep(0.1)
    raise StepError(f"iperf3 -s over VCL on '{node}' does not listen in VPP after {timeout:g} s")
