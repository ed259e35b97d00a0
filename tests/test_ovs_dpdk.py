"""Integration tests (root): the real OVS-DPDK and real testpmd, packets through vhost-user and memif.

They keep runs short and cores few: every DPDK thread busy-polls, and this may be a 2-CPU machine.
"""
import os
import re
import subprocess
import sys

import pytest

from emulator.backends.dpdk import hugepages
from emulator.deploy import state
from emulator import lab as api
from emulator.backends.dpdk.testpmd import file_prefix
from emulator.backends.dpdk.steps import DpdkLatency, DpdkTraffic
from emulator.errors import EnvironmentProblem
from emulator.scenario.steps import RunContext

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]

HAVE = os.path.exists("/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk") and \
    subprocess.run(["sh", "-c", "command -v dpdk-testpmd"], capture_output=True).returncode == 0
needs_dpdk = pytest.mark.skipif(not HAVE, reason="openvswitch-switch-dpdk / dpdk-dev not installed (make system)")


@pytest.fixture(autouse=True)
def enough_hugepages():
    """The tests reserve what they need through the topology (hugepages: reserve:)."""
    yield


def lab_processes(lab: str) -> list[str]:
    """Live (not zombie) processes whose command line names the lab's run directory."""
    out = []
    needle = state.lab_dir(lab) + "/"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().split(") ", 1)[1][:1]
        except OSError:
            continue
        if needle in cmd and st != "Z":
            out.append(f"{pid}: {cmd[:120]}")
    return out


def nr_hugepages() -> int:
    with open(hugepages.NR_HUGEPAGES) as f:
        return int(f.read())


def assert_nothing_left(lab: str, nodes: list[str], nr_before: int):
    assert lab_processes(lab) == [], "OVS or testpmd processes left behind"
    # the pages the lab's `reserve:` added to the pool were given back, and only those
    assert nr_hugepages() == nr_before
    assert not os.path.exists(state.lab_dir(lab)), "lab directory (sockets, OVS db) left behind"
    assert not os.path.ismount(hugepages.lab_mount(state.lab_dir(lab)))
    for n in nodes + ["ovs"]:
        assert not os.path.exists(hugepages.runtime_dir(file_prefix(lab, n))), f"DPDK runtime dir of {n}"
    # the lab's hugepage files lived only in its own hugetlbfs (unmounted above); no process of the
    # lab maps any (free-page totals are host-wide, other labs and reservations move them)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                maps = open(f"/proc/{pid}/maps").read()
            except OSError:
                continue
            assert hugepages.lab_mount(state.lab_dir(lab)) not in maps, f"pid {pid} maps the lab's hugepages"
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "ovs-netdev" not in links and "tap" not in links


def ctx_for(lab, tmp_path):
    return RunContext(lab=lab, state=state.read_state(lab), artifacts_dir=str(tmp_path / "art"))


OVS_PAIR = """
name: {lab}
hugepages: {reserve: 320}
nodes:
  tx: {kind: dpdk-app, mode: txonly, cores: [0], memory: 128}
  rx: {kind: dpdk-app, mode: rxonly, cores: [0], memory: 128}
  sw: {kind: ovs-dpdk, pmd_cores: [1], socket_mem: 256,
       flows: ["in_port=1,actions=output:2", "in_port=2,actions=output:1"]}
links:
  - {endpoints: [tx, sw], type: vhost-user}
  - {endpoints: [rx, sw], type: vhost-user}
"""


