"""SR-IOV VFs as link ends: `sriov-vf` endpoints and the lab-level `sriov:` field.

    sriov: {pf: enp3s0f0, vfs: 4}               # or a list; VFs created only when fewer exist
    links:
      - {type: sriov-vf, endpoint: {node: r1, interface: eth1, ip: [198.51.100.1/24]}, pf: enp3s0f0,
         mac: "02:00:00:00:00:01", vlan: 10, trust: true, spoofchk: false, max_tx_rate: 1000}
      - {type: sriov-vf, endpoint: fwd:p0, pf: enp3s0f0, vf: 2, driver: vfio-pci}   # a DPDK port

At deploy: the preflight checks the PF (exists, has SR-IOV, enough VFs) and, for `driver: vfio-pci`,
the IOMMU and the vfio-pci module (exit 3 with the fix). `sriov_numvfs` is raised to what the lab
asks only when fewer VFs exist (journaled first, given back at destroy). Each endpoint picks a free
VF of its PF (or the `vf:` index), sets MAC, VLAN, trust, spoof-check and rate on the PF through
netlink (IFLA_VF_*; the VF's previous settings are journaled and put back), then either moves the
VF's netdev into the node (as `host-device` does) or binds the VF to vfio-pci (driver_override,
unbind, probe; rebound to its kernel driver at destroy) for a DPDK consumer.

A vfio-bound VF is handed to its node by PCI address (`SriovVf.pci_address`): a dpdk-app gets
`-a PCI` (no --no-pci), an ovs-dpdk bridge a `type=dpdk` port with `dpdk-devargs=PCI`. The address is
known at plan time: `vf_addresses` picks the VFs from sysfs as deploy does (VFs sriov_numvfs will
create are predicted from the PF's address, sriov_offset and sriov_stride), and deploy takes the
VF it planned.

Verified only against a fixture sysfs tree and pyroute2's encoding (tests/test_phys_sriov.py,
tests/test_phys_pci.py) and, for real, the preflight refusals of this machine (no SR-IOV NIC, no
IOMMU, no vfio): never on an SR-IOV NIC, and no testpmd or OVS has opened a VF here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ...deploy.kernel import pr2

from ...core import drivers
from ...core.endpoints import EndpointType
from ...deploy import actions as A
from ...deploy.kernel import devices
from ...errors import DeployError
from . import preflight
from .host_device import HOST_INTERFACE
from .nodedev import NodeDevice
from .sysfs import VF, VFIO, Sysfs, SysfsError, pick_vf

SYSFS_ROOT = os.environ.get("EMULATOR_SYSFS_ROOT", "/")   # tests point it at a fixture tree
PF = {**HOST_INTERFACE, "description": "the physical function: the SR-IOV NIC's device in the host's namespace"}
LAB_SRIOV_ONE = {"type": "object", "additionalProperties": False, "required": ["pf", "vfs"],
                 "properties": {"pf": PF, "vfs": {"type": "integer", "minimum": 1, "maximum": 4096,
                                                  "description": "VFs the PF must have (created when fewer exist)"}}}
LAB_SRIOV = {"anyOf": [LAB_SRIOV_ONE, {"type": "array", "items": LAB_SRIOV_ONE}],
             "description": "SR-IOV PFs and how many VFs each needs: {pf: enp3s0f0, vfs: 4} or a list"}


def lab_vfs(lab, pf: str) -> int:
    """VFs the lab-level sriov: asks of PF (0: none said)."""
    raw = lab.props.get("sriov") or []
    for one in raw if isinstance(raw, list) else [raw]:
        if one.get("pf") == pf:
            return int(one["vfs"])
    return 0


def wanted_vfs(lab, pf: str) -> int:
    """VFs the lab needs PF to have: the most its sriov: or any of its links' vfs: asks (0: none said)."""
    return max([lab_vfs(lab, pf)] + [int(e.props.get("vfs") or 0) for e in lab.endpoints
                                      if e.type == "sriov-vf" and e.props.get("pf") == pf])


