"""Golden error files: tests/errors/NAME.yml is a bad topology, NAME.txt the exact error text.

Every message names file:line:column and the YAML path. To regenerate the .txt files after a
deliberate change of wording, run

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_errors_golden.py

and review every changed message by eye (git diff tests/errors) before committing.
"""
import os
import re
from pathlib import Path

import pytest

from emulator import lab
from emulator.errors import TopologyError
from conftest import check_golden

ROOT = Path(__file__).resolve().parent.parent
ERRORS = ROOT / "tests" / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.yml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def compile_error(rel_path: str, monkeypatch) -> TopologyError:
    monkeypatch.chdir(ROOT)  # the message shows the path as given: tests/errors/NAME.yml
    with pytest.raises(TopologyError) as exc:
        lab.compile(rel_path, check_host=False)
    return exc.value


def test_there_are_cases():
    assert len(CASES) >= 30
    missing = [c for c in CASES if not (ERRORS / f"{c}.txt").exists() and not UPDATE]
    assert not missing, f"no golden .txt for {missing} (run with UPDATE_GOLDEN=1 and review)"
    orphans = [p.name for p in ERRORS.glob("*.txt") if p.stem not in CASES]
    assert not orphans, f"golden files without a topology: {orphans}"


@pytest.mark.parametrize("name", CASES)
def test_error_golden(name, monkeypatch):
    rel = f"tests/errors/{name}.yml"
    err = compile_error(rel, monkeypatch)
    text = err.format() + "\n"
    assert str(err) + "\n" == text
    check_golden(ERRORS / f"{name}.txt", text)
    # every issue is located: file:line:column and a YAML path, and says something
    assert err.issues
    for issue in err.issues:
        assert issue.file == rel
        assert issue.line is not None and issue.line >= 1 and issue.column >= 1, issue.format()
        assert issue.message.strip()
        assert re.match(rf"{re.escape(rel)}:\d+:\d+: \S", issue.format())
    lines = len((ROOT / rel).read_text().splitlines())
    assert all(i.line <= max(lines, 1) for i in err.issues)


def test_several_errors_all_reported(monkeypatch):
    err = compile_error("tests/errors/several_errors.yml", monkeypatch)
    assert len(err.issues) >= 5
    assert len({i.line for i in err.issues}) == len(err.issues)
    assert err.format().startswith(f"{len(err.issues)} errors in topology:\n")
    err = compile_error("tests/errors/several_errors_semantic.yml", monkeypatch)
    assert len(err.issues) >= 5
    assert [i.line for i in err.issues] == sorted(i.line for i in err.issues)


def test_file_not_found(tmp_path):
    missing = str(tmp_path / "no-such-topology.yml")
    with pytest.raises(TopologyError) as exc:
        lab.compile(missing, check_host=False)
    (issue,) = exc.value.issues
    assert issue.file == missing
    assert "file not found" in issue.message
    assert exc.value.format().startswith(f"1 error in topology:\n{missing}: (top level): file not found")


def test_directory_is_not_a_topology(tmp_path):
    with pytest.raises(TopologyError) as exc:
        lab.compile(str(tmp_path), check_host=False)
    assert exc.value.issues[0].file == str(tmp_path)


def test_undecodable_file(tmp_path):
    p = tmp_path / "latin1.yml"
    p.write_bytes(b"name: caf\xe9\nnodes: {}\n")
    with pytest.raises(TopologyError) as exc:
        lab.compile(str(p), check_host=False)
    assert "cannot read" in exc.value.issues[0].message
