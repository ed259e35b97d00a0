"""emulator/deploy/kernel/devices.py: a host NIC moved into a node's namespace and back.

This kernel has no dummy devices, so one end of a veth pair in the host namespace stands in for
the NIC. Its names and addresses are unique to the test (lab_name); both ends carry the lab's alias,
so clean_host would report them if a test left them behind, and the fixture deletes them anyway.
"""
from __future__ import annotations

import errno
import json
import os
import socket

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from emulator.deploy.kernel import devices, netns

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]


def _links(ipr) -> dict[str, dict]:
    return {l.get_attr("IFLA_IFNAME"): {"index": l["index"], "up": bool(l["flags"] & 1),
                                        "mtu": l.get_attr("IFLA_MTU"), "mac": l.get_attr("IFLA_ADDRESS")}
            for l in ipr.get_links()}


def _addrs(ipr, index) -> set[str]:
    return {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index)}


def in_ns(name):
    with netns.entered(name):
        return IPRoute()


@pytest.fixture
def nic(lab_name):
    """A stand-in NIC in the host namespace: up, MTU 1400, an IPv4 and an IPv6 address, a static
    route through it; plus an empty namespace for the node."""
    k = os.getpid() % 250
    env = {"nic": f"{lab_name}n", "peer": f"{lab_name}p", "ns": f"emu-{lab_name}.node",
           "v4": f"198.18.{k}.1/24", "v6": f"2001:db8:{k:x}::1/64",
           "route": f"198.19.{k}.0/24", "gw": f"198.18.{k}.2", "tag": f"emulator:{lab_name}"}
    assert not netns.exists(env["ns"])
    netns.create_many([env["ns"]])
    ipr = IPRoute()
    try:
        ipr.link("add", ifname=env["nic"], kind="veth", peer={"ifname": env["peer"]})
        for dev in (env["nic"], env["peer"]):
            ipr.link("set", index=ipr.link_lookup(ifname=dev)[0], ifalias=env["tag"], state="up")
        i = ipr.link_lookup(ifname=env["nic"])[0]
        ipr.link("set", index=i, mtu=1400)
        ipr.addr("add", index=i, address=env["v4"].split("/")[0], prefixlen=24)
        ipr.addr("add", index=i, address=env["v6"].split("/")[0], prefixlen=64)
        ipr.route("add", dst=env["route"], gateway=env["gw"], oif=i)
        env["mac"] = ipr.get_links(i)[0].get_attr("IFLA_ADDRESS")
        yield env
    finally:
        for dev in (env["nic"], env["peer"], f"{lab_name}m", f"{lab_name}d"):
            for i in ipr.link_lookup(ifname=dev):
                try:
                    if ipr.get_links(i)[0].get_attr("IFLA_IFALIAS") == env["tag"]:   # only what this test made
                        ipr.link("del", index=i)
                except NetlinkError as e:   # the peer of a veth that died with its namespace
                    if e.code != errno.ENODEV:
                        raise
        ipr.close()
        netns.delete(env["ns"])


def _host_state(env):
    with IPRoute() as ipr:
        links = _links(ipr)
        if env["nic"] not in links:
            return None
        link = links[env["nic"]]
        i = link["index"]
        routes = {(r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_GATEWAY"))
                  for r in ipr.get_routes(family=socket.AF_INET, oif=i)}
        return {**link, "addrs": _addrs(ipr, i), "routes": routes}


def test_moved_in_renamed_addressed_and_back_with_name_and_state(nic, lab_name):
    before = _host_state(nic)
    rec = devices.move_device(nic["nic"], None, nic["ns"], new_name="eth5")
    assert (rec.name, rec.ns, rec.up, rec.mtu, rec.mac) == (nic["nic"], None, True, 1400, nic["mac"])
    assert set(rec.addresses) == {nic["v4"], nic["v6"]}
    assert any(r["dst"] == nic["route"] and r["gateway"] == nic["gw"] for r in rec.routes)
    assert _host_state(nic) is None                      # gone from the host namespace
    with in_ns(nic["ns"]) as ipr:                        # the node configures it its way
        links = _links(ipr)
        assert "eth5" in links and links["eth5"]["index"] == rec.now_index and not links["eth5"]["up"]
        assert _addrs(ipr, rec.now_index) == set()       # the kernel dropped them on the move
        ipr.link("set", index=rec.now_index, state="up", mtu=9000)
        ipr.addr("add", index=rec.now_index, address="10.77.0.1", prefixlen=24)

    rec = devices.Moved.from_dict(json.loads(json.dumps(rec.to_dict())))   # as from a journal
    assert devices.restore_device(rec) == "restored"
    after = _host_state(nic)
    assert after is not None and after["up"] and after["mtu"] == 1400 and after["mac"] == nic["mac"]
    assert {nic["v4"], nic["v6"]} <= after["addrs"] and "10.77.0.1/24" not in after["addrs"]
    assert (nic["route"].split("/")[0], 24, nic["gw"]) in after["routes"]
    assert before["routes"] <= after["routes"]
    with in_ns(nic["ns"]) as ipr:
        assert set(_links(ipr)) == {"lo"}

    # idempotent: a second restore finds it back and changes nothing
    assert devices.restore_device(rec) == "already back"
    again = _host_state(nic)
    assert {k: again[k] for k in ("up", "mtu", "mac", "routes")} == {k: after[k] for k in ("up", "mtu", "mac", "routes")}
    assert again["addrs"] == after["addrs"]


def test_a_device_that_was_down_comes_back_down(nic):
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=nic["nic"])[0], state="down")
    rec = devices.move_device(nic["nic"], None, nic["ns"])
    assert rec.now_name == nic["nic"] and not rec.up
    with in_ns(nic["ns"]) as ipr:
        ipr.link("set", index=rec.now_index, state="up")
    assert devices.restore_device(rec.to_dict()) == "restored"
    st = _host_state(nic)
    assert st is not None and not st["up"] and nic["v4"] in st["addrs"]


