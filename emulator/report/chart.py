"""Charts as inline SVG, drawn with the standard library only: a line chart, a grouped bar chart,
and panels side by side in one picture. Used by the scenario report (emulator/report/html.py) and
the DPDK plots (emulator/backends/dpdk/plot.py).

Values are given in the base unit of their kind (units.kind(): bit/s, ms, s, %, bytes, or plain
with a unit label); the axes and tooltips read in human units (units.axis_scale, units.human_kind).
"""
from __future__ import annotations

import html
import math
import re

from ..units import axis_scale, human_kind, text

PALETTE = ["#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#e52592",
           "#795548", "#5f6368", "#f9ab00"]
DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 2"]


def _e(x) -> str:
    return html.escape(text(x), quote=True)


_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,sans-serif"'


def _text_w(s: str, size: float = 12) -> float:
    return len(s) * size * 0.58


def _nice_step(span: float, target: int = 5) -> float:
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (0.0, hi + pad) if lo >= 0 and hi - pad < 0 else (lo - pad, hi + pad)
    step = _nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v < hi - 1e-9 * step:
        ticks.append(v)
        v += step
    ticks.append(v)
    return [round(t, 12) for t in ticks]




def _tick_label(v: float, step: float) -> str:
    if step >= 1 or step <= 0:
        decimals = 0
    else:
        decimals = min(6, max(0, math.ceil(-math.log10(step) - 1e-9)))
        if abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:  # e.g. 0.25
            decimals += 1
    s = f"{v:.{decimals}f}"
    return "0" if s.strip("-0.") == "" else s


def _svg_open(width, height, title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" {_FONT}>',
            f'<title>{_e(title)}</title>',
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
            f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="#202124">{_e(title)}</text>']


def _legend(items, x0, y0, width):
    """items: (label, color, dash, kind 'line'|'box'); returns (svg parts, height used)."""
    parts, x, y = [], x0, y0
    row_h = 18
    for label, color, dash, kind in items:
        w = 28 + _text_w(label, 12) + 18
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + row_h
        if kind == "box":
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="18" height="11" fill="{color}"/>')
        else:
            da = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 22:.1f}" y2="{y - 4:.1f}" '
                         f'stroke="{color}" stroke-width="2.5"{da}/>')
        parts.append(f'<text x="{x + 28:.1f}" y="{y:.1f}" font-size="12" fill="#3c4043">{_e(label)}</text>')
        x += w
    return parts, (y - y0 + row_h) if items else 0


def _legend_height(items, width) -> int:
    return int(_legend(items, 0, 0, width)[1])


def _y_axis(parts, ticks, factor, ymap, left, right, y_title, plot_top, plot_bottom):
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for t in ticks:
        y = ymap(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="{"#9aa0a6" if t == 0 else "#e8eaed"}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#5f6368">{_e(_tick_label(t / factor, step / factor))}</text>')
    cy = (plot_top + plot_bottom) / 2
    parts.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" fill="#3c4043" '
                 f'transform="rotate(-90 14 {cy:.1f})">{_e(y_title)}</text>')


