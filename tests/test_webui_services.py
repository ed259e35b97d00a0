"""Network services on the web UI's drawing, without a browser: services, forwarders and the chains
`emulator explain` computes, and the forms that edit them."""
import os

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")

from webui import edits, forms, model, services  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chain4() -> dict:
    with open(os.path.join(ROOT, "topologies", "nsm-chain4.yaml")) as f:
        return model.layout_missing(model.from_yaml(f.read()))


def test_chain_is_drawn_hop_by_hop_in_order_with_mechanism_and_forwarder():
    els = services.overlay(chain4())
    hops = sorted((e["data"] for e in els if e["data"].get("overlay") == "hop"), key=lambda d: d["hop"])
    assert [(h["source"], h["target"]) for h in hops] == [
        ("client", "firewall"), ("firewall", "pt1"), ("pt1", "pt2"), ("pt2", "gateway")]
    assert [h["label"] for h in hops] == [f"1.{i} kernel · fwd" for i in range(1, 5)]
    assert hops[0]["ends"] == "client:nsm-1 -> firewall:in0"
    svc = [e["data"] for e in els if e["data"].get("overlay") == "service"]
    assert [s["id"] for s in svc] == ["svc:composition"]
    members = {e["data"]["target"] for e in els if e["data"].get("overlay") == "member"}
    assert members == {"firewall", "pt1", "pt2", "gateway"}
    assert [e["data"]["label"] for e in els if e["data"].get("overlay") == "forwarder"] == ["forwarder fwd (kernel)"]
    # overlay ids never collide with node names (which cannot hold ':' or '~')
    assert not {e["data"]["id"] for e in els} & set(chain4()["nodes"])


def test_the_overlay_follows_edits_and_a_broken_topology_draws_no_chain():
    t = model.rename_node(chain4(), "pt1", "middle")
    hops = [e["data"] for e in services.overlay(t) if e["data"].get("overlay") == "hop"]
    assert ("firewall", "middle") in {(h["source"], h["target"]) for h in hops}
    t["nodes"]["client"]["requests"] = ["kernel://nosuchservice/nsm-1"]
    assert not [e for e in services.overlay(t) if e["data"].get("overlay") == "hop"]
    assert services.overlay(model.empty()) == [] and services.chains(model.empty()) == []


def test_services_and_forwarders_have_forms_from_the_schema():
    assert {"payload", "matches"} <= set(forms.entry_fields("services"))
    assert "type" in forms.entry_fields("forwarders")
    assert {"services", "forwarders"} <= set(forms.top_fields()) and "nodes" not in forms.top_fields()
    t = chain4()
    ids = [{"form": "services", "key": "payload", "w": "enum"}, {"form": "services", "key": "matches", "w": "yaml"}]
    t2 = edits._apply_form(t, ("services", "composition"), ids, ["ETHERNET", ""])
    assert t2["services"]["composition"] == {"payload": "ETHERNET"}
    ids = [{"form": "forwarders", "key": "type", "w": "enum"}]
    assert edits._apply_form(t, ("forwarders", "fwd"), ids, ["dpdk"])["forwarders"]["fwd"] == {"type": "dpdk"}
    with pytest.raises(ValueError, match="gone"):
        edits._apply_form(t, ("services", "nope"), ids, ["x"])
    # a client's requests are a field of its node form
    assert "requests" in forms.node_fields("nsc")
