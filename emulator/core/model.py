"""The resolved model: what the YAML means, with every default filled in.

The raw topology (what the YAML says) is plain data checked against the JSON
Schema; `resolve.resolve()` turns it into these objects, in which every
interface has a kernel device name, a namespace, a planned interface index
and its addresses, and every link knows both of its interfaces.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import names

PREFIX = names.PREFIX   # every namespace the emulator creates starts with "emu-"
TAG_PREFIX = "emulator:"  # interface alias tag: "emulator:<lab>"
FIRST_INDEX = 32         # planned ifindexes start here, above any fallback tunnel devices


def lab_tag(lab: str) -> str:
    return TAG_PREFIX + lab


def node_netns(lab: str, node: str) -> str:
    return names.node_netns(lab, node)


def fabric_netns(lab: str) -> str:
    """The lab's fabric namespace: its switches (Linux bridges, OVS) and their ports live here."""
    return names.fabric_netns(lab)


@dataclass
class Interface:
    node: str
    name: str                 # the name the topology uses (eth0, or a bridge port name)
    device: str = ""          # kernel device name in `netns`
    netns: str = ""
    index: int = 0            # planned ifindex in `netns`
    addresses: list[str] = field(default_factory=list)
    auto_address: bool = True  # allocate an address if none is given
    mac: str | None = None
    mtu: int | None = None
    link: int = -1            # index into Lab.links
    endpoint: int = -1        # index into Lab.endpoints (a single-ended link), or -1
    master: str | None = None  # device this port is enslaved to (bridge port)
    path: tuple = ()          # YAML path where the interface was named

    @property
    def key(self) -> str:
        return f"{self.node}:{self.name}"

    @property
    def wired(self) -> bool:
        """In use: the end of a link or a single-ended endpoint."""
        return self.link >= 0 or self.endpoint >= 0


@dataclass
class Route:
    to: str                   # a prefix, "default" already expanded
    via: str | None = None    # gateway address (node names resolved)
    dev: str | None = None    # interface name
    metric: int | None = None
    path: tuple = ()
    via_node: str | None = None  # when the YAML named a node instead of an address


@dataclass
class Impairment:
    bandwidth: int | None = None   # bit/s
    delay: float | None = None     # seconds
    jitter: float | None = None    # seconds
    loss: float | None = None      # percent

    @property
    def needs_netem(self) -> bool:
        return bool(self.delay or self.jitter or self.loss)

    def __bool__(self) -> bool:
        return bool(self.bandwidth or self.needs_netem)


@dataclass
class Node:
    name: str
    kind: str
    netns: str
    interfaces: dict[str, Interface] = field(default_factory=dict)
    ip: list[str] | None = None       # node-level addresses (single-interface shorthand)
    routes: list[Route] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    exec: list[list[str]] = field(default_factory=list)  # argv lists
    labels: dict[str, str] = field(default_factory=dict)
    device: str = ""                  # switches: the kernel device (bridge name)
    index: int = 0                    # switches: planned ifindex of that device
    props: dict = field(default_factory=dict)  # kind-specific fields, as written
    position: dict | None = None
    path: tuple = ()


@dataclass
class Link:
    id: int
    a: Interface
    b: Interface
    type: str = "veth"
    mtu: int | None = None
    impairment: Impairment = field(default_factory=Impairment)
    path: tuple = ()

    def ends(self) -> tuple[Interface, Interface]:
        return self.a, self.b


@dataclass
class Endpoint:
    """A single-ended link: one interface of a node whose other side is not in the lab (an existing
    host device moved into the node, a macvlan of a host NIC, a veth end in the host's namespace).
    Its type (emulator/core/endpoints/) says how it is built and undone."""
    id: int
    type: str
    iface: Interface
    props: dict = field(default_factory=dict)   # the type's own fields, as written (host-interface...)
    path: tuple = ()

    @property
    def host_interface(self) -> str:
        # the device, an SR-IOV PF, or a PCI address (pci-device)
        return str(self.props.get("host-interface", self.props.get("pf", self.props.get("pci", ""))))

    @property
    def label(self) -> str:
        return f"{self.iface.key} -- {self.type}:{self.host_interface}"


@dataclass
class Addressing:
    lan: str = "10.0.0.0/16"      # a prefix per bridged segment, sized to its hosts
    p2p: str = "10.255.0.0/16"    # a /30 per point-to-point link
    auto: bool = True


@dataclass
class Lab:
    name: str
    file: str
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)   # single-ended links
    addressing: Addressing = field(default_factory=Addressing)
    description: str = ""
    ipv6: str = "auto"   # auto: IPv6 in nodes only when the lab has an IPv6 address; on; off
    next_index: dict[str, int] = field(default_factory=dict)  # per netns: next free planned ifindex
    props: dict = field(default_factory=dict)  # top-level fields the backends add (registries.lab_properties)
    services: list = field(default_factory=list)   # what the expand hooks resolved (NSM's chains: .service, .nodes)

    @property
    def tag(self) -> str:
        return lab_tag(self.name)

    @property
    def fabric(self) -> str:
        return fabric_netns(self.name)

    def allocate_index(self, netns: str) -> int:
        i = self.next_index.get(netns, FIRST_INDEX)
        self.next_index[netns] = i + 1
        return i

    def interfaces(self):
        for n in self.nodes.values():
            yield from n.interfaces.values()

    def namespaces(self) -> list[str]:
        """Every namespace the lab needs, in creation order."""
        seen: dict[str, None] = {}
        for n in self.nodes.values():
            seen.setdefault(n.netns, None)
        return list(seen)
