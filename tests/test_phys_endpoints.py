"""Single-ended links (emulator/core/endpoints.py) built by the phys backend, for real.

This kernel has no dummy devices and the machine no spare NIC, so one end of a veth pair in the
host namespace stands in for a NIC (named per test, tagged `phys-test:LAB` so it is never taken for
the emulator's; both ends deleted at the end of the test, and the test fails if one is missing).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from pyroute2 import IPRoute

from emulator import lab as api
from emulator.deploy import state
from emulator.deploy.kernel import netns

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
PY = sys.executable
NET = f"10.{200 + os.getpid() % 50}.{os.getpid() // 50 % 250}"   # a /24 for this test run (the host's own nets are not 10/8 here)


def _link(name: str, ns: str | None = None):
    if ns is None:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=name)
            return ipr.get_links(found[0])[0] if found else None
    with netns.entered(ns):
        ipr = IPRoute()
    with ipr:
        found = ipr.link_lookup(ifname=name)
        return ipr.get_links(found[0])[0] if found else None


def _addrs(name: str) -> set[str]:
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=name)[0]
        return {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=idx)
                if not a.get_attr("IFA_ADDRESS").startswith("fe80")}


@contextlib.contextmanager
def killed_deploy(path: str, lab: str):
    """`emulator deploy PATH` (lab LAB, whose startup command touches LAB.up beside PATH) in a child
    process: the block runs once the startup command ran, then the deploy is SIGKILLed (a crash)."""
    marker = os.path.join(os.path.dirname(path), f"{lab}.up")
    p = subprocess.Popen([PY, "-m", "emulator", "deploy", path], cwd=os.path.dirname(path),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(marker) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert os.path.exists(marker), f"the deploy of lab {lab} never reached its startup command"
        yield
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


@pytest.fixture
def nics(lab_name):
    """make(k) -> (nic, peer): a veth pair in the host namespace; `nic` up, MTU 1400, with an address."""
    made = []

    def make(k: int, up: bool = True, addr: bool = True):
        a, b = f"{lab_name[-7:]}n{k}", f"{lab_name[-7:]}p{k}"
        with IPRoute() as ipr:
            ipr.link("add", ifname=a, kind="veth", peer=b)
            made.append(b)
            for n in (a, b):
                idx = ipr.link_lookup(ifname=n)[0]
                ipr.link("set", index=idx, ifalias=f"phys-test:{lab_name}", mtu=1400)
                if up:
                    ipr.link("set", index=idx, state="up")
            if addr:
                ipr.addr("add", index=ipr.link_lookup(ifname=a)[0], address=f"10.{k}.{os.getpid() % 250}.1",
                         prefixlen=24)
        return a, b

    yield make
    missing = []
    with IPRoute() as ipr:
        for b in made:
            found = ipr.link_lookup(ifname=b)
            if found:
                ipr.link("del", index=found[0])   # its peer (the stand-in NIC) goes with it
            else:
                missing.append(b)
    assert not missing, f"stand-in NIC pairs gone (deleted by the emulator?): {missing}"


def _state(name: str) -> dict:
    link = _link(name)
    assert link is not None, f"{name} is not in the host namespace"
    return {"index": link["index"], "up": bool(link["flags"] & 1), "mtu": link.get_attr("IFLA_MTU"),
            "mac": link.get_attr("IFLA_ADDRESS"), "addresses": _addrs(name)}


def _ping(ns: str, ip: str) -> bool:
    """Any reply of 3 (deploy does not wait for a host device's carrier: it is outside the lab)."""
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", ip],
                          capture_output=True).returncode == 0


def test_host_device_moved_in_configured_and_moved_back(topo, lab_name, nics):
    nic, peer = nics(1)
    before = _state(nic)
    path = topo(f"""
        name: {{lab}}
        nodes:
          r1: {{kind: host}}
        links:
          - {{type: host-device, endpoint: {{node: r1, interface: eth5, ip: [{NET}.1/24], mtu: 1300}},
             host-interface: {nic}}}
    """)
    st = api.deploy(path)
    try:
        ns = st["nodes"]["r1"]["netns"]
        assert _link(nic) is None, "the device is still in the host namespace"
        moved = _link("eth5", ns)
        assert moved is not None and moved["index"] == st["nodes"]["r1"]["interfaces"]["eth5"]["index"]
        assert moved.get_attr("IFLA_MTU") == 1300 and moved["flags"] & 1
        assert moved.get_attr("IFLA_ADDRESS") == before["mac"]
        # the peer in the host namespace reaches the node's address over the moved device
        with IPRoute() as ipr:
            ipr.addr("add", index=ipr.link_lookup(ifname=peer)[0], address=f"{NET}.2", prefixlen=24)
        assert _ping(ns, f"{NET}.2")
    finally:
        assert api.destroy(lab_name) == []
    assert _state(nic) == before   # name, ifindex, state, MTU, MAC and addresses as they were


