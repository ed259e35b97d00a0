"""Link ends as a driver protocol (core/driver.py: EndSpec, Driver.link_ends / link_end /
dpdk_memory; core/linktypes.py: role_pairs, roles): a kind from a backend of its own joins the
dpdk backend's memif and vhost-user links, counts in the lab's hugepages and is an OVS peer by
what its driver declares, with no edit to the dpdk or ovs backend."""
import textwrap

import pytest

from emulator import backends, lab, registry
from emulator.backends.dpdk import hugepages
from emulator.backends.dpdk.testpmd import StartDpdkApps, start_waves
from emulator.deploy import actions as A
from emulator.core import linktypes
from emulator.core.driver import FRAME_END, DpdkMemory, Driver, EndSpec
from emulator.core.loader import load_text
from emulator.core.model import node_netns
from emulator.errors import TopologyError


class ToyDriver(Driver):
    """A user-space data plane (think of a VPP or a Snabb) that takes memif either side, a
    vhost-user backend end, and veths it reads as frames; its process takes 64 MB of hugepages."""
    kind = "toy"
    summary = "a test kind registered by a backend of its own"
    lab_resources = ("hugepages",)
    link_ends = {"veth": FRAME_END, "memif": EndSpec(roles=("server", "client")),
                 "vhost-user": EndSpec(roles=("vhost",))}

    def netns(self, lab, node):
        return node_netns(lab.name, node)

    def port(self, lab, node, iface):
        iface.device, iface.netns = iface.name, node.netns
        return []

    def dpdk_memory(self, lab, node):
        return DpdkMemory(process=f"toy-{node.name}", mb=64, headroom_mb=8)


def register_toy(regs) -> None:   # what a backend's register() would do
    regs.kinds.register(ToyDriver())


@pytest.fixture
def regs():
    r = backends.load(registry.Registries(), ("host", "bridge", "dpdk", "ovs"))
    register_toy(r)
    with registry.use(r):
        yield r


def compile_text(text):
    return lab.compile(load_text(textwrap.dedent(text), "test.yaml"), check_host=False)


def apps(c):
    return {a.node: a for a in c.actions if isinstance(a, StartDpdkApps)}


def test_a_new_kind_that_declares_a_memif_end_links_by_memif_to_a_dpdk_app_either_side(regs):
    c = compile_text("""
        name: toy
        nodes:
          t: {kind: toy}
          app: {kind: dpdk-app, memory: 128}
          srv: {kind: dpdk-app}
        links:
          - {endpoints: [t, app], type: memif}      # the toy serves, the app is the client
          - {endpoints: [srv, t], type: memif}      # the app serves, the toy is the client
        """)
    a = apps(c)
    assert [ln.type for ln in c.lab.links] == ["memif", "memif"]
    assert linktypes.roles(c.lab, c.lab.links[0]) == ("server", "client")
    sock0, sock1 = (f"/run/emulator/toy/sock/L{i}.sock" for i in (0, 1))
    assert f"--vdev=net_memif0,role=client,id=0,socket={sock0},socket-abstract=no" in a["app"].argv
    assert f"--vdev=net_memif0,role=server,id=0,socket={sock1},socket-abstract=no" in a["srv"].argv
    # testpmd's client never reconnects: it starts after its server, whatever kind serves
    assert a["app"].after == ["t"] and a["srv"].after == []
    assert [[x.node for x in w] for w in start_waves(list(a.values()))] == [["app", "srv"]]
    # the toy's process counts in the lab's hugepages, beside the apps (with their headroom)
    hp = [x for x in c.actions if isinstance(x, hugepages.PrepareHugepages)]
    assert len(hp) == 1 and hp[0].need_mb == (128 + 32) + (256 + 32) + (64 + 8)
    assert hp[0].users == "toy-t 64+8 MB, app 128+32 MB, srv 256+32 MB"


def test_vhost_user_roles_come_from_the_ends_declarations_whatever_the_endpoint_order(regs):
    c = compile_text("""
        name: vh
        nodes:
          t: {kind: toy}
          a: {kind: dpdk-app}
          b: {kind: dpdk-app}
        links:
          - {endpoints: [t, a], type: vhost-user}   # the toy is only a vhost end: the app is virtio
          - {endpoints: [a, b], type: vhost-user}   # two apps: the first endpoint is virtio
        """)
    assert [linktypes.roles(c.lab, ln) for ln in c.lab.links] == [("vhost", "virtio"), ("virtio", "vhost")]
    argv = " ".join(apps(c)["a"].argv)
    assert "--vdev=net_virtio_user0,path=/run/emulator/vh/sock/L0.sock,server=1" in argv
    assert "--vdev=net_virtio_user1,path=/run/emulator/vh/sock/L1.sock,server=1" in argv
    assert "--vdev=net_vhost0,iface=/run/emulator/vh/sock/L1.sock,client=1" in " ".join(apps(c)["b"].argv)


def test_a_kind_that_declares_no_memif_end_is_refused_naming_the_kinds_that_do(regs):
    with pytest.raises(TopologyError) as e:
        compile_text("""
            name: nm
            nodes:
              t: {kind: toy}
              h: {kind: host}
            links:
              - {endpoints: [t, h], type: memif}
            """)
    msg = str(e.value)
    assert "test.yaml:7:" in msg and "links[0].type" in msg
    assert ("a memif link joins a server end (dpdk-app, toy) and a client end (dpdk-app, toy); "
            "this one joins toy 't' and host 'h'") in msg
    # two toys: both declare vhost only, and a vhost-user link needs a virtio end
    with pytest.raises(TopologyError) as e:
        compile_text("""
            name: nv
            nodes:
              t1: {kind: toy}
              t2: {kind: toy}
            links:
              - {endpoints: [t1, t2], type: vhost-user}
            """)
    assert "a virtio end (dpdk-app) and a vhost end (dpdk-app, ovs-dpdk, toy)" in str(e.value)


def test_ovs_turns_tx_checksums_off_on_the_peers_that_declare_offloading_kernel_ends(regs):
    c = compile_text("""
        name: ck
        nodes:
          sw: {kind: ovs, datapath: netdev}
          t: {kind: toy}
          h: {kind: host}
          br: {kind: bridge}
        links: [[t, sw], [h, sw], [br, sw]]
        """)
    off = sorted(a.label for a in c.actions if isinstance(a, A.TxChecksumOff))
    assert off == ["h:eth0 -> sw"]   # the toy and the bridge pass frames; the host's stack offloads
