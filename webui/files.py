"""Which files the web UI may read and serve.

Scenario and topology files come only from the directories the server was started with: the
`scenarios/` and `topologies/` of its working directory, the directory of the topology file given
to `emulator ui`, and those given with --scenario-dir / --topology-dir. A path from the browser is
never trusted: it is resolved (`..` and symlinks followed, os.path.realpath) and must then lie
inside one of those directories, themselves resolved. A scenario's own `topology:` file is checked
the same way before anything reads it. Served files (reports, vendored scripts, assets) must lie,
resolved, inside the directory they are served from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from emulator.core import loader
from emulator.errors import UsageError

SUFFIXES = (".yaml", ".yml")


def inside(path: str, root: str) -> str | None:
    """`path` resolved, if it lies inside `root` (resolved too); else None."""
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    try:
        return real if os.path.commonpath([base, real]) == base else None
    except ValueError:
        return None


def _dirs(paths, configured: bool) -> list[str]:
    out: list[str] = []
    for p in paths:
        real = os.path.realpath(p)
        if not os.path.isdir(real):
            if configured:
                raise UsageError(f"{p}: not a directory")
            continue
        if real not in out:
            out.append(real)
    return out


@dataclass
class Roots:
    cwd: str
    scenarios: list[str]
    topologies: list[str]

    @classmethod
    def for_server(cls, topology: str | None = None, scenario_dirs=(), topology_dirs=(),
                   cwd: str | None = None) -> "Roots":
        cwd = os.path.realpath(cwd or os.getcwd())
        scn = _dirs([os.path.join(cwd, "scenarios")], False) + _dirs(scenario_dirs or (), True)
        top = _dirs([os.path.join(cwd, "topologies")] + ([os.path.dirname(os.path.abspath(topology))]
                                                          if topology else []), False)
        top += [d for d in _dirs(topology_dirs or (), True) if d not in top]
        return cls(cwd, list(dict.fromkeys(scn)), top)

    def _within(self, path: str, dirs: list[str]) -> str | None:
        return next((r for r in (inside(path, d) for d in dirs) if r), None)

    def scenario_files(self) -> list[str]:
        """The scenario files offered: paths relative to the server's directory when inside it."""
        out = []
        for d in self.scenarios:
            for name in sorted(os.listdir(d)):
                full = os.path.join(d, name)
                if name.endswith(SUFFIXES) and os.path.isfile(full) and self._within(full, [d]):
                    shown = os.path.relpath(full, self.cwd)
                    out.append(full if shown.startswith("..") else shown)
        return out

    def scenario(self, value) -> str:
        """The resolved path of a scenario the browser asked for, once it and its topology file
        are known to lie in the allowed directories; UsageError otherwise (nothing is read)."""
        where = ", ".join(self.scenarios) or "none: the server has no scenarios/ directory"
        if not isinstance(value, str) or not value or "\0" in value:
            raise UsageError("choose a scenario file")
        real = self._within(os.path.join(self.cwd, value), self.scenarios)
        if not real or not real.endswith(SUFFIXES) or not os.path.isfile(real):
            raise UsageError(f"refused: scenarios run only from the scenario directories ({where})")
        data = loader.load_file(real).data
        ref = data.get("topology") if isinstance(data, dict) else None
        if isinstance(ref, str):
            tpath = os.path.join(os.path.dirname(real), ref)   # as emulator.scenario.spec.load finds it
            tpath = tpath if os.path.exists(tpath) else os.path.join(self.cwd, ref)
            if not self._within(tpath, self.topologies + self.scenarios):
                raise UsageError(f"refused: {os.path.basename(real)}: topology: {ref} is outside the topology "
                                 f"directories ({', '.join(self.topologies + self.scenarios)})")
        return real

    def topology(self, path: str) -> str | None:
        """`path` resolved if it is a file inside the topology directories; else None."""
        real = self._within(path, self.topologies)
        return real if real and os.path.isfile(real) else None
