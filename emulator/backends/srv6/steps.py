"""SRv6 scenario steps: `srv6_policy` (a policy's new segment list while traffic runs),
`link_fault` (loss on one end of a link for a while) and `link_monitor` (per-link loss, sampled)."""
from __future__ import annotations

import json
import os
import time

from ...deploy import state as labstate
from ...deploy.kernel import netlink
from ...scenario.steps import DURATION, Step, StepError, StepResult, seconds
from ... import registry, units
from . import fault, linkdown, monitor, routes, spec
from .driver import STATE_FILE


def _srv6_state(ctx) -> dict:
    try:
        with open(os.path.join(labstate.lab_dir(ctx.lab), STATE_FILE)) as f:
            return json.load(f)
    except OSError:
        raise StepError(f"lab '{ctx.lab}' has no SRv6 routers (no {STATE_FILE})") from None


def _srv6_routers(ctx) -> dict:
    """The lab's SRv6 routers and SIDs, or {} when it has none (the monitor works on any lab)."""
    try:
        with open(os.path.join(labstate.lab_dir(ctx.lab), STATE_FILE)) as f:
            return json.load(f).get("routers", {})
    except (OSError, ValueError):
        return {}


def _model(data: dict) -> spec.Model:
    m = spec.Model()
    for name, r in data["routers"].items():
        m.routers[name] = spec.Router(name, r["locator"], {
            s: spec.Sid(name, s, v["sid"], v["behaviour"], v.get("nh")) for s, v in r["sids"].items()})
    return m


def path_links(data: dict, headend: str, sids: list[spec.Sid]) -> list[str]:
    """The core links (from -> to) a packet crosses over SIDS, by the locator routes and End.X."""
    out, cur = [], headend
    for sid in sids:
        guard = 0
        while cur != sid.node and guard < 64:
            hop = data["first_hop"].get(f"{cur}>{sid.node}")
            if hop is None:
                raise StepError(f"no path from {cur} to {sid.node}")
            out.append(f"{hop[0]} -> {hop[1]}")
            cur, guard = hop[1].partition(":")[0], guard + 1
        if sid.behaviour == "End.X":
            for a, b, _dev in data["adj"].get(cur, []):
                if b.partition(":")[0] == sid.nh:
                    out.append(f"{a} -> {b}")
                    cur = sid.nh
                    break
    return out


def _end(ctx, endpoint: str) -> monitor.End:
    node, _, ifname = endpoint.partition(":")
    i = ctx.state["nodes"].get(node, {}).get("interfaces", {}).get(ifname)
    if not i:
        raise StepError(f"lab '{ctx.lab}' has no link end {endpoint}")
    return monitor.End(endpoint, i["netns"], i["device"])


class Srv6Policy(Step):
    type = "srv6_policy"
    summary = "give an SRv6 policy a new segment list while traffic runs (its headend's seg6 route is replaced)"
    metrics = ("segments", "path")
    schema = {"type": "object", "additionalProperties": False, "required": ["policy", "segments"],
              "properties": {"policy": {"type": "string"},
                             "segments": {"type": "array", "minItems": 1, "items": {"type": "string"},
                                          "description": "ROUTER, ROUTER.SID or SID addresses, as in the topology"}}}

    def default_name(self, a):
        return f"srv6 policy {a['policy']} over {' -> '.join(a['segments'])}"

    def check_topology(self, lab, a):
        from .driver import core
        m = core(lab).model
        if not m.routers:
            return [((), "the topology has no srv6-router")]
        pol = m.policies.get(a["policy"])
        if pol is None:
            return [(("policy",), f"no SRv6 policy '{a['policy']}' (policies: {', '.join(m.policies) or 'none'})")]
        kind = lab.nodes[pol.headend].kind
        if kind != spec.KIND and kind not in registry.active().srv6_policy_replacers:
            return [(("policy",), f"policy '{pol.name}' has a {kind} headend ('{pol.headend}'), which cannot "
                                  "change its segment list at run time")]
        nodes = {n.name: {"kind": n.kind} for n in lab.nodes.values()}
        _, problems = spec._policy(m, nodes, pol.name, {"headend": pol.headend, "to": pol.to,
                                                         "segments": a["segments"], "mode": pol.mode})
        return [(p[-2:] if p[-2] == "segments" else (), msg) for p, msg, _h in problems]

    def run(self, ctx, a):
        data = _srv6_state(ctx)
        pol = data["policies"].get(a["policy"])
        if pol is None:
            raise StepError(f"no SRv6 policy '{a['policy']}' (policies: {', '.join(data['policies'])})")
        m = _model(data)
        nodes = {n: {"kind": v["kind"]} for n, v in ctx.state["nodes"].items()}
        new, problems = spec._policy(m, nodes, a["policy"], {"headend": pol["headend"], "to": pol["to"],
                                                             "segments": a["segments"], "mode": pol["mode"]})
        if problems:
            raise StepError("; ".join(f"segments: {p[1]}" for p in problems))
        new.table = pol.get("table")
        first = data["first_hop"].get(f"{pol['headend']}>{new.segments[0].node}")
        if first is None:
            raise StepError(f"no path from {pol['headend']} to {new.segments[0].node}")
        addrs = [s.addr for s in new.segments]
        kind = ctx.state["nodes"][pol["headend"]]["kind"]
        if kind == spec.KIND:
            routes.apply(ctx.netns(pol["headend"]), ["route replace " + routes.seg6_line(new, addrs, first[2])])
        else:   # a headend of another kind (a vpp router) replaces the policy in its own data plane
            registry.active().srv6_policy_replacers[kind](ctx.lab, pol["headend"], pol, addrs,
                                                          data["routers"][pol["headend"]])
        links = path_links(data, pol["headend"], new.segments)
        before = pol["labels"]
        pol.update(segments=addrs, labels=[s.label for s in new.segments], links=links)
        with open(os.path.join(labstate.lab_dir(ctx.lab), STATE_FILE), "w") as f:
            json.dump(data, f, indent=1)
        return StepResult({"segments": " -> ".join(pol["labels"]), "previous": " -> ".join(before),
                           "path": ", ".join(links)},
                          summary=f"{a['policy']}: {' -> '.join(before)} => {' -> '.join(pol['labels'])}")


