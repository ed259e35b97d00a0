"""vpp nodes with real VPP processes (at most two at once, each polling with sleeps).

Where VPP comes from and when these tests skip: tests/vpp_helpers.py."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from emulator import lab as api
from emulator import names
from emulator.backends.vpp import config, find
from emulator.errors import DeployError
from conftest import wait_listening
from vpp_helpers import leftovers, vpp_marks, vpp_pids

pytestmark = vpp_marks()

ROUTER = """
name: {lab}
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: [10.0.1.2/24]}}, routes: [{to: default, via: 10.0.1.1}]}
  h2: {kind: host, interfaces: {eth0: {ip: [10.0.2.2/24]}}, routes: [{to: default, via: 10.0.2.1}]}
  r1:
    kind: vpp
    interfaces: {eth0: {ip: [10.0.1.1/24]}, eth1: {ip: [10.0.2.1/24]}}
    %s
links:
  - [h1:eth0, r1:eth0]
  - [h2:eth0, r1:eth1]
"""


def ping(lab, node, addr, n=3, interval="0.2"):
    r = api.exec_in(lab, node, ["ping", "-c", str(n), "-i", interval, "-W", "1", addr], timeout=30)
    return r.returncode, r.stdout


def test_router_forwards_over_af_packet_and_teardown_leaves_nothing(topo, lab_name):
    # decoys named like ours: another node's and another lab's API segment files stay
    decoys = ["/dev/shm/" + names.vpp_prefix(lab_name, "r10") + "-vpe-api",
              "/dev/shm/" + names.vpp_prefix(lab_name + "x", "r1") + "-vpe-api",
              "/dev/shm/" + names.vpp_prefix(lab_name, "r1") + "-vpe-api.keep"]
    for d in decoys:
        open(d, "w").close()
    try:
        _router_lab(topo, lab_name)
        assert all(os.path.exists(d) for d in decoys)
    finally:
        for d in decoys:
            os.unlink(d)


def _router_lab(topo, lab_name):
    st = api.deploy(topo(ROUTER % ""))
    try:
        assert vpp_pids(lab_name)
        rundir = config.run_dir(lab_name, "r1")
        for f in ("cli.sock", "api.sock", "stats.sock", "startup.conf", "setup.cli"):
            assert os.path.exists(os.path.join(rundir, f)), f
        ping(lab_name, "h1", "10.0.2.2", n=1)   # ARP
        rc, out = ping(lab_name, "h1", "10.0.2.2")
        assert rc == 0, out
        live = api.live_interfaces(api.get(lab_name))
        assert live["r1:eth0"]["kind"] == "vpp host-eth0" and live["r1:eth0"]["up"]
        assert live["r1:eth0"]["stats"]["rx_packets"] >= 3 and live["r1:eth1"]["stats"]["tx_packets"] >= 3
        # the node's own VPP answers `vppctl` run through exec, without -s
        r = subprocess.run([sys.executable, "-m", "emulator", "exec", lab_name, "r1", "--", "vppctl", "show", "int",
                            "addr"], capture_output=True, text=True, timeout=30)
        assert "10.0.1.1/24" in r.stdout, r.stdout + r.stderr
        # and from a shell in the node (as the web UI's console opens one): vppctl is the node's own
        r = subprocess.run([sys.executable, "-m", "emulator", "exec", lab_name, "r1", "--", "sh", "-c",
                            "vppctl show int addr"], capture_output=True, text=True, timeout=30)
        assert "10.0.2.1/24" in r.stdout, r.stdout + r.stderr
        assert st["nodes"]["r1"]["kind"] == "vpp"
        r = subprocess.run([sys.executable, "-m", "emulator", "inspect", lab_name], capture_output=True, text=True,
                           timeout=60)
        row = next(line for line in r.stdout.splitlines() if "r1:eth1" in line and "host-eth1" in line)
        assert "| up " in row, r.stdout
    finally:
        api.destroy(lab_name)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_counters_from_the_stats_segment_match_the_kernel_side(topo, lab_name):
    """After a ping, VPP's counters (read from its stats segment) moved as much as the veths' kernel
    ends sent and received; with the stats socket gone, VPP's CLI gives the same numbers."""
    api.deploy(topo(ROUTER % ""))
    rundir = config.run_dir(lab_name, "r1")
    hidden = os.path.join(rundir, "stats.sock.hidden")
    try:
        ping(lab_name, "h1", "10.0.2.2", n=1)   # ARP
        # (kernel h1:eth0 sends what VPP's host-eth0 receives; VPP's host-eth1 sends what h2:eth0 receives)
        pairs = [("h1:eth0", "tx", "r1:eth0", "rx"), ("h2:eth0", "rx", "r1:eth1", "tx"),
                 ("h2:eth0", "tx", "r1:eth1", "rx"), ("h1:eth0", "rx", "r1:eth0", "tx")]

        def moved(before, after):
            """(kernel end, direction, VPP end, direction, unit) -> how much each counter moved"""
            return {(k, d, v, e, u): (after[k]["stats"][f"{d}_{u}"] - before[k]["stats"][f"{d}_{u}"],
                                      after[v]["stats"][f"{e}_{u}"] - before[v]["stats"][f"{e}_{u}"])
                    for k, d, v, e in pairs for u in ("packets", "bytes")}

        before = api.live_interfaces(api.get(lab_name))
        assert before["r1:eth0"]["source"] == "stats" and before["r1:eth0"]["operstate"] == "up"
        assert ping(lab_name, "h1", "10.0.2.2", n=5)[0] == 0
        deadline = time.monotonic() + 10   # VPP's counters catch up within its poll interval
        while True:
            after = api.live_interfaces(api.get(lab_name))
            m = moved(before, after)
            if all(a == b for a, b in m.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert after["r1:eth0"]["source"] == "stats"
        assert all(a == b for a, b in m.values()), m
        assert m[pairs[0] + ("packets",)][1] >= 5 and m[pairs[1] + ("packets",)][1] >= 5   # the five requests
        assert m[pairs[0] + ("bytes",)][1] >= 5 * 98
        # the CLI fallback: the stats socket cannot be reached, the same counters come from vppctl
        os.rename(os.path.join(rundir, "stats.sock"), hidden)
        cli = api.live_interfaces(api.get(lab_name))
        assert cli["r1:eth0"]["source"] == "cli" and cli["r1:eth0"]["up"]
        for key in ("r1:eth0", "r1:eth1"):
            assert cli[key]["stats"] == after[key]["stats"], (cli[key], after[key])
    finally:
        if os.path.exists(hidden):
            os.rename(hidden, os.path.join(rundir, "stats.sock"))
        api.destroy(lab_name)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def _ui_offers_vppctl(lab):
    """The web UI's node actions: a vpp node gets a vppctl button beside Open console, a host does not."""
    pytest.importorskip("dash")
    from webui.app import create_app
    app = create_app("vpp-console-test", 8050)
    actions = app.callback_map["props-actions.children"]["callback"].__wrapped__
    live = {"status": "running", "lab": lab, "nodes": {"r1": "up", "h1": "up"}}
    buttons = actions([{"id": "r1"}], live).children
    assert [(b.children, getattr(b, "data-tool")) for b in buttons] == [("Open console", "shell"),
                                                                          ("vppctl", "vppctl")]
    assert getattr(actions([{"id": "h1"}], live), "data-tool") == "shell"   # one button: a shell


def _ui_console_runs_vppctl(lab, tmp_path):
    """The web UI's server: /ws/console/LAB/r1?tool=vppctl answers with VPP's prompt and output."""
    pytest.importorskip("flask_sock")
    import socket

    import simple_websocket

    from webui import server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "vpp-console-test"
    log = open(tmp_path / "server.log", "w+")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "ui", "--port", str(port)], cwd=tmp_path,
                            env={**os.environ, "EMULATOR_UI_TOKEN": token, "PYTHONPATH": root},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while "?token=" not in (tmp_path / "server.log").read_text() and time.monotonic() < end:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/ws/console/{lab}/r1?cols=80&rows=24&tool=vppctl",
                                             headers={"Cookie": f"{server.cookie_name(port)}={token}"})
        seen, end = b"", time.monotonic() + 20
        while b"vpp# " not in seen and time.monotonic() < end:
            seen += ws.receive(timeout=0.2) or b""
        ws.send("dshow int addr\r")
        while b"10.0.1.1/24" not in seen and time.monotonic() < end:
            seen += ws.receive(timeout=0.2) or b""
        assert b"vpp# " in seen and b"10.0.1.1/24" in seen, seen
        ws.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def test_console_on_a_vpp_node_opens_vppctl_or_a_shell(topo, lab_name, tmp_path):
    """The web UI's console choice: vppctl on the node's own CLI socket, or a shell; a host has no vppctl."""
    from webui import console
    api.deploy(topo(ROUTER % ""))
    con = None
    try:
        assert console.tools(lab_name, "r1") == ["shell", "vppctl"]
        assert console.tools(lab_name, "h1") == ["shell"]
        sock = os.path.join(config.run_dir(lab_name, "r1"), "cli.sock")
        argv = console.console_argv(lab_name, "r1", "vppctl", "/x/rc")
        assert argv[-3:] == [find.locate()[1], "-s", sock], argv
        assert names.node_netns(lab_name, "r1") in argv   # run inside the node's namespace
        argv = console.console_argv(lab_name, "r1", "shell", "/x/rc")
        assert "bash" in argv and argv[-3:] == ["--rcfile", "/x/rc", "-i"] and "vppctl" not in argv, argv
        with pytest.raises(ValueError, match="no console 'vppctl'"):
            console.console_argv(lab_name, "h1", "vppctl", "/x/rc")
        # a real vppctl console on a pty: VPP's own prompt, and its answer about this node
        con = console.Console(lab_name, "r1", tool="vppctl")
        out, end = b"", time.monotonic() + 20
        while b"vpp# " not in out and time.monotonic() < end:   # VPP's prompt, then the command
            out += con.read(0.5) or b""
        con.write("show int addr\r")
        while b"10.0.2.1/24" not in out and time.monotonic() < end:
            out += con.read(0.5) or b""
        assert b"vpp# " in out and b"10.0.2.1/24" in out, out
        con.close()
        _ui_offers_vppctl(lab_name)
        _ui_console_runs_vppctl(lab_name, tmp_path)
    finally:
        if con is not None:
            con.close()
        api.destroy(lab_name)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_acl_drops_a_denied_port(topo, lab_name):
    api.deploy(topo(ROUTER % "acl: {allow: [icmp, tcp/5201]}"))
    server = None
    try:
        ns = names.node_netns(lab_name, "h2")
        code = ("import socket,select\nss=[socket.create_server(('0.0.0.0',p)) for p in (5201,5202)]\n"
                "while True:\n r,_,_=select.select(ss,[],[])\n for s in r: c,_=s.accept(); c.send(b'hi'); c.close()\n")
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code])
        ping(lab_name, "h1", "10.0.2.2", n=1)
        assert ping(lab_name, "h1", "10.0.2.2")[0] == 0   # icmp is allowed
        probe = ("import socket,sys\ntry:\n s=socket.create_connection(('10.0.2.2',int(sys.argv[1])),timeout=2)\n"
                 " print(s.recv(2).decode())\nexcept OSError as e: print('blocked', e)\n")
        wait_listening(lab_name, "h2", 5201, 5202)
        ok = api.exec_in(lab_name, "h1", [sys.executable, "-c", probe, "5201"]).stdout
        denied = api.exec_in(lab_name, "h1", [sys.executable, "-c", probe, "5202"]).stdout
        assert ok.strip() == "hi", ok
        assert denied.startswith("blocked"), denied
    finally:
        if server:
            server.terminate()
            server.wait()
        api.destroy(lab_name)


