"""The `nsm_chain` scenario step: prove that traffic crossed every endpoint of a chain, in order.

    - nsm_chain: {client: client}                    # its only request; or service: NAME
      expect: {in_order: true}                       # the default, with loss_pct == 0

It reads the chain the client got (the lab's state keeps every chain), reads the packet counters
of every cross-connect interface, pings from the client to the chain's last endpoint, and reads
the counters again. For each hop it reports the packets that went forward (received by the
endpoint's side) and back (sent by it). The chain was crossed in order when every hop carried at
least the pings sent forward and the replies back, and every endpoint in between passed on what
it received (its outgoing interface sent at least what its incoming one received of the pings).
For payload IP, the replies' TTL also tells how many endpoints routed them (64 minus the TTL).
A hop through a VPP forwarder (`via`) was crossed only when the forwarder's two ports carried the
pings and the replies too (per hop: `forwarder: {node, forward_packets, return_packets}`).
"""
from __future__ import annotations

import re
import time

from ...deploy import hostcmd
from ... import lab as api
from ...scenario.steps import DURATION, Step, StepError, StepResult, seconds

_TTL = re.compile(r"ttl=(\d+)")
_SUM = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def find_chain(state: dict, client: str, service: str | None = None, request: int | None = None) -> dict:
    chains = [c for c in state.get("services", []) if c["client"] == client
              and (service is None or c["service"] == service)]
    if not chains:
        have = sorted({f"{c['client']} ({c['service']})" for c in state.get("services", [])})
        raise StepError(f"lab '{state.get('name')}' has no network service chain of client '{client}'"
                        + (f" for service '{service}'" if service else "")
                        + (f"; chains: {', '.join(have)}" if have else "; it has no network services"))
    if request is not None:
        if request >= len(chains):
            raise StepError(f"client '{client}' has {len(chains)} chain(s); request {request} does not exist")
        return chains[request]
    if len(chains) > 1:
        raise StepError(f"client '{client}' has {len(chains)} chains: name the service (service:) or request:")
    return chains[0]


def _counters(state: dict) -> dict:
    live = api.live_interfaces(state)
    return {k: dict(v.get("stats") or {}) for k, v in live.items()}


def _delta(before: dict, after: dict, key: str, what: str) -> int:
    return int(after.get(key, {}).get(what, 0)) - int(before.get(key, {}).get(what, 0))


