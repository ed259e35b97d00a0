"""Preflight of the host devices a lab uses, before anything of the lab exists (exit 3, each
problem with its fix): the device is missing, is the host's default-route interface (unless
`force: true`), is a port of a bridge or bond, belongs to another lab (moved into it, or a device
it tagged), or the kernel lacks what the endpoint needs (ipvlan, SR-IOV, IOMMU/vfio).

`Check` is one action per endpoint; all of a lab's run as one batch in the PREFLIGHT phase, and
the problems are reported together.
"""
from __future__ import annotations

import functools
import socket
import subprocess
from dataclasses import dataclass

from ...deploy.kernel import pr2

from ...core.model import TAG_PREFIX
from ...deploy import actions as A
from ...deploy import state
from ...errors import EnvironmentProblem


@dataclass
class Check(A.Action):
    what: str = ""          # the endpoint type: host-device, macvlan, ipvlan, host-veth
    device: str = ""        # the host device it takes (or, for host-veth, creates)
    lab: str = ""
    force: bool = False
    label: str = ""
    vfs: int = 0            # sriov-vf: VFs the PF must be able to have
    vfio: bool = False      # sriov-vf: bound to vfio-pci (needs the IOMMU and the module)
    sysfs_root: str = "/"
    needed: int = 0         # sriov-vf: VFs of this PF the lab takes (one per sriov-vf link on it)

    def __post_init__(self):
        # before every other preflight (hugepages are reserved in PREFLIGHT): nothing is made when it refuses
        self.phase, self.batch, self.netns = A.PREFLIGHT - 1, "phys-preflight", None

    def describe(self):
        return f"check host device {self.device} for {self.label} ({self.what})"

    def phase_label(self):
        return "host devices"

    @classmethod
    def apply_batch(cls, actions, ctx):
        problems = merged(problems_of(actions))
        if problems:
            raise EnvironmentProblem("the host cannot give this lab its devices (nothing was created):\n  "
                                     + "\n  ".join(problems))


def check_of(lab, ep, what: str, **kw) -> Check:
    """The Check of endpoint EP of LAB (of type WHAT) with its `force` and KW, for the host device it
    takes: KW's `device`, else its `host-interface`."""
    kw.setdefault("device", ep.host_interface)
    return Check(what=what, lab=lab.name, force=bool(ep.props.get("force")), label=ep.label, **kw)


def host_links() -> dict[str, dict]:
    """The host namespace's devices by name: index, alias, master, kind."""
    out = {}
    with pr2.IPRoute() as ipr:
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            out[link.get_attr("IFLA_IFNAME")] = {
                "index": link["index"], "alias": link.get_attr("IFLA_IFALIAS") or "",
                "master": link.get_attr("IFLA_MASTER"), "kind": info.get_attr("IFLA_INFO_KIND") if info else None}
    return out


def default_route_devices() -> set[int]:
    """Indexes of the devices the host's default routes (IPv4 and IPv6, main table) go out of."""
    out = set()
    with pr2.IPRoute() as ipr:
        for fam in (socket.AF_INET, socket.AF_INET6):
            for r in ipr.get_routes(family=fam, table=254):
                if r["dst_len"] == 0:
                    if r.get_attr("RTA_OIF"):
                        out.add(r.get_attr("RTA_OIF"))
                    for nh in r.get_attr("RTA_MULTIPATH") or []:
                        out.add(nh["oif"])
    return out


def journal_records(own: str):
    """(lab, record) of every other lab's journal."""
    try:
        labs = state.list_labs()
    except Exception:
        return
    for lab in labs:
        if lab == own:
            continue
        try:
            records = state.Journal(lab).records()
        except Exception:
            continue
        for rec in records:
            if isinstance(rec, dict):
                yield lab, rec


def moved_by_labs(own: str) -> dict[str, str]:
    """Host devices that other labs' journals say they moved into their nodes: name -> lab."""
    out = {}
    for lab, rec in journal_records(own):
        moved = rec.get("moved")
        if rec.get("op") == "host-device" and isinstance(moved, dict) and isinstance(moved.get("name"), str):
            out[moved["name"]] = lab
    return out


