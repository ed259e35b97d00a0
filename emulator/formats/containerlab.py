"""containerlab topology files (`*.clab.yml`), recognised by their top-level `topology:` key.

Without a container runtime a node is a network namespace on the host's filesystem: `kind: linux`
becomes a host, `bridge` a Linux bridge and `ovs-bridge` an OVS bridge, both created inside the lab
(containerlab expects them on the host already). Settings are taken as containerlab merges them:
the node's own, then its group's, then its kind's (`kinds:`), then `defaults:`. `exec` commands run
in the node after the lab is wired, with the node's `env`; links keep their interface names, `mtu`,
`mac` and addresses (`ipv4`/`ipv6` on an endpoint, or a link's `ipv4: [A, B]`/`vars`). What cannot be
carried over (images, binds, management network) is reported once as a note, with its line.
"""
from __future__ import annotations

import shlex

from ..core.loader import Source
from ..errors import Issue, TopologyError, quote
from . import with_notes

WHAT = "containerlab topology"
NODE_KINDS = {"linux": "host", "bridge": "bridge", "ovs-bridge": "ovs"}
NODE_FIELDS = {"kind", "group", "image", "exec", "env", "binds", "cmd", "entrypoint", "labels", "mgmt-ipv4",
               "mgmt-ipv6", "ports", "startup-config", "user", "network-mode", "restart-policy", "dns",
               "sysctls", "env-files", "stages", "wait-for", "cpu", "memory", "cpu-set", "shm-size",
               "publish", "extras", "type", "license", "enforce-startup-config", "suppress-startup-config",
               "auto-remove", "devices", "cap-add", "runtime", "certificate", "healthcheck", "aliases",
               "image-pull-policy", "components", "config"}
NO_RUNTIME = ("image", "binds", "cmd", "entrypoint")   # reported once per node, with what it is instead
IGNORED = {"labels", "mgmt-ipv4", "mgmt-ipv6", "ports", "publish", "restart-policy", "dns", "user",
           "network-mode", "image-pull-policy", "auto-remove", "healthcheck", "aliases", "cpu", "memory",
           "cpu-set", "shm-size", "devices", "cap-add", "runtime", "license", "certificate", "extras",
           "startup-config", "enforce-startup-config", "suppress-startup-config", "type", "env-files",
           "stages", "wait-for", "components", "config"}
TOP_FIELDS = {"name", "prefix", "mgmt", "topology", "settings"}
TOPOLOGY_FIELDS = {"nodes", "links", "kinds", "groups", "defaults"}
LINK_FIELDS = {"endpoints", "type", "mtu", "vars", "labels", "ipv4", "ipv6", "endpoint", "host-interface", "mode"}
EP_FIELDS = {"node", "interface", "mac", "ipv4", "ipv6"}


def looks_like(data) -> bool:
    return isinstance(data, dict) and "topology" in data and "nodes" not in data