class LinkFault(Step):
    type = "link_fault"
    endpoint_fields = ("endpoint",)
    summary = ("loss on one end of a link for a while: a tc drop filter on its egress (all or loss% of the IP "
               "packets it sends, not ND/MLD), or with mode: down the link taken down (both ends) and brought "
               "back with the addresses and routes the kernel removed; for duration or until it has dropped "
               "`packets`; reports how many packets it dropped")
    metrics = ("dropped", "link", "started_at", "ended_at", "restored")
    stoppable = True
    schema = {"type": "object", "additionalProperties": False, "required": ["endpoint"],
              "properties": {"endpoint": {"type": "string", "description": "NODE:IF: what it sends is dropped"},
                             "mode": {"enum": ["drop", "down"],
                                      "description": "drop (default): a tc drop filter on the endpoint's egress; "
                                                     "down: the link down (both ends), then up again with every "
                                                     "address and route the kernel removed put back; dropped is "
                                                     "what the nodes at its ends could not route meanwhile"},
                             "duration": DURATION,
                             "packets": {"type": "integer", "minimum": 1,
                                         "description": "end once it has dropped this many (duration: at most)"},
                             "loss": {"type": ["string", "number"], "description": "share of packets dropped "
                                                                                   "(default 100%)"}}}

    def check(self, a):
        out = super().check(a)
        if "loss" in a and a.get("mode") == "down":
            out.append((("loss",), "loss: is a share of packets the drop filter drops; a link that is down loses all"))
        elif "loss" in a:
            try:
                units.percent(a["loss"])
            except ValueError as e:
                out.append((("loss",), str(e)))
        return out

    def default_name(self, a):
        return (f"link {'down' if a.get('mode') == 'down' else 'fault'} {a['endpoint']}"
                + (f" ({a['loss']})" if "loss" in a else ""))

    def run(self, ctx, a):
        end = _end(ctx, a["endpoint"])
        peer_key = next((l["b"] if l["a"] == end.key else l["a"] for l in ctx.state.get("links", [])
                         if end.key in (l["a"], l["b"])), None)
        if peer_key is None:
            raise StepError(f"{end.key} is not an end of a link")
        dur = seconds(a.get("duration"), 60.0 if "packets" in a else 1.0)
        if a.get("mode") == "down":
            return self._down(ctx, a, end, peer_key, dur)
        t0 = time.time()
        f = fault.DropFilter(end.netns, end.device, units.percent(a["loss"]) if "loss" in a else 100.0)
        f.install()
        ctx.started()
        try:
            if "packets" in a:   # the qdisc's drop count, polled over netlink
                end_at = time.monotonic() + dur
                with netlink.Socket(end.netns) as sock:
                    index = _index(ctx, end.key)
                    while (f.count(sock, index) < a["packets"] and time.monotonic() < end_at
                           and not ctx.sleep(0.01)):
                        pass
            else:
                ctx.sleep(dur)
        finally:
            dropped = f.remove()
        link = f"{end.key} -> {peer_key}"
        return StepResult({"dropped": dropped, "link": link, "started_at": round(t0, 3),
                           "ended_at": round(time.time(), 3)},
                          summary=f"{dropped} packet(s) dropped on {link} in {time.time() - t0:.1f} s")


    def _down(self, ctx, a, end, peer_key, dur):
        peer = _end(ctx, peer_key)
        ends = [linkdown.End(e.key, e.netns, e.device, _index(ctx, e.key)) for e in (end, peer)]
        nodes = sorted({e.netns for e in ends})
        for e in ends:
            e.save()
        nr0 = {ns: linkdown.no_route(ns) for ns in nodes}

        def dropped() -> int:
            return sum(linkdown.no_route(ns) - nr0[ns] for ns in nodes)
        t0, errors = time.time(), []
        try:
            ends[0].set(False)
            ends[1].drain()   # what the endpoint sent before is received (the peer's backlog kept)
            ends[1].set(False)
            ctx.started()
            end_at = time.monotonic() + dur
            if "packets" in a:
                while dropped() < a["packets"] and time.monotonic() < end_at and not ctx.sleep(0.02):
                    pass
            else:
                ctx.sleep(dur)
        finally:   # the far end first: what the endpoint sends once it is up finds its peer ready
            for e in reversed(ends):
                e.set(True)
                errors += e.restore("addresses") + e.restore("routes")
            n = dropped()   # (until the routes were back)
        if errors:
            raise StepError("the link is up again, but not all of it came back: " + "; ".join(errors[:5]))
        link = f"{end.key} -- {peer.key}"
        return StepResult({"dropped": n, "link": link, "started_at": round(t0, 3), "ended_at": round(time.time(), 3),
                           "restored": sum(len(e.addrs) + len(e.routes) for e in ends)},
                          summary=f"{link} down for {time.time() - t0:.1f} s: {n} packet(s) found no route; "
                                  f"{sum(len(e.routes) for e in ends)} route(s) put back")


