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
MAX_QUOTED = 120     # characters of a user's value a message quotes
MAX_MESSAGE = 2000   # characters of one issue's message or hint


def escape(text: str) -> str:
    """Non-printable characters (newlines, ESC and other terminal controls, bidi overrides) as
    backslash escapes: a message stays on one line and sends nothing to the terminal but text."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def escape_lines(text: str) -> str:
    """escape() line by line: what the CLI prints for any error (several issues, one per line)."""
    return "\n".join(escape(line) for line in text.split("\n"))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def quote(value, limit: int = MAX_QUOTED) -> str:
    """A user's value as every message quotes it: 'text' with control characters escaped, and
    at most `limit` characters of it (a megabyte-long value is not echoed back)."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) - limit
    text = escape(text[:limit]) if cut > 0 else escape(text)
    return f"'{text}'" + (f"... ({cut} more characters)" if cut > 0 else "")


def format_path(path: tuple) -> str:
    """('nodes', 'fw', 'ip', 0) -> 'nodes.fw.ip[0]'; odd keys are quoted: sysctls["net.ipv4.ip_forward"]"""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _PLAIN_KEY.fullmatch(str(p)) and len(str(p)) <= MAX_QUOTED:
            out += ("." if out else "") + str(p)
        else:
            key = str(p)
            more = f"... ({len(key) - MAX_QUOTED} more characters)" if len(key) > MAX_QUOTED else ""
            out += "[" + json.dumps(key[:MAX_QUOTED], ensure_ascii=not key.isprintable()) + more + "]"
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

    def __post_init__(self):
        # the last guard for every message that quotes a user's value: one line, bounded
        self.message = clip(escape(str(self.message)), MAX_MESSAGE)
        if self.hint is not None:
            self.hint = clip(escape(str(self.hint)), MAX_MESSAGE)
        if self.file is not None:
            self.file = clip(escape(str(self.file)), MAX_MESSAGE)

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
