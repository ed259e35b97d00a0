"""`ovs` and `ovs-dpdk`: Open vSwitch bridges, in the lab's fabric namespace.

Ports are numbered (OpenFlow port numbers) in the order of the bridge's interfaces: eth1 is port 1,
eth2 port 2..., so `flows: ["in_port=1,actions=output:2"]` reads like the topology. Without
`flows:` a bridge is a learning switch (the NORMAL action).

    sw: {kind: ovs-dpdk, pmd_cores: [1], socket_mem: 512, flows: ["in_port=1,actions=output:2"]}
    links:
      - {endpoints: [tx, sw], type: vhost-user}   # dpdkvhostuserclient <-> net_virtio_user (dpdk-app)
      - [host1, sw]                              # a veth: a kernel port of the bridge
      - {type: sriov-vf, endpoint: sw:dpdk0, pf: enp3s0f0, driver: vfio-pci}   # ovs-dpdk: type=dpdk port,
                                                 # dpdk-devargs=the VF's PCI address (phys backend)
"""
from __future__ import annotations

import ipaddress
import os
import re

from ...deploy import actions as A
from ..dpdk import testpmd as D
from ..dpdk import hugepages
from ..dpdk.links import socket_path
from ...core import linktypes
from ...core.endpoints import pci_device
from ... import names
from ...deploy import state
from . import vswitch as O
from ...core.model import Interface, Lab, Node
from ...core.driver import FRAME_END, IFNAMSIZ, DpdkMemory, Driver, EndSpec, LabResource, place_switch_port

FLOWS = {"type": "array", "items": {"type": "string", "minLength": 1},
         "description": "OpenFlow rules (ovs-ofctl syntax), e.g. in_port=1,actions=output:2; "
                        "default: one NORMAL rule (learning switch)"}
CPU_LIST = D.CPU_LIST


_ETH = re.compile(r"eth(\d+)")


def ofports(node: Node) -> dict[str, int]:
    """OpenFlow port number of each linked interface, by name, in one pass over the bridge's
    interfaces: ethN is port N when every linked interface is named eth<number>; otherwise
    (and for eth0) an interface's position among them, from 1."""
    names = [i.name for i in node.interfaces.values() if i.wired]   # links, and PCI devices (ovs-dpdk)
    found = [_ETH.fullmatch(n) for n in names]
    all_eth = all(found)
    return {n: int(m.group(1)) if all_eth and m and int(m.group(1)) > 0 else pos + 1
            for pos, (n, m) in enumerate(zip(names, found))}


def ofport(node: Node, iface: Interface) -> int:
    return ofports(node)[iface.name]


def state_file_ovs_db(lab_name: str) -> str:
    """The OVSDB a deployed lab uses: its own, or the external one its topology named."""
    from ...deploy import state as _state
    ext = [r["db"] for r in _state.Journal(lab_name).records() if r.get("op") == "ovs-bridge"]
    return ext[0] if ext else O.private_db(lab_name)


def external_db(lab: Lab) -> str | None:
    return (lab.props.get("ovs") or {}).get("db")


class OvsDaemons(LabResource):
    """The lab's own ovsdb-server and ovs-vswitchd (or the user's, with ovs: db:), once per lab."""
    name = "ovs"

    def plan(self, lab):
        dpdk_nodes = dpdk_bridges(lab)
        pmd = sorted({c for n in dpdk_nodes for c in n.props.get("pmd_cores", [])})
        sleeps = [n.props["pmd_maxsleep"] for n in dpdk_nodes if "pmd_maxsleep" in n.props]
        lcore = next((n.props["lcore"] for n in dpdk_nodes if "lcore" in n.props), 0)
        return [O.StartOvs(netns=lab.fabric, lab=lab.name, dpdk=bool(dpdk_nodes), external_db=external_db(lab),
                           socket_mem=ovs_socket_mem(lab),
                           lcore_mask=_mask([lcore]), pmd_mask=_mask(pmd) if pmd else None,
                           pmd_maxsleep=max(sleeps) if sleeps else None, file_prefix=ovs_prefix(lab),
                           huge_dir=hugepages.lab_mount(state.lab_dir(lab.name)), pci=lab_pci_devices(lab))]


def lab_pci_devices(lab: Lab) -> list[str]:
    """PCI addresses of the vfio-bound devices (phys backend) the lab's OVS-DPDK bridges take as dpdk ports."""
    return [a for n in dpdk_bridges(lab) for i in n.interfaces.values() if (a := pci_device(lab, i))]