def _index(ctx, key: str) -> int:
    node, _, ifname = key.partition(":")
    return ctx.state["nodes"][node]["interfaces"][ifname]["index"]


class LinkMonitor(Step):
    type = "link_monitor"
    endpoint_fields = ("links",)
    summary = ("per-link loss: packet counters at both ends of every link (or of LINKS), sampled every interval "
               "for the duration; per link and interval sent/received/lost and the time of each loss event; "
               "packets per SRv6 SID (seg6local counters) when the lab has them")
    metrics = ("lost_total", "loss_links", "loss_link_count", "events", "link_loss")
    stoppable = True   # until: SIBLING ends it once that step has finished (duration is then at most)
    schema = {"type": "object", "additionalProperties": False, "required": ["duration"],
              "properties": {"duration": DURATION, "interval": DURATION,
                             "links": {"type": "array", "items": {"type": "string"},
                                       "description": "NODE:IF ends of the links to watch (default: every link)"}}}

    def default_expect(self, a):
        return {}

    def default_name(self, a):
        return "link monitor"

    def run(self, ctx, a):
        pairs = monitor.ends_of(ctx.state)
        if a.get("links"):
            want = set(a["links"])
            pairs = [p for p in pairs if p[0].key in want or p[1].key in want]
            if not pairs:
                raise StepError(f"none of {', '.join(sorted(want))} is an end of a link of lab '{ctx.lab}'")
        mon = monitor.Monitor(pairs, seconds(a.get("interval"), 1.0))
        routers = _srv6_routers(ctx)
        mon.start()
        sids0 = monitor.sid_counters(ctx.state, routers)
        ctx.started()   # the baseline is taken: `after: {started: ...}` steps may send now
        try:
            ctx.sleep(seconds(a["duration"]))
        finally:
            mon.stop()
        rep = mon.report()
        sids1 = monitor.sid_counters(ctx.state, routers)
        rep["sids"] = {k: v - sids0.get(k, 0) for k, v in sids1.items()}   # packets per SID during the run
        lossy = [l for l in rep["links"] if l["lost"] > 0]
        path = ctx.artifact("link-loss.json")
        with open(path, "w") as f:
            json.dump(rep, f, indent=1)
        m = {"lost_total": sum(l["lost"] for l in lossy), "loss_links": ", ".join(l["link"] for l in lossy),
             "loss_link_count": len(lossy), "events": len(rep["events"]), "link_loss": rep}
        if rep.get("error"):
            m["error"] = rep["error"]
        what = "; ".join(f"{l['link']}: {l['lost']} lost" for l in lossy) or "no loss"
        return StepResult(m, artifacts=[path], summary=f"{len(rep['links'])} link directions, {what}")


STEPS = (Srv6Policy, LinkFault, LinkMonitor)
