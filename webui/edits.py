"""Edits of the drawing, one small function per kind of edit, looked up by the Dash id that asked.

Each edit takes (topo, Req) and returns (new topo, message); returning the same topology is "nothing
to do" (the callback then sends no update, only the message if any). None of them touches the
history, the lock or Dash: the callback in drawing.py does that once for all of them. Undo and Redo
are not edits of the topology but steps in the history (`Doc.step`).
"""
from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Callable

from emulator import lab as api

from . import autolayout, forms, model
from .files import Roots


@dataclass
class Req:
    """What the page sent with the gesture; each edit reads only its own fields."""
    kind: str = ""                   # palette: the kind clicked
    drop: dict | None = None         # {kind, x, y} of a palette item dropped on the drawing
    moved: dict | None = None        # {positions: {node: {x, y}}} after a drag
    link: dict | None = None         # {a, b}: the two nodes Connect picked
    nodes: list[str] = field(default_factory=list)   # the selection
    links: list[int] = field(default_factory=list)
    upload: str | None = None        # data URL of an opened file
    filename: str | None = None
    yaml: str | None = None          # the YAML tab's text
    target: tuple = ("top",)         # what the property form edits
    prop_ids: list[dict] = field(default_factory=list)
    prop_values: list = field(default_factory=list)
    lab: str | None = None           # a running lab picked in the labs dropdown
    restore: dict | None = None      # {text, dirty}: the drawing the page kept (sessionStorage) over a reload
    paste: dict | None = None        # {nodes}: the names Ctrl+C kept, Ctrl+V copies them
    scenario: str | None = None      # Run: the scenario file, its parameters and lab name
    scn_set: str | None = None
    scn_lab: str | None = None
    roots: Roots | None = None       # where that lab's topology file may be read from


@dataclass(frozen=True)
class Edit:
    apply: Callable[[dict, Req], tuple[dict, str]]
    redraw: bool = True      # send the elements again (a drag is already on screen)
    refit: bool = False      # zoom to the whole new drawing
    replaces: bool = False   # makes a new drawing, so allowed on one the server lost
    clean: Callable[[Req], bool] | None = None   # the result is saved work (nothing to warn about on leaving)


def add_clicked(topo: dict, req: Req) -> tuple[dict, str]:
    t, name = model.add_node(topo, req.kind)
    return t, f"added {name}"