@needs_dpdk
def test_vhost_user_through_ovs_dpdk_delivers_every_packet_and_destroy_leaves_nothing(topo, lab_name, tmp_path):
    nr0 = nr_hugepages()
    st = api.deploy(topo(OVS_PAIR))
    try:
        run = os.path.join(state.lab_dir(lab_name), "ovs")
        assert os.path.exists(os.path.join(run, "db.sock")) and len(lab_processes(lab_name)) == 4
        # OVS lives in the lab's fabric namespace, not in the root one
        vsctl = ["ovs-vsctl", f"--db=unix:{run}/db.sock"]
        ports = subprocess.run(vsctl + ["list-ports", "sw"], capture_output=True, text=True).stdout.split()
        assert ports == ["sw-eth1", "sw-eth2"]
        assert "emu-" in subprocess.run(["ip", "netns", "identify",
                                         open(f"{run}/ovs-vswitchd.pid").read().strip()],
                                        capture_output=True, text=True).stdout
        ctx = ctx_for(lab_name, tmp_path)
        # exactly 4 bursts of 32: every one arrives (received == sent)
        m = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "bursts": 4, "size": 64}).measurements
        assert m["sent"] == 128 and m["received"] == 128 and m["loss_pct"] == 0
        dump = subprocess.run(["ovs-ofctl", "dump-ports", f"unix:{run}/sw.mgmt", "1"],
                              capture_output=True, text=True).stdout
        assert int(re.search(r"rx pkts=(\d+)", dump).group(1)) >= 128, dump
        # a timed run at full speed: packets flow; what arrives was sent
        # inspect's live view knows the ports no kernel device backs: both ends up, counters moving
        live = api.live_interfaces(state.read_state(lab_name))
        assert live["tx:eth0"]["up"] and live["sw:eth1"]["up"] and live["rx:eth0"]["up"], live
        assert live["tx:eth0"]["stats"]["tx_packets"] >= 128 and live["rx:eth0"]["stats"]["rx_packets"] >= 128
        r = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "duration": 1, "size": 128})
        m = r.measurements
        assert 0 < m["received"] <= m["sent"] and m["mpps"] > 0 and m["gbps"] > 0
        assert len(r.series["rx_mpps"]) == 1
    finally:
        api.destroy(lab_name)
    assert_nothing_left(lab_name, ["tx", "rx"], nr0)


MEMIF = """
name: {lab}
hugepages: {reserve: 320}
nodes:
  tx: {kind: dpdk-app, mode: txonly, cores: [0], memory: 64}
  fwd: {kind: dpdk-app, mode: io, autostart: false, cores: [1], memory: 64}
  rx: {kind: dpdk-app, mode: rxonly, cores: [1], memory: 64}
  tx2: {kind: dpdk-app, mode: txonly, cores: [0], memory: 64}
  rx2: {kind: dpdk-app, mode: rxonly, cores: [1], memory: 64}
  tx3: {kind: dpdk-app, mode: txonly, cores: [0], memory: 64}
  rx3: {kind: dpdk-app, mode: rxonly, cores: [1], memory: 64}
links:
  - {endpoints: [fwd, tx], type: memif}
  - {endpoints: [fwd, rx], type: memif}
  - {endpoints: [rx2, tx2], type: memif}
  - [tx3, rx3]                                  # a veth: net_af_packet on both ends
"""


@needs_dpdk
def test_memif_direct_and_through_a_testpmd_io_forwarder(topo, lab_name, tmp_path):
    nr0 = nr_hugepages()
    api.deploy(topo(MEMIF))
    try:
        ctx = ctx_for(lab_name, tmp_path)
        m = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "via": ["fwd"], "bursts": 8}).measurements
        assert m["sent"] == 256 and m["received"] == 256
        # memif back-pressures the sender: at full speed nothing is lost on a direct link
        m = DpdkTraffic().run(ctx, {"sender": "tx2", "receiver": "rx2", "duration": 1}).measurements
        assert m["received"] > 0 and m["loss_pct"] < 1.0, m
        # the sender went back to its own mode and the pair still works (no reconnect needed)
        m = DpdkTraffic().run(ctx, {"sender": "tx2", "receiver": "rx2", "bursts": 2}).measurements
        assert m["sent"] == m["received"] == 64
        # flowgen over af_packet on a veth: the kernel carries it
        m = DpdkTraffic().run(ctx, {"sender": "tx3", "receiver": "rx3", "bursts": 3, "mode": "flowgen"}).measurements
        assert m["sent"] == m["received"] == 96
        m = DpdkTraffic().run(ctx, {"sender": "tx3", "receiver": "rx3", "duration": 1, "mode": "flowgen",
                                    "size": 256}).measurements
        assert 0 < m["received"] <= m["sent"], m
    finally:
        api.destroy(lab_name)
    assert_nothing_left(lab_name, ["tx", "fwd", "rx", "tx2", "rx2", "tx3", "rx3"], nr0)


