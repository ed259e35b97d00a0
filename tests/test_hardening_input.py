"""Hostile or odd input is refused early, located and cheaply (no root needed)."""
import tracemalloc
from pathlib import Path

import pytest
import yaml

from emulator import loader
from emulator.errors import TopologyError
from emulator.loader import load_text

ROOT = Path(__file__).resolve().parent.parent
BOMB = (ROOT / "tests" / "errors" / "alias_bomb.yml").read_text()


def test_alias_bomb_is_measured_on_its_distinct_nodes_not_expanded():
    """The check visits each distinct YAML node once: ~100 for a bomb that expands to 10^8."""
    root = yaml.SafeLoader(BOMB).get_single_node()
    ex = loader.Expansion(root)
    assert ex.size(root) > loader.MAX_EXPANDED
    assert ex.distinct < 150            # the work done: nodes measured, not values expanded


def test_alias_bomb_is_refused_before_anything_is_built(monkeypatch):
    built = []
    real = loader.Source

    def spy(*a, **k):   # the loader makes its Source only after the expansion check
        built.append(1)
        return real(*a, **k)
    monkeypatch.setattr(loader, "Source", spy)
    tracemalloc.start()
    try:
        with pytest.raises(TopologyError) as exc:
            load_text(BOMB, "bomb.yml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (issue,) = exc.value.issues
    assert issue.file == "bomb.yml" and issue.line == 10 and "alias" in issue.message
    assert not built
    assert peak < 5_000_000, f"refusing the bomb allocated {peak} bytes"   # (it took 500 MB before)


def test_the_limit_is_on_expansion_not_on_size(monkeypatch):
    """A long document without aliases is not an alias bomb; the same values through aliases are."""
    monkeypatch.setattr(loader, "MAX_EXPANDED", 500)
    plain = "name: x\nnodes: {h1: {kind: host}}\ndescription: [" + ", ".join(["1"] * 2000) + "]\n"
    assert len(load_text(plain).data["description"]) == 2000
    aliased = ("name: x\nnodes: {h1: {kind: host}}\nx: &x [" + ", ".join(["1"] * 100) + "]\n"
               "description: [" + ", ".join(["*x"] * 20) + "]\n")
    with pytest.raises(TopologyError) as exc:
        load_text(aliased, "a.yml")
    assert exc.value.issues[0].path == ("description",) and exc.value.issues[0].line == 4
    ok = "name: x\nnodes: {h1: {kind: host}}\nx: &x [1, 2]\ndescription: [*x, *x]\n"
    assert load_text(ok).data["description"] == [[1, 2], [1, 2]]


@pytest.mark.parametrize("value,tag", [("!!bool maybe", "bool"), ("!!int 12a", "int"), ("!!float x1", "float")])
def test_a_value_that_does_not_fit_its_explicit_tag_is_located(value, tag):
    with pytest.raises(TopologyError) as exc:
        load_text(f"name: lab\nnodes:\n  h1: {{kind: host, mtu: {value}}}\n", "t.yml")
    (issue,) = exc.value.issues
    assert (issue.line, issue.column, issue.path) == (3, 25, ("nodes", "h1", "mtu"))
    assert f"!!{tag}" in issue.message


def test_explicit_tags_that_fit_still_work():
    src = load_text("name: !!str 123\nnodes: {h1: {kind: host, mtu: !!int '1500'}}\n")
    assert src.data["name"] == "123" and src.data["nodes"]["h1"]["mtu"] == 1500