def line_chart(series, *, title: str, x_label: str, y_label: str, y_kind: str = "plain",
               y_unit=None, x_ticks=None, markers: bool = True, legend=None,
               x_from_zero: bool = False,
               width: int = 500, height: int = 300) -> str:
    """An SVG line chart. series: [{"label", "points": [(x, y, err|None)], "color", "dash"}].
    y values in the base unit of y_kind (bit/s, ms, s, %); the axis is labelled in human
    units. x_ticks: [(x, label)] to label the x axis at given positions (sweeps);
    x_from_zero starts a numeric x axis at 0 (time)."""
    series = [s for s in series if s.get("points")]
    legend = len(series) > 1 if legend is None else legend
    left, right_pad, top = 70, 20, 34
    plot_w = width - left - right_pad
    items = [(s["label"], s["color"], s.get("dash", ""), "line") for s in series] if legend else []
    leg_h = _legend_height(items, plot_w)
    total_h = height + leg_h + (4 if leg_h else 0)
    bottom = height - 48
    parts = _svg_open(width, total_h, title)
    ys = [p[1] for s in series for p in s["points"]]
    ys_hi = [p[1] + (p[2] or 0) for s in series for p in s["points"]]
    ys_lo = [p[1] - (p[2] or 0) for s in series for p in s["points"]]
    xs = [p[0] for s in series for p in s["points"]]
    if not ys:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#9aa0a6">'
                     f'no data</text></svg>')
        return "".join(parts)
    lo = min(ys_lo)
    hi = max(ys_hi)
    if lo >= 0:
        lo = 0.0
    yt = _nice_ticks(lo, hi)
    factor, unit = axis_scale(y_kind, max(abs(yt[0]), abs(yt[-1])), y_unit)
    y0, y1 = yt[0], yt[-1]
    if x_ticks:
        xlo = min(t[0] for t in x_ticks)
        xhi = max(t[0] for t in x_ticks)
        pad = (xhi - xlo) * 0.08 or 0.5
        xlo, xhi = xlo - pad, xhi + pad
        xt = list(x_ticks)
    else:
        xlo, xhi = min(xs), max(xs)
        if xlo > 0 and x_from_zero:
            xlo = 0.0
        xticks = _nice_ticks(xlo, xhi, 8) if xhi > xlo else [xlo - 1, xlo, xlo + 1]
        if all(float(x).is_integer() for x in xs) and xticks[1] - xticks[0] < 1:
            xticks = [float(v) for v in range(math.floor(xlo), math.ceil(xhi) + 1)]
        xlo, xhi = xticks[0], xticks[-1]
        xstep = xticks[1] - xticks[0]
        xt = [(t, _tick_label(t, xstep)) for t in xticks]

    def X(x):
        return left + (x - xlo) / ((xhi - xlo) or 1) * plot_w

    def Y(y):
        return bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top)

    _y_axis(parts, yt, factor, Y, left, left + plot_w,
            f"{y_label} ({unit})" if unit else y_label, top, bottom)
    for x, label in xt:
        px = X(x)
        parts.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 5}" stroke="#5f6368"/>')
        parts.append(f'<text x="{px:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="11" '
                     f'fill="#5f6368">{_e(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{bottom + 38}" text-anchor="middle" '
                 f'font-size="12" fill="#3c4043">{_e(x_label)}</text>')
    for s in series:
        pts = sorted(s["points"], key=lambda p: p[0])
        color = s["color"]
        da = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        for x, y, err in pts:
            if err:
                px, ya, yb = X(x), Y(y - err), Y(y + err)
                parts.append(f'<path d="M{px:.1f},{ya:.1f}V{yb:.1f}M{px - 5:.1f},{ya:.1f}h10'
                             f'M{px - 5:.1f},{yb:.1f}h10" stroke="{color}" stroke-width="1.5" fill="none"/>')
        if len(pts) > 1:
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _ in pts)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2.2" '
                         f'stroke-linejoin="round"{da}/>')
        if markers or len(pts) == 1:
            for x, y, err in pts:
                tip = f"{s['label']}: {human_kind(y, y_kind, y_unit)}"
                if err:
                    tip += f" ± {human_kind(err, y_kind, y_unit)}"
                parts.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{color}" '
                             f'stroke="#fff" stroke-width="1"><title>{_e(tip)}</title></circle>')
    if items:
        lp, _ = _legend(items, left, height + 8, plot_w)
        parts += lp
    parts.append('</svg>')
    return "".join(parts)




