"""Scenario steps for DPDK paths: `dpdk_traffic` (testpmd sender -> receiver) and `dpdk_latency`.

    - dpdk_traffic: {sender: tx, receiver: rx, duration: 5s, size: 64, burst: 32}
      expect: {received: "> 0", loss_pct: "< 5"}
    - dpdk_traffic: {sender: tx, receiver: rx, bursts: 4}     # exactly 4 bursts: received == sent
    - dpdk_latency: {from: client, to: echo, count: 200, interval: 10ms, size: 56, burst: 4}

dpdk_traffic drives the testpmd processes the dpdk-app nodes already run (through their FIFOs):
the receiver goes to rxonly, the sender to txonly (or flowgen), both start, the rates of both are
read once a second ("show port stats all"), then the sender stops, in-flight packets drain and the
receiver stops; the accumulated counters of the two give sent, received and dropped. Both nodes go
back to their own mode afterwards. `via:` names dpdk-app forwarders (e.g. the basicfwd io node)
that are (re)started for the run. testpmd has no software rate limiter: senders send as fast as
they can, and what does not fit the ring is counted as tx_dropped (back-pressure at the sender),
not as loss on the path.
"""
from __future__ import annotations

import math
import re
import statistics
import time

from .. import hostcmd
from ..scenario import steps as S
from . import MODES, RATES, STOPPED, Testpmd, parse_forward_stats, parse_rates

NODE = {"type": "string"}


def _ctl(ctx, node: str) -> Testpmd:
    ctx.netns(node)   # an unknown node is a StepError naming the lab's nodes
    try:
        return Testpmd.of(ctx.lab, node)
    except Exception as e:
        raise S.StepError(str(e)) from None


def _restore(t: Testpmd) -> None:
    sp = t.spec
    cmds = ["stop", f"set fwd {sp['mode']}", f"set txpkts {sp['size']}", f"set burst {sp['burst']}"]
    if sp.get("autostart"):
        cmds.append("start")
    t.run(cmds)


def _prime(tx: Testpmd, rx: Testpmd, attempts: int = 20) -> int:
    """Send single bursts until one arrives: the path is live and nothing is left in flight.

    A freshly connected virtio_user port may hold the first packets in its ring until the next
    forwarding start; the measurement must not count them (nor miss them)."""
    for i in range(attempts):
        rx.run(["stop", "set fwd rxonly", "start"])
        tx.run(["stop", "set fwd rxonly", "start tx_first 1"])
        time.sleep(0.05)
        tx.run(["stop"], until=STOPPED)
        time.sleep(0.05)
        if parse_forward_stats(rx.run(["stop"], until=STOPPED)).get("rx_packets", 0) > 0:
            return i + 1
    raise S.StepError(f"nothing sent by {tx.node} reached {rx.node} in {attempts} tries: is the path "
                      f"connected (flows, links)?")


