#!/usr/bin/env python3
"""Deploy/destroy scaling benchmark: the emulator against Mininet on Mininet's linear,N shape.

Run `python bench/deploy_scale.py --help` for what it measures and how to read the output.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")

DEFAULT_SIZES = [50, 200, 1000]
DEFAULT_MININET_SIZES = [50, 200]
QUICK_SIZES = [50, 200]
QUICK_MININET_SIZES = [50]
# deploy+destroy targets from the issue, in seconds (wall clock of the two CLI commands)
TARGETS = {200: 2.0, 1000: 10.0, 5000: 100.0}
# peak RSS target of the deploy process, MB (issue 10: 10,000 nodes within 2 GB)
RSS_TARGETS = {5000: 2048}
# Mininet (mn --switch lxbr --controller none --topo linear,N --test none), measured earlier on
# this machine; only shown when this run has no Mininet number of its own for that N.
MININET_REFERENCE = {50: 8.3, 200: 41.8}

SETTLE_THRESHOLD = 0.050  # a probe `ip netns add` faster than this means the kernel has settled

HELP = """\
Deploys and destroys Mininet's linear,N shape (N bridges s1..sN in a chain, host hI on
bridge sI) with the emulator, and times Mininet on the same shape, in one run.

For each N, the emulator's CLI is run as separate processes, each timed on the wall clock:
  deploy   python -m emulator deploy --topo linear,N --name benchlinN --max-rows 0
  ping     python -m emulator exec benchlinN h1 -- ping -c1 -W<w> <address of hN>
           (w = 5 s, plus 1 s per 1000 bridges: the ARP request floods every bridge)
           (across the whole chain of N bridges; hN's address comes from `inspect -f json`;
           if it fails, once more: a first packet lost just after deploy is not a dead lab)
  destroy  python -m emulator destroy benchlinN
and the peak RSS of the deploy process (GNU time's %M; a small os.wait4 wrapper without it).
The deploy's per-phase timings (what it prints on stderr) go into the JSON.

Mininet is timed as one command, setup and teardown together:
  mn --switch lxbr --controller none --topo linear,N --test none
(its setup/teardown split comes from the time its "*** Stopping" line was printed).
This script never runs `mn -c`: if Mininet fails, the error is recorded and the run goes on.
Mininet's lxbr switch needs brctl (Debian package bridge-utils); without it, --brctl-shim
gives mn a brctl made of `ip link` commands (a little slower: one more sh per call).

Kernel settle: when `destroy` returns, the kernel is still freeing the namespaces in the
background; each Linux bridge costs about 18 ms of that (an RCU wait in the bridge module), so
~18 s for 1000 bridges, and creating a namespace blocks meanwhile. After every destroy (and
every Mininet run) the script creates and deletes a probe namespace (benchprobe-<pid>) until
one `ip netns add` takes less than 50 ms: "kernel settle" is the time from the command's end
until that probe returned. The next measurement starts only then, so runs do not slow each
other down. Mininet deletes its bridges one by one in the root namespace and pays most of
that cost inside its teardown; the emulator leaves it to the kernel, after destroy returns.

Reading the table:
  deploy+destroy s        what a user waits for: the two commands (the issue's targets:
                          linear,200 under 2 s, linear,1000 under 10 s)
  kernel settle s         what the kernel still does after that (see above)
  peak RSS MB             of the deploy process (Mininet: of the mn process tree)
  speed-up                Mininet's time / the emulator's, for deploy+destroy and for
                          deploy+destroy+settle (the fairer one: all kernel work included)
Times include Python start-up and imports of each CLI process (0.4-0.9 s per command on a
2-core VM); the report splits each deploy into that, compile/state and the apply phases.

Results: bench/results/deploy_scale-<timestamp>.json and deploy_scale-latest.json (machine,
every measurement, phase timings, raw command output tails).

Exit status: 0 also when a target is missed (this is a benchmark); 1 when the emulator failed
(a command errored, or its lab did not forward the ping); 3 when not run as root; 130 on Ctrl-C.
Ctrl-C (or SIGTERM) stops the running command, destroys the bench's labs by their exact names,
deletes the probe namespace, and still writes the JSON of what was measured.
"""


# ----------------------------------------------------------------------------- processes

class Terminated(BaseException):
    """SIGTERM/SIGHUP: unwind like Ctrl-C so that clean-up runs."""


def _on_term(signum, frame):
    raise Terminated()


# ru_maxrss of the child, for when GNU time is not installed. SIGINT is ignored here (as GNU time
# does) so that the child alone decides what Ctrl-C means; it is restored for the child.
RSS_WRAPPER = r"""
import os, signal, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"{argv[0]}: {e}\n")
        os._exit(127)
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        _, status, ru = os.wait4(pid, 0)
        break
    except InterruptedError:
        pass
with open(out, "w") as f:
    f.write(f"{ru.ru_maxrss}\n")
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