def bar_chart(groups, series_labels, colors, *, title: str, y_label: str, y_kind: str = "plain",
              y_unit=None, width: int = 500, height: int = 300) -> str:
    """An SVG grouped bar chart. groups: [{"label", "values": [(value, err|None), ...],
    "note"}] with one value per series label; the note (e.g. the ratio) is printed above
    the group."""
    left, right_pad, top = 70, 20, 34
    plot_w = width - left - right_pad
    items = [(lab, col, "", "box") for lab, col in zip(series_labels, colors)]
    leg_h = _legend_height(items, plot_w)
    total_h = height + leg_h
    bottom = height - 48
    parts = _svg_open(width, total_h, title)
    vals = [v + (e or 0) for g in groups for v, e in g["values"] if v is not None]
    if not vals:
        parts.append('</svg>')
        return "".join(parts)
    hi = max(vals) * 1.12  # room for the note
    lo = min(0.0, min(v for g in groups for v, _ in g["values"] if v is not None))
    yt = _nice_ticks(lo, hi)
    factor, unit = axis_scale(y_kind, max(abs(yt[0]), abs(yt[-1])), y_unit)
    y0, y1 = yt[0], yt[-1]

    def Y(y):
        return bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top)

    _y_axis(parts, yt, factor, Y, left, left + plot_w,
            f"{y_label} ({unit})" if unit else y_label, top, bottom)
    n = max(1, len(groups))
    gw = plot_w / n
    nb = max(1, max(len(g["values"]) for g in groups))
    bw = min(70.0, gw * 0.7 / nb)
    for gi, g in enumerate(groups):
        cx = left + gw * (gi + 0.5)
        x0 = cx - bw * nb / 2
        for bi, (v, err) in enumerate(g["values"]):
            if v is None:
                continue
            col = colors[bi % len(colors)]
            x = x0 + bi * bw
            ya, yb = Y(max(v, 0)), Y(min(v, 0))
            tip = f"{series_labels[bi] if bi < len(series_labels) else ''}: {human_kind(v, y_kind, y_unit)}"
            parts.append(f'<rect x="{x + 2:.1f}" y="{ya:.1f}" width="{bw - 4:.1f}" '
                         f'height="{max(yb - ya, 0.5):.1f}" fill="{col}"><title>{_e(tip)}</title></rect>')
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{Y(max(v, 0) + (err or 0)) - 5:.1f}" '
                         f'text-anchor="middle" font-size="11" fill="#3c4043">'
                         f'{_e(human_kind(v, y_kind, y_unit))}</text>')
            if err:
                px, ea, eb = x + bw / 2, Y(v - err), Y(v + err)
                parts.append(f'<path d="M{px:.1f},{ea:.1f}V{eb:.1f}M{px - 5:.1f},{ea:.1f}h10'
                             f'M{px - 5:.1f},{eb:.1f}h10" stroke="#202124" stroke-width="1.3" fill="none"/>')
        if g.get("note"):
            top_v = max((v + (e or 0)) for v, e in g["values"] if v is not None)
            parts.append(f'<text x="{cx:.1f}" y="{Y(top_v) - 22:.1f}" text-anchor="middle" '
                         f'font-size="13" font-weight="600" fill="#202124">{_e(g["note"])}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="12" '
                     f'fill="#3c4043">{_e(g["label"])}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#5f6368"/>')
    lp, _ = _legend(items, left, height - 14, plot_w)
    parts += lp
    parts.append('</svg>')
    return "".join(parts)



_SIZE = re.compile(r'<svg [^>]*?width="([0-9.]+)" height="([0-9.]+)"')


def side_by_side(panels: list[str], *, title: str, gap: int = 10) -> str:
    """Charts (SVG texts from line_chart/bar_chart) in a row under one title, as one SVG."""
    sizes = [tuple(float(v) for v in _SIZE.match(p).groups()) for p in panels]
    width = sum(w for w, _ in sizes) + gap * (len(panels) + 1)
    height = max((h for _, h in sizes), default=0) + 36
    parts = _svg_open(int(width), int(height), title)
    x = gap
    for p, (w, _) in zip(panels, sizes):
        parts.append(p.replace("<svg ", f'<svg x="{x:g}" y="32" ', 1))
        x += w + gap
    parts.append("</svg>")
    return "".join(parts)

