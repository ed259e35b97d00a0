"""Property tests of network services: random services, endpoints and requests either compile
into chains that respect NSM's rules, or fail with located errors; never anything else."""
import ipaddress
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import lab
from emulator.errors import TopologyError
from emulator.core.loader import Source
from emulator.backends.nsm.select import is_subset

SCALE = float(os.environ.get("EMULATOR_FUZZ_SCALE", "1"))   # as in test_fuzz.py: more examples locally
APPS = ["a", "b", "c", "d"]
label = st.dictionaries(st.sampled_from(["app", "v"]), st.sampled_from(APPS), max_size=2)
match = st.fixed_dictionaries(
    {}, optional={"source_selector": label, "routes": st.lists(st.fixed_dictionaries({"destination_selector": label}),
                                                               max_size=2),
                  "fallthrough": st.booleans(), "metadata": st.just({"labels": {"k": "v"}})})
service = st.fixed_dictionaries({"matches": st.lists(match, max_size=4)},
                                optional={"payload": st.sampled_from(["IP", "ETHERNET"])})


@st.composite
def topologies(draw):
    services = {"s1": draw(service), "s2": draw(service)}
    nodes = {}
    for i in range(draw(st.integers(1, 5))):
        nodes[f"e{i}"] = {"kind": "nse", "services": draw(st.lists(st.sampled_from(["s1", "s2"]), min_size=1,
                                                                    max_size=2, unique=True)),
                          "labels": draw(label), "cidr": f"10.{i}.0.0/{draw(st.sampled_from([24, 29, 30, 31]))}",
                          "vnf": draw(st.sampled_from(["passthrough"] * 4 + ["icmp-responder", "iptables-firewall",
                                                                             "nat", "user-space-forwarder",
                                                                             "bridge-firewall"]))}
    for i in range(draw(st.integers(1, 3))):
        reqs = draw(st.lists(st.tuples(st.sampled_from(["s1", "s1", "s2", "s3"]), st.sampled_from(["", "", ""] + APPS)),
                             min_size=1, max_size=2))
        nodes[f"c{i}"] = {"kind": "nsc", "requests": [f"kernel://{s}/n{j}" + (f"?app={q}" if q else "")
                                                      for j, (s, q) in enumerate(reqs)]}
    return {"name": "fz", "services": services, "nodes": nodes}


@settings(max_examples=max(1, int(150 * SCALE)), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_services_compile_or_fail_located(data):
    try:
        c = lab.compile(Source(data, "fuzz.yaml"), check_host=False)
    except TopologyError as e:
        assert e.issues and all(i.message for i in e.issues)
        return
    for ch in c.services:
        assert len(set(ch.nodes)) == len(ch.nodes)
        assert ch.nodes[0] == ch.client and data["nodes"][ch.client]["kind"] == "nsc"
        for h in ch.hops:
            ep = data["nodes"][h.endpoint]
            assert ch.service in ep["services"]
            m = h.decision.match
            if m is not None:   # the deciding match applied to the request and selected this endpoint
                assert is_subset(h.request_labels, m.source_selector, h.request_labels)
                if m.routes:
                    assert any(is_subset(ep["labels"], r.destination_selector, h.request_labels) for r in m.routes)
            if ch.payload == "IP":
                assert ipaddress.ip_interface(h.endpoint_ip).ip in ipaddress.ip_network(ep["cidr"], strict=False)
        last = data["nodes"][ch.nodes[-1]]
        own = {k: str(v) for k, v in last["labels"].items()}
        svc = data["services"][ch.service]
        # the chain ends at an endpoint that is no match's source
        sources = [{k: str(v) for k, v in m["source_selector"].items()} for m in svc.get("matches", [])
                   if m.get("source_selector")]
        assert not any(is_subset(own, sel, own) for sel in sources)


@st.composite
def designed(draw):
    """A chain x0 -> x1 -> ... written as NSM matches in shuffled order, with fallthrough decoys
    (matches that apply but select nothing) and endpoints outside the chain."""
    k = draw(st.integers(1, 5))
    names = [f"x{i}" for i in range(k)]
    matches = [{"source_selector": {"app": names[i]}, "routes": [{"destination_selector": {"app": names[i + 1]}}]}
               for i in range(k - 1)]
    # (not for the last one: being a match's source is what makes an endpoint request a next hop)
    for i in (draw(st.lists(st.integers(0, k - 2), max_size=3)) if k > 1 else []):
        matches.append({"source_selector": {"app": names[i]}, "fallthrough": True,
                        "routes": [{"destination_selector": {"app": "nowhere"}}]})
    order = draw(st.permutations(range(len(matches))))
    # a decoy must come before the real match of its source, or it is never reached: sort decoys first
    matches = sorted((matches[i] for i in order), key=lambda m: not m.get("fallthrough"))
    matches.append({"routes": [{"destination_selector": {"app": names[0]}}]})
    payload = draw(st.sampled_from(["IP", "ETHERNET"]))
    nodes = {n: {"kind": "nse", "services": ["svc"], "labels": {"app": n, "extra": draw(st.sampled_from(APPS))},
                 "vnf": "passthrough"} for n in draw(st.permutations(names))}
    nodes["stray"] = {"kind": "nse", "services": ["svc"], "labels": {"app": "stray"}}
    q = draw(st.sampled_from(["", "?tier=gold", "?extra=a"]))
    nodes["client"] = {"kind": "nsc", "requests": [f"kernel://svc/nsm0{q}"]}
    return {"name": "dz", "services": {"svc": {"payload": payload, "matches": matches}}, "nodes": nodes}, names


@settings(max_examples=max(1, int(100 * SCALE)), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(designed())
def test_designed_chains_are_followed(case):
    data, names = case
    c = lab.compile(Source(data, "fuzz.yaml"), check_host=False)
    (ch,) = c.services
    assert ch.nodes == ["client"] + names
    if ch.payload == "ETHERNET":
        assert ch.hops[0].client_ip and ch.hops[-1].endpoint_ip
        assert all(h.endpoint_ip is None for h in ch.hops[:-1])
    else:
        assert all(h.client_ip and h.endpoint_ip for h in ch.hops)
