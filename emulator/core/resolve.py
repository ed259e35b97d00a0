"""Stage 3: turn the raw topology into the resolved model, checking its meaning.

Schema-valid input can still be wrong: a link to a node that does not exist,
an interface used twice, a name the kernel cannot take. Every such problem is
collected (with its YAML path) and raised together.
"""
from __future__ import annotations

import difflib
import ipaddress
import re

from . import drivers, endpoints, linktypes
from .. import registry, units
from .driver import IFNAMSIZ
from ..errors import Issue, TopologyError
from .loader import Source
from .model import Addressing, Endpoint, Impairment, Interface, Lab, Link, Node, Route

_IFNAME_BAD = re.compile(r"[\s/:%]")
_IFNAME_RESERVED = ("lo", "all", "default")


class Collector:
    def __init__(self, src: Source):
        self.src = src
        self.issues: list[Issue] = []

    def add(self, path: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        self.issues.append(self.src.issue(path, message, hint, key))

    def sorted(self) -> list[Issue]:
        """In file order (stable, so problems on one line keep the order they were found in)."""
        return sorted(self.issues, key=lambda i: (i.line or 0, i.column or 0))


def _check_ifname(name: str, path: tuple, c: Collector) -> bool:
    if len(name) > IFNAMSIZ:
        c.add(path, f"interface name '{name}' is {len(name)} characters; Linux allows at most {IFNAMSIZ}",
              "use a shorter name, e.g. eth1")
        return False
    if not name or name in (".", "..") or _IFNAME_BAD.search(name):
        c.add(path, f"invalid interface name '{name}'", "no spaces, '/', ':' or '%' in interface names")
        return False
    if name in _IFNAME_RESERVED:
        c.add(path, f"interface name '{name}' is reserved by Linux",
              "every namespace has its own 'lo'; 'all' and 'default' name sysctl directories")
        return False
    return True


def _check_mac(mac, path: tuple, c: Collector) -> None:
    if mac and (int(mac.split(":")[0], 16) & 1 or set(mac) <= {"0", ":"}):
        c.add(path, f"{mac} is not a unicast MAC address",
              "the first byte must be even and the address not all zeros, e.g. 02:00:00:00:00:01")


def _check_cidrs(values, path: tuple, c: Collector) -> list[str]:
    """The valid addresses of the `ip:` list at PATH, in order; each invalid one is reported."""
    return [cidr for i, a in enumerate(values) if (cidr := _check_cidr(a, path + (i,), c))]


def _check_cidr(value, path: tuple, c: Collector) -> str | None:
    try:
        iface = ipaddress.ip_interface(str(value))
    except ValueError:
        c.add(path, f"'{value}' is not an address with prefix length", "write e.g. 10.0.0.1/24 or fd00::1/64")
        return None
    if "/" not in str(value):
        c.add(path, f"'{value}' has no prefix length", f"write e.g. {value}/{24 if iface.version == 4 else 64}")
        return None
    net = iface.network
    if iface.version == 4 and net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        c.add(path, f"{value} is the {'network' if iface.ip == net.network_address else 'broadcast'} "
                    f"address of {net}", "pick a host address inside the subnet")
        return None
    special = next((what for what, yes in (
        ("a multicast", iface.ip.is_multicast), ("the unspecified", iface.ip.is_unspecified),
        ("a loopback", iface.ip.is_loopback), ("the broadcast", iface.ip == ipaddress.IPv4Address("255.255.255.255")),
    ) if yes), None)
    if special:
        c.add(path, f"{value} is {special} address, not an interface address", "pick a unicast address")
        return None
    if net.prefixlen == 0:
        c.add(path, f"{value} has prefix length 0: every destination would be on this link",
              f"write the subnet's prefix length, e.g. {iface.ip}/{24 if iface.version == 4 else 64}")
        return None
    return str(iface)


def _node_hint(name: str, lab: Lab) -> str:
    close = difflib.get_close_matches(name, list(lab.nodes), n=1)
    return (f"did you mean '{close[0]}'? " if close else "") + "nodes: " + ", ".join(list(lab.nodes)[:20])


def resolve(raw: dict, src: Source) -> Lab:
    c = Collector(src)
    addressing = Addressing(**{k: v for k, v in (raw.get("addressing") or {}).items()})
    for pool in ("lan", "p2p"):
        try:
            net = ipaddress.ip_network(getattr(addressing, pool), strict=True)
            if net.version != 4:
                c.add(("addressing", pool), "automatic address pools are IPv4 prefixes")
        except ValueError as e:
            c.add(("addressing", pool), f"not a network prefix: {e}", "write e.g. 10.0.0.0/16")
    lab = Lab(name=raw["name"], file=src.file, addressing=addressing, description=raw.get("description", ""),
              ipv6=raw.get("ipv6", "auto"))
    lab.props = {k: raw[k] for k in registry.active().lab_properties if k in raw}   # hugepages:, ovs:, sriov:...

    # -- nodes ------------------------------------------------------------------
    for name, rn in raw["nodes"].items():
        path = ("nodes", name)
        drv = drivers.get(rn["kind"])
        node = Node(name=name, kind=drv.kind, netns=drv.netns(lab, name), path=path,
                    labels={k: str(v) for k, v in (rn.get("labels") or {}).items()},
                    position=rn.get("position"),
                    props={k: v for k, v in rn.items() if k in drv.properties})
        lab.nodes[name] = node
        if "ip" in rn:
            node.ip = _check_cidrs(rn["ip"], path + ("ip",), c)
        for k, v in (rn.get("sysctls") or {}).items():
            if not re.fullmatch(r"[a-z0-9_]+(\.[A-Za-z0-9_-]+)+", k) or ".." in k:
                c.add(path + ("sysctls", k), f"invalid sysctl name '{k}'", "e.g. net.ipv4.ip_forward", key=True)
            elif not k.startswith("net."):
                c.add(path + ("sysctls", k), f"sysctl '{k}' is not per network namespace",
                      "only net.* sysctls can be set per node", key=True)
            else:
                node.sysctls[k] = str(v)
        for i, cmd in enumerate(rn.get("exec") or []):
            if isinstance(cmd, str):
                node.exec.append(["/bin/sh", "-c", cmd])
            elif cmd:
                node.exec.append(list(cmd))
            else:
                c.add(path + ("exec", i), "empty command")
        for ifname, rif in (rn.get("interfaces") or {}).items():
            ipath = path + ("interfaces", ifname)
            if not _check_ifname(ifname, ipath, c):
                continue
            iface = Interface(node=name, name=ifname, path=ipath, mac=rif.get("mac"), mtu=rif.get("mtu"))
            _check_mac(iface.mac, ipath + ("mac",), c)
            if "ip" in rif:
                iface.auto_address = False
                iface.addresses += _check_cidrs(rif["ip"], ipath + ("ip",), c)
            node.interfaces[ifname] = iface
        for msg in drv.resolve(lab, node, rn):
            c.add(path + msg[0], msg[1], msg[2])

    # -- links ------------------------------------------------------------------
    used: dict[tuple[str, str], tuple] = {}   # (node, ifname) -> path of the link that uses it
    pending: list[tuple[Link, list, Endpoint | None]] = []
    for li, rl in enumerate(raw.get("links") or []):
        lpath = ("links", li)
        found = _single_ended(rl, lpath, lab, c)   # (Endpoint without its interface yet, raw end, its path)
        if found is False:
            continue
        single = found[0] if found else None
        if isinstance(rl, list):
            rl = {"endpoints": rl}
        eps = []
        for ei, ep in enumerate([found[1]] if found else rl["endpoints"]):
            if found:
                epath = found[2]
            else:
                epath = lpath + ("endpoints", ei) if "endpoints" in (raw["links"][li] if isinstance(
                    raw["links"][li], dict) else {}) else lpath + (ei,)
            if isinstance(ep, str):
                node_name, _, ifname = ep.partition(":")
                attrs = {}
            else:
                node_name, ifname, attrs = ep["node"], ep.get("interface", ""), ep
            if node_name not in lab.nodes:
                c.add(epath, f"link endpoint names node '{node_name}', which is not defined",
                      _node_hint(node_name, lab))
                eps = None
                break
            if ifname and not _check_ifname(ifname, epath, c):
                eps = None
                break
            eps.append((node_name, ifname or None, attrs, epath))
        if eps is None:
            continue
        link = Link(id=len(pending), a=None, b=None, path=lpath, mtu=rl.get("mtu"),  # type: ignore[arg-type]
                    type=rl.get("type", "veth"))
        imp = Impairment()
        for field, parse in (("bandwidth", units.rate), ("delay", units.duration),
                             ("jitter", units.duration), ("loss", units.percent)):
            if field in rl:
                try:
                    setattr(imp, field, parse(rl[field]))
                except ValueError as e:
                    c.add(lpath + (field,), str(e))
        if imp.jitter and not imp.delay:
            c.add(lpath + ("jitter",), "jitter needs a delay", "add delay: e.g. 10ms")
        link.impairment = imp
        pending.append((link, eps, single))

    # explicit interface names first, so implicit ones skip them
    for link, eps, _single in pending:
        for node_name, ifname, _attrs, epath in eps:
            if ifname:
                key = (node_name, ifname)
                if key in used and used[key][:2] == epath[:2]:
                    c.add(epath, f"both ends of this link are {node_name}:{ifname}",
                          "a link joins two different interfaces")
                elif key in used:
                    c.add(epath, f"interface {node_name}:{ifname} is used by two links",
                          f"the other one is at {src.issue(used[key], '').location()}")
                used[key] = epath
    counters: dict[str, int] = {}
    for link, eps, single in pending:
        ends = []
        for node_name, ifname, attrs, epath in eps:
            node = lab.nodes[node_name]
            drv = drivers.get(node.kind)
            if not ifname:
                k = counters.get(node_name, 0)
                while (node_name, drv.default_ifname(k)) in used:
                    k += 1
                ifname = drv.default_ifname(k)
                counters[node_name] = k + 1
                used[(node_name, ifname)] = epath
            iface = node.interfaces.get(ifname)
            if iface is None:
                iface = Interface(node=node_name, name=ifname, path=epath)
                node.interfaces[ifname] = iface
            elif iface.wired:
                continue  # reported above
            iface.link = link.id if single is None else -1
            if attrs.get("mac"):
                iface.mac = attrs["mac"]
                _check_mac(iface.mac, epath + ("mac",), c)
            if attrs.get("mtu"):
                iface.mtu = attrs["mtu"]
            if "ip" in attrs and not drv.addressable:
                c.add(epath + ("ip",), f"{node.kind} '{node_name}' is a forwarder: its ports take no address",
                      "give the address to the host or router at the other end of the link")
            elif "ip" in attrs:
                iface.auto_address = False
                iface.addresses += _check_cidrs(attrs["ip"], epath + ("ip",), c)
            ends.append(iface)
        if single is not None and len(ends) == 1:
            single.iface, single.id = ends[0], len(lab.endpoints)
            ends[0].endpoint = single.id
            ends[0].auto_address = False   # the other side is not in the lab: nothing to allocate from
            if link.mtu and ends[0].mtu and ends[0].mtu != link.mtu:
                c.add(link.path + ("mtu",), f"the MTUs of this link disagree: {link.mtu} on the link, "
                      f"{ends[0].mtu} on {ends[0].key}", "give it once")
            ends[0].mtu = ends[0].mtu or link.mtu
            lab.endpoints.append(single)
        elif len(ends) == 2:
            link.a, link.b = ends
            link.id = len(lab.links)
            link.a.link = link.b.link = link.id
            lab.links.append(link)

    # -- per node: interfaces, devices, node-level addresses, routes ---------------
    for node in lab.nodes.values():
        drv = drivers.get(node.kind)
        for ifname, iface in node.interfaces.items():
            if not iface.wired:
                c.add(iface.path, f"interface {node.name}:{ifname} is declared but no link uses it",
                      f"add a link such as [{node.name}:{ifname}, OTHER]", key=True)
                continue
            iface.index = lab.allocate_index(iface.netns or node.netns)
            for p, msg, hint in drv.port(lab, node, iface):
                c.add(iface.path + p, msg, hint)
            if not drv.addressable and iface.addresses:
                c.add(iface.path, f"{node.kind} ports take no address")
        if node.ip is not None:
            if not drv.addressable:
                c.add(node.path + ("ip",), f"a {node.kind} takes no address", key=True)
            linked = [i for i in node.interfaces.values() if i.wired]
            if len(linked) != 1:
                c.add(node.path + ("ip",),
                      f"node-level ip: needs exactly one interface, '{node.name}' has {len(linked)}",
                      "put addresses under interfaces: {eth0: {ip: [...]}} or on the link endpoints", key=True)
            elif linked[0].addresses or not linked[0].auto_address:
                c.add(node.path + ("ip",), f"addresses for {linked[0].key} are given twice", key=True)
            else:
                linked[0].addresses = list(node.ip)
                linked[0].auto_address = False
        if drv.addressable and not node.interfaces and node.kind in ("host", "router") and not lab.links:
            pass
    for link in lab.links:
        for p, msg, hint in linktypes.get(link.type).check(lab, link):
            c.add(link.path + p, msg, hint)
    for ep in lab.endpoints:
        et = endpoints.get(ep.type)
        node = lab.nodes[ep.iface.node]
        if et.kernel_port(ep) and not drivers.get(node.kind).endpoint_ports:
            c.add(ep.path + ("endpoint",), f"a {ep.type} link puts a kernel device into '{node.name}', and a "
                  f"{node.kind}'s ports are not kernel devices it can take",
                  "connect it to a host, router or bridge" + (" (or use driver: vfio-pci for a DPDK port)"
                                                              if ep.type == "sriov-vf" else ""))
            continue
        for p, msg, hint in et.check(lab, ep):
            c.add(ep.path + p, msg, hint)
    from .graph import bridge_problems   # networkx: imported when a topology is resolved
    for p, msg, hint in bridge_problems(lab, src):
        c.add(p, msg, hint)
    _check_devices(lab, c)
    if c.issues:
        raise TopologyError(c.sorted())
    return lab


def _single_ended(rl, lpath: tuple, lab: Lab, c: Collector):
    """(Endpoint, its raw end, that end's path) for a single-ended link entry (`endpoint:`, or the
    shorthand [node:if, host:DEV] when no node is named 'host'); None for a two-ended link; False
    when it is wrong (reported)."""
    if endpoints.is_single(rl):
        props = {k: v for k, v in rl.items() if k not in ("type", "endpoint", "mtu", "description")}
        return (Endpoint(id=-1, type=rl["type"], iface=None, path=lpath, props=props),  # type: ignore[arg-type]
                rl["endpoint"], lpath + ("endpoint",))
    items = rl if isinstance(rl, list) else rl.get("endpoints") or []
    for ei, ep in enumerate(items):
        prefix, _, dev = ep.partition(":") if isinstance(ep, str) else ("", "", "")
        et = endpoints.by_short(prefix) if prefix and prefix not in lab.nodes else None
        if et is None:
            continue
        epath = lpath + ((ei,) if isinstance(rl, list) else ("endpoints", ei))
        other = items[1 - ei] if len(items) == 2 else None
        extra = sorted(k for k in (rl if isinstance(rl, dict) else {}) if k not in ("endpoints", "mtu", "description"))
        if not dev:
            c.add(epath, f"'{ep}' names no host device", f"write {prefix}:DEVICE, e.g. {prefix}:eth1")
        elif other is None or (isinstance(other, str) and other.partition(":")[0] not in lab.nodes
                               and endpoints.by_short(other.partition(":")[0])):
            c.add(epath, f"a {et.name} endpoint joins a node's interface to host device '{dev}': "
                         f"the other end must be a node", "e.g. [r1:eth1, host:eth1]")
        elif extra:
            c.add(lpath + ("endpoints",) if isinstance(rl, dict) else lpath,
                  f"the shorthand {prefix}:{dev} takes no {', '.join(extra)}",
                  f"write {{type: {et.name}, endpoint: ..., host-interface: {dev}, ...}} with the fields "
                  f"{et.name} takes (emulator schema)")
        else:
            return (Endpoint(id=-1, type=et.name, iface=None, path=lpath,  # type: ignore[arg-type]
                             props={"host-interface": dev}),
                    other, lpath + ((1 - ei,) if isinstance(rl, list) else ("endpoints", 1 - ei)))
        return False
    return None


def _check_devices(lab: Lab, c: Collector) -> None:
    seen: dict[tuple[str, str], Interface] = {}
    clashing = set()
    for node in lab.nodes.values():
        if node.device:
            k = (node.netns, node.device)
            if k in seen:
                c.add(node.path, f"{node.kind} '{node.name}' and '{seen[k].node}' would both be device "
                                 f"'{node.device}'", f"names longer than {IFNAMSIZ} characters become "
                                                     f"br<N>; shorten or rename one of them", key=True)
                clashing.add(k)
            seen[k] = Interface(node=node.name, name=node.device, path=node.path)
    for iface in lab.interfaces():
        if not iface.wired or not iface.device or (iface.netns, iface.master) in clashing:
            continue
        k = (iface.netns, iface.device)
        if k in seen:
            c.add(iface.path, f"device name '{iface.device}' of {iface.key} clashes with {seen[k].key}",
                  "rename one of the interfaces")
        seen[k] = iface


def resolve_routes(lab: Lab, raw: dict, src: Source) -> None:
    """Routes are resolved after addressing, since `via: NODE` needs addresses."""
    c = Collector(src)
    for name, rn in raw["nodes"].items():
        node = lab.nodes[name]
        nets = [ipaddress.ip_interface(a).network for i in node.interfaces.values() for a in i.addresses]
        for ri, rr in enumerate(rn.get("routes") or []):
            rpath = ("nodes", name, "routes", ri)
            via = rr.get("via")
            dev = rr.get("dev")
            to = rr["to"]
            if (rr.get("metric") or 0) > 0xFFFFFFFF:
                c.add(rpath + ("metric",), f"metric {rr['metric']} is larger than {0xFFFFFFFF}",
                      "route metrics are 32-bit numbers")
                continue
            if dev and dev not in node.interfaces:
                c.add(rpath + ("dev",), f"node '{name}' has no interface '{dev}'",
                      "interfaces: " + ", ".join(node.interfaces) if node.interfaces else None)
                continue
            gw = None
            via_node = None
            if via:
                try:
                    gw = ipaddress.ip_address(via)
                except ValueError:
                    if via not in lab.nodes:
                        c.add(rpath + ("via",), f"'{via}' is neither an address nor a node", _node_hint(via, lab))
                        continue
                    via_node = via
                    cands = [ipaddress.ip_interface(a) for i in lab.nodes[via].interfaces.values()
                             for a in i.addresses]
                    shared = [a for a in cands if any(a.ip in n for n in nets)]
                    # `to: default` takes an IPv4 gateway when there is one, else an IPv6 one
                    version = 6 if ":" in to else 4
                    cands = [a for a in shared if a.version == version] or \
                        ([a for a in shared if a.version == 6] if to == "default" else [])
                    if not cands:
                        fam = f"IPv{version} " if shared else ""
                        c.add(rpath + ("via",), f"node '{via}' shares no {fam}subnet with '{name}'",
                              "a gateway must be on one of the node's subnets")
                        continue
                    gw = cands[0].ip
                own = {ipaddress.ip_interface(a).ip for i in node.interfaces.values() for a in i.addresses}
                dev_nets = [ipaddress.ip_interface(a).network for a in node.interfaces[dev].addresses] if dev else []
                if gw in own:
                    c.add(rpath + ("via",), f"gateway {gw} is an address of '{name}' itself",
                          "the gateway is a neighbour's address (or its node name) on a shared subnet")
                    continue
                if gw.is_link_local and gw.version == 6:
                    if not dev:
                        c.add(rpath + ("via",), f"link-local gateway {gw} needs dev:",
                              "add the outgoing interface, e.g. dev: eth0")
                        continue
                elif dev and not any(gw in n for n in dev_nets):
                    c.add(rpath + ("via",), f"gateway {gw} is not on a subnet of {name}:{dev}",
                          "subnets: " + ", ".join(str(n) for n in dev_nets) if dev_nets
                          else f"{name}:{dev} has no addresses")
                    continue
                elif not any(gw in n for n in nets):
                    c.add(rpath + ("via",), f"gateway {gw} is not on any subnet of node '{name}'",
                          "subnets: " + ", ".join(str(n) for n in nets) if nets else "the node has no addresses")
                    continue
            if to == "default":
                dst = "::/0" if gw is not None and gw.version == 6 else "0.0.0.0/0"
            else:
                try:
                    dst = str(ipaddress.ip_network(to, strict=False))
                except ValueError:
                    c.add(rpath + ("to",), f"'{to}' is not a prefix", "write e.g. 10.1.0.0/16 or default")
                    continue
            if not gw and not dev:
                c.add(rpath, "a route needs via: or dev:")
                continue
            if gw is not None and gw.version != ipaddress.ip_network(dst).version:
                c.add(rpath + ("via",), f"gateway {gw} is IPv{gw.version} but the destination {dst} "
                                        f"is IPv{ipaddress.ip_network(dst).version}",
                      "a route's gateway and destination are of the same address family")
                continue
            same = next((r for r in node.routes if r.to == dst and (r.metric or 0) == (rr.get("metric") or 0)), None)
            if same is not None:
                c.add(rpath + ("to",), f"node '{name}' has two routes to {dst}",
                      f"the other one is at {src.issue(same.path, '').location()}; "
                      f"give them different metrics, or remove one")
                continue
            node.routes.append(Route(to=dst, via=str(gw) if gw else None, dev=dev, metric=rr.get("metric"),
                                     path=rpath, via_node=via_node))
    if c.issues:
        raise TopologyError(c.sorted())
