"""Finding VPP: EMULATOR_VPP (a directory with bin/vpp and bin/vppctl, as FD.io's build or
../shared/vpp lays it out), else `vpp` and `vppctl` on PATH (FD.io's Debian/Ubuntu packages)."""
from __future__ import annotations

import os
import shutil

from ...errors import EnvironmentProblem

ENV = "EMULATOR_VPP"
INSTALL = ("install FD.io's packages (https://packagecloud.io/fdio/release: run its script.deb.sh, then "
           "apt-get install vpp vpp-plugin-core), or set EMULATOR_VPP to a directory holding bin/vpp and "
           "bin/vppctl")


def locate() -> tuple[str | None, str | None, str]:
    """(vpp, vppctl, why-not): the binaries, or None and the reason they were not found."""
    d = os.environ.get(ENV)
    if d:
        vpp, ctl = os.path.join(d, "bin", "vpp"), os.path.join(d, "bin", "vppctl")
        for b in (vpp, ctl):
            if not os.access(b, os.X_OK):
                return None, None, f"{ENV}={d} has no executable {os.path.relpath(b, d)}"
        return vpp, ctl, ""
    vpp, ctl = shutil.which("vpp"), shutil.which("vppctl")
    if vpp and ctl:
        return vpp, ctl, ""
    return None, None, f"VPP is not installed ({'vppctl' if vpp else 'vpp'} is not on PATH and {ENV} is not set)"


def require() -> tuple[str, str]:
    vpp, ctl, why = locate()
    if vpp is None:
        raise EnvironmentProblem(f"this topology has vpp nodes, and {why}: {INSTALL}")
    return vpp, ctl


def missing() -> str | None:
    """Why VPP cannot run here (for tests' skip reasons), or None."""
    vpp, _ctl, why = locate()
    return None if vpp else f"{why}: {INSTALL}"
