"""Topology files of other tools, converted to the project's topology dict.

Each converter returns a `Source` (the same dict a YAML topology file gives, with the file, line and
column of what each value came from where that is known), which then goes through the normal
pipeline: validation, resolve, plan, deploy. What a converter cannot carry over is a *note*
(an `Issue` with its location) kept on the Source as `notes`; the CLI prints them as warnings.

- `mininet.py`: Mininet custom files (`--custom FILE.py --topo NAME,ARGS`) and Mininet's built-in
  shapes, through Mininet's own `Topo` classes and argument parsing (without starting Mininet).
- `containerlab.py`: `.clab.yml` files, recognised by their top-level `topology:` key.
"""
from __future__ import annotations

from ..core.loader import Source
from ..errors import Issue


def notes(src: Source) -> list[Issue]:
    """The notes a converter attached to a Source (none for a native topology)."""
    return list(getattr(src, "notes", None) or [])


def with_notes(src: Source, items: list[Issue]) -> Source:
    src.notes = list(items)   # type: ignore[attr-defined]
    return src


def convert(src: Source) -> Source:
    """A loaded YAML document in another tool's format -> the project's topology; others unchanged."""
    from . import containerlab
    if containerlab.looks_like(src.data):
        return containerlab.convert(src)
    return src


def format_note(note: Issue) -> str:
    return "note: " + note.format()


def load_file(path: str, name: str | None = None) -> Source:
    """A topology file in the project's YAML or containerlab's, under lab name `name` if given."""
    from ..core import loader
    from ..names import check_lab
    src = convert(loader.load_file(path))
    if name is None:
        return src
    return with_notes(src.with_name(check_lab(name)), notes(src))


GENERATED_ARGS = {"single": 1, "linear": 1, "tree": 2}   # the shapes emulator/topo_gen.py builds itself


def generated(spec: str, custom: str | None = None, name: str | None = None) -> Source:
    """`--topo SPEC` (with `--custom FILE.py`): the project's own generator for single,N linear,N and
    tree,D,F (fast, no Mininet needed), Mininet's Topo classes for everything else."""
    from ..topo_gen import generate
    shape, *args = [p.strip() for p in spec.split(",")]
    if not custom and GENERATED_ARGS.get(shape) == len(args) and not any("=" in a for a in args):
        return generate(spec, name)
    from ..names import check_lab
    from . import mininet
    return mininet.load(spec, custom, check_lab(name) if name is not None else None)
