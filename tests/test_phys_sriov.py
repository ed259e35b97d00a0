"""SR-IOV and vfio-pci (emulator/backends/phys/sriov.py, sysfs.py) against a fixture sysfs tree.

This machine has no SR-IOV NIC, no IOMMU and no vfio: the sysfs logic runs against a directory tree
shaped like /sys (the sysfs root is a parameter), whose writes a small fake kernel answers as the
real one does (sriov_numvfs makes virtfnN links and refuses N -> M without 0 in between; unbind,
driver_override + drivers_probe and bind move the driver link). The IFLA_VF_* request is checked
against pyroute2's decoding. The preflight refusals run for real on this machine.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from emulator.backends.phys import preflight, sriov
from emulator.backends.phys.sysfs import VFIO, Sysfs, SysfsError, pick_vf
from emulator.deploy import actions as A

PF_PCI = "0000:03:00.0"


def vf_pci(n: int) -> str:
    return f"0000:03:02.{n}"


class FakeKernel(Sysfs):
    """Sysfs whose writes have the kernel's effects on the fixture tree."""

    def _write(self, path, value):
        rel = os.path.relpath(path, self.p())
        parts = rel.split(os.sep)
        if parts[-1] == "sriov_numvfs":
            n = int(value)
            if n and self.num_vfs(parts[2]):
                raise SysfsError(f"writing {value!r} to {path}: {os.strerror(errno.EBUSY)}")
            super()._write(path, value)
            dev = os.path.realpath(os.path.dirname(path))
            for k in range(16):
                link = os.path.join(dev, f"virtfn{k}")
                if os.path.islink(link):
                    os.unlink(link)
                    _rmvf(self, k)
            for k in range(n):
                _mkvf(self, k)
                os.symlink(self.pci_dir(vf_pci(k)), os.path.join(dev, f"virtfn{k}"))
            return
        super()._write(path, value)
        if parts[-1] == "unbind":
            os.unlink(os.path.join(self.pci_dir(value), "driver"))
        elif parts[-1] == "drivers_probe":
            override = open(os.path.join(self.pci_dir(value), "driver_override")).read().strip()
            if override and os.path.isdir(self.p("bus", "pci", "drivers", override)):
                os.symlink(self.p("bus", "pci", "drivers", override), os.path.join(self.pci_dir(value), "driver"))
        elif parts[-1] == "bind":
            os.symlink(os.path.dirname(path), os.path.join(self.pci_dir(value), "driver"))


def _mkvf(fs: Sysfs, k: int) -> None:
    d = fs.pci_dir(vf_pci(k))
    os.makedirs(os.path.join(d, "net", f"fxvf{k}"), exist_ok=True)
    open(os.path.join(d, "driver_override"), "w").close()
    os.symlink(fs.p("bus", "pci", "drivers", "iavf"), os.path.join(d, "driver"))


def _rmvf(fs: Sysfs, k: int) -> None:
    import shutil
    shutil.rmtree(fs.pci_dir(vf_pci(k)), ignore_errors=True)


@pytest.fixture
def tree(tmp_path):
    """A host with PF fxpf0 (SR-IOV, at most 8 VFs, 2 made), a plain NIC fxnic0, the iavf driver;
    iommu/vfio added by the tests that want them."""
    fs = FakeKernel(str(tmp_path))
    for d in ("class/net", "bus/pci/devices", "bus/pci/drivers/iavf", "kernel"):
        os.makedirs(fs.p(*d.split("/")), exist_ok=True)
    for f in ("bind", "unbind"):
        open(fs.p("bus", "pci", "drivers", "iavf", f), "w").close()
    open(fs.p("bus", "pci", "drivers_probe"), "w").close()
    pf = fs.pci_dir(PF_PCI)
    os.makedirs(pf)
    open(os.path.join(pf, "sriov_totalvfs"), "w").write("8\n")
    open(os.path.join(pf, "sriov_numvfs"), "w").write("0\n")
    for name, dev in (("fxpf0", pf), ("fxnic0", fs.pci_dir("0000:04:00.0"))):
        os.makedirs(dev, exist_ok=True)
        os.makedirs(fs.p("class", "net", name))
        os.symlink(dev, fs.p("class", "net", name, "device"))
    fs.set_num_vfs("fxpf0", 2)
    return fs


