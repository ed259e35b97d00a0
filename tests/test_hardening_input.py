"""Hostile or odd input is refused early, located and cheaply (no root needed)."""
import tracemalloc
from pathlib import Path

import pytest
import yaml

from emulator.core import loader
from emulator.errors import TopologyError
from emulator.core.loader import load_text

ROOT = Path(__file__).resolve().parent.parent
BOMB = (ROOT / "tests" / "errors" / "alias_bomb.yml").read_text()


def test_alias_bomb_is_measured_on_its_distinct_nodes_not_expanded():
    """The check visits each distinct YAML node once: ~100 for a bomb that expands to 10^8."""
    root = yaml.SafeLoader(BOMB).get_single_node()
    ex = loader.Expansion(root)
    assert ex.size(root) > loader.MAX_EXPANDED
    assert ex.distinct < 150            # the work done: nodes measured, not values expanded


def test_alias_bomb_is_refused_before_anything_is_built(monkeypatch):
    built = []
    real = loader.Source

    def spy(*a, **k):   # the loader makes its Source only after the expansion check
        built.append(1)
        return real(*a, **k)
    monkeypatch.setattr(loader, "Source", spy)
    tracemalloc.start()
    try:
        with pytest.raises(TopologyError) as exc:
            load_text(BOMB, "bomb.yml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (issue,) = exc.value.issues
    assert issue.file == "bomb.yml" and issue.line == 10 and "alias" in issue.message
    assert not built
    assert peak < 5_000_000, f"refusing the bomb allocated {peak} bytes"   # (it took 500 MB before)


def test_the_limit_is_on_expansion_not_on_size(monkeypatch):
    """A long document without aliases is not an alias bomb; the same values through aliases are."""
    monkeypatch.setattr(loader, "MAX_EXPANDED", 500)
    plain = "name: x\nnodes: {h1: {kind: host}}\ndescription: [" + ", ".join(["1"] * 2000) + "]\n"
    assert len(load_text(plain).data["description"]) == 2000
    aliased = ("name: x\nnodes: {h1: {kind: host}}\nx: &x [" + ", ".join(["1"] * 100) + "]\n"
               "description: [" + ", ".join(["*x"] * 20) + "]\n")
    with pytest.raises(TopologyError) as exc:
        load_text(aliased, "a.yml")
    assert exc.value.issues[0].path == ("description",) and exc.value.issues[0].line == 4
    ok = "name: x\nnodes: {h1: {kind: host}}\nx: &x [1, 2]\ndescription: [*x, *x]\n"
    assert load_text(ok).data["description"] == [[1, 2], [1, 2]]


@pytest.mark.parametrize("value,tag", [("!!bool maybe", "bool"), ("!!int 12a", "int"), ("!!float x1", "float")])
def test_a_value_that_does_not_fit_its_explicit_tag_is_located(value, tag):
    with pytest.raises(TopologyError) as exc:
        load_text(f"name: lab\nnodes:\n  h1: {{kind: host, mtu: {value}}}\n", "t.yml")
    (issue,) = exc.value.issues
    assert (issue.line, issue.column, issue.path) == (3, 25, ("nodes", "h1", "mtu"))
    assert f"!!{tag}" in issue.message


def test_explicit_tags_that_fit_still_work():
    src = load_text("name: !!str 123\nnodes: {h1: {kind: host, mtu: !!int '1500'}}\n")
    assert src.data["name"] == "123" and src.data["nodes"]["h1"]["mtu"] == 1500


# -- --name for every verb that takes a topology file ----------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from emulator import cli
from emulator.deploy import state  # noqa: E402
from emulator.deploy.kernel import netns  # noqa: E402

FW = str(ROOT / "topologies" / "fw-chain.yaml")


def emulator(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("verb", [["validate", "--no-host-check"], ["graph"], ["graph", "-f", "json"], ["plan"],
                                  ["explain", "-f", "json"]])
def test_name_renames_the_lab_of_a_file(verb, capsys):
    """`--name` was silently ignored for a file (the lab took the file's name)."""
    assert cli.main([verb[0], FW, "--name", "other1", *verb[1:]]) == 0
    out = capsys.readouterr().out
    if verb[0] != "explain":   # (explain shows chains, which do not name the lab: it accepts --name)
        assert "other1" in out and "fw-chain" not in out.replace("fw-chain.yaml", "")


def test_dry_run_deploy_plans_under_the_given_name(capsys):
    assert cli.main(["deploy", "--dry-run", FW, "--name", "other2"]) == 0
    out = capsys.readouterr().out
    assert "emu-other2.client" in out and "emu-fw-chain" not in out


@pytest.mark.parametrize("argv,message", [
    (["validate", FW, "--name", "a b"], "invalid lab name 'a b'"),
    (["deploy", FW, "--name", "../x"], "invalid lab name '../x'"),
    (["destroy", "fw-chain", "--name", "x"], "give a lab name or --name, not both"),
])
def test_bad_or_ambiguous_names_are_refused(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


integration = pytest.mark.skipif(os.geteuid() != 0, reason="integration tests need root")


@integration
@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_deploy_and_destroy_a_file_under_another_name(topo, lab_name):
    path = topo("""
        name: fw-chain
        nodes:
          a: {kind: host, ip: [10.9.0.1/30]}
          b: {kind: host, ip: [10.9.0.2/30]}
        links: [[a, b]]
    """)
    r = emulator("deploy", path, "--name", lab_name)
    try:
        assert r.returncode == 0, r.stderr
        assert netns.exists(f"emu-{lab_name}.a")
        assert state.read_state(lab_name)["file"] == path
        assert emulator("exec", lab_name, "a", "--", "ping", "-c1", "-W2", "10.9.0.2").returncode == 0
    finally:
        d = emulator("destroy", path, "--name", lab_name)
    assert d.returncode == 0, d.stderr
    assert lab_name not in state.list_labs() and not netns.exists(f"emu-{lab_name}.a")


@integration
@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_make_demo_replaces_only_its_own_lab(topo, lab_name):
    """`make demo` destroyed any lab named fw-chain; now a lab of its name that another file made
    is left alone (exit non-zero, said why), and its own earlier demo is replaced."""
    make = ["make", "-s", "-o", "system", "-o", "venv", f"DEMO_LAB={lab_name}", "demo"]
    decoy = topo("name: {lab}\nnodes: {a: {kind: host}}\n", "decoy.yaml")
    assert emulator("deploy", decoy).returncode == 0
    try:
        r = subprocess.run(make, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode != 0
        assert f"a lab named {lab_name} is already deployed (from {decoy})" in r.stderr
        assert state.read_state(lab_name)["file"] == decoy and netns.exists(f"emu-{lab_name}.a")
    finally:
        assert emulator("destroy", lab_name).returncode == 0
    try:
        for _ in range(2):   # the second time it replaces the demo it made the first time
            r = subprocess.run(make, capture_output=True, text=True, timeout=300, cwd=ROOT)
            assert r.returncode == 0, r.stderr
            assert json.loads(emulator("inspect", lab_name, "-f", "json").stdout)["file"] == FW
            assert "3 received" in r.stdout
    finally:
        emulator("destroy", lab_name)
    assert lab_name not in state.list_labs()


@integration
@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_what_the_runner_concludes_from_the_labs_lock_and_state(lab_name):
    """`inspect` takes a lab's lock for an instant: that is not a destroy. A lock kept, no state,
    or a state another process wrote (a new lab of the same name) all mean the lab is lost."""
    import threading
    from emulator.scenario import runner
    with state.locked(lab_name, create=True):
        state.write_state(lab_name, {"name": lab_name, "pid": os.getpid(), "nodes": {}, "links": []})
    try:
        assert runner.lab_lost(lab_name) is None
        held, release = threading.Event(), threading.Event()

        def hold():
            with state.locked(lab_name, create=False):
                held.set()
                release.wait(30)
        t = threading.Thread(target=hold)
        t.start()
        held.wait(30)
        threading.Timer(0.3, release.set).start()   # a short hold, as inspect's
        assert runner.lab_lost(lab_name) is None
        t.join()
        state.write_state(lab_name, {"name": lab_name, "pid": 1, "nodes": {}, "links": []})
        assert "deployed again by another process (pid 1)" in runner.lab_lost(lab_name)
    finally:
        state.remove(lab_name)
    assert runner.lab_lost(lab_name) == f"lab '{lab_name}' was destroyed by another process"


def test_a_dry_run_through_the_cli_in_process_leaves_host_commands_running():
    """`deploy --dry-run` turns host commands off for its own call only: run in-process (tests, the
    Python API), it left them off, and every later command "succeeded" with no output."""
    from emulator.deploy import hostcmd
    assert cli.main(["deploy", "--dry-run", FW]) == 0
    assert hostcmd.dry_run is False
    assert hostcmd.run(["echo", "ran"]).stdout == "ran\n"
