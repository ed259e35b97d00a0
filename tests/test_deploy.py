"""Integration tests: real namespaces, veths and bridges, as root."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from emulator import lab as api
from emulator.deploy import state
from emulator.errors import DeployError, LabError, TopologyError
from emulator.deploy.kernel import netns
from emulator.core.model import lab_tag
from conftest import LAN, addr, wait_listening

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]

CHAIN = """
name: {lab}
nodes:
  client: {kind: host, ip: [10.100.1.1/24], routes: [{to: 10.100.2.0/24, via: 10.100.1.2}]}
  fw:
    kind: router
    interfaces:
      eth0: {ip: [10.100.1.2/24]}
      eth1: {ip: [10.100.2.1/24]}
    exec: ["iptables -A FORWARD -p icmp -j ACCEPT"]
  server: {kind: host, ip: [10.100.2.2/24], routes: [{to: default, via: fw}]}
links:
  - [client:eth0, fw:eth0]
  - [fw:eth1, server:eth0]
"""


def run_cli(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_routed_chain_pings_end_to_end_and_destroys_cleanly(topo, lab_name):
    st = api.deploy(topo(CHAIN))
    try:
        assert st["status"] == "running"
        for node in ("client", "fw", "server"):
            assert netns.exists(st["nodes"][node]["netns"])
        assert api.ping(lab_name, "client", "10.100.2.2", count=2)
        # the router forwards, the startup command ran in the router's namespace
        fwd = api.exec_in(lab_name, "fw", ["cat", "/proc/sys/net/ipv4/ip_forward"])
        assert fwd.stdout.strip() == "1"
        assert api.exec_in(lab_name, "client", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
        rules = api.exec_in(lab_name, "fw", ["iptables", "-S", "FORWARD"]).stdout
        assert "-p icmp -j ACCEPT" in rules
        # route via a node name resolved to the router's address on the shared subnet
        routes = api.exec_in(lab_name, "server", ["ip", "route"]).stdout
        assert "default via 10.100.2.1" in routes
        live = api.live_interfaces(st)
        assert live["client:eth0"]["up"] and live["fw:eth1"]["up"]
        assert live["client:eth0"]["stats"]["tx_packets"] > 0
    finally:
        api.destroy(lab_name)
    assert not netns.exists(st["nodes"]["client"]["netns"])
    assert lab_name not in state.list_labs()


def test_bridged_lan_gets_automatic_addresses_and_full_reachability(topo, lab_name):
    st = api.deploy(topo(LAN))
    try:
        ips = {n: addr(st, n) for n in "abc"}
        assert ips == {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3"}
        for src in "abc":
            for dst in "abc":
                if src != dst:
                    assert api.ping(lab_name, src, ips[dst]), f"{src} -> {dst}"
        # bridges live in the lab's fabric namespace, nothing in the root namespace
        links = subprocess.run(["ip", "-n", st["fabric"], "-br", "link"], capture_output=True, text=True).stdout
        assert "sw1" in links and "sw2" in links and "sw1-eth1" in links
    finally:
        api.destroy(lab_name)


def test_two_labs_with_the_same_shape_run_side_by_side(topo, lab_name):
    other = lab_name + "b"
    p1 = topo(CHAIN, "one.yaml")
    p2 = topo(CHAIN.replace("{lab}", other), "two.yaml")
    api.deploy(p1)
    try:
        api.deploy(p2)
        try:
            assert api.ping(lab_name, "client", "10.100.2.2")
            assert api.ping(other, "client", "10.100.2.2")
            api.destroy(lab_name)
            assert api.ping(other, "client", "10.100.2.2"), "destroying one lab broke the other"
        finally:
            api.destroy(other)
    finally:
        if lab_name in state.list_labs():
            api.destroy(lab_name)


def test_failed_startup_command_rolls_back_and_reports_it(topo, lab_name):
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host, exec: ["echo about to fail; exit 7"]}
          b: {kind: host}
        links: [[a, b]]
    """)
    with pytest.raises(DeployError) as e:
        api.deploy(path)
    assert "exit 7" in str(e.value) and "about to fail" in str(e.value)
    assert not netns.exists(f"emu-{lab_name}.a")
    assert lab_name not in state.list_labs()


