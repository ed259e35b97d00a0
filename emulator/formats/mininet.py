"""Mininet topologies without Mininet: `--custom FILE.py --topo NAME[,ARGS...][,k=v]` and `--topo SHAPE`.

The custom file runs as `mn --custom` runs it (its `topos` dict, or a `Topo` subclass named on the
command line), the topology is built by Mininet's own `Topo` classes with Mininet's own argument
parsing (`mininet.util.splitArgs`), and the resulting graph becomes the project's topology dict:
hosts are namespaces, switches Linux bridges (or OVS bridges where the file asks for OVS), links
veths with their bw/delay/jitter/loss. Nothing of Mininet is started. Mininet's Python package comes
from Debian's `mininet` package (the Makefile installs it); when the virtualenv cannot import it, the
package alone (not the rest of dist-packages) is loaded from where Debian put it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import re
import sys
import threading

from ..core.loader import Source, read_text
from ..errors import EnvironmentProblem, Issue, TopologyError, UsageError, quote
from . import with_notes

SEARCH_DIRS = ("/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages",
               "/usr/lib/python3/site-packages")
BUILTIN = ("minimal", "single", "reversed", "linear", "tree", "torus")
IP_BASE = ipaddress.ip_address("10.0.0.0")   # Mininet's default ipBase 10.0.0.0/8: host i gets 10.0.0.i/8
HOST_KNOWN = {"ip", "mac", "defaultRoute", "cls", "privateDirs"}
SWITCH_QUIET = {"isSwitch", "dpid", "cls", "stp", "prio", "datapath"}
LINK_KNOWN = {"node1", "node2", "port1", "port2", "bw", "delay", "jitter", "loss", "cls", "intfName1",
              "intfName2", "addr1", "addr2", "params1", "params2", "params"}
OVS_CLASSES = {"OVSSwitch", "OVSKernelSwitch", "OVSBridge", "OVSLegacyKernelSwitch", "IVSSwitch"}
MAX_NODES = 20_000   # a topology larger than this is refused while it is being built (linear,100000,100000)
_lock = threading.Lock()


def import_mininet():
    """The `mininet` package: importable as it is, else Debian's copy loaded on its own."""
    try:
        import mininet.topo  # noqa: F401
        import mininet
        return mininet
    except ImportError:
        sys.modules.pop("mininet", None)
    extra = os.environ.get("EMULATOR_MININET_PATH")
    for d in ([extra] if extra else []) + list(SEARCH_DIRS):
        pkg = os.path.join(d, "mininet")
        if os.path.isfile(os.path.join(pkg, "__init__.py")) and os.path.isfile(os.path.join(pkg, "topo.py")):
            spec = importlib.util.spec_from_file_location("mininet", os.path.join(pkg, "__init__.py"),
                                                          submodule_search_locations=[pkg])
            mod = importlib.util.module_from_spec(spec)
            sys.modules["mininet"] = mod
            try:
                spec.loader.exec_module(mod)
                import mininet.topo  # noqa: F401,F811
            except Exception as e:
                for m in [m for m in sys.modules if m == "mininet" or m.startswith("mininet.")]:
                    del sys.modules[m]
                raise EnvironmentProblem(f"Mininet's Python package in {pkg} does not load: {e}") from None
            return mod
    raise EnvironmentProblem("Mininet topologies need Mininet's Python package (Debian package 'mininet', "
                             "which 'make system' installs); or set EMULATOR_MININET_PATH to the directory "
                             "that holds its 'mininet' folder")


def builtin_topos() -> dict:
    import_mininet()
    from mininet.topo import LinearTopo, MinimalTopo, SingleSwitchReversedTopo, SingleSwitchTopo
    from mininet.topolib import TorusTopo, TreeTopo
    return {"minimal": MinimalTopo, "linear": LinearTopo, "reversed": SingleSwitchReversedTopo,
            "single": SingleSwitchTopo, "tree": TreeTopo, "torus": TorusTopo}


class _Where:
    """Lines of the custom file where each node and link was added (Topo.addNode/addLink watched)."""

    def __init__(self, file: str | None):
        self.file = os.path.abspath(file) if file else None
        self.nodes: dict[str, int] = {}
        self.links: dict[tuple, int] = {}
        self.count = 0

    def line(self) -> int | None:
        if self.file is None:
            return None
        f = sys._getframe(2)
        while f is not None:
            if f.f_code.co_filename == self.file:
                return f.f_lineno
            f = f.f_back
        return None