class Result:
    def __init__(self, argv):
        self.argv = argv
        self.rc: int | None = None
        self.t_start = self.t_end = 0.0
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self.maxrss_kb: int | None = None
        self.timed_out = False

    @property
    def wall(self) -> float:
        return self.t_end - self.t_start

    @property
    def stdout(self) -> str:
        return "".join(l for _, l in self.out)

    @property
    def stderr(self) -> str:
        return "".join(l for _, l in self.err)

    def tail(self, n: int = 15) -> str:
        lines = [l for _, l in sorted(self.out + self.err, key=lambda x: x[0])]
        return "".join(lines[-n:])

    def summary(self) -> dict:
        return {"argv": self.argv, "rc": self.rc, "wall_s": round(self.wall, 4), "timed_out": self.timed_out,
                "peak_rss_mb": round(self.maxrss_kb / 1024, 1) if self.maxrss_kb is not None else None}


class Runner:
    def __init__(self, rss_tool: str):
        if rss_tool == "auto":
            rss_tool = "time" if os.access("/usr/bin/time", os.X_OK) else "wrapper"
        self.rss_tool = rss_tool

    def _prefix(self, path: str) -> list[str]:
        if self.rss_tool == "time":
            return ["/usr/bin/time", "-f", "%M", "-o", path]
        return [sys.executable, "-c", RSS_WRAPPER, path]

    def run(self, argv: list[str], timeout: float, stop_signal=signal.SIGINT, env=None,
            merge: bool = False, stop_grace: float = 120) -> Result:
        """Run argv in its own session; on timeout, Ctrl-C or SIGTERM stop it with stop_signal."""
        r = Result(argv)
        fd, rss_path = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        try:
            r.t_start = time.monotonic()
            p = subprocess.Popen(self._prefix(rss_path) + argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                                 start_new_session=True, cwd=REPO, env=env, text=True, errors="replace")
            readers = [threading.Thread(target=_read_lines, args=(p.stdout, r.out), daemon=True)]
            if not merge:
                readers.append(threading.Thread(target=_read_lines, args=(p.stderr, r.err), daemon=True))
            for t in readers:
                t.start()
            try:
                r.rc = _wait_exact(p, timeout)
            except subprocess.TimeoutExpired:
                r.timed_out = True
                r.rc = _stop(p, stop_signal, stop_grace)
            except BaseException:
                _stop(p, stop_signal, stop_grace)
                raise
            finally:
                r.t_end = time.monotonic()
                for t in readers:
                    t.join(timeout=5)
            try:
                with open(rss_path) as f:
                    nums = [l.strip() for l in f if l.strip().isdigit()]
                r.maxrss_kb = int(nums[-1]) if nums else None
            except OSError:
                pass
        finally:
            os.unlink(rss_path)
        return r


def _wait_exact(p: subprocess.Popen, timeout: float) -> int:
    """p.wait(timeout), but woken by the exit itself: Popen.wait with a timeout polls with sleeps
    growing to 50 ms, which rounded every measured command up by as much as 50 ms."""
    try:
        fd = os.pidfd_open(p.pid)
    except (AttributeError, OSError):
        return p.wait(timeout=timeout)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(p.args, timeout)
    finally:
        os.close(fd)
    return p.wait()


def _read_lines(stream, sink: list) -> None:
    for line in stream:
        sink.append((time.monotonic(), line))


def _stop(p: subprocess.Popen, first: int, grace: float) -> int | None:
    """Signal the child's process group, escalating to SIGTERM and SIGKILL; wait for the group."""
    steps = [(first, grace)] + [(s, g) for s, g in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)) if s != first]
    for sig, wait in steps:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                if p.poll() is not None and not _group_alive(p.pid):
                    return p.returncode
                time.sleep(0.05)
        except KeyboardInterrupt:
            continue  # another Ctrl-C: escalate now
    return p.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def quiet(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)


# ----------------------------------------------------------------------------- host state

def netns_names() -> set[str]:
    """What `ip netns list` shows (read from its directory: no nsid look-ups racing deletions)."""
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def link_names() -> set[str]:
    r = quiet(["ip", "-br", "link"])
    return {l.split()[0].split("@")[0] for l in r.stdout.splitlines() if l.strip()}


def kernel_packets() -> int:
    """Packets the kernel's receive path has processed so far, all CPUs (/proc/net/softnet_stat)."""
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(l.split()[0], 16) for l in f if l.strip())
    except (OSError, ValueError, IndexError):
        return 0


def probe_add_del(name: str) -> float:
    t0 = time.monotonic()
    r = quiet(["ip", "netns", "add", name], timeout=600)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"ip netns add {name}: {r.stderr.strip()}")
    quiet(["ip", "netns", "del", name], timeout=600)
    return dt


def wait_settle(probe: str, t_ref: float, timeout: float) -> dict:
    """Probe until an `ip netns add` takes < SETTLE_THRESHOLD; time from t_ref until it returned."""
    probes = []
    while True:
        dt = probe_add_del(probe)
        t = time.monotonic()
        probes.append(round(dt, 4))
        if dt < SETTLE_THRESHOLD:
            return {"settle_s": round(t - t_ref, 3), "probes": len(probes), "slowest_probe_s": max(probes),
                    "probe_add_s": probes[:50]}
        if t - t_ref > timeout:
            return {"settle_s": None, "timed_out_after_s": round(t - t_ref, 1), "probes": len(probes),
                    "slowest_probe_s": max(probes), "probe_add_s": probes[:50]}


