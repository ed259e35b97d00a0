"""NSM endpoint selection (emulator/backends/nsm/select.py) on the cases NSM documents and tests:
ordered matches, source selectors as subsets of the request's labels, fallthrough, metadata-only
matches, no matches at all, templated destination selectors; and request URLs."""
import pytest

from emulator.backends.nsm.select import Candidate, Match, Route, fill, is_subset, select
from emulator.backends.nsm.spec import parse_request, parse_service

FW = Candidate("fw", {"app": "firewall"})
FW2 = Candidate("fw2", {"app": "firewall", "version": "2"})
GW = Candidate("gw", {"app": "vpn-gateway"})
ALL = [FW, FW2, GW]


def m(i, src=None, *dsts, fallthrough=False, metadata=None):
    return Match(i, dict(src or {}), [Route(dict(d)) for d in dsts], fallthrough, metadata,
                 ("services", "s", "matches", i))


def names(d):
    return [c.name for c in d.candidates]


def test_first_applying_match_decides_even_if_a_later_one_applies_too():
    matches = [m(0, {"app": "firewall"}, {"app": "vpn-gateway"}), m(1, {}, {"app": "firewall"})]
    d = select("s", matches, ALL, {"app": "firewall"})
    assert d.match.index == 0 and names(d) == ["gw"]
    d = select("s", matches, ALL, {})
    assert d.match.index == 1 and names(d) == ["fw", "fw2"]
    assert [s.verdict for s in d.trace] == ["skipped", "chosen"]


def test_source_selector_is_a_subset_of_the_request_labels():
    matches = [m(0, {"app": "firewall"}, {"app": "vpn-gateway"}), m(1, {}, {"app": "firewall"})]
    # extra labels in the request do not prevent the match
    assert select("s", matches, ALL, {"app": "firewall", "version": "2"}).match.index == 0
    # a different value does
    assert select("s", matches, ALL, {"app": "firewal"}).match.index == 1


def test_destination_selector_is_a_subset_of_the_endpoint_labels():
    d = select("s", [m(0, {}, {"app": "firewall", "version": "2"})], ALL, {})
    assert names(d) == ["fw2"]
    assert ("fw", "labels {app: firewall} do not contain {app: firewall, version: 2}") in d.rejected


def test_no_candidate_without_fallthrough_is_an_empty_answer():
    matches = [m(0, {}, {"app": "nat"}), m(1, {}, {"app": "firewall"})]
    d = select("s", matches, ALL, {})
    assert d.match.index == 0 and d.candidates == []


def test_fallthrough_tries_the_next_match():
    matches = [m(0, {}, {"app": "nat"}, fallthrough=True), m(1, {}, {"app": "firewall"})]
    d = select("s", matches, ALL, {})
    assert d.match.index == 1 and names(d) == ["fw", "fw2"]
    assert [s.verdict for s in d.trace] == ["fallthrough", "chosen"]
    # fallthrough only matters when there is no candidate
    matches = [m(0, {}, {"app": "vpn-gateway"}, fallthrough=True), m(1, {}, {"app": "firewall"})]
    assert names(select("s", matches, ALL, {})) == ["gw"]


def test_metadata_only_match_without_candidates_gives_every_endpoint():
    matches = [m(0, {"app": "x"}, {"app": "firewall"}), m(1, {}, metadata={"labels": {"dns": "a"}}),
               m(2, {}, {"app": "vpn-gateway"})]
    d = select("s", matches, ALL, {})
    assert d.match is None and names(d) == ["fw", "fw2", "gw"]
    assert [s.verdict for s in d.trace] == ["skipped", "metadata"]
    assert "metadata only" in d.how


def test_match_without_routes_and_without_metadata_selects_nothing():
    d = select("s", [m(0, {})], ALL, {})
    assert d.match.index == 0 and d.candidates == []


def test_no_matches_or_none_applying_gives_every_endpoint():
    assert names(select("s", [], ALL, {"app": "x"})) == ["fw", "fw2", "gw"]
    d = select("s", [m(0, {"app": "firewall"}, {"app": "vpn-gateway"})], ALL, {"app": "client"})
    assert d.match is None and names(d) == ["fw", "fw2", "gw"]


def test_several_routes_collect_candidates_in_route_order():
    d = select("s", [m(0, {}, {"app": "vpn-gateway"}, {"app": "firewall"})], ALL, {})
    assert names(d) == ["gw", "fw", "fw2"]


def test_templates_in_selectors_are_filled_from_the_request_labels():
    eps = [Candidate("east", {"node": "n1"}), Candidate("west", {"node": "n2"})]
    for tmpl in ("{{ .nodeName }}", '{{index . "nodeName"}}'):
        d = select("s", [m(0, {}, {"node": tmpl})], eps, {"nodeName": "n2"})
        assert names(d) == ["west"]
    assert fill("{{ .missing }}", {}) == ""


def test_is_subset_needs_as_many_labels_as_the_selector():
    assert is_subset({"a": "1", "b": "2"}, {"a": "1"}, {})
    assert not is_subset({"a": "1"}, {"a": "1", "b": "2"}, {})
    assert not is_subset({}, {"a": "{{ .a }}"}, {})   # NSM: len(have) < len(want)
    assert is_subset({}, {}, {})


@pytest.mark.parametrize("text, service, mech, ifname, labels", [
    ("kernel://secure-intranet/nsm0", "secure-intranet", "kernel", "nsm0", {}),
    ("kernel://nse-composition/nsm-1?app=x&version=2", "nse-composition", "kernel", "nsm-1",
     {"app": "x", "version": "2"}),
    ("icmp-responder", "icmp-responder", "kernel", None, {}),
    ("secure-intranet-connectivity/eth2?app=firewall&version=2", "secure-intranet-connectivity", "kernel", "eth2",
     {"app": "firewall", "version": "2"}),
    ("MEMIF://svc", "svc", "memif", None, {}),
])
def test_request_urls(text, service, mech, ifname, labels):
    problems = []
    r = parse_request(text, ("r",), lambda *a: problems.append(a))
    assert not problems
    assert (r.service, r.mechanism, r.interface, r.labels) == (service, mech, ifname, labels)


def test_bad_request_url_is_reported():
    problems = []
    assert parse_request("kernel://svc/if?novalue", ("r",), lambda *a: problems.append(a)) is None
    assert problems and "KEY=VALUE" in problems[0][1]


def test_both_spellings_parse_alike():
    v1 = {"payload": "ETHERNET", "matches": [
        {"source_selector": {"app": "fw"}, "routes": [{"destination_selector": {"app": "gw"}}], "fallthrough": True},
        {"routes": [{"destination_selector": {"app": "fw"}}], "metadata": {"labels": {"a": "b"}}}]}
    alpha = {"payload": "ETHERNET", "matches": [
        {"match": None, "sourceSelector": {"app": "fw"}, "route": [{"destination": None,
                                                                    "destinationSelector": {"app": "gw"}}],
         "fallthrough": True},
        {"match": None, "route": [{"destination": None, "destinationSelector": {"app": "fw"}}],
         "metadata": {"labels": {"a": "b"}}}]}
    a, b = parse_service("s", v1, None), parse_service("s", alpha, None)
    strip = lambda s: [(x.index, x.source_selector, [r.destination_selector for r in x.routes], x.fallthrough,
                        x.metadata) for x in s.matches]
    assert strip(a) == strip(b) and a.payload == b.payload == "ETHERNET"
    assert strip(a)[0] == (0, {"app": "fw"}, [{"app": "gw"}], True, None)
