"""private_dirs: each node's own directories in its own mount namespace; the host's stay untouched."""
import os
import subprocess

import pytest

from emulator import cli
from emulator import lab as api
from emulator.deploy import state
from emulator.errors import DeployError, TopologyError
from conftest import compile_text

pytestmark = pytest.mark.usefixtures("clean_host")
SCENARIO = os.path.join(os.path.dirname(__file__), "..", "scenarios", "frr-ospf.yaml")


def mounts_of(lab):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if state.lab_dir(lab) in line.split()[4]]


@pytest.fixture
def shared(tmp_path):
    d = tmp_path / "shared"   # stands for /etc/frr: a directory of the host that both nodes write
    d.mkdir()
    (d / "host-file").write_text("the host's\n")
    return d


@pytest.mark.integration
def test_nodes_write_the_same_path_privately(topo, lab_name, shared):
    f = topo(f"""
        name: {{lab}}
        nodes:
          a: {{kind: host, private_dirs: [{shared}], exec: ["echo a > {shared}/who"]}}
          b: {{kind: router, private_dirs: [{shared}], exec: ["echo b > {shared}/who"]}}
          c: {{kind: host}}
        links: [[a, b], [b, c]]
        """)
    api.deploy(f)
    try:
        assert api.exec_in(lab_name, "a", ["cat", f"{shared}/who"]).stdout == "a\n"
        assert api.exec_in(lab_name, "b", ["cat", f"{shared}/who"]).stdout == "b\n"
        assert sorted(os.listdir(shared)) == ["host-file"]          # the host's directory is untouched
        assert api.exec_in(lab_name, "a", ["ls", str(shared)]).stdout == "who\n"   # an empty one of its own
        assert api.exec_in(lab_name, "c", ["ls", str(shared)]).stdout == "host-file\n"   # c has none
        # emulator exec goes through the node's mount namespace too, with the node's /sys
        full = api.exec_argv(lab_name, "a", ["sh", "-c", f"cat {shared}/who; ls /sys/class/net"])
        out = subprocess.run(full, capture_output=True, text=True).stdout.split()
        assert out[0] == "a" and "eth0" in out and "lo" in out
        assert mounts_of(lab_name)
    finally:
        api.destroy(lab_name)
    assert mounts_of(lab_name) == []
    assert not os.path.exists(state.lab_dir(lab_name))


@pytest.mark.integration
def test_failed_deploy_leaves_no_mount(topo, lab_name, shared):
    f = topo(f"""
        name: {{lab}}
        nodes:
          a: {{kind: host, private_dirs: [{shared}], exec: ["touch {shared}/x", "false"]}}
        """)
    with pytest.raises(DeployError):
        api.deploy(f)
    assert mounts_of(lab_name) == [] and sorted(os.listdir(shared)) == ["host-file"]


def test_private_dirs_must_exist_and_be_ordinary(tmp_path):
    with pytest.raises(TopologyError) as e:
        compile_text(f"""
            name: p
            nodes:
              a: {{kind: host, private_dirs: [{tmp_path}/missing, /proc, /run/emulator]}}
            """)
    text = str(e.value)
    assert "test.yaml:4:" in text and f"{tmp_path}/missing is not a directory" in text
    assert "/proc cannot be private" in text and "/run/emulator cannot be private" in text
    with pytest.raises(TopologyError, match=r"test.yaml:4:.*private_dirs\[0\]: invalid value 'relative'"):
        compile_text("""
            name: p
            nodes:
              a: {kind: host, private_dirs: [relative]}
            """)


@pytest.mark.integration
def test_frr_ospf_scenario_converges(tmp_path, lab_name):
    rc = cli.main(["run", SCENARIO, "--name", lab_name, "--results", str(tmp_path / "r")])
    assert rc == 0, (tmp_path / "r" / "summary.md").read_text()


@pytest.mark.integration
def test_decoys_named_like_ours_are_left_alone(tmp_path, lab_name):
    from emulator.backends.host import private
    from emulator.deploy import hostcmd
    # a journal record naming a path outside the lab's directory is refused, the path untouched
    with pytest.raises(Exception):
        private.undo({"op": "private-mount", "lab": lab_name, "path": str(tmp_path)})
    assert tmp_path.exists()
    # a plain file where a node's mount namespace would be is not taken for one
    d = os.path.join(state.RUN_DIR, lab_name, "private")
    os.makedirs(d)
    try:
        open(os.path.join(d, "a.mnt"), "w").close()
        assert hostcmd.private_mount(f"emu-{lab_name}.a") is None
        assert hostcmd.in_netns(["true"], f"emu-{lab_name}.a")[:3] == ["nsenter", f"--net=/run/netns/emu-{lab_name}.a", "--"]
        assert hostcmd.private_mount(f"emu-{lab_name}") is None   # the fabric namespace has none
    finally:
        import shutil
        shutil.rmtree(os.path.join(state.RUN_DIR, lab_name))