KERNEL = """
name: {lab}
hugepages: {reserve: 320}
nodes:
  kbr: {kind: ovs-dpdk, socket_mem: 256, pmd_cores: [1]}
  client: {kind: host, ip: [10.20.0.1/24]}
  echo: {kind: dpdk-app, mode: icmpecho, cores: [1], memory: 64, ip: [10.20.0.2/24]}
  lb: {kind: ovs}
  h1: {kind: host, ip: [10.30.0.1/24]}
  h2: {kind: host, ip: [10.30.0.2/24]}
links:
  - [client, kbr]
  - {endpoints: [echo, kbr], type: vhost-user}
  - [h1, lb]
  - [h2, lb]
"""


@needs_dpdk
def test_kernel_node_pings_icmpecho_through_ovs_dpdk_and_hosts_talk_over_plain_ovs(topo, lab_name, tmp_path):
    nr0 = nr_hugepages()
    api.deploy(topo(KERNEL))
    try:
        assert api.ping(lab_name, "h1", "10.30.0.2", count=2)
        ctx = ctx_for(lab_name, tmp_path)
        r = DpdkLatency().run(ctx, {"from": "client", "to": "echo", "count": 20, "interval": 0.01})
        m = r.measurements
        assert m["sent"] == 20 and m["received"] >= 19, m
        assert 0 < m["rtt_min_us"] <= m["rtt_p50_us"] <= m["rtt_p99_us"] <= m["rtt_max_us"]
        assert len(r.series["rtt_us"]) == m["received"]
    finally:
        api.destroy(lab_name)
    assert_nothing_left(lab_name, ["echo"], nr0)