class SriovVf(EndpointType):
    name = "sriov-vf"
    summary = "an SR-IOV VF of a host NIC: its netdev moved into the node, or bound to vfio-pci for DPDK"
    properties = {
        "pf": PF,
        "vfs": {"type": "integer", "minimum": 1, "maximum": 4096,
                "description": "VFs the PF must have (as the lab-level sriov:)"},
        "vf": {"type": "integer", "minimum": 0, "description": "this VF index (default: the first free one)"},
        "driver": {"enum": ["kernel", VFIO], "description": "kernel (default): the VF's netdev moved into "
                   "the node; vfio-pci: bound to vfio-pci for a DPDK app or OVS-DPDK"},
        "vlan": {"type": "integer", "minimum": 0, "maximum": 4095, "description": "VLAN the PF tags (0: none)"},
        "trust": {"type": "boolean"}, "spoofchk": {"type": "boolean"},
        "max_tx_rate": {"type": "integer", "minimum": 0, "description": "Mbit/s (0: unlimited)"},
        "force": {"type": "boolean", "description": "allow a PF that carries the host's default route"},
    }
    required = ("pf",)

    def kernel_port(self, ep):
        return ep.props.get("driver") != VFIO   # a vfio-bound VF is a PCI device for DPDK, not a netdev

    def pci_address(self, lab, ep):
        if ep.props.get("driver") != VFIO:
            return None
        return vf_addresses(lab).get(ep.id) or unknown_address(ep)

    def check(self, lab, ep):
        pf = ep.props["pf"]
        node = lab.nodes[ep.iface.node]
        if not self.kernel_port(ep) and not drivers.get(node.kind).pci_ports:
            return [(("endpoint",), f"a {self.name} link with driver: {VFIO} hands '{node.name}' a PCI device, and "
                                    f"a {node.kind} cannot take one", "connect it to a dpdk-app or ovs-dpdk node, "
                                                                      "or use driver: kernel (the VF's netdev)")]
        want = ep.props.get("vfs") or lab_vfs(lab, pf)
        if "vf" in ep.props and want and ep.props["vf"] >= want:
            return [(("vf",), f"VF {ep.props['vf']} does not exist with {want} VFs", f"VF indexes are 0..{want - 1}")]
        same = [e for e in lab.endpoints if e.type == self.name and e.props.get("pf") == pf]
        if want and same[-1] is ep and len(same) > want:
            return [((), f"the lab has {len(same)} sriov-vf links on {pf} but asks for {want} VFs of it",
                     f"ask for at least {len(same)} (sriov: vfs, or vfs: on the link)")]
        taken = [e.props["vf"] for e in same if "vf" in e.props]
        if "vf" in ep.props and taken.count(ep.props["vf"]) > 1 and same[-1] is ep:
            return [(("vf",), f"VF {ep.props['vf']} of {pf} is given to two links", "one VF serves one link")]
        return []

    def needed(self, lab, pf: str) -> int:
        return sum(1 for e in lab.endpoints if e.type == self.name and e.props.get("pf") == pf)

    def plan(self, lab, ep):
        pr = ep.props
        vfio = pr.get("driver") == VFIO
        vfs = wanted_vfs(lab, pr["pf"])   # one count per PF: raising it again would remove the VFs taken
        return [preflight.check_of(lab, ep, self.name, device=pr["pf"], vfs=vfs or (pr.get("vf", 0) + 1), vfio=vfio,
                                   sysfs_root=SYSFS_ROOT, needed=self.needed(lab, pr["pf"])),
                AttachVf.of(ep, lab=lab.name, pf=pr["pf"], vfs=vfs, vf=pr.get("vf"), vfio=vfio,
                            pci=vf_addresses(lab).get(ep.id), vlan=pr.get("vlan"), trust=pr.get("trust"),
                            spoofchk=pr.get("spoofchk"), max_tx_rate=pr.get("max_tx_rate"), sysfs_root=SYSFS_ROOT)]