def with_vfio(fs: Sysfs) -> None:
    os.makedirs(fs.p("kernel", "iommu_groups", "17"))
    os.makedirs(fs.p("bus", "pci", "drivers", VFIO))
    for f in ("bind", "unbind"):
        open(fs.p("bus", "pci", "drivers", VFIO, f), "w").close()


def test_sysfs_reads_pf_and_vfs(tree):
    assert tree.sriov_capable("fxpf0") and not tree.sriov_capable("fxnic0")
    assert (tree.total_vfs("fxpf0"), tree.num_vfs("fxpf0")) == (8, 2)
    assert tree.pci_of("fxpf0") == PF_PCI
    assert [(v.index, v.pci, v.netdev, v.driver) for v in tree.vfs("fxpf0")] == [
        (0, vf_pci(0), "fxvf0", "iavf"), (1, vf_pci(1), "fxvf1", "iavf")]


def test_numvfs_goes_through_zero(tree):
    tree.set_num_vfs("fxpf0", 4)      # the fake kernel refuses 2 -> 4 without 0 in between, as Linux does
    assert tree.num_vfs("fxpf0") == 4 and len(tree.vfs("fxpf0")) == 4
    tree.set_num_vfs("fxpf0", 4)      # no write when it is already so


def test_pick_vf_skips_taken_and_vfio_bound(tree):
    with_vfio(tree)
    vfs = tree.vfs("fxpf0")
    assert pick_vf(vfs, set()).index == 0
    assert pick_vf(vfs, {vf_pci(0)}).index == 1
    assert pick_vf(vfs, {vf_pci(0), vf_pci(1)}) is None
    assert pick_vf(vfs, set(), index=1).index == 1
    tree.bind_vfio(vf_pci(0))
    assert pick_vf(tree.vfs("fxpf0"), set()).index == 1


def test_vfio_bind_and_rebind(tree):
    with_vfio(tree)
    before = tree.bind_vfio(vf_pci(1))
    assert before == "iavf" and tree.driver(vf_pci(1)) == VFIO
    assert open(os.path.join(tree.pci_dir(vf_pci(1)), "driver_override")).read() == VFIO
    tree.rebind(vf_pci(1), before)
    assert tree.driver(vf_pci(1)) == "iavf"
    assert open(os.path.join(tree.pci_dir(vf_pci(1)), "driver_override")).read() == "\n"


def test_bind_without_vfio_module_says_the_fix(tree):
    with pytest.raises(SysfsError, match="modprobe vfio-pci"):
        tree.bind_vfio(vf_pci(0))


class _Journal:
    def __init__(self):
        self.recs = []

    def append(self, recs):
        self.recs += recs