def mininet_names(n: int) -> set[str]:
    """Every root-namespace interface name Mininet's linear,N can create (lxbr switches)."""
    names = set()
    for i in range(1, n + 1):
        names |= {f"s{i}", f"h{i}-eth0"} | {f"s{i}-eth{j}" for j in range(1, 4)}
    return names


# brctl made of iproute2, for Mininet's LinuxBridge on machines without bridge-utils (opt-in)
BRCTL_SHIM = """#!/bin/sh
# brctl substitute made of iproute2 (bench/deploy_scale.py --brctl-shim): the subset Mininet uses
cmd=$1; shift
case "$cmd" in
  addbr) exec ip link add name "$1" type bridge ;;
  delbr) exec ip link del dev "$1" ;;
  addif) exec ip link set dev "$2" master "$1" ;;
  delif) exec ip link set dev "$2" nomaster ;;
  stp)   [ "$2" = on ] && s=1 || s=0; exec ip link set dev "$1" type bridge stp_state $s ;;
  showstp) exec bridge link show ;;
  *) echo "brctl shim: unsupported command: $cmd" >&2; exit 1 ;;
esac
"""


# ----------------------------------------------------------------------------- the benchmark

PHASE_RE = re.compile(r"^  (\S.*?)\s+(\d+)\s+(\d+\.\d+) s$")


