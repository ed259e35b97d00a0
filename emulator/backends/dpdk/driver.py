"""`dpdk-app`: a namespace node running dpdk-testpmd on its links.

Its interfaces become testpmd ports, in interface order (port 0, 1, ...), by link type:

    vhost-user (to an ovs-dpdk node)   net_virtio_user, server mode (OVS connects, and reconnects)
    memif (to a dpdk-app, a vpp...)    net_memif, server on the link's first endpoint
    vhost-user (to another dpdk-app)   net_virtio_user (server) on the first endpoint, net_vhost on
                                       the second (client mode: it reconnects until the first listens)
    veth (the default)                 net_af_packet on the kernel veth (the DPDK app reads the kernel)
    sriov-vf (driver: vfio-pci),       the device itself (EAL -a PCI, no --no-pci); DPDK numbers PCI
    pci-device (phys backend)          ports first, so --portlist puts them back in interface order

    tx:  {kind: dpdk-app, mode: txonly, cores: [1], memory: 256}
    fwd: {kind: dpdk-app, mode: io}                # the seed 003 basicfwd shape: port 0 <-> port 1
    echo: {kind: dpdk-app, mode: icmpecho}         # answers ARP and ping on every port

`cores` are the CPUs of the forwarding lcores (one per core), `main_core` the CPU of the main lcore
(mostly asleep at the interactive prompt). io, mac, macswap and icmpecho nodes forward from deploy
on; txonly, rxonly and flowgen nodes wait for a traffic step (`autostart` overrides either way).
"""
from __future__ import annotations

import os
import re

from ...deploy import actions as A
from . import testpmd as D
from . import hugepages
from ...core import linktypes
from ...deploy import state
from ...core.model import node_netns
from ...core.endpoints import pci_device
from ...core.driver import FRAME_END, DpdkMemory, Driver, EndSpec
from .links import socket_path


