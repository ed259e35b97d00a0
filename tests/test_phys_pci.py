"""vfio-bound devices handed to DPDK nodes (phys backend -> dpdk and ovs backends), against a fixture sysfs.

This machine has no SR-IOV NIC, IOMMU or vfio: the VFs come from a fixture tree shaped like /sys
(test_phys_sriov.FakeKernel answers its writes as the kernel does), and what is checked is what the
plan hands testpmd (-a PCI, --portlist) and OVS-DPDK (type=dpdk, dpdk-devargs, dpdk-extra -a), the
VF each link is planned to get, and the validation and preflight of the paths. No testpmd or OVS
opens a VF here.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from test_phys_sriov import FakeKernel, vf_pci, with_vfio

from emulator import lab as api
from emulator.backends.phys import pci_device, preflight, sriov
from emulator.backends.phys.sysfs import VFIO
from emulator.core.loader import load_text
from emulator.deploy import actions as A
from emulator.errors import DeployError, TopologyError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PF = "enp3s0f0"            # the PF the shipped seed 002 files name
NIC = "0000:05:00.0"       # a NIC of its own (pci-device)


def make_host(root: str, numvfs: int = 0) -> FakeKernel:
    """PF enp3s0f0 at 0000:03:00.0 (SR-IOV, 8 VFs at most, VF k at 0000:03:02.k: offset 16, stride 1),
    NUMVFS made; a NIC at 0000:05:00.0 with netdev fxnic5; the iavf and ixgbe drivers."""
    fs = FakeKernel(root)
    for d in ("class/net", "bus/pci/devices", "bus/pci/drivers/iavf", "bus/pci/drivers/ixgbe", "kernel"):
        os.makedirs(fs.p(*d.split("/")), exist_ok=True)
    for drv in ("iavf", "ixgbe"):
        for f in ("bind", "unbind"):
            open(fs.p("bus", "pci", "drivers", drv, f), "w").close()
    open(fs.p("bus", "pci", "drivers_probe"), "w").close()
    pf = fs.pci_dir("0000:03:00.0")
    os.makedirs(pf)
    for f, v in (("sriov_totalvfs", 8), ("sriov_numvfs", 0), ("sriov_offset", 16), ("sriov_stride", 1)):
        open(os.path.join(pf, f), "w").write(f"{v}\n")
    os.makedirs(fs.p("class", "net", PF))
    os.symlink(pf, fs.p("class", "net", PF, "device"))
    nic = fs.pci_dir(NIC)
    os.makedirs(os.path.join(nic, "net", "fxnic5"))
    open(os.path.join(nic, "driver_override"), "w").close()
    os.symlink(fs.p("bus", "pci", "drivers", "ixgbe"), os.path.join(nic, "driver"))
    if numvfs:
        fs.set_num_vfs(PF, numvfs)
    return fs


@pytest.fixture
def host(tmp_path, monkeypatch):
    fs = make_host(str(tmp_path / "sys-root"))
    monkeypatch.setattr(sriov, "SYSFS_ROOT", fs.root)
    monkeypatch.setattr(sriov, "taken_vfs", lambda own: set())   # no other lab holds a fixture VF
    return fs


def compile_file(name: str):
    return api.compile(os.path.join(ROOT, "topologies", f"seed002-sriov-{name}.yaml"), check_host=False)


def compile_text(text: str):
    return api.compile(load_text(textwrap.dedent(text), "t.yaml"), check_host=False)


def actions(c, cls: str) -> list:
    return [a for a in c.actions if type(a).__name__ == cls]


def app_of(c, node: str):
    return next(a for a in actions(c, "StartDpdkApps") if a.node == node)


def eal_pci(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, x in enumerate(argv) if x == "-a"]


def test_seed002_testpmd_gets_its_vfs_by_pci_address(host):
    """VFs to create are predicted from sriov_offset/stride; kernel VFs are picked in link order too."""
    c = compile_file("testpmd")
    planned = {a.label.split(" --")[0]: a.pci for a in actions(c, "AttachVf")}
    assert planned == {"client:vf0": vf_pci(0), "server:vf0": vf_pci(1), "fwd:p0": vf_pci(2), "fwd:p1": vf_pci(3)}
    t = app_of(c, "fwd")
    assert eal_pci(t.argv) == [vf_pci(2), vf_pci(3)] and "--no-pci" not in t.argv
    assert not any(x.startswith("--portlist") for x in t.argv)   # PCI order is interface order already
    assert [(p["interface"], p["port"], p["pci"]) for p in t.ports] == [("p0", 0, vf_pci(2)), ("p1", 1, vf_pci(3))]
    assert not any(x.startswith("--vdev") for x in t.argv)


def test_seed002_ovs_dpdk_gets_dpdk_ports_and_the_daemon_no_no_pci(host):
    c = compile_file("vhost")
    br = actions(c, "ConfigureBridge")[0]
    assert [(p.name, p.ofport, p.type, p.options.get("dpdk-devargs")) for p in br.ports] == [
        ("ovsbr-dpdk0", 1, "dpdk", vf_pci(0)), ("ovsbr-vhu0", 2, "dpdkvhostuserclient", None),
        ("ovsbr-vhu1", 3, "dpdkvhostuserclient", None), ("ovsbr-dpdk1", 4, "dpdk", vf_pci(1))]
    args = br.vsctl_args()
    assert "type=dpdk" in args and f"options:dpdk-devargs={vf_pci(0)}" in args
    extra = next(o for o in actions(c, "StartOvs")[0].other_config() if "dpdk-extra" in o)
    assert f"-a {vf_pci(0)} -a {vf_pci(1)}" in extra and "--no-pci" not in extra
    assert "--no-pci" in app_of(c, "c").argv   # the vhost-user app has no PCI device
    c2 = compile_file("ovs-dpdk")
    assert [p.options["dpdk-devargs"] for p in actions(c2, "ConfigureBridge")[0].ports] == [vf_pci(0), vf_pci(1)]


def test_pci_ports_come_first_in_dpdk_so_portlist_restores_interface_order(host):
    """DPDK numbers PCI devices first (by address), then vdevs: a VF after a vhost-user port, or VFs
    whose addresses run against the link order, get --portlist so io-forward pairs stay as written."""
    c = compile_text(f"""\
        name: po
        sriov: {{pf: {PF}, vfs: 4}}
        nodes: {{sw: {{kind: ovs-dpdk}}, app: {{kind: dpdk-app}}, two: {{kind: dpdk-app}}}}
        links:
          - {{endpoints: [app:v0, sw:v0], type: vhost-user}}
          - {{type: sriov-vf, endpoint: app:vf0, pf: {PF}, vf: 2, driver: vfio-pci}}
          - {{type: sriov-vf, endpoint: two:a, pf: {PF}, vf: 3, driver: vfio-pci}}
          - {{type: sriov-vf, endpoint: two:b, pf: {PF}, vf: 1, driver: vfio-pci}}
        """)
    app = app_of(c, "app")
    assert eal_pci(app.argv) == [vf_pci(2)] and "--portlist=1,0" in app.argv
    assert [(p["interface"], p["port"]) for p in app.ports] == [("v0", 1), ("vf0", 0)]
    assert any(x.startswith("--vdev=net_virtio_user0,") for x in app.argv)
    two = app_of(c, "two")
    assert eal_pci(two.argv) == [vf_pci(3), vf_pci(1)] and "--portlist=1,0" in two.argv
    assert [(p["interface"], p["port"]) for p in two.ports] == [("a", 1), ("b", 0)]


def test_given_vf_indexes_are_reserved_before_free_picks(host):
    c = compile_text(f"""\
        name: pk
        sriov: {{pf: {PF}, vfs: 3}}
        nodes: {{a: {{kind: host}}, d: {{kind: dpdk-app}}}}
        links:
          - {{type: sriov-vf, endpoint: a, pf: {PF}}}
          - {{type: sriov-vf, endpoint: d:p0, pf: {PF}, vf: 0, driver: vfio-pci}}
        """)
    assert [a.pci for a in actions(c, "AttachVf")] == [vf_pci(1), vf_pci(0)]
    assert eal_pci(app_of(c, "d").argv) == [vf_pci(0)]


def test_existing_vfs_bound_elsewhere_or_held_by_other_labs_are_not_planned(tmp_path, monkeypatch):
    fs = make_host(str(tmp_path / "r"), numvfs=4)
    with_vfio(fs)
    fs.bind_vfio(vf_pci(0))                                       # someone's DPDK app has VF 0
    monkeypatch.setattr(sriov, "SYSFS_ROOT", fs.root)
    monkeypatch.setattr(sriov, "taken_vfs", lambda own: {vf_pci(1)})   # another lab holds VF 1
    c = compile_text(f"""\
        name: pk
        nodes: {{d: {{kind: dpdk-app}}}}
        links: [{{type: sriov-vf, endpoint: d:p0, pf: {PF}, driver: vfio-pci}}]
        """)
    assert eal_pci(app_of(c, "d").argv) == [vf_pci(2)]


def test_deploy_takes_the_planned_vf_or_refuses(host, monkeypatch):
    with_vfio(host)
    monkeypatch.setattr(sriov, "set_vf", lambda pf, vf, **kw: None)
    monkeypatch.setattr(sriov, "Sysfs", FakeKernel)
    host.set_num_vfs(PF, 4)

    def attach(pci, taken=frozenset()):
        monkeypatch.setattr(sriov, "taken_vfs", lambda own: set(taken))
        a = sriov.AttachVf(netns="emu-x.n", lab="x", pf=PF, vfs=4, vfio=True, pci=pci, device="p0", index=9,
                           label="n:p0 -- sriov-vf:enp3s0f0", sysfs_root=host.root)
        recs = []
        sriov.AttachVf.apply_batch([a], A.Context("emulator:x", type("J", (), {"append": lambda s, r: recs.extend(r)})()))
        return recs

    assert [(r["op"], r.get("pci")) for r in attach(vf_pci(3))] == [("sriov-vf", vf_pci(3)), ("vfio-bind", vf_pci(3))]
    assert host.driver(vf_pci(3)) == VFIO and host.driver(vf_pci(0)) == "iavf"   # VF 3, not the first free one
    with pytest.raises(DeployError, match="planned for this link, is no longer free"):
        attach(vf_pci(2), taken={vf_pci(2)})
    with pytest.raises(DeployError, match="was not known when the lab was planned"):
        attach(None)
    with pytest.raises(DeployError, match="no free VF of enp3s0f0 .all are in use"):
        attach(None, taken={vf_pci(k) for k in range(4)})
    assert host.driver(vf_pci(2)) == "iavf"


def test_plan_without_the_hardware_names_the_unknown_vfs():
    """On this machine (no enp3s0f0): plan works, and says which VF goes where instead of an address."""
    if sriov.Sysfs().sriov_capable(PF):
        pytest.skip("this host has the PF the shipped file names")
    c = compile_file("testpmd")
    argv = app_of(c, "fwd").argv
    assert eal_pci(argv) == [f"<a VF of {PF}>"] * 2 and "--no-pci" not in argv
    r = subprocess.run([sys.executable, "-m", "emulator", "plan", "topologies/seed002-sriov-ovs-dpdk.yaml"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"'options:dpdk-devargs=<a VF of {PF}>'" in r.stdout


def test_plan_verb_with_a_fixture_sysfs_shows_the_addresses(tmp_path):
    fs = make_host(str(tmp_path / "r"))
    r = subprocess.run([sys.executable, "-m", "emulator", "plan", "topologies/seed002-sriov-testpmd.yaml"],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ, "EMULATOR_SYSFS_ROOT": fs.root})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# host devices\n")   # the preflight's phase, named
    line = next(x for x in r.stdout.splitlines() if "dpdk-testpmd" in x)
    assert f"-a {vf_pci(2)} -a {vf_pci(3)}" in line and "--no-pci" not in line
    assert f"a free VF ({vf_pci(2)}) of {PF}" in r.stdout
    assert fs.num_vfs(PF) == 0 and fs.vfs(PF) == []   # plan changed nothing


def test_pci_device_endpoint_plans_binds_and_gives_back(host, monkeypatch):
    c = compile_text(f"""\
        name: pd
        nodes: {{sw: {{kind: ovs-dpdk, flows: ["in_port=1,actions=output:2", "in_port=2,actions=output:1"]}}}}
        links:
          - {{type: pci-device, endpoint: sw:dpdk0, pci: "{NIC}"}}
          - {{type: sriov-vf, endpoint: sw:dpdk1, pf: {PF}, vfs: 1, driver: vfio-pci}}
        """)
    assert [(p.ofport, p.options["dpdk-devargs"]) for p in actions(c, "ConfigureBridge")[0].ports] == [
        (1, NIC), (2, vf_pci(0))]
    bind = actions(c, "BindVfio")[0]
    assert (bind.pci, bind.phase, bind.label) == (NIC, A.LINKS, f"sw:dpdk0 -- pci-device:{NIC}")
    assert api.lab_state(c, "x")["nodes"]["sw"]["interfaces"]["dpdk0"]["peer"] == f"pci-device:{NIC}"
    check = next(a for a in actions(c, "Check") if a.what == "pci-device")
    msgs = preflight.problems_of([check])
    assert any("no IOMMU enabled" in m for m in msgs) and any("modprobe vfio-pci" in m for m in msgs)
    with_vfio(host)
    assert preflight.problems_of([check]) == []
    monkeypatch.setattr(preflight, "journal_records", lambda own: iter([("other", {"op": "vfio-bind", "pci": NIC})]))
    assert "is in use by lab 'other'; fix: destroy that lab first" in preflight.problems_of([check])[0]
    monkeypatch.undo()
    monkeypatch.setattr(sriov, "SYSFS_ROOT", host.root)
    missing = preflight.Check(what="pci-device", device="0000:09:00.0", lab="pd", label="sw:x", sysfs_root=host.root)
    assert "no PCI device 0000:09:00.0 on this host; fix: name one that `lspci -D` lists" in preflight.problems_of([missing])[0]
    recs = []
    monkeypatch.setattr(pci_device, "Sysfs", FakeKernel)
    monkeypatch.setattr(sriov, "Sysfs", FakeKernel)
    pci_device.BindVfio.apply_batch([bind], A.Context("emulator:pd", type("J", (), {"append": lambda s, r: recs.extend(r)})()))
    assert recs == [{"op": "vfio-bind", "lab": "pd", "pci": NIC, "driver": "ixgbe", "root": host.root}]
    assert host.driver(NIC) == VFIO
    assert "bound to vfio-pci already" in preflight.problems_of([check])[0]
    sriov.undo_vfio(recs[0])                                     # what destroy does
    assert host.driver(NIC) == "ixgbe"


def test_pci_links_to_kinds_that_cannot_take_them_are_located():
    with pytest.raises(TopologyError) as e:
        compile_text(f"""\
            name: pe
            nodes: {{h: {{kind: host}}, br: {{kind: bridge}}, o: {{kind: ovs}}, d: {{kind: dpdk-app}}}}
            links:
              - {{type: sriov-vf, endpoint: h:vf0, pf: {PF}, vfs: 4, driver: vfio-pci}}
              - {{type: pci-device, endpoint: br, pci: "{NIC}"}}
              - {{type: sriov-vf, endpoint: o:dpdk0, pf: {PF}, vfs: 4, driver: vfio-pci}}
              - {{type: pci-device, endpoint: d:p0, pci: "0000:05:00.1"}}
              - {{type: pci-device, endpoint: d:p1, pci: "0000:05:00.1"}}
            """)
    msg = str(e.value)
    assert "t.yaml:4:" in msg and "hands 'h' a PCI device, and a host cannot take one" in msg
    assert "or use driver: kernel" in msg
    assert "t.yaml:5:" in msg and "hands 'br' a PCI device, and a bridge cannot take one" in msg
    assert "t.yaml:6:" in msg and "a ovs cannot take one" in msg
    assert "t.yaml:8:" in msg and "PCI device 0000:05:00.1 is already given to d:p0" in msg
    with pytest.raises(TopologyError) as e:
        compile_text("""\
            name: pe
            nodes: {d: {kind: dpdk-app}}
            links:
              - {type: pci-device, endpoint: d:p0, pci: "05:00.1"}
            """)
    assert "t.yaml:4:" in str(e.value) and "05:00.1" in str(e.value)


@pytest.mark.integration
def test_deploy_summary_counts_single_ended_links(topo, lab_name, clean_host):
    """A lab whose only link is single-ended (a host-veth) is deployed with '1 link', not '0 links'."""
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links: [{{type: host-veth, endpoint: r1, host-interface: {lab_name[-8:]}hv}}]
    """)
    r = subprocess.run([sys.executable, "-m", "emulator", "deploy", path], capture_output=True, text=True)
    try:
        assert r.returncode == 0, r.stderr
        assert "1 node" in r.stderr and "1 link (1 single-ended)" in r.stderr
        s = subprocess.run([sys.executable, "-m", "emulator", "inspect", lab_name], capture_output=True, text=True)
        assert "1 link (1 single-ended)" in s.stdout
    finally:
        assert subprocess.run([sys.executable, "-m", "emulator", "destroy", lab_name]).returncode == 0


