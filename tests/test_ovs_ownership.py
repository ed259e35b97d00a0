"""A lab on a user's Open vSwitch (ovs: db:) adds its bridges with --may-exist only when they are its own.

A real ovsdb-server and plain ovs-vswitchd (userspace datapath, no DPDK, no kernel module) stand in
for the user's OVS, in a scratch namespace; a bridge named like the lab's is the decoy.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from emulator.deploy import actions as A
from emulator.deploy import hostcmd
from emulator.backends.ovs import vswitch as O
from emulator.errors import DeployError
from emulator.deploy.kernel import netns

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
HAVE = os.access(O.VSWITCHD_PLAIN, os.X_OK) and os.path.exists(O.SCHEMA_FILES[0])
pytestmark.append(pytest.mark.skipif(not HAVE, reason="openvswitch-switch not installed (make system)"))


@pytest.fixture
def user_ovs(tmp_path, lab_name):
    run = tmp_path / "ovs"
    run.mkdir()
    ns = f"emu-{lab_name}.userovs"
    netns.create_many([ns])
    env = {"OVS_RUNDIR": str(run), "OVS_DBDIR": str(run), "OVS_LOGDIR": str(run)}
    db = f"unix:{run}/db.sock"
    try:
        subprocess.run(["ovsdb-tool", "create", f"{run}/conf.db", O.SCHEMA_FILES[0]], check=True)
        hostcmd.run(["ovsdb-server", f"{run}/conf.db", f"--remote=punix:{run}/db.sock", f"--pidfile={run}/db.pid",
                     f"--unixctl={run}/db.ctl", "--detach", "--no-chdir", f"--log-file={run}/db.log",
                     "-vconsole:off"], netns=ns, env=env)
        assert O.vsctl(db, ["--no-wait", "init"]).ok
        r = hostcmd.run([O.VSWITCHD_PLAIN, db, f"--pidfile={run}/vs.pid", f"--unixctl={run}/vs.ctl", "--detach",
                         "--no-chdir", f"--log-file={run}/vs.log", "-vconsole:off"], netns=ns, env=env, timeout=60)
        assert r.ok, r.stderr
        assert O.vsctl(db, ["add-br", "users-br", "--", "set", "Bridge", "users-br", "datapath_type=netdev"]).ok
        yield db, ns
    finally:
        for pidfile in ("vs.pid", "db.pid"):
            try:
                os.kill(int((run / pidfile).read_text()), 15)
            except (OSError, ValueError):
                pass
        time.sleep(0.3)
        netns.delete(ns)


def bridge(db, lab, name):
    return O.ConfigureBridge(netns=None, lab=lab, db=db, bridge=name, node=name, external=True)


def field(db, br, col):
    return O.vsctl(db, ["--if-exists", "get", "Bridge", br, col]).stdout.strip().strip('"')


@pytest.mark.parametrize("decoy_tag", ["", "otherlab"])
def test_a_bridge_named_like_the_labs_is_refused_and_left_as_it_was(user_ovs, lab_name, decoy_tag):
    db, _ = user_ovs
    tag = [f"external_ids:{O.TAG_KEY}={decoy_tag}"] if decoy_tag else []
    assert O.vsctl(db, ["add-br", "sw", "--", "set", "Bridge", "sw", "datapath_type=netdev",
                        "external_ids:owner=user"] + tag).ok
    why = f"tagged {O.TAG_KEY}={decoy_tag}" if decoy_tag else "not made by the emulator"
    with pytest.raises(DeployError, match=f"already has a bridge named like this lab's: sw \\({why}\\)"):
        O.ConfigureBridge.apply_batch([bridge(db, lab_name, "sw2"), bridge(db, lab_name, "sw")],
                                      A.Context(f"emulator:{lab_name}"))
    assert field(db, "sw", f"external_ids:{O.TAG_KEY}") == decoy_tag
    assert field(db, "sw", "external_ids:owner") == "user" and field(db, "sw", "fail_mode") in ("", "[]")
    assert sorted(O.vsctl(db, ["list-br"]).stdout.split()) == ["sw", "users-br"], "nothing added either"
    O._undo_bridge({"db": db, "bridge": "sw", "lab": lab_name})          # rollback leaves it too
    assert "sw" in O.vsctl(db, ["list-br"]).stdout.split()


def test_the_labs_own_bridge_from_an_interrupted_deploy_is_taken_again(user_ovs, lab_name):
    db, _ = user_ovs
    assert O.vsctl(db, ["add-br", "sw", "--", "set", "Bridge", "sw", "datapath_type=netdev",
                        f"external_ids:{O.TAG_KEY}={lab_name}"]).ok
    with hostcmd.recording() as calls:
        O.ConfigureBridge.apply_batch([bridge(db, lab_name, "sw"), bridge(db, lab_name, "sw2")],
                                      A.Context(f"emulator:{lab_name}"))
    tx = next(c for c in calls if "add-br" in c)
    at = [i for i, a in enumerate(tx) if a == "add-br"]
    assert tx[at[0] - 1] == "--may-exist" and tx[at[0] + 1] == "sw"     # ours already: taken again
    assert tx[at[1] - 1] == "--" and tx[at[1] + 1] == "sw2"             # not there: a plain add-br
    for br in ("sw", "sw2"):
        assert field(db, br, f"external_ids:{O.TAG_KEY}") == lab_name
    for br in ("sw", "sw2"):
        O._undo_bridge({"db": db, "bridge": br, "lab": lab_name})
    O._undo_bridge({"db": db, "bridge": "sw", "lab": lab_name})         # twice: nothing to do, no error
    assert O.vsctl(db, ["list-br"]).stdout.split() == ["users-br"]
