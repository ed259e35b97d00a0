"""`emulator phys`: what of this host a lab can use, and what was verified where."""
from __future__ import annotations

import argparse
import json

VERIFIED = """\
what was verified where:
  host-device, macvlan, host-veth: on this project's machine, with veth ends in the host's namespace
    standing in for NICs (moved in, addressed, two labs talking, moved back after destroy and after
    SIGKILL of the deploy); ipvlan: only its refusal (that kernel has no ipvlan).
  sriov-vf (VF creation, picking, IFLA_VF_* settings, vfio-pci bind/rebind): only against a fixture
    sysfs tree and pyroute2's encoding; the preflight refusals (no SR-IOV, no IOMMU, no vfio) for real.
  pci-device, and vfio-bound VFs handed to testpmd (-a PCI, --portlist) and OVS-DPDK (type=dpdk,
  dpdk-devargs; dpdk-extra -a): the plan's command lines against a fixture sysfs tree; no testpmd or
  OVS has opened a VF. Nothing has been run on a physical NIC, an SR-IOV VF or vfio-pci.
"""


def host_report(root: str = "/") -> dict:
    """The host's devices as the phys backend sees them."""
    from . import preflight
    from .sysfs import Sysfs
    fs, links, defaults = Sysfs(root), preflight.host_links(), preflight.default_route_devices()
    devs = []
    for name, d in sorted(links.items()):
        if name == "lo":
            continue
        sriov = fs.sriov_capable(name)
        devs.append({"name": name, "kind": d["kind"] or "physical/other", "pci": fs.pci_of(name),
                     "default_route": d["index"] in defaults, "lab": d["alias"][len("emulator:"):]
                     if d["alias"].startswith("emulator:") else None,
                     "sriov": {"total": fs.total_vfs(name), "now": fs.num_vfs(name)} if sriov else None})
    return {"devices": devs, "iommu": fs.iommu_enabled(), "vfio_pci": fs.vfio_loaded(),
            "moved_into_labs": preflight.moved_by_labs(""),
            "macvlan": preflight.kernel_has("macvlan")[0], "ipvlan": preflight.kernel_has("ipvlan")[0]}


def cmd_phys(args) -> int:
    rep = host_report()
    if args.format == "json":
        print(json.dumps(rep, indent=1))
        return 0
    for d in rep["devices"]:
        notes = [f"bus device {d['pci']}" if d["pci"] else "", "default route" if d["default_route"] else "",
                 f"lab {d['lab']}'s" if d["lab"] else "",
                 f"SR-IOV {d['sriov']['now']}/{d['sriov']['total']} VFs" if d["sriov"] else ""]
        print(f"  {d['name']:<16} {d['kind']:<15} {', '.join(n for n in notes if n)}")
    for name, lab in sorted(rep["moved_into_labs"].items()):
        print(f"  {name:<16} moved into lab {lab}")
    yes = {True: "yes", False: "no"}
    print(f"IOMMU: {yes[rep['iommu']]}   vfio-pci: {yes[rep['vfio_pci']]}   macvlan: {yes[rep['macvlan']]}   "
          f"ipvlan: {yes[rep['ipvlan']]}")
    return 0


def add_parsers(sub, fmt=argparse.RawDescriptionHelpFormatter) -> None:
    s = sub.add_parser("phys", help="host devices a lab can use (NICs, SR-IOV PFs, IOMMU/vfio) and what "
                                    "was verified where",
                       formatter_class=fmt,
                       description="Lists the host's network devices as the phys backend sees them: PCI address, "
                                   "default-route device (refused unless force: true), devices other labs hold, "
                                   "SR-IOV VFs, and whether the IOMMU, vfio-pci, macvlan and ipvlan are there.",
                       epilog="links to host devices (README, 'Physical devices'):\n"
                              "  {type: host-device, endpoint: r1:eth1, host-interface: enp3s0}   or [r1:eth1, host:enp3s0]\n"
                              "  {type: macvlan | ipvlan, endpoint: r1:eth2, host-interface: enp3s0, mode: bridge}\n"
                              "  {type: host-veth, endpoint: r1:eth3, host-interface: lab1-r1, host-ip: [203.0.113.2/24]}\n"
                              "  {type: sriov-vf, endpoint: r1:eth4, pf: enp3s0f0, vlan: 10, driver: kernel | vfio-pci}\n"
                              "  {type: pci-device, endpoint: fwd:p0, pci: 0000:03:00.0}   # dpdk-app, ovs-dpdk\n\n"
                              + VERIFIED)
    s.add_argument("-f", "--format", choices=["text", "json"], default="text")
    s.set_defaults(fn=cmd_phys)
