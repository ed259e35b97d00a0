"""Hardening: lab and node names never lead outside the emulator's own directories, a failed deploy
removes only what it made, and the names derived from two labs never coincide.

Each test puts decoys named like the emulator's things next to it and checks they survive."""
import json
import os
import subprocess
import sys

import pytest

from emulator.backends.dpdk import hugepages
from emulator import names
from emulator.deploy import state, teardown
from emulator import lab as api
from emulator.backends.dpdk.testpmd import Testpmd, file_prefix, spec_path
from emulator.errors import DeployError, LabError, TopologyError, UsageError
from emulator.deploy.kernel import netns
from emulator.core.model import lab_tag

from conftest import compile_text

BAD_NAMES = ["..", ".", "../../victim", "labD/..", "a/b", "", "a.b", "-a", "x" * 33]


def run_cli(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# -- 1. names that would leave the run directory ----------------------------------------------------
@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A throwaway EMULATOR_RUN_DIR two levels down, with two decoy labs' state and a decoy victim
    directory where '../../victim' points."""
    rd = tmp_path / "a" / "run"
    for lab in ("labD", "other"):
        (rd / lab).mkdir(parents=True)
        (rd / lab / "state.json").write_text("{}")
    (tmp_path / "a" / "victim").mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "precious").write_text("keep me")
    monkeypatch.setattr(state, "RUN_DIR", str(rd))
    return rd


def _decoys_intact(rd):
    assert (rd / "labD" / "state.json").exists() and (rd / "other" / "state.json").exists()
    assert (rd.parent.parent / "victim" / "precious").read_text() == "keep me"
    assert (rd.parent / "victim").is_dir()


@pytest.mark.parametrize("name", ["../../victim", ".", "labD/..", "..", "../victim"])
def test_cli_destroy_refuses_names_that_leave_the_run_dir(run_dir, name):
    r = run_cli("destroy", name, env={"EMULATOR_RUN_DIR": str(run_dir)})
    assert r.returncode == 2, r.stderr
    assert f"invalid lab name '{name}'" in r.stderr and "letters, digits" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    _decoys_intact(run_dir)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_every_api_entry_point_refuses_a_bad_lab_name(run_dir, name):
    for call in (lambda: api.destroy(name), lambda: api.get(name), lambda: api.exec_argv(name, "a", ["true"]),
                 lambda: api.exec_in(name, "a", ["true"]), lambda: state.lab_dir(name),
                 lambda: state.remove(name), lambda: state.read_state(name), lambda: Testpmd.of(name, "a")):
        with pytest.raises(UsageError, match="invalid lab name"):
            call()
    _decoys_intact(run_dir)


def test_a_bad_node_name_is_refused_before_any_path_is_made(run_dir):
    (run_dir / "good").mkdir()
    (run_dir / "good" / "state.json").write_text(json.dumps({"name": "good", "nodes": {}, "links": []}))
    for node in ("../../victim", "..", "a.b", "a/b"):
        with pytest.raises(UsageError, match="invalid node name"):
            api.exec_argv("good", node, ["true"])
        with pytest.raises(UsageError, match="invalid node name"):
            spec_path("good", node)
    _decoys_intact(run_dir)


def test_stray_entries_of_the_run_dir_are_not_labs(run_dir):
    (run_dir / "a.b").mkdir()
    (run_dir / ".hidden").mkdir()
    os.symlink(str(run_dir.parent / "victim"), str(run_dir / "linked"))
    assert state.list_labs() == ["labD", "other"]
    assert {s["name"] for s in api.labs()} == {"labD", "other"}


def test_inside_refuses_paths_outside_their_root(tmp_path):
    root = tmp_path / "root"
    (root / "lab").mkdir(parents=True)
    os.symlink(str(tmp_path), str(root / "escape"))
    assert state.inside(str(root / "lab"), str(root)) == str(root / "lab")
    assert state.inside(str(root / "escape"), str(root)) == str(root / "escape")   # the link itself
    for bad in (root, root / "..", root / "lab" / ".." / "..", root / "escape" / "x", tmp_path / "rootx"):
        with pytest.raises(LabError, match="does not lie inside"):
            state.inside(str(bad), str(root))


def test_state_removal_never_follows_a_link_out_of_the_run_dir(run_dir):
    victim = run_dir.parent.parent / "victim"
    os.symlink(str(victim), str(run_dir / "linked"))
    state.remove("linked")
    assert not os.path.lexists(run_dir / "linked")
    _decoys_intact(run_dir)


@pytest.mark.parametrize("field,value", [("name", "a.b"), ("name", ".."), ("name", "../x"), ("node", "x.y"),
                                         ("node", "..")])
def test_topology_names_with_separator_or_dots_are_located_errors(field, value):
    lab, node = ("good", value) if field == "node" else (value, "h1")
    with pytest.raises(TopologyError) as e:
        compile_text(f"""
            name: {json.dumps(lab)}
            nodes:
              {json.dumps(node)}: {{kind: host}}
        """)
    text = str(e.value)
    assert f"invalid {'node ' if field == 'node' else 'lab '}name" in text and "test.yaml:" in text, text
    assert "letters, digits, '-' and '_'" in text


def test_a_state_file_naming_foreign_namespaces_is_refused(run_dir):
    (run_dir / "lab1").mkdir()
    st = {"name": "lab1", "status": "running", "links": [],
          "nodes": {"a": {"kind": "host", "netns": "victim-ns", "interfaces": {}}}}
    (run_dir / "lab1" / "state.json").write_text(json.dumps(st))
    with pytest.raises(LabError, match="victim-ns"):
        api.exec_argv("lab1", "a", ["true"])
    assert [s["status"] for s in api.labs() if s["name"] == "lab1"] == ["crashed"]
    st["nodes"]["a"]["netns"] = "emu-lab1.a"
    st["name"] = "lab2"   # another lab's state copied in
    (run_dir / "lab1" / "state.json").write_text(json.dumps(st))
    with pytest.raises(LabError, match="not the state of lab 'lab1'"):
        api.get("lab1")


def test_journal_records_naming_what_the_lab_does_not_make_are_not_undone(run_dir, tmp_path):
    decoy = tmp_path / "decoy-mount"
    decoy.mkdir()   # empty: the hugetlbfs undo would rmdir it
    rt = tmp_path / "dpdk"
    (rt / "emu-rl-x-y.z").mkdir(parents=True)
    records = [{"op": "hugetlbfs", "path": str(decoy)},
               {"op": "hugetlbfs", "path": str(run_dir / "labD")},
               {"op": "dpdk-runtime", "prefix": "emu-rl-x-y.z"},        # lab rl-x-y's app, not rl-x's
               {"op": "dpdk-runtime", "prefix": "emu-rl-x", "rundir": str(tmp_path)},
               {"op": "netns", "name": "emu-rl-x-y.z", "tag": lab_tag("rl-x")},
               {"op": "netns", "name": "emu-rl-x.z", "tag": lab_tag("rl-x-y")},
               {"op": "ovs-bridge", "db": "unix:/nonexistent", "bridge": "sw", "lab": "rl-x-y"}]
    old = hugepages.DPDK_RUNTIME
    hugepages.DPDK_RUNTIME = str(rt)
    try:
        problems = teardown.teardown(records, lab="rl-x")
    finally:
        hugepages.DPDK_RUNTIME = old
    assert len(problems) == len(records), problems
    assert decoy.is_dir() and (rt / "emu-rl-x-y.z").is_dir()
    _decoys_intact(run_dir)


# -- 3. derived names are unambiguous across labs ---------------------------------------------------
def _derived(lab: str, nodes: list[str]) -> set[str]:
    """What the code that names things makes of a lab (the namespaces, the DPDK and OVS-DPDK
    file prefixes, which are also /var/run/dpdk/PREFIX)."""
    from types import SimpleNamespace

    from emulator.backends.ovs.driver import ovs_prefix
    from emulator.core.model import fabric_netns, node_netns
    out = {fabric_netns(lab), ovs_prefix(SimpleNamespace(name=lab))}
    for n in nodes:
        out |= {node_netns(lab, n), file_prefix(lab, n)}
    return out


def test_no_two_labs_derive_the_same_name():
    words = "rl-x-y-z-ovs".split("-")
    owners: dict[str, tuple] = {}
    # every way to cut rl-x-y-z-ovs into a lab name and a node name (and a node 'ovs' of each lab)
    for cut in range(1, len(words)):
        lab, node = "-".join(words[:cut]), "-".join(words[cut:])
        for name in _derived(lab, [node, "ovs"]):
            owner = owners.setdefault(name, (lab,))
            assert owner == (lab,), f"{name} is derived by lab {owner[0]} and lab {lab}"


def test_the_labs_of_the_issue_get_different_dpdk_prefixes_and_namespaces():
    a = compile_text("""
        name: rl-x
        nodes:
          y-z: {kind: dpdk-app, mode: rxonly}
          sw: {kind: ovs-dpdk}
        links: [{endpoints: [y-z, sw], type: vhost-user}]
    """)
    b = compile_text("""
        name: rl-x-y
        nodes:
          z: {kind: dpdk-app, mode: rxonly}
          ovs: {kind: dpdk-app, mode: rxonly}
          sw: {kind: ovs-dpdk}
        links: [{endpoints: [z, sw], type: vhost-user}, {endpoints: [ovs, sw], type: vhost-user}]
    """)

    def prefixes(c):
        out = {a.prefix for a in c.actions if type(a).__name__ == "StartDpdkApps"}
        out |= {a.file_prefix for a in c.actions if type(a).__name__ == "StartOvs"}
        argv = [x for a in c.actions if type(a).__name__ == "StartDpdkApps" for x in a.argv]
        assert {x for x in argv if x.startswith("--file-prefix=")} == \
            {f"--file-prefix={p}" for p in out if p != names.ovs_prefix(c.lab.name)}
        return out

    pa, pb = prefixes(a), prefixes(b)
    assert pa == {"emu-rl-x.y-z", "emu-rl-x"} and pb == {"emu-rl-x-y.z", "emu-rl-x-y.ovs", "emu-rl-x-y"}
    assert not pa & pb
    assert not set(a.lab.namespaces()) & set(b.lab.namespaces())
    assert file_prefix("rl-x", "y-z") != file_prefix("rl-x-y", "z")


def test_dpdk_teardown_acts_only_on_its_exact_prefix(tmp_path, monkeypatch):
    """Lab rl-x node y-z's undo record: its testpmd and runtime dir go; lab rl-x-y node z's (the
    colliding name before), and rl-x's node y-z2 (a longer prefix starting the same), stay."""
    rt = tmp_path / "dpdk"
    mine, other, longer = names.dpdk_prefix("rl-x", "y-z"), names.dpdk_prefix("rl-x-y", "z"), \
        names.dpdk_prefix("rl-x", "y-z2")
    for p in (mine, other, longer):
        (rt / p).mkdir(parents=True)
        (rt / p / "config").write_text("")
    monkeypatch.setattr(hugepages, "DPDK_RUNTIME", str(rt))
    procs = {p: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--file-prefix={p}"])
             for p in (mine, other, longer)}
    try:
        problems = teardown.teardown([{"op": "dpdk-runtime", "prefix": mine}], lab="rl-x")
        assert problems == []
        assert procs[mine].wait(timeout=10) != 0
        assert not (rt / mine).exists()
        for p in (other, longer):
            assert procs[p].poll() is None, f"the process of {p} was killed"
            assert (rt / p / "config").exists()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def test_ovs_teardown_matches_only_paths_inside_its_run_directory():
    d = "/run/emulator/rl-x/ovs/"
    for arg in (f"--pidfile={d}ovs-vswitchd.pid", f"unix:{d}db.sock", f"--remote=punix:{d}db.sock", f"{d}conf.db"):
        assert hugepages._tagged(arg, d), arg
    for arg in ("--pidfile=/run/emulator/rl-x-y/ovs/ovs-vswitchd.pid", "unix:/run/emulator/rl-x-y/ovs/db.sock",
                f"/x{d}conf.db", "--file-prefix=emu-rl-x.y-z2"):
        assert not hugepages._tagged(arg, d), arg
    assert not hugepages._tagged("--file-prefix=emu-rl-x.y-z2", "--file-prefix=emu-rl-x.y-z")


# -- 2. a failed deploy removes only what it made (real namespaces) ---------------------------------
def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _links_in(ns):
    r = subprocess.run(["ip", "-n", ns, "-o", "link"], capture_output=True, text=True, check=True)
    return {l.split(": ")[1].split("@")[0] for l in r.stdout.splitlines()}


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@pytest.mark.parametrize("which", ["node", "forwarding"])
def test_failed_deploy_leaves_a_namespace_that_was_already_there(topo, lab_name, which):
    foreign = f"emu-{lab_name}.client" if which == "node" else f"emu-{lab_name}"
    _ip("netns", "add", foreign)
    try:
        _ip("-n", foreign, "link", "add", "dv0", "type", "veth", "peer", "name", "dv1")
        path = topo("""
            name: {lab}
            nodes:
              server: {kind: host}
              client: {kind: host}
              sw: {kind: bridge}
            links: [[client, sw], [server, sw]]
        """)
        with pytest.raises(DeployError, match=f"{foreign} already exists"):
            api.deploy(path)
        assert netns.exists(foreign), "the rollback deleted a namespace it did not create"
        assert {"dv0", "dv1"} <= _links_in(foreign)
        mine = {f"emu-{lab_name}.server", f"emu-{lab_name}.client", f"emu-{lab_name}"} - {foreign}
        assert not any(netns.exists(n) for n in mine), "the deploy's own namespaces were not rolled back"
        assert lab_name not in state.list_labs()
    finally:
        subprocess.run(["ip", "netns", "del", foreign], capture_output=True)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_destroy_leaves_a_journaled_namespace_that_does_not_carry_the_labs_tag(topo, lab_name):
    st = api.deploy(topo("""
        name: {lab}
        nodes: {a: {kind: host}, b: {kind: host}}
        links: [[a, b]]
    """))
    decoy = f"emu-{lab_name}.ghost"      # named like the lab's, made by someone else
    _ip("netns", "add", decoy)
    placeholder = netns.path(f"emu-{lab_name}.half")   # killed after claiming the name, before mounting
    try:
        open(placeholder, "x").close()
        j = state.Journal(lab_name)
        j.append([{"op": "netns", "name": decoy, "tag": lab_tag(lab_name)},
                  {"op": "netns", "name": f"emu-{lab_name}.half", "tag": lab_tag(lab_name)}])
        j.close()
        problems = api.destroy(lab_name)
        assert len(problems) == 1 and decoy in problems[0] and "left alone" in problems[0], problems
        assert netns.exists(decoy)
        assert not os.path.lexists(placeholder)
        assert not any(netns.exists(n["netns"]) for n in st["nodes"].values())
    finally:
        subprocess.run(["ip", "netns", "del", decoy], capture_output=True)
        if os.path.lexists(placeholder):
            os.unlink(placeholder)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_the_labs_namespaces_are_tagged_before_they_appear(topo, lab_name):
    """A namespace is mounted under its name only once its lo carries the lab's tag."""
    tag = lab_tag(lab_name)
    created = netns.create_many([f"emu-{lab_name}.n1"], tag=tag)
    try:
        assert created == [(f"emu-{lab_name}.n1", None)]
        assert teardown.not_ours(f"emu-{lab_name}.n1", tag) is None
        assert "not this lab's" in teardown.not_ours(f"emu-{lab_name}.n1", lab_tag(lab_name + "z"))
        again = netns.create_many([f"emu-{lab_name}.n1"], tag=lab_tag(lab_name + "z"))
        assert isinstance(again[0][1], FileExistsError)
        assert teardown.not_ours(f"emu-{lab_name}.n1", tag) is None, "a refused create changed the namespace"
    finally:
        netns.delete(f"emu-{lab_name}.n1")



@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_a_failing_journal_write_leaves_no_placeholder_and_every_name_gets_an_answer(lab_name):
    def claimed(name, cookie):
        assert type(cookie) is int   # the namespace's own, journaled with it
        raise ValueError("journal full")
    names = [f"emu-{lab_name}.n1", f"emu-{lab_name}.n2"]
    got = netns.create_many(names, tag=lab_tag(lab_name), on_claimed=claimed)
    assert [n for n, _ in got] == names and all(isinstance(e, ValueError) for _, e in got)
    assert not any(os.path.lexists(netns.path(n)) for n in names)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_namespaces_made_by_parallel_workers_answer_in_order_and_leave_a_decoy_alone(lab_name):
    """create_many splits the names over a worker per CPU: every name still gets its own answer in
    order, each claimed namespace is journaled once with its own cookie (the journal is called by
    one worker at a time), and a namespace that was already there is refused, untouched."""
    names = [f"emu-{lab_name}.n{i}" for i in range(24)]
    decoy = names[7]
    subprocess.run(["ip", "netns", "add", decoy], check=True)
    before = os.stat(netns.path(decoy)).st_ino
    calls, inside = [], []

    def claimed(name, cookie):
        inside.append(name)
        assert len(inside) == 1, "two workers in the journal at once"
        calls.append((name, cookie))
        inside.pop()

    try:
        got = netns.create_many(names, tag=lab_tag(lab_name), on_claimed=claimed)
        assert [n for n, _ in got] == names
        assert isinstance(dict(got)[decoy], FileExistsError)
        assert all(e is None for n, e in got if n != decoy)
        assert sorted(n for n, _ in calls) == sorted(n for n in names if n != decoy)
        assert len({c for _, c in calls}) == len(calls) and all(type(c) is int for _, c in calls)
        assert os.stat(netns.path(decoy)).st_ino == before
        assert teardown.not_ours(decoy, lab_tag(lab_name)) is not None   # no tag put on it
        assert all(teardown.not_ours(n, lab_tag(lab_name)) is None for n in names if n != decoy)
    finally:
        for n in names:
            if n != decoy:
                netns.delete(n)
        subprocess.run(["ip", "netns", "del", decoy], capture_output=True)


def test_web_ui_destroy_and_console_refuse_a_bad_name(run_dir):
    import time

    pytest.importorskip("dash")
    from webui import console, jobs
    job = jobs.destroy("../../victim")
    end = time.monotonic() + 10
    while job.status == "running" and time.monotonic() < end:
        time.sleep(0.02)
    assert job.status == "failed" and "invalid lab name '../../victim'" in job.message, job.as_dict()
    with pytest.raises(UsageError, match="invalid lab name"):
        console.Console("..", "a")
    with pytest.raises(UsageError, match="invalid node name"):
        (run_dir / "good").mkdir()
        (run_dir / "good" / "state.json").write_text(json.dumps({"name": "good", "nodes": {}, "links": []}))
        console.Console("good", "../x")
    _decoys_intact(run_dir)
