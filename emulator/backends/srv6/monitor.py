"""Per-link loss monitoring: packet counters at both ends of every link, sampled at a fixed interval.

Each end of a link gets two nftables counters of IP packets (not ARP, neighbour discovery, MLD or
hop-by-hop options) (family netdev, in its own namespace: table
`emulator_mon`): one on the device's egress hook (packets it sends) and one on its ingress hook
(packets it receives). The egress hook runs before tc's egress filters and the ingress hook after
tc's ingress ones, so a packet dropped by a tc filter, a down peer or a full queue is counted as
sent and never as received. For each direction of a link: sent = egress count of one end,
received = ingress count of the other, lost = sent - received.

Sampling reads every namespace three times per tick: every ingress counter, every egress counter,
every ingress counter again. Against the first read, sent - received is the packets lost so far
plus those still on their way (sent, not yet counted at the far end); against the second, it is
at most the packets lost (less those sent after the egress read), as long as a packet crosses a
veth faster than a read takes (milliseconds). The cumulative loss at a sample is the largest
proven (second) deficit so far, capped by the smallest first deficit of this and every later
sample. The last sample waits until the counters are still (the traffic has stopped, nothing is
in flight), where both are exactly the packets lost; the baseline is taken the same way. So a
link that lost nothing shows no loss at any interval, and a loss is reported in the interval it
was seen.

A link taken down loses its packets before they are sent: its node finds no route through it and
drops them (nothing reaches the egress counter). So each tick also reads which ends are down
(rtnetlink: down now, and how often its carrier went down, so that a down shorter than a tick is
seen too) and each namespace's no-route drops (the IP MIB, linkdown.no_route); in an interval at
whose start or end a link was down, or in which it went down (and the one after, while its routes
are put back), the drops of the node on each side are lost on that link's direction away from it
(the interval is marked `down`; a node with two links down at once gives its drops to the first by
name).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from ...deploy import hostcmd
from . import linkdown

TABLE = "emulator_mon"
LIVE_TABLE = "emulator_links"   # the same counters, installed at deploy for `inspect` and the web UI
# not counted: what is not IP (ARP), and IPv6 neighbour discovery and multicast listener chatter (MLD,
# hop-by-hop options), which the kernel sends by itself on every link (so the counters are still when
# the lab is idle); the drop filter (fault.py) drops exactly the packets that are counted
NOT_COUNTED = ("meta protocol != { ip, ip6 } return; ip6 nexthdr 0 return; "
               "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
               "nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } "
               "return;")


@dataclass
class End:
    key: str        # node:if
    netns: str
    device: str


@dataclass
class Direction:
    src: End
    dst: End
    base: tuple[int, int] | None = None
    raw: list = field(default_factory=list)   # per sample: (t, sent, received before, received after)

    @property
    def name(self) -> str:
        return f"{self.src.key} -> {self.dst.key}"


def ends_of(st: dict) -> list[tuple[End, End]]:
    """Both ends of every link of a running lab whose ends are kernel devices in a namespace."""
    out = []
    for link in st.get("links", []):
        ends = []
        for key in (link["a"], link["b"]):
            node, _, ifname = key.partition(":")
            i = st["nodes"].get(node, {}).get("interfaces", {}).get(ifname)
            if not i or not i.get("device") or not i.get("netns"):
                break
            ends.append(End(key, i["netns"], i["device"]))
        if len(ends) == 2:
            out.append((ends[0], ends[1]))
    return out


def _chain(dev: str, hook: str) -> str:
    return f"{'o' if hook == 'egress' else 'i'}_{dev}".replace("-", "_").replace(".", "_")


def install(ends: list[End], table: str = TABLE) -> None:
    by_ns: dict[str, list[End]] = {}
    for e in ends:
        by_ns.setdefault(e.netns, []).append(e)
    for ns, es in by_ns.items():
        lines = [f"table netdev {table} {{"]
        for e in es:
            for hook in ("egress", "ingress"):
                lines.append(f'  chain {_chain(e.device, hook)} {{ type filter hook {hook} device "{e.device}" '
                             f"priority 0; {NOT_COUNTED} counter; }}")
        lines.append("}")
        hostcmd.run(["nft", "delete", "table", "netdev", table], netns=ns)   # a previous monitor's, if any
        # an empty clsact qdisc on every end now: grafting it later (a drop filter, fault.py) stops the
        # device's queues for a moment, which would lose packets the monitor counts
        hostcmd.run(["tc", "-force", "-batch", "-"], netns=ns,
                    input="".join(f"qdisc add dev {e.device} clsact\n" for e in es))
        r = hostcmd.run(["nft", "-f", "-"], netns=ns, input="\n".join(lines) + "\n")
        if not r.ok:
            raise RuntimeError(f"cannot install link counters in {ns}: {r.stderr.strip()[-400:]}")


def remove(ends: list[End]) -> None:
    for ns in sorted({e.netns for e in ends}):
        hostcmd.run(["nft", "delete", "table", "netdev", TABLE], netns=ns)


def read(netns: str, table: str = TABLE) -> dict[str, int]:
    """chain name -> packets, for one namespace."""
    r = hostcmd.run(["nft", "-j", "list", "table", "netdev", table], netns=netns)
    if not r.ok:
        raise RuntimeError(f"cannot read link counters in {netns}: {r.stderr.strip()[-300:]}")
    out = {}
    for item in json.loads(r.stdout).get("nftables", []):
        rule = item.get("rule")
        if rule:
            for e in rule.get("expr", []):
                if "counter" in e:
                    out[rule["chain"]] = int(e["counter"]["packets"])
    return out


class Monitor:
    """Install counters on LINKS (pairs of ends), sample every INTERVAL seconds from a thread."""

    def __init__(self, links: list[tuple[End, End]], interval: float = 1.0):
        self.interval = interval
        self.dirs = [d for a, b in links for d in (Direction(a, b), Direction(b, a))]
        self.ends = [e for a, b in links for e in (a, b)]
        self.namespaces = sorted({e.netns for e in self.ends})
        self.t0 = self.t0_wall = 0.0
        self.samples: list[float] = []
        self.down: list[dict] = []      # per sample: (netns, device) -> (down now, carrier downs so far)
        self.no_route: list[dict] = []  # per sample: netns -> IP packets dropped for want of a route
        self._devs: dict[str, list[str]] = {}
        for e in self.ends:
            self._devs.setdefault(e.netns, []).append(e.device)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.settled = self.settled_start = False
        self.settle_start = 2.0   # s to wait for still counters before the baseline

    def start(self) -> None:
        install(self.ends)
        self.t0, self.t0_wall = time.monotonic(), time.time()
        self.settled_start, now = self._still(self.settle_start)
        self._record(now)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        k = 1
        while not self._stop.wait(max(0.0, self.t0 + k * self.interval - time.monotonic())):
            try:
                self.sample()
            except RuntimeError as e:
                self.error = str(e)
                return
            k += 1

    def stop(self, settle: float = 5.0) -> None:
        """Stop sampling; take the last sample once the counters are still (at most SETTLE seconds:
        `settled` says whether they were); remove the counters. The baseline is taken the same way
        (at most settle_start seconds): counts are exact when traffic starts after the monitor and
        ends before it stops; otherwise the packets in flight at either end may be off."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        try:
            self.settled, now = self._still(settle)
            self._record(now)
        finally:
            remove(self.ends)

    def _still(self, limit: float) -> tuple[bool, tuple[dict, dict]]:
        """Read the counters until two reads 0.2 s apart are equal (nothing sent, nothing in flight),
        at most LIMIT seconds; (whether they were, the last read)."""
        end = time.monotonic() + limit
        prev, now = None, self._read()
        while now != prev and time.monotonic() < end:
            time.sleep(0.2)
            prev, now = now, self._read()
        return now == prev, now

    def _read(self) -> tuple:
        rx = {ns: read(ns) for ns in self.namespaces}   # every ingress counter,
        tx = {ns: read(ns) for ns in self.namespaces}   # then every egress counter,
        rx2 = {ns: read(ns) for ns in self.namespaces}  # then every ingress counter again
        try:
            states = linkdown.link_states(self._devs)
            nr = {ns: linkdown.no_route(ns) for ns in self.namespaces}
        except OSError as e:
            raise RuntimeError(f"cannot read link states: {e}") from None
        return rx, tx, rx2, states, nr

    def sample(self) -> None:
        self._record(self._read())

    def _record(self, counters: tuple) -> None:
        rx, tx, rx2, down, nr = counters
        t = round(time.monotonic() - self.t0, 3)
        self.samples.append(t)
        self.down.append(down)
        self.no_route.append(nr)
        for d in self.dirs:
            sent = tx[d.src.netns].get(_chain(d.src.device, "egress"), 0)
            recv = rx[d.dst.netns].get(_chain(d.dst.device, "ingress"), 0)
            recv2 = rx2[d.dst.netns].get(_chain(d.dst.device, "ingress"), 0)
            if d.base is None:
                d.base = (sent, recv, recv2)
            d.raw.append((t, sent - d.base[0], recv - d.base[1], recv2 - d.base[2]))

    def report(self) -> dict:
        """{interval_s, started_at (wall clock, s), settled, links: [{link, sent, received, lost,
        intervals: [{t, sent, received, lost}]}], events: [{link, t, lost}]}: t in seconds after
        started_at, at the end of the interval (the first sample is the baseline)."""
        links, events = [], []
        dropped = self._down_drops()
        for d in self.dirs:
            upper, low = [], None
            for _t, s, r, _r2 in reversed(d.raw):   # the smallest sent - received of this sample and every later
                low = s - r if low is None else min(low, s - r)
                upper.append(low)
            upper.reverse()
            cum, high = [], 0
            for k, (_t, s, _r, r2) in enumerate(d.raw):   # at most that, at least what is proven lost so far
                high = max(high, s - r2)
                cum.append(max(0, min(high, upper[k])))
            rows = []
            for k in range(1, len(d.raw)):
                t, s, r, _r2 = d.raw[k]
                rows.append({"t": t, "sent": s - d.raw[k - 1][1], "received": r - d.raw[k - 1][2],
                             "lost": max(0, cum[k] - cum[k - 1]) + dropped.get((d.name, k), 0)})
                if self._is_down(d, k):
                    rows[-1]["down"] = True
            lost = sum(x["lost"] for x in rows)
            links.append({"link": d.name, "sent": d.raw[-1][1] if d.raw else 0,
                          "received": d.raw[-1][2] if d.raw else 0, "lost": lost, "intervals": rows})
            events += [{"link": d.name, "t": x["t"], "lost": x["lost"], **({"down": True} if x.get("down") else {})}
                       for x in rows if x["lost"] > 0]
        return {"interval_s": self.interval, "started_at": round(self.t0_wall, 3), "settled": self.settled,
                "settled_start": self.settled_start, "links": links,
                "events": sorted(events, key=lambda e: e["t"]), **({"error": self.error} if self.error else {})}


    def _is_down(self, d: Direction, k: int) -> bool:
        """Whether an end of D's link was down at sample k - 1 or k, or went down (its carrier-down
        count changed: also a down shorter than a tick) between samples k - 2 and k."""
        if not 0 < k < len(self.down):
            return False
        for e in ((d.src.netns, d.src.device), (d.dst.netns, d.dst.device)):
            if self.down[k - 1].get(e, (False, 0))[0] or self.down[k].get(e, (False, 0))[0]:
                return True
            if self.down[k].get(e, (False, 0))[1] != self.down[max(0, k - 2)].get(e, (False, 0))[1]:
                return True
        return False

    def _down_drops(self) -> dict[tuple[str, int], int]:
        """(direction, sample) -> packets its source node dropped for want of a route in the interval
        before that sample, while the link was down (each node's drops to one direction)."""
        out = {}
        for k in range(1, len(self.samples)):
            claimed = set()
            for d in sorted(self.dirs, key=lambda x: x.name):
                ns = d.src.netns
                if ns not in claimed and self._is_down(d, k):
                    claimed.add(ns)
                    out[(d.name, k)] = max(0, self.no_route[k].get(ns, 0) - self.no_route[k - 1].get(ns, 0))
        return out