def unknown_address(ep) -> str:
    """What a consumer's command line shows where the VF's address is not known at plan time."""
    return f"<{'VF ' + str(ep.props['vf']) if 'vf' in ep.props else 'a VF'} of {ep.props['pf']}>"


def predicted_vfs(fs: Sysfs, pf: str, n: int) -> list[VF] | None:
    """The N VFs the PF will have once sriov_numvfs is N: those that exist as they are, the others
    at the address the PCI SR-IOV capability gives them (routing ID = the PF's + sriov_offset +
    k * sriov_stride), with no driver yet. None: the PF does not say its offset and stride."""
    have = {v.index: v for v in fs.vfs(pf)}
    pci, dev = fs.pci_of(pf), fs.p("class", "net", pf, "device")
    try:
        offset, stride = (int(fs._read(os.path.join(dev, f))) for f in ("sriov_offset", "sriov_stride"))
        domain, bus, df = pci.split(":")
        d, f = df.split(".")
        rid = int(bus, 16) << 8 | int(d, 16) << 3 | int(f)
    except (SysfsError, ValueError, AttributeError):
        return None
    out = []
    for k in range(n):
        r = rid + offset + k * stride
        out.append(have.get(k) or VF(k, f"{domain}:{r >> 8:02x}:{r >> 3 & 0x1f:02x}.{r & 7}", None, None))
    return out


def vf_addresses(lab) -> dict[int, str | None]:
    """Endpoint id -> PCI address of the VF each sriov-vf endpoint gets, picked at plan time from the
    host's sysfs (SYSFS_ROOT) as deploy picks them: `vf: N` ones first, then the first free VF in
    index order for each other link, in link order; VFs other labs hold skipped. None: not known
    (no such PF here, or VFs to create and no sriov_offset/stride). Read-only; once per lab."""
    cached = lab.__dict__.get("_vf_addresses")
    if cached is not None:
        return cached
    fs, out, taken = Sysfs(SYSFS_ROOT), {}, None
    by_pf: dict[str, list] = {}
    for ep in lab.endpoints:
        if ep.type == SriovVf.name:
            by_pf.setdefault(ep.props["pf"], []).append(ep)
    for pf, eps in by_pf.items():
        vfs = None
        try:
            if fs.sriov_capable(pf):
                want = wanted_vfs(lab, pf)
                vfs = fs.vfs(pf) if want <= fs.num_vfs(pf) else predicted_vfs(fs, pf, want)
        except (SysfsError, ValueError, OSError):
            vfs = None
        if vfs is None:
            out.update({e.id: None for e in eps})
            continue
        if taken is None:
            taken = taken_vfs(lab.name)
        mine: set[str] = set()
        for e in sorted(eps, key=lambda e: "vf" not in e.props):   # given indexes first (a stable sort)
            vf = pick_vf(vfs, taken | mine, e.props.get("vf"))
            out[e.id] = vf.pci if vf else None
            if vf:
                mine.add(vf.pci)
    lab.__dict__["_vf_addresses"] = out
    return out


def vf_request(pf_index: int, vf: int, mac: str | None = None, vlan: int | None = None, trust: bool | None = None,
               spoofchk: bool | None = None, max_tx_rate: int | None = None) -> pr2.ifinfmsg:
    """RTM_SETLINK on the PF with IFLA_VFINFO_LIST/IFLA_VF_INFO carrying the VF's settings."""
    cfg = []
    if mac:
        cfg.append(("IFLA_VF_MAC", {"vf": vf, "mac": mac}))
    if vlan is not None:
        cfg.append(("IFLA_VF_VLAN", {"vf": vf, "vlan": vlan, "qos": 0}))
    if max_tx_rate is not None:
        cfg.append(("IFLA_VF_RATE", {"vf": vf, "min_tx_rate": 0, "max_tx_rate": max_tx_rate}))
    if spoofchk is not None:
        cfg.append(("IFLA_VF_SPOOFCHK", {"vf": vf, "spoofchk": int(spoofchk)}))
    if trust is not None:
        cfg.append(("IFLA_VF_TRUST", {"vf": vf, "trust": int(trust)}))
    msg = pr2.ifinfmsg()
    msg["family"] = 0
    msg["index"] = pf_index
    msg["attrs"] = [("IFLA_VFINFO_LIST", {"attrs": [("IFLA_VF_INFO", {"attrs": cfg})]})]
    return msg


