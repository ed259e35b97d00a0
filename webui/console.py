"""Consoles: a shell inside a node's namespace, on a pty, bridged to a websocket (xterm.js).

The command comes from the public API (emulator.lab.exec_argv); `setsid -c` gives the shell its
own session with the pty as controlling terminal, so Ctrl-C, job control and resizing
(TIOCSWINSZ, which sends SIGWINCH) behave as in a local terminal.

Protocol on the websocket: the browser sends text frames, "d" + keystrokes or
"r" + '{"cols": C, "rows": R}'; the server sends the terminal's output as binary frames.

A node's driver may offer more than a shell (`console_tools`: a vpp node has `vppctl`, which
its driver points at the node's own CLI socket); the websocket's `tool` parameter picks one.

Each shell's rc file lives in one private directory of the server process (mode 0700, made on
the first console): removed with its console, and the directory with every console still open
when the server stops (shutdown(), also at interpreter exit).
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import tempfile
import termios
import threading

from emulator import lab as api

from .privdir import PrivateDir


RC = r"""[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f ~/.bashrc ] && . ~/.bashrc
PS1='\[\e[1;32m\]${EMU_NODE}\[\e[0m\]@${EMU_LAB}:\w# '
"""


_private = PrivateDir("emulator-ui")   # this process's directory for rc files
_open: set["Console"] = set()
_lock = threading.Lock()


def private_dir() -> str:
    return _private.path()


def shutdown() -> None:
    """Close every open console and remove the private directory (only the one this process made)."""
    with _lock:
        cons = list(_open)
    for con in cons:
        con.close()
    _private.remove()


atexit.register(shutdown)


def tools(lab: str, node: str) -> list[str]:
    """What a console on NODE can open: "shell" first, then its driver's console_tools."""
    from emulator import backends
    from emulator.core import drivers
    try:
        kind = api.get(lab)["nodes"][node]["kind"]
        backends.ensure_loaded()
        return ["shell", *drivers.get(kind).console_tools]
    except Exception:   # no such lab or node, an unknown kind: a shell (which then says what is wrong)
        return ["shell"]


def console_argv(lab: str, node: str, tool: str, rcfile: str) -> list[str]:
    """The command a console runs: an interactive bash with RCFILE, or one of the node's tools
    (its driver's exec_argv points `vppctl` at the node's own VPP)."""
    if tool == "shell":
        return api.exec_argv(lab, node, ["bash", "--rcfile", rcfile, "-i"])
    if tool not in tools(lab, node):
        raise ValueError(f"node '{node}' has no console '{tool}' (it has: {', '.join(tools(lab, node))})")
    return api.exec_argv(lab, node, [tool])


class Console:
    def __init__(self, lab: str, node: str, cols: int = 80, rows: int = 24, tool: str = "shell"):
        fd, self.rcfile = tempfile.mkstemp(prefix="console-", suffix=".bashrc", dir=private_dir())
        with os.fdopen(fd, "w") as f:  # the usual start-up files, then a prompt that names the node
            f.write(RC)
        try:
            argv = console_argv(lab, node, tool, self.rcfile)
        except BaseException:
            os.unlink(self.rcfile)
            raise
        self.master, slave = os.openpty()
        self.resize(cols, rows)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "USER", "SHELL")}
        env.update(TERM="xterm-256color", EMU_LAB=lab, EMU_NODE=node)
        self.proc = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd="/", close_fds=True)
        os.close(slave)
        self.closed = False
        self.lock = threading.Lock()
        with _lock:
            _open.add(self)

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = max(2, min(int(cols), 1000)), max(2, min(int(rows), 1000))
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: str) -> None:
        os.write(self.master, data.encode())

    def read(self, timeout: float = 0.5) -> bytes | None:
        """Output bytes; b'' when nothing came within timeout; None once the shell has gone."""
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return b"" if self.proc.poll() is None else None
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side of the pty closed
            return None
        return data or None

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        try:
            os.killpg(self.proc.pid, signal.SIGHUP)  # the shell and whatever it started
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=2)
        os.close(self.master)
        try:
            os.unlink(self.rcfile)
        except OSError:
            pass
        with _lock:
            _open.discard(self)


def serve(ws, lab: str, node: str, cols: int = 80, rows: int = 24, tool: str = "shell") -> None:
    """Run one console over an accepted websocket until either side closes."""
    try:
        con = Console(lab, node, cols, rows, tool)
    except Exception as e:  # LabError (not deployed, no such node) or OSError
        ws.send(f"\r\n\x1b[31mcannot open a console on {node}: {e}\x1b[0m\r\n".encode())
        ws.close()
        return

    def pump():
        try:
            while True:
                data = con.read()
                if data is None:
                    break
                if data:
                    ws.send(data)
        except Exception:
            pass
        finally:
            try:
                ws.send(b"\r\n[console closed]\r\n")
                ws.close()
            except Exception:
                pass

    t = threading.Thread(target=pump, name=f"console-{lab}-{node}", daemon=True)
    t.start()
    try:
        while True:
            msg = ws.receive()
            if msg is None:
                break
            if isinstance(msg, bytes):
                msg = msg.decode(errors="replace")
            if msg.startswith("d"):
                con.write(msg[1:])
            elif msg.startswith("r"):
                try:
                    size = json.loads(msg[1:])
                    con.resize(size["cols"], size["rows"])
                except (ValueError, KeyError, TypeError, OSError):
                    pass
    except Exception:
        pass
    finally:
        con.close()
        t.join(timeout=3)