def test_memif_between_two_vpps_xconnect_and_bridge_domain(topo, lab_name):
    api.deploy(topo("""
    name: {lab}
    nodes:
      a: {kind: host, interfaces: {eth0: {ip: [10.0.0.1/24]}}}
      x: {kind: vpp, mode: xconnect}
      s: {kind: vpp, mode: bridge}
      b: {kind: host, interfaces: {eth0: {ip: [10.0.0.2/24]}}}
    links:
      - [a:eth0, x:eth0]
      - {endpoints: [x:eth1, s:eth0], type: memif}
      - [s:eth1, b:eth0]
    """))
    try:
        ping(lab_name, "a", "10.0.0.2", n=1)
        rc, out = ping(lab_name, "a", "10.0.0.2")
        assert rc == 0, out
        live = api.live_interfaces(api.get(lab_name))
        assert live["x:eth1"]["kind"] == "vpp memif2/0" and live["x:eth1"]["up"]
        assert live["s:eth0"]["stats"]["rx_packets"] >= 3
    finally:
        api.destroy(lab_name)
    assert leftovers(lab_name, ["x", "s"]) == ([], [], False)


@pytest.mark.parametrize("ltype,vname", [("memif", "memif2/0"), ("vhost-user", "VirtualEthernet0/0/1")])
def test_vpp_to_a_dpdk_app(topo, lab_name, ltype, vname):
    """VPP routes to testpmd (icmpecho answers ARP and ping) over memif (VPP is the master) or
    vhost-user (testpmd's virtio_user listens, VPP connects as the vhost side)."""
    api.deploy(topo("""
    name: {lab}
    hugepages: {reserve: 48}
    nodes:
      h1: {kind: host, interfaces: {eth0: {ip: [10.0.1.2/24]}}, routes: [{to: default, via: 10.0.1.1}]}
      r1: {kind: vpp, interfaces: {eth0: {ip: [10.0.1.1/24]}, eth1: {ip: [10.0.5.1/24]}}}
      d: {kind: dpdk-app, mode: icmpecho, ip: [10.0.5.2/24], memory: 64}
    links:
      - [h1:eth0, r1:eth0]
      - {endpoints: [r1:eth1, d:eth0], type: LTYPE}
    """.replace("LTYPE", ltype)))
    try:
        ping(lab_name, "h1", "10.0.5.2", n=1)
        rc, out = ping(lab_name, "h1", "10.0.5.2")
        assert rc == 0, out
        assert api.live_interfaces(api.get(lab_name))["r1:eth1"]["kind"] == f"vpp {vname}"
    finally:
        api.destroy(lab_name)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_nsim_delay_shows_in_ping_rtt(topo, lab_name):
    api.deploy(topo("""
    name: {lab}
    nodes:
      a: {kind: host, interfaces: {eth0: {ip: [10.0.0.1/24]}}}
      em: {kind: vpp, mode: xconnect, nsim: {delay: 20ms, bandwidth: 100mbit}}
      b: {kind: host, interfaces: {eth0: {ip: [10.0.0.2/24]}}}
    links: [[a:eth0, em:eth0], [em:eth1, b:eth0]]
    """))
    try:
        ping(lab_name, "a", "10.0.0.2", n=1)
        rc, out = ping(lab_name, "a", "10.0.0.2", n=4)
        assert rc == 0, out
        rtt_min = float(re.search(r"= ([\d.]+)/", out).group(1))
        assert rtt_min >= 2 * 20 * 0.9, out   # both directions cross nsim: the declared delay each way
    finally:
        api.destroy(lab_name)