@pytest.mark.integration
def test_testpmd_pairs_ports_in_portlist_order(lab_name):
    """The real dpdk-testpmd (no hugepages, no PCI device: `-a` of an absent address is accepted) with
    the --portlist port_ids computes: io forwarding pairs the ports as the interfaces are written.
    Four net_null vdevs stand in for DPDK's numbering (PCI devices 0-1, vdevs 2-3)."""
    import shutil

    from emulator.backends.dpdk.driver import port_ids
    if not shutil.which("dpdk-testpmd"):
        pytest.skip("no dpdk-testpmd")
    ports = [{"interface": "a", "pci": "0000:03:02.3"}, {"interface": "b"}, {"interface": "c"},
             {"interface": "d", "pci": "0000:03:02.1"}]
    portlist = port_ids(ports)
    assert portlist == "1,2,3,0" and [p["port"] for p in ports] == [1, 2, 3, 0]
    prefix = f"emu-{lab_name}.portlist"
    try:
        r = subprocess.run(["dpdk-testpmd", "--no-huge", "-m", "64", f"--file-prefix={prefix}", "-a", "0000:03:02.3",
                            "-a", "0000:03:02.1", *[f"--vdev=net_null{k}" for k in range(4)], "--", "-i",
                            f"--portlist={portlist}", "--total-num-mbufs=2048"],
                           input="show config fwd\nquit\n", capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    pairs = {(int(a), int(b)) for a, b in re.findall(r"RX P=(\d+)/Q=0 .*-> TX P=(\d+)/", r.stdout)}
    assert pairs == {(1, 2), (2, 1), (3, 0), (0, 3)}, r.stdout[-2000:]   # a<->b, c<->d


def test_raising_numvfs_that_would_remove_vfs_in_use_is_refused(tmp_path, monkeypatch):
    """sriov_numvfs goes N -> 0 -> M: a lab asking for more VFs than exist would take away the VFs
    another lab holds or a DPDK process has on vfio-pci. The preflight refuses, saying which."""
    fs = make_host(str(tmp_path / "r"), numvfs=2)
    with_vfio(fs)
    check = preflight.Check(what="sriov-vf", device=PF, lab="x", label="n:p0 -- sriov-vf:enp3s0f0",
                            sysfs_root=fs.root, vfs=4, needed=1)
    assert preflight.sriov_problems(check) == []               # nobody uses VF 0 or 1: going through 0 is fine
    monkeypatch.setattr(preflight, "journal_records", lambda own: iter([("other", {"op": "sriov-vf", "pci": vf_pci(0)})]))
    fs.bind_vfio(vf_pci(1))
    msg = preflight.sriov_problems(check)[0]
    assert "has 2 VFs and the lab asks for 4" in msg and "removes every VF" in msg
    assert f"VF 0 ({vf_pci(0)}) held by lab other" in msg and f"VF 1 ({vf_pci(1)}) bound to vfio-pci" in msg
    assert "fix: ask for at most 2 VFs" in msg
    check.vfs = 2
    assert not any("removes every VF" in m for m in preflight.sriov_problems(check))


def test_one_vf_count_per_pf_so_a_later_link_does_not_remove_earlier_vfs(host):
    """Links asking different vfs: of one PF all raise it to the largest, once (a second raise would go
    through 0 and remove the VF the first link took)."""
    c = compile_text(f"""\
        name: pk
        nodes: {{d: {{kind: dpdk-app}}}}
        links:
          - {{type: sriov-vf, endpoint: d:p0, pf: {PF}, vfs: 2, driver: vfio-pci}}
          - {{type: sriov-vf, endpoint: d:p1, pf: {PF}, vfs: 4, driver: vfio-pci}}
        """)
    assert [(a.vfs, a.pci) for a in actions(c, "AttachVf")] == [(4, vf_pci(0)), (4, vf_pci(1))]
    assert {a.vfs for a in actions(c, "Check")} == {4}


def test_validate_and_graph_count_single_ended_links():
    f = "topologies/seed002-sriov-testpmd.yaml"
    v = subprocess.run([sys.executable, "-m", "emulator", "validate", f], cwd=ROOT, capture_output=True, text=True)
    assert v.returncode == 0 and "3 nodes, 4 links (4 single-ended)" in v.stdout, v.stdout + v.stderr
    g = subprocess.run([sys.executable, "-m", "emulator", "graph", f], cwd=ROOT, capture_output=True, text=True)
    assert g.stdout.startswith("lab seed002-sriov-testpmd: 3 nodes, 4 links\n"), g.stdout[:200]