def test_attach_creates_vfs_binds_and_undo_gives_everything_back(tree, monkeypatch):
    with_vfio(tree)
    calls = []
    monkeypatch.setattr(sriov, "set_vf", lambda pf, vf, **kw: calls.append((pf, vf, kw)))
    monkeypatch.setattr(sriov, "taken_vfs", lambda own: {vf_pci(0)})   # another lab holds VF 0
    ctx = A.Context("emulator:x", _Journal())
    # the VFs the plan picked (sriov.vf_addresses: VF 0 is another lab's), as the app's -a names them
    a = sriov.AttachVf(netns="emu-x.n", lab="x", pf="fxpf0", vfs=4, vfio=True, pci=vf_pci(1), device="p0", index=32,
                       mac="02:00:00:00:00:01", vlan=10, trust=True, spoofchk=False, max_tx_rate=1000,
                       label="n:p0 -- sriov-vf:fxpf0", sysfs_root=tree.root)
    b = sriov.AttachVf(netns="emu-x.n", lab="x", pf="fxpf0", vfs=4, vfio=True, pci=vf_pci(2), device="p1", index=33,
                       label="n:p1 -- sriov-vf:fxpf0", sysfs_root=tree.root)
    monkeypatch.setattr(sriov, "Sysfs", FakeKernel)
    sriov.AttachVf.apply_batch([a, b], ctx)
    ops = [(r["op"], r.get("pci")) for r in ctx.journal.recs]
    assert ops == [("sriov-numvfs", None), ("sriov-vf", vf_pci(1)), ("vfio-bind", vf_pci(1)),
                   ("sriov-vf", vf_pci(2)), ("vfio-bind", vf_pci(2))]
    assert tree.num_vfs("fxpf0") == 4
    assert [tree.driver(vf_pci(k)) for k in range(4)] == ["iavf", VFIO, VFIO, "iavf"]
    assert calls[0] == ("fxpf0", 1, {"mac": "02:00:00:00:00:01", "vlan": 10, "trust": True, "spoofchk": False,
                                     "max_tx_rate": 1000})
    for rec in reversed(ctx.journal.recs):   # what teardown does
        {"sriov-numvfs": sriov.undo_numvfs, "sriov-vf": sriov.undo_vf, "vfio-bind": sriov.undo_vfio}[rec["op"]](rec)
    assert tree.num_vfs("fxpf0") == 2
    assert [tree.driver(v.pci) for v in tree.vfs("fxpf0")] == ["iavf", "iavf"]


def test_vfio_undo_leaves_a_device_it_did_not_bind_alone(tree, monkeypatch):
    monkeypatch.setattr(sriov, "Sysfs", FakeKernel)
    sriov.undo_vfio({"op": "vfio-bind", "pci": vf_pci(0), "driver": "other", "root": tree.root})
    assert tree.driver(vf_pci(0)) == "iavf"   # not bound to vfio-pci: not this lab's doing, not touched


def test_numvfs_changed_by_someone_else_is_left_alone(tree, monkeypatch):
    monkeypatch.setattr(sriov, "Sysfs", FakeKernel)
    sriov.undo_numvfs({"op": "sriov-numvfs", "pf": "fxpf0", "before": 0, "set": 4, "root": tree.root})
    assert tree.num_vfs("fxpf0") == 2   # 2 VFs, not the 4 this lab set: not ours to change


def test_vf_settings_request_decodes_as_ifla_vf_attributes():
    msg = sriov.vf_request(7, 3, mac="02:00:00:00:00:09", vlan=42, trust=True, spoofchk=False, max_tx_rate=500)
    msg.encode()
    back = ifinfmsg(msg.data)
    back.decode()
    assert back["index"] == 7
    info = back.get_attr("IFLA_VFINFO_LIST").get_attr("IFLA_VF_INFO")
    assert info.get_attr("IFLA_VF_MAC")["vf"] == 3 and info.get_attr("IFLA_VF_MAC")["mac"] == "02:00:00:00:00:09"
    assert info.get_attr("IFLA_VF_VLAN")["vlan"] == 42
    assert info.get_attr("IFLA_VF_TRUST")["trust"] == 1 and info.get_attr("IFLA_VF_SPOOFCHK")["spoofchk"] == 0
    assert info.get_attr("IFLA_VF_RATE")["max_tx_rate"] == 500


def _check(tree, **kw):
    return preflight.Check(what="sriov-vf", lab="x", label="n:p0 -- sriov-vf", sysfs_root=tree.root, **kw)


def test_preflight_against_the_fixture(tree):
    assert preflight.sriov_problems(_check(tree, device="fxpf0", vfs=4)) == []
    msgs = preflight.sriov_problems(_check(tree, device="fxpf0", vfs=9, vfio=True))
    assert any("can have at most 8 VFs, the lab needs 9; fix: ask for at most 8" in m for m in msgs)
    assert any("no IOMMU enabled" in m and "intel_iommu=on iommu=pt" in m for m in msgs)
    assert any("vfio-pci driver is not loaded" in m and "modprobe vfio-pci" in m for m in msgs)
    msgs = preflight.sriov_problems(_check(tree, device="fxnic0", vfs=1))
    assert msgs and "'fxnic0' has no SR-IOV" in msgs[0] and "type: host-device or macvlan" in msgs[0]
    with_vfio(tree)
    assert preflight.sriov_problems(_check(tree, device="fxpf0", vfs=8, vfio=True)) == []