def test_rejected_command_rolls_back_with_vpps_message(topo, lab_name):
    path = topo(ROUTER % 'cli: ["set interface state nosuch0 up"]')
    with pytest.raises(DeployError) as e:
        api.deploy(path)
    msg = str(e.value)
    assert "vpp node 'r1' rejected `set interface state nosuch0 up`" in msg, msg
    assert "unknown interface" in msg and f"{path}:9" in msg, msg
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_vpp_that_fails_to_start_reports_its_log(topo, lab_name):
    with pytest.raises(DeployError) as e:
        api.deploy(topo(ROUTER % "main_core: 1000"))   # no such CPU: VPP stops at start
    assert "topo.yaml:6: vpp node 'r1'" in str(e.value) and "vpp.out ends" in str(e.value), str(e.value)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_sigkill_mid_deploy_then_destroy_removes_vpp(topo, lab_name):
    path = topo(ROUTER % 'cli: ["show version"]')
    env = {**os.environ}
    p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", path], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile = os.path.join(config.run_dir(lab_name, "r1"), "vpp.pid")
    end = time.monotonic() + 60
    while not os.path.exists(pidfile) and time.monotonic() < end and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    pids = vpp_pids(lab_name)
    assert pids, "VPP had started when the deploy was killed"
    # VPP killed too (a crash): its API segment files stay in /dev/shm until destroy removes them
    end = time.monotonic() + 20
    shm = "/dev/shm/" + names.vpp_prefix(lab_name, "r1") + "-vpe-api"
    while not os.path.exists(shm) and time.monotonic() < end:
        time.sleep(0.05)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert os.path.exists(shm)
    subprocess.run([sys.executable, "-m", "emulator", "destroy", lab_name], capture_output=True, timeout=120)
    assert leftovers(lab_name, ["r1"]) == ([], [], False)


