"""Web UI without a browser: the drawing's document model, forms from the schema, the access token."""

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")
pytest.importorskip("flask_sock")

import yaml  # noqa: E402

from emulator.topo_gen import generate  # noqa: E402
from webui import forms, model, server  # noqa: E402
from webui.app import _apply_form, create_app  # noqa: E402

TOKEN = "unit-test-token"


def drawn():
    t = model.empty("wlab")
    t, a = model.add_node(t, "host")
    t, r = model.add_node(t, "router")
    t, b = model.add_node(t, "host")
    t = model.add_link(t, a, r)
    t = model.add_link(t, r, b)
    return t


def test_draw_names_positions_and_yaml_round_trip():
    t = drawn()
    assert list(t["nodes"]) == ["h1", "r1", "h2"]
    assert t["links"] == [["h1", "r1"], ["r1", "h2"]]
    assert len({(n["position"]["x"], n["position"]["y"]) for n in t["nodes"].values()}) == 3
    text = model.to_yaml(t)
    assert model.from_yaml(text) == t
    assert model.to_yaml(model.from_yaml(text)) == text
    assert model.validate(text) == []


def test_rename_delete_move():
    t = model.rename_node(drawn(), "r1", "fw")
    assert t["links"] == [["h1", "fw"], ["fw", "h2"]]
    with pytest.raises(ValueError):
        model.rename_node(t, "fw", "h1")
    with pytest.raises(ValueError):
        model.rename_node(t, "fw", "bad name")
    t = model.move_nodes(t, {"fw": {"x": 12.345, "y": -3}})
    assert t["nodes"]["fw"]["position"] == {"x": 12, "y": -3}
    t2 = model.delete(t, ["fw"], [])
    assert list(t2["nodes"]) == ["h1", "h2"] and t2["links"] == []
    t3 = model.delete(t, [], [0])
    assert t3["links"] == [["fw", "h2"]]


def test_rename_carries_links_routes_and_position_and_redraws_the_links():
    t = drawn()
    t["nodes"]["h1"]["routes"] = [{"to": "default", "via": "r1"}, {"to": "10.9.0.0/16", "via": "10.255.0.2"}]
    t["nodes"]["r1"]["labels"] = {"app": "fw"}
    pos = t["nodes"]["r1"]["position"]
    before = {e["data"]["id"] for e in model.elements(t) if "source" in e["data"]}
    r = model.rename_node(t, "r1", "fw")
    assert r["links"] == [["h1", "fw"], ["fw", "h2"]]
    assert r["nodes"]["h1"]["routes"] == [{"to": "default", "via": "fw"}, {"to": "10.9.0.0/16", "via": "10.255.0.2"}]
    assert r["nodes"]["fw"]["position"] == pos and r["nodes"]["fw"]["labels"] == {"app": "fw"}
    assert model.validate(model.to_yaml(r)) == []
    edges = [e["data"] for e in model.elements(r) if "source" in e["data"]]
    # new element ids for the links whose ends changed: the browser adds them instead of patching
    # the old ones, which cytoscape removed with the old node
    assert not before & {e["id"] for e in edges}
    assert [(e["lid"], e["source"], e["target"]) for e in edges] == [("link-0", "h1", "fw"), ("link-1", "fw", "h2")]


def test_endpoint_forms_are_renamed_and_drawn():
    t = {"name": "x", "nodes": {"a": {"kind": "host"}, "b": {"kind": "bridge"}},
         "links": [{"endpoints": [{"node": "a", "interface": "eth3"}, "b"], "delay": "2ms"}]}
    t = model.layout_missing(t)
    els = model.elements(t)
    edge = [e for e in els if "source" in e["data"]][0]
    assert (edge["data"]["source"], edge["data"]["target"], edge["data"]["ifaces"]) == ("a", "b", "eth3")
    t = model.rename_node(t, "a", "c")
    assert t["links"][0]["endpoints"][0] == {"node": "c", "interface": "eth3"}


def test_validation_errors_are_attached_to_elements():
    t = drawn()
    t["nodes"]["h1"]["ip"] = "not-an-address"
    issues = model.validate(model.to_yaml(t))
    assert "h1" in model.errors_by_element(issues), issues
    t = drawn()
    t["links"].append(["h2", "nowhere"])
    issues = model.validate(model.to_yaml(t))
    assert "link-2" in model.errors_by_element(issues), issues
    assert model.element_of(("nodes", "h1", "ip", 0)) == "h1"
    assert model.element_of(("links", 3, "endpoints")) == "link-3"
    assert model.element_of(("name",)) is None