@contextlib.contextmanager
def _watch(where: _Where):
    from mininet.topo import Topo
    add_node, add_link = Topo.addNode, Topo.addLink

    def addNode(self, name, **opts):
        where.count += 1
        if where.count > MAX_NODES:
            raise UsageError(f"the topology has more than {MAX_NODES} nodes, more than this tool builds")
        line = where.line()
        if line is not None:
            where.nodes.setdefault(name, line)
        return add_node(self, name, **opts)

    def addLink(self, node1, node2, port1=None, port2=None, key=None, **opts):
        line = where.line()
        k = add_link(self, node1, node2, port1, port2, key, **opts)
        if line is not None:
            where.links[(node1, node2, k)] = line
        return k

    with _lock:
        Topo.addNode, Topo.addLink = addNode, addLink
        try:
            yield
        finally:
            Topo.addNode, Topo.addLink = add_node, add_link


def _error_line(e: BaseException, file: str) -> int | None:
    line, tb, path = None, e.__traceback__, os.path.abspath(file)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _run_custom(path: str) -> dict:
    """Run a custom file the way `mn --custom` does; its globals (topos, Topo classes...)."""
    text = read_text(path, "Mininet custom file")
    customs: dict = {"__file__": os.path.abspath(path), "__name__": "__mininet_custom__"}
    try:
        code = compile(text, os.path.abspath(path), "exec")
    except SyntaxError as e:
        raise TopologyError([Issue((), f"Python syntax error: {e.msg}", None, path, e.lineno, e.offset)],
                            "Mininet custom file") from None
    try:
        exec(code, customs)   # the user's own file, as `mn --custom` runs it
    except SystemExit:
        raise TopologyError([Issue((), "the file exits when it is loaded", "a custom file defines topologies "
                                   "(topos = {...}); keep the rest under if __name__ == '__main__'", path)],
                            "Mininet custom file") from None
    except Exception as e:
        raise TopologyError([Issue((), f"the file fails when it is loaded: {type(e).__name__}: {e}", None, path,
                                   _error_line(e, path))], "Mininet custom file") from None
    return customs


def load(topo_spec: str, custom: str | None = None, name: str | None = None) -> Source:
    """`--topo NAME,ARGS` (with `--custom FILE.py`, or one of Mininet's shapes) -> a Source."""
    import_mininet()
    from mininet.topo import Topo
    from mininet.util import splitArgs
    topos = builtin_topos()
    customs: dict = {}
    notes: list[Issue] = []
    file = custom or f"<--topo {topo_spec}>"
    if custom:
        customs = _run_custom(custom)
        extra = customs.get("topos", {})
        if not isinstance(extra, dict):
            raise TopologyError([Issue(("topos",), "topos must be a dict of names to Topo classes or functions",
                                       None, custom)], "Mininet custom file")
        topos.update(extra)
        for key, what in (("controllers", "no OpenFlow controller runs here, switches learn "
                                          "(Linux bridge, or OVS's NORMAL action)"),
                          ("switches", "switch classes (--switch) are not selectable"),
                          ("hosts", "host classes (--host) are not selectable"),
                          ("links", "link classes (--link) are not selectable: links take bw/delay/loss "
                                    "from addLink")):
            if customs.get(key):
                notes.append(Issue((key,), f"{what}; ignored: {', '.join(sorted(map(str, customs[key])))}",
                                   None, custom))
    fn, args, kwargs = splitArgs(topo_spec.strip())
    ctor = topos.get(fn)
    if ctor is None and isinstance(customs.get(fn), type) and issubclass(customs[fn], Topo):
        ctor = customs[fn]
    if ctor is None:
        classes = sorted(k for k, v in customs.items() if isinstance(v, type) and issubclass(v, Topo) and v is not Topo)
        raise UsageError(f"--topo {quote(fn)}: no such topology; known: {', '.join(sorted(topos))}"
                         + (f"; Topo classes in {custom}: {', '.join(classes)}" if classes else "")
                         + ("" if custom else " (a custom one needs --custom FILE.py)"))
    where = _Where(custom)
    try:
        with _watch(where):
            topo = ctor(*args, **kwargs)
    except UsageError:
        raise
    except Exception as e:
        line = _error_line(e, custom) if custom else None
        if line is None:
            raise UsageError(f"--topo {quote(topo_spec)}: {type(e).__name__}: {e}") from None
        raise TopologyError([Issue((), f"building topology {quote(fn)} failed: {type(e).__name__}: {e}",
                                   None, custom, line)], "Mininet custom file") from None
    if not isinstance(topo, Topo):
        raise UsageError(f"--topo {quote(fn)} made a {type(topo).__name__}, not a Mininet Topo")
    lab = name or _lab_name(fn, args, kwargs)
    return _convert(topo, where, file, lab, notes)