def test_hugepage_shortage_is_exit_3_and_creates_nothing(topo, lab_name):
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: dpdk-app, memory: 65536}
          b: {kind: dpdk-app, memory: 65536}
        links: [{endpoints: [a, b], type: memif}]
    """)
    with pytest.raises(EnvironmentProblem, match="needs 65568 hugepages"):  # 2 x (65536 + 32) MB / 2 MB
        api.deploy(path)
    r = subprocess.run([sys.executable, "-m", "emulator", "deploy", path], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 3, r.stderr
    assert "hugepages" in r.stderr and "nr_hugepages" in r.stderr and "Traceback" not in r.stderr
    mine = [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
            if n == f"emu-{lab_name}" or n.startswith(f"emu-{lab_name}.")]
    assert mine == [] and lab_name not in state.list_labs()


def test_reserve_raises_the_pool_until_enough_pages_are_free():
    nr = int(open(hugepages.NR_HUGEPAGES).read())
    info = hugepages.meminfo()
    want = info["free"] - info["reserved"] + 2
    try:
        got = hugepages.check(2, reserve=want, what="test")
        assert got["free"] - got["reserved"] >= want
        assert int(open(hugepages.NR_HUGEPAGES).read()) == nr + 2
    finally:
        with open(hugepages.NR_HUGEPAGES, "w") as f:
            f.write(str(nr))


@needs_dpdk
def test_sigkilled_deploy_with_ovs_and_testpmd_running_is_fully_destroyed(topo, lab_name):
    import signal
    import time
    nr0 = nr_hugepages()
    path = topo(OVS_PAIR)
    p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    log = os.path.join(state.lab_dir(lab_name), "logs", "tx.testpmd.log")
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not os.path.exists(log):   # OVS is up, testpmd is starting
            time.sleep(0.01)
        assert os.path.exists(log), "deploy never started testpmd"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    time.sleep(0.5)   # testpmd, orphaned, finishes starting
    assert lab_processes(lab_name), "the killed deploy left no process to clean (test is moot)"
    r = subprocess.run([sys.executable, "-m", "emulator", "destroy", lab_name], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert_nothing_left(lab_name, ["tx", "rx"], nr0)


@pytest.fixture
def user_ovs(tmp_path):
    """A running OVS-DPDK that is not the lab's (as a user's would be), in a scratch namespace."""
    import uuid
    run = tmp_path / "userovs"
    run.mkdir()
    ns = f"userovs-{uuid.uuid4().hex[:8]}"
    huge = run / "huge"
    huge.mkdir()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["mount", "-t", "hugetlbfs", "nodev", str(huge)], check=True)
    env = {**os.environ, "OVS_RUNDIR": str(run)}
    db = f"unix:{run}/db.sock"
    nr0 = nr_hugepages()
    try:
        hugepages.check(256, reserve=160)
        subprocess.run(["ovsdb-tool", "create", f"{run}/conf.db", "/usr/share/openvswitch/vswitch.ovsschema"],
                       check=True)
        subprocess.run(["ip", "netns", "exec", ns, "ovsdb-server", f"{run}/conf.db", f"--remote=punix:{run}/db.sock",
                        f"--pidfile={run}/db.pid", f"--unixctl={run}/db.ctl", "--detach", "--no-chdir",
                        f"--log-file={run}/db.log", "-vconsole:off"], check=True, env=env)
        subprocess.run(["ovs-vsctl", f"--db={db}", "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
                        "other_config:dpdk-init=true", "other_config:dpdk-socket-mem=256",
                        "other_config:pmd-cpu-mask=0x2",
                        f'other_config:dpdk-extra="--file-prefix={ns} --no-pci --huge-dir={huge}"'], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk", db,
                        f"--pidfile={run}/vs.pid", f"--unixctl={run}/vs.ctl", "--detach", "--no-chdir",
                        f"--log-file={run}/vs.log", "-vconsole:off"], check=True, env=env, timeout=60)
        subprocess.run(["ovs-vsctl", f"--db={db}", "add-br", "users-br", "--", "set", "bridge", "users-br",
                        "datapath_type=netdev"], check=True, timeout=30)
        yield db, run
    finally:
        for pidfile in ("vs.pid", "db.pid"):
            try:
                os.kill(int(open(run / pidfile).read()), 9)
            except (OSError, ValueError):
                pass
        import time
        time.sleep(0.5)
        subprocess.run(["ip", "netns", "del", ns])
        subprocess.run(["umount", str(huge)])
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{ns}"])
        with open(hugepages.NR_HUGEPAGES, "w") as f:   # the pages this "user" reserved
            f.write(str(nr0))


@needs_dpdk
def test_external_ovs_gets_only_tagged_bridges_and_keeps_its_own(topo, lab_name, tmp_path, user_ovs):
    db, run = user_ovs
    text = OVS_PAIR.replace("hugepages: {reserve: 320}", f'hugepages: {{reserve: 320}}\novs: {{db: "{db}"}}')
    api.deploy(topo(text))
    try:
        assert not os.path.exists(os.path.join(state.lab_dir(lab_name), "ovs")), "started its own OVS"
        brs = subprocess.run(["ovs-vsctl", f"--db={db}", "list-br"], capture_output=True, text=True).stdout.split()
        assert sorted(brs) == ["sw", "users-br"]
        tag = subprocess.run(["ovs-vsctl", f"--db={db}", "get", "bridge", "sw", "external_ids:emulator-lab"],
                             capture_output=True, text=True).stdout.strip().strip('"')
        assert tag == lab_name
        m = DpdkTraffic().run(ctx_for(lab_name, tmp_path),
                              {"sender": "tx", "receiver": "rx", "bursts": 2}).measurements
        assert m["sent"] == m["received"] == 64
    finally:
        api.destroy(lab_name)
    brs = subprocess.run(["ovs-vsctl", f"--db={db}", "list-br"], capture_output=True, text=True).stdout.split()
    assert brs == ["users-br"], "destroy must remove its bridge and only its bridge"


def test_plain_ovs_switches_kernel_hosts_with_tcp_working_and_no_dpdk(topo, lab_name, tmp_path):
    from emulator.scenario.steps import Iperf3
    nr0 = nr_hugepages()
    api.deploy(topo("""
        name: {lab}
        nodes:
          sw: {kind: ovs, internal: {gw: {ip: [10.40.0.254/24]}}}
          h1: {kind: host, ip: [10.40.0.1/24]}
          h2: {kind: host, ip: [10.40.0.2/24]}
        links: [[h1, sw], [h2, sw]]
    """))
    try:
        procs = lab_processes(lab_name)
        assert any("/usr/lib/openvswitch-switch/ovs-vswitchd " in p for p in procs), procs
        assert not os.path.exists(hugepages.lab_mount(state.lab_dir(lab_name))), "no DPDK: no hugepages"
        assert api.ping(lab_name, "h1", "10.40.0.2", count=2)
        assert api.ping(lab_name, "h1", "10.40.0.254", count=1), "the bridge's internal port answers"
        # TCP through the userspace datapath needs the hosts' tx checksum offload off (done at deploy)
        m = Iperf3().run(ctx_for(lab_name, tmp_path), {"client": "h1", "server": "h2", "duration": 1}).measurements
        assert m["throughput_bps"] > 10e6, m
    finally:
        api.destroy(lab_name)
    assert_nothing_left(lab_name, [], nr0)


@needs_dpdk
def test_testpmd_that_fails_to_start_rolls_the_whole_lab_back(topo, lab_name):
    from emulator.errors import DeployError
    nr0 = nr_hugepages()
    path = topo(OVS_PAIR.replace("memory: 128}\n  rx:", 'memory: 128, args: ["--no-such-option"]}\n  rx:'))
    with pytest.raises(DeployError) as e:
        api.deploy(path)
    assert "dpdk-app tx: dpdk-testpmd exited" in str(e.value) and "no-such-option" in str(e.value)
    assert lab_name not in state.list_labs()
    assert_nothing_left(lab_name, ["tx", "rx"], nr0)


@needs_dpdk
def test_testpmd_of_a_node_answers_through_its_fifo_from_the_command_line(topo, lab_name):
    api.deploy(topo(MEMIF))
    try:
        r = subprocess.run([sys.executable, "-m", "emulator.backends.dpdk", lab_name, "rx2", "show port info 0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "net_memif" in r.stdout and "role=server" in r.stdout, r.stdout + r.stderr
        r = subprocess.run([sys.executable, "-m", "emulator.backends.dpdk", lab_name, "nope", "start"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "not a running dpdk-app" in r.stderr
    finally:
        api.destroy(lab_name)


PACED = """
name: {lab}
hugepages: {reserve: 200}
nodes:
  tx: {kind: dpdk-app, mode: txonly, cores: [0], memory: 64}
  rx: {kind: dpdk-app, mode: rxonly, cores: [1], memory: 64}