def mbufs(memory_mb: int) -> int:
    """testpmd sizes its pool for 32 ports by default (~340 MB); half the node's memory is plenty."""
    return max(2048, min(262144, memory_mb * 1024 * 1024 // 2 // 2304))


def vdev(lab, link, iface, role: str | None, k: int) -> str:
    """The EAL --vdev of port k: by the role this end plays on its link (no role: af_packet on the veth)."""
    mac = f",mac={iface.mac}" if iface.mac else ""
    if role in ("server", "client"):   # memif: a filesystem socket (abstract ones live in one namespace)
        return f"net_memif{k},role={role},id=0,socket={socket_path(lab, link)},socket-abstract=no" + mac
    if role == "vhost":   # vhost-user backend: connects to the virtio side, and retries until it listens
        return f"net_vhost{k},iface={socket_path(lab, link)},client=1,queues=1"
    if role == "virtio":
        ring = min(1024, lab.nodes[iface.node].props.get("ring", 1024))
        return f"net_virtio_user{k},path={socket_path(lab, link)},server=1,queues=1,queue_size={ring}" + mac
    return f"net_af_packet{k},iface={iface.device}"


def port_ids(ports: list[dict]) -> str | None:
    """DPDK numbers the PCI devices first, in address order (the PCI bus is probed before the vdevs),
    then the vdevs in --vdev order. Sets each port's "port" to its DPDK port id; returns the
    --portlist that puts the forwarding ports back in interface order (io pairs 1st-2nd, 3rd-4th...),
    or None when DPDK's order is that already."""
    pci = sorted({p["pci"] for p in ports if "pci" in p})
    vdev = iter(range(len(pci), len(ports)))
    for p in ports:
        p["port"] = pci.index(p["pci"]) if "pci" in p else next(vdev)
    ids = [p["port"] for p in ports]
    return None if ids == sorted(ids) else ",".join(map(str, ids))


class DpdkAppDriver(Driver):
    kind = "dpdk-app"
    lab_resources = ("hugepages",)
    summary = "a namespace running dpdk-testpmd (io, mac, txonly, rxonly, flowgen, icmpecho) on its links"
    addressable = True   # icmpecho answers for the address the node is given; steps resolve it by name
    auto_address = False  # testpmd owns its ports: a pool address would be shown but never configured
    properties = {
        "mode": {"enum": D.MODES, "description": "testpmd forwarding mode (default io)"},
        "autostart": {"type": "boolean", "description": "start forwarding at deploy (default: for io, mac, "
                                                        "macswap and icmpecho)"},
        "cores": {**D.CPU_LIST, "description": "CPUs of the forwarding lcores, one lcore each (default [1])"},
        "main_core": {"type": "integer", "minimum": 0, "maximum": 1023,
                      "description": "CPU of the main lcore (default 0)"},
        "memory": {"type": "integer", "minimum": 16, "maximum": 65536,
                   "description": "hugepage memory in MB (EAL -m; default 256)"},
        "burst": {"type": "integer", "minimum": 1, "maximum": 512, "description": "packets per burst (default 32)"},
        "size": {"type": "integer", "minimum": 60, "maximum": 9000,
                 "description": "packet size of txonly/flowgen in bytes (default 64)"},
        "ring": {"type": "integer", "minimum": 64, "maximum": 4096,
                 "description": "rx/tx descriptors per queue, and the virtio_user queue size (default 1024)"},
        "args": {"type": "array", "items": {"type": "string"},
                 "description": "more testpmd application arguments (after --)"},
        "eal": {"type": "array", "items": {"type": "string"}, "description": "more EAL arguments"},
        "interfaces": {"type": "object", "description": "per-interface settings, by interface name",
                       "additionalProperties": {
                           "type": "object", "additionalProperties": False,
                           "properties": {"ip": {"type": "array", "items": {"type": "string"}},
                                          "mac": {"type": "string",
                                                  "pattern": "^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"}}}},
        "ip": {"type": "array", "items": {"type": "string"},
               "description": "the address icmpecho answers for (steps resolve the node name to it)"},
    }
    pci_ports = True   # a vfio-bound VF or NIC of a single-ended link (phys backend) is a port: -a PCI
    #: veth: af_packet (frames only); memif: net_memif either side, a client that never reconnects
    #: (it starts after its server); vhost-user: net_virtio_user (virtio) or net_vhost (vhost)
    link_ends = {"veth": FRAME_END,
                 "memif": EndSpec(roles=("server", "client"), starts_after_server=True),
                 "vhost-user": EndSpec(roles=("virtio", "vhost"))}

    def dpdk_memory(self, lab, node):
        return DpdkMemory(process=node.name, mb=node.props.get("memory", 256), headroom_mb=D.APP_HEADROOM_MB)

    def netns(self, lab, node):
        return node_netns(lab.name, node)

    def resolve(self, lab, node, raw):
        problems = []
        n = os.cpu_count() or 1
        for key, cpus in (("cores", node.props.get("cores", [])), ("main_core", [node.props.get("main_core", 0)])):
            for c in cpus:
                if c >= n:
                    problems.append(((key,), f"CPU {c} does not exist here ({n} CPUs: 0-{n - 1})",
                                     "cores and main_core name CPUs of this host"))
        return problems

    def port(self, lab, node, iface):
        iface.device = iface.name
        iface.netns = node.netns
        return []

    def plan_node(self, lab, node):
        acts = []
        p = node.props
        mode = p.get("mode", "io")
        cores = p.get("cores", [1 if (os.cpu_count() or 1) > 1 else 0])
        vdevs, ports, after, pcis = [], [], [], []
        for k, iface in enumerate(i for i in node.interfaces.values() if i.link >= 0 or pci_device(lab, i)):
            if iface.link < 0:   # a vfio-bound VF or NIC (phys backend): an EAL -a, a PCI port
                pcis.append(pci_device(lab, iface))
                ports.append({"interface": iface.name, "port": k, "pci": pcis[-1], "link": "pci"})
                continue
            link = lab.links[iface.link]
            role = linktypes.role_of(lab, link, iface)
            v = vdev(lab, link, iface, role, k)
            peer = link.b if iface is link.a else link.a
            if role == "client" and peer.node not in after:   # a memif client starts after its server
                after.append(peer.node)
            vdevs.append(v)
            ports.append({"interface": iface.name, "port": k, "vdev": v, "link": link.type})
        portlist = port_ids(ports)
        prefix = D.file_prefix(lab.name, node.name)
        argv = ["stdbuf", "-oL", D.TESTPMD, "--lcores", D.lcores(p.get("main_core", 0), cores),
                f"--file-prefix={prefix}", *([x for a in pcis for x in ("-a", a)] or ["--no-pci"]),
                f"--huge-dir={hugepages.lab_mount(state.lab_dir(lab.name))}", "--single-file-segments",
                "-m", str(p.get("memory", 256)),
                # no growth past its budget (memory + headroom): a greedy app fails in its own log
                # instead of starving the next one
                "--socket-limit", str(p.get("memory", 256) + D.APP_HEADROOM_MB)]
        argv += [f"--vdev={v}" for v in vdevs] + list(p.get("eal", []))
        argv += ["--", "-i", f"--forward-mode={mode}", f"--nb-cores={len(cores)}",
                 f"--burst={p.get('burst', 32)}", f"--txpkts={p.get('size', 64)}",
                 f"--total-num-mbufs={mbufs(p.get('memory', 256))}",
                 # 1024-descriptor rings: where busy-pollers time-share a CPU, a ring's worth of
                 # packets is what crosses per scheduler slice (4x the 256 default's throughput here)
                 f"--rxd={p.get('ring', 1024)}", f"--txd={p.get('ring', 1024)}"]
        argv += [f"--portlist={portlist}"] if portlist else []
        argv += list(p.get("args", []))
        acts.append(D.StartDpdkApps(lab=lab.name, node=node.name, ns=node.netns, argv=argv, prefix=prefix,
                                    mode=mode, autostart=p.get("autostart", mode in D.AUTOSTART), ports=ports,
                                    after=after, burst=p.get("burst", 32), size=p.get("size", 64)))
        return acts

    def live(self, lab, node, state):
        t = D.Testpmd.of(lab, node)
        ports = [p for p in t.spec["ports"] if p["link"] != "veth"]   # veths: the kernel's view
        if not ports:
            return {}
        text = t.run(["show port info all", "show port stats all"], timeout=5, until=D.RATES)
        up = re.findall(r"Link status: (\w+)", text)
        nic = D.parse_nic(text)
        out = {}
        for p in ports:
            k = p["port"]
            state_ = up[k] if k < len(up) else "unknown"
            s = nic.get(k, {})
            out[f"{node}:{p['interface']}"] = {
                "up": state_ == "up", "operstate": state_, "kind": f"dpdk {p['link']}",
                "stats": {key: s.get(key, 0) for key in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")}}
        return out

    def plan_port(self, lab, node, iface):
        if lab.links[iface.link].type != "veth":
            return []
        # af_packet: the veth is up, and carries no address (the DPDK app owns the port)
        return [A.LinkUp(netns=iface.netns, index=iface.index, device=iface.device, phase_=A.PORTS)]