class _Conv:
    def __init__(self, src: Source):
        self.src = src
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.values: dict = {}
        self.keys: dict = {}

    def error(self, path: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        self.issues.append(self.src.issue(path, message, hint, key=key))

    def note(self, path: tuple, message: str, key: bool = True) -> None:
        self.notes.append(self.src.issue(path, message, key=key))

    def map(self, new: tuple, old: tuple) -> None:
        """The converted value at path `new` came from the file's value at `old`."""
        self.values[new] = self.src.where(old)
        self.keys[new] = self.src.where(old, key=True)

    def run(self) -> dict:
        d = self.src.data
        for k in d:
            if k not in TOP_FIELDS:
                self.error((k,), f"unknown containerlab field {quote(k)}", "known: " + ", ".join(sorted(TOP_FIELDS)), key=True)
        if "mgmt" in d:
            self.note(("mgmt",), "management network settings are ignored: nodes have no management "
                                 "interface here (no container runtime)")
        if "prefix" in d:
            self.note(("prefix",), "prefix is ignored: namespaces are named emu-LAB.NODE")
        name = d.get("name")
        if not isinstance(name, str) or not name:
            self.error(("name",) if "name" in d else (), "a containerlab topology needs a name: (a string)")
        topo = d.get("topology")
        if not isinstance(topo, dict):
            self.error(("topology",), "topology: must be a mapping with nodes: and links:")
            return {}
        for k in topo:
            if k not in TOPOLOGY_FIELDS:
                self.error(("topology", k), f"unknown containerlab field {quote(k)}",
                           "known: " + ", ".join(sorted(TOPOLOGY_FIELDS)), key=True)
        nodes_raw = topo.get("nodes")
        if not isinstance(nodes_raw, dict) or not nodes_raw:
            self.error(("topology", "nodes") if "nodes" in topo else ("topology",),
                       "topology.nodes must map node names to their settings")
            return {}
        self.map(("name",), ("name",))
        out = {"name": name, "addressing": {"auto": False}, "nodes": {}, "links": []}
        for n, spec in nodes_raw.items():
            node = self.node(str(n), spec)
            if node is not None:
                out["nodes"][str(n)] = node
        links = topo.get("links") or []
        if not isinstance(links, list):
            self.error(("topology", "links"), "topology.links must be a list of links")
            links = []
        for i, l in enumerate(links):
            link = self.link(i, l, nodes_raw, len(out["links"]))
            if link is not None:
                self.map(("links", len(out["links"])), ("topology", "links", i))
                out["links"].append(link)
        return out

    def merged(self, n: str, spec: dict) -> dict:
        """field -> (value, path it came from): node, then group, then kind, then defaults."""
        topo = self.src.data["topology"]
        layers = [(("topology", "nodes", n), spec)]
        group = spec.get("group")
        if group is not None:
            g = (topo.get("groups") or {}).get(group)
            if not isinstance(g, dict):
                self.error(("topology", "nodes", n, "group"), f"no group {quote(group)} in topology.groups")
            else:
                layers.append((("topology", "groups", group), g))
        kind = spec.get("kind")
        for _p, layer in layers[1:]:
            kind = kind or layer.get("kind")
        defaults = topo.get("defaults") if isinstance(topo.get("defaults"), dict) else {}
        kind = kind or defaults.get("kind")
        kinds = topo.get("kinds") if isinstance(topo.get("kinds"), dict) else {}
        if kind in kinds and isinstance(kinds[kind], dict):
            layers.append((("topology", "kinds", kind), kinds[kind]))
        layers.append((("topology", "defaults"), defaults))
        out: dict = {}
        for path, layer in layers:
            for k, v in layer.items():
                if k in ("env", "labels") and isinstance(v, dict):
                    prev = out.get(k, ({}, path + (k,)))
                    out[k] = ({**v, **prev[0]}, prev[1])
                elif k not in out:
                    out[k] = (v, path + (k,))
        if kind is not None:
            out["kind"] = (kind, out.get("kind", (None, ("topology", "nodes", n)))[1])
        return out

    def node(self, n: str, spec) -> dict | None:
        path = ("topology", "nodes", n)
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            self.error(path, "a node's settings must be a mapping (kind:, exec:...)")
            return None
        f = self.merged(n, spec)
        kind, kpath = f.get("kind", (None, path))
        self.map(("nodes", n), path)
        if kind is None:
            self.error(path, "the node has no kind (on the node, its group or topology.defaults)",
                       "kind: linux for a host, bridge or ovs-bridge for a switch")
            return None
        ours = NODE_KINDS.get(kind)
        if ours is None:
            self.error(kpath, f"kind {quote(kind)} needs its container image and runtime, which this emulator "
                              f"does not run", "supported kinds: " + ", ".join(NODE_KINDS))
            return None
        node: dict = {"kind": ours}
        for k, (v, p) in sorted(f.items()):
            if k not in NODE_FIELDS:
                self.error(p, f"unknown containerlab node field {quote(k)}", None, key=True)
        instead = "a network namespace on the host's filesystem" if ours == "host" else \
            f"a {'Linux' if ours == 'bridge' else 'OVS'} bridge created inside the lab"
        unrun = [k for k in NO_RUNTIME if k in f]
        if unrun:
            verb = "needs" if len(unrun) == 1 else "need"
            self.note(f[unrun[0]][1], f"node {n}: {', '.join(unrun)} {verb} a container runtime and "
                                      f"{'is' if len(unrun) == 1 else 'are'} not used: {n} is {instead}")
        ignored = sorted(k for k in f if k in IGNORED and k != "labels")
        if ignored:
            self.note(f[ignored[0]][1], f"node {n}: {', '.join(ignored)} ignored (no container here)")
        if "labels" in f and isinstance(f["labels"][0], dict):
            node["labels"] = {str(k): v for k, v in f["labels"][0].items() if isinstance(v, (str, int, float, bool))}
        env = f.get("env", ({}, None))[0]
        if not isinstance(env, dict):
            self.error(f["env"][1], "env must map variable names to values")
            env = {}
        if "exec" in f:
            cmds, epath = f["exec"]
            if ours != "host":
                self.error(epath, f"exec on a {kind} node: only linux nodes run commands here")
            elif not isinstance(cmds, list) or not all(isinstance(c, str) for c in cmds):
                self.error(epath, "exec must be a list of commands (strings)")
            else:
                node["exec"] = [self.command(c, env) for c in cmds]
                for i in range(len(cmds)):
                    self.map(("nodes", n, "exec", i), epath + (i,))
                self.map(("nodes", n, "exec"), epath)
        return node

    @staticmethod
    def command(cmd: str, env: dict) -> list[str] | str:
        if not env:
            return cmd
        return ["env"] + [f"{k}={v}" for k, v in env.items()] + ["sh", "-c", cmd]

    def endpoint(self, raw, path: tuple, nodes: dict) -> dict | None:
        if isinstance(raw, str):
            node, sep, ifname = raw.partition(":")
            if node in ("host", "macvlan", "mgmt-net") and node not in nodes:
                return {"outside": node, "host-interface": ifname}
            if not sep or not node or not ifname:
                self.error(path, f"endpoint {quote(raw)} is not NODE:INTERFACE", "e.g. srv1:eth1")
                return None
            ep = {"node": node, "interface": ifname}
        elif isinstance(raw, dict):
            for k in raw:
                if k not in EP_FIELDS:
                    self.error(path + (k,), f"unknown endpoint field {quote(k)}", "known: " + ", ".join(sorted(EP_FIELDS)), key=True)
            if not isinstance(raw.get("node"), str) or not isinstance(raw.get("interface"), str):
                self.error(path, "an endpoint needs node: and interface:")
                return None
            ep = {"node": raw["node"], "interface": raw["interface"]}
            if raw.get("mac"):
                ep["mac"] = str(raw["mac"])
            ips = [a for k in ("ipv4", "ipv6") for a in _list(raw.get(k))]
            if ips:
                ep["ip"] = ips
        else:
            self.error(path, "an endpoint is NODE:INTERFACE or {node:, interface:}")
            return None
        if ep["node"] not in nodes:
            self.error(path, f"no node {quote(ep['node'])} in topology.nodes")
            return None
        return ep

    def link(self, i: int, raw, nodes: dict, k: int) -> dict | None:
        path = ("topology", "links", i)
        if not isinstance(raw, dict):
            self.error(path, "a link is a mapping: {endpoints: [a:eth1, b:eth1]}")
            return None
        for k in raw:
            if k not in LINK_FIELDS:
                self.error(path + (k,), f"unknown containerlab link field {quote(k)}",
                           "known: " + ", ".join(sorted(LINK_FIELDS)), key=True)
        ltype = raw.get("type", "veth")
        if ltype in ("host", "macvlan"):
            return self.single(path, raw, nodes, k, ltype, raw.get("host-interface"), path + ("endpoint",))
        if ltype != "veth":
            self.error(path + ("type",), f"link type {quote(ltype)} is not supported here",
                       "type: veth (the default), host or macvlan")
            return None
        eps = raw.get("endpoints")
        if not isinstance(eps, list) or len(eps) != 2:
            self.error(path + ("endpoints",) if "endpoints" in raw else path, "a veth link has two endpoints")
            return None
        ends = [self.endpoint(e, path + ("endpoints", j), nodes) for j, e in enumerate(eps)]
        if None in ends:
            return None
        outside = [j for j, e in enumerate(ends) if "outside" in e]
        if len(outside) == 2:
            self.error(path + ("endpoints",), "both endpoints are outside the lab", "one end must be a node")
            return None
        if outside:   # brief form of a host/macvlan link: [a:eth1, host:veth-a]
            j = outside[0]
            o = ends[j]
            return self.single(path, {**raw, "endpoint": eps[1 - j]}, nodes, k, o["outside"], o["host-interface"],
                               path + ("endpoints", 1 - j), at=path + ("endpoints", j))
        addrs = raw.get("ipv4"), raw.get("ipv6")
        for key, given in zip(("ipv4", "ipv6"), addrs):
            if given is None:
                continue
            if not isinstance(given, list) or len(given) != 2:
                self.error(path + (key,), f"{key} on a link is a list of two addresses, one per endpoint")
                continue
            for ep, a in zip(ends, given):
                if a:
                    ep.setdefault("ip", []).append(str(a))
        vars_ = raw.get("vars")
        if isinstance(vars_, dict):
            for ep, side in zip(ends, ("a", "b")):   # vars: {ipv4: [A, B]} as some labs write it
                for key in ("ipv4", "ipv6"):
                    v = vars_.get(key)
                    if isinstance(v, list) and len(v) == 2:
                        ep.setdefault("ip", []).append(str(v[0 if side == "a" else 1]))
            rest = sorted(k for k in vars_ if k not in ("ipv4", "ipv6"))
            if rest:
                self.note(path + ("vars",), f"link {i}: vars {', '.join(rest)} are kept for templates only; "
                                            f"ignored here")
        link: dict = {"endpoints": [e if len(e) > 2 else f"{e['node']}:{e['interface']}" for e in ends]}
        for j in range(2):
            self.map(("links", k, "endpoints", j), path + ("endpoints", j))
        if "mtu" in raw:
            link["mtu"] = raw["mtu"]
            self.map(("links", k, "mtu"), path + ("mtu",))
        return link


    SINGLE = {"host": "host-veth", "macvlan": "macvlan"}   # containerlab's -> this emulator's endpoint types

    def single(self, path, raw, nodes, k, what, host_if, epath, at=None) -> dict | None:
        """A link with one end in the lab: containerlab's host (a veth to the host's namespace) or macvlan."""
        from ..core import endpoints
        at = at or path
        ours = self.SINGLE.get(what)
        if ours is None or ours not in endpoints.names():
            self.error(at, f"{what}: endpoints (outside the lab) are not supported here",
                       "link two nodes of the lab, or a node to a bridge node")
            return None
        if not isinstance(host_if, str) or not host_if:
            self.error(at, f"a {what} link needs the host's interface name", "e.g. host:veth-a, or host-interface:")
            return None
        ep = self.endpoint(raw.get("endpoint"), epath, nodes)
        if ep is None:
            return None
        if "outside" in ep:
            self.error(epath, "the other end must be a node of the lab")
            return None
        link = {"type": ours, "endpoint": ep, "host-interface": host_if}
        if ours == "macvlan" and raw.get("mode"):
            link["mode"] = raw["mode"]
        if "mtu" in raw:
            link["mtu"] = raw["mtu"]
        self.map(("links", k, "endpoint"), epath)
        return link


def _list(v) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def convert(src: Source) -> Source:
    c = _Conv(src)
    data = c.run()
    if c.issues:
        raise TopologyError(c.issues, WHAT + " (a file with a top-level topology: key)")
    out = Source(data, src.file, c.values, c.keys)
    return with_notes(out, c.notes)
