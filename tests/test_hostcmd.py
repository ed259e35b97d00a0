"""hostcmd keeps a bounded history; `recording()` collects what a block runs (no root needed: dry runs)."""
from emulator.deploy import hostcmd


def _dry(n: int, tag: str) -> None:
    saved, hostcmd.dry_run = hostcmd.dry_run, True
    try:
        for i in range(n):
            hostcmd.run(["true", tag, str(i)])
    finally:
        hostcmd.dry_run = saved


def test_history_is_bounded_and_keeps_the_latest():
    _dry(hostcmd.RECORD_MAX + 250, "flood")
    assert len(hostcmd.recorded) == hostcmd.RECORD_MAX
    assert hostcmd.recorded[-1] == ["true", "flood", str(hostcmd.RECORD_MAX + 249)]
    assert hostcmd.recorded[0] == ["true", "flood", "250"]


def test_recording_collects_only_inside_the_block_and_nests():
    _dry(3, "before")
    with hostcmd.recording() as outer:
        _dry(2, "a")
        with hostcmd.recording() as inner:
            _dry(1, "b")
    _dry(2, "after")
    assert outer == [["true", "a", "0"], ["true", "a", "1"], ["true", "b", "0"]]
    assert inner == [["true", "b", "0"]]
    assert hostcmd._recorders == []