def add_dropped(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.drop:
        return topo, ""
    t, name = model.add_node(topo, req.drop["kind"], {"x": round(req.drop["x"]), "y": round(req.drop["y"])})
    return t, f"added {name}"


def move(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.moved:
        return topo, ""
    return model.move_nodes(topo, req.moved["positions"]), ""


def connect(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.link:
        return topo, ""
    return model.add_link(topo, req.link["a"], req.link["b"]), f"linked {req.link['a']} and {req.link['b']}"


def delete(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.nodes and not req.links:
        return topo, "select something to delete"
    return model.delete(topo, req.nodes, req.links), f"deleted {len(req.nodes)} node(s), {len(req.links)} link(s)"


def new(topo: dict, req: Req) -> tuple[dict, str]:
    return model.empty(), "new drawing"


def open_upload(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.upload:
        return topo, ""
    text = base64.b64decode(req.upload.split(",", 1)[1]).decode("utf-8")
    return autolayout.auto(model.from_yaml(text, req.filename or "<upload>")), f"opened {req.filename}"


def apply_yaml(topo: dict, req: Req) -> tuple[dict, str]:
    return autolayout.auto(model.from_yaml(req.yaml or "", "<yaml>")), "YAML applied"


def apply_form(topo: dict, req: Req) -> tuple[dict, str]:
    return _apply_form(topo, req.target, req.prop_ids, req.prop_values), "properties applied"


def restore(topo: dict, req: Req) -> tuple[dict, str]:
    """The drawing this browser tab had before a reload (kept by the page in sessionStorage)."""
    text = (req.restore or {}).get("text")
    if not isinstance(text, str) or not text.strip():
        return topo, ""
    return autolayout.auto(model.from_yaml(text, "<kept drawing>")), "drawing restored"


def show_scenario(topo: dict, req: Req) -> tuple[dict, str]:
    """Run draws the scenario's topology (its lab's live state then shows on it); Undo brings the
    previous drawing back."""
    from . import scenario_tab
    if not req.scenario:   # (no check for a run going on: the Run callback may have started it already)
        return topo, ""
    t = scenario_tab.scenario_topology(req.roots, req.scenario, req.scn_set, req.scn_lab)
    return autolayout.auto(t), f"showing the lab of {req.scenario}"


def paste(topo: dict, req: Req) -> tuple[dict, str]:
    names = [n for n in (req.paste or {}).get("nodes") or [] if isinstance(n, str)]
    if not names:
        return topo, ""
    t, made = model.copy_nodes(topo, names)
    return t, (f"pasted {', '.join(made)}" if made else "nothing to paste: the copied nodes are gone")


def arrange(topo: dict, req: Req) -> tuple[dict, str]:
    if not topo.get("nodes"):
        return topo, "nothing to arrange"
    return autolayout.arrange(topo), "arranged: layered along the links and chains"


def open_lab(topo: dict, req: Req) -> tuple[dict, str]:
    if not req.lab:
        return topo, ""
    return autolayout.auto(_lab_topology(req.lab, req.roots)), f"opened running lab {req.lab}"


EDITS: dict[str, Edit] = {   # Dash id (a palette button's id "type") -> its edit
    "palette": Edit(add_clicked),
    "drop": Edit(add_dropped),
    "moved": Edit(move, redraw=False),
    "link-req": Edit(connect),
    "btn-delete": Edit(delete),
    "btn-new": Edit(new, refit=True, replaces=True, clean=lambda r: True),
    "upload": Edit(open_upload, refit=True, replaces=True, clean=lambda r: True),
    "btn-yaml": Edit(apply_yaml, refit=True, replaces=True),
    "btn-apply": Edit(apply_form),
    "labs-dd": Edit(open_lab, refit=True, replaces=True, clean=lambda r: True),
    "btn-arrange": Edit(arrange, refit=True),
    "paste": Edit(paste),
    "btn-run": Edit(show_scenario, refit=True, replaces=True, clean=lambda r: True),
    "restore": Edit(restore, refit=True, replaces=True, clean=lambda r: not (r.restore or {}).get("dirty")),
}
HISTORY_STEPS = {"btn-undo": True, "btn-redo": False}  # Dash id -> back


def _apply_form(topo: dict, target: tuple, ids: list[dict], values: list) -> dict:
    if not ids or target[0] == "many":
        raise ValueError("nothing to apply: select one node or one link")
    props: dict = {}
    for fid, v in zip(ids, values):
        try:
            props[fid["key"]] = forms.parse(fid["w"], v)
        except ValueError as e:
            raise ValueError(f"{fid['key']}: {e}") from None
    if target[0] == "top":
        return model.set_top_props(topo, props)
    if target[0] == "node":
        old = target[1]
        if old not in topo.get("nodes", {}):
            raise ValueError("the node being edited is gone")
        new_name = props.pop("__name__", None)
        t = model.set_node_props(topo, old, props)
        if new_name and str(new_name) != old:
            t = model.rename_node(t, old, str(new_name))
        return t
    if target[0] in ("services", "forwarders"):
        section, name = target
        if name not in (topo.get(section) or {}):
            raise ValueError(f"the {section[:-1]} being edited is gone")
        t = copy.deepcopy(topo)
        t[section][name] = {k: v for k, v in props.items() if v is not None}
        return t
    if target[0] == "link":
        i = target[1]
        if i >= len(topo.get("links", [])):
            raise ValueError("the link being edited is gone")
        eps = [props.pop("__ep0__", None), props.pop("__ep1__", None)]
        return model.set_link_props(topo, i, {**props, "endpoints": eps})
    raise ValueError(f"unknown form {target}")


def _lab_topology(name: str, roots: Roots) -> dict:
    """A running lab as a drawing: the YAML the web UI deployed (kept in its state, positions
    included), else its topology file if still there (in a topology dir), else its state."""
    st = api.get(name)
    text = (st.get("source") or {}).get("text") if isinstance(st.get("source"), dict) else None
    if isinstance(text, str):
        topo = model.from_yaml(text, f"<lab {name}>")
        if topo.get("name") == name:
            return topo
    path = roots.topology(st["file"]) if isinstance(st.get("file"), str) else None
    if path:
        with open(path, encoding="utf-8") as f:
            topo = model.from_yaml(f.read(), path)
        if topo.get("name") == name:
            return topo
    nodes = {n: {"kind": v.get("kind", "host")} for n, v in st.get("nodes", {}).items()}
    links = [[l["a"], l["b"]] for l in st.get("links", [])]
    return {"name": name, "nodes": nodes, "links": links}
