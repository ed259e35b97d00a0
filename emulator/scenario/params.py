"""Scenario parameters given on the command line (`emulator run --set KEY=VALUE`) and in the web UI's
parameters box: KEY=VALUE items, each value a number, true/false or a string."""
from __future__ import annotations

from ..errors import UsageError


def parse_overrides(items, where: str) -> dict:
    """KEY=VALUE items as a dict of typed values; an item without KEY= is a UsageError starting with
    WHERE (what the user wrote it in)."""
    out: dict = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"{where} {item!r}: write KEY=VALUE")
        out[k] = scalar(v)
    return out


def scalar(v: str):
    """A parameter's value: an int, a float, true/false (any case), else the string itself."""
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)
