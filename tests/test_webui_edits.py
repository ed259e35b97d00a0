"""The drawing's edits without a browser: each edit function of webui/edits.py, and the steps the
edit callback applies once for all of them (lost drawing, no-change, errors, undo/redo, redraw/refit)."""
import base64

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")
pytest.importorskip("flask_sock")

from dash import no_update  # noqa: E402

from webui import edits, model  # noqa: E402
from webui.app import create_app  # noqa: E402
from webui.docs import Doc  # noqa: E402
from webui.drawing import run_edit  # noqa: E402
from webui.edits import Req  # noqa: E402
from webui.files import Roots  # noqa: E402


def drawn():
    t = model.empty("wlab")
    t, a = model.add_node(t, "host")
    t, r = model.add_node(t, "router")
    return model.add_link(t, a, r)


def test_add_clicked_and_dropped():
    t, msg = edits.add_clicked(drawn(), Req(kind="bridge"))
    assert "sw1" in t["nodes"] and t["nodes"]["sw1"]["kind"] == "bridge" and msg == "added sw1"
    t, msg = edits.add_dropped(t, Req(drop={"kind": "host", "x": 10.4, "y": -7.6}))
    assert t["nodes"]["h2"]["position"] == {"x": 10, "y": -8} and msg == "added h2"
    assert edits.add_dropped(t, Req()) == (t, "")


def test_move_and_connect():
    t0 = drawn()
    t, msg = edits.move(t0, Req(moved={"positions": {"h1": {"x": 3, "y": 4}}}))
    assert t["nodes"]["h1"]["position"] == {"x": 3, "y": 4} and msg == ""
    assert edits.move(t0, Req()) == (t0, "")
    t, msg = edits.connect(t, Req(link={"a": "r1", "b": "h1"}))
    assert t["links"][-1] == ["r1", "h1"] and msg == "linked r1 and h1"
    assert edits.connect(t, Req()) == (t, "")
    with pytest.raises(KeyError):  # a request without its fields is an error, shown as the message
        edits.connect(t, Req(link={"a": "r1"}))


def test_delete_needs_a_selection():
    t0 = drawn()
    assert edits.delete(t0, Req()) == (t0, "select something to delete")
    t, msg = edits.delete(t0, Req(nodes=["r1"]))
    assert list(t["nodes"]) == ["h1"] and t["links"] == [] and msg == "deleted 1 node(s), 0 link(s)"
    t, msg = edits.delete(t0, Req(links=[0]))
    assert t["links"] == [] and len(t["nodes"]) == 2


def test_new_upload_and_yaml_replace_the_drawing():
    t, msg = edits.new(drawn(), Req())
    assert t == model.empty() and msg == "new drawing"
    text = "name: up\nnodes: {a: {kind: host}, b: {kind: host}}\nlinks: [[a, b]]\n"
    url = "data:application/x-yaml;base64," + base64.b64encode(text.encode()).decode()
    t, msg = edits.open_upload(drawn(), Req(upload=url, filename="up.yaml"))
    assert t["name"] == "up" and all("position" in n for n in t["nodes"].values()) and msg == "opened up.yaml"
    assert edits.open_upload(t, Req()) == (t, "")
    t, msg = edits.apply_yaml(drawn(), Req(yaml=text.replace("up", "typed")))
    assert t["name"] == "typed" and t["links"] == [["a", "b"]] and msg == "YAML applied"
    with pytest.raises(Exception):
        edits.apply_yaml(drawn(), Req(yaml="nodes: {a: [\n"))


def test_apply_form_edits_the_target():
    ids = [{"form": "node", "key": "__name__", "w": "text"}, {"form": "node", "key": "kind", "w": "enum"}]
    t, msg = edits.apply_form(drawn(), Req(target=("node", "h1"), prop_ids=ids, prop_values=["client", "host"]))
    assert "client" in t["nodes"] and t["links"][0] == ["client", "r1"] and msg == "properties applied"
    with pytest.raises(ValueError, match="select one node"):
        edits.apply_form(drawn(), Req(target=("many",), prop_ids=ids, prop_values=["x", "host"]))
    with pytest.raises(ValueError, match="gone"):
        edits.apply_form(drawn(), Req(target=("node", "zz"), prop_ids=ids, prop_values=["x", "host"]))


