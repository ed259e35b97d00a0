"""Integration: NSM examples imported with `import-nsm` and deployed for real answer the pings of
NSM's READMEs (the addresses of NSM's point-to-point IPAM, IPv4 /31, IPv6 and a chain)."""
from pathlib import Path

import pytest

from emulator import lab as api
from emulator.backends.nsm.k8s import import_nsm

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
EX = Path(__file__).resolve().parent / "data" / "nsm-examples"


@pytest.mark.parametrize("example, client, pings", [
    ("kernel2kernel-dual-stack", "alpine", ["172.16.1.100", "2001:db8::"]),
    ("chain-firewall", "alpine", ["172.16.2.0", "172.16.3.0"]),   # the firewall, then the endpoint behind it
])
def test_imported_example_answers_nsm_readme_pings(example, client, pings, lab_name, tmp_path):
    text, _notes, _warnings = import_nsm([str(EX / example)], name=lab_name)
    f = tmp_path / "t.yaml"
    f.write_text(text)
    api.deploy(str(f))
    try:
        for addr in pings:
            r = api.exec_in(lab_name, client, ["ping", "-c", "2", "-W", "2", "-i", "0.3", addr])
            assert r.returncode == 0, (addr, r.stdout, r.stderr)
        r = api.exec_in(lab_name, client, ["ping", "-c", "1", "-W", "1", "172.16.9.9"])
        assert r.returncode != 0   # an address nothing has: the pings above are not answered by anything
    finally:
        api.destroy(lab_name)