def test_host_device_moved_back_after_sigkill_of_deploy(topo, lab_name, nics):
    nic, _ = nics(2)
    before = _state(nic)
    path = topo(f"""
        name: {{lab}}
        nodes:
          r1: {{kind: host, exec: ["touch {{lab}}.up; sleep 60"]}}
        links:
          - [r1:eth1, host:{nic}]
    """)
    with killed_deploy(path, lab_name):
        assert _link(nic) is None   # moved into the node
    assert state.Journal(lab_name).records(), "nothing journaled"
    r = subprocess.run([PY, "-m", "emulator", "destroy", lab_name], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _state(nic) == before


def test_journaled_before_the_move(topo, lab_name, nics, monkeypatch):
    """A deploy that dies after the journal write and before the move: destroy finds the device
    where it is and leaves it as it was."""
    nic, _ = nics(3)
    before = _state(nic)
    from emulator.backends.phys import host_device

    def killed(rec):
        raise KeyboardInterrupt()   # stands for SIGKILL: the record is on disk, the move never happened
    monkeypatch.setattr(host_device.devices, "move", killed)
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links: [[r1:eth1, host:{nic}]]
    """)
    with pytest.raises(KeyboardInterrupt):
        api.deploy(path)
    assert _state(nic) == before
    assert not os.path.exists(state.lab_dir(lab_name))


def _cli(*args):
    return subprocess.run([PY, "-m", "emulator", *args], capture_output=True, text=True)


def _two_labs(topo, lab_name, text_a: str, text_b: str):
    a = topo(text_a.replace("{lab}", lab_name + "a"), "a.yaml")
    b = topo(text_b.replace("{lab}", lab_name + "b"), "b.yaml")
    return a, b


def test_two_labs_talk_over_host_devices(topo, lab_name, nics):
    """Each end of a host veth pair moved into a node of a different lab: the labs talk through it."""
    x, y = nics(4)
    sx, sy = _state(x), _state(y)
    a, b = _two_labs(topo, lab_name, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host}}}}
        links: [{{type: host-device, endpoint: {{node: h, interface: up0, ip: [{NET}.11/24]}}, host-interface: {x}}}]
    """, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host}}}}
        links: [{{type: host-device, endpoint: {{node: h, interface: up0, ip: [{NET}.12/24]}}, host-interface: {y}}}]
    """)
    st_a = api.deploy(a)
    try:
        st_b = api.deploy(b)
        try:
            assert _ping(st_a["nodes"]["h"]["netns"], f"{NET}.12")
            assert _ping(st_b["nodes"]["h"]["netns"], f"{NET}.11")
        finally:
            assert api.destroy(lab_name + "b") == []
    finally:
        assert api.destroy(lab_name + "a") == []
    assert (_state(x), _state(y)) == (sx, sy)


def test_two_labs_talk_over_macvlans_and_parents_stay(topo, lab_name, nics):
    """A macvlan of each end of a host veth pair, in nodes of two labs; the parents are never
    changed, the macvlans go with the labs, also when the deploy of one was SIGKILLed."""
    x, y = nics(5)
    sx, sy = _state(x), _state(y)
    a, b = _two_labs(topo, lab_name, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host}}}}
        links: [{{type: macvlan, endpoint: {{node: h, interface: mv0, ip: [{NET}.21/24]}}, host-interface: {x}}}]
    """, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host, exec: ["touch {{lab}}.up; sleep 60"]}}}}
        links: [{{type: macvlan, endpoint: {{node: h, interface: mv0, ip: [{NET}.22/24]}}, host-interface: {y}, mode: bridge}}]
    """)
    st_a = api.deploy(a)
    try:
        with killed_deploy(b, lab_name + "b"):
            assert _ping(st_a["nodes"]["h"]["netns"], f"{NET}.22")
            assert _state(x) == sx and _state(y) == sy   # the parents are not touched
        r = _cli("destroy", lab_name + "b")
        assert r.returncode == 0, r.stderr
    finally:
        assert api.destroy(lab_name + "a") == []
    assert (_state(x), _state(y)) == (sx, sy)
    assert not any(_link(n) for n in ("mv0",))


def test_host_veth_end_in_the_host_namespace(topo, lab_name):
    dev = f"{lab_name[-9:]}h0"
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links:
          - {{type: host-veth, endpoint: {{node: r1, ip: [{NET}.31/24]}}, host-interface: {dev}, host-ip: [{NET}.32/24]}}
    """)
    st = api.deploy(path)
    try:
        host_end = _link(dev)
        assert host_end is not None and host_end.get_attr("IFLA_IFALIAS") == f"emulator:{lab_name}"
        assert _addrs(dev) == {f"{NET}.32/24"}
        assert _ping(st["nodes"]["r1"]["netns"], f"{NET}.32")
    finally:
        assert api.destroy(lab_name) == []
    assert _link(dev) is None


