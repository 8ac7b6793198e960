// glia serve: the attribution graph page (/attrgraph). Loaded before app.js,
// whose helpers (h, api, show, fmt, linkOf, busy, diverging) it calls.
"use strict";

// pageAttrGraph builds a graph from the form, or shows the one given at
// start-up (glia serve --graph FILE) when there is one.
async function pageAttrGraph() {
  document.title = "glia · attribution graph";
  const q = new URLSearchParams(location.search);
  const prompt = h("textarea#ag-prompt", { rows: 2, placeholder: "prompt" }, q.get("prompt") || "");
  const maxNodes = h("input#ag-max-nodes", { type: "number", min: 1, max: 1000, value: q.get("max_nodes") || 100 });
  const perSite = h("input#ag-per-site", { type: "number", min: 1, value: q.get("per_site") || 16 });
  const heads = h("input#ag-heads", { type: "checkbox" });
  const btn = h("button#ag-run", {}, "Build graph");
  const out = h("div#ag-out");
  const form = h("form.row", {},
    h("label", {}, "Prompt ", prompt), h("label", {}, "max nodes ", maxNodes), h("label", {}, "per site ", perSite),
    h("label", {}, heads, " heads as nodes"), btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const g = await busy(btn, api("/api/attrgraph", {
        prompt: prompt.value, max_nodes: Number(maxNodes.value), per_site: Number(perSite.value), heads: heads.checked,
      }));
      out.replaceChildren(...attrGraphView(g));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Attribution graph"),
    h("p.muted", {}, "Direct effects between MLP neurons (and heads), embeddings and the top logits, with attention patterns and norm scales frozen; pruned by influence as circuit-tracer does (docs/attrgraph.md)."),
    form, out);
  if (q.get("prompt")) { btn.click(); return; }
  try {
    out.replaceChildren(...attrGraphView(await api("/api/attrgraph/file")));
  } catch (e) { /* no graph was given at start-up */ }
}

// attrGraphNodeLink links a neuron node to its neuron page.
function attrGraphNodeLink(n) {
  if (n.kind !== "neuron") return h("span.mono", {}, n.id);
  return h("a.mono", { href: linkOf(`blocks.${n.layer}.mlp.hook_post:${n.index}`) }, n.id);
}