def test_deploying_a_running_lab_again_is_refused_and_leaves_it_alone(topo, lab_name):
    path = topo(CHAIN)
    api.deploy(path)
    try:
        with pytest.raises(LabError, match="already deployed"):
            api.deploy(path)
        assert api.ping(lab_name, "client", "10.100.2.2")
    finally:
        api.destroy(lab_name)


def test_invalid_topology_creates_nothing(topo, lab_name):
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host}
        links: [[a, ghost]]
    """)
    r = run_cli("deploy", path)
    assert r.returncode == 2, r.stderr
    assert "ghost" in r.stderr and "topo.yaml:5" in r.stderr
    assert "Traceback" not in r.stderr
    ours = [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
            if n == f"emu-{lab_name}" or n.startswith(f"emu-{lab_name}.")]
    assert ours == [], "an invalid topology must create nothing"
    assert lab_name not in state.list_labs()


def _wait_for(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


SLOW = """
name: {lab}
nodes:
  sw: {kind: bridge}
  a: {kind: host, exec: ["touch %s; sleep 60"]}
  b: {kind: host}
links: [[a, sw], [b, sw]]
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_deploy_leaves_nothing_destroy_cannot_remove(topo, lab_name, tmp_path, sig):
    marker = tmp_path / "in-exec"
    path = topo(SLOW % marker)
    p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(marker.exists), "deploy never reached the startup command"
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if sig == signal.SIGKILL:
        # the namespaces are still there; the journal knows them
        assert netns.exists(f"emu-{lab_name}.a")
        assert [l["status"] for l in api.labs() if l["name"] == lab_name] == ["crashed"]
        r = run_cli("destroy", lab_name)
        assert r.returncode == 0, r.stderr
    else:
        assert p.returncode == 130, err
        assert "removed" in err
    assert not netns.exists(f"emu-{lab_name}.a")
    assert not netns.exists(f"emu-{lab_name}")
    assert lab_name not in state.list_labs()


def test_cleanup_removes_crashed_labs_and_tagged_orphans_but_not_foreign_namespaces(topo, lab_name):
    foreign = f"notemu-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        st = api.deploy(topo(LAN))
        # simulate a lost journal: the lab's namespaces are found by the tag on their loopback
        state.remove(lab_name)
        orphans = set(api.orphan_namespaces())
        assert {n["netns"] for n in st["nodes"].values()} <= orphans
        assert foreign not in orphans
        r = run_cli("cleanup")
        assert r.returncode == 0, r.stderr
        assert not any(netns.exists(n["netns"]) for n in st["nodes"].values())
        assert netns.exists(foreign), "cleanup touched a namespace it did not create"
    finally:
        subprocess.run(["ip", "netns", "del", foreign])


def test_namespaces_of_a_lab_that_exists_are_no_orphans_even_before_they_are_journaled(topo, lab_name):
    """A namespace is tagged before it is journaled: while a deploy runs, its journal does not know
    all of its namespaces yet, and a `cleanup` at that moment must not take them for orphans."""
    st = api.deploy(topo(LAN))
    try:
        journal = os.path.join(state.lab_dir(lab_name), "journal.jsonl")
        kept = [line for line in open(journal) if '"op":"netns"' not in line]
        with open(journal + ".all", "w") as f:
            f.write(open(journal).read())
        with open(journal, "w") as f:   # as if the deploy had not journaled them yet
            f.writelines(kept)
        mine = {n["netns"] for n in st["nodes"].values()}
        assert not mine & set(api.orphan_namespaces())
        r = run_cli("cleanup")
        assert r.returncode == 0, r.stderr
        assert all(netns.exists(n) for n in mine), "cleanup removed namespaces of a lab that exists"
        os.replace(journal + ".all", journal)
    finally:
        api.destroy(lab_name)
    assert not any(netns.exists(n) for n in mine)


