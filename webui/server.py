"""The web server: Flask under Dash, an access token on everything, console websockets.

Consoles are root shells, so nothing is served without the token printed at start: not the
page, not Dash's callbacks (`/_dash-update-component`), not its scripts, not the websocket.
The first visit carries it in the URL (`/?token=...`, as Jupyter does); the server then sets
an HttpOnly, SameSite=Strict cookie and redirects to the bare URL. A websocket, and every
request other than GET/HEAD (Dash's callbacks are POSTs), must also come from the page's own
origin: a request whose Origin header names another site (or is "null") is refused, so another
site open in the same browser can neither reach a console nor fire a callback. A request with no
Origin header at all (curl, scripts: browsers always send one on these requests) is judged by the
token alone. Files are served only from inside their directory, resolved (webui/files.py).
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import signal
import socket
import sys
import threading
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, abort, g, redirect, request, send_from_directory

from .files import inside

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node_modules")
VENDOR = {  # URL prefix -> directory inside node_modules (installed by `npm install`, never copied)
    "xterm": os.path.join("@xterm", "xterm"),
    "xterm-fit": os.path.join("@xterm", "addon-fit"),
}

DENIED = ("<!DOCTYPE html><meta charset='utf-8'><title>emulator: access token needed</title>"
          "<body style='font-family:sans-serif;margin:3em'><h2>Access token needed</h2>"
          "<p>Open the URL that <code>emulator ui</code> printed when it started "
          "(it ends in <code>?token=...</code>).</p></body>")


def cookie_name(port: int) -> str:
    return f"emulator_ui_{port}"  # cookies ignore ports: one name per server


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _same(a: str | None, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


def same_origin(origin: str, host: str) -> bool:
    """An Origin header names the server the page came from ("null" and other sites do not)."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def send_inside(root: str, path: str):
    """A file below `root`, which must be there once resolved: `..`, absolute paths and symlinks
    leading out are refused (404), as are directories and anything else that is not a file."""
    base = os.path.realpath(root)
    real = inside(os.path.join(base, path), base)
    if not real or not os.path.isfile(real):
        abort(404)
    return send_from_directory(base, os.path.relpath(real, base))


def install_guard(server: Flask, token: str, port: int) -> None:
    cname = cookie_name(port)

    @server.before_request
    def _guard():
        given = request.args.get("token")
        ok = _same(given, token) or _same(request.cookies.get(cname), token) \
            or _same(request.headers.get("X-Emulator-Token"), token)
        if not ok:
            return Response(DENIED, status=403, mimetype="text/html")
        if request.path.startswith("/ws/") or request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and not same_origin(origin, request.host):
                return Response("request from another origin refused", status=403)
        if _same(given, token) and request.method == "GET" and not request.path.startswith("/ws/"):
            # first visit: remember the token in a cookie and take it out of the address bar
            args = {k: v for k, v in request.args.items() if k != "token"}
            resp = redirect(request.path + ("?" + urlencode(args) if args else ""))
            resp.set_cookie(cname, token, httponly=True, samesite="Strict", path="/")
            return resp
        g.authorised = True

    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.path.startswith(("/_dash-component-suites/", "/assets/", "/vendor/")):
            resp.headers.setdefault("Cache-Control", "no-store")  # pages and callbacks; scripts may be cached
        return resp


def install_vendor(server: Flask) -> None:
    @server.route("/vendor/<pkg>/<path:path>")
    def _vendor(pkg, path):
        if pkg not in VENDOR:
            abort(404)
        root = os.path.join(NODE_MODULES, VENDOR[pkg])
        if not os.path.isdir(root):
            return Response(f"{pkg} is not installed: run `make webui` (npm install in webui/)", status=404)
        return send_inside(root, path)


def install_assets_guard(server: Flask, folder: str, prefix: str = "/assets/") -> None:
    """Dash serves its assets folder itself; a symlink there that leads out is refused here."""
    @server.before_request
    def _assets():
        if request.path.startswith(prefix) and not inside(os.path.join(folder, request.path[len(prefix):]), folder):
            abort(404)


def install_consoles(server: Flask) -> None:
    from flask_sock import Sock

    from . import console

    sock = Sock(server)

    @sock.route("/ws/console/<lab>/<node>")
    def _console(ws, lab, node):
        try:
            cols, rows = int(request.args.get("cols", 80)), int(request.args.get("rows", 24))
        except ValueError:
            cols, rows = 80, 24
        try:
            console.serve(ws, lab, node, cols, rows, request.args.get("tool", "shell"))
        finally:
            _end_websocket(ws, request.environ)


def _end_websocket(ws, environ) -> None:
    """Close the websocket, then end our side of the connection: werkzeug, which does not know the
    connection was taken over, writes an HTTP response when the handler returns, and the browser
    would read it as a broken frame after the close frame ("Invalid frame header"). On a socket
    shut for writing that response fails as a dropped connection, which werkzeug ignores."""
    try:
        ws.close()
    except Exception:  # noqa: BLE001  already closed by the other side
        pass
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def install_reports(server: Flask) -> None:
    from . import jobs

    @server.route("/report/<int:job_id>/<path:path>")
    def _report(job_id, path):
        job = jobs.get(job_id)
        if not job or not job.result.get("dir"):
            abort(404)
        return send_inside(job.result["dir"], path)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url(host: str, port: int, token: str) -> str:
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def _stop(_sig, _frame):
    raise KeyboardInterrupt  # SIGTERM stops the server as Ctrl-C does: consoles closed, files removed


def run(host: str = "127.0.0.1", port: int = 8050, topology: str | None = None, token: str | None = None,
        out=sys.stderr, scenario_dirs=(), topology_dirs=()) -> None:
    from werkzeug.serving import make_server

    from . import console
    from .app import create_app
    from .files import Roots

    token = token or os.environ.get("EMULATOR_UI_TOKEN") or new_token()
    roots = Roots.for_server(topology, scenario_dirs, topology_dirs)
    app = create_app(token, port, topology=topology, roots=roots)
    srv = make_server(host, port, app.server, threaded=True)
    port = srv.server_port
    if not is_loopback(host):
        print(f"warning: serving on {host}, reachable from other machines; consoles are root shells, "
              f"keep the token secret", file=out)
    print(f"scenarios from: {', '.join(roots.scenarios) or '(none: no scenarios/ here, see --scenario-dir)'}",
          file=out)
    print(f"emulator web UI: open\n    {url(host, port, token)}\n(Ctrl-C stops the server)", file=out, flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        console.shutdown()