@pytest.mark.integration
def test_preflight_refuses_here_with_the_fix(topo, lab_name, clean_host):
    """For real on this machine: a veth end as PF has no SR-IOV, and there is no IOMMU or vfio."""
    pf, peer = f"{lab_name[-8:]}pf", f"{lab_name[-8:]}pp"
    subprocess.run(["ip", "link", "add", pf, "type", "veth", "peer", "name", peer], check=True)
    try:
        path = topo(f"""
            name: {{lab}}
            nodes: {{fwd: {{kind: dpdk-app}}}}
            links: [{{type: sriov-vf, endpoint: fwd:p0, pf: {pf}, vfs: 2, driver: vfio-pci}}]
        """)
        r = subprocess.run([sys.executable, "-m", "emulator", "deploy", path], capture_output=True, text=True)
        assert r.returncode == 3, r.stderr
        assert f"'{pf}' has no SR-IOV" in r.stderr
        if not Sysfs().iommu_enabled():
            assert "no IOMMU enabled" in r.stderr
        if not Sysfs().vfio_loaded():
            assert "modprobe vfio-pci" in r.stderr
        assert "nothing was created" in r.stderr
        assert not os.path.exists(f"/run/emulator/{lab_name}")
    finally:
        subprocess.run(["ip", "link", "del", peer], check=True)


SEED002 = ("testpmd", "bridge", "ovs-dpdk", "vhost")


@pytest.mark.parametrize("name", SEED002)
def test_seed002_sriov_files_validate_with_the_papers_figures(name):
    from emulator import lab as api
    from emulator.scenario import spec
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    c = api.compile(os.path.join(root, "topologies", f"seed002-sriov-{name}.yaml"), check_host=False)
    assert {e.type for e in c.lab.endpoints} == {"sriov-vf"}
    sc = spec.load(os.path.join(root, "scenarios", f"seed002-sriov-{name}.yaml"))
    ref = [s.reference for s in sc.points[0].steps if s.reference][0]
    assert ref["metric"] == "rtt_avg_ms" and ref["value"] == {"testpmd": 0.8, "bridge": 8.7, "ovs-dpdk": 0.8,
                                                              "vhost": 5.0}[name]
    assert "seed 002" in ref["source"]


@pytest.mark.integration
def test_seed002_sriov_scenario_is_refused_here_with_the_fix(tmp_path, lab_name, clean_host):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if Sysfs().sriov_capable("enp3s0f0"):
        pytest.skip("this host has the PF the shipped file names")
    r = subprocess.run([sys.executable, "-m", "emulator", "run", "scenarios/seed002-sriov-testpmd.yaml",
                        "--name", lab_name, "--results", str(tmp_path / "res")],
                       cwd=root, capture_output=True, text=True)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "no device 'enp3s0f0' on this host; fix: name one that `ip link` lists" in r.stderr
    if not Sysfs().iommu_enabled():
        assert "intel_iommu=on iommu=pt" in r.stderr
    assert not os.path.exists(f"/run/emulator/{lab_name}")


