"""Sysctls go into each node's namespace through a procfs mounted for it alone (issue 10).

Under the host's /proc every namespace that ever opened /proc/sys/net/... keeps a dentry named
"net", and each lookup walks all of them: a linear,5000 deploy spent 35 s writing one sysctl per
node. The writer's own procfs must not show on the host, nor change the host's values.
"""
import threading

import pytest

from emulator import lab as api
from emulator.deploy import state
from emulator.deploy.kernel import netns

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]

TOPO = """
name: {lab}
nodes:
  r1: {kind: host, sysctls: {net.ipv4.ip_forward: 1, net.ipv4.conf.all.rp_filter: 2}}
  h1: {kind: host}
links:
  - [r1, h1]
"""


def _read(path):
    with open(path) as f:
        return f.read().strip()


def _proc_mounts():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if " - proc " in line)


def test_sysctls_are_written_once_per_namespace_through_a_private_proc(topo, lab_name, monkeypatch):
    host_forward = _read("/proc/sys/net/ipv4/ip_forward")
    mounts = _proc_mounts()
    calls = []
    write_in = netns.ProcSys._write_in
    seen = []

    def counted(ns, writes, own):
        calls.append((ns, list(writes)))
        seen.append(_proc_mounts())   # while the writer's procfs is mounted: not on the host
        return write_in(ns, writes, own)
    monkeypatch.setattr(netns.ProcSys, "_write_in", staticmethod(counted))
    st = api.deploy(topo(TOPO))
    try:
        r1, h1 = st["nodes"]["r1"]["netns"], st["nodes"]["h1"]["netns"]
        by_ns = {ns: dict(w) for ns, w in calls}
        assert len(calls) == len(by_ns)   # one procfs mount per namespace, all its sysctls at once
        assert by_ns[r1]["net.ipv4.ip_forward"] == "1" and by_ns[r1]["net.ipv4.conf.all.rp_filter"] == "2"
        assert set(seen) == {mounts}
        for key, want in (("ipv4/ip_forward", "1"), ("ipv4/conf/all/rp_filter", "2")):
            got = api.exec_in(lab_name, "r1", ["cat", f"/proc/sys/net/{key}"]).stdout.strip()
            assert got == want, key
        assert api.exec_in(lab_name, "h1", ["cat", "/proc/sys/net/ipv6/conf/default/disable_ipv6"]).stdout.strip() == "1"
        assert api.exec_in(lab_name, "h1", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
        assert h1 in by_ns
        assert _read("/proc/sys/net/ipv4/ip_forward") == host_forward   # the host's own is untouched
        assert not [t for t in threading.enumerate() if t.name == "procsys"]   # stopped after its phase
    finally:
        api.destroy(lab_name)


def test_a_sysctl_the_kernel_lacks_fails_the_deploy_and_names_it(topo, lab_name):
    from emulator.errors import DeployError
    with pytest.raises(DeployError, match=r"sysctl net\.ipv4\.conf\.all\.nosuch_knob=1 in emu-"):
        api.deploy(topo(TOPO.replace("rp_filter: 2", "nosuch_knob: 1")))
    assert lab_name not in state.list_labs()
    assert not [t for t in threading.enumerate() if t.name == "procsys"]