def test_yaml_syntax_error_is_reported_not_raised():
    issues = model.validate("name: x\nnodes: {a: [\n")
    assert issues and issues[0]["element"] is None and "YAML" in issues[0]["message"]


def test_forms_follow_the_schema():
    assert {"host", "router", "bridge"} <= set(forms.kinds())
    host = forms.node_fields("host")
    assert forms.widget(host["ip"]) == "yaml"
    assert forms.widget(host["description"]) == "text"
    assert forms.widget(forms.link_fields()["type"]) == "enum"
    assert forms.widget(forms.link_fields()["mtu"]) in ("number", "text")
    assert forms.parse("yaml", "[10.0.0.1/24]") == ["10.0.0.1/24"]
    assert forms.parse("text", "") is None
    assert forms.parse("bool", [True]) is True
    with pytest.raises(ValueError):
        forms.parse("yaml", "[unclosed")


def test_apply_form_edits_node_link_and_topology():
    t = drawn()
    ids = [{"form": "node", "key": "__name__", "w": "text"}, {"form": "node", "key": "kind", "w": "enum"},
           {"form": "node", "key": "ip", "w": "yaml"}]
    t = _apply_form(t, ("node", "h1"), ids, ["client", "host", "[10.1.0.1/24]"])
    assert t["nodes"]["client"]["ip"] == ["10.1.0.1/24"] and "position" in t["nodes"]["client"]
    assert t["links"][0] == ["client", "r1"]
    ids = [{"form": "link", "key": "__ep0__", "w": "yaml"}, {"form": "link", "key": "__ep1__", "w": "yaml"},
           {"form": "link", "key": "delay", "w": "text"}]
    t = _apply_form(t, ("link", 1), ids, ["r1:eth1", "h2", "5ms"])
    assert t["links"][1] == {"endpoints": ["r1:eth1", "h2"], "delay": "5ms"}
    t = _apply_form(t, ("top",), [{"form": "top", "key": "name", "w": "text"}], ["renamed"])
    assert t["name"] == "renamed"
    assert model.validate(model.to_yaml(t)) == []


def test_500_nodes_lay_out_and_convert():   # how fast: bench/webui_model.py
    src = generate("linear,250")
    t = model.layout_missing(src.data)
    els = model.elements(t)
    text = model.to_yaml(t)
    assert sum(1 for e in els if "source" not in e["data"]) == 500
    assert all("position" in e for e in els if "source" not in e["data"])
    assert model.validate(text) == []


# ----- the access token


@pytest.fixture(scope="module")
def client():
    app = create_app(TOKEN, 8050)
    return app.server.test_client()


def test_everything_needs_the_token(client):
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/assets/emu.js", "/vendor/xterm/lib/xterm.js",
                 "/ws/console/lab/node", "/report/1/report.html"):
        assert client.get(path).status_code == 403, path
    r = client.post("/_dash-update-component", json={"output": "x.y", "inputs": [], "state": []})
    assert r.status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    r = client.get("/", headers={"Cookie": f"{server.cookie_name(8050)}=wrong"})
    assert r.status_code == 403


def test_token_sets_a_cookie_and_then_the_page_loads(client):
    r = client.get(f"/?token={TOKEN}")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    r = client.get("/", headers={"Cookie": f"{server.cookie_name(8050)}={TOKEN}"})
    assert r.status_code == 200 and b"emulator" in r.data
    r = client.get("/_dash-layout", headers={"X-Emulator-Token": TOKEN})
    assert r.status_code == 200