def test_processes_started_in_nodes_are_stopped_by_destroy(topo, lab_name):
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host, exec: ["sleep 300 &"]}
          b: {kind: host}
        links: [[a, b]]
    """)
    st = api.deploy(path)
    ino = netns.inode(st["nodes"]["a"]["netns"])
    pids = netns.pids_by_netns({ino}).get(ino, [])
    assert pids, "the background sleep should be running in node a"
    api.destroy(lab_name)
    assert all(not os.path.exists(f"/proc/{p}") or open(f"/proc/{p}/stat").read().split()[2] == "Z"
               for p in pids)


def test_bandwidth_limit_is_applied_with_tbf(topo, lab_name):
    if subprocess.run(["which", "iperf3"], capture_output=True).returncode:
        pytest.fail("iperf3 is not installed (make setup installs it)")
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host, ip: [10.9.0.1/30], exec: ["iperf3 -s -D -1"]}
          b: {kind: host, ip: [10.9.0.2/30]}
        links:
          - {endpoints: [a, b], bandwidth: 20mbit}
    """)
    api.deploy(path)
    try:
        qd = api.exec_in(lab_name, "a", ["tc", "qdisc", "show", "dev", "eth0"]).stdout
        assert "tbf" in qd and "20Mbit" in qd
        wait_listening(lab_name, "a", 5201)
        r = api.exec_in(lab_name, "b", ["iperf3", "-c", "10.9.0.1", "-t", "2", "-J"], timeout=30)
        assert r.ok, r.stderr
        bps = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]
        assert 10e6 < bps < 22e6, f"measured {bps / 1e6:.1f} Mbit/s through a 20 Mbit/s link"
    finally:
        api.destroy(lab_name)