class NsmChain(Step):
    type = "nsm_chain"
    node_fields = ("client",)
    summary = ("ping along a client's network service chain; per-hop packet counters prove every endpoint "
               "was crossed in order")
    metrics = ("hops", "crossed", "in_order", "sent", "received", "loss_pct", "ttl", "routed_hops",
               "expected_routed_hops", "min_forward_packets", "path", "per_hop")
    schema = {"type": "object", "additionalProperties": False, "required": ["client"],
              "properties": {"client": {"type": "string"}, "service": {"type": "string"},
                             "request": {"type": "integer", "minimum": 0},
                             "count": {"type": "integer", "minimum": 1, "maximum": 100000},
                             "interval": DURATION, "size": {"type": "integer", "minimum": 0, "maximum": 65507},
                             "timeout": DURATION}}

    def default_name(self, a):
        return f"chain of {a['client']}" + (f" ({a['service']})" if a.get("service") else "")

    def default_expect(self, a):
        return {"in_order": True, "loss_pct": "== 0"}

    def run(self, ctx, a):
        ch = find_chain(ctx.state, a["client"], a.get("service"), a.get("request"))
        hops = ch["hops"]
        if (ctx.state.get("nodes", {}).get(ch["client"]) or {}).get("kind") == "dpdk-app":
            middle = [h["endpoint"].split(":")[0] for h in hops[:-1]]
            raise StepError(f"client '{ch['client']}' is a DPDK app and cannot ping: drive its chain with "
                            f"dpdk_traffic: {{sender: {ch['client']}, receiver: {hops[-1]['endpoint'].split(':')[0]}"
                            + (f", via: [{', '.join(middle)}]" if middle else "") + "}")
        if (ctx.state.get("nodes", {}).get(ch["client"]) or {}).get("kind") == "vpp":
            raise StepError(f"client '{ch['client']}' is a VPP: its addresses are VPP's, not its namespace's; "
                            f"drive its chain with vcl_iperf3 (host_stack: true on both ends) or "
                            f"exec: vppctl ping")
        dst = hops[-1]["endpoint_ip"]
        if not dst:
            raise StepError(f"the last endpoint of {ch['client']}'s chain has no address")
        dst = dst.split("/")[0]
        count = a.get("count", 20)
        interval = seconds(a.get("interval"), 0.02)
        wait = seconds(a.get("timeout"), 2.0)
        argv = ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", str(max(1, int(round(wait))))]
        if a.get("size") is not None:
            argv += ["-s", str(a["size"])]
        before = _counters(ctx.state)
        r = hostcmd.run(argv + [dst], netns=ctx.netns(ch["client"]), timeout=count * interval + wait + 10)
        time.sleep(0.05)
        after = _counters(ctx.state)
        s = _SUM.search(r.stdout)
        if not s:
            raise StepError(f"ping failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-300:]}")
        sent, received = int(s.group(1)), int(s.group(2))
        ttls = [int(t) for t in _TTL.findall(r.stdout)]
        per_hop, crossed = [], 0
        for i, h in enumerate(hops):
            fwd = _delta(before, after, h["endpoint"], "rx_packets")
            back = _delta(before, after, h["endpoint"], "tx_packets")
            ok = fwd >= sent and back >= received
            entry = {"hop": i + 1, "link": f"{h['client']} -> {h['endpoint']}", "forward_packets": fwd,
                     "return_packets": back, "crossed": ok}
            via = h.get("via")
            if via:   # a VPP forwarder between the ends: its two ports carried the hop both ways
                f_in = _delta(before, after, via["client_port"], "rx_packets")
                f_out = _delta(before, after, via["endpoint_port"], "tx_packets")
                f_back = min(_delta(before, after, via["endpoint_port"], "rx_packets"),
                             _delta(before, after, via["client_port"], "tx_packets"))
                entry["forwarder"] = {"node": via["forwarder"], "forward_packets": min(f_in, f_out),
                                      "return_packets": f_back}
                entry["crossed"] = ok = ok and min(f_in, f_out) >= sent and f_back >= received
            crossed += ok
            if i + 1 < len(hops):  # an endpoint in between: what came in on this hop left on the next one
                out_tx = _delta(before, after, hops[i + 1]["client"], "tx_packets")
                entry["passed_on"] = out_tx >= sent
            per_hop.append(entry)
        in_order = crossed == len(hops) and all(e.get("passed_on", True) for e in per_hop)
        expected_routed = len(hops) - 1 if ch["payload"] == "IP" else 0
        ttl = min(ttls) if ttls else None
        m = {"hops": len(hops), "crossed": crossed, "in_order": in_order, "sent": sent, "received": received,
             "loss_pct": round(100.0 * (sent - received) / sent, 3) if sent else 100.0,
             "ttl": ttl, "routed_hops": (64 - ttl) if ttl is not None else None,
             "expected_routed_hops": expected_routed,
             "min_forward_packets": min((e["forward_packets"] for e in per_hop), default=0),
             "path": " -> ".join(ch["nodes"]), "per_hop": per_hop}
        if ttl is not None and ch["payload"] == "IP" and 64 - ttl != expected_routed:
            m["in_order"] = False
        marks = " ".join(f"{e['link'].split(' -> ')[1]}:{e['forward_packets']}/{e['return_packets']}"
                         + (f" via {e['forwarder']['node']}:{e['forwarder']['forward_packets']}/"
                            f"{e['forwarder']['return_packets']}" if "forwarder" in e else "") for e in per_hop)
        return StepResult(m, summary=f"{m['path']}: {crossed}/{len(hops)} hops crossed ({marks})"
                                     + (f", ttl {ttl}" if ttl is not None else ""))