def sriov_problems(c: "Check") -> list[str]:
    """What the PF, the IOMMU and vfio-pci lack for an sriov-vf endpoint (the PF's existence is
    checked with the other host devices)."""
    from .sysfs import VFIO, Sysfs
    fs, out, where = Sysfs(c.sysfs_root), [], f"{c.label}: "
    if c.vfio and not fs.iommu_enabled():
        out.append(where + "this host has no IOMMU enabled (no groups in /sys/kernel/iommu_groups), so no device "
                   "can be given to vfio-pci; fix: enable VT-d (Intel) or AMD-Vi in the firmware, boot with "
                   "'intel_iommu=on iommu=pt' (or 'amd_iommu=on') on the kernel command line, reboot")
    if c.vfio and not fs.vfio_loaded():
        out.append(where + "the vfio-pci driver is not loaded (no /sys/bus/pci/drivers/vfio-pci); fix: "
                   "'modprobe vfio-pci' (kernel option CONFIG_VFIO_PCI)")
    if not fs.netdev_exists(c.device):
        return out
    if not fs.sriov_capable(c.device):
        out.append(where + f"'{c.device}' has no SR-IOV (no device/sriov_totalvfs: not an SR-IOV NIC, a virtual "
                   f"NIC, or SR-IOV off in the firmware); fix: name the PF of an SR-IOV NIC, or use type: "
                   f"host-device or macvlan for '{c.device}'")
    elif c.vfs and fs.total_vfs(c.device) < c.vfs:
        out.append(where + f"'{c.device}' can have at most {fs.total_vfs(c.device)} VFs, the lab needs "
                   f"{c.vfs}; fix: ask for at most {fs.total_vfs(c.device)} (sriov: vfs, or vf:)")
    else:
        vfs = fs.vfs(c.device)
        held = {}   # VFs of this PF other labs hold: pci -> lab
        for lab, rec in journal_records(c.lab):
            if rec.get("op") in ("sriov-vf", "vfio-bind") and rec.get("pci") in {v.pci for v in vfs}:
                held[rec["pci"]] = lab
        now = fs.num_vfs(c.device)
        busy = [f"VF {v.index} ({v.pci}) held by lab {held[v.pci]}" if v.pci in held else
                f"VF {v.index} ({v.pci}) bound to vfio-pci" for v in vfs if v.pci in held or v.driver == VFIO]
        if 0 < now < c.vfs and busy:   # the kernel takes N -> M only through 0: every VF goes
            out.append(where + f"'{c.device}' has {now} VFs and the lab asks for {c.vfs}: the kernel changes the "
                       f"count only through 0, which removes every VF, and {', '.join(busy)}; fix: ask for at "
                       f"most {now} VFs (sriov: vfs), or free those first")
        free = max(len(vfs), c.vfs) - len(held)
        if c.needed > free:
            labs = ", ".join(sorted(set(held.values())))
            out.append(where + f"'{c.device}' has {free} free VFs ({max(len(vfs), c.vfs)} once the lab's sriov: is "
                       f"applied, {len(held)} held by {('lab ' + labs) if labs else 'other labs'}), the lab "
                       f"needs {c.needed}; fix: raise sriov: vfs (at most {fs.total_vfs(c.device)})"
                       + (f" or destroy {labs}" if labs else ""))
    return out


@functools.lru_cache(maxsize=None)
def kernel_has(kind: str) -> tuple[bool, str]:
    """Does the kernel create links of KIND (ipvlan, macvlan)? Probed in a throwaway namespace: a
    request without a parent is refused with 'Unknown device type' only when the kind is missing."""
    try:
        p = subprocess.run(["unshare", "--net", "ip", "link", "add", "probe0", "type", kind],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"cannot probe: {e}"
    err = (p.stderr or "").strip()
    if "Unknown device type" in err or "not supported" in err.lower():
        return False, err.splitlines()[0] if err else "not supported"
    return True, ""


def merged(problems: list[str]) -> list[str]:
    """'A: text' and 'B: text' -> 'A, B: text' (a missing PF or IOMMU is said once for all its links)."""
    by_text: dict[str, list[str]] = {}
    for p in problems:
        label, _, text = p.partition(": ")
        by_text.setdefault(text, []).append(label)
    return [f"{', '.join(dict.fromkeys(labels))}: {text}" for text, labels in by_text.items()]


def problems_of(checks: list[Check]) -> list[str]:
    links = host_links()
    defaults = default_route_devices()
    elsewhere: dict[str, str] | None = None
    out: list[str] = []
    for c in checks:
        where = f"{c.label}: "
        if c.what == "pci-device":
            from .pci_device import pci_problems
            out += pci_problems(c, defaults, links)
            continue
        if c.what == "sriov-vf":
            out += sriov_problems(c)
            if c.sysfs_root != "/":   # a fixture tree: its PF is not among the host's devices
                continue
        if c.what in ("ipvlan", "macvlan"):
            ok, why = kernel_has(c.what)
            if not ok:
                out.append(where + f"this kernel cannot create {c.what} devices ({why}); fix: load the module "
                           f"('modprobe {c.what}', kernel option CONFIG_{c.what.upper()}), or use type: "
                           f"{'macvlan' if c.what == 'ipvlan' else 'host-device'} instead")
                continue
        dev = links.get(c.device)
        tagged = dev["alias"][len(TAG_PREFIX):] if dev and dev["alias"].startswith(TAG_PREFIX) else None
        if c.what == "host-veth":
            if dev is None:
                continue
            if tagged and tagged != c.lab:
                out.append(where + f"host device '{c.device}' belongs to lab '{tagged}'; fix: destroy it "
                           f"(emulator destroy {tagged}) or give this link another host-interface")
            else:
                out.append(where + f"a device named '{c.device}' already exists on the host (not this "
                           f"lab's); fix: give this link another host-interface")
            continue
        if dev is None:
            if elsewhere is None:
                elsewhere = moved_by_labs(c.lab)
            if c.device in elsewhere:
                lab = elsewhere[c.device]
                out.append(where + f"host device '{c.device}' is in use by lab '{lab}' (moved into one of its "
                           f"nodes); fix: destroy that lab first (emulator destroy {lab}) or use another device")
            else:
                known = ", ".join(sorted(n for n in links if n != "lo")[:12])
                out.append(where + f"no device '{c.device}' on this host; fix: name one that `ip link` lists "
                           f"(here: {known})")
            continue
        if c.device == "lo":
            out.append(where + "'lo' cannot be used; fix: name a network device")
        elif tagged:
            out.append(where + f"host device '{c.device}' belongs to lab '{tagged}' (it made it); fix: use "
                       f"another device, or destroy that lab (emulator destroy {tagged})")
        elif c.what == "host-device" and dev["master"]:
            master = next((n for n, d in links.items() if d["index"] == dev["master"]), f"#{dev['master']}")
            out.append(where + f"host device '{c.device}' is a port of {master}; fix: release it first "
                       f"(ip link set {c.device} nomaster) or use another device")
        elif c.what in ("host-device", "sriov-vf") and dev["index"] in defaults and not c.force:
            out.append(where + f"host device '{c.device}' carries the host's default route: moving it into the "
                       f"lab cuts this host off that network; fix: use another device, or add 'force: true' "
                       f"to the link if that is what you want")
    return out
