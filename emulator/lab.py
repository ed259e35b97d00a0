"""The public API: compile a topology, deploy it, inspect it, destroy it.

    compile():  load -> validate -> resolve (model) -> graph -> addresses -> routes -> plan
    deploy():   compile, then apply the plan with a journal; roll back on any failure
    destroy():  undo the journal (from any process, after any crash)

The CLI, the scenario runner and the web UI all go through these functions.
"""
from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import resource
import signal
import threading
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from .deploy import actions as A
from .deploy import apply, capabilities, hostcmd, state, teardown
from .core import loader, plan, resolve
from . import backends, names, registry
from .errors import DeployError, EnvironmentProblem, LabError
from .deploy.kernel import netlink, netns
from .core.loader import Source
from .core.model import TAG_PREFIX, Lab

if TYPE_CHECKING:
    import networkx as nx


_gc_lock = threading.Lock()
_gc_depth = [0, False]   # pipelines running (threads of the web UI), whether the collector was on


@contextlib.contextmanager
def _gc_paused():
    """The cyclic garbage collector off while a pipeline runs. Compiling a large lab allocates
    hundreds of thousands of objects that live until it ends and form no cycles, so the collector's
    full passes found nothing and cost 10-20 % of a compile (bench/compile_scale.py); it is on again
    (and collects) when the last pipeline of the process ends."""
    with _gc_lock:
        if _gc_depth[0] == 0:
            _gc_depth[1] = gc.isenabled()
            gc.disable()
        _gc_depth[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth[0] -= 1
            if _gc_depth[0] == 0 and _gc_depth[1]:
                gc.enable()


@dataclass
class Compiled:
    source: Source
    lab: Lab
    graph: nx.MultiGraph
    actions: list[A.Action]
    services: list = field(default_factory=list)   # network service chains (emulator/backends/nsm/expand.py)


def load(path_or_source: str | Source) -> Source:
    """A Source as it is; a file in the project's YAML or containerlab's (emulator/formats/)."""
    from . import formats
    if isinstance(path_or_source, Source):
        return formats.convert(path_or_source)
    return formats.convert(loader.load_file(path_or_source))


def compile(path_or_source: str | Source, check_host: bool = True) -> Compiled:
    """Every stage up to the plan; raises TopologyError (all problems, located) on bad input."""
    with _gc_paused():
        return _compile(path_or_source, check_host)


def _compile(path_or_source: str | Source, check_host: bool) -> Compiled:
    from .core import addressing, graph, validate  # networkx and jsonschema: only commands that compile pay for them
    backends.ensure_loaded()
    src = load(path_or_source)
    raw = validate.check(src)
    services: list = []
    for expand in registry.active().expand_hooks:   # NSM: network services -> links, addresses, routes
        raw, src, more = expand(raw, src)
        services += more
    lab = resolve.resolve(raw, src)
    lab.services = services   # for the drivers' plans (an SRv6 policy from: a service chain)
    g = graph.build(lab)
    addressing.allocate(lab, g, src)
    resolve.resolve_routes(lab, raw, src)
    if check_host:
        capabilities.check_lab(lab, src)
    return Compiled(src, lab, g, plan.plan(lab), services)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem("deploying needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create "
                                 "network namespaces); run with sudo")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Interrupted(BaseException):
    pass


def _on_sigterm(signum, frame):
    raise _Interrupted()


def deploy(path_or_source: str | Source, progress: apply.Progress | None = None) -> dict:
    """Build the lab; return its state. On failure or interruption, remove what was built."""
    with _gc_paused():
        return _deploy(path_or_source, progress)


def _deploy(path_or_source: str | Source, progress: apply.Progress | None) -> dict:
    c = compile(path_or_source)
    _require_root()
    _raise_fd_limit()
    lab = c.lab
    if state.read_state(lab.name) is not None or _journal_has_records(lab.name):
        raise LabError(f"lab '{lab.name}' is already deployed; destroy it first "
                       f"(emulator destroy {lab.name})")
    old = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    st = None
    try:
        try:
            with state.locked(lab.name, create=True):
                journal = state.Journal(lab.name)
                st = lab_state(c, status="deploying")
                state.write_state(lab.name, st)
                logs = os.path.join(state.lab_dir(lab.name), "logs")
                os.makedirs(logs, exist_ok=True)
                ctx = A.Context(lab.tag, journal, log_dir=logs)
                try:
                    apply.apply(c.actions, ctx, progress)
                    journal.close()
                    st["status"] = "running"   # inside the try: interrupted while marking it, it rolls back too
                    state.write_state(lab.name, st)
                except BaseException as e:
                    journal.close()
                    with _no_sigint():   # a second Ctrl-C must not stop the rollback half way
                        teardown.teardown(journal.records(), lab=lab.name)
                        state.remove(lab.name)
                    if isinstance(e, _Interrupted):
                        raise KeyboardInterrupt() from None
                    if isinstance(e, (DeployError, KeyboardInterrupt, EnvironmentProblem)):
                        raise
                    if isinstance(e, netlink.NetlinkError | OSError):
                        raise DeployError(f"deploy failed: {e}") from e
                    raise
                return st
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)
    except (KeyboardInterrupt, _Interrupted):
        # interrupted outside the rollback above (before it, or after the lab was marked running):
        # what this call made still goes, so an interrupted deploy never leaves a lab behind
        if st is not None and _made_by(lab.name, st):
            with _no_sigint():
                destroy(lab.name)
        raise KeyboardInterrupt() from None