// attrGraphView draws nodes by layer (rows, embeddings at the bottom,
// logits on top) and position (columns), edges as lines whose width is
// |weight| and colour its sign; a click on a node lists its edges.
function attrGraphView(g) {
  const T = g.tokens.length, L = g.n_layers;
  const rowOf = (n) => n.kind === "logit" ? L + 1 : n.kind === "embedding" ? 0 : n.layer + 1;
  const cellW = Math.max(70, Math.min(160, 1400 / T)), cellH = 70, padL = 60, padT = 20;
  const cells = new Map();
  g.nodes.forEach((n, i) => {
    const k = `${rowOf(n)}:${n.pos}`;
    if (!cells.has(k)) cells.set(k, []);
    cells.get(k).push(i);
  });
  const maxInfl = Math.max(1e-12, ...g.nodes.map((n) => n.kind === "logit" ? n.activation : n.influence));
  const xy = new Array(g.nodes.length);
  for (const [k, idx] of cells) {
    const [r, p] = k.split(":").map(Number);
    idx.sort((a, b) => g.nodes[b].influence - g.nodes[a].influence);
    idx.forEach((i, j) => {
      const x = padL + p * cellW + (j + 1) * cellW / (idx.length + 1);
      const y = padT + (L + 1 - r) * cellH + cellH / 2 + (j % 2 ? 8 : -8) * (idx.length > 3 ? 1 : 0);
      xy[i] = [x, y];
    });
  }
  const W = padL + T * cellW + 10, H = padT + (L + 2) * cellH + 40;
  const maxW = Math.max(1e-12, ...g.edges.map((e) => Math.abs(e.weight)));
  const edgeEls = g.edges.map((e) => {
    const [x1, y1] = xy[e.source], [x2, y2] = xy[e.target];
    return h("line.ag-edge", {
      x1, y1, x2, y2, "data-source": e.source, "data-target": e.target,
      stroke: e.weight >= 0 ? "#dc2626" : "#2563eb", "stroke-opacity": 0.35,
      "stroke-width": (0.4 + 4 * Math.abs(e.weight) / maxW).toFixed(2),
    }, h("title", {}, `${g.nodes[e.source].id} → ${g.nodes[e.target].id}  ${fmt(e.weight)}`));
  });
  const detail = h("div#ag-detail.muted", {}, "Click a node to list its edges.");
  const select = (i) => {
    for (const el of edgeEls) {
      const on = Number(el.dataset.source) === i || Number(el.dataset.target) === i;
      el.setAttribute("stroke-opacity", on ? 0.9 : 0.08);
    }
    detail.replaceChildren(attrGraphDetail(g, i));
  };
  const nodeEls = g.nodes.map((n, i) => {
    const [x, y] = xy[i];
    const v = n.kind === "logit" ? n.activation : n.influence;
    const r = 3 + 9 * Math.sqrt(Math.max(0, v) / maxInfl);
    const fill = { neuron: "#f97316", head: "#16a34a", error: "#9ca3af", embedding: "#6b7280", logit: "#7c3aed" }[n.kind] || "#000";
    return h("circle.ag-node", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), fill, "data-id": n.id, "data-kind": n.kind, onclick: () => select(i) },
      h("title", {}, `${n.id} (${n.kind})  influence ${fmt(n.influence)}  activation ${fmt(n.activation)}`));
  });
  const labels = [];
  for (let r = 0; r <= L + 1; r++) {
    const y = padT + (L + 1 - r) * cellH + cellH / 2 + 4;
    labels.push(h("text", { x: 4, y, "font-size": 11 }, r === 0 ? "emb" : r === L + 1 ? "logits" : `L${r - 1}`));
  }
  g.tokens.forEach((t, p) => labels.push(h("text", { x: padL + p * cellW + cellW / 2, y: H - 12, "font-size": 11, "text-anchor": "middle" },
    showTok(t.text).slice(0, 12))));
  g.nodes.forEach((n, i) => {
    if (n.kind === "logit") labels.push(h("text", { x: xy[i][0], y: xy[i][1] - 14, "font-size": 11, "text-anchor": "middle" }, n.id.slice(6)));
  });
  const svg = h("svg#ag-svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` }, labels, edgeEls, nodeEls);
  const s = g.stats;
  return [
    h("p#ag-summary", {}, `targets: ${g.logits.map((l) => `${JSON.stringify(l.token.text)} ${fmt(l.prob, 3)}`).join(", ")}; `,
      `${s.kept_nodes} of ${s.nodes} nodes, ${s.kept_edges} of ${s.edges} edges kept (${s.selected} of ${s.candidates} candidates selected); `,
      `completeness error ${fmt(s.max_completeness_error, 2)}, replacement score ${fmt(s.replacement_score, 3)}, completeness score ${fmt(s.completeness_score, 3)}`),
    h("div.ag-scroll", { style: { overflowX: "auto" } }, svg),
    detail,
    h("p.muted", {}, `frozen: ${g.frozen.join("; ")}`),
    ...(g.notes || []).map((n) => h("p.muted", {}, n)),
  ];
}

// attrGraphDetail lists a node's incoming and outgoing kept edges.
function attrGraphDetail(g, i) {
  const n = g.nodes[i];
  const rows = (edges, other) => edges.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).map((e) =>
    h("tr", {}, h("td", {}, attrGraphNodeLink(g.nodes[e[other]])), h("td.num" + (e.weight >= 0 ? ".pos" : ".neg"), {}, fmt(e.weight, 3))));
  const inc = g.edges.filter((e) => e.target === i), outg = g.edges.filter((e) => e.source === i);
  const keys = n.keys ? [
    h("h3", {}, `QK side: score ${fmt(n.keys.score, 3)} on key position ${n.keys.key_pos}`),
    h("p.muted", {}, `what the key position's residual adds to the score (query, norm scale and rotary angle held): the rest ${fmt(n.keys.rest, 3)}, bias ${fmt(n.keys.bias, 3)}`),
    h("table#ag-keys", {}, h("tbody", {}, n.keys.top.map((k) =>
      h("tr", {}, h("td.mono", {}, k.source), h("td.num" + (k.weight >= 0 ? ".pos" : ".neg"), {}, fmt(k.weight, 3)))))),
  ] : [];
  return h("div", {},
    h("h3", {}, attrGraphNodeLink(n), ` · ${n.kind} · layer ${n.layer} · position ${n.pos}`),
    h("p", {}, `activation ${fmt(n.activation)}, value ${fmt(n.value)} (bias ${fmt(n.bias)}), influence ${fmt(n.influence)}, cumulative ${fmt(n.cumulative, 3)}`),
    h("div.grid2", {},
      h("div", {}, h("h3", {}, `Incoming (${inc.length})`), h("table#ag-in", {}, h("tbody", {}, rows(inc, "source")))),
      h("div", {}, h("h3", {}, `Outgoing (${outg.length})`), h("table#ag-out-edges", {}, h("tbody", {}, rows(outg, "target"))))),
    keys);
}
