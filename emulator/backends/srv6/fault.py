"""Loss injection on one end of a link, without netem: a tc drop filter the emulator installs on the
device's egress (a clsact qdisc with a cls_bpf filter in direct-action mode whose classic-BPF program
returns TC_ACT_SHOT: every packet, or a random share of them), or the device taken down for a moment.

The packets a drop filter dropped are the clsact qdisc's drop count (read before and after);
a device taken down drops what its peer sends meanwhile (the peer's veth tx_dropped)."""
from __future__ import annotations

import json

from ...deploy import hostcmd

PREF = 7          # the filter's priority on the device's egress
TC_ACT_SHOT, TC_ACT_UNSPEC = 2, 0xFFFFFFFF
SKF_AD_RANDOM = 0xFFFFF000 + 56   # classic BPF ancillary load: a random 32-bit number


class FaultError(RuntimeError):
    pass


def bytecode(loss_pct: float = 100.0) -> str:
    """The classic-BPF program (tc's 'N,op jt jf k,...' form) that drops LOSS_PCT % of packets."""
    if loss_pct >= 100:
        prog = [(0x06, 0, 0, TC_ACT_SHOT)]                              # ret #SHOT
    else:
        thr = int(loss_pct / 100 * 2 ** 32)
        prog = [(0x20, 0, 0, SKF_AD_RANDOM),                            # ld rand
                (0x35, 0, 1, thr),                                       # jge #thr -> keep, else drop
                (0x06, 0, 0, TC_ACT_UNSPEC),                            # ret #UNSPEC: next filter / pass
                (0x06, 0, 0, TC_ACT_SHOT)]                              # ret #SHOT
    return f"{len(prog)}," + ",".join(" ".join(str(x) for x in ins) for ins in prog)


def _clsact_drops(netns: str, dev: str) -> int | None:
    r = hostcmd.run(["tc", "-s", "-j", "qdisc", "show", "dev", dev], netns=netns)
    if not r.ok:
        raise FaultError(f"tc qdisc show dev {dev}: {r.stderr.strip()}")
    for q in json.loads(r.stdout or "[]"):
        if q.get("kind") == "clsact":
            return int(q.get("drops", 0))
    return None


class DropFilter:
    def __init__(self, netns: str, dev: str, loss_pct: float = 100.0):
        self.netns, self.dev, self.loss_pct = netns, dev, loss_pct
        self.made_qdisc = False
        self.before = 0
        self.dropped = 0

    def _tc(self, *args: str) -> None:
        r = hostcmd.run(["tc", *args], netns=self.netns)
        if not r.ok:
            raise FaultError(f"tc {' '.join(args)} in {self.netns}: {r.stderr.strip()[-300:]}")

    def install(self) -> None:
        drops = _clsact_drops(self.netns, self.dev)
        if drops is None:
            self._tc("qdisc", "add", "dev", self.dev, "clsact")
            self.made_qdisc, drops = True, 0
        self.before = drops
        self._tc("filter", "add", "dev", self.dev, "egress", "pref", str(PREF), "bpf", "da",
                 "bytecode", bytecode(self.loss_pct))

    def remove(self) -> int:
        self._tc("filter", "del", "dev", self.dev, "egress", "pref", str(PREF))
        self.dropped = (_clsact_drops(self.netns, self.dev) or 0) - self.before
        if self.made_qdisc:
            self._tc("qdisc", "del", "dev", self.dev, "clsact")
        return self.dropped


def tx_dropped(netns: str, dev: str) -> int:
    r = hostcmd.run(["ip", "-s", "-j", "link", "show", "dev", dev], netns=netns)
    if not r.ok:
        raise FaultError(f"ip link show {dev} in {netns}: {r.stderr.strip()}")
    return int(json.loads(r.stdout)[0]["stats64"]["tx"]["dropped"])


def set_link(netns: str, dev: str, up: bool) -> None:
    r = hostcmd.run(["ip", "link", "set", "dev", dev, "up" if up else "down"], netns=netns)
    if not r.ok:
        raise FaultError(f"ip link set {dev} in {netns}: {r.stderr.strip()}")
