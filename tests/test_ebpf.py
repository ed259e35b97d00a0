"""eBPF network functions (emulator/backends/ebpf): real programs built with clang, loaded into real
namespaces, real traffic; rule words and located errors without a lab."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import compile_text
from emulator import lab as api
from emulator.backends.ebpf import progs, rules as R, tool
from emulator.deploy import state
from emulator.errors import EnvironmentProblem, TopologyError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
integration = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
needs_toolchain = pytest.mark.skipif(not (shutil.which("clang") and shutil.which("bpftool")),
                                     reason="clang and bpftool are installed by `make system` (APT_PACKAGES)")

FW = """
name: {lab}
nodes:
  c: {kind: host, ip: [10.9.1.1/24]}
  s:
    kind: host
    ip: [10.9.1.2/24]
    vnf: {type: ebpf-firewall, interfaces: [eth0], hook: HOOK, allow: [icmp, tcp/5201-5210]}
    exec: ["iperf3 -s -D -p 5201", "iperf3 -s -D -p 5300"]
links:
  - [c:eth0, s:eth0]
"""

FWD = """
name: {lab}
nodes:
  c1: {kind: host, ip: [10.9.1.1/24]}
  f1:
    kind: host
    interfaces: {eth0: {ip: []}, eth1: {ip: []}}
    vnf: {type: ebpf-forwarder, between: [eth0, eth1]}
  s1: {kind: host, ip: [10.9.1.2/24], exec: ["iperf3 -s -D -p 5201"]}
  c2: {kind: host, ip: [10.9.2.2/24], routes: [{to: default, via: f2}]}
  f2:
    kind: router
    interfaces: {eth0: {ip: [10.9.2.1/24]}, eth1: {ip: [10.9.3.1/24]}}
    vnf: {type: ebpf-forwarder, between: [eth0, eth1], mode: l3}
  s2: {kind: host, ip: [10.9.3.2/24], routes: [{to: default, via: f2}], exec: ["iperf3 -s -D -p 5201"]}
links:
  - [c1:eth0, f1:eth0]
  - [f1:eth1, s1:eth0]
  - [c2:eth0, f2:eth0]
  - [f2:eth1, s2:eth0]