@pytest.mark.integration
def test_phys_verb_lists_the_host_and_says_what_was_verified():
    r = subprocess.run([sys.executable, "-m", "emulator", "phys", "-f", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json
    rep = json.loads(r.stdout)
    assert rep["iommu"] == Sysfs().iommu_enabled() and rep["ipvlan"] == preflight.kernel_has("ipvlan")[0]
    assert any(d["default_route"] for d in rep["devices"]) == bool(preflight.default_route_devices())
    h = subprocess.run([sys.executable, "-m", "emulator", "phys", "--help"], capture_output=True, text=True).stdout
    assert "Nothing has been run on a physical NIC" in h and "only against a fixture" in h


@pytest.mark.integration
def test_kernel_vf_deployed_through_the_fixture_moved_in_and_back(tree, topo, lab_name, clean_host, monkeypatch):
    """A real deploy whose sysfs is the fixture: VF 1's netdev is a real veth end in the host's
    namespace, so the VF is picked from the fixture, moved into the node, addressed, reached, and
    moved back by destroy."""
    from pyroute2 import IPRoute

    from emulator import lab as api
    vf, peer = f"{lab_name[-8:]}vf", f"{lab_name[-8:]}vp"
    os.rename(os.path.join(tree.pci_dir(vf_pci(1)), "net", "fxvf1"), os.path.join(tree.pci_dir(vf_pci(1)), "net", vf))
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() // 50 % 250}"
    with IPRoute() as ipr:
        ipr.link("add", ifname=vf, kind="veth", peer=peer)
        i = ipr.link_lookup(ifname=peer)[0]
        ipr.link("set", index=i, state="up")
        ipr.addr("add", index=i, address=f"{net}.62", prefixlen=24)
        vf_index = ipr.link_lookup(ifname=vf)[0]
    monkeypatch.setattr(sriov, "SYSFS_ROOT", tree.root)
    try:
        path = topo(f"""
            name: {{lab}}
            nodes: {{r1: {{kind: host}}}}
            links: [{{type: sriov-vf, endpoint: {{node: r1, interface: vf0, ip: [{net}.61/24]}}, pf: fxpf0, vf: 1}}]
        """)
        st = api.deploy(path)
        try:
            ns = st["nodes"]["r1"]["netns"]
            r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", f"{net}.62"],
                               capture_output=True)
            assert r.returncode == 0
            from emulator.deploy import state
            assert [rec["pci"] for rec in state.Journal(lab_name).records() if rec["op"] == "sriov-vf"] == [vf_pci(1)]
        finally:
            assert api.destroy(lab_name) == []
        with IPRoute() as ipr:
            assert ipr.link_lookup(ifname=vf) == [vf_index]   # back under its name and ifindex
    finally:
        with IPRoute() as ipr:
            for i in ipr.link_lookup(ifname=peer):
                ipr.link("del", index=i)


def test_preflight_counts_free_vfs(tree, monkeypatch):
    monkeypatch.setattr(preflight, "journal_records", lambda own: iter([("other", {"op": "sriov-vf", "pci": vf_pci(0)})]))
    msgs = preflight.sriov_problems(_check(tree, device="fxpf0", vfs=0, needed=2))
    assert msgs and "'fxpf0' has 1 free VFs (2 once the lab's sriov: is applied, 1 held by lab other), the lab needs 2" \
        in msgs[0] and "destroy other" in msgs[0]
    # 3 VFs would leave 2 free, but raising 2 -> 3 goes through 0 and takes VF 0 from lab other
    msgs = preflight.sriov_problems(_check(tree, device="fxpf0", vfs=3, needed=2))
    assert not any("free VFs" in m for m in msgs) and "removes every VF" in msgs[0]


def test_vf_counts_in_the_file_are_checked():
    from emulator import lab as api
    from emulator.core.loader import load_text
    from emulator.errors import TopologyError
    with pytest.raises(TopologyError) as e:
        api.compile(load_text("""\
name: pv
sriov: {pf: enp3s0f0, vfs: 1}
nodes: {a: {kind: host}, b: {kind: host}}
links:
  - {type: sriov-vf, endpoint: a, pf: enp3s0f0}
  - {type: sriov-vf, endpoint: b, pf: enp3s0f0}
  - {type: sriov-vf, endpoint: a, pf: enp3s0f1, vf: 3}
  - {type: sriov-vf, endpoint: b, pf: enp3s0f1, vf: 3}
""", "t.yaml"), check_host=False)
    msg = str(e.value)
    assert "t.yaml:6:" in msg and "the lab has 2 sriov-vf links on enp3s0f0 but asks for 1 VFs of it" in msg
    assert "t.yaml:8:" in msg and "VF 3 of enp3s0f1 is given to two links" in msg
