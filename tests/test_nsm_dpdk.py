"""Integration: network service chains with DPDK endpoints, deployed with real testpmd processes.

topologies/nsm-dpdk.yaml: a kernel client pings through a testpmd io forwarder (af_packet on its
veth, memif onward) to a testpmd icmpecho endpoint; a DPDK sender pushes bursts through a memif
relay to a sink. The chains come from NSM selection; nothing in the topology names a link.
"""
import os
import re

import pytest

from emulator import lab as api
from emulator.deploy import state
from emulator.backends.dpdk.steps import DpdkTraffic
from emulator.backends.nsm.step import NsmChain

from test_ovs_dpdk import assert_nothing_left, ctx_for, needs_dpdk, nr_hugepages

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host"), needs_dpdk]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_chains_through_dpdk_endpoints_carry_traffic_hop_by_hop(topo, lab_name, tmp_path):
    with open(os.path.join(ROOT, "topologies", "nsm-dpdk.yaml")) as f:
        text = re.sub(r"^name: .*$", "name: {lab}", f.read(), count=1, flags=re.M)
    nr0 = nr_hugepages()
    st = api.deploy(topo(text))
    try:
        kinds = {n: v["kind"] for n, v in st["nodes"].items()}
        assert kinds == {"client": "nsc", "fwd": "dpdk-app", "echo": "dpdk-app", "gen": "dpdk-app",
                         "relay": "dpdk-app", "sink": "dpdk-app"}, kinds
        ctx = ctx_for(lab_name, tmp_path)
        # kernel -> testpmd io (af_packet in, memif out) -> icmpecho: each hop's counters moved
        m = NsmChain().run(ctx, {"client": "client", "count": 10, "interval": 0.05}).measurements
        assert m["received"] == m["sent"] == 10, m
        assert m["in_order"] and m["crossed"] == 2 and m["path"] == "client -> fwd -> echo", m
        # txonly -> io -> rxonly over two memif links: exactly what was sent arrives
        m = DpdkTraffic().run(ctx, {"sender": "gen", "receiver": "sink", "via": ["relay"],
                                    "bursts": 4}).measurements
        assert m["sent"] == m["received"] == 128, m
    finally:
        api.destroy(lab_name)
    assert not os.path.exists(state.lab_dir(lab_name))
    assert_nothing_left(lab_name, ["fwd", "echo", "gen", "relay", "sink"], nr0)
