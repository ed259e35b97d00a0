"""Web UI hardening, with decoys: scenario/topology files only from the server's directories,
callbacks only from the page's origin, served files only from inside their directory, and no
console rc files left behind."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")
pytest.importorskip("flask_sock")

from flask import Flask  # noqa: E402

from emulator import lab as api  # noqa: E402
from webui import edits, jobs, server  # noqa: E402
from webui.app import create_app  # noqa: E402
from webui.files import Roots  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "security-test-token"
LAB = f"t{os.getpid() % 100000}x800"  # the test-lab pattern conftest knows (nothing here deploys it)
AUTH = {"X-Emulator-Token": TOKEN}


@pytest.fixture
def tree(tmp_path):
    """srv/ (the server's directory: scenarios/, topologies/) and outside/ with decoys."""
    marker = "DECOY-" + uuid.uuid4().hex
    srv, out = tmp_path / "srv", tmp_path / "outside"
    for d in (srv / "scenarios", srv / "topologies", out):
        d.mkdir(parents=True)
    # a topology that is not valid: a scenario using it fails at load time, nothing is deployed
    (srv / "topologies" / "bad.yaml").write_text(f"name: {LAB}\nnodes: {{a: {{kind: no-such-kind}}}}\n")
    (srv / "scenarios" / "good.yaml").write_text("topology: ../topologies/bad.yaml\nsteps:\n  - pingall: {}\n")
    # decoys are invalid too (had they been read, their error would quote the marker; nothing deploys)
    (out / "decoy-topo.yaml").write_text(f"name: {LAB}\ndescription: {marker}\nnodes: {{a: {{kind: {marker}}}}}\n")
    (out / "decoy.yaml").write_text(f"topology: {marker}.yaml\nsteps:\n  - exec: {{node: a, cmd: '{marker}'}}\n")
    (srv / "scenarios" / "escape.yaml").write_text(f"topology: ../../outside/decoy-topo.yaml\n"
                                                   f"steps:\n  - pingall: {{}}\n")
    (srv / "scenarios" / "link.yaml").symlink_to(out / "decoy.yaml")
    return {"srv": srv, "out": out, "marker": marker, "roots": Roots.for_server(cwd=str(srv))}


@pytest.fixture
def client(tree):
    return create_app(TOKEN, 8050, roots=tree["roots"]).server.test_client()


def _callback(client, output_id: str, changed: str, inputs: dict, state: dict, headers=None):
    """A Dash callback POST as the browser makes it, for the callback whose outputs include output_id."""
    deps = client.get("/_dash-dependencies", headers=AUTH).json
    dep = next(d for d in deps if output_id in d["output"])
    outs = [dict(zip(("id", "property"), o.split(".", 1))) for o in dep["output"].strip(".").split("...")]
    body = {"output": dep["output"], "outputs": outs if len(outs) > 1 else outs[0],
            "inputs": [{**i, "value": inputs.get(i["id"])} for i in dep["inputs"]],
            "state": [{**s, "value": state.get(s["id"])} for s in dep["state"]],
            "changedPropIds": [changed]}
    return client.post("/_dash-update-component", data=json.dumps(body),
                       headers={**AUTH, "Content-Type": "application/json", **(headers or {})})


def _run_scenario(client, scn, headers=None):
    return _callback(client, "job.data", "btn-run.n_clicks", {"btn-run": 1}, {"sid": "sec", "scn-file": scn},
                     headers)


def _new_jobs(before: set) -> list:
    new = [j for i, j in jobs.JOBS.items() if i not in before]
    for j in new:  # let them end, so that their logs are complete
        for _ in range(200):
            if j.status != "running":
                break
            time.sleep(0.05)
    return new


# ----- scenario and topology files


def test_only_scenarios_from_the_server_directories_are_offered(tree):
    roots = tree["roots"]
    assert roots.scenario_files() == ["scenarios/escape.yaml", "scenarios/good.yaml"]  # not the symlink out
    assert roots.scenario("scenarios/good.yaml") == str(tree["srv"] / "scenarios" / "good.yaml")
    assert roots.topologies == [str(tree["srv"] / "topologies")]


@pytest.mark.parametrize("which", ["dotdot", "absolute", "symlink", "topology-outside", "deep-dotdot"])
def test_scenario_from_outside_is_refused_and_never_read(tree, client, which):
    srv, out, marker = tree["srv"], tree["out"], tree["marker"]
    scn = {"dotdot": "scenarios/../../outside/decoy.yaml",
           "absolute": str(out / "decoy.yaml"),
           "symlink": "scenarios/link.yaml",
           "topology-outside": "scenarios/escape.yaml",
           "deep-dotdot": "../" * 12 + str(out / "decoy.yaml").lstrip("/")}[which]
    before = set(jobs.JOBS)
    r = _run_scenario(client, scn)
    assert r.status_code == 200, r.data
    resp = r.get_data(as_text=True)
    new = _new_jobs(before)
    assert not new, [j.as_dict() for j in new]
    assert "refused" in resp and marker not in resp
    assert '"job"' not in resp  # no job id went back to the page
    with pytest.raises(Exception, match="refused"):
        tree["roots"].scenario(scn)


def test_allowed_scenario_starts_a_job(tree, client):
    before = set(jobs.JOBS)
    r = _run_scenario(client, "scenarios/good.yaml")
    assert r.status_code == 200 and "scenario started" in r.get_data(as_text=True)
    new = _new_jobs(before)
    assert len(new) == 1 and new[0].target == "good.yaml"
    assert new[0].status == "failed"  # its topology is invalid: refused at load time, nothing deployed
    assert "no-such-kind" in new[0].message + new[0].log.getvalue()


def test_running_lab_shows_its_topology_file_only_from_a_topology_dir(tree, monkeypatch):
    decoy = tree["out"] / "decoy-topo.yaml"
    good = tree["srv"] / "topologies" / "sec.yaml"
    good.write_text(f"name: {LAB}\ndescription: allowed\nnodes: {{a: {{kind: host}}}}\n")
    state = {"name": LAB, "nodes": {"a": {"kind": "host"}}, "links": []}
    monkeypatch.setattr(edits.api, "get", lambda name: {**state, "file": str(decoy)})
    drawn = edits._lab_topology(LAB, tree["roots"])
    assert tree["marker"] not in json.dumps(drawn) and list(drawn["nodes"]) == ["a"]
    monkeypatch.setattr(edits.api, "get", lambda name: {**state, "file": str(good)})
    assert edits._lab_topology(LAB, tree["roots"])["description"] == "allowed"


def test_ui_directories_from_the_command_line(tree, tmp_path):
    from emulator.cli import build_parser
    from emulator.errors import UsageError
    args = build_parser().parse_args(["ui", "--scenario-dir", str(tree["out"]), "--topology-dir", str(tmp_path)])
    roots = Roots.for_server(None, args.scenario_dir, args.topology_dir, cwd=str(tree["srv"]))
    assert roots.scenario(str(tree["out"] / "decoy-topo.yaml"))  # now an allowed directory
    assert str(tmp_path) in roots.topologies
    with pytest.raises(UsageError, match="not a directory"):
        Roots.for_server(None, [str(tmp_path / "nowhere")], cwd=str(tree["srv"]))
    # the directory of the topology given to `emulator ui` is a topology directory
    assert str(tree["out"]) in Roots.for_server(str(tree["out"] / "decoy-topo.yaml"), cwd=str(tree["srv"])).topologies


# ----- callbacks and the Origin header


def test_callback_from_another_origin_is_refused(client):
    def enabled(headers):
        return _callback(client, "btn-run.disabled", "scn-file.value", {"scn-file": "x.yaml"}, {}, headers)
    for origin in ("http://evil.example", "http://localhost.evil.example", "null", "http://localhost:8051"):
        r = enabled({"Origin": origin})
        assert r.status_code == 403, origin
        assert b"disabled" not in r.data
    before = set(jobs.JOBS)
    r = _run_scenario(client, "scenarios/good.yaml", {"Origin": "http://evil.example"})
    assert r.status_code == 403 and not _new_jobs(before)
    # the page's own origin, and a client without Origin (curl with the token): as the websocket
    assert enabled({"Origin": "http://localhost"}).status_code == 200
    assert enabled({}).status_code == 200


# ----- served files


@pytest.fixture
def report_job(tmp_path, tree):
    res = tmp_path / "results"
    (res / "data").mkdir(parents=True)
    (res / "report.html").write_text("<p>the report</p>")
    (res / "data" / "ok.json").write_text("{}")
    (tree["out"] / "secret.html").write_text(tree["marker"])
    (res / "leak.html").symlink_to(tree["out"] / "secret.html")
    (res / "out").symlink_to(tree["out"])
    job = jobs.Job("scenario", "decoy")
    job.result = {"dir": str(res)}
    jobs.JOBS[job.id] = job
    yield job
    jobs.JOBS.pop(job.id, None)


def test_report_route_stays_inside_the_results_directory(client, report_job, tree):
    base = f"/report/{report_job.id}/"
    assert client.get(base + "report.html", headers=AUTH).get_data(as_text=True) == "<p>the report</p>"
    assert client.get(base + "data/ok.json", headers=AUTH).status_code == 200
    rel = os.path.relpath(tree["out"] / "secret.html", report_job.result["dir"])
    for path in ("leak.html", "out/secret.html", "out/decoy-topo.yaml", rel, "%2e%2e/outside/secret.html", "data"):
        r = client.get(base + path, headers=AUTH)
        assert r.status_code in (403, 404), path
        assert tree["marker"].encode() not in r.data, path
    # an absolute path: '//' in the URL does not even reach the route (Dash's page answers)
    r = client.get(base + str(tree["out"] / "secret.html"), headers=AUTH)
    assert tree["marker"].encode() not in r.data
    with Flask("t").test_request_context():
        with pytest.raises(Exception) as e:
            server.send_inside(report_job.result["dir"], str(tree["out"] / "secret.html"))
        assert getattr(e.value, "code", None) == 404


def test_vendor_and_assets_refuse_symlinks_out(tmp_path, tree, monkeypatch, client):
    nm = tmp_path / "node_modules" / "@xterm" / "xterm" / "lib"
    nm.mkdir(parents=True)
    (nm / "xterm.js").write_text("// xterm")
    (tree["out"] / "secret.js").write_text(tree["marker"])
    (nm / "evil.js").symlink_to(tree["out"] / "secret.js")
    monkeypatch.setattr(server, "NODE_MODULES", str(tmp_path / "node_modules"))
    assert client.get("/vendor/xterm/lib/xterm.js", headers=AUTH).status_code == 200
    r = client.get("/vendor/xterm/lib/evil.js", headers=AUTH)
    assert r.status_code == 404 and tree["marker"].encode() not in r.data
    # assets: a Flask static folder like Dash's, with the guard the app installs
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "emu.js").write_text("// ours")
    (assets / "evil.js").symlink_to(tree["out"] / "secret.js")
    flask_app = Flask("t", static_folder=str(assets), static_url_path="/assets")
    server.install_assets_guard(flask_app, str(assets))
    c = flask_app.test_client()
    assert c.get("/assets/emu.js").status_code == 200
    r = c.get("/assets/evil.js")
    assert r.status_code == 404 and tree["marker"].encode() not in r.data