def _made_by(name: str, st: dict) -> bool:
    on_disk = state.read_state(name)
    return bool(on_disk) and on_disk.get("pid") == st["pid"] and on_disk.get("created") == st["created"]


@contextlib.contextmanager
def _no_sigint():
    """SIGINT ignored for the block (main thread only: signal handlers live there)."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _journal_has_records(name: str) -> bool:
    return bool(state.Journal(name).records())


def lab_state(c: Compiled, status: str) -> dict:
    lab = c.lab
    return {
        "name": lab.name, "status": status, "file": os.path.abspath(lab.file) if os.path.exists(lab.file)
        else lab.file, "created": state.now(), "pid": os.getpid(), "fabric": lab.fabric,
        "nodes": {n.name: {"kind": n.kind, "netns": n.netns, "labels": n.labels,
                           "routes": [{"to": r.to, "via": r.via, "dev": r.dev,
                                       "oif": n.interfaces[r.dev].index if r.dev else None, "metric": r.metric}
                                      for r in n.routes],
                           "interfaces": {i.name: {"device": i.device, "index": i.index, "netns": i.netns,
                                                   "addresses": i.addresses, "mac": i.mac,
                                                   "peer": _peer(lab, i)}
                                          for i in n.interfaces.values() if i.wired}}
                  for n in lab.nodes.values()},
        "links": [{"id": l.id, "a": l.a.key, "b": l.b.key,
                   "impairment": {k: v for k, v in vars(l.impairment).items() if v}} for l in lab.links],
        **({"endpoints": [{"id": e.id, "type": e.type, "interface": e.iface.key, "host_interface": e.host_interface}
                          for e in lab.endpoints]} if lab.endpoints else {}),
        **({"services": [ch.as_dict() for ch in c.services]} if c.services else {}),
    }


def _peer(lab: Lab, iface) -> str:
    if iface.endpoint >= 0:
        ep = lab.endpoints[iface.endpoint]
        return f"{ep.type}:{ep.host_interface}"
    link = lab.links[iface.link]
    return (link.b if link.a is iface else link.a).key


def destroy(name: str, progress: apply.Progress | None = None) -> list[str]:
    """Remove the lab; returns problems met (empty when all went)."""
    names.check_lab(name)   # before anything: '..' or 'a/b' is no lab, and no path to remove
    _require_root()
    backends.ensure_loaded()   # every backend's undo handlers, whatever this process imported
    with state.locked(name, create=False):
        records = state.Journal(name).records()
        problems = teardown.teardown(records, progress, lab=name)
        state.remove(name)
    return problems


def labs() -> list[dict]:
    out = []
    for name in state.list_labs():
        try:
            st = state.read_state(name)
        except LabError:   # a state file naming what the lab does not make: shown as crashed
            st = None
        st = st or {"name": name, "status": "unknown", "nodes": {}, "links": []}
        busy = state.is_busy(name)
        if st.get("status") in ("deploying", "unknown") and not busy:
            st["status"] = "crashed"  # no process holds the lock: the deploy died
        elif st.get("status") == "unknown":
            st["status"] = "deploying"  # just started: the lock is held, state.json not yet written
        out.append(st)
    return out


def get(name: str) -> dict:
    names.check_lab(name)
    st = state.read_state(name)
    if st is None:
        if name in state.list_labs():
            return {"name": name, "status": "crashed", "nodes": {}, "links": []}
        raise LabError(f"no lab named '{name}' is deployed" + state._known_hint())
    return st


def live_interfaces(st: dict) -> dict[str, dict]:
    """Kernel view of every lab interface: node:if -> {up, operstate, stats}."""
    out = {}
    by_ns: dict[str, dict[int, str]] = {}
    for node, n in st["nodes"].items():
        for ifname, i in n["interfaces"].items():
            by_ns.setdefault(i["netns"], {})[i["index"]] = f"{node}:{ifname}"
    for ns, idx in by_ns.items():
        if not netns.exists(ns):
            continue
        try:
            sock = netlink.Socket(ns)
        except PermissionError:
            raise EnvironmentProblem("link state and packet counters need root (entering the lab's network "
                                     f"namespaces); run: sudo emulator inspect {st['name']}") from None
        with sock as s:
            for link in s.dump_links():
                if link["index"] in idx:
                    out[idx[link["index"]]] = link
    from .core import drivers
    backends.ensure_loaded()
    for node, n in st["nodes"].items():   # ports the kernel does not know (DPDK apps, OVS vhost-user)
        try:
            out.update(drivers.get(n["kind"]).live(st["name"], node, n))
        except Exception:
            pass
    return out


def link_loss(st: dict) -> dict[str, dict]:
    """Live per-link loss of a running lab whose backends keep link counters (SRv6 labs): link direction
    "node:if -> node:if" -> {sent, received, lost}; {} for other labs."""
    backends.ensure_loaded()
    out: dict[str, dict] = {}
    for hook in registry.active().link_loss_hooks:
        out.update(hook(st))
    return out


def exec_argv(lab_name: str, node: str, argv: list[str]) -> list[str]:
    """The command line that runs argv inside a node (`ip netns exec`, so /sys matches the node)."""
    st = get(lab_name)
    names.check_node(node)
    if node not in st["nodes"]:
        raise LabError(f"lab '{lab_name}' has no node '{node}' (nodes: {', '.join(list(st['nodes'])[:30])})")
    ns = st["nodes"][node]["netns"]
    if not netns.exists(ns):
        raise LabError(f"node '{node}' of lab '{lab_name}' is not running (namespace {ns} is gone)")
    if hostcmd.private_mount(ns):   # private_dirs: its own mount namespace, /sys already the node's
        return hostcmd.in_netns(_node_argv(lab_name, node, st, argv), ns)
    return ["ip", "netns", "exec", ns] + _node_argv(lab_name, node, st, argv)


def node_command(lab_name: str, node: str, argv: list[str]) -> list[str]:
    """argv as it runs inside the node (before `ip netns exec`): what `exec` checks is runnable."""
    return _node_argv(lab_name, node, get(lab_name), argv)


def _node_argv(lab_name: str, node: str, st: dict, argv: list[str]) -> list[str]:
    """argv as the node's driver runs it (a vpp node points `vppctl` at its own VPP's socket)."""
    from .core import drivers
    backends.ensure_loaded()
    rewrite = getattr(drivers.get(st["nodes"][node]["kind"]), "exec_argv", None)
    return rewrite(lab_name, node, list(argv)) if rewrite else list(argv)


def exec_in(lab_name: str, node: str, argv: list[str], timeout: float | None = 60) -> hostcmd.Result:
    st = get(lab_name)
    names.check_node(node)
    if node not in st["nodes"]:
        raise LabError(f"lab '{lab_name}' has no node '{node}'")
    return hostcmd.run(_node_argv(lab_name, node, st, argv), netns=st["nodes"][node]["netns"], timeout=timeout)


def cleanup(all_labs: bool = False, progress=None) -> list[tuple[str, list[str]]]:
    """Destroy crashed labs (or every lab with all_labs), and tagged leftovers with no journal."""
    _require_root()
    backends.ensure_loaded()
    done = []
    for st in labs():
        if all_labs or st["status"] == "crashed":
            try:
                done.append((st["name"], destroy(st["name"], progress)))
            except LabError as e:
                done.append((st["name"], [str(e)]))
    for ns in orphan_namespaces():
        netns.delete(ns)
        done.append((ns, []))
    return done


def orphan_namespaces() -> list[str]:
    """Namespaces whose loopback carries an emulator tag but whose lab no longer exists.

    Only namespaces marked by the emulator (the alias `emulator:LAB` on their `lo`) qualify; names are
    never matched against a pattern. A namespace is tagged before it is journaled, so "no journal
    knows it" would also be true of a lab being deployed right now: what counts is the lab in the tag.
    A deploy makes its lab's directory before any namespace, so the labs are listed *after* the
    namespaces: a namespace seen here whose lab is listed belongs to a lab that destroy can remove.
    """
    out = []
    try:
        entries = os.listdir(netns.NETNS_RUN_DIR)
    except FileNotFoundError:
        return out
    tagged = []
    for ns, got in netns.identify(entries).items():   # lo alone, not a dump of every link
        if isinstance(got, tuple) and got[2] and got[2].startswith(TAG_PREFIX):
            tagged.append((ns, got[2][len(TAG_PREFIX):]))
    labs_now = set(state.list_labs())
    return [ns for ns, owner in tagged if owner not in labs_now]


def ping(lab_name: str, src: str, dst_ip: str, count: int = 1, timeout: float = 2) -> bool:
    ip = ipaddress.ip_address(dst_ip)
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(int(timeout)), str(ip)]
    return exec_in(lab_name, src, argv, timeout=timeout * count + 5).ok


__all__ = ["compile", "deploy", "destroy", "labs", "get", "cleanup", "exec_in", "exec_argv", "live_interfaces",
           "ping"]