"""


def _connects(lab, node, ip, port) -> bool:
    return api.exec_in(lab, node, ["timeout", "2", "bash", "-c", f"</dev/tcp/{ip}/{port}"]).ok


def _ids(lab):
    metas = tool.attached(lab)
    return [m["prog_id"] for m in metas], [i for m in metas for i in m["map_ids"]]


def _gone(lab, prog_ids, map_ids):
    """Every program and map of the lab freed, its bpffs unmounted, its directory gone."""
    deadline = time.time() + 10
    while time.time() < deadline:   # the kernel frees programs after an RCU grace period
        alive = [i for i in prog_ids if subprocess.run(["bpftool", "prog", "show", "id", str(i)],
                                                       capture_output=True).returncode == 0]
        alive += [i for i in map_ids if subprocess.run(["bpftool", "map", "show", "id", str(i)],
                                                       capture_output=True).returncode == 0]
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, f"programs/maps still loaded: {alive}"
    with open("/proc/mounts") as f:
        assert progs.bpffs(lab) not in f.read()
    assert not os.path.exists(state.lab_dir(lab))


# -- without a lab ---------------------------------------------------------------------------------

def test_rule_words_are_encoded_as_the_programs_struct():
    r = R.parse("tcp/5201-5210 from 10.0.1.0/24 to 10.0.2.7")
    assert (r["proto"], r["lo"], r["hi"]) == (6, 5201, 5210)
    assert str(r["src"]) == "10.0.1.0/24" and str(r["dst"]) == "10.0.2.7/32"
    v = R.encode(R.ALLOW, r)
    assert len(v) == R.SIZE == 24
    assert v[:8] == bytes([10, 0, 1, 0, 255, 255, 255, 0]) and v[8:16] == bytes([10, 0, 2, 7]) + b"\xff" * 4
    assert v[16:18] == (5201).to_bytes(2, sys.byteorder) and v[20:22] == bytes([6, R.ALLOW])
    assert R.parse("udp/53")["lo"] == R.parse("udp/53")["hi"] == 53
    assert (R.parse("icmp")["proto"], R.parse("all")["lo"], R.parse("all")["hi"]) == (1, 0, 65535)
    # deny rules first, then allow; deny without allow lets the rest pass; the list ends with END
    vals = R.map_values(None, ["tcp/22"])
    assert [v[21] for v in vals[:3]] == [R.DENY, R.ALLOW, R.END] and len(vals) == R.MAX_RULES
    for bad in ("tcp/0", "tcp/10-5", "icmp/3", "tcp/70000", "sctp", "all from 10.0.0.300/8", "tcp from a from b"):
        with pytest.raises(R.RuleError):
            R.parse(bad)
    assert R.check(["tcp/%d" % p for p in range(1, 70)], None)   # more than the map holds


def _issues(text):
    with pytest.raises(TopologyError) as e:
        compile_text(text)
    return e.value.issues


def test_bad_vnf_on_a_plain_node_is_located():
    base = """
    name: x
    nodes:
      a: {kind: host}
      f:
        kind: host
        interfaces: {eth0: {ip: []}, eth1: {ip: []}}
        vnf: VNF
      b: {kind: host}
    links: [[a:eth0, f:eth0], [f:eth1, b:eth0]]
    """
    cases = {
        "{type: ebpf-forwarder, between: [eth0, eth7]}": "has no interface 'eth7'",
        "{type: ebpf-firewall, interfaces: [eth0], allow: [tcp/70000]}": "ports must be 1-65535",
        "{type: ebpf-firewall, interfaces: [eth0], hook: tc-sideways}": "tc-sideways",
        "{type: ebpf-forwarder}": "says neither `between`",
        "{type: ebpf-forwarder, interfaces: [eth0]}": "forwards between two connections",
        "{type: ebpf-forwardr, between: [eth0, eth1]}": "did you mean 'ebpf-forwarder'",
        "ebpf-firewall": "expected a mapping",
    }
    for vnf, want in cases.items():
        issues = _issues(base.replace("VNF", vnf))
        text = "\n".join(i.format() for i in issues)
        assert want in text, (vnf, text)
        assert all(i.line == 8 for i in issues), (vnf, [(i.line, i.message) for i in issues])


def test_invalid_vnf_is_exit_2_from_the_cli(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("name: x\nnodes:\n  a: {kind: host, vnf: {type: ebpf-firewall, interfaces: [eth3]}}\n"
                 "  b: {kind: host}\nlinks: [[a, b]]\n")
    r = subprocess.run([sys.executable, "-m", "emulator", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "t.yaml:3" in r.stdout + r.stderr and "eth3" in r.stdout + r.stderr


def test_a_bad_rule_in_an_ebpf_rules_step_is_exit_2_before_deploy(tmp_path):
    (tmp_path / "t.yaml").write_text(FW.replace("HOOK", "tc-ingress").replace("{lab}", "ebpfbadrule"))
    (tmp_path / "sc.yaml").write_text("name: x\ntopology: t.yaml\nsteps:\n"
                                      "  - ebpf_rules: {node: s, allow: [tcp/99999]}\n")
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "ports must be 1-65535" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not os.path.exists(state.lab_dir("ebpfbadrule"))


def test_roles_become_loader_commands_and_the_preflight_action():
    c = compile_text(FWD.replace("{lab}", "x"))
    f1 = c.lab.nodes["f1"].exec
    assert any("emulator.backends.ebpf forwarder --between eth0 eth1 --mode l2" in " ".join(a) for a in f1)
    assert c.lab.nodes["f2"].sysctls.get("net.ipv4.ip_forward") == "1"
    pre = [a for a in c.actions if isinstance(a, progs.PrepareEbpf)]
    assert len(pre) == 1 and pre[0].undo_record() == {"op": "bpffs", "path": progs.bpffs("x")}
    plain = compile_text("name: y\nnodes: {a: {kind: host}, b: {kind: host}}\nlinks: [[a, b]]\n")
    assert not [a for a in plain.actions if isinstance(a, progs.PrepareEbpf)]


# -- real programs and traffic ---------------------------------------------------------------------

def _fw_on_client(text: str) -> str:
    """The firewall on the client's veth instead (tc egress: what the client sends)."""
    vnf = "    vnf: {type: ebpf-firewall, interfaces: [eth0], hook: tc-egress, allow: [icmp, tcp/5201-5210]}\n"
    text = text.replace(vnf.replace("tc-egress", "HOOK"), "")
    return text.replace("  c: {kind: host, ip: [10.9.1.1/24]}\n", "  c:\n    kind: host\n    ip: [10.9.1.1/24]\n" + vnf)