def parse_phases(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        m = PHASE_RE.match(line.rstrip())
        if m:
            out.append({"phase": m.group(1), "count": int(m.group(2)), "seconds": float(m.group(3))})
    return out


def reported_seconds(stderr: str, word: str) -> float | None:
    m = re.search(rf"{word}.* in (\d+\.\d+) s", stderr)
    return float(m.group(1)) if m else None


def command_record(r: Result, word: str) -> dict:
    """A CLI command's summary with its phases and where its wall time went."""
    rec = {**r.summary(), "phases": parse_phases(r.stderr), "reported_s": reported_seconds(r.stderr, word)}
    if rec["reported_s"] is not None:
        phased = round(sum(p["seconds"] for p in rec["phases"]), 3)
        # reported_s: the command's own clock, from just before compile/state read to the end of apply
        rec["split_s"] = {"phases": phased, "in_process_outside_phases": round(rec["reported_s"] - phased, 3),
                          "startup_imports_exit": round(rec["wall_s"] - rec["reported_s"], 3)}
    return rec


class Bench:
    def __init__(self, args):
        self.args = args
        self.py = args.python
        self.runner = Runner(args.rss_tool)
        self.probe = f"benchprobe-{os.getpid()}"
        self.pending_labs: set[str] = set()  # bench labs that may exist: destroyed on exit
        self.runs: list[dict] = []
        self.emulator_failed = False
        self.notes: list[str] = []
        self.shim_dir: str | None = None

    def emu(self, *argv: str) -> list[str]:
        return [self.py, "-m", "emulator", *argv]

    def lab_names(self) -> list[str]:
        r = quiet(self.emu("inspect", "-f", "json"), timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"emulator inspect failed: {r.stderr.strip()}")
        return [l["name"] for l in json.loads(r.stdout or "[]")]

    def settle(self, t_ref: float) -> dict:
        return wait_settle(self.probe, t_ref, self.args.settle_timeout)

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # -- the emulator, one N
    def run_emulator(self, n: int, rep: int) -> dict:
        a = self.args
        name = f"benchlin{n}"
        rec: dict = {"tool": "emulator", "n": n, "repeat": rep, "lab": name}
        self.runs.append(rec)
        self.log(f"emulator linear,{n}: deploy ...")
        self.pending_labs.add(name)
        pk = [kernel_packets()]
        d = self.runner.run(self.emu("deploy", "--topo", f"linear,{n}", "--name", name, "--max-rows", "0"),
                            timeout=a.timeout)
        rec["deploy"] = command_record(d, "deployed")
        pk.append(kernel_packets())
        if d.rc != 0:
            rec["error"] = f"deploy failed (rc {d.rc}): {d.tail(8).strip()}"
            rec["deploy"]["output_tail"] = d.tail(30)
            self.emulator_failed = True
        else:
            # hN's address, then a ping from h1 across all N bridges
            i = self.runner.run(self.emu("inspect", name, "-f", "json"), timeout=a.timeout)
            rec["inspect"] = i.summary()
            addr = None
            try:
                st = json.loads(i.stdout)
                addr = st["nodes"][f"h{n}"]["interfaces"]["eth0"]["addresses"][0].split("/")[0]
            except (ValueError, KeyError, IndexError, TypeError) as e:
                rec["error"] = f"inspect gave no address for h{n} (rc {i.rc}): {e}: {i.tail(5).strip()}"
                self.emulator_failed = True
            if addr:
                self.log(f"emulator linear,{n}: ping h1 -> h{n} ({addr}) ...")
                w = ping_wait(n)
                rec["ping_wait_s"] = w
                argv = self.emu("exec", name, "h1", "--", "ping", "-c1", f"-W{w}", addr)
                p = self.runner.run(argv, timeout=60 + w)
                rec["ping"] = {**p.summary(), "target": addr, "ok": p.rc == 0, "output_tail": p.tail(4)}
                if p.rc != 0:
                    # once more, to tell "lost right after deploy" from "this lab does not forward"
                    self.log(f"emulator linear,{n}: ping failed (rc {p.rc}); once more ...")
                    p2 = self.runner.run(argv, timeout=60 + w)
                    rec["ping"]["retry"] = {**p2.summary(), "ok": p2.rc == 0, "output_tail": p2.tail(4)}
                    if p2.rc == 0:
                        rec["warning"] = (f"the first ping h1 -> h{n} ({addr}) failed (rc {p.rc}: "
                                          f"{_ping_loss(p.stdout)}); a second one right after it worked")
                    else:
                        rec["error"] = f"ping h1 -> h{n} ({addr}) failed twice (rc {p.rc}, {p2.rc})"
                        self.emulator_failed = True
        pk.append(kernel_packets())
        self.log(f"emulator linear,{n}: destroy ...")
        if d.rc != 0 and name not in self.lab_names():
            self.pending_labs.discard(name)  # the failed deploy rolled itself back
            t_ref = time.monotonic()
        else:
            x = self.runner.run(self.emu("destroy", name), timeout=a.timeout)
            t_ref = x.t_end
            rec["destroy"] = command_record(x, "destroyed")
            if x.rc == 0:
                self.pending_labs.discard(name)
            else:
                rec["error"] = (rec.get("error", "") + f"; destroy failed (rc {x.rc}): {x.tail(8).strip()}").lstrip("; ")
                rec["destroy"]["output_tail"] = x.tail(30)
                self.emulator_failed = True
        pk.append(kernel_packets())
        if d.rc == 0 and rec.get("destroy", {}).get("rc") == 0:
            rec["deploy_destroy_s"] = round(rec["deploy"]["wall_s"] + rec["destroy"]["wall_s"], 4)
        self.log(f"emulator linear,{n}: waiting for the kernel to settle ...")
        rec["settle"] = self.settle(t_ref)
        pk.append(kernel_packets())
        if len(pk) == 5:  # packets through the lab's data plane (mostly its hosts' IPv6 chatter) per step
            rec["kernel_packets"] = dict(zip(["deploy", "inspect_ping", "destroy", "settle"],
                                             [b - a for a, b in zip(pk, pk[1:])]))
        self.log(f"emulator linear,{n}: {_row_brief(rec)}")
        return rec

    # -- Mininet, one N
    def run_mininet(self, n: int, rep: int) -> dict:
        a = self.args
        rec: dict = {"tool": "mininet", "n": n, "repeat": rep,
                     "argv": ["mn", "--switch", "lxbr", "--controller", "none", "--topo", f"linear,{n}",
                              "--test", "none"]}
        if self.shim_dir:
            rec["brctl_shim"] = True
        self.runs.append(rec)
        if not shutil.which("mn"):
            rec["error"] = "mn not found (Debian package mininet)"
            return rec
        before = link_names()
        clash = sorted(before & mininet_names(n))
        if clash:
            # Mininet deletes interfaces with the names it wants; never touch someone else's
            rec["error"] = f"skipped: interfaces with Mininet's names exist already: {', '.join(clash[:8])}"
            self.log(f"mininet linear,{n}: {rec['error']}")
            return rec
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # line timestamps give the setup/teardown split
        if self.shim_dir:
            env["PATH"] = self.shim_dir + os.pathsep + env.get("PATH", "")
        self.log(f"mininet linear,{n}: mn ... (setup + teardown)")
        try:
            r = self.runner.run(rec["argv"], timeout=a.mininet_timeout, stop_signal=signal.SIGTERM,
                                env=env, merge=True, stop_grace=30)
        finally:
            # after an interruption or a crash: remove what this mn left, by exact name, nothing else
            left = sorted((link_names() - before) & mininet_names(n))
            for ifname in sorted(left, key=lambda s: (not s.startswith("h"), "-" not in s)):
                quiet(["ip", "link", "del", "dev", ifname], timeout=120)
            if left:
                rec["leftovers_removed"] = left
        rec["run"] = {**r.summary(), "output_tail": r.tail(12)}
        text = r.stdout
        ok = r.rc == 0 and "completed in" in text and "Caught exception" not in text
        if ok:
            stop_t = next((t for t, l in r.out if l.startswith("*** Stopping")), None)
            rec["deploy_destroy_s"] = round(r.wall, 4)
            if stop_t is not None:
                rec["setup_s"] = round(stop_t - r.t_start, 4)
                rec["teardown_s"] = round(r.t_end - stop_t, 4)
            m = re.search(r"completed in (\d+\.\d+) seconds", text)
            rec["reported_s"] = float(m.group(1)) if m else None
        else:
            why = [l.strip() for l in text.splitlines()
                   if re.search(r"Cannot find|Exception|Error|error|exception|not found", l)]
            rec["error"] = (f"mn failed (rc {r.rc}{', timed out' if r.timed_out else ''}): "
                            + (" / ".join(why[:3]) or r.tail(3).strip()))
            if "brctl" in text and not self.shim_dir:
                rec["hint"] = ("Mininet's lxbr switch needs brctl (Debian package bridge-utils), which the "
                               "Makefile does not install; or run with --brctl-shim")
        self.log(f"mininet linear,{n}: waiting for the kernel to settle ...")
        rec["settle"] = self.settle(r.t_end)
        self.log(f"mininet linear,{n}: {_row_brief(rec)}")
        return rec

    def cleanup(self) -> list[str]:
        """Destroy this run's labs by exact name; delete the probe namespace. Returns problems."""
        problems = []
        for name in sorted(self.pending_labs):
            try:
                if name in self.lab_names():
                    self.log(f"clean-up: destroying lab {name}")
                    r = quiet(self.emu("destroy", name), timeout=600)
                    if r.returncode != 0:
                        problems.append(f"destroy {name}: {r.stderr.strip()}")
                        continue
                self.pending_labs.discard(name)
            except Exception as e:
                problems.append(f"destroy {name}: {e}")
        if os.path.exists(os.path.join("/run/netns", self.probe)):
            r = quiet(["ip", "netns", "del", self.probe], timeout=600)
            if r.returncode != 0:
                problems.append(f"ip netns del {self.probe}: {r.stderr.strip()}")
        if self.shim_dir:
            shutil.rmtree(self.shim_dir, ignore_errors=True)
        return problems


def ping_wait(n: int) -> int:
    """The ping's -W for linear,n: its ARP request and reply cross all n bridges, and the
    broadcast is flooded to every port of the lab."""
    return 5 + n // 1000


def nodes_txt(r: dict) -> str:
    """N with the node count: linear,N has N hosts and N bridges."""
    return f"{r['n']} ({2 * r['n']:,} nodes)"


def _ping_loss(out: str) -> str:
    m = re.search(r"\d+ packets transmitted.*", out)
    return m.group(0).strip() if m else "no output"


def _row_brief(rec: dict) -> str:
    if rec.get("error"):
        return "ERROR: " + rec["error"].splitlines()[0][:200]
    s = rec.get("settle", {}).get("settle_s")
    return f"deploy+destroy {rec.get('deploy_destroy_s')} s, kernel settle {s} s"


# ----------------------------------------------------------------------------- report

def fmt(v, nd=2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def table_rows(runs: list[dict]) -> list[list[str]]:
    rows = []
    for r in runs:
        settle = r.get("settle", {})
        settle_s = settle.get("settle_s")
        settle_txt = fmt(settle_s) if settle_s is not None else (
            f">{settle['timed_out_after_s']}" if "timed_out_after_s" in settle else "-")
        tool = r["tool"] + (" (brctl shim)" if r.get("brctl_shim") else "")
        if r.get("interrupted"):
            rows.append([tool, nodes_txt(r), "interrupted", "-", "-", "-", "-", "-"])
            continue
        if r["tool"] == "emulator":
            dep = r.get("deploy", {})
            rss = dep.get("peak_rss_mb")
            ping = r.get("ping")
            ping_txt = "-" if ping is None else ("yes" if ping["ok"] else "NO")
            if ping and "retry" in ping:
                ping_txt += " (2nd: " + ("yes" if ping["retry"]["ok"] else "NO") + ")"
            rows.append([tool, nodes_txt(r), fmt(dep.get("wall_s")), ping_txt,
                         fmt(r.get("destroy", {}).get("wall_s")), fmt(r.get("deploy_destroy_s")),
                         settle_txt, fmt(rss, 1)])
        else:
            if r.get("error"):
                rows.append([tool, nodes_txt(r), "FAILED", "-", "-", "-", settle_txt,
                             fmt(r.get("run", {}).get("peak_rss_mb"), 1)])
                continue
            rows.append([tool, nodes_txt(r), fmt(r.get("setup_s")), "-", fmt(r.get("teardown_s")),
                         fmt(r.get("deploy_destroy_s")), settle_txt, fmt(r.get("run", {}).get("peak_rss_mb"), 1)])
    return rows


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    right = lambda i: i >= 2 and i != 3
    fmt_row = lambda r: "| " + " | ".join(c.rjust(w[i]) if right(i) else c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    return "\n".join([line, fmt_row(headers), line] + [fmt_row(r) for r in rows] + [line])


def _median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict]) -> dict:
    """Medians per tool and N, the comparisons and the targets."""
    by: dict = {}
    for r in runs:
        if r.get("deploy_destroy_s") is None:  # only when deploy and destroy (or mn) succeeded
            continue
        e = by.setdefault((r["tool"], r["n"]), {"dd": [], "dds": [], "rss": []})
        e["dd"].append(r["deploy_destroy_s"])
        e["rss"].append((r.get("deploy") or r.get("run") or {}).get("peak_rss_mb"))
        s = r.get("settle", {}).get("settle_s")
        e["dds"].append(r["deploy_destroy_s"] + s if s is not None else None)
    med = {f"{t}/{n}": {"deploy_destroy_s": _median(v["dd"]), "deploy_destroy_settle_s": _median(v["dds"]),
                        "peak_rss_mb": max([x for x in v["rss"] if x is not None], default=None),
                        "runs": len(v["dd"])} for (t, n), v in by.items()}
    comparisons = []
    for n in sorted({n for (_, n) in by}):
        e, m = med.get(f"emulator/{n}"), med.get(f"mininet/{n}")
        if not e:
            continue
        if m:
            c = {"n": n, "source": "measured in this run", "mininet_deploy_destroy_s": m["deploy_destroy_s"],
                 "emulator_deploy_destroy_s": e["deploy_destroy_s"],
                 "speedup_deploy_destroy": round(m["deploy_destroy_s"] / e["deploy_destroy_s"], 1)}
            if m["deploy_destroy_settle_s"] and e["deploy_destroy_settle_s"]:
                c["mininet_with_settle_s"] = round(m["deploy_destroy_settle_s"], 3)
                c["emulator_with_settle_s"] = round(e["deploy_destroy_settle_s"], 3)
                c["speedup_with_settle"] = round(m["deploy_destroy_settle_s"] / e["deploy_destroy_settle_s"], 1)
            comparisons.append(c)
        elif n in MININET_REFERENCE:
            ref = MININET_REFERENCE[n]
            c = {"n": n, "source": "Mininet reference measured earlier on this machine (not in this run)",
                 "mininet_deploy_destroy_s": ref, "emulator_deploy_destroy_s": e["deploy_destroy_s"],
                 "speedup_deploy_destroy": round(ref / e["deploy_destroy_s"], 1)}
            if e["deploy_destroy_settle_s"]:
                c["emulator_with_settle_s"] = round(e["deploy_destroy_settle_s"], 3)
                c["speedup_with_settle_vs_reference"] = round(ref / e["deploy_destroy_settle_s"], 1)
            comparisons.append(c)
    targets = []
    for n, limit in TARGETS.items():
        e = med.get(f"emulator/{n}")
        t = {"n": n, "limit_s": limit, "deploy_destroy_s": e["deploy_destroy_s"] if e else None,
             "with_settle_s": e["deploy_destroy_settle_s"] if e else None,
             "met": (e["deploy_destroy_s"] < limit) if e else None}
        if n in RSS_TARGETS:
            t["rss_limit_mb"] = RSS_TARGETS[n]
            t["peak_rss_mb"] = e["peak_rss_mb"] if e else None
            if e and e["peak_rss_mb"] is not None:
                t["met"] = t["met"] and e["peak_rss_mb"] < RSS_TARGETS[n]
        targets.append(t)
    return {"medians": med, "comparisons": comparisons, "targets": targets}


def print_report(bench: Bench, summary: dict, machine: dict) -> None:
    headers = ["tool", "linear,N", "deploy s", "ping ok", "destroy s", "deploy+destroy s", "kernel settle s", "peak RSS MB"]
    print()
    print(f"linear,N on {machine['cpu_model']} ({machine['cores']} cores), kernel {machine['kernel']}, "
          f"Python {machine['emulator_python']}, Mininet {machine['mininet_version']}")
    print(render_table(headers, table_rows(bench.runs)))
    notes = ["mininet: deploy s / destroy s = setup / teardown of one `mn ... --test none` run, split where it "
             "printed '*** Stopping'"] if any(r["tool"] == "mininet" and r.get("setup_s") for r in bench.runs) else []
    for r in bench.runs:
        for key in ("error", "warning"):
            if r.get(key):
                notes.append(f"{r['tool']} linear,{r['n']}: {r[key].splitlines()[0][:300]}")
        if r.get("hint"):
            notes.append(f"  hint: {r['hint']}")
    for r in bench.runs:
        kp = r.get("kernel_packets")
        if kp and (r.get("warning") or r.get("error")) and r.get("ping"):
            dt = r["ping"]["wall_s"] + r.get("inspect", {}).get("wall_s", 0)
            notes.append(f"  kernel packets processed between deploy and destroy: {kp['inspect_ping']:,} "
                         f"(~{kp['inspect_ping'] / dt:,.0f}/s), during the deploy: {kp['deploy']:,}")
    for r in bench.runs:
        sp = r.get("deploy", {}).get("split_s")
        if r["tool"] == "emulator" and sp and not r.get("interrupted"):
            top = sorted(r["deploy"]["phases"], key=lambda p: -p["seconds"])[:3]
            notes.append(f"emulator deploy linear,{r['n']} {r['deploy']['wall_s']:.2f} s = start-up/imports/exit "
                         f"{sp['startup_imports_exit']:.2f} + compile/state {sp['in_process_outside_phases']:.2f} + "
                         f"phases {sp['phases']:.2f} (" + ", ".join(f"{p['phase']} {p['seconds']:.2f}" for p in top)
                         + ")")
    for note in notes + bench.notes:
        print("  " + note)
    print()
    for c in summary["comparisons"]:
        if c["source"] == "measured in this run":
            line = (f"linear,{c['n']}: emulator {c['emulator_deploy_destroy_s']:.2f} s vs Mininet "
                    f"{c['mininet_deploy_destroy_s']:.2f} s deploy+destroy: {c['speedup_deploy_destroy']}x faster")
            if "speedup_with_settle" in c:
                line += (f"; with kernel settle {c['emulator_with_settle_s']:.2f} s vs {c['mininet_with_settle_s']:.2f} s:"
                         f" {c['speedup_with_settle']}x")
        else:
            line = (f"linear,{c['n']}: emulator {c['emulator_deploy_destroy_s']:.2f} s deploy+destroy vs Mininet "
                    f"{c['mininet_deploy_destroy_s']} s (reference measured earlier, NOT in this run): "
                    f"{c['speedup_deploy_destroy']}x")
            if "speedup_with_settle_vs_reference" in c:
                line += (f"; with kernel settle {c['emulator_with_settle_s']:.2f} s: "
                         f"{c['speedup_with_settle_vs_reference']}x")
        print(line)
    for t in summary["targets"]:
        what = f"target linear,{t['n']} ({2 * t['n']:,} nodes) deploy+destroy < {t['limit_s']:g} s"
        if "rss_limit_mb" in t:
            what += f" within {t['rss_limit_mb']:,} MB peak RSS"
        if t["deploy_destroy_s"] is None:
            print(f"{what}: not measured")
        else:
            settle = f" (plus kernel settle: {t['with_settle_s']:.2f} s)" if t["with_settle_s"] is not None else ""
            rss = f", {t['peak_rss_mb']:.0f} MB" if t.get("peak_rss_mb") is not None else ""
            print(f"{what}: {t['deploy_destroy_s']:.2f} s{rss}, {'met' if t['met'] else 'NOT met'}{settle}")


def machine_info(py: str, runner: Runner) -> dict:
    cpu = "unknown"
    mem_mb = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem_mb = next((int(l.split()[1]) // 1024 for l in f if l.startswith("MemTotal")), None)
    except OSError:
        pass

    def out(argv):
        try:
            r = quiet(argv, timeout=60)
            return (r.stdout.strip() or r.stderr.strip()).splitlines()[-1] if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return None
    return {
        "hostname": platform.node(), "kernel": platform.release(), "kernel_version": platform.version(),
        "cpu_model": cpu, "cores": os.cpu_count(), "memory_mb": mem_mb,
        "emulator_python": out([py, "-c", "import platform; print(platform.python_version())"]),
        "emulator_python_path": py, "bench_python": platform.python_version(),
        "emulator_version": out([py, "-m", "emulator", "--version"]),
        "git_commit": out(["git", "-C", REPO, "rev-parse", "HEAD"]),
        "mininet_version": out(["mn", "--version"]) if shutil.which("mn") else None,
        "brctl": shutil.which("brctl"),
        "rss_tool": "GNU time (/usr/bin/time -f %M)" if runner.rss_tool == "time" else "os.wait4 wrapper",
        "loadavg_start": os.getloadavg(),
    }


def default_python() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.access(venv, os.X_OK) else sys.executable


def sizes(text: str) -> list[int]:
    if text.strip().lower() in ("", "none"):
        return []
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 50,200,1000, got '{text}'") from None
    if any(v < 2 for v in vals):
        raise argparse.ArgumentTypeError("sizes must be at least 2 (the ping goes from h1 to hN)")
    return vals


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/deploy_scale.py", description=HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=sizes, default=None, metavar="N,N,...",
                   help=f"emulator sizes (default {','.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--mininet-sizes", type=sizes, default=None, metavar="N,N,...",
                   help=f"Mininet sizes (default {','.join(map(str, DEFAULT_MININET_SIZES))}; 'none' skips Mininet)")
    p.add_argument("--repeat", type=int, default=1, metavar="K", help="measure every size K times (default 1)")
    p.add_argument("--quick", action="store_true",
                   help=f"sizes {','.join(map(str, QUICK_SIZES))}, Mininet {','.join(map(str, QUICK_MININET_SIZES))} "
                        "only (explicit --sizes/--mininet-sizes still win)")
    p.add_argument("--brctl-shim", action="store_true",
                   help="give Mininet a brctl made of iproute2 commands (for machines without bridge-utils; "
                        "marked as such in the results)")
    p.add_argument("--python", default=default_python(),
                   help="interpreter that runs `-m emulator` (default: the repository's .venv, else this one)")
    p.add_argument("--settle-timeout", type=float, default=600, metavar="S",
                   help="give up waiting for the kernel to settle after S seconds (default 600)")
    p.add_argument("--timeout", type=float, default=900, metavar="S", help="per emulator command (default 900)")
    p.add_argument("--mininet-timeout", type=float, default=1800, metavar="S", help="per mn run (default 1800)")
    p.add_argument("--rss-tool", choices=["auto", "time", "wrapper"], default="auto",
                   help="how peak RSS is read: GNU time or an os.wait4 wrapper (default: time if installed)")
    p.add_argument("--output-dir", default=RESULTS_DIR, help="where the JSON goes (default bench/results)")
    a = p.parse_args(argv)
    if a.sizes is None:
        a.sizes = QUICK_SIZES if a.quick else DEFAULT_SIZES
    if a.mininet_sizes is None:
        a.mininet_sizes = QUICK_MININET_SIZES if a.quick else DEFAULT_MININET_SIZES
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("error: this benchmark deploys labs and creates namespaces: run it as root", file=sys.stderr)
        return 3
    ns_before, links_before = netns_names(), link_names()  # to check that nothing is left behind
    bench = Bench(args)
    started = time.strftime("%Y%m%d-%H%M%S")
    machine = machine_info(args.python, bench.runner)
    old = {s: signal.signal(s, _on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    result: dict = {"benchmark": "deploy_scale", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "settings": {"sizes": args.sizes, "mininet_sizes": args.mininet_sizes, "repeat": args.repeat,
                                 "settle_threshold_s": SETTLE_THRESHOLD, "brctl_shim": args.brctl_shim,
                                 "targets_deploy_destroy_s": {str(k): v for k, v in TARGETS.items()},
                                 "targets_peak_rss_mb": {str(k): v for k, v in RSS_TARGETS.items()},
                                 "mininet_reference_s": {str(k): v for k, v in MININET_REFERENCE.items()}},
                    "machine": machine, "runs": bench.runs}
    interrupted = None
    failed_setup = None
    try:
        labs = bench.lab_names()
        ours = [f"benchlin{n}" for n in args.sizes if f"benchlin{n}" in labs]
        if ours:
            failed_setup = (f"lab(s) {', '.join(ours)} exist already (left by an earlier run?); remove them with: "
                            + "; ".join(f"{args.python} -m emulator destroy {l}" for l in ours))
            raise SystemExit(1)
        others = [l for l in labs if not l.startswith("benchlin")]
        if others:
            bench.notes.append(f"other labs were deployed when the run started ({', '.join(others[:5])}): "
                               "the numbers may be disturbed")
            machine["other_labs_at_start"] = others
        if args.brctl_shim:
            bench.shim_dir = tempfile.mkdtemp(prefix="bench-brctl-")
            path = os.path.join(bench.shim_dir, "brctl")
            with open(path, "w") as f:
                f.write(BRCTL_SHIM)
            os.chmod(path, 0o755)
        bench.log("waiting for the kernel to settle before the first measurement ...")
        result["initial_settle"] = bench.settle(time.monotonic())
        for rep in range(args.repeat):
            for n in args.sizes:
                bench.run_emulator(n, rep)
            for n in args.mininet_sizes:
                bench.run_mininet(n, rep)
    except KeyboardInterrupt:
        interrupted = "Ctrl-C"
    except Terminated:
        interrupted = "SIGTERM"
    except SystemExit:
        pass
    except Exception as e:  # the bench itself broke: still clean up and report
        failed_setup = f"{type(e).__name__}: {e}"
        bench.emulator_failed = True
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # let clean-up finish
        problems = bench.cleanup()
        for s, h in old.items():
            signal.signal(s, h)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted and bench.runs and "settle" not in bench.runs[-1]:
        bench.runs[-1]["interrupted"] = interrupted
    try:
        others_end = [l for l in bench.lab_names() if not l.startswith("benchlin")]
    except Exception:
        others_end = []
    if others_end and others_end != machine.get("other_labs_at_start"):
        machine["other_labs_at_end"] = others_end
        bench.notes.append(f"other labs were deployed at the end of the run ({', '.join(others_end[:5])}): "
                           "the numbers may be disturbed")
    # what is left: namespaces and root-namespace links that appeared during the run
    bench.log("checking that nothing is left behind (`ip -br link` waits while the kernel frees namespaces) ...")
    ns_after, links_after = netns_names(), link_names()
    new_ns = sorted(ns_after - ns_before)
    new_links = sorted(links_after - links_before)
    mn_names = set().union(*(mininet_names(n) for n in args.mininet_sizes)) if args.mininet_sizes else set()
    ours_left = [x for x in new_ns if x == bench.probe or x.startswith("emu-benchlin")] + \
        [x for x in new_links if x in mn_names]
    leftovers = {"new_netns": new_ns, "new_root_links": new_links, "bench_leftovers": ours_left,
                 "cleanup_problems": problems, "gone_netns": sorted(ns_before - ns_after),
                 "gone_root_links": sorted(links_before - links_after)}
    machine["loadavg_end"] = os.getloadavg()
    summary = summarize(bench.runs)
    result.update({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "interrupted": interrupted,
                   "error": failed_setup, "leftovers": leftovers, **summary})
    if failed_setup:
        print(f"error: {failed_setup}", file=sys.stderr)
    if bench.runs:
        print_report(bench, summary, machine)
    if interrupted:
        print(f"\ninterrupted ({interrupted}): what this run had created was removed", file=sys.stderr)
    if new_ns or new_links or problems:
        print(f"\nafter the run: new namespaces {new_ns or 'none'}, new root-namespace links {new_links or 'none'}"
              + (f", clean-up problems: {problems}" if problems else "")
              + ("" if ours_left else " (none of them this benchmark's)"), file=sys.stderr)
    else:
        print("\nafter the run: `ip netns list` and `ip -br link` are as before (nothing left behind)")
    if bench.runs:
        os.makedirs(args.output_dir, exist_ok=True)
        path = os.path.join(args.output_dir, f"deploy_scale-{started}.json")
        for p in (path, os.path.join(args.output_dir, "deploy_scale-latest.json")):
            with open(p, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
        print(f"results: {os.path.relpath(path)}")
    if interrupted:
        return 130
    return 1 if (bench.emulator_failed or failed_setup or ours_left or problems) else 0


if __name__ == "__main__":
    sys.exit(main())
