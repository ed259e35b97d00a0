"""What the test modules that start real VPP processes share.

VPP comes from EMULATOR_VPP (make test points it at ../shared/vpp) or PATH; without it these tests
skip with the reason, except where EMULATOR_REQUIRE_VPP=1 (CI): there they fail."""
import os

import pytest

from emulator import names
from emulator.backends.vpp import config, find


def vpp_missing() -> str | None:
    """Why the tests that run VPP skip here, or None (always None under EMULATOR_REQUIRE_VPP=1)."""
    if os.environ.get("EMULATOR_REQUIRE_VPP") == "1":
        return None
    return find.missing()


#: a test that runs VPP (in a module that has other tests too)
needs_vpp = pytest.mark.skipif(bool(vpp_missing()), reason=vpp_missing() or "")


def vpp_marks():
    """A VPP test module's `pytestmark`: integration, a clean host after each test, and a skip
    naming why VPP cannot run here."""
    marks = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
    missing = vpp_missing()
    if missing:
        marks.append(pytest.mark.skip(reason=missing))
    return marks


def vpp_pids(lab):
    """PIDs of processes whose command line names this lab's VPP directory (its VPPs, started
    with a startup.conf under it)."""
    d = (os.path.join("/run/emulator", lab, "vpp") + "/").encode()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if d in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out


def leftovers(lab, nodes):
    """What a lab's VPPs left: (their PIDs, the /dev/shm files of NODES, whether its VPP directory is there)."""
    shm = [f for n in nodes for s in config.SHM_SUFFIXES
           if os.path.exists(f := "/dev/shm/" + names.vpp_prefix(lab, n) + s)]
    return vpp_pids(lab), shm, os.path.exists(os.path.join("/run/emulator", lab, "vpp"))
