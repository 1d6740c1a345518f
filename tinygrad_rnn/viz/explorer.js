/* The browser side of tinygrad_rnn.viz.explore: pan and zoom the Graphviz SVG, show a clicked
 * node's facts, replay backward in the order the engine ran it, and move through time steps.
 * The page holds the SVG of each view (.tg-view[data-view]) and the facts as JSON (#tg-data);
 * see explore.py for the JSON's fields. Plain DOM, no libraries. Data reaches the page only
 * through textContent and attributes, never as markup (names may contain "<").
 * Names: a "picture name" is a node's <title> in the SVG (op12, value12, leaf3, step4, out0);
 * an edge's title is "producer->consumer". Test hook: window.tgExplorer (at the end). */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("tg-data").textContent);
  const graph = document.getElementById("tg-graph"), side = document.getElementById("tg-side");
  const SVG_NS = "http://www.w3.org/2000/svg";
  const steps = data.backward ? data.backward.steps : [];
  const times = data.timesteps ? data.timesteps.steps : [];
  const stepIndex = new Map(steps.map((s, i) => [s.node, i]));  // picture name -> its backward step

  // ---- small helpers ---------------------------------------------------------------------------
  /** An HTML element; props: "text" (textContent), "on<event>" (listener), others attributes. */
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);  // a string becomes a text node
    return node;
  }
  function svgEl(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return parent.appendChild(node);
  }
  /** A number for people: 4 significant digits; "nan"/"inf" (strings in the JSON) as they are. */
  function fmt(x) {
    if (x === null || x === undefined) return "–";
    if (typeof x === "string" || Number.isInteger(x)) return String(x);
    const a = Math.abs(x);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : String(+x.toPrecision(4));
  }
  const shapeText = (s) => "(" + s.join(", ") + (s.length === 1 ? ",)" : ")");
  const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);
  const titleOf = (g) => g.querySelector(":scope > title").textContent;
  const facts = (name) => data.nodes[name] || null;
  /** "tanh, t=3 (op12)": how lists in the panel name a node. */
  function describe(name) {
    const f = facts(name);
    return f ? f.label + (f.step !== null && f.step !== undefined ? ", t=" + f.step : "") + " (" + name + ")" : name;
  }
  /** A link-like button that selects ``name``. */
  const nodeLink = (name) => el("button", { class: "tg-link", text: describe(name), onclick: () => select(name) });

  // ---- the views: maps from picture name to SVG element, built once ---------------------------
  const views = {};
  for (const box of graph.querySelectorAll(".tg-view")) {
    const svg = box.querySelector("svg"), base = svg.viewBox.baseVal;
    const moved = svg.querySelector("g.graph").transform.baseVal.consolidate();
    const view = { name: box.dataset.view, box, svg, camera: null,
                   base: { x: base.x, y: base.y, width: base.width, height: base.height },
                   matrix: moved ? moved.matrix : svg.createSVGMatrix(),
                   nodes: new Map(), edges: new Map(), clusters: new Map() };
    svg.removeAttribute("width");  // the camera below sets the viewBox; CSS sizes the SVG
    svg.removeAttribute("height");
    for (const g of svg.querySelectorAll("g.node, g.edge, g.cluster")) {
      const kind = g.classList.contains("node") ? "nodes" : g.classList.contains("edge") ? "edges" : "clusters";
      view[kind].set(titleOf(g), g);
    }
    views[view.name] = view;
  }
  // a node not drawn in a view is drawn as the step or "... more steps ..." node standing for it
  const standIns = new Map();
  for (const [name, f] of Object.entries(data.nodes)) {
    for (const member of f.members || []) {
      if (!standIns.has(member)) standIns.set(member, []);
      standIns.get(member).push(name);
    }
  }
  function drawnName(v, name) {
    return v.nodes.has(name) ? name : (standIns.get(name) || []).find((s) => v.nodes.has(s)) || null;
  }
  const drawn = (v, name) => v.nodes.get(drawnName(v, name)) || null;
  const allViews = () => Object.values(views);

  // ---- camera: pan (drag), zoom (wheel, buttons), fit ------------------------------------------
  // camera = {x, y}: the graph point at the centre of the panel, s: screen pixels per graph unit
  let view = views[data.defaultView] || allViews()[0];
  const MIN_SCALE = 0.002, MAX_SCALE = 8, READABLE = 0.5;
  const screen = () => [graph.clientWidth || 1, graph.clientHeight || 1];
  function apply(v) {
    const [w, h] = screen(), c = v.camera;
    v.svg.setAttribute("viewBox", [c.x - w / 2 / c.s, c.y - h / 2 / c.s, w / c.s, h / c.s].join(" "));
  }
  function fitBox(v, box, most) {
    const [w, h] = screen();
    const s = clamp(0.92 * Math.min(w / box.width, h / box.height), MIN_SCALE, most || MAX_SCALE);
    v.camera = { x: box.x + box.width / 2, y: box.y + box.height / 2, s };
    apply(v);
  }
  function zoom(v, factor, px, py) {  // keeps the graph point under (px, py) in place
    const [w, h] = screen(), c = v.camera;
    px = px === undefined ? w / 2 : px; py = py === undefined ? h / 2 : py;
    const gx = c.x + (px - w / 2) / c.s, gy = c.y + (py - h / 2) / c.s;
    c.s = clamp(c.s * factor, MIN_SCALE, MAX_SCALE);
    c.x = gx - (px - w / 2) / c.s; c.y = gy - (py - h / 2) / c.s;
    apply(v);
  }
  /** The box of an element in the SVG's own units (Graphviz moves its drawing with a transform). */
  function boxOf(v, g) {
    const b = g.getBBox(), m = v.matrix;
    return { x: m.a * b.x + m.e, y: m.d * b.y + m.f, width: m.a * b.width, height: m.d * b.height };
  }
  /** Zoom onto ``g`` (zoomTo), or pan to it only when it is out of sight. */
  function reveal(v, g, zoomTo) {
    if (!g || v !== view) return;
    const b = boxOf(v, g), [w, h] = screen(), c = v.camera;
    if (zoomTo) return fitBox(v, { x: b.x - 20, y: b.y - 20, width: b.width + 40, height: b.height + 40 }, 1.5);
    const inside = Math.abs(b.x + b.width / 2 - c.x) < w / 2 / c.s - b.width / 2 &&
                   Math.abs(b.y + b.height / 2 - c.y) < h / 2 / c.s - b.height / 2;
    if (!inside) { c.x = b.x + b.width / 2; c.y = b.y + b.height / 2; apply(v); }
  }
  /** The first look: the whole graph when it is readable whole; else, at a readable scale
   *  (the graph's width, at most 1:1), where backward starts. */
  function firstLook(v) {
    fitBox(v, v.base, 1.5);
    if (v.camera.s >= READABLE) return;
    v.camera.s = clamp(0.92 * screen()[0] / v.base.width, READABLE, 1);
    const start = steps.length ? drawn(v, steps[0].node) : null;
    if (start) reveal(v, start, false);
    else { v.camera.y = v.base.y + v.base.height - screen()[1] / 2 / v.camera.s; apply(v); }
  }
  let drag = null, dragged = false;
  graph.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || e.target.closest(".tg-toolbar")) return;
    drag = { x: e.clientX, y: e.clientY, cx: view.camera.x, cy: view.camera.y };
    dragged = false;
  });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    dragged = dragged || Math.abs(dx) + Math.abs(dy) > 4;
    if (!dragged) return;
    graph.classList.add("tg-panning");
    view.camera.x = drag.cx - dx / view.camera.s; view.camera.y = drag.cy - dy / view.camera.s;
    apply(view);
  });
  window.addEventListener("pointerup", () => { drag = null; graph.classList.remove("tg-panning"); });
  graph.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = graph.getBoundingClientRect(), lines = e.deltaMode === 1 ? 16 : 1;
    zoom(view, Math.exp(-e.deltaY * lines * 0.0015), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  graph.addEventListener("click", (e) => {
    const g = e.target.closest("g.node");
    if (!dragged && g) select(titleOf(g));
    dragged = false;
  });
  window.addEventListener("resize", () => apply(view));

  // ---- the side panel's sections -----------------------------------------------------------------
  const section = (cls, heading) => side.appendChild(el("section", { class: cls }, [el("h2", { text: heading })]));
  side.append(el("h1", { text: data.title }));
  if (data.elided) side.append(el("p", { class: "tg-elided", text: data.elided }));
  const stepper = section("tg-stepper", "Backward, step by step");
  const timeBox = times.length ? section("tg-times", "Time steps") : null;
  const nodeBox = section("tg-node", "Node");
  const nodeBody = nodeBox.appendChild(el("div", { class: "tg-body" }, [el("p", { class: "tg-hint",
    text: "Click a node in the graph. Drag to pan, wheel or +/− to zoom." })]));
  if (data.program) {
    side.append(el("details", { class: "tg-program" }, [el("summary", { text: "compiled program" }),
                                                         el("pre", { text: data.program })]));
  }
  /** A table of rows [name, value, name, value]; a row's last value fills the rest of the 4 columns. */
  function table(rows) {
    return el("table", {}, rows.map((row) => el("tr", {}, row.map((cell, i) => (i % 2 === 0 ? el("th", { text: cell })
      : el("td", i === row.length - 1 ? { colspan: String(4 - i) } : {}, [cell]))))));
  }
  function statsTable(stats) {
    if (!stats) return el("p", { class: "tg-hint", text: "not recorded" });
    const entries = stats.entries.map(fmt).join(", ") + (stats.size > stats.entries.length ? ", …" : "");
    return table([["norm", fmt(stats.norm), "size", fmt(stats.size)], ["min", fmt(stats.min), "max", fmt(stats.max)],
                  ["mean", fmt(stats.mean)], ["entries", entries]]);
  }
  /** The gradients summed into one: "  from a  0.1 / + from b  0.2 / = sum, norm 0.25". */
  function sumOf(arrivals, received) {
    const rows = arrivals.map((a, i) => el("tr", {}, [el("td", { text: i ? "+" : "" }),
      el("td", {}, ["from ", nodeLink(a.from)]), el("td", { class: "tg-num", text: fmt(a.norm) })]));
    const total = arrivals.length > 1 ? "= sum of " + arrivals.length + ", norm" : "= norm";
    rows.push(el("tr", { class: "tg-total" }, [el("td"), el("td", { text: total }),
                                               el("td", { class: "tg-num", text: fmt(received) })]));
    return el("table", { class: "tg-sum" }, rows);
  }

  // ---- the node panel ------------------------------------------------------------------------------
  let selected = null;
  function select(name) {
    for (const g of graph.querySelectorAll(".tg-selected")) g.classList.remove("tg-selected");
    selected = name;
    for (const v of allViews()) { const g = drawn(v, name); if (g) g.classList.add("tg-selected"); }
    reveal(view, drawn(view, name), false);  // chosen from a link in the panel: bring it into sight
    nodeBody.replaceChildren(...nodeFacts(name));
    nodeBox.scrollIntoView({ block: "nearest" });
  }
  function nodeFacts(name) {
    const f = facts(name), g = drawn(view, name);
    const words = g ? [...g.querySelectorAll("text")].map((t) => t.textContent) : [name];  // its drawn label
    const kind = f ? f.kind : name.startsWith("out") ? "output" : "picture";
    const badge = el("span", { class: "tg-kind tg-" + kind, text: kind });
    const parts = [el("h3", {}, [f && !f.members ? f.label : words[0], badge])];
    const rows = [["name", name]];
    if (!f || f.members) {  // drawn for the picture only (an output), or standing for many nodes
      const t = times.findIndex((s) => s.stepNode === name);
      if (words.length > 1) rows.push(["drawn as", words.slice(1).join(", ")]);
      if (f) rows.push(["stands for", f.members.length + " nodes"]);
      if (t >= 0) rows.push(["||dL/dh_t||", fmt(times[t].hNorm)]);
      parts.push(table(rows));
      if (t >= 0 && views.expanded) {
        const expand = () => { setView("expanded"); focusTime(t); };
        parts.push(el("button", { text: "show this step expanded", onclick: expand }));
      }
      return parts;
    }
    if (f.of) rows.push(["value of", nodeLink(f.of)]);
    else if (f.op) rows.push(["op", f.op]);
    if (f.tag && !f.of) rows.push(["named value", f.tag]);
    if (f.scope.length) rows.push(["scope", f.scope.join(", ")]);
    if (f.step !== null) rows.push(["time step", "t = " + f.step]);
    rows.push(["shape", f.shape.map(shapeText).join(", ")], ["dtype", f.dtype]);
    const at = stepIndex.get(f.of || name);
    parts.push(table(rows), el("h4", { text: "value" }), statsTable(f.value));
    parts.push(el("h4", { text: "gradient dL/d(value)" }), ...gradientFacts(name, f, at));
    if (at !== undefined) {
      parts.push(el("p", {}, ["Backward reaches it at step " + (at + 1) + " of " + steps.length + ". ",
                              el("button", { class: "tg-link", text: "go there", onclick: () => goTo(at) })]));
    }
    if (f.formula) parts.push(el("h4", { text: "derivative its backward applies" }), el("pre", { text: f.formula }));
    return parts;
  }
  function gradientFacts(name, f, at) {
    if (f.kind === "parameter" || f.kind === "input") {
      const leaf = data.backward && data.backward.leaves ? data.backward.leaves[name] : null;
      const out = [statsTable(f.grad)];
      if (leaf && leaf.arrivals.length) out.push(el("p", { text: "summed from" }), sumOf(leaf.arrivals, leaf.received));
      return out;
    }
    if (at === undefined) return [el("p", { class: "tg-hint", text: "backward did not reach it" })];
    const s = steps[at];
    return s.grad ? [statsTable(s.grad)] : [table([["norm", fmt(s.received)]])];
  }

  // ---- the backward stepper ----------------------------------------------------------------------
  // At step k (0-based; -1 before backward starts) steps[k].node is current and the nodes of
  // earlier steps are done. A drawn node standing for many (a collapsed step) counts its done members.
  let k = -1, timer = null;
  const doneCount = new Map();
  let lit = [];  // [element, class] pairs lit for the current step only
  const labels = [];  // the norm labels written on the current step's edges
  const counter = el("span", { class: "tg-counter" });
  const button = (cls, text, title, onclick) => el("button", { class: cls, text, title, onclick });
  const prevButton = button("tg-prev", "◀ prev", "previous step (←)", () => goTo(k - 1));
  const nextButton = button("tg-next", "next ▶", "next step (→)", () => goTo(k + 1));
  const playButton = button("tg-play", "▶ play", "play / pause (space)", () => togglePlay());
  const speed = el("select", { class: "tg-speed", title: "steps per second" },
    [1, 2, 5, 10, 30, 100].map((n) => el("option", { value: String(n), text: n + " / s" })));
  speed.value = "2";
  speed.addEventListener("change", () => { if (timer) { pause(); togglePlay(); } });
  const stepBody = el("div", { class: "tg-body" });
  if (data.backward && data.backward.note) stepper.append(el("p", { class: "tg-note", text: data.backward.note }));
  const controls = el("div", { class: "tg-controls" }, [prevButton, playButton, nextButton, speed, counter]);
  if (steps.length) stepper.append(controls, stepBody);
  else if (!data.backward) stepper.append(el("p", { class: "tg-hint", text: "No backward pass was recorded." }));

  /** The value node a tagged op made ("h" for op12 is value12), or null. */
  const valueOf = (op) => (facts("value" + op.slice(2)) ? "value" + op.slice(2) : null);
  function setDone(op, on) {  // the op and the value node it made
    const marked = allViews().flatMap((v) => [drawn(v, op), valueOf(op) && v.nodes.get(valueOf(op))]);
    for (const g of marked.filter(Boolean)) {
      doneCount.set(g, (doneCount.get(g) || 0) + (on ? 1 : -1));
      g.classList.toggle("tg-done", doneCount.get(g) > 0);
    }
  }
  function light(g, cls) { if (g) { g.classList.add(cls); lit.push([g, cls]); } }
  function step(target) {
    target = clamp(target, -1, steps.length - 1);
    for (let i = Math.max(k, 0); i < target; i++) setDone(steps[i].node, true);
    for (let i = Math.max(target, 0); i < k; i++) setDone(steps[i].node, false);
    k = target;
    for (const [g, cls] of lit) g.classList.remove(cls);
    lit = [];
    labels.splice(0).forEach((t) => t.remove());
    counter.textContent = "step " + (k + 1) + " of " + steps.length;
    prevButton.disabled = k < 0;
    nextButton.disabled = k >= steps.length - 1;
    if (k >= 0) lightStep(steps[k]);
    stepBody.replaceChildren(...(k >= 0 ? stepFacts(steps[k]) : [el("p", { class: "tg-hint",
      text: "Press next (→) or play (space) to run backward from the output, node by node." })]));
    drawMarks();
  }
  function lightStep(s) {
    const value = valueOf(s.node);
    for (const v of allViews()) {
      light(drawn(v, s.node), "tg-current");
      if (value) light(v.nodes.get(value), "tg-current-value");
      const norms = new Map();  // edge element -> norms of the gradients sent along it
      for (const send of s.sends) {
        const a = drawnName(v, send.edge[0]), b = drawnName(v, send.edge[1]), edge = v.edges.get(a + "->" + b);
        if (a === b || !edge) continue;
        if (!norms.has(edge)) norms.set(edge, []);
        if (send.norm !== null) norms.get(edge).push(fmt(send.norm));
      }
      for (const [edge, texts] of norms) {
        light(edge, "tg-send");
        const path = edge.querySelector("path");
        if (!texts.length || !path) continue;
        const p = path.getPointAtLength(path.getTotalLength() / 2);
        const label = svgEl("text", { x: p.x + 4, y: p.y, class: "tg-edge-label" }, edge);
        label.textContent = texts.join(", ");
        labels.push(label);
      }
    }
    reveal(view, drawn(view, s.node), false);
  }
  function stepFacts(s) {
    const parts = [el("p", {}, ["Current: ", nodeLink(s.node)])];
    parts.push(el("h4", { text: "gradient received" }));
    if (s.arrivals.length) parts.push(sumOf(s.arrivals, s.received));
    else parts.push(el("p", { text: "the seed dL/dL = 1 (norm " + fmt(s.received) + "): backward starts here" }));
    if (s.grad) parts.push(statsTable(s.grad));
    parts.push(el("h4", { text: s.sends.length ? "sends to its inputs" : "sends nothing (no input needs it)" }));
    if (s.sends.length) {
      parts.push(el("table", { class: "tg-sum" }, s.sends.map((send) => el("tr", {}, [el("td", { text: "→" }),
        el("td", {}, [nodeLink(send.to)]), el("td", { class: "tg-num", text: fmt(send.norm) })]))));
    }
    return parts;
  }
  function pause() { clearInterval(timer); timer = null; playButton.textContent = "▶ play"; }
  function togglePlay() {
    if (timer) return pause();
    if (k >= steps.length - 1) step(-1);
    playButton.textContent = "❚❚ pause";
    timer = setInterval(() => (k >= steps.length - 1 ? pause() : step(k + 1)), 1000 / Number(speed.value));
  }
  function goTo(index) { pause(); step(index); }
  document.addEventListener("keydown", (e) => {
    if (!steps.length || e.target.closest("input, select, textarea")) return;  // a slider takes arrows
    const move = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (move) goTo(k + move);
    else if (e.key !== " " || e.target.closest("button")) return;  // a focused button clicks on space
    else togglePlay();
    e.preventDefault();
  });

  // ---- time steps: slider, focus, the ||dL/dh_t|| chart ----------------------------------------
  let focused = null, focusLit = [];
  const slider = el("input", { class: "tg-slider", type: "range", min: "0", max: String(times.length - 1), value: "0" });
  const timeLabel = el("p", { class: "tg-time-label", text: "Move the slider to focus a time step." });
  const chart = { marks: {} };
  if (timeBox) {
    slider.addEventListener("input", () => focusTime(Number(slider.value)));
    timeBox.append(slider, timeLabel, drawChart(), el("p", { class: "tg-hint",
      text: "Marks: dashed blue, the slider's step; orange, the step of backward's current node." }));
  }
  function focusTime(index) {
    index = clamp(index, 0, times.length - 1);
    focusLit.forEach((g) => g.classList.remove("tg-focus"));
    focused = index;
    slider.value = String(index);
    const s = times[index], member = s.stepNode && facts(s.stepNode) ? facts(s.stepNode).members[0] : null;
    focusLit = allViews().map((v) => (s.cluster && v.clusters.get(s.cluster)) ||
                                     v.nodes.get(s.stepNode) || (member && drawn(v, member))).filter(Boolean);
    focusLit.forEach((g) => g.classList.add("tg-focus"));
    const mine = focusLit.find((g) => view.svg.contains(g));
    reveal(view, mine, true);
    timeLabel.textContent = s.label + ": ||dL/dh_t|| = " + fmt(s.hNorm) +
      (s.cluster || view.name === "collapsed" ? "" : " (this step is elided in the expanded view)");
    drawMarks();
  }
  /** An inline SVG chart of ||dL/dh_t|| against t, log scale, one line per layer/direction. */
  function drawChart() {
    const W = 320, H = 150, L = 46, R = 10, T = 10, B = 28;  // size and margins
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "tg-chart" }, document.createDocumentFragment());
    const text = (x, y, anchor, words) => { svgEl("text", { x, y, "text-anchor": anchor }, svg).textContent = words; };
    const ok = (x) => typeof x === "number" && x > 0 && isFinite(x);  // plottable on a log scale
    const logs = times.filter((s) => ok(s.hNorm)).map((s) => Math.log10(s.hNorm));
    const ts = times.map((s) => s.t), t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
    const yLo = logs.length ? Math.floor(Math.min(...logs)) : 0;  // whole decades
    const yHi = logs.length ? Math.max(Math.ceil(Math.max(...logs)), yLo + 1) : 1;
    chart.x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + ((yHi - v) / (yHi - yLo)) * (H - T - B);
    svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "tg-frame" }, svg);
    for (let e = yLo; e <= yHi; e += Math.ceil((yHi - yLo) / 5)) {
      svgEl("line", { x1: L, x2: W - R, y1: y(e), y2: y(e), class: "tg-grid" }, svg);
      text(L - 4, y(e) + 3, "end", "1e" + e);
    }
    text(chart.x(t0), H - B + 12, "start", "t=" + t0);
    text(chart.x(t1), H - B + 12, "end", "t=" + t1);
    text((L + W - R) / 2, H - 4, "middle", "||dL/dh_t|| by time step (log)");
    if (!logs.length) text(W / 2, H / 2, "middle", "no nonzero ||dL/dh_t|| recorded");
    [...new Set(times.map((s) => s.group))].forEach((group, g) => {
      const colour = "tg-series" + (g % 4);
      let run = [];  // consecutive plotted points; a missing norm breaks the line
      const flush = () => { if (run.length > 1) svgEl("polyline", { points: run.join(" "), class: colour }, svg); run = []; };
      for (const s of times.filter((s) => s.group === group)) {
        if (!ok(s.hNorm)) { flush(); continue; }
        const px = chart.x(s.t), py = y(Math.log10(s.hNorm));
        run.push(px + "," + py);
        if (times.length <= 100) svgEl("circle", { cx: px, cy: py, r: 2.5, class: colour }, svg);
      }
      flush();
    });
    for (const mark of ["focus", "current"]) {
      chart.marks[mark] = svgEl("line", { y1: T, y2: H - B, class: "tg-mark-" + mark, visibility: "hidden" }, svg);
    }
    return svg;
  }
  /** Move the chart's two marks: the slider's step and the current backward node's step. */
  function drawMarks() {
    if (!timeBox) return;
    const current = k >= 0 ? facts(steps[k].node) : null;
    const at = { focus: focused === null ? null : times[focused].t, current: current ? current.step : null };
    for (const [mark, t] of Object.entries(at)) {
      const line = chart.marks[mark], on = t !== null && t !== undefined;
      line.setAttribute("visibility", on ? "visible" : "hidden");
      if (on) { line.setAttribute("x1", chart.x(t)); line.setAttribute("x2", chart.x(t)); }
    }
  }

  // ---- toolbar and views -------------------------------------------------------------------------
  const viewButton = button("tg-switch", "", "one cluster per time step, or one node per time step",
                            () => setView(view.name === "expanded" ? "collapsed" : "expanded"));
  graph.append(el("div", { class: "tg-toolbar" }, [
    button("tg-zoom-in", "+", "zoom in", () => zoom(view, 1.25)),
    button("tg-zoom-out", "−", "zoom out", () => zoom(view, 0.8)),
    button("tg-fit", "fit", "show the whole graph", () => fitBox(view, view.base)),
    ...(views.expanded && views.collapsed ? [viewButton] : [])]));
  function setView(name) {
    if (!views[name]) return;
    view = views[name];
    for (const v of allViews()) v.box.hidden = v !== view;
    viewButton.textContent = name === "expanded" ? "collapse time steps" : "expand time steps";
    view.camera ? apply(view) : firstLook(view);
  }

  setView(view.name);
  step(-1);
  window.tgExplorer = {
    ready: true,
    state: () => ({ view: view.name, step: k, current: k >= 0 ? steps[k].node : null,
                    visited: steps.slice(0, k + 1).map((s) => s.node), selected, focusedStep: focused }),
    step: (index) => goTo(index), next: () => goTo(k + 1), prev: () => goTo(k - 1),
    select, focusTime, setView,
  };
})();