def dpdk_bridges(lab: Lab) -> list[Node]:
    """The lab's OVS bridges on the DPDK datapath (ovs-dpdk, or a kind built on its driver)."""
    from ...core import drivers
    return [n for n in lab.nodes.values() if isinstance(d := drivers.get(n.kind), OvsDriver) and d.dpdk]


def ovs_socket_mem(lab: Lab) -> int:
    """dpdk-socket-mem of the lab's ovs-vswitchd: the largest socket_mem given, else 512 MB."""
    given = [n.props["socket_mem"] for n in dpdk_bridges(lab) if "socket_mem" in n.props]
    return max(given) if given else 512


def _mask(cpus) -> str:
    m = 0
    for c in cpus:
        m |= 1 << c
    return hex(m)


def ovs_prefix(lab: Lab) -> str:
    return names.ovs_prefix(lab.name)   # emu-LAB: no dpdk-app (emu-LAB.NODE) or other lab has it


class OvsDriver(Driver):
    kind = "ovs"
    lab_resources = ("ovs",)
    summary = "an Open vSwitch bridge (the lab's own ovs-vswitchd, kernel or userspace datapath)"
    switch = True
    addressable = False
    dpdk = False
    #: its veth ports pass frames (no tx checksum to turn off on a peer switch)
    link_ends = {"veth": FRAME_END}
    properties = {
        "flows": FLOWS,
        "internal": {"type": "object", "description": "internal ports of the bridge (devices in the lab's "
                                                     "fabric namespace), by name, with their addresses: "
                                                     "e.g. {gw: {ip: [10.0.0.254/24]}}",
                     "additionalProperties": {"type": "object", "additionalProperties": False,
                                              "properties": {"ip": {"type": "array", "items": {"type": "string"}}}}},
        "datapath": {"enum": ["auto", "system", "netdev"],
                     "description": "system (kernel module) or netdev (userspace); auto: system when the "
                                    "openvswitch module is loaded"},
    }

    def netns(self, lab, node):
        return lab.fabric

    def default_ifname(self, k):
        return f"eth{k + 1}"

    def resolve(self, lab, node, raw):
        problems = []
        node.index = lab.allocate_index(node.netns)
        node.device = node.name if len(node.name) <= IFNAMSIZ else f"ovs{node.index}"
        if node.props.get("datapath") == "system" and not O.kernel_datapath():
            problems.append((("datapath",), "datapath: system needs the openvswitch kernel module, which this "
                                            "kernel has not loaded", "use datapath: netdev (userspace) or auto"))
        ncpu = os.cpu_count() or 1
        for key in ("pmd_cores", "lcore"):
            v = node.props.get(key)
            for c in (v if isinstance(v, list) else [] if v is None else [v]):
                if c >= ncpu:
                    problems.append(((key,), f"CPU {c} does not exist here ({ncpu} CPUs: 0-{ncpu - 1})", None))
        for name, spec in (node.props.get("internal") or {}).items():
            if len(name) > IFNAMSIZ or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                problems.append((("internal", name), f"internal port name '{name}' is not a valid device name "
                                                     f"(at most {IFNAMSIZ} letters, digits, '_', '.', '-')", None))
            for i, a in enumerate((spec or {}).get("ip", [])):
                try:
                    ipaddress.ip_interface(a)
                    if "/" not in a:
                        raise ValueError
                except ValueError:
                    problems.append((("internal", name, "ip", i), f"'{a}' is not an address with prefix length",
                                     "e.g. 10.0.0.254/24"))
        for i, f in enumerate(node.props.get("flows") or []):
            if "actions=" not in f.replace(" ", ""):
                problems.append((("flows", i), f"flow '{f}' has no actions=",
                                 "e.g. in_port=1,actions=output:2"))
        return problems

    def port(self, lab, node, iface):
        place_switch_port(node, iface)
        if external_db(lab) and iface.link >= 0 and lab.links[iface.link].type == "veth":
            return [((), f"{iface.key} is a veth, but with ovs: db: the bridge lives in an OVS outside the "
                         f"lab, which cannot open a device in the lab's namespace",
                     "use vhost-user links to dpdk-app nodes on an external OVS, or remove ovs: db: "
                     "(the lab then starts its own OVS)")]
        return []

    def live(self, lab, node, state):
        """vhost-user ports: OVS's link state and counters (veth ports: the kernel's view)."""
        import json as _json
        db = state_file_ovs_db(lab)
        r = O.vsctl(db, ["--format=json", "--columns=name,type,link_state,statistics", "list", "Interface"],
                    timeout=5)
        if not r.ok:
            return {}
        data = _json.loads(r.stdout)
        cols = data["headings"]
        rows = {row[cols.index("name")]: dict(zip(cols, row)) for row in data["data"]}
        out = {}
        for ifname, i in state.get("interfaces", {}).items():
            row = rows.get(i["device"])
            if not row or row.get("type") in ("", "system", "internal"):
                continue
            st = dict(row["statistics"][1]) if isinstance(row.get("statistics"), list) else {}
            ls = row.get("link_state") if isinstance(row.get("link_state"), str) else "unknown"
            out[f"{node}:{ifname}"] = {"up": ls == "up", "operstate": ls, "kind": row.get("type"),
                                       "stats": {k: st.get(k, 0) for k in ("rx_packets", "tx_packets",
                                                                            "rx_bytes", "tx_bytes")}}
        return out

    def datapath(self, node: Node) -> str:
        dp = node.props.get("datapath", "auto")
        if self.dpdk or dp == "netdev":
            return "netdev"
        if dp == "system":
            return "system"
        return "system" if O.kernel_datapath() else "netdev"

    def plan_node(self, lab, node):
        acts = []
        db = external_db(lab)
        ports = []
        numbers = ofports(node)
        for iface in node.interfaces.values():
            if iface.link < 0:
                if pci_device(lab, iface):   # a vfio-bound VF or NIC (phys backend): a DPDK port
                    ports.append(O.Port(name=iface.device, ofport=numbers[iface.name], type="dpdk",
                                        options={"dpdk-devargs": pci_device(lab, iface)}))
                continue
            link = lab.links[iface.link]
            p = O.Port(name=iface.device, ofport=numbers[iface.name])
            if linktypes.role_of(lab, link, iface) == "vhost":   # OVS connects to the app's virtio socket
                p.type, p.options = "dpdkvhostuserclient", {"vhost-server-path": socket_path(lab, link)}
            ports.append(p)
        internal = {}
        for name, spec in (node.props.get("internal") or {}).items():
            ports.append(O.Port(name=name, ofport=len(ports) + 1, type="internal"))
            internal[name] = list((spec or {}).get("ip", []))
        acts.append(O.ConfigureBridge(internal=internal, netns=lab.fabric, lab=lab.name, db=db or O.private_db(lab.name),
                                      bridge=node.device, node=node.name, datapath=self.datapath(node),
                                      ports=ports, flows=list(node.props.get("flows") or []),
                                      external=bool(db)))
        return acts

    def plan_port(self, lab, node, iface):
        link = lab.links[iface.link]
        if link.type != "veth":
            return []
        acts = [A.LinkUp(netns=iface.netns, index=iface.index, device=iface.device, phase_=A.PORTS)]
        peer = link.b if link.a is iface else link.a
        # a userspace datapath fills in no checksum the peer's kernel stack left to offload
        end = linktypes.end_spec(lab, peer, "veth")
        if self.datapath(node) == "netdev" and (end is None or end.tx_checksum_offload):
            acts.append(A.TxChecksumOff(netns=peer.netns, device=peer.device, label=f"{peer.key} -> {node.name}"))
        return acts


