"""Hardening (issue 9, item 6 and the smaller items): concurrent hugepage reservations, Ctrl-C after a
deploy, exec exit codes, plan/inspect output, non-root inspect, exec_timeout, quoting user values."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from emulator import cli
from emulator.backends.dpdk import hugepages
from emulator.deploy import state
from emulator import lab as api
from emulator.errors import DeployError, EnvironmentProblem, TopologyError, quote
from emulator.core.loader import load_text
from emulator.units import human_impairment

from conftest import compile_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
integration = pytest.mark.integration
HAVE_TESTPMD = subprocess.run(["sh", "-c", "command -v dpdk-testpmd"], capture_output=True).returncode == 0


def emulator(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def nr_hugepages() -> int:
    with open(hugepages.NR_HUGEPAGES) as f:
        return int(f.read())


# -- item 6: hugepage reservations of labs deployed at the same time ---------------------------------

def test_pages_another_lab_set_aside_and_has_not_taken_are_not_free(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "RUN_DIR", str(tmp_path))
    monkeypatch.setattr(hugepages, "meminfo", lambda: {"total": 100, "free": 60, "reserved": 0, "size_kb": 2048})
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / hugepages.LEDGER).write_text(json.dumps({"pages": 50}))
    # lab a's processes already took 4 MB (2 pages) in its own mount: 48 are still set aside
    mount = tmp_path / "a" / "hugepages"
    mount.mkdir()
    with open(mount / "rtemap_0", "wb") as f:
        f.write(b"\1" * (4 << 20))
    (tmp_path / "b").mkdir()
    with pytest.raises(EnvironmentProblem) as e:
        hugepages.check(40, what="lab 'b'", lab="b")           # 20 pages; 60 free - 48 set aside = 12
    msg = str(e.value)
    assert "needs 20 hugepages" in msg and "but 12 are free" in msg and "48 set aside" in msg and "'a' 48" in msg
    assert not (tmp_path / "b" / hugepages.LEDGER).exists()   # a failed check sets nothing aside
    hugepages.check(20, lab="b")                               # 10 pages fit, and are recorded
    assert json.loads((tmp_path / "b" / hugepages.LEDGER).read_text())["pages"] == 10


def test_a_deployed_labs_ledger_and_its_sized_files_are_not_set_aside(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "RUN_DIR", str(tmp_path))
    for lab, status in (("a", "deploying"), ("b", "running"), ("c", None)):
        (tmp_path / lab / "hugepages").mkdir(parents=True)
        (tmp_path / lab / hugepages.LEDGER).write_text(json.dumps({"pages": 10}))
        if status:
            (tmp_path / lab / "state.json").write_text(json.dumps({"name": lab, "status": status}))
    # a page file sized but not yet touched: its page is reserved (HugePages_Rsvd), not still set aside
    with open(tmp_path / "a" / "hugepages" / "rtemap_0", "wb") as f:
        f.truncate(3 << 20)                                     # 1.5 pages: 2
    assert hugepages.set_aside(2048) == {"a": 8, "c": 10}       # b is deployed: its processes took theirs


def _pool(monkeypatch, tmp_path, before, after):
    """meminfo before and after the pool is raised; NR_HUGEPAGES a file of our own."""
    monkeypatch.setattr(state, "RUN_DIR", str(tmp_path))
    nr = tmp_path / "nr_hugepages"
    nr.write_text(str(before["total"]))
    monkeypatch.setattr(hugepages, "NR_HUGEPAGES", str(nr))
    monkeypatch.setattr(hugepages, "meminfo", lambda: {**(after if nr.read_text() != str(before["total"])
                                                          else before), "size_kb": 2048})
    return nr


def test_a_reservation_is_judged_by_how_much_the_pool_grew(tmp_path, monkeypatch):
    """CI: lab b raised the pool by what it lacked and the kernel gave all of it, but lab a's testpmd
    had mapped one more page meanwhile (counted in Rsvd and in a's ledger): b's second count came
    out one short and b failed with 'not enough free contiguous memory'."""
    nr = _pool(monkeypatch, tmp_path, {"total": 96, "free": 90, "reserved": 0},
               {"total": 192, "free": 185, "reserved": 1})      # b asked for 96 more and got them
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / hugepages.LEDGER).write_text(json.dumps({"pages": 96}))
    (tmp_path / "b").mkdir()
    added = []
    hugepages.check(64, reserve=96, lab="b", on_reserved=added.append)
    assert nr.read_text() == "192" and added == [96]


def test_a_pool_the_kernel_cannot_grow_enough_is_refused_with_the_numbers(tmp_path, monkeypatch):
    _pool(monkeypatch, tmp_path, {"total": 10, "free": 10, "reserved": 0}, {"total": 30, "free": 30, "reserved": 0})
    added = []
    with pytest.raises(EnvironmentProblem) as e:
        hugepages.check(2, reserve=40, lab="b", on_reserved=added.append)
    assert "asked the kernel for 30 more hugepages of 2048 kB (40 free), got 20" in str(e.value)
    assert "hugepages=40" in str(e.value) and added == [20]    # what it did add is journaled, and given back


_CHECKER = """
import json, sys
from emulator.backends.dpdk import hugepages
added = []
print("started", flush=True)
hugepages.check(int(sys.argv[1]), reserve=int(sys.argv[2]), lab=sys.argv[3], on_reserved=added.append)
print(json.dumps(sum(added)), flush=True)
"""


def _checker(run_dir, mb, reserve, lab):
    return subprocess.Popen([sys.executable, "-c", _CHECKER, str(mb), str(reserve), lab], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "EMULATOR_RUN_DIR": str(run_dir)})


@integration
def test_two_processes_reserving_hugepages_each_get_their_own(tmp_path):
    """Lab a reserved its pages but its DPDK processes have not taken them yet; lab b's check,
    in another process, must not count them as free (before: b reserved nothing and both labs'
    testpmd fought over a's pages)."""
    for lab in ("a", "b"):
        (tmp_path / lab).mkdir()
    nr0 = nr_hugepages()
    added = 0
    try:
        for lab in ("a", "b"):
            p = _checker(tmp_path, 4, 2, lab)      # 2 pages each, reserve 2
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            added += int(out.split()[-1])
        assert added == 4 and nr_hugepages() == nr0 + 4
        with pytest.MonkeyPatch.context() as m:
            m.setattr(state, "RUN_DIR", str(tmp_path))
            assert hugepages.set_aside(hugepages.meminfo()["size_kb"]) == {"a": 2, "b": 2}
    finally:
        hugepages._undo_reserved({"pages": added})
    assert nr_hugepages() == nr0


@integration
def test_a_second_check_waits_for_the_pool_lock(tmp_path):
    (tmp_path / "b").mkdir()
    nr0 = nr_hugepages()
    added = 0
    os.environ["EMULATOR_RUN_DIR"], old = str(tmp_path), os.environ.get("EMULATOR_RUN_DIR")
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(state, "RUN_DIR", str(tmp_path))
            with hugepages.pool_lock():
                p = _checker(tmp_path, 4, 2, "b")
                assert p.stdout.readline().strip() == "started"
                time.sleep(0.5)
                assert p.poll() is None, "the check ran while another process held the pool lock"
                assert not (tmp_path / "b" / hugepages.LEDGER).exists()
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            added = int(out.split()[-1])
            assert (tmp_path / "b" / hugepages.LEDGER).exists()
    finally:
        if old is None:
            os.environ.pop("EMULATOR_RUN_DIR")
        else:
            os.environ["EMULATOR_RUN_DIR"] = old
        hugepages._undo_reserved({"pages": added})
    assert nr_hugepages() == nr0


SMALL_DPDK = """
name: {name}
hugepages: {{reserve: 96}}
nodes:
  a: {{kind: dpdk-app, mode: rxonly, cores: [0], memory: 64}}
  b: {{kind: dpdk-app, mode: rxonly, cores: [1], memory: 64}}
links:
  - {{endpoints: [a, b], type: memif}}
"""


@integration
@pytest.mark.usefixtures("clean_host")
@pytest.mark.skipif(not HAVE_TESTPMD, reason="dpdk-testpmd not installed (make system)")
def test_two_dpdk_labs_deployed_at_once_both_come_up(tmp_path, lab_name):
    names = [lab_name, lab_name + "b"]
    paths = []
    for n in names:
        p = tmp_path / f"{n}.yaml"
        p.write_text(SMALL_DPDK.format(name=n))
        paths.append(str(p))
    nr0 = nr_hugepages()
    procs = [subprocess.Popen([sys.executable, "-m", "emulator", "deploy", p], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in paths]
    try:
        results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
        for rc, err in results:
            assert rc == 0, err[-1500:]
        assert nr_hugepages() >= nr0 + 2 * 96   # each lab's reserve came on top of the other's
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in names:
            if n in state.list_labs():
                api.destroy(n)
    assert nr_hugepages() == nr0


# -- Ctrl-C right after "deployed" -------------------------------------------------------------------

TWO_HOSTS = """
name: {lab}
nodes:
  a: {kind: host}
  b: {kind: host}
links:
  - {endpoints: [a, b], bandwidth: 1gbit}
"""


def _lab_gone(name):
    return name not in state.list_labs() and not os.path.exists(f"/run/netns/emu-{name}.a")


@integration
@pytest.mark.usefixtures("clean_host")
def test_ctrl_c_while_the_deploy_report_is_printed_rolls_back(topo, lab_name, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt()
    monkeypatch.setattr(cli, "_print_lab", interrupted)
    assert cli.main(["deploy", topo(TWO_HOSTS)]) == 130
    assert "everything this command had created was removed" in capsys.readouterr().err
    assert _lab_gone(lab_name)


@integration
@pytest.mark.usefixtures("clean_host")
def test_ctrl_c_while_the_lab_is_marked_running_rolls_back(topo, lab_name, monkeypatch):
    real = state.write_state

    def write(name, st):
        if st.get("status") == "running":
            raise KeyboardInterrupt()
        real(name, st)
    monkeypatch.setattr(state, "write_state", write)
    with pytest.raises(KeyboardInterrupt):
        api.deploy(topo(TWO_HOSTS))
    assert _lab_gone(lab_name)


@integration
@pytest.mark.usefixtures("clean_host")
def test_sigint_just_after_deployed_is_rolled_back_or_reported(topo, lab_name):
    """Whatever the moment: 130 and the lab gone, or 0 with the lab up and the destroy command printed."""
    path = topo(TWO_HOSTS)
    for delay in (0, 0.002, 0.01):
        p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", path], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = ""
        for line in p.stderr:
            err += line
            if "deployed" in line:
                time.sleep(delay)
                p.send_signal(signal.SIGINT)
                break
        out, rest = p.communicate(timeout=60)
        err += rest
        if p.returncode == 130:
            assert "removed" in err and _lab_gone(lab_name), err
        else:
            assert p.returncode == 0, (p.returncode, err)
            assert f"destroy {lab_name}" in out and lab_name in state.list_labs()
            api.destroy(lab_name)


@integration
@pytest.mark.usefixtures("clean_host")
def test_ctrl_c_while_the_namespaces_are_made_leaves_none_of_them(lab_name):
    """Namespaces are made by several workers: a Ctrl-C as soon as the first of them appears stops
    them all before the rollback reads the journal, so none is left behind."""
    p = subprocess.Popen([sys.executable, "-m", "emulator", "deploy", "--topo", "linear,300", "--name", lab_name,
                          "--max-rows", "0"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prefix = f"emu-{lab_name}"
    end = time.monotonic() + 60
    while time.monotonic() < end and p.poll() is None:
        if any(n == prefix or n.startswith(prefix + ".") for n in os.listdir("/run/netns")):
            break
        time.sleep(0.001)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err)
    left = [n for n in os.listdir("/run/netns") if n == prefix or n.startswith(prefix + ".")]
    assert left == [] and lab_name not in state.list_labs(), (left, err)


# -- exec: 127 and 126 as a shell --------------------------------------------------------------------

@integration
@pytest.mark.usefixtures("clean_host")
def test_exec_of_a_missing_or_unexecutable_command_is_127_or_126(topo, lab_name, tmp_path):
    api.deploy(topo(TWO_HOSTS))
    try:
        r = emulator("exec", lab_name, "a", "--", "no-such-command-xyz")
        assert r.returncode == 127 and "no-such-command-xyz" in r.stderr and "not found" in r.stderr
        r = emulator("exec", lab_name, "a", "--", str(tmp_path / "missing"))
        assert r.returncode == 127
        plain = tmp_path / "plain.sh"
        plain.write_text("#!/bin/sh\nexit 0\n")
        plain.chmod(0o644)
        assert emulator("exec", lab_name, "a", "--", str(plain)).returncode == 126
        assert emulator("exec", lab_name, "a", "--", str(tmp_path)).returncode == 126
        assert emulator("exec", lab_name, "a", "--", "sh", "-c", "exit 7").returncode == 7
    finally:
        api.destroy(lab_name)


# -- plan and inspect output -------------------------------------------------------------------------

def test_plan_names_the_bridge_a_port_is_enslaved_to():
    c = compile_text("""
        name: p
        nodes: {h1: {kind: host}, h2: {kind: host}, sw1: {kind: bridge}}
        links: [[h1, sw1], [h2, sw1]]
    """)
    lines = [a.describe() for a in c.actions if " master " in a.describe()]
    assert lines == ["[emu-p] ip link set sw1-eth1 master sw1 up", "[emu-p] ip link set sw1-eth2 master sw1 up"]


def test_impairments_are_shown_with_units():
    assert human_impairment({"bandwidth": 1000000000, "delay": 0.002, "jitter": 0.0005, "loss": 0.1}) == \
        "bandwidth=1gbit delay=2ms jitter=500us loss=0.1%"
    assert human_impairment({"bandwidth": 1500000}) == "bandwidth=1.5mbit"


@integration
@pytest.mark.usefixtures("clean_host")
def test_inspect_shows_bandwidth_with_units(topo, lab_name):
    api.deploy(topo(TWO_HOSTS))
    try:
        r = emulator("inspect", lab_name)
        assert r.returncode == 0, r.stderr
        assert "bandwidth=1gbit" in r.stdout and "1000000000" not in r.stdout
    finally:
        api.destroy(lab_name)


_AS_NOBODY = """
import os, sys
from emulator import cli, lab, units   # imported while root: the interpreter lives under /root
from emulator.core import drivers
from emulator.backends.nsm import cli as _nsm_cli
cli.build_parser()                                 # imports what the parser's help texts import
import emulator.deploy.kernel.netlink, emulator.deploy.kernel.netns, emulator.ui_text, emulator.backends.nsm.cli  # noqa
os.setgroups([]); os.setgid(65534); os.setuid(65534)
sys.exit(cli.main(sys.argv[1:]))
"""


def _as_nobody(*args, env=None):
    return subprocess.run([sys.executable, "-c", _AS_NOBODY, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env={**os.environ, **(env or {})})


@integration
@pytest.mark.usefixtures("clean_host")
def test_inspect_as_non_root_says_it_needs_root(topo, lab_name, tmp_path):
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    (private / "somelab").mkdir()
    tmp_path.chmod(0o755)
    r = _as_nobody("inspect", env={"EMULATOR_RUN_DIR": str(private)})
    assert r.returncode == 3 and "needs root" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "no lab is deployed" not in r.stdout + r.stderr
    # a lab whose state is readable: what can be read is shown, link state needs root (exit 3)
    api.deploy(topo(TWO_HOSTS))
    try:
        r = _as_nobody("inspect", lab_name)
        assert r.returncode == 3 and "need root" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "emu-" + lab_name + ".a" in r.stdout
    finally:
        api.destroy(lab_name)


# -- startup commands' timeout -----------------------------------------------------------------------

def test_exec_timeout_is_documented_and_per_node():
    from emulator.core.schema import topology_schema
    text = json.dumps(topology_schema())
    assert "exec_timeout" in text and "default 120" in text
    c = compile_text("""
        name: e
        nodes:
          a: {kind: host, exec: ["true"], exec_timeout: 5}
          b: {kind: host, exec: ["true"]}
        links: [[a, b]]
    """)
    timeouts = {a.node: a.timeout for a in c.actions if type(a).__name__ == "Exec"}
    assert timeouts == {"a": 5, "b": 120}
    with pytest.raises(TopologyError, match="exec_timeout"):
        compile_text("""
            name: e
            nodes: {a: {kind: host, exec_timeout: 0}}
        """)


@integration
@pytest.mark.usefixtures("clean_host")
def test_a_startup_command_past_its_exec_timeout_rolls_the_deploy_back(topo, lab_name):
    path = topo("""
        name: {lab}
        nodes:
          a: {kind: host, exec: ["sleep 30"], exec_timeout: 0.5}
          b: {kind: host}
        links: [[a, b]]
    """)
    with pytest.raises(DeployError, match="exec_timeout of 0.5 s"):
        api.deploy(path)
    assert _lab_gone(lab_name)


# -- user values in messages: escaped, bounded -------------------------------------------------------

def test_quote_escapes_control_characters_and_cuts_long_values():
    assert quote("a\x1b[31mb\nc") == "'a\\x1b[31mb\\nc'"
    q = quote("x" * 1_000_000)
    assert len(q) < 200 and q.endswith("(999880 more characters)")


BAD_VALUES = {   # BIG: a megabyte-long value that starts with a terminal escape sequence
    "kind": "name: v\nnodes: {a: {kind: BIG}}\n",
    "key": "name: v\nnodes:\n  a:\n    kind: host\n    ? BIG\n    : 1\n",   # explicit: a plain key is < 1024
    "name": "name: BIG\nnodes: {a: {kind: host}}\n",
    "bandwidth": "name: v\nnodes: {a: {kind: host}, b: {kind: host}}\nlinks: [{endpoints: [a, b], bandwidth: BIG}]\n",
    "endpoint": "name: v\nnodes: {a: {kind: host}, b: {kind: host}}\nlinks: [[a, BIG]]\n",
}


@pytest.mark.parametrize("where", sorted(BAD_VALUES))
def test_errors_quote_a_megabyte_value_and_an_escape_sequence_safely(where, tmp_path):
    big = "\x1b[2J\x1b]0;owned\x07" + "9" * 1_000_000
    text = BAD_VALUES[where].replace("BIG", json.dumps(big))   # YAML reads JSON's \u001b escapes
    with pytest.raises(TopologyError) as e:
        api.compile(load_text(text, "t.yaml"), check_host=False)
    msg = e.value.format()
    assert "\x1b" not in msg and "\x07" not in msg, msg[:300]
    assert "\\x1b" in msg and len(msg) < 10_000, msg[:300]
    # the CLI too: exit 2, nothing raw reaches the terminal
    path = tmp_path / "t.yaml"
    path.write_text(text)
    r = emulator("validate", "--no-host-check", str(path))
    assert r.returncode == 2 and "\x1b" not in r.stderr and len(r.stderr) < 10_000, r.stderr[:300]


def test_a_capability_probe_that_times_out_is_not_reported_as_missing(monkeypatch):
    """Under load a new namespace can take long; the probe's time-out must not turn into
    'this kernel has no tbf' (exit 2 on a valid topology): it is an environment problem, not cached."""
    import subprocess

    from emulator.deploy import capabilities
    from emulator.errors import EnvironmentProblem

    def slow(*a, **kw):
        raise subprocess.TimeoutExpired(a[0], kw.get("timeout"))
    capabilities.qdisc.cache_clear()
    monkeypatch.setattr(capabilities.subprocess, "run", slow)
    with pytest.raises(EnvironmentProblem, match="took over"):
        capabilities.tbf()
    monkeypatch.undo()
    capabilities.qdisc.cache_clear()
    assert capabilities.qdisc("tbf", "rate 1mbit burst 16k latency 50ms")[0] in (True, False)
