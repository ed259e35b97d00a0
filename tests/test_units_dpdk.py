"""Unit tests (no root) of OVS/OVS-DPDK and dpdk-app planning, validation and output parsing."""
import os

import pytest

from emulator.deploy import actions as A
from emulator.deploy import hostcmd
from emulator.backends.dpdk import hugepages
from emulator.backends.ovs import vswitch as O
from emulator.backends.dpdk.testpmd import StartDpdkApps, parse_forward_stats, parse_rates, start_waves
from emulator.errors import DeployError, EnvironmentProblem, TopologyError

from conftest import compile_text

OVS_PAIR = """
name: p
nodes:
  tx: {kind: dpdk-app, mode: txonly, cores: [0], memory: 64}
  rx: {kind: dpdk-app, mode: rxonly, memory: 64}
  sw: {kind: ovs-dpdk, socket_mem: 128, pmd_cores: [1], flows: ["in_port=1,actions=output:2"]}
  h: {kind: host}
  lb: {kind: ovs}
  h2: {kind: host}
links:
  - {endpoints: [tx, sw], type: vhost-user}
  - {endpoints: [rx, sw], type: vhost-user}
  - [h, lb]
  - [h2, lb]
"""


def by_type(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def test_ovs_dpdk_plan_starts_one_ovs_and_configures_ports_in_order():
    c = compile_text(OVS_PAIR)
    starts = by_type(c.actions, O.StartOvs)
    assert len(starts) == 1 and starts[0].dpdk and starts[0].netns == c.lab.fabric
    assert starts[0].socket_mem == 128 and starts[0].pmd_mask == "0x2"
    bridges = {b.bridge: b for b in by_type(c.actions, O.ConfigureBridge)}
    assert set(bridges) == {"sw", "lb"}
    sw = bridges["sw"]
    assert sw.datapath == "netdev" and sw.flows == ["in_port=1,actions=output:2"]
    assert [(p.name, p.ofport, p.type) for p in sw.ports] == [("sw-eth1", 1, "dpdkvhostuserclient"),
                                                             ("sw-eth2", 2, "dpdkvhostuserclient")]
    assert sw.ports[0].options["vhost-server-path"].endswith("/p/sock/L0.sock")
    args = sw.vsctl_args()
    assert "fail_mode=secure" in args and "external_ids:emulator-lab=p" in args
    # the plain ovs bridge: NORMAL (standalone), veth ports up before OVS opens them
    assert "fail_mode=standalone" in bridges["lb"].vsctl_args()
    assert [p.type for p in bridges["lb"].ports] == ["", ""]
    # userspace datapath: the hosts' ends compute their own checksums (TCP would break otherwise)
    if bridges["lb"].datapath == "netdev":
        offs = sorted((a.netns, a.device) for a in by_type(c.actions, A.TxChecksumOff))
        assert offs == [("emu-p.h", "eth0"), ("emu-p.h2", "eth0")]
    phases = {type(a).__name__: a.phase for a in c.actions}
    assert phases["PrepareHugepages"] < phases["CreateNetns"] < phases["StartOvs"] < phases["CreateVeth"]
    assert phases["ConfigureBridge"] > A.PORTS and phases["StartDpdkApps"] == A.EXEC


def test_ovs_bridges_of_a_lab_are_one_ovs_vsctl_transaction():
    c = compile_text(OVS_PAIR)
    bridges = by_type(c.actions, O.ConfigureBridge)
    hostcmd.dry_run = True
    try:
        with hostcmd.recording() as calls:
            O.ConfigureBridge.apply_batch(bridges, A.Context("emulator:p"))
    finally:
        hostcmd.dry_run = False
    adds = [c for c in calls if "add-br" in c]
    assert len(adds) == 1, calls
    assert adds[0].count("add-br") == 2 and adds[0].count("add-port") == 4
    flows = [c for c in calls if "ovs-ofctl" in c]
    assert len(flows) == 1 and flows[0][-1] == "-"   # flows of 'sw' from stdin; 'lb' has none


def test_dpdk_app_argv_per_link_type_and_each_memif_server_before_its_clients():
    c = compile_text("""
        name: m
        nodes:
          fwd: {kind: dpdk-app, mode: io, cores: [1], main_core: 0, memory: 96, burst: 64}
          a: {kind: dpdk-app, mode: txonly, size: 128}
          b: {kind: dpdk-app, mode: rxonly}
          k: {kind: host}
        links:
          - {endpoints: [fwd, a], type: memif}
          - {endpoints: [b, fwd], type: memif}
          - [b, k]
    """)
    apps = {a.node: a for a in by_type(c.actions, StartDpdkApps)}
    fwd = apps["fwd"]
    assert fwd.autostart and fwd.prefix == "emu-m.fwd"   # names.SEP: lab m node fwd, never lab m-fwd
    # fwd serves a and is a client of b: b, then fwd, then a (a memif client never retries)
    assert fwd.after == ["b"] and apps["a"].after == ["fwd"] and apps["b"].after == []
    assert [[x.node for x in w] for w in start_waves(list(apps.values()))] == [["b"], ["fwd"], ["a"]]
    argv = " ".join(fwd.argv)
    assert "--lcores 0@0,1@1" in argv and "-m 96" in argv and "--single-file-segments" in argv
    assert "--huge-dir=/run/emulator/m/hugepages" in argv and "--burst=64" in argv
    assert "net_memif0,role=server,id=0,socket=/run/emulator/m/sock/L0.sock,socket-abstract=no" in argv
    assert "net_memif1,role=client,id=0,socket=/run/emulator/m/sock/L1.sock" in argv
    assert not apps["a"].autostart and "--txpkts=128" in " ".join(apps["a"].argv)
    b = " ".join(apps["b"].argv)
    assert "net_memif0,role=server" in b and "net_af_packet1,iface=eth1" in b
    hp = by_type(c.actions, hugepages.PrepareHugepages)
    assert len(hp) == 1 and hp[0].need_mb == 96 + 256 + 256 + 3 * 32  # + headroom per app and hp[0].reserve is None


@pytest.mark.parametrize("text,where,what", [
    ("""
name: v
nodes:
  a: {kind: host}
  sw: {kind: ovs-dpdk}
links:
  - {endpoints: [a, sw], type: vhost-user}
""", "test.yaml:7:",
     "a vhost-user link joins a virtio end (dpdk-app) and a vhost end (dpdk-app, ovs-dpdk, vpp); this one joins host 'a'"),
    ("""
name: v
nodes:
  a: {kind: dpdk-app}
  sw: {kind: ovs-dpdk}
links:
  - {endpoints: [a, sw], type: memif}
""", "test.yaml:7:",
     "a memif link joins a server end (dpdk-app, vpp) and a client end (dpdk-app, vpp); this one joins dpdk-app 'a'"),
    ("""
name: v
nodes:
  a: {kind: dpdk-app}
  sw: {kind: ovs-dpdk}
links:
  - {endpoints: [a, sw], type: vhost-user, delay: 1ms}
""", "links[0].delay", "takes no delay"),
    ("""
name: v
nodes:
  a: {kind: dpdk-app, mode: warp}
  b: {kind: dpdk-app}
links:
  - {endpoints: [a, b], type: memif}
""", "nodes.a.mode", "is not one of"),
    ("""
name: v
nodes:
  a: {kind: dpdk-app, cores: [4096]}
  b: {kind: dpdk-app}
links:
  - {endpoints: [a, b], type: memif}
""", "nodes.a.cores", ""),
    ("""
name: v
nodes:
  sw: {kind: ovs, flows: ["in_port=1,output:2"]}
  a: {kind: host}
links: [[a, sw]]
""", "nodes.sw.flows[0]", "has no actions="),
    ("""
name: v
ovs: {db: "unix:/var/run/openvswitch/db.sock"}
nodes:
  sw: {kind: ovs}
  a: {kind: host}
links: [[a, sw]]
""", "test.yaml:7:", "is a veth, but with ovs: db:"),
    ("""
name: v
ovs: {db: "/var/run/openvswitch/db.sock"}
nodes:
  a: {kind: host}
""", "ovs.db", ""),
    ("""
name: v
nodes:
  sw: {kind: ovs, internal: {gw: {ip: [10.0.0.300/24]}, this-name-is-too-long: {}}}
""", "nodes.sw.internal.gw.ip[0]", "not an address"),
    ("""
name: v
nodes:
  sw: {kind: ovs, internal: {this-name-is-too-long: {}}}
""", "nodes.sw.internal.this-name-is-too-long", "not a valid device name"),
    ("""
name: v
hugepages: {reserve: 0}
nodes:
  a: {kind: host}
""", "hugepages.reserve", ""),
])
def test_bad_dpdk_topologies_get_located_errors(text, where, what):
    with pytest.raises(TopologyError) as e:
        compile_text(text)
    out = str(e.value)
    assert where in out and what in out, out


def test_cpu_that_does_not_exist_is_refused_at_resolve():
    import os
    n = os.cpu_count()
    with pytest.raises(TopologyError) as e:
        compile_text(f"""
            name: c
            nodes:
              a: {{kind: dpdk-app, cores: [0], main_core: {n}}}
              b: {{kind: dpdk-app}}
            links: [{{endpoints: [a, b], type: memif}}]
        """)
    assert f"CPU {n} does not exist here" in str(e.value) and "nodes.a.main_core" in str(e.value)


def test_hugepage_shortage_names_the_numbers_and_the_fix():
    info = hugepages.meminfo()
    with pytest.raises(EnvironmentProblem) as e:
        hugepages.check(10 ** 8, None, "lab 'x'")
    msg = str(e.value)
    need = hugepages.pages_for(10 ** 8, info["size_kb"])
    assert f"needs {need} hugepages" in msg and f"HugePages_Total {info['total']}" in msg
    assert "--hugepages" in msg and "nr_hugepages" in msg


ACC = """
  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 4240544        TX-dropped: 37812544      TX-total: 42053088
  ----------------------------------------------------------------------------

  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 4240544        TX-dropped: 37812544      TX-total: 42053088
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
"""
RATES = """
  ######################## NIC statistics for port 0  ########################
  RX-packets: 648064     RX-missed: 0          RX-bytes:  41476096
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:       647988          Rx-bps:    331770088
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
"""


def test_testpmd_output_parsers():
    s = parse_forward_stats(ACC)
    assert s == {"rx_packets": 0, "rx_dropped": 0, "rx_total": 0, "tx_packets": 4240544,
                 "tx_dropped": 37812544, "tx_total": 42053088}
    assert parse_forward_stats("nothing here") == {}
    assert parse_rates(RATES) == {0: {"rx_pps": 647988, "rx_bps": 331770088, "tx_pps": 0, "tx_bps": 0}}


def test_dpdk_steps_are_registered_and_check_their_arguments(tmp_path):
    from emulator.scenario import spec, steps
    assert {"dpdk_traffic", "dpdk_latency"} <= set(steps.names())
    p = tmp_path / "s.yaml"
    p.write_text("""
name: s
topology:
  name: s
  nodes:
    a: {kind: dpdk-app, mode: txonly}
    b: {kind: dpdk-app, mode: rxonly}
  links: [{endpoints: [a, b], type: memif}]
steps:
  - dpdk_traffic: {sender: a, receiver: b, rtae: 5}
  - dpdk_traffic: {sender: a, receiver: b}
    expect: {mpps: "> 1", jitter: "< 1"}
""")
    with pytest.raises(TopologyError) as e:
        spec.load(str(p))
    out = str(e.value)
    assert "s.yaml:10:" in out and "unknown field 'rtae'" in out and "did you mean 'rate'" in out
    assert "no metric 'jitter'" in out


def test_packet_rates_parse_with_si_suffixes():
    from emulator.backends.dpdk.steps import pps
    assert pps("20k") == 20000 and pps("1M") == 10 ** 6 and pps("1.5Mpps") == 1500000
    assert pps(" 100 kpps ") == 100000 and pps(20000) == 20000 and pps(2.5e4) == 25000 and pps("750") == 750
    for bad in ("0", "fast", "-5", "1e6", "10 mbit", 0, -1, True, "0.2", "2G"):
        with pytest.raises(ValueError):
            pps(bad)


@pytest.mark.parametrize("rate,ok,what", [
    ("100k", True, ""), (20000, True, ""), ('"1.5M"', True, ""), ("50kpps", True, ""),
    ("fast", False, "invalid value 'fast'"), ('"0"', False, "invalid value '0'"), ("-20k", False, "invalid value"),
    ("10mbit", False, "invalid value '10mbit'"), (0, False, "minimum of 0"), (-5, False, "minimum of 0"),
    ("[1]", False, "expected a string or a number"),
])
def test_dpdk_traffic_rate_is_checked_where_it_is_written(tmp_path, rate, ok, what):
    from emulator.scenario import spec
    p = tmp_path / "r.yaml"
    p.write_text(f"""
name: r
topology:
  name: r
  nodes:
    a: {{kind: dpdk-app, mode: txonly}}
    b: {{kind: dpdk-app, mode: rxonly}}
  links: [{{endpoints: [a, b], type: memif}}]
sweep:
  size: [64, 1500]
steps:
  - dpdk_traffic: {{sender: a, receiver: b, size: "${{size}}",
                   rate: {rate}}}
    expect: {{offered_pps: "> 1000", rate_reached: true}}
""")
    if ok:
        sc = spec.load(str(p))
        assert [pt.steps[0].args["rate"] for pt in sc.points] == [rate.strip('"') if isinstance(rate, str)
                                                                    else rate] * 2
        return
    with pytest.raises(TopologyError) as e:
        spec.load(str(p))
    out = str(e.value)
    assert "r.yaml:13:" in out and "rate" in out and what in out, out


def test_paced_rate_conflicts_are_step_errors_before_touching_testpmd():
    from emulator.backends.dpdk.steps import DpdkTraffic
    from emulator.scenario.steps import RunContext, StepError
    ctx = RunContext(lab="nolab", state={"nodes": {}}, artifacts_dir="/nonexistent")
    for args, msg in (({"rate": "5G"}, "out of range"), ({"rate": "10k", "bursts": 2}, "exclude each other"),
                      ({"rate": "10k", "mode": "flowgen"}, "flowgen cannot be paced")):
        with pytest.raises(StepError, match=msg):
            DpdkTraffic().run(ctx, {"sender": "a", "receiver": "b", **args})


def test_seed003_layout_and_plots_from_results(tmp_path):
    import json
    from emulator.backends.dpdk import plot
    runs = []
    for i, (size, burst) in enumerate([(64, 32), (1500, 32), (64, 256)]):
        runs.append({"id": f"r{i}", "params": {"size": size, "burst": burst}, "steps": [
            {"name": "memif direct", "type": "dpdk_traffic", "status": "passed",
             "measurements": {"mpps": 8.0 / (1 + i), "gbps": 4.0 * (1 + i), "received": 10, "size": size}},
            {"name": "ping", "type": "dpdk_latency", "status": "passed",
             "measurements": {"rtt_avg_us": 100.0 + size, "rtt_p99_us": 300.0 + size}},
            {"name": "broken", "type": "dpdk_traffic", "status": "error", "measurements": {}}]})
    (tmp_path / "results.json").write_text(json.dumps({"runs": runs}))
    written = plot.write(str(tmp_path))
    names = sorted(os.path.basename(p) for p in written)
    assert names == ["latency-burst-256.svg", "latency-burst-32.svg", "throughput-burst-256.svg",
                     "throughput-burst-32.svg"]
    m = json.loads((tmp_path / "seed003/burst-32/memif-direct/size-1500/measurements.json").read_text())
    assert m["mpps"] == 4.0 and m["gbps"] == 8.0
    svg = (tmp_path / "seed003/throughput-burst-32.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and ">1500<" in svg and "memif direct" in svg
    assert not (tmp_path / "seed003/burst-32/broken").exists()


def test_stop_and_rate_markers_wait_for_complete_blocks():
    import re
    from emulator.backends.dpdk.testpmd import RATES, STOPPED
    assert re.search(STOPPED, ACC) and re.search(STOPPED, "Packet forwarding not started\n")
    cut = ACC[:ACC.index("TX-packets: 4240544        TX-dropped: 37812544      TX-total: 42053088\n  ++")]
    assert not re.search(STOPPED, cut + "TX-packets: 42"), "half a block is not a finished stop"
    assert re.search(RATES, RATES_SAMPLE) and not re.search(RATES, RATES_SAMPLE.split("Tx-pps")[0])


RATES_SAMPLE = RATES   # the sample text above (the function imports the regex under the same name)


def test_memif_links_that_wait_on_each_other_in_a_cycle_are_refused_before_anything_starts():
    with pytest.raises(TopologyError, match=r"links\[1\].endpoints: memif clients would wait for each other in a "
                                            r"circle: x -> y -> x"):
        compile_text("""
            name: cyc
            nodes: {x: {kind: dpdk-app}, y: {kind: dpdk-app}}
            links:
              - {endpoints: [x, y], type: memif}
              - {endpoints: [y, x], type: memif}
        """)
    # and should one get through, the start order refuses it before launching anything
    apps = [StartDpdkApps(lab="c", node="x", after=["y"]), StartDpdkApps(lab="c", node="y", after=["x"])]
    with pytest.raises(DeployError, match="cycle.*swap the endpoints"):
        start_waves(apps)


def test_vhost_user_between_two_dpdk_apps_is_virtio_on_the_first_end_and_a_reconnecting_vhost_on_the_second():
    c = compile_text("""
        name: vv
        nodes: {front: {kind: dpdk-app, mode: txonly}, back: {kind: dpdk-app, mode: rxonly}}
        links: [{endpoints: [front, back], type: vhost-user}]
    """)
    apps = {a.node: a for a in by_type(c.actions, StartDpdkApps)}
    assert "--vdev=net_virtio_user0,path=/run/emulator/vv/sock/L0.sock,server=1,queues=1,queue_size=1024" \
        in apps["front"].argv
    assert "--vdev=net_vhost0,iface=/run/emulator/vv/sock/L0.sock,client=1,queues=1" in apps["back"].argv
    assert apps["front"].after == apps["back"].after == []   # the vhost side retries: no start order