def test_open_lab_from_its_state(tmp_path, monkeypatch):
    state = {"name": "lab9", "nodes": {"a": {"kind": "host"}, "s": {"kind": "bridge"}},
             "links": [{"a": "a:eth0", "b": "s:p1"}]}
    monkeypatch.setattr(edits.api, "get", lambda name: state)
    roots = Roots.for_server(cwd=str(tmp_path))
    t, msg = edits.open_lab(drawn(), Req(lab="lab9", roots=roots))
    assert t["name"] == "lab9" and t["nodes"]["s"]["kind"] == "bridge" and t["links"] == [["a:eth0", "s:p1"]]
    assert all("position" in n for n in t["nodes"].values()) and msg == "opened running lab lab9"
    assert edits.open_lab(t, Req(roots=roots)) == (t, "")


def test_every_input_of_the_edit_callback_has_an_entry_in_the_table():
    app = create_app("t", 8050, roots=Roots.for_server(cwd="/nonexistent-dir"))
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies", headers={"X-Emulator-Token": "t"}).json
    dep = next(d for d in deps if "cy.elements" in d["output"])
    ids = {i["id"] if not i["id"].startswith("{") else "palette" for i in dep["inputs"]}
    assert ids == set(edits.EDITS) | set(edits.HISTORY_STEPS)


# ----- the steps the callback shares


def test_run_edit_records_history_and_sends_what_changed():
    d = Doc(drawn())
    els, rev, msg, fit = run_edit(d, {"type": "palette", "kind": "host"}, Req(kind="host"))
    assert rev == 1 and msg == "added h2" and fit is no_update
    assert any(e["data"]["id"] == "h2" for e in els) and len(d.undo) == 1
    # a drag is already on screen: new revision, no elements sent back
    els, rev, msg, fit = run_edit(d, "moved", Req(moved={"positions": {"h2": {"x": 1, "y": 1}}}))
    assert els is no_update and rev == 2 and d.topo["nodes"]["h2"]["position"] == {"x": 1, "y": 1}
    # opening a drawing zooms to it
    els, rev, msg, fit = run_edit(d, "btn-new", Req())
    assert rev == 3 and d.topo == model.empty() and isinstance(fit, dict)


def test_run_edit_without_a_change_makes_no_undo_entry():
    d = Doc(drawn())
    assert run_edit(d, "btn-delete", Req()) == (no_update, no_update, "select something to delete", no_update)
    assert run_edit(d, "drop", Req()) == (no_update,) * 4
    same = {"positions": {"h1": d.topo["nodes"]["h1"]["position"]}}
    assert run_edit(d, "moved", Req(moved=same)) == (no_update,) * 4
    assert d.undo == [] and d.rev == 0


def test_run_edit_turns_errors_into_the_message():
    d = Doc(drawn())
    before = d.topo
    ids = [{"form": "node", "key": "__name__", "w": "text"}]
    els, rev, msg, fit = run_edit(d, "btn-apply", Req(target=("node", "r1"), prop_ids=ids, prop_values=["h1"]))
    assert (els, rev, fit) == (no_update,) * 3 and "h1" in str(msg.children) and msg.className == "bad"
    els, rev, msg, _ = run_edit(d, "upload", Req(upload="data:x;base64,!!!", filename="f.yaml"))
    assert rev is no_update and msg.className == "bad"
    assert d.topo is before and d.undo == []


def test_undo_and_redo_step_through_the_history():
    d = Doc(drawn())
    assert run_edit(d, "btn-undo", Req())[2] == "nothing to undo"
    run_edit(d, "btn-delete", Req(nodes=["r1"]))
    els, rev, msg, _ = run_edit(d, "btn-undo", Req())
    assert msg == "undo done" and d.topo == drawn() and rev == 2 and len(els) == 3
    assert run_edit(d, "btn-redo", Req())[2] == "redo done" and list(d.topo["nodes"]) == ["h1"]
    assert run_edit(d, "btn-redo", Req())[2] == "nothing to redo"