class DpdkTraffic(S.Step):
    type = "dpdk_traffic"
    summary = ("testpmd txonly/flowgen sender -> rxonly receiver between dpdk-app nodes: Mpps and Gbit/s "
               "per second and mean, sent, received, dropped")
    metrics = ("sent", "received", "dropped", "loss_pct", "tx_dropped", "offered", "mpps", "gbps",
               "mpps_trimmed", "tx_mpps", "duration_s")
    schema = {"type": "object", "additionalProperties": False, "required": ["sender", "receiver"],
              "properties": {
                  "sender": NODE, "receiver": NODE,
                  "duration": S.DURATION,
                  "size": {"type": "integer", "minimum": 60, "maximum": 9000,
                           "description": "packet size in bytes (testpmd txpkts)"},
                  "burst": {"type": "integer", "minimum": 1, "maximum": 512},
                  "mode": {"enum": ["txonly", "flowgen"], "description": "sender mode (default txonly)"},
                  "bursts": {"type": "integer", "minimum": 1, "maximum": 10000,
                             "description": "send exactly this many bursts (start tx_first N) instead of "
                                            "sending for the duration"},
                  "via": {"type": "array", "items": NODE,
                          "description": "dpdk-app forwarders on the path, started for the run"},
                  "drain": S.DURATION,
              }}

    def default_name(self, a):
        return f"dpdk {a['sender']} -> {a['receiver']}"

    def default_expect(self, a):
        return {"received": "> 0"}

    def run(self, ctx, a):
        if hostcmd.dry_run:
            return S.StepResult({}, summary="dry run")
        tx, rx = _ctl(ctx, a["sender"]), _ctl(ctx, a["receiver"])
        vias = [_ctl(ctx, v) for v in a.get("via", [])]
        size = int(a.get("size", tx.spec.get("size", 64)))
        burst = int(a.get("burst", tx.spec.get("burst", 32)))
        duration = S.seconds(a.get("duration"), 5.0)
        drain = S.seconds(a.get("drain"), 0.3)
        try:
            for v in vias:
                v.run(["stop", f"set fwd {v.spec['mode'] if v.spec['mode'] in MODES else 'io'}", "start"])
            _prime(tx, rx)
            rx.run(["stop", "set fwd rxonly", "start"])
            for v in vias:
                v.run(["stop", f"set fwd {v.spec['mode'] if v.spec['mode'] in MODES else 'io'}", "start"])
            tx.run(["stop", f"set txpkts {size}", f"set burst {burst}"])
            ts, rx_pps, rx_bps, tx_pps = [], [], [], []
            t0 = time.monotonic()
            if a.get("bursts"):
                tx.run(["set fwd rxonly", f"start tx_first {a['bursts']}"])
                time.sleep(min(duration, 1.0) if "duration" in a else 0.5)
            else:
                tx.run([f"set fwd {a.get('mode', 'txonly')}", "start"])
                rx.run(["show port stats all"])   # zero the 'since last show' rates
                tx.run(["show port stats all"])
                n = max(1, int(round(duration)))
                for i in range(n):
                    time.sleep(max(0.0, t0 + (i + 1) * duration / n - time.monotonic()))
                    r = parse_rates(rx.run(["show port stats all"], until=RATES)).get(0, {})
                    t = parse_rates(tx.run(["show port stats all"], until=RATES)).get(0, {})
                    ts.append(round(time.monotonic() - t0, 3))
                    rx_pps.append(r.get("rx_pps", 0))
                    rx_bps.append(r.get("rx_bps", 0))
                    tx_pps.append(t.get("tx_pps", 0))
            tx_out = tx.run(["stop"], until=STOPPED)
            elapsed = time.monotonic() - t0
            time.sleep(drain)
            rx_out = rx.run(["stop"], until=STOPPED)
        finally:
            for t in (tx, rx, *vias):
                try:
                    _restore(t)
                except Exception:
                    pass
        ts_ = parse_forward_stats(tx_out)
        rs = parse_forward_stats(rx_out)
        if not ts_ or not rs:
            raise S.StepError(f"no forward statistics from testpmd (sender: {tx_out[-300:]!r}; "
                              f"receiver: {rx_out[-300:]!r})")
        sent, received = ts_["tx_packets"], rs["rx_packets"]
        dur = elapsed if not a.get("bursts") else duration if "duration" in a else elapsed
        m = {"sent": sent, "received": received, "dropped": max(0, sent - received),
             "loss_pct": round(100.0 * (sent - received) / sent, 4) if sent else 100.0,
             "tx_dropped": ts_["tx_dropped"], "offered": ts_["tx_total"],
             "mpps": received / dur / 1e6, "gbps": received * size * 8 / dur / 1e9,
             "tx_mpps": sent / dur / 1e6, "duration_s": round(dur, 3), "size": size, "burst": burst}
        mpps_series = [p / 1e6 for p in rx_pps]
        trimmed = mpps_series[1:-1] if len(mpps_series) >= 3 else mpps_series
        m["mpps_trimmed"] = statistics.fmean(trimmed) if trimmed else m["mpps"]
        if len(trimmed) > 1:
            m["mpps_stdev"] = statistics.stdev(trimmed)
        series = {"t_s": ts, "rx_mpps": mpps_series, "rx_gbps": [b / 1e9 for b in rx_bps],
                  "tx_mpps": [p / 1e6 for p in tx_pps]} if ts else {}
        summary = (f"{m['mpps']:.3f} Mpps, {m['gbps']:.3f} Gbit/s at {size} B; {received}/{sent} received"
                   + (f", {m['tx_dropped']} not accepted by the sender's ring" if m["tx_dropped"] else ""))
        return S.StepResult(m, series, summary=summary)


