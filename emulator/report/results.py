"""A scenario's results (results.json) as typed objects.

The runner writes results.json; a run interrupted early, an older file or a hand-edited one may
lack any key or hold a value of the wrong type. Results.from_dict() reads whatever is there and
never raises: containers of the wrong type read as empty, statuses are normalised (and inferred
from the error and assertions when missing), numbers that are not numbers read as None. The
measurements, series and parameters stay as recorded (their values are shown as they are).

    results = load("results/smoke-20261122-002000/results.json")
    for run in results.runs:
        for step in run.steps:
            step.status, step.measurements.get("throughput_bps"), step.failed_assertions
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..units import finite, human_duration, human_value, kind as unit_kind, text, to_base

STATUSES = ("passed", "failed", "error", "interrupted", "skipped", "unknown")
_STATUS_ALIASES = {"pass": "passed", "ok": "passed", "success": "passed", "fail": "failed",
                   "failure": "failed", "errored": "error", "skip": "skipped",
                   "not_run": "skipped", "not run": "skipped", "pending": "skipped",
                   "cancelled": "interrupted", "canceled": "interrupted"}


def _d(x) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _dicts(x) -> list[dict]:
    return [i for i in _l(x) if isinstance(i, dict)]


def _err(x) -> str:
    return text(x) if x else ""


def params_text(params: dict, sep: str = ", ") -> str:
    return sep.join(f"{k}={text(v, 'null')}" for k, v in params.items())


def scenario_name(results: dict) -> str:
    return text(_d(_d(results).get("scenario")).get("name"), "scenario") or "scenario"


def status_word(st: str) -> str:
    """A status as the summaries print it: problems in capitals."""
    return st.upper() if st in ("failed", "error", "interrupted", "unknown") else st


def metric_title(metric) -> str:
    """'throughput_bps' -> 'throughput', 'rtt_avg_ms' -> 'rtt avg'."""
    m = text(metric)
    for suf in ("_bps", "_ms", "_pct", "_s", "_bytes"):
        if m.endswith(suf):
            m = m[: -len(suf)]
            break
    return m.replace("_", " ")


def _status(raw: dict, assertions: list[Assertion]) -> str:
    s = raw.get("status")
    if isinstance(s, str) and s.strip():
        s = s.strip().lower()
        return _STATUS_ALIASES.get(s, s)
    if raw.get("error"):
        return "error"
    if any(a.ok is False for a in assertions):
        return "failed"
    if assertions and all(a.ok is True for a in assertions):
        return "passed"
    return "unknown"


@dataclass(frozen=True)
class Assertion:
    expr: str                  # as written, or "metric op bound"; "?" when nothing says
    metric: Any = None
    value: Any = None          # the measured value it was checked against (None: none)
    ok: bool | None = None     # None: not evaluated

    @classmethod
    def from_dict(cls, a: dict) -> Assertion:
        expr = text(a.get("expr")) if a.get("expr") else \
            " ".join(text(a.get(k)) for k in ("metric", "op", "bound") if a.get(k) is not None) or "?"
        ok = a.get("ok")
        return cls(expr, a.get("metric"), a.get("value"), ok if isinstance(ok, bool) else None)

    @property
    def got(self) -> str:
        return "no value" if self.value is None else human_value(self.metric, self.value)

    @property
    def result_word(self) -> str:
        return "ok" if self.ok is True else "FAILED" if self.ok is False else "not evaluated"


@dataclass(frozen=True)
class Step:
    """One step of a run and what it measured."""
    name: str | None           # None: missing (shown as "?" where a name is needed)
    type: str = ""
    status: str = "unknown"
    duration_s: float | None = None
    measurements: dict = field(default_factory=dict)
    series: dict = field(default_factory=dict)
    assertions: list[Assertion] = field(default_factory=list)
    error: str = ""
    reason: str = ""
    artifacts: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, s: dict) -> Step:
        asserts = [Assertion.from_dict(a) for a in _dicts(s.get("assertions"))]
        return cls(None if s.get("name") is None else text(s.get("name")), text(s.get("type")),
                   _status(s, asserts), finite(s.get("duration_s")), _d(s.get("measurements")),
                   _d(s.get("series")), asserts, _err(s.get("error")), _err(s.get("reason")),
                   _l(s.get("artifacts")))

    @property
    def label(self) -> str:
        return "?" if self.name is None else self.name

    @property
    def failed_assertions(self) -> list[Assertion]:
        return [a for a in self.assertions if a.ok is False]

    def key_measurement(self) -> str:
        """What the step measured, in a few words: '94.2 Mbit/s, 3 retr'."""
        m, typ, parts = self.measurements, self.type.lower(), []
        if typ == "pingall" or "matrix" in m or ("pairs" in m and "reachable" in m):
            if m.get("reachable") is not None or m.get("pairs") is not None:
                parts.append(f"{text(m.get('reachable'), '?')}/{text(m.get('pairs'), '?')} reachable")
            elif m.get("loss_pct") is not None:
                parts.append(f"{human_value('loss_pct', m.get('loss_pct'))} loss")
        elif typ == "ping" or "rtt_avg_ms" in m:
            if m.get("loss_pct") is not None:
                parts.append(f"{human_value('loss_pct', m.get('loss_pct'))} loss")
            if m.get("rtt_avg_ms") is not None:
                parts.append(f"rtt {human_value('rtt_avg_ms', m.get('rtt_avg_ms'))}")
        elif typ.startswith("iperf") or "throughput_bps" in m:
            if m.get("throughput_bps") is not None:
                parts.append(human_value("throughput_bps", m.get("throughput_bps")))
            if m.get("retransmits") is not None:
                parts.append(f"{text(m.get('retransmits'))} retr")
            for k in ("lost_pct", "loss_pct"):
                if m.get(k) is not None:
                    parts.append(f"{human_value(k, m.get(k))} lost")
                    break
            if m.get("jitter_ms") is not None:
                parts.append(f"jitter {human_value('jitter_ms', m.get('jitter_ms'))}")
        elif typ == "exec" or "exit_code" in m:
            if m.get("exit_code") is not None:
                parts.append(f"exit {text(m.get('exit_code'))}")
        if not parts:
            for k, v in m.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    parts.append(f"{k} {human_value(k, v)}")
                if len(parts) == 2:
                    break
        return ", ".join(parts)

    def assertion_summary(self) -> str:
        """'2/2 ok', or each failed and unevaluated assertion."""
        if not self.assertions:
            return ""
        failed = self.failed_assertions
        unknown = [a for a in self.assertions if a.ok is None]
        if not failed and not unknown:
            return f"{len(self.assertions)}/{len(self.assertions)} ok"
        return "; ".join([f"FAIL {a.expr} (got {a.got})" for a in failed]
                         + [f"n/a {a.expr}" for a in unknown])


@dataclass(frozen=True)
class Run:
    """One run: a point of the parameter sweep, one repeat."""
    id: str = "?"
    params: dict = field(default_factory=dict)
    repeat: Any = None         # as recorded (normally 1, 2, ...); None: not repeated
    status: str = "unknown"
    duration_s: float | None = None
    steps: list[Step] = field(default_factory=list)
    error: str = ""

    @classmethod
    def from_dict(cls, r: dict) -> Run:
        return cls(text(r.get("id"), "?"), _d(r.get("params")), r.get("repeat"), _status(r, []),
                   finite(r.get("duration_s")), [Step.from_dict(s) for s in _dicts(r.get("steps"))],
                   _err(r.get("error")))

    @property
    def title(self) -> str:
        """'r1 · bandwidth=100mbit · #1'"""
        parts = [self.id]
        p = params_text(self.params)
        if p:
            parts.append(p)
        if self.repeat is not None:
            parts.append(f"#{text(self.repeat)}")
        return " · ".join(parts)


@dataclass(frozen=True)
class Reference:
    """A published value a measurement is compared with."""
    value: Any = None
    unit: Any = None
    source: str = ""


@dataclass(frozen=True)
class Aggregate:
    """A metric of a step over the repeats of one parameter point: mean, stdev, min, max."""
    step: str | None = None    # None: missing
    metric: Any = None
    unit: Any = None
    params: dict = field(default_factory=dict)
    n: Any = None
    mean: Any = None
    stdev: Any = None
    min: Any = None
    max: Any = None
    reference: Reference | None = None
    recorded_ratio: float | None = None

    @classmethod
    def from_dict(cls, a: dict) -> Aggregate:
        ref = _d(a.get("reference"))
        return cls(None if a.get("step") is None else text(a.get("step")), a.get("metric"), a.get("unit"), _d(a.get("params")),
                   a.get("n"), a.get("mean"), a.get("stdev"), a.get("min"), a.get("max"),
                   Reference(ref.get("value"), ref.get("unit"), _err(ref.get("source"))) if ref else None,
                   finite(a.get("ratio")))

    @property
    def kind(self) -> str:
        return unit_kind(self.metric, self.unit)

    @property
    def ref_unit(self):
        return (self.reference and self.reference.unit) or self.unit

    def base(self, name: str):
        """mean, stdev, ... (or 'reference') in the base unit of the metric's kind."""
        if name == "reference":
            return to_base(self.reference.value if self.reference else None, self.ref_unit, self.kind)
        return to_base(getattr(self, name), self.unit, self.kind)

    @property
    def ratio(self) -> float | None:
        """measured mean / reference, as recorded or computed across units of one kind."""
        if self.recorded_ratio is not None:
            return self.recorded_ratio
        mean, rv = self.base("mean"), self.base("reference")
        if mean is None or not rv:
            return None
        if text(self.ref_unit).lower() != text(self.unit).lower() and \
                self.kind not in ("rate", "ms", "s"):
            return None
        return mean / rv