links:
  - {endpoints: [rx, tx], type: memif}
"""


@needs_dpdk
def test_paced_sender_offers_the_requested_rate_and_says_when_it_cannot(topo, lab_name, tmp_path):
    nr0 = nr_hugepages()
    api.deploy(topo(PACED))
    try:
        ctx = ctx_for(lab_name, tmp_path)
        r = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "rate": "20k", "duration": 2})
        m = r.measurements
        assert m["rate_pps"] == 20000 and m["paced"], m
        assert 15000 <= m["offered_pps"] <= 25000, m            # within 25 % of the requested rate
        assert m["sent"] > 0 and m["received"] >= 0.99 * m["sent"] and m["received"] <= m["sent"], m
        assert m["rate_reached"] == (m["offered_pps"] >= 18000) and m["pace_ticks"] > 10
        assert r.series["tx_mpps"] and all(0.005 < x < 0.04 for x in r.series["tx_mpps"]), r.series
        # far beyond what ticks of tx_first can pace here: said so, and measured flat out instead
        r = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "rate": "500M", "duration": 1})
        m = r.measurements
        assert m["rate_pps"] == 500 * 10 ** 6 and not m["paced"] and m["rate_reached"] is False, m
        assert "could not be reached" in m["rate_note"] and "could not be reached" in r.summary
        assert m["received"] > 0 and m["offered_pps"] == round(m["sent"] / m["duration_s"], 1) or \
            abs(m["offered_pps"] - m["sent"] / m["duration_s"]) < 0.01 * m["offered_pps"], m
        # the node is back in its own mode, and an unpaced burst count still matches exactly
        m = DpdkTraffic().run(ctx, {"sender": "tx", "receiver": "rx", "bursts": 2}).measurements
        assert m["sent"] == m["received"] == 64 and "rate_pps" not in m
    finally:
        api.destroy(lab_name)
    assert_nothing_left(lab_name, ["tx", "rx"], nr0)
