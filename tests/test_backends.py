"""Backends as plug-ins: explicit registration into a registries object, one BUILTIN list,
loaded by every entry point (never as a side effect of importing a module)."""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emulator import backends, lab, registry
from emulator.core.loader import load_text
from emulator.errors import TopologyError

ROOT = Path(__file__).resolve().parent.parent


def _fresh(*names):
    return backends.load(registry.Registries(), names)


def test_a_fresh_registries_with_host_and_bridge_has_only_their_kinds_steps_and_undo():
    regs = _fresh("host", "bridge")
    assert regs.kinds.names() == ["host", "router", "bridge"]
    assert regs.link_types.names() == ["veth"]
    assert "ping" in regs.steps and "dpdk_traffic" not in regs.steps and "nsm_chain" not in regs.steps
    assert "netns" in regs.undo and not regs.expand_hooks and not regs.cli_verbs
    assert not set(regs.undo) & {"hugetlbfs", "hugepages-reserved", "dpdk-runtime", "ovs-bridge"}
    assert not regs.lab_resources.names()
    full = backends.ensure_loaded()
    assert {"ovs", "ovs-dpdk", "dpdk-app", "nse", "nsc"} <= set(full.kinds.names())
    assert {"dpdk_traffic", "dpdk_latency", "nsm_chain"} <= set(full.steps.names())


def test_loading_is_idempotent_and_pulls_in_what_a_backend_requires():
    regs = _fresh("ovs")   # ovs-dpdk uses the dpdk backend's hugepages: dpdk comes along
    assert regs.loaded == ["", "dpdk", "ovs"]
    backends.load(regs, ("ovs", "dpdk"))   # again: nothing registered twice
    assert regs.kinds.names() == ["dpdk-app", "ovs", "ovs-dpdk"]
    assert {"netns", "hugetlbfs", "hugepages-reserved", "dpdk-runtime", "ovs-bridge"} <= set(regs.undo)
    assert regs.lab_resources.names() == ["hugepages", "ovs"]


def test_a_topology_using_a_kind_whose_backend_is_not_loaded_is_refused_with_the_known_kinds():
    text = textwrap.dedent("""\
        name: nb
        nodes:
          h1: {kind: host}
          sw: {kind: ovs}
        links:
          - [h1, sw]
        """)
    with registry.use(_fresh("host", "bridge")):
        with pytest.raises(TopologyError) as e:
            lab.compile(load_text(text, "t.yaml"), check_host=False)
    msg = str(e.value)
    assert "t.yaml:4" in msg and "ovs" in msg and "known kinds: host, router, bridge" in msg
    # the same file compiles with every backend (the default registries)
    assert lab.compile(load_text(text, "t.yaml"), check_host=False).lab.nodes["sw"].kind == "ovs"


def _journal_ops() -> set[str]:
    """Every op a journal record can carry: the literal "op": "..." of the actions' records."""
    ops = set()
    for p in (ROOT / "emulator").rglob("*.py"):
        ops.update(re.findall(r'"op":\s*"([a-z0-9-]+)"', p.read_text()))
    return ops


def test_every_op_a_journal_can_contain_has_an_undo_handler_declared_by_its_backend():
    regs = backends.ensure_loaded()
    assert set(regs.undo) == _journal_ops()   # no op without a handler, no handler for no op
    assert regs.undo_declared <= set(regs.undo)