def live_loss(st: dict, links: list) -> dict[str, dict]:
    """Per link direction, packets sent, received and lost since the deploy-time counters (LIVE_TABLE)
    were installed on LINKS ([node:if, node:if] pairs, from srv6.json): "A -> B" -> {sent, received,
    lost}. Read as the monitor does (ingress, egress, ingress again), so a packet on its way is never
    counted lost: lost is what is proven lost (traffic sent between the reads can only lower it)."""
    want = {tuple(x) for x in links}
    pairs = [p for p in ends_of(st) if (p[0].key, p[1].key) in want]
    namespaces = sorted({e.netns for p in pairs for e in p})
    rx = {ns: read(ns, LIVE_TABLE) for ns in namespaces}
    tx = {ns: read(ns, LIVE_TABLE) for ns in namespaces}
    rx2 = {ns: read(ns, LIVE_TABLE) for ns in namespaces}
    out = {}
    for a, b in pairs:
        for src, dst in ((a, b), (b, a)):
            sent = tx[src.netns].get(_chain(src.device, "egress"), 0)
            recv = rx[dst.netns].get(_chain(dst.device, "ingress"), 0)
            recv2 = rx2[dst.netns].get(_chain(dst.device, "ingress"), 0)
            out[f"{src.key} -> {dst.key}"] = {"sent": sent, "received": recv, "lost": max(0, sent - recv2)}
    return out


def sid_counters(st: dict, routers: dict) -> dict[str, int]:
    """Packets each SID has processed so far (seg6local's `count`): ROUTER.SID label -> packets,
    read from every srv6-router of a running lab (ROUTERS: srv6.json's routers)."""
    out = {}
    for name, r in routers.items():
        netns = st["nodes"].get(name, {}).get("netns")
        res = hostcmd.run(["ip", "-s", "-j", "-6", "route", "show"], netns=netns) if netns else None
        if res is None or not res.ok:
            continue
        by_addr = {v["sid"]: (name if sname == "end" else f"{name}.{sname}") for sname, v in r["sids"].items()}
        for route in json.loads(res.stdout or "[]"):
            label = by_addr.get(route.get("dst", ""))
            if label and route.get("encap") == "seg6local":
                out[label] = int((route.get("stats64") or {}).get("packets", 0))
    return out

