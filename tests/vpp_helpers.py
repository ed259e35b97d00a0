"""What the test modules that start real VPP processes share.

VPP comes from EMULATOR_VPP (make test points it at ../shared/vpp) or PATH; without it these tests
skip with the reason, except where EMULATOR_REQUIRE_VPP=1 (CI): there they fail."""
import os

import pytest

from emulator.backends.vpp import find


def vpp_marks():
    """A VPP test module's `pytestmark`: integration, a clean host after each test, and a skip
    naming why VPP cannot run here (never under EMULATOR_REQUIRE_VPP=1)."""
    marks = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
    missing = find.missing()
    if missing and os.environ.get("EMULATOR_REQUIRE_VPP") != "1":
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
