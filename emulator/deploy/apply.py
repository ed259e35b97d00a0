"""Stage 7: apply a plan, phase by phase, batching what shares a namespace.

Undo records are journaled before their actions run; if anything fails, the
caller tears down from the journal (see teardown.py).
"""
from __future__ import annotations

from itertools import groupby

from .actions import PHASE_NAMES, Action, Context


class Progress:
    """Progress sink; the CLI renders it as a bar, the API ignores it."""

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def done(self) -> None:
        pass


def groups(actions: list[Action]):
    """(phase, [(batch kind, netns, actions)]) in plan order."""
    for phase, acts in groupby(actions, key=lambda a: a.phase):
        buckets: dict[tuple, list[Action]] = {}
        for a in acts:
            buckets.setdefault((a.batch, a.netns), []).append(a)
        yield phase, [(k[0], k[1], v) for k, v in buckets.items()]


def apply(actions: list[Action], ctx: Context, progress: Progress | None = None) -> None:
    progress = progress or Progress()
    try:
        for phase, batches in groups(actions):
            label = batches[0][2][0].phase_label() or PHASE_NAMES.get(phase, str(phase))
            progress.phase(label, sum(len(b[2]) for b in batches))
            for _kind, _ns, acts in batches:
                if ctx.journal is not None:
                    ctx.journal.append([r for r in (a.undo_record() for a in acts) if r])
                type(acts[0]).apply_batch(acts, ctx)
                progress.advance(len(acts))
            ctx.close()   # what a phase opened (the sysctl writer's thread) lives no longer than it
    finally:
        ctx.close()
        progress.done()