def test_delay_and_loss_need_netem_and_are_refused_or_applied(topo, lab_name):
    from emulator.deploy import capabilities
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host, ip: [10.9.0.1/30]}
          b: {kind: host, ip: [10.9.0.2/30]}
        links:
          - {endpoints: [a, b], delay: 20ms}
    """)
    ok, _why = capabilities.netem()
    if not ok:
        r = run_cli("deploy", path)
        assert r.returncode == 2
        assert "netem" in r.stderr and "topo.yaml:7" in r.stderr
        assert not netns.exists(f"emu-{lab_name}.a")
        with pytest.raises(TopologyError):
            api.compile(path)
    else:  # a kernel with sch_netem: the delay shows in the round trip (20 ms each way)
        api.deploy(path)
        try:
            out = api.exec_in(lab_name, "a", ["ping", "-c", "2", "10.9.0.2"]).stdout
            rtt = float(out.rsplit("=", 1)[1].split("/")[1])
            assert rtt >= 38, out
        finally:
            api.destroy(lab_name)


def test_linear_topology_via_cli_pings_across_the_chain(lab_name):
    r = run_cli("deploy", "--topo", "linear,30", "--name", lab_name, "--max-rows", "0")
    assert r.returncode == 0, r.stderr
    try:
        st = json.loads(run_cli("inspect", lab_name, "-f", "json").stdout)
        assert len(st["nodes"]) == 60 and len(st["links"]) == 59
        r = run_cli("exec", lab_name, "h1", "--", "ping", "-c1", "-W5", addr(st, "h30"))
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        r = run_cli("destroy", lab_name)
    assert r.returncode == 0, r.stderr


def test_cli_exit_codes_and_exec_passthrough(topo, lab_name):
    path = topo(CHAIN)
    assert run_cli("validate", path).returncode == 0
    r = run_cli("deploy", path)
    assert r.returncode == 0, r.stderr
    assert "10.100.1.1/24" in r.stdout
    try:
        assert run_cli("exec", lab_name, "client", "--", "sh", "-c", "exit 3").returncode == 3
        r = run_cli("exec", lab_name, "client", "--", "ip", "-br", "addr")
        assert "10.100.1.1/24" in r.stdout
        r = run_cli("exec", lab_name, "nobody", "--", "true")
        assert r.returncode == 1 and "no node 'nobody'" in r.stderr
        r = run_cli("inspect", lab_name)
        assert r.returncode == 0 and "client:eth0" in r.stdout
    finally:
        assert run_cli("destroy", path).returncode == 0  # destroy by topology file
    r = run_cli("destroy", lab_name)
    assert r.returncode == 1 and "no lab named" in r.stderr


def test_destroy_knows_its_namespaces_by_cookie_and_the_orphan_scan_reads_each_lo_alone(topo, lab_name, monkeypatch):
    # the tag check used to dump every link of every namespace (a linear,5000 fabric: 20,000
    # links parsed to find lo): the orphan scan asks for lo (index 1) alone, and destroy asks
    # netlink nothing (a request waits while the kernel frees another lab's namespaces: the
    # journal's cookies are compared instead)
    from emulator.deploy.kernel import netlink
    st = api.deploy(topo(LAN))
    asked = []
    get = netlink.Socket.get_links
    monkeypatch.setattr(netlink.Socket, "get_links", lambda s, i, *a: asked.append(list(i)) or get(s, i, *a))
    monkeypatch.setattr(netlink.Socket, "dump_links", lambda s, *a: pytest.fail("a dump to find lo"))
    mine = {n["netns"] for n in st["nodes"].values()} | {st["fabric"]}
    try:
        recs = [r for r in state.Journal(lab_name).records() if r["op"] == "netns"]
        assert {r["name"] for r in recs} == mine and all(type(r["cookie"]) is int for r in recs)
        assert len({r["cookie"] for r in recs}) == len(recs)
        assert not mine & set(api.orphan_namespaces())   # tagged, and their lab exists
        assert len(asked) >= len(mine) and all(i == [1] for i in asked)
        asked.clear()
        assert api.destroy(lab_name) == []
        assert asked == []
        assert not any(netns.exists(n) for n in mine)
    finally:
        monkeypatch.undo()
        if lab_name in state.list_labs():
            api.destroy(lab_name)


def test_destroy_leaves_a_namespace_carrying_the_labs_tag_that_is_not_the_one_it_made(topo, lab_name):
    """Named like the lab's and tagged with its tag, but another namespace than the journal's
    cookie says (a lab that was destroyed by hand and made again by someone else): left alone."""
    st = api.deploy(topo("""
        name: {lab}
        nodes: {a: {kind: host}, b: {kind: host}}
        links: [[a, b]]
    """))
    twin = f"emu-{lab_name}.twin"
    subprocess.run(["ip", "netns", "add", twin], check=True)
    try:
        subprocess.run(["ip", "-n", twin, "link", "set", "lo", "alias", lab_tag(lab_name)], check=True)
        recs = [r for r in state.Journal(lab_name).records() if r["op"] == "netns"]
        j = state.Journal(lab_name)
        j.append([{"op": "netns", "name": twin, "tag": lab_tag(lab_name), "cookie": recs[0]["cookie"]}])
        j.close()
        problems = api.destroy(lab_name)
        assert len(problems) == 1 and twin in problems[0] and "not the one this lab made" in problems[0], problems
        assert netns.exists(twin)
        assert not any(netns.exists(n["netns"]) for n in st["nodes"].values())
    finally:
        subprocess.run(["ip", "netns", "del", twin], capture_output=True)


def test_destroy_unmounts_what_is_left_mounted_inside_the_labs_own_directory(lab_name):
    """A deploy that died after mounting its hugetlbfs but before journaling it left a mount point in
    the lab's directory: destroy said "destroyed" and the lab stayed listed. What is mounted below the
    lab's own directory is the lab's by its path: it is detached, then the directory goes."""
    d = state.lab_dir(lab_name)
    os.makedirs(os.path.join(d, "hugepages"))
    subprocess.run(["mount", "-t", "tmpfs", "none", os.path.join(d, "hugepages")], check=True)
    try:
        api.destroy(lab_name)
        assert not os.path.exists(d) and lab_name not in state.list_labs()
        assert os.path.join(d, "hugepages") not in open("/proc/self/mountinfo").read()
    finally:
        subprocess.run(["umount", "-l", os.path.join(d, "hugepages")], capture_output=True)
        state.remove(lab_name)
