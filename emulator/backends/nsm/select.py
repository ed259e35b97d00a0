"""NSM's endpoint selection (the `discover` element of the NSM SDK), with a trace for `explain`.

For a request for network service S carrying labels L (a client's URL labels, or an endpoint's
own labels when it requests the next hop):

1. The matches of S are tried in order. A match applies when every label of its source selector
   is among L (an empty or missing selector applies to every request).
2. The candidates of the applying match are the endpoints of S whose labels (for S) contain every
   label of some route's destination selector; selector values may be templates such as
   `{{ .nodeName }}` or `{{index . "nodeName"}}`, filled from L.
3. A match with `fallthrough: true` and no candidates gives way to the next match; a match with
   `metadata` and no routes, and no candidates, ends the search as if no match had applied.
   Otherwise the candidates (possibly none) are the answer.
4. When no match applies (or the service has no matches) every endpoint of S is a candidate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_TEMPLATE = re.compile(r"\{\{\s*(?:\.([A-Za-z0-9_]+)|index\s+\.\s+\"([^\"]*)\")\s*\}\}")


def fill(value: str, labels: dict) -> str:
    """Expand `{{ .key }}` and `{{index . "key"}}` with the request's labels (missing keys: empty)."""
    return _TEMPLATE.sub(lambda m: str(labels.get(m.group(1) or m.group(2), "")), str(value))


def is_subset(have: dict, want: dict, request_labels: dict) -> bool:
    """NSM's IsSubset: every key of `want` is in `have` with the same (or template-filled) value."""
    have, want = have or {}, want or {}
    if len(have) < len(want):
        return False
    for k, v in want.items():
        got = have.get(k, "")
        if got != v and got != fill(v, request_labels):
            return False
    return True


def fmt_labels(labels: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted((labels or {}).items())) + "}"


@dataclass
class Route:
    destination_selector: dict
    path: tuple = ()


@dataclass
class Match:
    index: int
    source_selector: dict
    routes: list[Route]
    fallthrough: bool = False
    metadata: dict | None = None
    path: tuple = ()

    def describe(self) -> str:
        src = f"source_selector {fmt_labels(self.source_selector)}" if self.source_selector else "no source_selector"
        dst = ", ".join(fmt_labels(r.destination_selector) for r in self.routes) or "no routes"
        extra = (", fallthrough" if self.fallthrough else "") + (", metadata" if self.metadata is not None else "")
        return f"match [{self.index}] ({src} -> {dst}{extra})"


@dataclass
class Candidate:
    name: str
    labels: dict


@dataclass
class Step:
    """What happened to one match: skipped, fell through, or decided."""
    match: Match
    verdict: str            # "skipped" | "fallthrough" | "metadata" | "chosen"
    reason: str


@dataclass
class Decision:
    service: str
    request_labels: dict
    candidates: list[Candidate] = field(default_factory=list)
    match: Match | None = None          # the match that decided, None: no match applied (all endpoints)
    trace: list[Step] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, why) for the deciding match

    @property
    def how(self) -> str:
        if self.match is None:
            meta = next((s.match for s in self.trace if s.verdict == "metadata"), None)
            if meta is not None:
                return f"match [{meta.index}] (metadata only) ends the search: every endpoint is a candidate"
            return "no match applies: every endpoint of the service is a candidate"
        return self.match.describe() + " applies"


def select(service: str, matches: list[Match], endpoints: list[Candidate], request_labels: dict) -> Decision:
    d = Decision(service, dict(request_labels))
    for m in matches:
        if not is_subset(request_labels, m.source_selector, request_labels):
            missing = {k: v for k, v in m.source_selector.items() if request_labels.get(k) != fill(v, request_labels)}
            d.trace.append(Step(m, "skipped", f"request labels {fmt_labels(request_labels)} lack "
                                              f"{fmt_labels(missing)}"))
            continue
        cands, rejected = [], []
        for r in m.routes:  # route by route, as NSM does (an endpoint matched twice counts once here)
            for ep in endpoints:
                if ep not in cands and is_subset(ep.labels, r.destination_selector, request_labels):
                    cands.append(ep)
        for ep in endpoints:
            if ep not in cands:
                want = " or ".join(fmt_labels({k: fill(v, request_labels) for k, v in r.destination_selector.items()})
                                   for r in m.routes) or "nothing (the match has no routes)"
                rejected.append((ep.name, f"labels {fmt_labels(ep.labels)} do not contain {want}"))
        if m.fallthrough and not cands:
            d.trace.append(Step(m, "fallthrough", "no candidate, fallthrough: true"))
            continue
        if m.metadata is not None and not m.routes and not cands:
            d.trace.append(Step(m, "metadata", "metadata-only match: every endpoint is a candidate"))
            break
        d.match, d.candidates, d.rejected = m, cands, rejected
        d.trace.append(Step(m, "chosen", f"{len(cands)} candidate(s)"))
        return d
    d.candidates = list(endpoints)
    return d
