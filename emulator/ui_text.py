"""Terminal output: a progress bar on a TTY, plain lines elsewhere (CI logs), and tables."""
from __future__ import annotations

import sys
import time

from .deploy.apply import Progress


class TerminalProgress(Progress):
    def __init__(self, stream=None, title: str = ""):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.title = title
        self.name = ""
        self.total = 0
        self.count = 0
        self.t0 = self.tphase = time.monotonic()
        self._last_draw = 0.0

    def phase(self, name: str, total: int) -> None:
        self._finish_phase()
        self.name, self.total, self.count = name, total, 0
        self.tphase = time.monotonic()
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.count += n
        self._draw()

    def done(self) -> None:
        self._finish_phase()
        self.name = ""

    def _finish_phase(self) -> None:
        if not self.name:
            return
        dt = time.monotonic() - self.tphase
        line = f"  {self.name:<26} {self.count:>6}  {dt:6.2f} s"
        if self.tty:
            self.stream.write("\r\033[K" + line + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.05 and self.count < self.total:
            return
        self._last_draw = now
        width = 30
        frac = self.count / self.total if self.total else 1.0
        bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
        self.stream.write(f"\r\033[K  {self.name:<26} [{bar}] {self.count}/{self.total}")
        self.stream.flush()


def table(headers: list[str], rows: list[list], max_rows: int | None = None) -> str:
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    extra = 0
    if max_rows is not None and len(rows) > max_rows:
        extra = len(rows) - max_rows
        rows = rows[:max_rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            for part in c.split("\n"):
                widths[i] = max(widths[i], len(part))
    sep = "+".join("-" * (w + 2) for w in widths)
    out = ["+" + sep + "+", "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
           "+" + sep + "+"]
    for r in rows:
        cells = [c.split("\n") for c in r]
        height = max(len(c) for c in cells)
        for k in range(height):
            out.append("| " + " | ".join((c[k] if k < len(c) else "").ljust(w)
                                         for c, w in zip(cells, widths)) + " |")
    out.append("+" + sep + "+")
    if extra:
        out.append(f"... and {extra} more rows")
    return "\n".join(out)
