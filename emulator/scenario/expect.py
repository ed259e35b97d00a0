"""`expect:` assertions: `metric: condition` pairs checked against a step's measurements.

Conditions:
  0, 5.2, true, "text"      equality
  "< 5", "<= 0", ">= 50M"  comparison; SI suffixes k M G T (1000s) and % are allowed
  "!= 0", "== 3"
  "1..5", "10M..1G"        inclusive range
  "/regex/"                regular expression search (for stdout, stderr...)
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}
_NUM = r"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\s*[kKmMgGtT]?(?:bit/s|bit|b/s|ms|us|s|%)?"
_SI = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12}


def number(text) -> float:
    if isinstance(text, bool):
        raise ValueError("not a number")
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtT]?)(bit/s|bit|b/s|ms|us|s|%)?\s*",
                     str(text))
    if not m:
        raise ValueError(f"'{text}' is not a number (write e.g. 5, 0.1, 50M, 1.5G)")
    return float(m.group(1)) * _SI[m.group(2)]


@dataclass
class Condition:
    metric: str
    text: str
    op: str
    bound: object

    def check(self, value) -> bool:
        if value is None:
            return False
        if self.op == "re":
            return re.search(self.bound, str(value)) is not None
        if self.op == "range":
            lo, hi = self.bound
            return lo <= float(value) <= hi
        if self.op == "eq" :
            if isinstance(self.bound, (int, float)) and not isinstance(self.bound, bool) and \
                    isinstance(value, (int, float)):
                return float(value) == float(self.bound)
            return value == self.bound
        return _OPS[self.op](float(value), float(self.bound))

    def as_dict(self, value, ok: bool) -> dict:
        bound = list(self.bound) if isinstance(self.bound, tuple) else self.bound
        return {"expr": f"{self.metric} {self.text}", "metric": self.metric, "op": self.op, "bound": bound,
                "value": value, "ok": ok}


def parse(metric: str, cond) -> Condition:
    """Raise ValueError with a readable message when the condition cannot be understood."""
    if isinstance(cond, (bool, int, float)) or cond is None:
        return Condition(metric, f"== {cond}", "eq", cond)
    s = str(cond).strip()
    if len(s) >= 2 and s.startswith("/") and s.endswith("/"):
        try:
            re.compile(s[1:-1])
        except re.error as e:
            raise ValueError(f"bad regular expression {s}: {e}") from None
        return Condition(metric, f"matches {s}", "re", s[1:-1])
    m = re.fullmatch(r"(<=|>=|==|!=|<|>)\s*(.+)", s)
    if m:
        return Condition(metric, f"{m.group(1)} {m.group(2)}", m.group(1), number(m.group(2)))
    m = re.fullmatch(rf"({_NUM})\s*\.\.\s*({_NUM})", s)
    if m:
        lo, hi = number(m.group(1)), number(m.group(2))
        if lo > hi:
            raise ValueError(f"range {s} is empty")
        return Condition(metric, f"in {s}", "range", (lo, hi))
    try:
        return Condition(metric, f"== {s}", "eq", number(s))
    except ValueError:
        return Condition(metric, f"== {s!r}", "eq", s)


def evaluate(conditions: list[Condition], measurements: dict) -> list[dict]:
    out = []
    for c in conditions:
        value = measurements.get(c.metric)
        try:
            ok = c.check(value)
        except (TypeError, ValueError):
            ok = False
        out.append(c.as_dict(value, ok))
    return out
