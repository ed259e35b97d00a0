"""`emulator explain TOPOLOGY`: for every client request, the chain it got and why.

For each hop: the labels of the request (the client's URL labels, then each forwarding
endpoint's own labels), the matches tried in order and what happened to each (skipped: the
source selector is not among the labels; fallthrough; metadata-only), the match that decided,
the candidates and the one chosen (round robin when there are several), the endpoints rejected
with the reason, and the cross-connect built (interfaces, addresses).
"""
from __future__ import annotations

from .expand import Chain
from .select import fmt_labels


def explain(chains: list[Chain], lab_name: str = "") -> str:
    if not chains:
        return "no network service requests in this topology"
    out = []
    for ch in chains:
        out.append(f"{ch.client} requests '{ch.request.text}': service {ch.service} (payload {ch.payload}), "
                   f"mechanism {ch.mechanism}, forwarder {ch.forwarder}")
        out.append(f"  chain: {' -> '.join(ch.nodes)}")
        if ch.metadata:
            out.append(f"  metadata: {fmt_labels(ch.metadata)}")
        for h in ch.hops:
            d = h.decision
            who = "request" if h.client == ch.client else f"{h.client} requests the next hop"
            out.append(f"  hop {h.index}: {who} with labels {fmt_labels(h.request_labels)}")
            for st in d.trace:
                if st.verdict != "chosen":
                    out.append(f"    {st.verdict:<11} {st.match.describe()}: {st.reason}")
            out.append(f"    decided by  {d.how}")
            alts = [c for c in h.chosen_from if c != h.endpoint]
            out.append(f"    chosen      {h.endpoint}" + (f" (round robin among {', '.join(h.chosen_from)})"
                                                           if alts else ""))
            for name, why in d.rejected:
                out.append(f"    rejected    {name}: {why}")
            ca = h.client_ip or "no address"
            ea = h.endpoint_ip or "no address"
            out.append(f"    connect     {h.client}:{h.client_if} {ca} <-> {h.endpoint}:{h.endpoint_if} {ea}"
                       f"   ({h.mechanism}, forwarder {h.forwarder})")
            if h.via:   # a VPP forwarder between the two ends
                v = h.via
                out.append(f"    via         {h.client}:{h.client_if} [{v['client_link']}] {v['client_port']} "
                           f"=l2 xconnect= {v['endpoint_port']} [{v['endpoint_link']}] {h.endpoint}:{h.endpoint_if}")
        if ch.end_reason:
            out.append(f"  end: {ch.end_reason}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