@dataclass(frozen=True)
class Results:
    """What a scenario run produced (results.json)."""
    name: str = "scenario"
    scenario: dict = field(default_factory=dict)       # name, file, description, topology
    environment: dict = field(default_factory=dict)
    started: Any = None
    duration_s: float | None = None
    status: str = "unknown"
    exit_code: Any = None
    parameters: dict = field(default_factory=dict)      # names, points, repeat
    runs: list[Run] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)
    error: str = ""

    @classmethod
    def from_dict(cls, r) -> Results:
        r = _d(r)
        return cls(scenario_name(r), _d(r.get("scenario")), _d(r.get("environment")),
                   r.get("started"), finite(r.get("duration_s")), _status(r, []), r.get("exit_code"),
                   _d(r.get("parameters")), [Run.from_dict(x) for x in _dicts(r.get("runs"))],
                   [Aggregate.from_dict(a) for a in _dicts(r.get("aggregates"))], _err(r.get("error")))

    @property
    def parameter_names(self) -> list[str]:
        return [text(n) for n in _l(self.parameters.get("names"))]

    def failed_assertions(self):
        """(run, step, assertion) for every failed assertion."""
        for run in self.runs:
            for step in run.steps:
                for a in step.failed_assertions:
                    yield run, step, a

    def errors(self):
        """(where, message) for every error of a run or a step; where: (run title,) or
        (run title, step name)."""
        for run in self.runs:
            if run.error:
                yield (run.title,), run.error
            for step in run.steps:
                if step.error:
                    yield (run.title, text(step.name)), step.error

    def step_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.runs:
            for step in run.steps:
                counts[step.status] = counts.get(step.status, 0) + 1
        return counts

    def counts_text(self) -> str:
        """'16 steps: 14 passed, 1 failed, 1 error'"""
        counts = self.step_counts()
        total = sum(counts.values())
        keys = [k for k in STATUSES if counts.get(k)] + sorted(k for k in counts if k not in STATUSES)
        inner = ", ".join(f"{counts[k]} {k}" for k in keys)
        return f"{total} step{'s' if total != 1 else ''}" + (f": {inner}" if inner else "")

    def environment_items(self) -> list[tuple[str, str]]:
        env = self.environment
        known = ["hostname", "kernel", "cpu", "cores", "python", "emulator", "iperf3", "ovs", "dpdk"]
        keys = [k for k in known if k in env] + [k for k in env if k not in known]
        return [(k, "—" if env.get(k) is None else text(env.get(k))) for k in keys]

    def header_facts(self) -> list[tuple[str, str, bool]]:
        """(label, text, is it code) for a report's header: file, topology, start, duration, exit
        code, parameters. The markdown and HTML reports format the same facts."""
        facts = []
        for label, val in (("file", self.scenario.get("file")),
                           ("topology", self.scenario.get("topology")), ("started", self.started)):
            if val is not None:
                facts.append((label, text(val), True))
        if self.duration_s is not None:
            facts.append(("duration", human_duration(self.duration_s), False))
        if self.exit_code is not None:
            facts.append(("exit code", text(self.exit_code), False))
        par = self.parameters
        if par:
            txt = ", ".join(self.parameter_names) or "—"
            if par.get("points") is not None:
                txt += f" ({text(par.get('points'))} points"
                txt += f" × {text(par.get('repeat'))} repeats)" if par.get("repeat") is not None else ")"
            facts.append(("parameters", txt, False))
        return facts


AGG_COLUMNS = ("step", "metric", "params", "n", "mean", "stdev", "min", "max", "reference", "ratio")


def aggregate_row(a: Aggregate) -> dict[str, str]:
    """The texts of one aggregate's row (the AGG_COLUMNS and the reference's source), unescaped:
    the markdown and HTML tables only format them."""
    m, u, ref, r = a.metric, a.unit, a.reference, a.ratio
    row = {"step": text(a.step), "metric": text(m), "params": params_text(a.params), "n": text(a.n),
           "mean": human_value(m, a.mean, u),
           "reference": human_value(m, ref.value, a.ref_unit) if ref else "",
           "source": ref.source if ref else "", "ratio": f"{r:.2f}" if r is not None else ""}
    for k in ("stdev", "min", "max"):
        v = getattr(a, k)
        row[k] = human_value(m, v, u) if v is not None else ""
    return row


def load(path: str) -> Results:
    """Read a results.json."""
    with open(path, encoding="utf-8") as f:
        return Results.from_dict(json.load(f))


def as_results(r) -> Results:
    """Results as they are, or read from a results dict (anything else reads as empty)."""
    return r if isinstance(r, Results) else Results.from_dict(r)