def test_missing_vpp_is_refused_before_anything_exists(topo, lab_name, monkeypatch, tmp_path):
    monkeypatch.setenv(find.ENV, str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "emulator", "deploy", topo(ROUTER % "")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "apt-get install vpp" in r.stderr
    assert not os.path.exists(os.path.join("/run/netns", names.node_netns(lab_name, "h1")))


def test_destroy_leaves_another_labs_vpp_and_a_reused_pid_alone(topo, lab_name):
    """Two labs with a VPP each: destroying one leaves the other's process and API segment; a journal
    record whose PID now belongs to another program does not get it killed."""
    from emulator.backends.vpp import instance
    other = lab_name + "o"
    one = topo(ROUTER % "")
    two = topo((ROUTER % "").replace("{lab}", other), "two.yaml")
    api.deploy(one)
    try:
        api.deploy(two)
        try:
            api.destroy(lab_name)
            assert vpp_pids(other) and not vpp_pids(lab_name)
            assert os.path.exists("/dev/shm/" + names.vpp_prefix(other, "r1") + "-vpe-api")
            rc, out = ping(other, "h1", "10.0.2.2", n=2)
            assert rc == 0 or "1 received" in out, out
        finally:
            api.destroy(other)
    finally:
        if api.labs() and any(s["name"] == lab_name for s in api.labs()):
            api.destroy(lab_name)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        os.makedirs(os.path.join("/run/emulator", lab_name, "vpp", "r1"), exist_ok=True)
        instance.UNDO["vpp-pid"]({"op": "vpp-pid", "lab": lab_name, "node": "r1", "pid": bystander.pid,
                                  "rundir": config.run_dir(lab_name, "r1")})
        assert bystander.poll() is None   # its command line names no startup.conf of ours
    finally:
        bystander.kill()
        bystander.wait()
        import shutil
        shutil.rmtree(os.path.join("/run/emulator", lab_name), ignore_errors=True)