def vf_settings(pf: str, vf: int) -> dict:
    """The VF's current settings as the PF reports them (what vf_request takes), to put them back."""
    with pr2.IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=pf)
        if not idx:
            return {}
        for info in ipr.get_links(idx[0], ext_mask=1)[0].get_attr("IFLA_VFINFO_LIST").get_attrs("IFLA_VF_INFO"):
            if info.get_attr("IFLA_VF_MAC")["vf"] != vf:
                continue
            get = lambda k, f: (info.get_attr(k) or {}).get(f)  # noqa: E731
            return {"mac": get("IFLA_VF_MAC", "mac"), "vlan": get("IFLA_VF_VLAN", "vlan"),
                    "spoofchk": bool(get("IFLA_VF_SPOOFCHK", "spoofchk")), "trust": bool(get("IFLA_VF_TRUST", "trust")),
                    "max_tx_rate": get("IFLA_VF_RATE", "max_tx_rate")}
    return {}


def set_vf(pf: str, vf: int, **settings) -> None:
    settings = {k: v for k, v in settings.items() if v is not None}
    if not settings:
        return
    with pr2.IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=pf)
        if not idx:
            raise DeployError(f"PF {pf} is gone")
        try:
            ipr.nlm_request(vf_request(idx[0], vf, **settings), msg_type=pr2.RTM_SETLINK,
                            msg_flags=pr2.NLM_F_REQUEST | pr2.NLM_F_ACK)
        except pr2.NetlinkError as e:
            raise DeployError(f"setting {settings} on VF {vf} of {pf}: {os.strerror(e.code)}") from None


def taken_vfs(own: str) -> set[str]:
    """PCI addresses of VFs other labs' journals hold."""
    out = set()
    for lab, rec in preflight.journal_records(own):
        if rec.get("op") in ("sriov-vf", "vfio-bind") and isinstance(rec.get("pci"), str):
            out.add(rec["pci"])
    return out