@pytest.mark.parametrize("hook", ["tc-ingress", "xdp", "tc-egress"])
@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_firewall_drops_what_it_denies_and_a_rule_change_takes_effect(topo, lab_name, hook):
    fw = "c" if hook == "tc-egress" else "s"
    api.deploy(topo(_fw_on_client(FW) if fw == "c" else FW.replace("HOOK", hook)))
    try:
        ids = _ids(lab_name)
        [meta] = tool.attached(lab_name)
        assert meta["node"] == fw and meta["attach"].startswith({"tc-ingress": "tc ingress", "xdp": "xdp",
                                                                  "tc-egress": "tc egress"}[hook])
        assert api.ping(lab_name, "c", "10.9.1.2", count=2)
        assert _connects(lab_name, "c", "10.9.1.2", 5201)
        assert not _connects(lab_name, "c", "10.9.1.2", 5300)   # a listener is there: the program drops
        r = api.exec_in(lab_name, "c", ["iperf3", "-c", "10.9.1.2", "-t", "1", "-J"], timeout=30)
        assert r.ok and json.loads(r.stdout)["end"]["sum_received"]["bytes"] > 0
        [m] = tool.show(lab_name)
        assert m["values"]["dropped"]["packets"] >= 1 and m["values"]["passed"]["packets"] > 100
        # at run time, through the CLI: 5300 allowed, 5201 no longer; then a prefix rule
        r = subprocess.run([sys.executable, "-m", "emulator", "ebpf", "rules", lab_name, fw,
                            "--allow", "icmp", "--allow", "tcp/5300"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert _connects(lab_name, "c", "10.9.1.2", 5300)
        assert not _connects(lab_name, "c", "10.9.1.2", 5201)
        tool.set_rules(lab_name, fw, None, None, ["all from 10.9.1.1/32"])
        assert not api.ping(lab_name, "c", "10.9.1.2", count=1, timeout=1)
        tool.set_rules(lab_name, fw, None, None, ["all from 10.9.7.0/24"])
        assert api.ping(lab_name, "c", "10.9.1.2", count=1) and _connects(lab_name, "c", "10.9.1.2", 5201)
        insp = subprocess.run([sys.executable, "-m", "emulator", "inspect", lab_name], capture_output=True, text=True)
        assert "ebpf-firewall on eth0" in insp.stdout and "dropped:" in insp.stdout
    finally:
        api.destroy(lab_name)
    _gone(lab_name, *ids)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_forwarders_l2_and_l3_forward_ping_and_iperf3_and_count_per_direction(topo, lab_name):
    api.deploy(topo(FWD))
    try:
        ids = _ids(lab_name)
        for c, s, ttl in (("c1", "10.9.1.2", "ttl=64"), ("c2", "10.9.3.2", "ttl=63")):
            r = api.exec_in(lab_name, c, ["ping", "-c", "3", "-i", "0.2", s])
            assert r.ok and ttl in r.stdout, r.stdout
            r = api.exec_in(lab_name, c, ["iperf3", "-c", s, "-t", "1", "-J"], timeout=30)
            assert r.ok, r.stdout + r.stderr
            got = json.loads(r.stdout)["end"]["sum_received"]["bytes"]
            assert got > 10_000_000
        by = {m["node"]: m for m in tool.show(lab_name)}
        for node in ("f1", "f2"):
            v = by[node]["values"]
            assert set(v) == {"eth0->eth1", "eth1->eth0"}
            assert v["eth0->eth1"]["bytes"] > 10_000_000 and v["eth1->eth0"]["packets"] > 100
        # the l2 forwarder carries everything: the kernel of f1 (no addresses, no bridge) cannot
        assert by["f1"]["values"]["eth0->eth1"]["packets"] >= 3
        # detach the l2 program: nothing else forwards between f1's interfaces
        api.exec_in(lab_name, "f1", ["tc", "filter", "del", "dev", "eth0", "ingress"])
        assert not api.ping(lab_name, "c1", "10.9.1.2", count=1, timeout=1)
    finally:
        api.destroy(lab_name)
    _gone(lab_name, *ids)


NSM = """
name: {lab}
services:
  sfc:
    matches:
      - source_selector: {app: fw}
        routes: [{destination_selector: {app: fwd}}]
      - source_selector: {app: fwd}
        routes: [{destination_selector: {app: srv}}]
      - routes: [{destination_selector: {app: fw}}]
  l2:
    payload: ETHERNET
    matches:
      - source_selector: {app: fwd2}
        routes: [{destination_selector: {app: srv2}}]
      - routes: [{destination_selector: {app: fwd2}}]
nodes:
  client: {kind: nsc, requests: ["kernel://sfc/nsm0"]}
  fw:   {kind: nse, services: [sfc], labels: {app: fw}, cidr: 172.31.1.0/24,
         vnf: {type: ebpf-firewall, allow: [icmp, tcp/5201]}}
  fwd:  {kind: nse, services: [sfc], labels: {app: fwd}, cidr: 172.31.2.0/24, vnf: ebpf-forwarder}
  srv:  {kind: nse, services: [sfc], labels: {app: srv}, cidr: 172.31.3.0/24,
         vnf: {type: iperf3-server, port: 5201}, exec: ["iperf3 -s -D -p 5300"]}
  client2: {kind: nsc, requests: ["kernel://l2/nsm0"]}
  fwd2: {kind: nse, services: [l2], labels: {app: fwd2}, vnf: ebpf-forwarder}
  srv2: {kind: nse, services: [l2], labels: {app: srv2}, cidr: 172.31.9.0/24}
"""


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_nsm_endpoints_play_the_ebpf_roles(topo, lab_name, tmp_path):
    from emulator.scenario.steps import RunContext, get as get_step
    st = api.deploy(topo(NSM))
    try:
        by = {c["client"]: c for c in st["services"]}
        dst = by["client"]["hops"][-1]["endpoint_ip"].split("/")[0]
        assert _connects(lab_name, "client", dst, 5201) and not _connects(lab_name, "client", dst, 5300)
        ctx = RunContext(lab=lab_name, state=state.read_state(lab_name), artifacts_dir=str(tmp_path))
        for client in ("client", "client2"):   # IP chain: fw, then the l3 forwarder; ETHERNET: the l2 one
            m = get_step("nsm_chain").run(ctx, {"client": client, "count": 5}).measurements
            assert m["in_order"] and m["loss_pct"] == 0, m
        metas = {m["node"]: m for m in tool.show(lab_name)}
        assert metas["fwd"]["mode"] == "l3" and metas["fwd2"]["mode"] == "l2"
        for node in ("fwd", "fwd2"):
            m = get_step("ebpf_counters").run(ctx, {"node": node}).measurements
            assert len(m["directions"]) == 2 and all(v >= 4 for v in m["directions"].values()), m
        assert get_step("ebpf_counters").run(ctx, {"node": "fw"}).measurements["dropped"] >= 1
    finally:
        api.destroy(lab_name)


def _tc_prog_ids(dev: str) -> list[int]:
    out = subprocess.run(["bpftool", "-j", "net", "show", "dev", dev], capture_output=True, text=True).stdout
    return [t["id"] for e in json.loads(out or "[]") for t in e.get("tc", [])]


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_destroy_detaches_its_programs_from_devices_that_left_the_lab_and_only_those(topo, lab_name):
    api.deploy(topo(FW.replace("HOOK", "tc-ingress")))
    ours, decoy = f"eb{lab_name}a", f"eb{lab_name}b"
    subprocess.run(["ip", "link", "add", ours, "type", "veth", "peer", "name", decoy], check=True)
    try:
        [meta] = tool.attached(lab_name)
        pin = os.path.join(progs.bpffs(lab_name), "s", meta["name"], "prog")
        for dev in (ours, decoy):
            subprocess.run(["tc", "qdisc", "add", "dev", dev, "clsact"], check=True)
        # a device in the host's namespace running the lab's program (as a host NIC moved back would)
        subprocess.run(["tc", "filter", "add", "dev", ours, "ingress", "prio", "1", "handle", "1", "bpf", "da",
                        "object-pinned", pin], check=True)
        # a decoy: the same program and name, loaded by someone else
        subprocess.run(["tc", "filter", "add", "dev", decoy, "ingress", "prio", "1", "handle", "1", "bpf", "da",
                        "obj", progs.obj_path(lab_name, "fw_tc"), "sec", "tc"], check=True)
        assert _tc_prog_ids(ours) == [meta["prog_id"]]
        [foreign] = _tc_prog_ids(decoy)
        assert foreign != meta["prog_id"]
        ids = _ids(lab_name)
        api.destroy(lab_name)
        _gone(lab_name, *ids)
        assert _tc_prog_ids(ours) == [] and _tc_prog_ids(decoy) == [foreign]
    finally:
        subprocess.run(["ip", "link", "del", ours], capture_output=True)
        if os.path.exists(state.lab_dir(lab_name)):
            api.destroy(lab_name)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_destroy_after_sigkill_mid_deploy_unloads_everything(topo, lab_name):
    # z's startup command runs after s's loader: the deploy is killed while it sleeps
    text = FW.replace("HOOK", "tc-ingress").replace(
        "links:", "  z: {kind: host, exec: [\"sleep 60\"], exec_timeout: 90}\nlinks:")
    p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", topo(text)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not tool.attached(lab_name) and p.poll() is None:
            time.sleep(0.2)
        assert tool.attached(lab_name), "the firewall was never loaded: " + (
            p.stdout.read().decode() if p.poll() is not None else "")
        assert p.poll() is None, "the deploy ended before it was killed"
        ids = _ids(lab_name)
        assert os.path.ismount(progs.bpffs(lab_name))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    r = subprocess.run([sys.executable, "-m", "emulator", "destroy", lab_name], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    _gone(lab_name, *ids)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_a_host_without_the_compiler_is_exit_3_and_keeps_nothing(topo, lab_name, monkeypatch):
    monkeypatch.setattr(progs, "TOOLS", (("clang-not-installed-here", "clang"),) + progs.TOOLS)
    with pytest.raises(EnvironmentProblem) as e:
        api.deploy(topo(FW.replace("HOOK", "xdp")))
    assert e.value.exit_code == 3 and "clang-not-installed-here" in str(e.value) and "clang" in str(e.value)
    assert not os.path.exists(state.lab_dir(lab_name))


@pytest.mark.parametrize("name", ["4s1c", "4s2c"])
@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_toolchain
def test_shipped_scenarios_run_with_references_and_the_denied_port(tmp_path, lab_name, name):
    topo_text = open(os.path.join(ROOT, "topologies", f"{name}.yaml")).read()
    assert f"\nname: {name}\n" in topo_text
    (tmp_path / "topo.yaml").write_text(topo_text.replace(f"\nname: {name}\n", f"\nname: {lab_name}\n"))
    sc = open(os.path.join(ROOT, "scenarios", f"{name}.yaml")).read()
    (tmp_path / "sc.yaml").write_text(sc.replace(f"topology: ../topologies/{name}.yaml", "topology: topo.yaml"))
    out = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml"), "--set", "duration=1",
                        "--results", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    steps = json.loads((out / "results.json").read_text())["runs"][0]["steps"]
    assert all(s["status"] == "passed" for s in steps)
    denied = [s for s in steps if s["type"] == "exec"]
    assert denied and denied[0]["measurements"]["exit_code"] != 0
    refs = sorted(round(s["reference"]["value"] / 1e9, 2) for s in steps if s.get("reference"))
    assert refs == sorted([1.26, 66.5, 68.6 if name == "4s1c" else 62.6])
    counters = [s["measurements"] for s in steps if s["type"] == "ebpf_counters"]
    if name == "4s1c":
        assert counters[0]["dropped"] >= 1 and counters[0]["passed"] > 100
        # the ebpf_rules step opened port 5300 and the next exec step got through
        assert [s["measurements"]["exit_code"] for s in denied] == [124, 0]
        assert [s["measurements"]["replaced"] for s in steps if s["type"] == "ebpf_rules"] == [1]
    else:
        assert all(c["forwarded"] > 100 and len(c["directions"]) == 2 for c in counters) and len(counters) == 2