# ----- consoles leave no rc files (integration: a real lab, a real server process)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shells_of(lab: str) -> list[int]:
    """PIDs of the console shells of this test's lab (their environment names it)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"EMU_LAB={lab}".encode() in f.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            pass
    return out


def _console(port: int, lab: str):
    import simple_websocket
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/ws/console/{lab}/h1?cols=80&rows=24",
                                         headers={"Cookie": f"{server.cookie_name(port)}={TOKEN}"})
    seen = b""
    for _ in range(100):
        data = ws.receive(timeout=0.2)
        seen += data or b""
        if b"h1" in seen and b"#" in seen:
            return ws
    raise AssertionError(f"no prompt in the console: {seen!r}")


def _rc_files(tmpdir) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(tmpdir) for f in fs]


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_console_rc_files_are_gone_after_the_session_and_the_server(topo, lab_name, tmp_path):
    api.deploy(topo("name: {lab}\nnodes: {h1: {kind: host}}\n"))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    port = _free_port()
    env = {**os.environ, "EMULATOR_UI_TOKEN": TOKEN, "PYTHONPATH": ROOT, "TMPDIR": str(tmpdir)}
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    shells: list[int] = []
    try:
        for _ in range(150):
            log.seek(0)
            text = log.read()
            if "?token=" in text:
                break
            assert proc.poll() is None, f"the server did not start:\n{text}"
            time.sleep(0.1)
        # a console session that ends: its rc file goes with it
        ws = _console(port, lab_name)
        assert len(_rc_files(tmpdir)) == 1
        ws.send("dexit\r")
        for _ in range(100):
            if not _rc_files(tmpdir) and not _shells_of(lab_name):
                break
            time.sleep(0.05)
        assert _rc_files(tmpdir) == [] and _shells_of(lab_name) == []
        try:
            ws.close()
        except Exception:
            pass
        # a console still open when the server stops: its shell ends, nothing is left in TMPDIR
        ws = _console(port, lab_name)
        shells = _shells_of(lab_name)
        assert shells and len(_rc_files(tmpdir)) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert os.listdir(tmpdir) == [], _rc_files(tmpdir)
        for _ in range(100):
            if not _shells_of(lab_name):
                break
            time.sleep(0.05)
        assert _shells_of(lab_name) == []
    finally:
        for pid in shells + _shells_of(lab_name):  # only this test's shells, by PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        api.destroy(lab_name)


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """Server websocket frames (unmasked) in `data`: (opcode, payload); raises on a broken header."""
    out, i = [], 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        assert b1 & 0x80 == 0 and b0 & 0x70 == 0, f"invalid frame header at {i}: {data[i:i + 40]!r}"
        n, i = b1 & 0x7F, i + 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        out.append((b0 & 0x0F, data[i:i + n]))
        i += n
    return out


def test_console_websocket_ends_with_its_close_frame(tree):
    """Nothing after the close frame: werkzeug's HTTP response to the finished handler never reaches
    the browser (which would log "Invalid frame header")."""
    import threading

    from werkzeug.serving import make_server
    app = create_app(TOKEN, 0, roots=tree["roots"])
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", srv.server_port), timeout=10) as s:
            s.sendall((f"GET /ws/console/{LAB}/nonode HTTP/1.1\r\nHost: 127.0.0.1:{srv.server_port}\r\n"
                       f"Upgrade: websocket\r\nConnection: Upgrade\r\nX-Emulator-Token: {TOKEN}\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    finally:
        srv.shutdown()
        srv.server_close()
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), data[:200]
    frames = _frames(rest)
    assert b"cannot open a console" in frames[0][1], frames
    assert frames[-1][0] == 0x8, frames   # the close frame is the last thing sent
    assert b"HTTP/1." not in rest
