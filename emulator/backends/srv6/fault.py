"""Loss injection on one end of a link, without netem: a tc drop filter the emulator installs on the
device's egress (a clsact qdisc with a cls_bpf filter in direct-action mode whose classic-BPF program
returns TC_ACT_SHOT for every IP packet but neighbour discovery and MLD, or a random share of them).
The packets it dropped are the clsact qdisc's drop count (read before and after).

(A link taken down for a moment is link_fault's mode: down, linkdown.py: the kernel drops the
addresses and routes through a device that goes down, and it puts them all back.)"""
from __future__ import annotations

import json
import struct

from ...deploy import hostcmd
from ...deploy.kernel import netlink

PREF = 7          # the filter's priority on the device's egress
TC_ACT_SHOT, TC_ACT_UNSPEC = 2, 0xFFFFFFFF
SKF_AD_RANDOM = 0xFFFFF000 + 56   # classic BPF ancillary load: a random 32-bit number


class FaultError(RuntimeError):
    pass


SKF_AD_PROTOCOL = 0xFFFFF000 + 0    # skb->protocol (host order)
SKF_NET_OFF = 0xFFF00000            # loads relative to the network header
ND_MLD = ((130, 132), (133, 137), (143, 143))   # ICMPv6 types the kernel sends by itself: never dropped


def bytecode(loss_pct: float = 100.0) -> str:
    """The classic-BPF program (tc's 'N,op jt jf k,...' form) that drops LOSS_PCT % of the IP packets
    the link monitor counts: IPv4, and IPv6 except neighbour discovery, MLD and packets with hop-by-hop
    options (and nothing else)."""
    prog: list = [
        (0x20, 0, 0, SKF_AD_PROTOCOL),          # 0: ld proto
        (0x15, "drop", 0, 0x0800),              # 1: IPv4 -> drop
        (0x15, 0, "pass", 0x86DD),              # 2: not IPv6 -> pass
        (0x30, 0, 0, SKF_NET_OFF + 6),          # 3: ldb next header
        (0x15, "pass", 0, 0),                   # 4: hop-by-hop options (MLD with router alert) -> pass
        (0x15, 0, "drop", 58),                  # 5: not ICMPv6 -> drop
        (0x30, 0, 0, SKF_NET_OFF + 40),         # 6: ldb ICMPv6 type
        (0x35, 0, 1, 133),                      # 7: type >= 133? (else to 9)
        (0x25, "drop", "pass", 137),            # 8: 133..137 (ND) -> pass
        (0x35, 0, "drop", 130),                 # 9: < 130 -> drop
        (0x25, 0, "pass", 132),                 # 10: 130..132 (MLD) -> pass
        (0x15, "pass", "drop", 143),            # 11: 143 (MLDv2) -> pass
    ]
    labels = {"drop": len(prog)}
    if loss_pct < 100:
        thr = int(loss_pct / 100 * 2 ** 32)
        prog += [(0x20, 0, 0, SKF_AD_RANDOM),    # ld rand
                 (0x35, "pass", 0, thr)]        # rand >= threshold -> pass
    prog.append((0x06, 0, 0, TC_ACT_SHOT))
    labels["pass"] = len(prog)
    prog.append((0x06, 0, 0, TC_ACT_UNSPEC))    # the next filter, or the packet goes on
    out = []
    for pc, (op, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - pc - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - pc - 1 if isinstance(jf, str) else jf
        out.append(f"{op} {jt} {jf} {k}")
    return f"{len(out)}," + ",".join(out)


def _clsact_drops(netns: str, dev: str) -> int | None:
    r = hostcmd.run(["tc", "-s", "-j", "qdisc", "show", "dev", dev], netns=netns)
    if not r.ok:
        raise FaultError(f"tc qdisc show dev {dev}: {r.stderr.strip()}")
    for q in json.loads(r.stdout or "[]"):
        if q.get("kind") == "clsact":
            return int(q.get("drops", 0))
    return None


RTM_GETQDISC, RTM_NEWQDISC = 38, 36
TCA_KIND, TCA_STATS = 1, 3
_TCMSG = struct.Struct("=BxxxiIII")


def clsact_drops_nl(sock: netlink.Socket, index: int) -> int | None:
    """The clsact qdisc's drop count on device INDEX, read over rtnetlink (no process: polled often)."""
    sock.seq += 1
    body = _TCMSG.pack(0, index, 0, 0, 0)
    sock.sock.send(struct.pack("=LHHLL", 16 + len(body), RTM_GETQDISC, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP,
                               sock.seq, 0) + body)
    found, done = None, False
    while not done:
        data = sock.sock.recv(1 << 20)
        off = 0
        while off + 16 <= len(data):
            ln, typ, _f, _s, _p = struct.unpack_from("=LHHLL", data, off)
            if ln < 16 or typ in (netlink.NLMSG_DONE, netlink.NLMSG_ERROR):
                done = True
                break
            if typ == RTM_NEWQDISC and _TCMSG.unpack_from(data, off + 16)[1] == index:
                kind, drops, a = None, None, off + 16 + _TCMSG.size
                while a + 4 <= off + ln:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype == TCA_KIND:
                        kind = data[a + 4: a + alen].rstrip(b"\0").decode()
                    elif atype == TCA_STATS and alen >= 4 + 16:   # struct tc_stats: bytes, packets, drops
                        drops = struct.unpack_from("=I", data, a + 4 + 12)[0]
                    a += (alen + 3) & ~3
                if kind == "clsact":
                    found = drops or 0
            off += (ln + 3) & ~3
    return found


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
        if drops is None:   # (the link monitor adds it beforehand: adding it stops the queues for a moment)
            self._tc("qdisc", "add", "dev", self.dev, "clsact")
            self.made_qdisc, drops = True, 0
        self.before = drops
        self._tc("filter", "add", "dev", self.dev, "egress", "pref", str(PREF), "bpf", "da",
                 "bytecode", bytecode(self.loss_pct))

    def count(self, sock: netlink.Socket | None = None, index: int | None = None) -> int:
        """Packets dropped so far (over SOCK, a netlink socket in the device's namespace, when given)."""
        if sock is not None and index is not None:
            return (clsact_drops_nl(sock, index) or 0) - self.before
        return (_clsact_drops(self.netns, self.dev) or 0) - self.before

    def remove(self) -> int:
        """Remove the filter; the clsact qdisc stays (removing it would stop the device's queues for a
        moment, losing packets; it goes with the lab's namespace)."""
        self._tc("filter", "del", "dev", self.dev, "egress", "pref", str(PREF))
        self.dropped = (_clsact_drops(self.netns, self.dev) or 0) - self.before
        return self.dropped