class OvsDpdkDriver(OvsDriver):
    kind = "ovs-dpdk"
    lab_resources = ("hugepages", "ovs")
    summary = ("an OVS-DPDK bridge (userspace netdev datapath, PMD threads): vhost-user ports to dpdk-app "
               "nodes, veth ports to kernel nodes")
    dpdk = True
    pci_ports = True   # a vfio-bound VF or NIC of a single-ended link (phys backend): type=dpdk, dpdk-devargs
    link_ends = {"veth": FRAME_END, "vhost-user": EndSpec(roles=("vhost",))}   # dpdkvhostuserclient
    properties = {
        "flows": FLOWS,
        "pmd_cores": {**CPU_LIST, "description": "CPUs of the PMD (polling) threads, e.g. [1] "
                                                 "(pmd-cpu-mask; default: OVS picks one per NUMA node)"},
        "lcore": {"type": "integer", "minimum": 0, "description": "CPU of OVS's DPDK main lcore (default 0)"},
        "socket_mem": {"type": "integer", "minimum": 64, "maximum": 1048576,
                       "description": "hugepage memory of ovs-vswitchd in MB (dpdk-socket-mem; default 512)"},
        "pmd_maxsleep": {"type": "integer", "minimum": 0, "maximum": 10000,
                         "description": "let idle PMD threads sleep up to this many microseconds "
                                        "(other_config:pmd-maxsleep), which frees the core on small hosts"},
    }

    def datapath(self, node):
        return "netdev"

    def dpdk_memory(self, lab, node):
        if external_db(lab):
            return None   # the user's ovs-vswitchd: its memory is not the lab's to count
        return DpdkMemory(process="ovs-vswitchd", mb=ovs_socket_mem(lab), headroom_mb=D.OVS_HEADROOM_MB, shared=True)
