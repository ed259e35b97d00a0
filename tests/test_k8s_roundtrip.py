"""Export to Kubernetes, import back with `import-nsm` (kustomize build of the exported directory):
the same chains (`explain -f json`), for every shipped topology with network services. On a cluster
NSM's IPAM gives the addresses, so the original is compiled with `ipam: nsm` on its endpoints."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulator import lab
from emulator.backends.kubernetes import cli as kcli
from emulator.backends.nsm.k8s import import_nsm
from emulator.core.loader import load_file, load_text
from emulator.errors import TopologyError

ROOT = Path(__file__).resolve().parent.parent
WITH_SERVICES = sorted(p for p in (ROOT / "topologies").glob("*.yaml")
                       if any(isinstance(n, dict) and n.get("kind") in ("nse", "nsc")
                              for n in (yaml.safe_load(p.read_text()).get("nodes") or {}).values()))


def chains(text: str, file: str) -> list:
    return [c.as_dict() for c in lab.compile(load_text(text, file), check_host=False).services]


def test_the_shipped_topologies_with_services_are_found():
    assert {"nsm-2s1c.yaml", "nsm-chain4.yaml", "nsm-2s1c-user-app.yaml"} <= {p.name for p in WITH_SERVICES}


@pytest.mark.parametrize("topo", WITH_SERVICES, ids=[p.name for p in WITH_SERVICES])
def test_export_then_import_gives_the_same_chains(topo, tmp_path):
    raw = copy.deepcopy(load_file(str(topo)).data)
    for n in raw["nodes"].values():
        if n.get("kind") == "nse":
            n["ipam"] = "nsm"
    try:
        files, _ = kcli.build(str(topo))
    except TopologyError as e:   # refused by name (nsm-dpdk: vhost-user has no NSM forwarder)
        assert "no NSM forwarder" in str(e) or "cannot be exported" in str(e)
        pytest.skip(f"{topo.name} is refused by the export: {str(e).splitlines()[1]}")
    kcli.write(files, str(tmp_path / "k8s"))
    text, notes, warnings = import_nsm([str(tmp_path / "k8s")], name=raw["name"])
    assert warnings == []
    want = chains(yaml.safe_dump(raw, sort_keys=False), "original.yaml")
    got = chains(text, "imported.yaml")
    assert got == want
    assert len(got) >= 1


def test_roundtrip_through_the_cli_with_explain_json(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "emulator", *a], capture_output=True, text=True,
                                    cwd=ROOT, timeout=120)
    r = run("export", "kubernetes", "topologies/nsm-2s1c.yaml", "-o", str(tmp_path / "k"))
    assert r.returncode == 0, r.stderr
    r = run("import-nsm", str(tmp_path / "k"), "--name", "nsm-2s1c", "-o", str(tmp_path / "t.yaml"))
    assert r.returncode == 0, r.stderr
    got = json.loads(run("explain", "-f", "json", str(tmp_path / "t.yaml")).stdout)
    assert [c["nodes"] for c in got] == [["client", "fw", "server"]]
    # NSM's point-to-point IPAM on fw's 172.16.1.0/24: the endpoint the first address, the client the next
    assert (got[0]["hops"][0]["endpoint_ip"], got[0]["hops"][0]["client_ip"]) == ("172.16.1.0/31", "172.16.1.1/31")
