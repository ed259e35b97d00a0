/* Drawing gestures Dash cannot see, live state painting, and the consoles (xterm.js).
 *
 * The cytoscape instance is found through its container (cytoscape keeps it in
 * container._cyreg.cy). Gestures are handed to Dash with dash_clientside.set_props on small
 * Stores: "moved" (dragged nodes), "drop" (a palette item dropped on the drawing),
 * "link-req" (two nodes connected).
 */
(function () {
  "use strict";
  const emu = (window.emu = window.emu || {});
  let connectMode = false;
  let connectSrc = null;
  let hooked = null;
  let lastLive = null;
  let lastErrs = null;

  function cy() {
    const el = document.getElementById("cy");
    return el && el._cyreg && el._cyreg.cy;
  }
  emu.cy = cy;

  // a drawing element by its key: a node's name, or a link's "link-INDEX" (an edge's element id
  // also names its ends, see model.edge_id; its key is data "lid")
  function byKey(k) {
    const c = cy();
    if (!c) return null;
    const n = c.getElementById(k);
    if (n.nonempty() && n.isNode()) return n;
    return c.edges().filter((e) => e.data("lid") === k);
  }
  function keyOf(el) { return el.isNode() ? el.id() : el.data("lid"); }
  emu.el = byKey;
  // the topology's own elements, without the services overlay (cytoscape selectors have no :not)
  function real(eles) { return eles.filter((e) => !e.hasClass("overlay")); }

  function setProps(id, data) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, { data: Object.assign({ t: Date.now() }, data) });
    }
  }

  // ----- the drawing kept over a reload (sessionStorage: this tab only), and unsaved work.
  // The server sends {text, dirty, restored} (the "keep" Store) after every change; the page
  // writes it down once the drawing it kept has been offered back (gate), so the empty drawing
  // of a fresh page never overwrites it.
  const KEEP = "emu-drawing";
  let kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(KEEP) || "null"); } catch (e) { kept = null; }
  let gate = kept && kept.text ? "waiting" : "open";
  emu.dirty = false;
  function offerKept() {
    if (gate !== "waiting" || !(window.dash_clientside && window.dash_clientside.set_props)) return;
    gate = "sent";
    setProps("restore", { text: kept.text, dirty: !!kept.dirty });
    setTimeout(() => { if (gate === "sent") { gate = "open"; emu.dirty = !!kept.dirty; } }, 4000);
  }
  function keep(k) {
    if (!k) return;
    if (gate === "sent" && k.restored) gate = "open";
    if (gate !== "open") return;
    emu.dirty = !!k.dirty;
    try { sessionStorage.setItem(KEEP, JSON.stringify({ text: k.text, dirty: !!k.dirty })); } catch (e) { /* full */ }
  }
  window.addEventListener("beforeunload", (ev) => {
    if (emu.dirty) { ev.preventDefault(); ev.returnValue = ""; }
  });

  function setConnect(on) {
    connectMode = on;
    const b = document.getElementById("btn-connect");
    if (b) b.classList.toggle("active", on);
    const c = cy();
    if (!on && c && connectSrc) c.getElementById(connectSrc).removeClass("connect-src");
    if (!on) connectSrc = null;
    document.body.classList.toggle("connecting", on);
  }
  emu.setConnect = setConnect;

  function hook() {
    const c = cy();
    if (!c || c === hooked) return;
    hooked = c;
    // a small drawing fitted to the window would be drawn huge: cap the first zoom
    setTimeout(() => { if (c.zoom() > 1.1) { c.zoom(1.1); c.center(); } }, 50);
    let moved = {};
    let timer = null;
    c.on("dragfree", "node", (ev) => {
      const p = ev.target.position();
      if (ev.target.hasClass("overlay")) return;   // services and forwarders: placed from their members
      moved[ev.target.id()] = { x: p.x, y: p.y };
      clearTimeout(timer);
      timer = setTimeout(() => {
        const positions = moved;
        moved = {};
        setProps("moved", { positions });
      }, 80);
    });
    c.on("tap", "node", (ev) => {
      if (!connectMode || ev.target.hasClass("overlay")) return;
      const id = ev.target.id();
      if (!connectSrc) {
        connectSrc = id;
        ev.target.addClass("connect-src");
      } else if (id !== connectSrc) {
        const a = connectSrc;
        c.getElementById(a).removeClass("connect-src");
        connectSrc = null;
        setProps("link-req", { a, b: id });
      }
    });
    c.on("tap", (ev) => {
      if (ev.target === c && connectMode && connectSrc) {
        c.getElementById(connectSrc).removeClass("connect-src");
        connectSrc = null;
      }
    });
    // drag to connect: Shift + drag from a node, release on another
    let dragSrc = null;
    c.on("tapstart", "node", (ev) => {
      const oe = ev.originalEvent || {};
      if (!oe.shiftKey || ev.target.hasClass("overlay")) return;
      dragSrc = ev.target;
      dragSrc.ungrabify();
      dragSrc.addClass("connect-src");
    });
    c.on("tapend", (ev) => {
      if (!dragSrc) return;
      const src = dragSrc;
      dragSrc = null;
      src.grabify();
      src.removeClass("connect-src");
      const p = ev.position;
      const hit = real(c.nodes()).filter((n) => {
        const b = n.boundingBox({ includeLabels: false });
        return n !== src && p.x >= b.x1 && p.x <= b.x2 && p.y >= b.y1 && p.y <= b.y2;
      });
      if (hit.nonempty()) setProps("link-req", { a: src.id(), b: hit[0].id() });
    });
    c.on("cxttap", "edge", (ev) => {
      const e = ev.target;
      if (e.hasClass("overlay")) return;
      const oe = ev.originalEvent || {};
      linkMenu(e, oe.clientX || 0, oe.clientY || 0);
    });
    c.on("tap", () => closeMenu());
    c.on("dbltap", "node", (ev) => {
      if (lastLive && lastLive.status === "running") emu.openConsole(lastLive.lab, ev.target.id());
    });
    // a redraw (new elements) loses classes set here: paint again
    c.on("add", () => {
      clearTimeout(c.__emuPaint);
      c.__emuPaint = setTimeout(() => { paintErrors(lastErrs); paintLive(lastLive); }, 30);
    });
    paintErrors(lastErrs);
    paintLive(lastLive);
    offerKept();
  }
  setInterval(hook, 300);

  // ----- palette: click is a Dash callback; drag and drop handled here
  document.addEventListener("dragstart", (ev) => {
    const item = ev.target.closest && ev.target.closest(".palette-item");
    if (item) {
      ev.dataTransfer.setData("text/x-emu-kind", item.dataset.kind);
      ev.dataTransfer.effectAllowed = "copy";
    }
  });
  document.addEventListener("dragover", (ev) => {
    if (ev.target.closest && ev.target.closest("#cy")) ev.preventDefault();
  });
  document.addEventListener("drop", (ev) => {
    const box = ev.target.closest && ev.target.closest("#cy");
    const kind = ev.dataTransfer && ev.dataTransfer.getData("text/x-emu-kind");
    const c = cy();
    if (!box || !kind || !c) return;
    ev.preventDefault();
    const r = box.getBoundingClientRect();
    const pan = c.pan(), zoom = c.zoom();
    setProps("drop", { kind, x: (ev.clientX - r.left - pan.x) / zoom, y: (ev.clientY - r.top - pan.y) / zoom });
  });

  // ----- buttons and keys handled in the browser
  document.addEventListener("click", (ev) => {
    const t = ev.target.closest && ev.target.closest("button");
    if (!t) return;
    if (t.id === "btn-connect") setConnect(!connectMode);
    if (t.id === "btn-fit") fitAll();
    if (t.id === "btn-force") forceLayout();
    if (t.id === "btn-save") {
      emu.dirty = false;
      try { const k = JSON.parse(sessionStorage.getItem(KEEP) || "null"); if (k) { k.dirty = false; sessionStorage.setItem(KEEP, JSON.stringify(k)); } } catch (e) { /* none */ }
    }
    if (t.classList.contains("console-btn") && !t.disabled) emu.openConsole(t.dataset.lab, t.dataset.node, t.dataset.tool);
  });
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || ev.target.isContentEditable || ev.target.closest(".xterm")) return;
    const click = (id) => { const b = document.getElementById(id); if (b) b.click(); };
    if (ev.key === "Escape") setConnect(false);
    else if (ev.key === "Delete" || ev.key === "Backspace") click("btn-delete");
    else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z" && !ev.shiftKey) { ev.preventDefault(); click("btn-undo"); }
    else if ((ev.ctrlKey || ev.metaKey) && (ev.key.toLowerCase() === "y" || (ev.key.toLowerCase() === "z" && ev.shiftKey))) { ev.preventDefault(); click("btn-redo"); }
    else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "c") copySelection();
    else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "v") { ev.preventDefault(); paste(); }
    else if (ev.key === "c" && !ev.ctrlKey && !ev.metaKey) setConnect(!connectMode);
  });
  // clicking a problem selects its element
  document.addEventListener("click", (ev) => {
    const p = ev.target.closest && ev.target.closest(".problem");
    const c = cy();
    if (!p || !c || !p.dataset.element) return;
    const el = byKey(p.dataset.element);
    if (!el || el.empty()) return;
    c.elements().unselect();
    el.select();
    c.animate({ center: { eles: el }, duration: 0 });
  });

  // ----- painting validation errors and live state
  function fitAll() {
    const c = cy();
    if (!c) return;
    c.fit(undefined, 30);
    if (c.zoom() > 1.1) { c.zoom(1.1); c.center(); }
  }
  emu.fit = fitAll;

  function paintErrors(errs) {
    const c = cy();
    if (!c || !errs) return;
    const e = errs.errors || {};
    c.batch(() => {
      c.elements(".error").forEach((el) => { if (!e[keyOf(el)]) { el.removeClass("error"); el.removeData("errors errlabel"); } });
      for (const id in e) {
        const el = byKey(id);
        if (!el || el.empty()) continue;
        let first = e[id][0];
        if (first.length > 60) first = first.slice(0, 57) + "…";
        const more = e[id].length > 1 ? " (+" + (e[id].length - 1) + ")" : "";
        el.addClass("error");
        el.data("errors", e[id].join("\n"));
        el.data("errlabel", (el.isNode() ? el.id() + "\n" : "") + "⚠ " + first + more);
      }
    });
  }
  function paintLive(live) {
    const c = cy();
    if (!c || !live) return;
    c.batch(() => {
      real(c.nodes()).forEach((n) => {
        const s = live.nodes[n.id()];
        n.removeClass("st-up st-partial st-down");
        if (s) n.addClass("st-" + s);
        else if (live.status === "running") n.addClass("st-down");
      });
      real(c.edges()).forEach((e) => {
        const s = live.links[keyOf(e)];
        e.removeClass("st-up st-down");
        if (s) {
          e.addClass(s.up ? "st-up" : "st-down");
          e.data({ rate: s.rate || "", ifa: s.ifa, ifb: s.ifb });
        } else {
          e.data("rate", "");
          e.removeData("ifa ifb");
        }
      });
    });
  }
  // ----- Destroy asks first (capture phase: the click never reaches Dash when refused)
  document.addEventListener("click", (ev) => {
    const t = ev.target.closest && ev.target.closest("#btn-destroy");
    if (!t || t.disabled) return;
    const lab = (lastLive && lastLive.lab) || "this lab";
    if (!window.confirm("Destroy lab " + lab + "? Its namespaces, links and processes are removed.")) {
      ev.stopImmediatePropagation();
      ev.preventDefault();
    }
  }, true);

  // ----- copy/paste: Ctrl+C keeps the selected nodes' names, Ctrl+V asks the server for copies
  // (with the links among them), placed next to the originals
  let clipboard = [];
  function copySelection() {
    const c = cy();
    if (!c) return;
    clipboard = real(c.nodes(":selected")).map((n) => n.id());
  }
  function paste() {
    if (clipboard.length) setProps("paste", { nodes: clipboard });
  }
  emu.copy = copySelection;
  emu.paste = paste;

  // ----- force-directed layout (cytoscape's cose); the new places go to the server as a move
  function forceLayout() {
    const c = cy();
    if (!c) return;
    const l = real(c.nodes()).layout({ name: "cose", animate: false, randomize: false, fit: true,
                                                   nodeRepulsion: 8000, idealEdgeLength: 120 });
    l.one("layoutstop", () => {
      const positions = {};
      real(c.nodes()).forEach((n) => { positions[n.id()] = n.position(); });
      setProps("moved", { positions });
      fitAll();
    });
    l.run();
  }
  emu.forceLayout = forceLayout;

  // ----- find a node: type part of its name, Enter jumps to the next match
  let found = [];
  let foundAt = -1;
  document.addEventListener("keydown", (ev) => {
    if (ev.target.id !== "search" || ev.key !== "Enter") return;
    const c = cy();
    const q = (ev.target.value || "").trim().toLowerCase();
    if (!c || !q) return;
    const ids = real(c.nodes()).map((n) => n.id());
    const exact = ids.filter((i) => i.toLowerCase() === q);
    const next = exact.concat(ids.filter((i) => i.toLowerCase() !== q && i.toLowerCase().includes(q)));
    if (next.join() !== found.join()) { found = next; foundAt = -1; }
    if (!found.length) { ev.target.classList.add("nomatch"); return; }
    ev.target.classList.remove("nomatch");
    foundAt = (foundAt + 1) % found.length;
    const n = c.getElementById(found[foundAt]);
    c.elements().unselect();
    n.select();
    c.animate({ center: { eles: n }, zoom: Math.max(c.zoom(), 1) }, { duration: 200 });
  });

  // ----- the link menu (right-click a link of the running lab): as the scenario `link` step
  function closeMenu() { const m = document.getElementById("ctx-menu"); if (m) m.remove(); }
  emu.closeMenu = closeMenu;
  function linkMenu(edge, x, y) {
    closeMenu();
    const live = lastLive;
    const running = live && live.status === "running" && live.links[edge.data("lid")];
    const can = (live && live.can) || {};
    const end = running ? edge.source().id() + ":" + live.links[edge.data("lid")].ifa : null;
    const peer = running ? edge.target().id() + ":" + live.links[edge.data("lid")].ifb : null;
    const m = document.createElement("div");
    m.id = "ctx-menu";
    m.className = "ctx-menu";
    m.style.left = x + "px";
    m.style.top = y + "px";
    const title = document.createElement("div");
    title.className = "ctx-title";
    title.textContent = running ? end + " — " + peer : "deploy the lab to control its links";
    m.appendChild(title);
    const item = (label, op, opts) => {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.op = op;
      b.disabled = !running || (opts && opts.off);
      if (opts && opts.off && running) b.title = opts.off;
      b.addEventListener("click", () => {
        let value = null;
        if (opts && opts.ask) {
          value = window.prompt(opts.ask, opts.example || "");
          if (value === null) { closeMenu(); return; }
        }
        closeMenu();
        setProps("link-op", { endpoint: opts && opts.end ? opts.end : end, op, value });
      });
      m.appendChild(b);
    };
    const noTbf = can.tbf ? null : "this kernel has no tbf qdisc";
    const noNetem = can.netem ? null : "this kernel has no netem qdisc";
    item("Link down", "down");
    item("Link up", "up");
    item("Bandwidth…", "bandwidth", { ask: "bandwidth (e.g. 10mbit)", example: "10mbit", off: noTbf });
    item("Delay…", "delay", { ask: "delay (e.g. 20ms)", example: "20ms", off: noNetem });
    item("Loss…", "loss", { ask: "loss (e.g. 1%)", example: "1%", off: noNetem });
    item("Clear impairments", "clear");
    item("Capture on " + (end || "this end") + "…", "capture", { ask: "capture for how many seconds?", example: "5" });
    if (peer) item("Capture on " + peer + "…", "capture", { ask: "capture for how many seconds?", example: "5", end: peer });
    document.body.appendChild(m);
  }
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeMenu(); });
  document.addEventListener("contextmenu", (ev) => { if (ev.target.closest && ev.target.closest("#cy")) ev.preventDefault(); });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.emu = {
    errors: function (errs) { lastErrs = errs; paintErrors(errs); return ""; },
    live: function (live) { lastLive = live; paintLive(live); return ""; },
    fit: function () { setTimeout(fitAll, 60); return ""; },
    keep: function (k) { keep(k); return ""; },
  };

  // ----- consoles
  function dock() {
    let d = document.getElementById("console-dock");
    if (d) return d;
    d = document.createElement("div");
    d.id = "console-dock";
    d.innerHTML = '<div class="dock-handle" title="drag to resize"><button class="dock-collapse" title="collapse or expand the consoles">▾</button></div><div class="dock-panes"></div>';
    document.body.appendChild(d);
    // the dock takes its height from the page instead of covering the drawing
    const app = () => document.querySelector(".app");
    const fitPage = () => {
      const a = app();
      if (a) a.style.height = d.classList.contains("open") ? "calc(100vh - " + d.offsetHeight + "px)" : "100vh";
      const c = cy();
      if (c) c.resize();
    };
    new ResizeObserver(fitPage).observe(d);
    new MutationObserver(fitPage).observe(d, { attributes: true, attributeFilter: ["class"] });
    d.querySelector(".dock-collapse").addEventListener("click", () => {
      d.classList.toggle("collapsed");
      d.querySelector(".dock-collapse").textContent = d.classList.contains("collapsed") ? "▴ consoles" : "▾";
    });
    const handle = d.querySelector(".dock-handle");
    handle.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      const y0 = ev.clientY, h0 = d.offsetHeight;
      if (ev.target.closest(".dock-collapse")) return;
      const move = (e) => { d.style.height = Math.max(120, Math.min(window.innerHeight - 80, h0 + y0 - e.clientY)) + "px"; };
      const up = () => { document.removeEventListener("mousemove", move); document.removeEventListener("mouseup", up); };
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
    });
    return d;
  }
  emu.consoles = [];
  emu.openConsole = function (lab, node, tool) {
    tool = tool || "shell";   // a vpp node's console may open its vppctl instead
    if (!window.Terminal) { alert("xterm.js is not installed: run `make webui` (npm install in webui/)"); return; }
    const d = dock();
    d.classList.add("open");
    const pane = document.createElement("div");
    pane.className = "console";
    pane.dataset.node = node;
    pane.innerHTML = '<div class="console-title"><span></span><button class="console-close" title="close">×</button></div><div class="console-body"></div>';
    pane.querySelector("span").textContent = (tool === "shell" ? "" : tool + " ") + node + " @ " + lab;
    d.querySelector(".dock-panes").appendChild(pane);
    const term = new window.Terminal({ fontSize: 13, cursorBlink: true, scrollback: 5000,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace", theme: { background: "#101418" } });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(pane.querySelector(".console-body"));
    try { fit.fit(); } catch (e) { /* not laid out yet */ }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws/console/" + encodeURIComponent(lab) + "/" +
      encodeURIComponent(node) + "?cols=" + term.cols + "&rows=" + term.rows + "&tool=" + encodeURIComponent(tool));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => term.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data));
    ws.onclose = () => { pane.classList.add("closed"); };
    term.onData((data) => { if (ws.readyState === 1) ws.send("d" + data); });
    term.onResize((s) => { if (ws.readyState === 1) ws.send("r" + JSON.stringify({ cols: s.cols, rows: s.rows })); });
    const ro = new ResizeObserver(() => { try { fit.fit(); } catch (e) { /* hidden */ } });
    ro.observe(pane);
    const entry = { lab, node, term, ws, pane };
    emu.consoles.push(entry);
    pane.querySelector(".console-close").addEventListener("click", () => {
      ro.disconnect(); ws.close(); term.dispose(); pane.remove();
      emu.consoles = emu.consoles.filter((x) => x !== entry);
      if (!emu.consoles.length) d.classList.remove("open");
    });
    term.focus();
    return entry;
  };
})();