def test_gone_with_its_namespace_is_not_an_error(nic):
    rec = devices.move_device(nic["nic"], None, nic["ns"], new_name="eth1")
    netns.delete(nic["ns"])          # a veth dies with its namespace (a real NIC would come back)
    assert devices.restore_device(rec) == "gone"
    assert _host_state(nic) is None


def test_given_back_under_the_name_it_had_inside_is_renamed_to_its_own(nic, lab_name):
    """What the kernel does with a physical NIC when the node's namespace is deleted."""
    inside = f"{lab_name}m"
    rec = devices.move_device(nic["nic"], None, nic["ns"], new_name=inside)
    with in_ns(nic["ns"]) as ipr, open(devices.HOST_NS) as host:
        ipr.link("set", index=rec.now_index, net_ns_fd=host.fileno())
    with IPRoute() as ipr:
        assert inside in _links(ipr)
    assert devices.restore_device(rec) == "already back"
    st = _host_state(nic)
    assert st is not None and st["up"] and st["mtu"] == 1400 and nic["v4"] in st["addrs"]
    with IPRoute() as ipr:
        assert inside not in _links(ipr)


def test_a_device_that_took_the_original_name_is_left_alone(nic, lab_name):
    rec = devices.move_device(nic["nic"], None, nic["ns"], new_name="eth0")
    with IPRoute() as ipr:          # a decoy takes the name while the NIC is away
        ipr.link("add", ifname=nic["nic"], kind="veth", peer={"ifname": f"{lab_name}d"})
        decoy = ipr.link_lookup(ifname=nic["nic"])[0]
        for i in (decoy, ipr.link_lookup(ifname=f"{lab_name}d")[0]):
            ipr.link("set", index=i, ifalias=nic["tag"])
    with pytest.raises(devices.DeviceError, match=f"back to the host namespace as {nic['nic']}: File exists"):
        devices.restore_device(rec)
    with IPRoute() as ipr:
        link = ipr.get_links(decoy)[0]
        assert link.get_attr("IFLA_IFNAME") == nic["nic"] and not link["flags"] & 1
        assert _addrs(ipr, decoy) == set() and link.get_attr("IFLA_MTU") == 1500
    with in_ns(nic["ns"]) as ipr:   # ours stays where it is, for a later restore
        assert "eth0" in _links(ipr)


def test_unknown_device_and_lo_are_refused(nic):
    with pytest.raises(devices.DeviceError, match="'nosuchdev0' not found in the host namespace"):
        devices.move_device("nosuchdev0", None, nic["ns"])
    with pytest.raises(devices.DeviceError, match="'lo' cannot be moved"):
        devices.move_device(1, nic["ns"], nic["ns"])


def test_tx_checksum_off_is_what_ethtool_makes_of_it_and_names_a_missing_device():
    """TxChecksumOff sets the feature by one ioctl per device on a socket in the namespace (no
    ethtool process per device); the device's features end as `ethtool -K DEV tx off` leaves them."""
    import re
    import subprocess
    from emulator.deploy import actions as A
    from emulator.errors import DeployError
    ns = f"emu-txcsum{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for d in ("va", "wa"):
            subprocess.run(["ip", "-n", ns, "link", "add", d, "type", "veth", "peer", d + "p"], check=True)

        def features(dev):   # what is on, without ethtool's notes on what was requested
            out = subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-k", dev], capture_output=True,
                                 text=True, check=True).stdout
            return re.sub(r" \[.*?\]", "", out.split("\n", 1)[1])

        assert "tx-checksumming: on" in features("va")
        A.TxChecksumOff.apply_batch([A.TxChecksumOff(netns=ns, device="va", label="h1:eth0 -> sw")], None)
        subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", "wa", "tx", "off"], capture_output=True)
        assert "tx-checksumming: off" in features("va") and features("va") == features("wa")
        with pytest.raises(DeployError, match=r"ethtool -K nosuch tx off in emu-txcsum\d+ \(h2:eth0 -> sw\): No such device"):
            A.TxChecksumOff.apply_batch([A.TxChecksumOff(netns=ns, device="nosuch", label="h2:eth0 -> sw")], None)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