def test_importing_registers_nothing():
    code = ("import emulator.lab, emulator.cli, emulator.scenario.runner, emulator.backends.dpdk.steps, "
            "emulator.backends.nsm.step, emulator.backends.ovs.driver\n"
            "from emulator import registry\n"
            "r = registry.DEFAULT\n"
            "print(json.dumps([r.loaded, r.kinds.names(), r.steps.names(), sorted(r.undo)]))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == [[], [], [], []]


@pytest.mark.integration
def test_destroy_in_a_fresh_process_that_imports_only_the_api(topo, lab_name, clean_host):
    path = topo("""\
        name: {lab}
        nodes:
          h1: {kind: host}
          h2: {kind: host}
          br: {kind: bridge}
        links:
          - [h1, br]
          - [h2, br]
        """)
    st = lab.deploy(path)
    assert os.path.exists(f"/run/netns/{st['nodes']['h1']['netns']}")
    code = textwrap.dedent(f"""\
        import json
        from emulator import lab
        problems = lab.destroy({lab_name!r})
        from emulator import registry
        r = registry.DEFAULT
        print(json.dumps([problems, sorted(r.undo), sorted(r.undo_declared), r.loaded]))
        """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    problems, undo, declared, loaded = json.loads(out.stdout)
    assert problems == []
    assert not os.path.exists(f"/run/netns/{st['nodes']['h1']['netns']}")
    assert set(undo) == _journal_ops() and set(declared) <= set(undo)
    assert loaded == ["", *backends.BUILTIN]


def test_lab_resources_are_planned_once_before_the_first_node_that_needs_them():
    from emulator.backends.dpdk.hugepages import PrepareHugepages
    from emulator.backends.ovs.vswitch import StartOvs
    text = textwrap.dedent("""\
        name: lr
        nodes:
          a: {kind: dpdk-app}
          s1: {kind: ovs-dpdk}
          s2: {kind: ovs}
          b: {kind: dpdk-app}
        links:
          - {endpoints: [a:eth0, s1:p0], type: vhost-user}
          - {endpoints: [b:eth0, s1:p1], type: vhost-user}
          - [s1:p2, s2:p0]
        """)
    acts = lab.compile(load_text(text, "t.yaml"), check_host=False).actions
    assert sum(isinstance(x, PrepareHugepages) for x in acts) == 1
    assert sum(isinstance(x, StartOvs) for x in acts) == 1
    # a lab without DPDK or OVS nodes plans neither
    plain = lab.compile(load_text("name: p\nnodes:\n  h: {kind: host}\n", "p.yaml"), check_host=False).actions
    assert not any(isinstance(x, (PrepareHugepages, StartOvs)) for x in plain)


def test_loading_every_backend_does_not_import_pyroute2():
    """pyroute2 costs ~170 ms to import and serves only rare requests: a command that loads the
    backends (every command does) must not pay for it until a request needs it."""
    import subprocess
    import sys
    code = ("import sys; from emulator import backends; backends.ensure_loaded(); "
            "print('pyroute2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


STEP_MODULES = ("emulator.scenario.steps", "emulator.backends.dpdk.steps", "emulator.backends.srv6.steps",
                "emulator.backends.nsm.step", "emulator.backends.ebpf.step", "emulator.backends.vpp.vcl",
                "emulator.backends.vpp.live")


def test_loading_every_backend_imports_no_step_module_until_a_step_is_looked_up():
    """Steps (and the inspect hooks that live beside them) are declared by name: start-up of a
    command that runs no scenario does not import them; the first lookup does, and gets the real step."""
    code = ("import json, sys; from emulator import backends; r = backends.ensure_loaded(); "
            f"mods = {STEP_MODULES!r}; before = [m for m in mods if m in sys.modules]; "
            "names = r.steps.names(); st = r.steps.get('dpdk_traffic'); "
            "print(json.dumps([before, names, type(st).__module__, type(st).__name__, st.type, "
            "'emulator.backends.dpdk.steps' in sys.modules, 'emulator.backends.srv6.steps' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    before, names, module, cls, typ, dpdk_now, srv6_now = json.loads(out)
    assert before == []
    assert {"ping", "link", "dpdk_traffic", "nsm_chain", "srv6_policy", "ebpf_rules", "vcl_iperf3"} <= set(names)
    assert (module, cls, typ, dpdk_now, srv6_now) == ("emulator.backends.dpdk.steps", "DpdkTraffic", "dpdk_traffic",
                                                      True, False)


def test_every_step_declared_by_name_loads_as_the_step_of_that_name():
    from emulator.backends.dpdk.steps import STEPS as DPDK
    from emulator.backends.srv6.steps import STEPS as SRV6
    from emulator.scenario.steps import BUILTIN_STEPS, Step
    regs = backends.load(registry.Registries())
    steps = regs.steps.values()
    assert [s.type for s in steps] == regs.steps.names() and all(isinstance(s, Step) for s in steps)
    assert [c.type for c in BUILTIN_STEPS] == list(backends.CORE_STEPS)   # the declared list is complete
    assert {c.type for c in DPDK + SRV6} <= set(regs.steps.names())
    assert regs.steps.get("ping") is regs.steps.get("ping")   # imported and made once


def test_a_lazy_entry_whose_class_has_another_name_is_refused_on_lookup():
    reg = registry.Registry("step type", key="type")
    reg.register_lazy("pong", "emulator.scenario.steps:Ping")
    assert "pong" in reg and reg.names() == ["pong"]
    with pytest.raises(ValueError, match="emulator.scenario.steps:Ping has type 'ping', registered as 'pong'"):
        reg.get("pong")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register_lazy("pong", "emulator.scenario.steps:Ping")


def test_a_lazy_hook_imports_its_module_on_the_first_call(tmp_path):
    (tmp_path / "lazyhookmod.py").write_text("def hook(x):\n    return x * 2\n")
    code = ("import sys; from emulator import registry; f = registry.lazy('lazyhookmod:hook'); "
            "print(f.__name__, 'lazyhookmod' in sys.modules, f(21), 'lazyhookmod' in sys.modules, f(2))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path))).stdout
    assert out.split() == ["hook", "False", "42", "True", "4"]


def _backend_modules_after(code: str) -> list[str]:
    """The emulator.backends modules a fresh process has imported after running CODE (not the
    backends' __init__s, which are what loading them is)."""
    code += "\nimport sys, json; print(json.dumps(sorted(m for m in sys.modules if m.startswith('emulator.backends.') " \
            "and m.count('.') > 2)))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_loading_every_backend_imports_only_their_packages():
    """register() declares names; kinds, link and endpoint types, lab resources, undo handlers,
    schemas, hooks and verbs are imported on first use (start-up is part of every command)."""
    assert _backend_modules_after("from emulator import backends; backends.ensure_loaded()") == []


def test_compiling_a_bridged_lab_imports_only_the_bridge_and_host_backends():
    code = ("from emulator import lab\nfrom emulator import topo_gen\n"
            "c = lab.compile(topo_gen.generate('linear,3'), check_host=False)\n"
            "assert {n.kind for n in c.lab.nodes.values()} == {'host', 'bridge'}")
    mods = _backend_modules_after(code)
    assert mods and all(m.startswith(("emulator.backends.bridge.", "emulator.backends.host.")) for m in mods), mods


def test_a_backends_modules_come_with_the_first_topology_that_uses_it(tmp_path):
    """The vpp kind's driver and expand hooks are imported for a topology with a vpp node (and its
    errors are the same as when everything was imported up front: tests/test_errors_golden.py)."""
    f = tmp_path / "v.yaml"
    f.write_text("name: v\nnodes:\n  r1: {kind: vpp, mode: xconnect, locator: 'fc00:1::/48'}\n")
    code = ("from emulator import lab\nfrom emulator.errors import TopologyError\n"
            f"try:\n    lab.compile({str(f)!r}, check_host=False)\nexcept TopologyError as e:\n    print(e)")
    mods = _backend_modules_after(code)
    assert {"emulator.backends.vpp.driver", "emulator.backends.vpp.srv6"} <= set(mods)
    assert not any(m.startswith(("emulator.backends.ovs.", "emulator.backends.phys.", "emulator.backends.nsm.expand"))
                   for m in mods), mods
    r = subprocess.run([sys.executable, "-m", "emulator", "validate", "--no-host-check", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "v.yaml:3" in r.stderr and "not an SRv6 router" in r.stderr, r.stderr


def test_an_expand_hook_runs_only_on_topologies_it_is_for(tmp_path):
    (tmp_path / "hookmod.py").write_text("CALLS = []\ndef expand(raw, src):\n    CALLS.append(raw['name'])\n"
                                         "    return raw, src, ['x']\n")
    code = ("import sys; from emulator import registry\n"
            "h = registry.ExpandHook('hookmod:expand', lambda raw: 'router' in registry.node_kinds(raw))\n"
            "a = h({'name': 'a', 'nodes': {'h': {'kind': 'host'}}}, None)\n"
            "print('hookmod' in sys.modules, a[2])\n"
            "b = h({'name': 'b', 'nodes': {'r': {'kind': 'router'}, 'x': 'bad'}}, None)\n"
            "print('hookmod' in sys.modules, b[2], sys.modules['hookmod'].CALLS)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path))).stdout
    assert out.splitlines() == ["False []", "True ['x'] ['b']"]


def test_a_core_verb_builds_no_backend_parser_but_help_and_backend_verbs_do():
    code = ("from emulator import cli\nimport sys\n"
            "p = cli.build_parser('deploy')\nprint('emulator.backends.nsm.cli' in sys.modules)\n"
            "p = cli.build_parser('explain')\nprint('emulator.backends.nsm.cli' in sys.modules, "
            "'emulator.backends.srv6.cli' in sys.modules)\n"
            "p = cli.build_parser(None)\nprint('emulator.backends.srv6.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "False", "True"]
    r = subprocess.run([sys.executable, "-m", "emulator", "--help"], cwd=ROOT, capture_output=True, text=True,
                       check=True)
    assert all(v in r.stdout for v in ("explain", "import-nsm", "export", "srv6", "ebpf", "phys"))
    r = subprocess.run([sys.executable, "-m", "emulator", "explian"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "'explian'" in r.stderr and "explain" in r.stderr   # the full list of choices
    r = subprocess.run([sys.executable, "-m", "emulator", "srv6", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "srv6" in r.stdout