def test_websocket_from_another_origin_is_refused(client):
    h = {"Cookie": f"{server.cookie_name(8050)}={TOKEN}", "Origin": "http://evil.example",
         "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert client.get("/ws/console/lab/node", headers=h).status_code == 403


def test_url_and_loopback():
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1") and server.is_loopback("localhost")
    assert not server.is_loopback("0.0.0.0")
    assert server.url("0.0.0.0", 8050, "abc") == "http://127.0.0.1:8050/?token=abc"
    assert yaml.safe_load(model.to_yaml({"name": "x", "nodes": {}})) == {"name": "x", "nodes": {}}


def test_every_kind_has_a_form_and_a_look():
    from webui.layout import kind_look, stylesheet
    sels = {s["selector"] for s in stylesheet()}
    for kind in forms.kinds():
        rows = forms.node_form("n1", {"kind": kind, "position": {"x": 1, "y": 2}})
        assert len(rows) >= 3, kind
        assert f"node.kind-{kind}" in sels
        shape, colour = kind_look(kind)
        assert colour.startswith("#")
    assert forms.link_form(0, {"endpoints": ["a:eth0", {"node": "b", "interface": "eth1"}], "mtu": 1400})
    assert forms.top_form({"name": "x", "nodes": {}})


def test_ui_verb_is_on_the_command_line():
    from emulator.cli import build_parser
    args = build_parser().parse_args(["ui", "--port", "8123"])
    assert (args.port, args.host, args.topology) == (8123, "127.0.0.1", None)


def test_a_drawing_the_server_lost_is_not_edited_blindly():
    from webui.docs import doc
    d = doc("unknown-tab-after-a-restart")
    assert d.orphan
    d2 = doc("a-page-load", page=True)
    assert not d2.orphan


def test_a_move_that_changes_nothing_leaves_undo_alone():
    """A click can "drag" a node by zero pixels, and its debounced move can arrive after the node
    was deleted: neither may become the history entry that the next Undo takes back."""
    from webui.docs import Doc
    t = drawn()
    d = Doc(t)
    deleted = model.delete(t, ["r1"], [])
    assert d.change(deleted)
    same = model.move_nodes(deleted, {"r1": {"x": 5, "y": 5},
                                      "h1": deleted["nodes"]["h1"]["position"]})
    assert not d.change(same)
    assert d.undo == [t] and d.topo == deleted
    assert d.change(model.move_nodes(deleted, {"h1": {"x": 1, "y": 2}}))
    assert len(d.undo) == 2


def test_problems_list_the_host_checks_as_validate_does(monkeypatch):
    from emulator.deploy import capabilities
    from webui import drawing
    monkeypatch.setattr(capabilities, "netem", lambda: (False, "no netem here"))
    t = drawn()
    t["links"][1] = {"endpoints": ["r1", "h2"], "delay": "5ms"}
    issues = drawing.problems(t)
    assert [(i["element"], i["path"]) for i in issues] == [("link-1", "links[1].delay")], issues
    assert "netem" in issues[0]["message"] and issues[0]["hint"]
    # another error (stopping compile before its host checks) does not hide the host problem
    t2 = {**t, "nodes": {**t["nodes"], "h1": {**t["nodes"]["h1"], "ip": ["not-an-address"]}}}
    paths = [i["path"] for i in drawing.problems(t2)]
    assert "links[1].delay" in paths and any(p.startswith("nodes.h1") for p in paths), paths
    monkeypatch.setattr(capabilities, "netem", lambda: (True, ""))
    assert drawing.problems(t) == []   # delay needs netem only
    assert drawing.problems(model.empty())[0]["path"] == "nodes"


def test_private_dir_is_the_processs_own_made_again_and_removed_alone(tmp_path, monkeypatch):
    import os
    import tempfile
    from webui.privdir import PrivateDir
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    decoy = tmp_path / f"emu-x-{os.getpid()}-decoy"     # named like ours, made by someone else
    decoy.mkdir()
    d = PrivateDir("emu-x")
    p = d.path()
    assert p == d.path() and os.path.dirname(p) == str(tmp_path) and p != str(decoy)
    assert os.path.basename(p).startswith(f"emu-x-{os.getpid()}-") and os.stat(p).st_mode & 0o777 == 0o700
    os.rmdir(p)                       # removed behind its back: made again
    p2 = d.path()
    assert os.path.isdir(p2)
    (tmp_path / "keep").mkdir()
    open(os.path.join(p2, "f"), "w").close()
    d.remove()
    assert not os.path.exists(p2) and decoy.is_dir() and (tmp_path / "keep").is_dir()
    d.remove()                        # nothing of its own left: removes nothing
    assert sorted(os.listdir(tmp_path)) == sorted([decoy.name, "keep"])
