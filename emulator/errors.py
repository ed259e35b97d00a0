"""Errors the user sees, and the exit codes they map to.

Exit codes (shared by every command):
  0  success
  1  the operation failed at run time (a kernel refusal, a command that failed)
  2  invalid input: the topology or the command line is wrong; nothing was changed on the host
  3  the environment cannot do it: not root, a missing binary or kernel feature
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_ENVIRONMENT = 0, 1, 2, 3


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: tuple) -> str:
    """('nodes', 'fw', 'ip', 0) -> 'nodes.fw.ip[0]'; odd keys are quoted: sysctls["net.ipv4.ip_forward"]"""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _PLAIN_KEY.fullmatch(str(p)):
            out += ("." if out else "") + str(p)
        else:
            out += "[" + json.dumps(str(p), ensure_ascii=not str(p).isprintable()) + "]"
    return out or "(top level)"


@dataclass
class Issue:
    """One problem in a topology, located by its YAML path and, when known, line and column."""
    path: tuple
    message: str
    hint: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def location(self) -> str:
        loc = self.file or "<topology>"
        if self.line is not None:
            loc += f":{self.line}:{self.column or 1}"
        return loc

    def format(self) -> str:
        text = f"{self.location()}: {format_path(self.path)}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column,
                "path": format_path(self.path), "message": self.message, "hint": self.hint}


class EmulatorError(Exception):
    exit_code = EXIT_FAILED


class TopologyError(EmulatorError):
    """The topology is invalid; every issue found is listed."""
    exit_code = EXIT_INVALID

    def __init__(self, issues: list[Issue], what: str = "topology"):
        self.issues = issues
        self.what = what
        super().__init__(self.format())

    def format(self) -> str:
        n = len(self.issues)
        head = f"{n} error{'s' if n != 1 else ''} in {self.what}"
        return head + ":\n" + "\n".join(i.format() for i in self.issues)


class UsageError(EmulatorError):
    """A wrong command line or lab name."""
    exit_code = EXIT_INVALID


class EnvironmentProblem(EmulatorError):
    """The machine cannot do what was asked (privileges, binaries, kernel features)."""
    exit_code = EXIT_ENVIRONMENT


class DeployError(EmulatorError):
    """Deploying failed; what was created has been rolled back."""
    exit_code = EXIT_FAILED


class LabError(EmulatorError):
    """A lab-level problem: unknown lab, lab already running, lock held."""
    exit_code = EXIT_FAILED