_RTT = re.compile(r"icmp_seq=(\d+) .*?time=([\d.]+) ms")


def percentile(vals: list[float], p: float) -> float:
    s = sorted(vals)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


class DpdkLatency(S.Step):
    type = "dpdk_latency"
    summary = ("round-trip latency from a kernel node to an address behind a DPDK path (e.g. a testpmd "
               "icmpecho node behind OVS-DPDK): per-packet RTTs, min/mean/percentiles")
    metrics = ("sent", "received", "loss_pct", "rtt_min_us", "rtt_avg_us", "rtt_p50_us", "rtt_p99_us",
               "rtt_max_us", "rtt_stdev_us")
    schema = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
              "properties": {"from": NODE, "to": NODE,
                             "count": {"type": "integer", "minimum": 1, "maximum": 100000},
                             "interval": S.DURATION,
                             "size": {"type": "integer", "minimum": 16, "maximum": 65507},
                             "burst": {"type": "integer", "minimum": 1, "maximum": 64,
                                       "description": "packets sent back to back each interval (ping -l)"},
                             "timeout": S.DURATION}}

    def default_name(self, a):
        return f"latency {a['from']} -> {a['to']}"

    def default_expect(self, a):
        return {"received": "> 0"}

    def run(self, ctx, a):
        dst = ctx.address(a["to"])
        count = a.get("count", 100)
        interval = S.seconds(a.get("interval"), 0.01)
        wait = S.seconds(a.get("timeout"), 1.0)
        argv = ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", str(max(1, int(round(wait)))),
                "-s", str(a.get("size", 56))]
        if a.get("burst", 1) > 1:
            argv += ["-l", str(a["burst"])]
        argv.append(dst)
        r = hostcmd.run(argv, netns=ctx.netns(a["from"]), timeout=count * interval + wait + 20)
        rtts = [float(m.group(2)) * 1000 for m in _RTT.finditer(r.stdout)]
        base = S.parse_ping(r.stdout)
        if "packets transmitted" not in r.stdout:
            raise S.StepError(f"ping failed: {(r.stderr or r.stdout).strip()[:300]}")
        m = {"sent": base["sent"], "received": base["received"], "loss_pct": base["loss_pct"]}
        if rtts:
            m.update(rtt_min_us=min(rtts), rtt_avg_us=statistics.fmean(rtts), rtt_p50_us=percentile(rtts, 50),
                     rtt_p99_us=percentile(rtts, 99), rtt_max_us=max(rtts),
                     rtt_stdev_us=statistics.stdev(rtts) if len(rtts) > 1 else 0.0)
        summary = f"{m['received']}/{m['sent']} replies" + (
            f", rtt avg {m['rtt_avg_us']:.1f} us, p99 {m['rtt_p99_us']:.1f} us" if rtts else "")
        return S.StepResult(m, {"seq": list(range(len(rtts))), "rtt_us": rtts}, summary=summary)


for _s in (DpdkTraffic(), DpdkLatency()):
    if _s.type not in S.REGISTRY:
        S.register(_s)
