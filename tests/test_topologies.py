"""Every example in topologies/ validates, deploys, carries traffic and goes away cleanly."""
import glob
import os
import re
import signal
import time

import pytest

from emulator import lab as api
from emulator.deploy.kernel import netns
from emulator.core.loader import load_file
from emulator.errors import EnvironmentProblem
from vpp_helpers import vpp_missing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(ROOT, "topologies", "*.yaml")))

# (source node, destination address) pairs that must answer a ping in each example
REACH = {
    "two-hosts": [("h1", "10.255.0.2")],
    "lan": [("h1", "10.0.0.4"), ("h3", "10.0.0.2")],
    "fw-chain": [("client", "10.100.2.2")],
    "1s1c": [("client", "10.0.1.2")],
    "1s2c-iptables": [("client", "10.0.2.2")],
    "1s2c-bridge": [("client", "10.0.1.2")],
    "1s2c-user-app": [("client", "10.0.1.2")],
    "nsm-2s1c": [("client", "172.16.2.2")],          # network service chains (emulator/backends/nsm/)
    "nsm-chain4": [("client", "172.16.13.2")],
    "nsm-2s1c-user-app": [("client", "172.16.2.2")],
    "seed003-pairs": [],                              # DPDK apps only: traffic in tests/test_ovs_dpdk.py
    "seed002-ovs-dpdk": [("client", "10.20.0.2")],    # kernel ping through OVS-DPDK to testpmd icmpecho
    "seed003-2vs2": [],                               # DPDK apps only (memif pairs)
    "nsm-dpdk": [("client", "172.16.9.2")],           # kernel client -> testpmd io -> testpmd icmpecho
    "frr-ospf": [("h1", "10.1.1.1"), ("r1", "10.0.12.2")],   # direct neighbours: OSPF's routes are scenarios/frr-ospf.yaml's
    "srv6-te": [("h1", "10.2.0.2"), ("h2", "10.1.0.2")],   # IPv4 over SRv6 policies (emulator/backends/srv6/)
    "vpp-nsim": [("client", "10.0.0.2")],             # through VPP's nsim (needs VPP: tests/test_vpp.py)
    "vpp-srv6": [("h1", "10.2.0.2"), ("h2", "10.1.0.2")],   # SRv6 through a vpp router and kernel ones
    "nsm-2s2c": [("client", "172.16.22.2")],         # NSM's VPP forwarder (TAP: veth + af_packet here)
    "nsm-3s1c": [("client", "172.16.32.2")],         # VPP forwarder + a VPP firewall NSE on memif
    "nsm-2s2c-user-app": [("client", "172.16.23.2")],   # VPP forwarder, a user-space frame forwarder NSE
    # SR-IOV VFs (phys backend): deployed only where the PF exists; refused here (tests/test_phys_sriov.py)
    "seed002-sriov-testpmd": [("client", "10.30.0.2")],
    "seed002-sriov-bridge": [("client", "10.31.0.2")],
    "seed002-sriov-ovs-dpdk": [("client", "10.32.0.2")],
    "seed002-sriov-vhost": [("client", "10.33.0.2")],
    "4s1c": [("c1", "10.0.1.2"), ("c2", "10.0.3.2"), ("c3", "10.0.4.2")],   # eBPF firewall, iptables, user space
    "4s2c": [("c1", "10.0.1.2"), ("c4", "10.0.6.2"), ("c2", "10.0.3.2"), ("c3", "10.0.4.2")],  # eBPF l2/l3 forwarders
}

NEED_VPP = {"nsm-2s2c", "nsm-2s2c-user-app", "nsm-3s1c"}   # besides vpp-*: NSM's VPP forwarder

def test_every_example_has_reachability_checks():
    names = {os.path.basename(f)[:-5] for f in FILES}
    assert names == set(REACH), "add the new example to REACH"
    for must in ("two-hosts", "fw-chain", "lan", "1s1c", "1s2c-iptables", "1s2c-bridge", "1s2c-user-app"):
        assert must in names


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_example_validates(path):
    c = api.compile(path, check_host=False)
    assert c.lab.name == os.path.basename(path)[:-5], "lab name should match the file name"


def _cmdline(pid) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _renamed(path, lab_name):
    src = load_file(path)
    src.data["name"] = lab_name
    return src


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_example_deploys_and_carries_traffic(path, lab_name):
    name = os.path.basename(path)[:-5]
    if (name.startswith("vpp-") or name in NEED_VPP) and vpp_missing():
        pytest.skip(vpp_missing())
    if name.startswith("seed002-sriov-"):
        from emulator.backends.phys.sysfs import Sysfs
        pf = _renamed(path, lab_name).data["sriov"]["pf"]
        if not Sysfs().sriov_capable(pf):
            with pytest.raises(EnvironmentProblem, match=f"no device '{pf}' on this host|'{pf}' has no SR-IOV"):
                api.deploy(_renamed(path, lab_name))
            return
    api.deploy(_renamed(path, lab_name))
    try:
        for src, dst in REACH[name]:
            if name in NEED_VPP or name == "vpp-srv6":   # a VPP router drops the packet that makes it resolve its neighbour (ARP)
                api.ping(lab_name, src, dst, count=1, timeout=1)
            # one lost first packet (a neighbour still resolving, a user-space forwarder's first read under
            # load) is not "no traffic": three tries
            assert any(api.ping(lab_name, src, dst, count=1, timeout=3) for _ in range(3)), f"{name}: {src} -> {dst}"
        if name == "1s2c-iptables":
            # the firewall drops what its FORWARD chain does not accept
            r = api.exec_in(lab_name, "client", ["sh", "-c", "timeout 2 bash -c '</dev/tcp/10.0.2.2/80'"])
            assert not r.ok
            assert "policy DROP" in api.exec_in(lab_name, "fw", ["iptables", "-L", "FORWARD"]).stdout
        if name in ("1s2c-bridge", "1s2c-user-app"):
            out = api.exec_in(lab_name, "fw", ["ip", "-4", "-br", "addr", "show", "scope", "global"]).stdout
            assert not re.search(r"\d+\.\d+\.\d+\.\d+", out), f"fw must have no IPv4 address: {out}"
        if name == "1s2c-user-app":
            # traffic crosses the user-space forwarder: without it, nothing passes
            st = api.get(lab_name)
            ino = netns.inode(st["nodes"]["fw"]["netns"])
            for pid in netns.pids_by_netns({ino}).get(ino, []):  # this lab's forwarder only
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"emulator.tools.pktfwd" in f.read():
                        os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 10   # gone, not only told to go
            while any(b"emulator.tools.pktfwd" in _cmdline(p) for p in netns.pids_by_netns({ino}).get(ino, [])):
                assert time.monotonic() < end, "the user-space forwarder did not end"
                time.sleep(0.05)
            assert not api.ping(lab_name, "client", "10.0.1.2", count=1, timeout=1)
    finally:
        api.destroy(lab_name)