@dataclass
class AttachVf(NodeDevice):
    lab: str = ""
    pf: str = ""
    vfs: int = 0
    vf: int | None = None
    vfio: bool = False
    pci: str | None = None      # the VF planned for this link (vf_addresses); None: picked at deploy
    vlan: int | None = None
    trust: bool | None = None
    spoofchk: bool | None = None
    max_tx_rate: int | None = None
    sysfs_root: str = "/"

    def __post_init__(self):
        self.phase, self.batch = A.LINKS, "sriov-vf"

    def describe(self):
        vf = f"VF {self.vf}" if self.vf is not None else "a free VF"
        vf += f" ({self.pci})" if self.pci else ""
        what = f"bind it to {VFIO}" if self.vfio else f"move its netdev into {self.netns} as {self.device}"
        return f"{vf} of {self.pf}: set its MAC/VLAN/trust/spoofchk/rate, {what}   # {self.label}"

    @classmethod
    def apply_batch(cls, actions, ctx):
        """Each change is journaled before it is made (ctx.journal), so destroy undoes it after a crash."""
        journal = (lambda rec: ctx.journal.append([rec])) if ctx.journal is not None else (lambda rec: None)
        taken = taken_vfs(actions[0].lab)
        for a in actions:
            sysfs = Sysfs(a.sysfs_root)
            try:
                before = sysfs.num_vfs(a.pf)
                if a.vfs and before < a.vfs:
                    journal({"op": "sriov-numvfs", "lab": a.lab, "pf": a.pf, "before": before, "set": a.vfs,
                             "root": a.sysfs_root})
                    sysfs.set_num_vfs(a.pf, a.vfs)
                if a.pci:   # the VF planned (a consumer's command line names it): that one or none
                    vf = next((v for v in sysfs.vfs(a.pf) if v.pci == a.pci), None)
                    if vf is None or vf.pci in taken or vf.driver == VFIO:
                        raise DeployError(f"{a.label}: VF {a.pci} of {a.pf}, planned for this link, is "
                                          f"{'gone' if vf is None else 'no longer free'}; deploy again")
                elif a.vfio and pick_vf(sysfs.vfs(a.pf), taken, a.vf) is not None:
                    raise DeployError(f"{a.label}: the PCI address of its VF was not known when the lab was "
                                      f"planned ({a.pf} has fewer VFs than asked, and sysfs gives no "
                                      f"sriov_offset/sriov_stride); create them first (echo N > "
                                      f"/sys/class/net/{a.pf}/device/sriov_numvfs) and deploy again")
                else:   # a kernel VF the plan could not name, or none free (said below)
                    vf = pick_vf(sysfs.vfs(a.pf), taken, a.vf)
                if vf is None:
                    raise DeployError(f"{a.label}: no free VF of {a.pf}" + (f" with index {a.vf}" if a.vf is not None
                                      else "") + " (all are in use by this or other labs)")
                taken.add(vf.pci)
                old = vf_settings(a.pf, vf.index) if a.sysfs_root == "/" else {}
                journal({"op": "sriov-vf", "lab": a.lab, "pf": a.pf, "vf": vf.index, "pci": vf.pci, "before": old})
                set_vf(a.pf, vf.index, mac=a.mac, vlan=a.vlan, trust=a.trust, spoofchk=a.spoofchk,
                       max_tx_rate=a.max_tx_rate)
                if a.vfio:
                    journal({"op": "vfio-bind", "lab": a.lab, "pci": vf.pci, "driver": vf.driver, "root": a.sysfs_root})
                    sysfs.bind_vfio(vf.pci)
                elif vf.netdev:
                    rec = devices.snapshot(vf.netdev, None, a.netns, a.device, a.index)
                    journal({"op": "host-device", "lab": a.lab, "moved": rec.to_dict()})
                    devices.move(rec)
                    if a.mtu:
                        devices.set_link(a.netns, rec.now_index, mtu=a.mtu)
                else:
                    raise DeployError(f"{a.label}: VF {vf.index} ({vf.pci}) of {a.pf} has no kernel netdev "
                                      f"(driver {vf.driver or 'none'}); use driver: {VFIO} or load the VF driver")
            except (SysfsError, devices.DeviceError) as e:
                raise DeployError(f"{a.label}: {e}") from None


def undo_numvfs(rec: dict) -> None:
    sysfs = Sysfs(rec.get("root") or "/")
    if sysfs.num_vfs(rec["pf"]) == rec["set"]:   # only what this lab set: someone may have changed it since
        sysfs.set_num_vfs(rec["pf"], int(rec["before"]))


def undo_vf(rec: dict) -> None:
    before = rec.get("before") or {}
    if before:
        set_vf(rec["pf"], int(rec["vf"]), **{k: before.get(k) for k in ("mac", "vlan", "trust", "spoofchk", "max_tx_rate")})


def undo_vfio(rec: dict) -> None:
    """Give the VF back to its kernel driver, only while it is still bound to vfio-pci (as this lab
    left it): a device someone rebound since, or a record naming another device, is left alone."""
    fs = Sysfs(rec.get("root") or "/")
    if fs.pci_exists(str(rec.get("pci"))) and fs.driver(rec["pci"]) == VFIO:
        fs.rebind(rec["pci"], rec.get("driver"))
