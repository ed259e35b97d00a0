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
that are (re)started for the run. testpmd has no software rate limiter: without `rate:` senders
send as fast as they can, and what does not fit the ring is counted as tx_dropped (back-pressure at
the sender), not as loss on the path.

`rate: 20k` (packets per second; 20000, 100k, 1.5M) paces the sender instead: the step drives it
in ticks, each `start tx_first N` + `stop` (N bursts of `burst` packets back to back, the same
mechanism as `bursts:`), with N chosen so that the bursts sent keep up with rate x elapsed time.
testpmd's own start costs ~20-30 ms here (it flushes the rx queues, 2 x 10 ms), so a tick is that
long and the traffic is smooth at the tick scale, bursty inside a tick (a `--no-flush-rx` in the
sender's `args:` shortens the ticks). Results: `rate_pps` (requested), `offered_pps` (packets the
sender actually put on the path per second), `rate_reached` (offered within 10 % of rate) and
`pace_tick_ms`. A rate the pacer cannot keep up with (the sender falls behind the schedule: on this
2-CPU VM above roughly 0.3-1 Mpps, depending on path and load) is not faked: the step says so in
its summary, `rate_reached` is false and `paced` false, and the measurement is sent flat out
(line rate, as without `rate:`). Paced senders send txonly packets (mode flowgen is refused).
"""
from __future__ import annotations

import math
import re
import statistics
import time

from ...deploy import hostcmd
from ...scenario import steps as S
from .testpmd import MODES, RATES, STOPPED, Testpmd, parse_forward_stats, parse_rates

NODE = {"type": "string"}
_PPS = re.compile(r"^\s*(?=[0-9.]*[1-9])([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*(?:pps)?\s*$")
MAX_PPS = 10 ** 9
RATE = {"type": ["string", "number"], "exclusiveMinimum": 0, "maximum": MAX_PPS,
        "pattern": _PPS.pattern,
        "description": "send rate in packets per second, e.g. 20000, 100k, 1M, 1.5Mpps"}
#: offered within this fraction of the requested rate counts as reached
REACHED = 0.9


def pps(value) -> int:
    """'100k', '1M', '1.5Mpps', 20000 -> packets per second (ValueError otherwise)."""
    if isinstance(value, bool):
        raise ValueError("expected a packet rate such as 100k")
    if isinstance(value, (int, float)):
        r = float(value)
    else:
        m = _PPS.match(str(value))
        if not m:
            raise ValueError(f"'{value}' is not a packet rate; write e.g. 20000, 100k, 1M (packets per second)")
        r = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if not 1 <= r <= MAX_PPS:   # also nan
        raise ValueError(f"'{value}' is out of range (1 to {MAX_PPS:.0e} packets per second)")
    return int(round(r))


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
    node_fields = ("sender", "receiver", "via")
    summary = ("testpmd txonly/flowgen sender -> rxonly receiver between dpdk-app nodes: Mpps and Gbit/s "
               "per second and mean, sent, received, dropped")
    metrics = ("sent", "received", "dropped", "loss_pct", "tx_dropped", "offered", "mpps", "gbps",
               "mpps_trimmed", "tx_mpps", "duration_s", "offered_pps", "rate_pps", "rate_reached",
               "pace_tick_ms")
    schema = {"type": "object", "additionalProperties": False, "required": ["sender", "receiver"],
              "properties": {
                  "sender": NODE, "receiver": NODE,
                  "duration": S.DURATION,
                  "size": {"type": "integer", "minimum": 60, "maximum": 9000,
                           "description": "packet size in bytes (testpmd txpkts)"},
                  "burst": {"type": "integer", "minimum": 1, "maximum": 512},
                  "mode": {"enum": ["txonly", "flowgen"], "description": "sender mode (default txonly)"},
                  "rate": RATE,
                  "bursts": {"type": "integer", "minimum": 1, "maximum": 10000,
                             "description": "send exactly this many bursts (start tx_first N) instead of "
                                            "sending for the duration"},
                  "via": {"type": "array", "items": NODE,
                          "description": "dpdk-app forwarders on the path, started for the run"},
                  "drain": S.DURATION,
              }}

    def default_name(self, a):
        return f"dpdk {a['sender']} -> {a['receiver']}"

    def check(self, a):
        out = super().check(a)
        if a.get("rate") is not None:
            try:
                pps(a["rate"])
            except ValueError as e:
                out.append((("rate",), str(e)))
        return out

    def default_expect(self, a):
        return {"received": "> 0"}

    def run(self, ctx, a):
        if hostcmd.dry_run:
            return S.StepResult({}, summary="dry run")
        rate = None
        if a.get("rate") is not None:
            try:
                rate = pps(a["rate"])
            except ValueError as e:
                raise S.StepError(f"rate: {e}") from None
            if a.get("bursts"):
                raise S.StepError("rate: and bursts: exclude each other (bursts: sends a fixed count at once)")
            if a.get("mode", "txonly") != "txonly":
                raise S.StepError("rate: paces txonly bursts (start tx_first); mode flowgen cannot be paced")
        tx, rx = _ctl(ctx, a["sender"]), _ctl(ctx, a["receiver"])
        vias = [_ctl(ctx, v) for v in a.get("via", [])]
        size = int(a.get("size", tx.spec.get("size", 64)))
        burst = int(a.get("burst", tx.spec.get("burst", 32)))
        duration = S.seconds(a.get("duration"), 5.0)
        drain = S.seconds(a.get("drain"), 0.3)
        pace = None
        try:
            for v in vias:
                v.run(["stop", f"set fwd {v.spec['mode'] if v.spec['mode'] in MODES else 'io'}", "start"])
            _prime(tx, rx)
            rx.run(["stop", "set fwd rxonly", "start"])
            for v in vias:
                v.run(["stop", f"set fwd {v.spec['mode'] if v.spec['mode'] in MODES else 'io'}", "start"])
            tx.run(["stop", f"set txpkts {size}", f"set burst {burst}", "set fwd rxonly"])
            ts, rx_pps, rx_bps, tx_pps = [], [], [], []
            t0 = time.monotonic()
            if a.get("bursts"):
                tx.run([f"start tx_first {a['bursts']}"])
                time.sleep(min(duration, 1.0) if "duration" in a else 0.5)
            else:
                if rate is not None:
                    pace = _paced(tx, rx, rate, burst, duration, (ts, rx_pps, rx_bps, tx_pps))
                    if not pace["paced"]:
                        # the pacer fell behind: measure flat out instead (the paced start's packets
                        # drain and the receiver starts counting afresh)
                        time.sleep(drain)
                        rx.run(["stop"], until=STOPPED)
                        rx.run(["start"])
                        ts, rx_pps, rx_bps, tx_pps = [], [], [], []
                if pace is None or not pace["paced"]:
                    t0 = time.monotonic()
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
        rs = parse_forward_stats(rx_out)
        if pace is not None and pace["paced"]:
            ts_, elapsed = pace, pace["elapsed"]
        else:
            ts_ = parse_forward_stats(tx_out)
        if not ts_ or not rs:
            raise S.StepError(f"no forward statistics from testpmd (sender: {tx_out[-300:]!r}; "
                              f"receiver: {rx_out[-300:]!r})")
        sent, received = ts_["tx_packets"], rs["rx_packets"]
        dur = elapsed if not a.get("bursts") else duration if "duration" in a else elapsed
        m = {"sent": sent, "received": received, "dropped": max(0, sent - received),
             "loss_pct": round(100.0 * (sent - received) / sent, 4) if sent else 100.0,
             "tx_dropped": ts_["tx_dropped"], "offered": ts_["tx_total"],
             "mpps": received / dur / 1e6, "gbps": received * size * 8 / dur / 1e9,
             "tx_mpps": sent / dur / 1e6, "duration_s": round(dur, 3), "size": size, "burst": burst,
             "offered_pps": round(sent / dur, 1)}
        note = ""
        if rate is not None:
            m["rate_pps"] = rate
            m["paced"] = bool(pace["paced"])
            m["rate_reached"] = m["paced"] and m["offered_pps"] >= REACHED * rate
            if pace["paced"]:
                m["pace_ticks"] = pace["ticks"]
                m["pace_tick_ms"] = round(1000.0 * pace["elapsed"] / max(1, pace["ticks"]), 2)
            if not m["rate_reached"]:
                m["rate_note"] = note = (
                    f"requested {rate} pps could not be reached: "
                    + (f"the pacer fell behind at {pace['behind_at_pps']:.0f} pps, so this was sent flat out "
                       f"(line rate, as without rate:)" if not pace["paced"] else
                       f"offered {m['offered_pps']:.0f} pps ({m['tx_dropped']} not accepted by the sender's ring)"))
        mpps_series = [p / 1e6 for p in rx_pps]
        trimmed = mpps_series[1:-1] if len(mpps_series) >= 3 else mpps_series
        m["mpps_trimmed"] = statistics.fmean(trimmed) if trimmed else m["mpps"]
        if len(trimmed) > 1:
            m["mpps_stdev"] = statistics.stdev(trimmed)
        series = {"t_s": ts, "rx_mpps": mpps_series, "rx_gbps": [b / 1e9 for b in rx_bps],
                  "tx_mpps": [p / 1e6 for p in tx_pps]} if ts else {}
        summary = (f"{m['mpps']:.3f} Mpps, {m['gbps']:.3f} Gbit/s at {size} B; {received}/{sent} received"
                   + (f"; offered {m['offered_pps']:.0f} of {rate} pps requested" if rate and not note else "")
                   + (f", {m['tx_dropped']} not accepted by the sender's ring" if m["tx_dropped"] else "")
                   + (f"; {note}" if note else ""))
        return S.StepResult(m, series, summary=summary)


def _paced(tx: Testpmd, rx: Testpmd, rate: int, burst: int, duration: float, series) -> dict:
    """Send `rate` packets per second for `duration` as ticks of `start tx_first N` + `stop`.

    N bursts cover what the schedule (rate x elapsed, the first burst at 0) is owed beyond the
    packets the sender's ring accepted so far, at most 250 ms worth (catching up after a stall) and
    4096 bursts. Returns the summed forward statistics of the ticks, elapsed seconds and tick
    count; `paced` is false when, half a second or more in, the sender is behind the schedule by
    more than 25 % and two full ticks' worth of packets and the backlog grew over the last 4 full ticks (it
    cannot keep up: the caller then sends flat out)."""
    ts, rx_pps, rx_bps, tx_pps = series
    cap = max(1, min(int(rate * 0.25 / burst), 4096))   # a tick stays short (bursts cost a few us each)
    tot = {"tx_packets": 0, "tx_dropped": 0, "tx_total": 0}
    ticks, last_sent, next_sample, full = 0, 0, 1.0, []
    rx.run(["show port stats all"], poll=0.001)   # zero the receiver's 'since last show' rates
    t0 = time.monotonic()
    while True:
        now = time.monotonic() - t0
        if now >= duration:
            # a last tick settles the schedule up to now, which is then the sending time: the
            # packets of a tick are owed at its start (they leave within the tick)
            n = min(cap, int((rate * now - tot["tx_packets"]) / burst + 0.5))
            if n > 0:
                _tick(tx, n, tot)
                ticks += 1
            return {"paced": True, **tot, "elapsed": now, "ticks": ticks}
        if now >= next_sample:
            r = parse_rates(rx.run(["show port stats all"], until=RATES, poll=0.001)).get(0, {})
            ts.append(round(now, 3))
            rx_pps.append(r.get("rx_pps", 0))
            rx_bps.append(r.get("rx_bps", 0))
            tx_pps.append((tot["tx_packets"] - last_sent) / (now - (next_sample - 1.0)))
            last_sent, next_sample = tot["tx_packets"], next_sample + 1.0
        # packets owed: the schedule (first burst at 0) minus what the sender's ring accepted, so
        # packets a full ring refused are sent again in the next tick
        owed = rate * now + burst - tot["tx_packets"]
        if owed < 1:
            wake = min((tot["tx_packets"] - burst + 1) / rate, next_sample, duration)
            time.sleep(max(0.0005, wake - now))
            continue
        n = min(cap, math.ceil(owed / burst))
        # behind while sending full ticks: a stall (the CPU taken away for a while) is caught up by
        # full ticks that shrink the backlog; a rate beyond the pacer makes it grow tick after tick
        full = full + [owed] if n == cap else []
        if now >= 0.5 and len(full) >= 4 and full[-1] > full[-4] and \
                owed > max(2 * cap * burst, 0.25 * rate * now):
            return {"paced": False, "behind_at_pps": tot["tx_packets"] / now, **tot, "elapsed": now,
                    "ticks": ticks}
        _tick(tx, n, tot)
        ticks += 1


def _tick(tx: Testpmd, n: int, tot: dict) -> None:
    s = parse_forward_stats(tx.run([f"start tx_first {n}", "stop"], until=STOPPED, poll=0.001))
    if not s:
        raise S.StepError(f"no forward statistics from {tx.node}'s paced burst")
    for k in tot:
        tot[k] += s[k]


_RTT = re.compile(r"icmp_seq=(\d+) .*?time=([\d.]+) ms")


def percentile(vals: list[float], p: float) -> float:
    s = sorted(vals)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


class DpdkLatency(S.Step):
    type = "dpdk_latency"
    node_fields, target_fields = ("from",), ("to",)
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


STEPS = (DpdkTraffic, DpdkLatency)   # registered by the dpdk backend
