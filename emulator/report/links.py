"""Per-link tables: for every step that measured per-link counters (`link_loss`: the link monitor of
emulator/backends/srv6/), each link direction's sent/received/lost per interval and the loss events.

Only link directions that carried traffic are listed; an interval column per sample."""
from __future__ import annotations

from html import escape

from ..units import text
from .results import Results, as_results


def _tables(results: Results):
    for run in results.runs:
        for step in run.steps:
            ll = step.measurements.get("link_loss") if isinstance(step.measurements, dict) else None
            if isinstance(ll, dict) and isinstance(ll.get("links"), list):
                yield run, step, ll


def _busy(ll: dict) -> list[dict]:
    return [l for l in ll["links"] if isinstance(l, dict) and (l.get("sent") or l.get("lost"))]


def _cell(r: dict) -> str:
    s = f"{r.get('sent', 0)}/{r.get('received', 0)}"
    return s + (f" **-{r['lost']}**" if r.get("lost") else "") + (" (down)" if r.get("down") else "")


def link_loss_markdown(results: Results | dict) -> list[str]:
    """Markdown lines: per run and step, a table (link direction x interval: sent/received, -lost)."""
    out: list[str] = []
    for run, step, ll in _tables(as_results(results)):
        links = _busy(ll)
        out += [f"### {text(run.title)} / {text(step.name)}: per-link loss (every {text(ll.get('interval_s'))} s)", ""]
        if not links:
            out += ["No link carried traffic.", ""]
            continue
        times = [r.get("t") for r in links[0].get("intervals", [])]
        out.append("| link | sent | received | lost | " + " | ".join(f"t={text(t)} s" for t in times) + " |")
        out.append("|---|---|---|---|" + "---|" * len(times))
        for l in links:
            cells = [_cell(r) for r in l.get("intervals", [])]
            out.append(f"| {text(l['link'])} | {text(l.get('sent'))} | {text(l.get('received'))} | "
                       f"{text(l.get('lost'))} | " + " | ".join(cells) + " |")
        events = ll.get("events") or []
        out += ["", "Loss events: " + ("; ".join(f"{text(e['link'])} at t={text(e['t'])} s: {text(e['lost'])} lost"
                                                + (" (link down)" if e.get("down") else "")
                                                for e in events) if events else "none") + ".", ""]
    return out


def link_loss_html(results: Results | dict) -> list[str]:
    """HTML figures: the same tables, lossy cells marked."""
    out: list[str] = []
    for run, step, ll in _tables(as_results(results)):
        links = _busy(ll)
        if not links:
            continue
        times = [r.get("t") for r in links[0].get("intervals", [])]
        t = ['<figure><table class="links"><tr><th>link</th><th>sent</th><th>received</th><th>lost</th>']
        t += [f'<th>{escape(text(x))} s</th>' for x in times]
        t.append('</tr>')
        for l in links:
            t.append(f'<tr><th>{escape(text(l["link"]))}</th><td>{escape(text(l.get("sent")))}</td>'
                     f'<td>{escape(text(l.get("received")))}</td>'
                     f'<td class="{"bad" if l.get("lost") else "ok"}">{escape(text(l.get("lost")))}</td>')
            for r in l.get("intervals", []):
                cls = "bad" if r.get("lost") else ""
                t.append(f'<td class="{cls}" title="sent/received">{escape(_cell(r).replace("**", ""))}</td>')
            t.append('</tr>')
        events = "; ".join(f"{text(e['link'])} at {text(e['t'])} s: {text(e['lost'])} lost"
                           + (" (link down)" if e.get("down") else "") for e in ll.get("events") or []) or "no loss"
        t.append(f'</table><figcaption>{escape(text(run.title))} / {escape(text(step.name))}: sent/received per '
                 f'{escape(text(ll.get("interval_s")))} s interval; {escape(events)}</figcaption></figure>')
        out.append("".join(t))
    return out