def test_host_veth_never_deletes_a_device_that_is_not_ours(topo, lab_name, nics):
    """A device already named like the link's host end: refused before anything (exit 3), and a
    journal record naming it (a crash, a forged journal) does not delete it either."""
    decoy, _ = nics(6)
    before = _state(decoy)
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links: [{{type: host-veth, endpoint: r1, host-interface: {decoy}}}]
    """)
    r = _cli("deploy", path)
    assert r.returncode == 3, r.stderr
    assert f"a device named '{decoy}' already exists on the host (not this lab's)" in r.stderr
    assert "another host-interface" in r.stderr
    assert not os.path.exists(state.lab_dir(lab_name))
    from emulator.backends.phys import host_veth
    with pytest.raises(Exception, match="left alone"):
        host_veth.undo({"op": "host-veth", "lab": lab_name, "device": decoy, "tag": f"emulator:{lab_name}"})
    assert _state(decoy) == before


def test_preflight_refuses_before_anything_is_created(topo, lab_name, nics):
    x, _ = nics(7)
    missing = f"{lab_name[-8:]}zz"
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}, r2: {{kind: host}}}}
        links:
          - [r1:eth0, r2:eth0]
          - [r1:eth1, host:{missing}]
          - {{type: macvlan, endpoint: r2, host-interface: {missing}2}}
    """)
    r = _cli("deploy", path)
    assert r.returncode == 3, r.stderr
    assert f"r1:eth1 -- host-device:{missing}: no device '{missing}' on this host; fix: name one that `ip link` lists" in r.stderr
    assert f"r2:eth1 -- macvlan:{missing}2: no device '{missing}2' on this host" in r.stderr
    assert not os.path.exists(state.lab_dir(lab_name))
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"emu-{lab_name}")]


def test_device_in_use_by_another_lab(topo, lab_name, nics):
    x, _ = nics(8)
    sx = _state(x)
    a, b = _two_labs(topo, lab_name, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host}}}}
        links: [[h:eth0, host:{x}]]
    """, f"""
        name: {{lab}}
        nodes: {{h: {{kind: host}}}}
        links: [{{type: macvlan, endpoint: h, host-interface: {x}}}]
    """)
    api.deploy(a)
    try:
        r = _cli("deploy", b)
        assert r.returncode == 3, r.stderr
        assert (f"host device '{x}' is in use by lab '{lab_name}a' (moved into one of its nodes); "
                f"fix: destroy that lab first (emulator destroy {lab_name}a)") in r.stderr
        assert not os.path.exists(state.lab_dir(lab_name + "b"))
    finally:
        assert api.destroy(lab_name + "a") == []
    assert _state(x) == sx


def _default_route_device() -> str | None:
    from emulator.backends.phys import preflight
    idx = preflight.default_route_devices()
    return next((n for n, d in preflight.host_links().items() if d["index"] in idx), None)


def test_default_route_device_is_refused_unless_forced(topo, lab_name):
    dev = _default_route_device()
    if dev is None:
        pytest.skip("this host has no default route")
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links: [[r1:eth1, host:{dev}]]
    """)
    r = _cli("deploy", path)
    assert r.returncode == 3, r.stderr
    assert f"host device '{dev}' carries the host's default route" in r.stderr
    assert "add 'force: true' to the link" in r.stderr
    assert _link(dev) is not None
    # force: true lets it through the preflight (checked without deploying: it would move the NIC)
    from emulator.backends.phys import preflight
    forced = preflight.Check(what="host-device", device=dev, lab=lab_name, force=True, label="x")
    assert preflight.problems_of([forced]) == []


def test_ipvlan_is_refused_where_the_kernel_lacks_it(topo, lab_name, nics):
    from emulator.backends.phys import preflight
    x, _ = nics(9)
    has, _why = preflight.kernel_has("ipvlan")
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host}}}}
        links: [{{type: ipvlan, endpoint: {{node: r1, ip: [{NET}.41/24]}}, host-interface: {x}, mode: l2}}]
    """)
    if has:
        st = api.deploy(path)
        api.destroy(lab_name)
        return
    r = _cli("deploy", path)
    assert r.returncode == 3, r.stderr
    assert "this kernel cannot create ipvlan devices" in r.stderr and "modprobe ipvlan" in r.stderr
    assert "use type: macvlan instead" in r.stderr
    assert not os.path.exists(state.lab_dir(lab_name))


def test_host_veth_removed_after_sigkill_and_a_decoy_named_like_it_stays(topo, lab_name, nics):
    decoy, _ = nics(10)                   # a host device with a name close to ours: never touched
    dev = f"{lab_name[-9:]}h1"
    before = _state(decoy)
    path = topo(f"""
        name: {{lab}}
        nodes: {{r1: {{kind: host, exec: ["touch {{lab}}.up; sleep 60"]}}}}
        links: [{{type: host-veth, endpoint: r1, host-interface: {dev}, host-ip: [{NET}.51/24]}}]
    """)
    with killed_deploy(path, lab_name):
        assert _link(dev) is not None
    r = _cli("destroy", lab_name)
    assert r.returncode == 0, r.stderr
    assert _link(dev) is None
    assert _state(decoy) == before
