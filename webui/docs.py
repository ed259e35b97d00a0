"""The drawings on the server: one `Doc` (topology + undo/redo history) per browser tab.

The document being drawn lives on the server, keyed by a session id the page keeps in a Store,
so a callback carries a small request and the browser never ships a 500-node topology back and forth.
"""
from __future__ import annotations

import copy
import threading

from . import model

HISTORY = 100  # undo steps kept per drawing
MAX_DOCS = 64  # drawings of the most recently used browser tabs kept on the server


class Doc:
    def __init__(self, topo: dict):
        self.topo = topo
        self.undo: list[dict] = []
        self.redo: list[dict] = []
        self.rev = 0
        self.target: tuple = ("top",)  # what the property form edits
        self.orphan = False
        self.clean_rev = 0       # the rev last saved, opened or restored clean: later ones are unsaved work
        self.restored = False    # the page's kept drawing (a reload) has been offered to this one
        self.lock = threading.Lock()

    def change(self, topo: dict) -> bool:
        """Make `topo` the drawing; False (and no history entry) when it changes nothing, e.g. a
        click that "dragged" a node by zero pixels, or a move of a node deleted meanwhile: otherwise
        the next Undo would undo that non-change instead of the user's last edit."""
        if topo == self.topo:
            return False
        self.undo.append(self.topo)
        del self.undo[:-HISTORY]
        self.redo.clear()
        self.topo = topo
        self.rev += 1
        return True

    def step(self, back: bool) -> bool:
        """Undo (back) or redo one change; False when there is nothing to take."""
        src, dst = (self.undo, self.redo) if back else (self.redo, self.undo)
        if not src:
            return False
        dst.append(self.topo)
        self.topo = src.pop()
        self.rev += 1
        return True


DOCS: dict[str, Doc] = {}
_docs_lock = threading.Lock()


def doc(sid: str | None, initial: dict | None = None, page: bool = False) -> Doc:
    """The drawing of a browser tab; one the server does not know (it was restarted) is new and empty,
    and marked so that the page can say so instead of editing a drawing it does not show."""
    with _docs_lock:
        d = DOCS.pop(sid, None)
        if d is None:
            d = Doc(copy.deepcopy(initial) if initial else model.empty())
            d.orphan = not page
        DOCS[sid] = d  # most recently used last
        while len(DOCS) > MAX_DOCS:
            DOCS.pop(next(iter(DOCS)))
        return d
