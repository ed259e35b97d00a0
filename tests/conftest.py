import itertools
import os
import textwrap
import time

import pytest

from emulator import backends
from emulator import lab as api
from emulator.core.loader import load_text

backends.ensure_loaded()   # the tests call the compile stages directly, as the entry points do after this

_counter = itertools.count()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root")
        for item in items:
            if "integration" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def lab_name():
    """A lab name unique to this test run (labs of concurrent runs never collide)."""
    return f"t{os.getpid() % 100000}x{next(_counter)}"


def _netns_now():
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def _links_now():
    """Root-namespace links carrying the emulator's tag (other tools' links are not ours to judge)."""
    out = set()
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                if f.read().startswith("emulator:"):
                    out.add(name)
        except OSError:
            pass
    return out


@pytest.fixture
def clean_host():
    """Fails the test if it leaves namespaces, root-namespace links or lab state behind.

    Only this test run's labs count (every test lab is named t<pid>x<n> by `lab_name`): labs of
    other runs or of the user on the same machine are neither judged nor touched."""
    ns0, links0 = _netns_now(), _links_now()
    labs0 = set(os.listdir("/run/emulator")) if os.path.isdir("/run/emulator") else set()
    yield
    left_ns = {n for n in _netns_now() - ns0 if n.startswith(f"emu-t{os.getpid() % 100000}x")}
    left_links = _links_now() - links0
    labs1 = set(os.listdir("/run/emulator")) if os.path.isdir("/run/emulator") else set()
    mine = f"t{os.getpid() % 100000}x"
    labs1 = {lab for lab in labs1 if lab.startswith(mine)}  # only this run's labs: never another's
    # remove leftovers by their exact names so one failure does not cascade, then fail
    for lab in labs1 - labs0:
        try:
            api.destroy(lab)
        except Exception:
            pass
    assert not left_ns, f"namespaces left behind: {sorted(left_ns)}"
    assert not left_links, f"links left in the root namespace: {sorted(left_links)}"
    assert not (labs1 - labs0), f"lab state left behind: {sorted(labs1 - labs0)}"


@pytest.fixture
def topo(tmp_path, lab_name):
    """Write a topology (YAML text with {lab} for the lab name) to a file; return its path."""
    def make(text: str, name: str = "topo.yaml") -> str:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).replace("{lab}", lab_name))
        return str(p)
    return make


# two bridges in a row, hosts a and b on sw1, c on sw2 (addresses from the default pool)
LAN = """
name: {lab}
nodes:
  sw1: {kind: bridge}
  sw2: {kind: bridge}
  a: {kind: host}
  b: {kind: host}
  c: {kind: host}
links:
  - [a, sw1]
  - [b, sw1]
  - [sw1, sw2]
  - [c, sw2]
"""


def addr(st, node, ifname="eth0"):
    """The first address (without its prefix length) of NODE:IFNAME in a deployed lab's state."""
    return st["nodes"][node]["interfaces"][ifname]["addresses"][0].split("/")[0]


def wait_listening(lab: str, node: str, *ports: int, timeout: float = 15) -> None:
    """Until NODE has a TCP listener on every port (a daemon returns before it listens)."""
    want = {f":{p}" for p in ports}
    end = time.monotonic() + timeout
    while True:
        out = api.exec_in(lab, node, ["ss", "-ltnH"]).stdout
        have = {w for w in want if any(line.split()[3].endswith(w) for line in out.splitlines() if len(line.split()) > 3)}
        if have == want:
            return
        assert time.monotonic() < end, f"{node} does not listen on {sorted(want - have)}: {out}"
        time.sleep(0.1)


def compile_text(text: str):
    return api.compile(load_text(textwrap.dedent(text), "test.yaml"), check_host=False)


def check_golden(path, text: str) -> None:
    """Compare `text` with the golden file at `path`; with UPDATE_GOLDEN=1, write it first
    (then review the diff before committing)."""
    from pathlib import Path
    path = Path(path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing (run with UPDATE_GOLDEN=1 and review)"
    assert text == path.read_text()