def _lab_name(fn: str, args, kwargs) -> str:
    raw = fn + ("".join(str(a) for a in args) if fn in BUILTIN else "")
    out = re.sub(r"[^A-Za-z0-9_-]", "-", raw).lstrip("-_") or "mininet"
    return out[:32]


def _ifname(node: str, port, intf_name) -> str:
    if intf_name:
        s = str(intf_name)
        return s[len(node) + 1:] if s.startswith(node + "-") else s
    return f"eth{port}"


def _with_prefix(ip) -> str:
    s = str(ip)
    return s if "/" in s else s + "/8"   # Mininet: an address without a prefix length is a /8


def _time(v) -> str:
    return v if isinstance(v, str) else f"{v}us"   # tc reads a bare number as microseconds


class _Converter:
    def __init__(self, topo, where: _Where, file: str, notes: list[Issue]):
        self.topo, self.where, self.file, self.notes = topo, where, file, notes
        self.values: dict = {}
        self.addressed: dict[str, str] = {}   # host -> its first interface, which Mininet addresses

    def note(self, path: tuple, message: str, line: int | None = None) -> None:
        self.notes.append(Issue(path, message, None, self.file, line))

    def node_line(self, n):
        return self.where.nodes.get(n)

    def run(self, lab: str) -> dict:
        t = self.topo
        hosts, switches = t.hosts(), t.switches()
        links = t.links(sort=True, withKeys=True, withInfo=True)
        ifnames: dict[str, dict] = {n: {} for n in t.nodes()}   # node -> port -> interface name
        for _a, _b, _k, info in links:
            for end in ("1", "2"):
                n = info["node" + end]
                ifnames[n][info["port" + end]] = _ifname(n, info["port" + end], info.get("intfName" + end))
        nodes: dict = {}
        for i, h in enumerate(hosts, start=1):
            nodes[h] = self.host(h, t.nodeInfo(h), i, ifnames[h], links)
            self._locate(("nodes", h), self.node_line(h))
        for s in switches:
            nodes[s] = self.switch(s, t.nodeInfo(s))
            self._locate(("nodes", s), self.node_line(s))
        out_links = []
        for a, b, k, info in links:
            self._locate(("links", len(out_links)), self.where.links.get((a, b, k)) or self.where.links.get((b, a, k)))
            out_links.append(self.link(len(out_links), info, ifnames))
        self.loops(nodes, out_links)
        return {"name": lab, "addressing": {"auto": False}, "nodes": nodes, "links": out_links}

    def _locate(self, path: tuple, line: int | None) -> None:
        if line is not None:
            self.values[path] = (line, 1)

    def host(self, h: str, info: dict, index: int, ports: dict, links) -> dict:
        line = self.node_line(h)
        node: dict = {"kind": "host"}
        cls = info.get("cls")
        cname = getattr(cls, "__name__", None)
        if cname and cname != "Host":
            if "router" in cname.lower():
                node["kind"] = "router"
                self.note(("nodes", h, "cls"), f"{h}: class {cname} runs as a router (IP forwarding on); "
                                              f"its Python config() does not run", line)
            else:
                self.note(("nodes", h, "cls"), f"{h}: class {cname} has no equivalent ({'CPU limits' if cname == 'CPULimitedHost' else 'its Python code does not run'}): {h} is a plain host", line)
        for k in sorted(set(info) - HOST_KNOWN):
            self.note(("nodes", h, k), f"{h}: {k}={info[k]!r} has no equivalent here; ignored", line)
        first = ports[min(ports)] if ports else None
        if first is not None:
            if "ip" not in info:
                ip = [f"{IP_BASE + index}/8"]
            else:
                ip = None if info["ip"] is None else [_with_prefix(info["ip"])]
            spec: dict = {}
            if ip is not None:
                spec["ip"] = ip
                self.addressed[h] = first
            if info.get("mac"):
                spec["mac"] = str(info["mac"])
            if spec:
                node["interfaces"] = {first: spec}
        dr = info.get("defaultRoute")
        if dr:
            words = str(dr).split()
            if len(words) == 2 and words[0] == "via":
                node["routes"] = [{"to": "default", "via": words[1]}]
            else:
                dev = words[-1]
                node["routes"] = [{"to": "default", "dev": dev[len(h) + 1:] if dev.startswith(h + "-") else dev}]
        if info.get("privateDirs"):   # a directory each; Mininet's (dir, host dir) form binds a host directory
            dirs = info["privateDirs"]
            node["private_dirs"] = [d if isinstance(d, str) else d[0] for d in dirs]
            if any(not isinstance(d, str) for d in dirs):
                self.note(("nodes", h, "privateDirs"), f"{h}: privateDirs (dir, host dir) pairs get an empty "
                                                      f"private directory each, not the host directory", line)
        return node

    def switch(self, s: str, info: dict) -> dict:
        line = self.node_line(s)
        cls = info.get("cls")
        cname = getattr(cls, "__name__", None)
        mro = {c.__name__ for c in getattr(cls, "__mro__", ())}
        node: dict = {"kind": "bridge"}
        if mro & OVS_CLASSES:
            node["kind"] = "ovs"
            dp = info.get("datapath")
            if dp == "user":
                node["datapath"] = "netdev"
            if info.get("stp"):
                self.note(("nodes", s, "stp"), f"{s}: stp on an OVS switch is not supported here; ignored", line)
        else:
            if cname and cname not in ("LinuxBridge",):
                self.note(("nodes", s, "cls"), f"{s}: class {cname} has no equivalent: {s} is a Linux bridge "
                                              f"(a learning switch)", line)
            if info.get("stp"):
                node["stp"] = True
        for k in sorted(set(info) - SWITCH_QUIET):
            self.note(("nodes", s, k), f"{s}: {k}={info[k]!r} has no equivalent here (no OpenFlow controller: "
                                      f"switches learn); ignored", line)
        return node

    def link(self, i: int, info: dict, ifnames: dict) -> dict:
        line = self.values.get(("links", i), (None,))[0]
        path = ("links", i)
        ends = []
        for end in ("1", "2"):
            n, port = info["node" + end], info["port" + end]
            ep: dict = {"node": n, "interface": ifnames[n][port]}
            params = info.get("params" + end) or {}
            if params.get("ip") and not self.topo.isSwitch(n) and self.addressed.get(n) != ep["interface"]:
                # (Mininet sets the host's ip= on its first interface after the link's, so that one wins)
                ep["ip"] = [_with_prefix(params["ip"])]
            mac = params.get("mac") or info.get("addr" + end)
            if mac:
                ep["mac"] = str(mac)
            for k in sorted(set(params) - {"ip", "mac"}):
                self.note(path + ("params" + end, k), f"link {info['node1']}-{info['node2']}: params{end} "
                                                      f"{k}={params[k]!r} has no equivalent here; ignored", line)
            ends.append(ep if len(ep) > 2 else f"{n}:{ep['interface']}")
        link: dict = {"endpoints": ends}
        if info.get("bw") is not None:
            link["bandwidth"] = f"{float(info['bw']):g}mbit"
        if info.get("delay") is not None:
            link["delay"] = _time(info["delay"])
        if info.get("jitter") is not None:
            link["jitter"] = _time(info["jitter"])
        if info.get("loss"):
            link["loss"] = f"{float(info['loss']):g}%"
        cname = getattr(info.get("cls"), "__name__", None)
        if cname and cname not in ("Link", "TCLink", "TCULink"):
            self.note(path + ("cls",), f"link {info['node1']}-{info['node2']}: class {cname} has no equivalent: "
                                       f"it is a veth pair", line)
        for k in sorted(set(info) - LINK_KNOWN):
            self.note(path + (k,), f"link {info['node1']}-{info['node2']}: {k}={info[k]!r} has no equivalent "
                                   f"here; ignored", line)
        return link

    def loops(self, nodes: dict, links: list) -> None:
        """Bridges in a loop get stp: true (as `mn --switch lxbr,stp=1` needs for a torus)."""
        import networkx as nx
        g = nx.MultiGraph()
        for l in links:
            a, b = (e["node"] if isinstance(e, dict) else e.split(":")[0] for e in l["endpoints"])
            if nodes[a]["kind"] == "bridge" and nodes[b]["kind"] == "bridge":
                g.add_edge(a, b)
        looped = []
        for comp in nx.connected_components(g):
            sub = g.subgraph(comp)
            if sub.number_of_edges() >= sub.number_of_nodes():
                looped += sorted(b for b in comp if not nodes[b].get("stp"))
        for b in looped:
            nodes[b]["stp"] = True
        if looped:
            shown = ", ".join(looped[:8]) + (f" and {len(looped) - 8} more" if len(looped) > 8 else "")
            self.note(("nodes",), f"the switches form a loop: stp: true on {shown} (a port forwards ~4 s after "
                                  f"it comes up)")


def _convert(topo, where: _Where, file: str, lab: str, notes: list[Issue]) -> Source:
    c = _Converter(topo, where, file, notes)
    data = c.run(lab)
    src = Source(data, file, values=c.values, keys=dict(c.values))
    return with_notes(src, c.notes)
