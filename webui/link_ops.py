"""Link controls of a running lab, from the drawing's context menu: down/up, bandwidth, delay, loss
(as the scenario `link` step: emulator.deploy.runtime), and a capture on one end with the pcap to
download.

A link is named by one of its endpoints, NODE:IF, and must be a link of the lab's state (runtime
refuses any other). Captures are tcpdump in the node's namespace for a few seconds, written in one
private directory of this server process (mode 0700, removed when the server stops); the download
route serves only files of captures this process made, by their id.
"""
from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import threading
import time

import dash
from dash import Input, Output, State, html, no_update

from emulator import lab as api
from emulator import units
from emulator.core.model import Impairment
from emulator.deploy import capabilities, hostcmd, runtime
from emulator.errors import EmulatorError, EnvironmentProblem, UsageError

from .docs import doc
from .privdir import PrivateDir

CAPTURE_MAX_S = 60
_ids = itertools.count(1)
CAPTURES: dict[int, str] = {}   # capture id -> pcap path
_lock = threading.Lock()
_dir = PrivateDir("emulator-ui-captures")


@atexit.register
def shutdown() -> None:
    with _lock:
        CAPTURES.clear()
    _dir.remove()


def can() -> dict:
    """What the lab can emulate on this host (the menu offers only that)."""
    try:
        return {"netem": capabilities.netem()[0], "tbf": capabilities.tbf()[0]}
    except EmulatorError:
        return {"netem": False, "tbf": False}


def apply(lab: str, endpoint: str, op: str, value=None) -> tuple[str, int | None]:
    """Do `op` on the link of `lab` with `endpoint`; (message, capture id or None)."""
    if not isinstance(endpoint, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.@-]+", endpoint):
        raise UsageError("which link? right-click a link of the running lab")
    st = api.get(lab)
    link = runtime.find_link(st, endpoint)   # a link of this lab, or a clear error
    if op in ("down", "up"):
        runtime.set_link_state(lab, endpoint, op == "up")
        return f"link {endpoint} {op}", None
    if op in ("bandwidth", "delay", "loss", "clear"):
        # the field asked changes, the link's other impairments stay (clear removes them all)
        imp = Impairment(**({} if op == "clear" else {**(link.get("impairment") or {}), **_impairment(op, value)}))
        runtime.set_impairment(lab, endpoint, imp)
        return (f"link {endpoint}: impairments cleared" if op == "clear" else f"link {endpoint}: {op} {value}"), None
    if op == "capture":
        return capture(lab, endpoint, value)
    raise UsageError(f"unknown link operation '{op}'")


def _impairment(op: str, value) -> dict:
    """The one field asked, parsed as the scenario `link` step parses it."""
    if op == "clear":
        return {}
    parse = {"bandwidth": units.rate, "delay": units.duration, "loss": units.percent}[op]
    try:
        return {op: parse(str(value).strip())}
    except ValueError as e:
        raise UsageError(f"{op}: {e}") from None


def capture(lab: str, endpoint: str, seconds) -> tuple[str, int]:
    """tcpdump on `endpoint` for `seconds`; the pcap's id for the download route."""
    if not shutil.which("tcpdump"):
        raise EnvironmentProblem("tcpdump is not installed (Debian package tcpdump)")
    try:
        secs = float(seconds if seconds not in (None, "") else 5)
    except (TypeError, ValueError):
        raise UsageError(f"capture for how many seconds? ({seconds!r})") from None
    if not 0 < secs <= CAPTURE_MAX_S:
        raise UsageError(f"a capture lasts 0 to {CAPTURE_MAX_S} s")
    node, _, ifname = endpoint.partition(":")
    st = api.get(lab)
    ns = st["nodes"][node]["interfaces"][ifname]["netns"]
    device = st["nodes"][node]["interfaces"][ifname]["device"]
    cid = next(_ids)
    path = os.path.join(_dir.path(), f"{cid}-{node}-{ifname}.pcap")
    p = hostcmd.start(["tcpdump", "-i", device, "-n", "-U", "-w", path, "-s", "262144"], netns=ns, log=path + ".log")
    try:
        end = time.monotonic() + 5
        while time.monotonic() < end and p.poll() is None:   # tcpdump says "listening on" once it captures
            if os.path.exists(path + ".log") and "listening on" in open(path + ".log", errors="replace").read():
                break
            time.sleep(0.05)
        time.sleep(secs)
    finally:
        hostcmd.stop(p)
    if not os.path.exists(path):
        with open(path + ".log", errors="replace") as f:
            raise EnvironmentProblem(f"tcpdump wrote no capture: {f.read().strip()[-300:]}")
    with _lock:
        CAPTURES[cid] = path
    return f"captured {secs:g} s on {endpoint}", cid


def pcap_path(cid: int) -> str | None:
    with _lock:
        return CAPTURES.get(cid)


def install_route(server) -> None:
    from flask import abort, send_file

    @server.route("/capture/<int:cid>.pcap")
    def _capture(cid):
        path = pcap_path(cid)
        if not path or not os.path.isfile(path):
            abort(404)
        return send_file(path, mimetype="application/vnd.tcpdump.pcap", as_attachment=True,
                         download_name=os.path.basename(path).split("-", 1)[1])


def register(app: dash.Dash) -> None:
    install_route(app.server)

    @app.callback(Output("link-msg", "children"), Input("link-op", "data"), State("sid", "data"),
                  prevent_initial_call=True)
    def link_op(req, sid):
        if not req:
            return no_update
        lab = str(doc(sid).topo.get("name") or "")
        try:
            msg, cid = apply(lab, req.get("endpoint"), str(req.get("op")), req.get("value"))
        except (EmulatorError, KeyError, OSError) as e:
            return html.Span(str(e), className="bad")
        if cid is None:
            return html.Span(msg, className="good")
        return html.Span([msg + ": ", html.A("download the pcap", href=f"/capture/{cid}.pcap", id="pcap-link",
                                             download="")], className="good")
