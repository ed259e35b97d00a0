"""`emulator import-nsm`: NSM Kubernetes manifests (tests/data/nsm-k8s-*, written for these tests)
become a topology whose chains are the ones NSM would build."""
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import lab
from emulator.errors import UsageError
from emulator.core.loader import load_text
from emulator.backends.nsm.k8s import import_manifests, parse_labels
from conftest import check_golden

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def chains_of(text):
    c = lab.compile(load_text(text, "imported.yaml"), check_host=False)
    return {(ch.client, ch.service): ch for ch in c.services}, c


def test_v1_manifests(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = import_manifests(["tests/data/nsm-k8s-v1"])
    check_golden(DATA / "nsm-k8s-v1.topology.yaml", text)
    chains, c = chains_of(text)
    (ch,) = chains.values()
    assert ch.nodes == ["alpine", "nse-filter", "nse-relay", "nse-web"]
    assert ch.request.interface == "nsm-1"
    # NSM's point-to-point IPAM: NSM_CIDR_PREFIX 172.16.32.100/31: the endpoint takes .100, the client .101;
    # 172.16.30.0/24: the endpoint the network address .0, the client .1 (a /31 pair on the link)
    assert (ch.hops[-1].client_ip, ch.hops[-1].endpoint_ip) == ("172.16.32.101/31", "172.16.32.100/31")
    assert (ch.hops[0].client_ip, ch.hops[0].endpoint_ip) == ("172.16.30.1/31", "172.16.30.0/31")
    assert c.lab.nodes["nse-web"].labels == {"app": "web", "tier": "front"}
    assert "2 replicas imported as one node" in text and "ConfigMap unrelated ignored" in text
    assert "nsm-k8s-v1 has no kustomization: every YAML file under it was read" in text


def test_v1alpha1_manifests_with_legacy_env_and_annotation():
    text = import_manifests([str(DATA / "nsm-k8s-v1alpha1" / "all.yaml")], name="legacy")
    chains, c = chains_of(text)
    assert c.lab.name == "legacy"
    assert chains[("vpn-gateway-nsc", "secure-intranet-connectivity")].nodes == \
        ["vpn-gateway-nsc", "firewall-nse", "vpn-gateway-nse"]
    assert chains[("vpn-gateway-nsc", "icmp-responder")].nodes == ["vpn-gateway-nsc", "icmp-responder-nse"]
    sic = chains[("vpn-gateway-nsc", "secure-intranet-connectivity")]
    assert sic.request.interface == "eth2" and sic.request.labels == {"app": "web"}
    assert c.lab.nodes["firewall-nse"].props["vnf"] == "iptables-firewall"


@pytest.mark.parametrize("text, labels", [("app:gateway", {"app": "gateway"}),
                                          ("app:web,tier:front", {"app": "web", "tier": "front"}),
                                          ("app=firewall", {"app": "firewall"}), ("", {})])
def test_label_env_forms(text, labels):
    assert parse_labels(text) == labels


def test_nothing_to_import(tmp_path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(UsageError, match="no network service endpoint or client"):
        import_manifests([str(tmp_path)])
    with pytest.raises(UsageError, match="no such file"):
        import_manifests([str(tmp_path / "missing")])


def test_cli_writes_checks_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "t.yaml"
    run = lambda *a: subprocess.run([sys.executable, "-m", "emulator", "import-nsm", *a], capture_output=True,
                                    text=True, cwd=ROOT, timeout=60)
    r = run("tests/data/nsm-k8s-v1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "nse-filter" in out.read_text()
    r = run("tests/data/nsm-k8s-v1", "-o", str(out))
    assert r.returncode == 2 and "--force" in r.stderr
    r = subprocess.run([sys.executable, "-m", "emulator", "explain", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "chain: alpine -> nse-filter -> nse-relay -> nse-web" in r.stdout