def test_a_drawing_the_server_lost_only_takes_edits_that_replace_it():
    d = Doc(model.empty())
    d.orphan = True
    els, rev, msg, _ = run_edit(d, {"type": "palette", "kind": "host"}, Req(kind="host"))
    assert rev is no_update and "restarted" in str(msg.children) and d.orphan and d.topo == model.empty()
    assert run_edit(d, "btn-undo", Req())[1] is no_update and d.orphan
    els, rev, msg, fit = run_edit(d, "btn-yaml", Req(yaml="name: back\nnodes: {a: {kind: host}}\n"))
    assert rev == 1 and d.topo["name"] == "back" and not d.orphan


def test_a_reload_restores_the_kept_drawing_and_its_unsaved_state():
    kept = drawn()
    kept["nodes"]["h1"]["position"] = {"x": 7, "y": 9}
    text = model.to_yaml(kept)
    d = Doc(model.empty())   # the new page's drawing, on a server that may have been restarted
    d.orphan = True
    els, rev, msg, fit = run_edit(d, "restore", Req(restore={"text": text, "dirty": True}))
    assert d.topo == kept and msg == "drawing restored" and isinstance(fit, dict) and d.restored
    assert d.rev != d.clean_rev          # it was unsaved before the reload: still unsaved
    d2 = Doc(model.empty())
    run_edit(d2, "restore", Req(restore={"text": text, "dirty": False}))
    assert d2.topo == kept and d2.rev == d2.clean_rev
    run_edit(d2, {"type": "palette", "kind": "host"}, Req(kind="host"))
    assert d2.rev != d2.clean_rev        # an edit after it is unsaved work
    run_edit(d2, "btn-new", Req())
    assert d2.rev == d2.clean_rev
    assert run_edit(Doc(drawn()), "restore", Req(restore={"text": ""}))[1] is no_update


def test_open_lab_shows_the_topology_it_was_deployed_with(tmp_path, monkeypatch):
    deployed = drawn()
    deployed["name"] = "lab9"
    deployed["nodes"]["h1"]["routes"] = [{"to": "default", "via": "r1"}]
    deployed["links"][0] = {"endpoints": ["h1", "r1"], "bandwidth": "10mbit"}
    state = {"name": "lab9", "nodes": {"h1": {"kind": "host"}, "r1": {"kind": "router"}},
             "links": [{"a": "h1:eth0", "b": "r1:eth0"}], "source": {"text": model.to_yaml(deployed)}}
    monkeypatch.setattr(edits.api, "get", lambda name: state)
    t, _ = edits.open_lab(drawn(), Req(lab="lab9", roots=Roots.for_server(cwd=str(tmp_path))))
    assert t == deployed   # as written: positions, routes, bandwidth
    # a kept text naming another lab is not taken for this one
    state["source"] = {"text": model.to_yaml({**deployed, "name": "other"})}
    t, _ = edits.open_lab(drawn(), Req(lab="lab9", roots=Roots.for_server(cwd=str(tmp_path))))
    assert t["links"] == [["h1:eth0", "r1:eth0"]]


def test_paste_copies_nodes_and_the_links_among_them():
    t = drawn()
    t["nodes"]["h1"]["ip"] = ["10.0.0.1/24"]
    out, msg = edits.paste(t, Req(paste={"nodes": ["h1", "r1", "gone"]}))
    assert msg == "pasted h2, r2" and out["nodes"]["h2"]["ip"] == ["10.0.0.1/24"]
    p1, p2 = t["nodes"]["h1"]["position"], out["nodes"]["h2"]["position"]
    assert (p2["x"] - p1["x"], p2["y"] - p1["y"]) == (60, 60)
    assert out["links"] == [["h1", "r1"], ["h2", "r2"]]
    only, _ = edits.paste(t, Req(paste={"nodes": ["r1"]}))
    assert only["links"] == t["links"]       # a link to a node not copied is not copied
    assert edits.paste(t, Req()) == (t, "")


def test_labs_not_deployed_here_are_marked():
    from webui import lab_view
    opts = lab_view.lab_list([{"name": "mine", "status": "running", "nodes": {"a": {}}, "pid": 1},
                              {"name": "theirs", "status": "running", "nodes": {}, "pid": 4242}], {"mine"})
    assert opts[0]["label"] == "mine (running, 1 nodes)"
    assert "not from this UI (pid 4242)" in opts[1]["label"]
