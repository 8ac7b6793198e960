// glia serve: one shell, one router, every page drawn from the JSON API.
// No framework: h() builds elements (text is never parsed as HTML).
"use strict";

const main = document.getElementById("main");

// h("div.cls", {attrs}, children...) builds an element.
function h(tag, attrs, ...kids) {
  const parts = tag.split(/(?=[.#])/);
  const name = parts[0];
  const el = name === "svg" || svgTags.has(name)
    ? document.createElementNS("http://www.w3.org/2000/svg", name)
    : document.createElement(name);
  const classes = parts.filter((x) => x[0] === ".").map((x) => x.slice(1));
  const id = parts.find((x) => x[0] === "#");
  if (classes.length) el.setAttribute("class", classes.join(" "));
  if (id) el.id = id.slice(1);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const svgTags = new Set(["rect", "g", "text", "title", "line", "circle"]);

function show(...kids) { main.replaceChildren(...kids); }
function errorBox(err) { return h("div.error", {}, String(err.message || err)); }
const fmt = (x, d = 4) => x == null || Number.isNaN(x) ? "–" : Number(x).toPrecision(d).replace(/\.?0+e/, "e").replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
const pct = (x) => x == null ? "–" : (100 * x).toFixed(x < 0.001 ? 4 : 2) + "%";
const showTok = (s) => s.replace(/\n/g, "↵").replace(/\t/g, "⇥");

// ---- API ----

function token() { return sessionStorage.getItem("glia-token") || ""; }

async function api(path, body) {
  const opts = { headers: {} };
  if (token()) opts.headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (res.status === 401) document.getElementById("auth").hidden = false;
  if (!res.ok) throw new Error(`${res.status}: ${data.error || res.statusText}`);
  return data;
}

let overviewCache = null;
async function overview() {
  if (!overviewCache) overviewCache = await api("/api/overview");
  return overviewCache;
}

// ---- shared views ----

// Token spans coloured by activation / scale; the value shows on hover.
function tokenSpans(texts, acts, scale, center) {
  return h("span.toks", {}, texts.map((t, i) => {
    const a = acts[i];
    const f = scale > 0 ? Math.max(0, Math.min(1, a / scale)) : 0;
    return h("span.tok" + (i === center ? ".center" : ""), {
      title: `${JSON.stringify(t)}  ${fmt(a)}`,
      "data-act": a,
      style: { background: f > 0 ? `rgba(249,115,22,${(0.08 + 0.85 * f).toFixed(3)})` : "" },
    }, showTok(t));
  }));
}

function unitLink(id) {
  const i = id.lastIndexOf(":");
  return h("a.mono", { href: `/neuron/${id.slice(0, i)}/${id.slice(i + 1)}` }, id);
}

// histogram draws the non-empty bins, bar heights log-scaled.
function histogram(bins) {
  const W = 520, H = 110, n = bins.length;
  if (!n) return h("p.muted", {}, "empty histogram");
  const peak = Math.max(...bins.map((b) => b.count));
  const bw = W / n;
  const svg = h("svg", { width: W, height: H + 18, viewBox: `0 0 ${W} ${H + 18}`, class: "hist", role: "img" });
  bins.forEach((b, i) => {
    const y = b.count ? Math.max(1, (Math.log1p(b.count) / Math.log1p(peak)) * H) : 0;
    const lo = b.lo == null ? "−∞" : fmt(b.lo, 3), hi = b.hi == null ? "∞" : fmt(b.hi, 3);
    const neg = b.hi != null && b.hi <= 0;
    svg.append(h("rect", { x: i * bw, y: H - y, width: Math.max(1, bw - 0.5), height: y, fill: neg ? "#93c5fd" : "#fb923c" },
      h("title", {}, `[${lo}, ${hi}): ${b.count}`)));
  });
  const first = bins[0].lo ?? bins[0].hi, last = bins[n - 1].hi ?? bins[n - 1].lo;
  svg.append(h("line", { x1: 0, x2: W, y1: H, y2: H, stroke: "#9ca3af" }));
  svg.append(h("text", { x: 0, y: H + 14, "font-size": 10, fill: "#6b7280" }, fmt(first, 3)));
  svg.append(h("text", { x: W, y: H + 14, "font-size": 10, fill: "#6b7280", "text-anchor": "end" }, fmt(last, 3)));
  return svg;
}

// diverging maps v in [−lim, lim] to blue (negative) – white – red
// (positive), plot.Colour's scale; null is grey.
function diverging(v, lim) {
  if (v == null) return "#d1d5db";
  const x = Math.max(-1, Math.min(1, v / lim));
  const mix = (b) => Math.round(255 + (b - 255) * Math.abs(x));
  return x >= 0 ? `rgb(${mix(178)},${mix(24)},${mix(43)})` : `rgb(${mix(33)},${mix(102)},${mix(172)})`;
}

// heatmap draws a diverging grid (blue < 0 < red); null cells are grey.
function heatmap(grid) {
  const rows = grid.values.length, cols = rows ? grid.values[0].length : 0;
  let lim = 1e-9;
  grid.values.flat().forEach((v) => { if (v != null) lim = Math.max(lim, Math.abs(v)); });
  const cell = Math.max(10, Math.min(34, Math.floor(760 / Math.max(cols, 1)))), left = 40, top = 8, bottom = 90;
  const svg = h("svg", { width: left + cols * cell + 10, height: top + rows * cell + bottom, class: "heatmap" });
  const colour = (v) => diverging(v, lim);
  grid.values.forEach((row, r) => {
    svg.append(h("text", { x: left - 6, y: top + r * cell + cell / 2 + 4, "font-size": 10, "text-anchor": "end" }, grid.rows[r]));
    row.forEach((v, c) => svg.append(h("rect", { x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1, fill: colour(v) },
      h("title", {}, `${grid.rows[r]} × ${grid.cols[c]}: ${v == null ? "n/a" : fmt(v, 3)}`))));
  });
  grid.cols.forEach((c, i) => {
    const x = left + i * cell + cell / 2, y = top + rows * cell + 6;
    svg.append(h("text", { x, y, "font-size": 10, transform: `rotate(60 ${x} ${y})` }, showTok(c).slice(0, 14)));
  });
  return h("div", {}, h("h3", {}, grid.title, `  (|max| ${fmt(lim, 3)})`), svg);
}

function table(head, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h(c.endsWith("#") ? "th.num" : "th", {}, c.replace(/#$/, ""))))),
    h("tbody", {}, rows));
}

function busy(button, promise) {
  button.disabled = true;
  return promise.finally(() => { button.disabled = false; });
}

// ---- pages ----

async function pageOverview() {
  const o = await overview();
  const kids = [h("h1", {}, o.model ? o.model.name : "atlas")];
  const cards = h("div.cards");
  if (o.model) {
    const d = o.model.dims;
    cards.append(h("div.card#model-card", {}, h("h3", {}, "Model"), table(["", ""], [
      ["type", o.model.model_type], ["parameters", o.model.params.toLocaleString()],
      ["layers", d.n_layers], ["d_model", d.d_model], ["heads", `${d.n_heads} (kv ${d.n_key_value_heads}), d_head ${d.d_head}`],
      ["d_mlp", d.d_mlp], ["vocab", d.d_vocab], ["context", d.n_ctx], ["fingerprint", o.model.fingerprint],
    ].map(([k, v]) => h("tr", {}, h("th", {}, k), h("td.mono", {}, v))))));
  } else cards.append(h("div.card", {}, h("p.muted", {}, "No model loaded: atlas pages only.")));
  if (o.atlas) {
    const a = o.atlas;
    cards.append(h("div.card#atlas-card", {}, h("h3", {}, "Atlas"), table(["", ""], [
      ["model", a.model_name], ["status", a.status], [a.kind === "images" ? "images" : "tokens", a.tokens.toLocaleString()], ["units", a.units.toLocaleString()],
      ["hooks", a.hooks.length], ["examples", a.kind === "images" ? `top ${a.settings.top_k} images with masks` : `top ${a.settings.top_k}, ${a.settings.bands}×${a.settings.band_k} banded, ${a.settings.random_k} random`],
      ["corpus", a.corpus.join(", ")],
      ["matches model", a.matches_model == null ? "–" : a.matches_model ? "yes" : "NO: different fingerprint"],
    ].map(([k, v]) => h("tr", {}, h("th", {}, k), h("td.mono", {}, v))))));
  } else cards.append(h("div.card", {}, h("p.muted", {}, "No atlas: run glia atlas build, then glia serve --db atlas.db.")));
  kids.push(cards, h("h2", {}, "Hook points"));
  kids.push(table(["hook", "shape", "atlas units#"], o.hooks.map((r) => h("tr", {},
    h("td.mono", {}, r.in_atlas ? h("a", { href: `/search?hook=${encodeURIComponent(r.name)}&sort=max` }, r.name) : r.name),
    h("td.mono", {}, r.shape ? `[${r.shape.join(", ")}]` : ""),
    h("td.num", {}, r.in_atlas ? r.units : "")))));
  show(...kids);
}

async function pageNeuron(hook, unit) {
  const n = await api(`/api/neurons/${encodeURIComponent(hook)}/${unit}`);
  const r = n.report;
  document.title = `${n.id} · glia`;
  const scale = r.max ?? 0;
  const nb = n.neighbours;
  const ex = (e) => h("div.ex", {}, h("span.val", {}, fmt(e.activation)), tokenSpans(e.text, e.acts, scale, e.center));
  const kids = [
    h("h1#unit-title", {}, n.id),
    h("div.links", {},
      nb.prev && h("a", { href: linkOf(nb.prev), rel: "prev" }, "← " + nb.prev.split(":").pop()),
      nb.next && h("a", { href: linkOf(nb.next), rel: "next" }, nb.next.split(":").pop() + " →"),
      nb.up && h("a", { href: linkOf(nb.up) }, "↑ " + nb.up),
      nb.down && h("a", { href: linkOf(nb.down) }, "↓ " + nb.down),
      h("a#run-in-explorer", { href: `/explore?units=${encodeURIComponent(n.id)}${exemplarParam(n)}` }, "run in explorer"),
      h("a#ablate", { href: `/intervene?spec=${encodeURIComponent(`${hook}[:,${unit}]=0`)}${exemplarParam(n)}` }, "ablate")),
    h("div.stats#stats", {}, [
      [n.images ? "positions" : "tokens", r.count.toLocaleString()], ["mean", fmt(r.mean)], ["std", fmt(r.std)], ["min", fmt(r.min)], ["max", fmt(r.max)],
      ["density > 0", pct(r.density)], [`density > ${r.threshold}`, pct(r.density_above)],
    ].map(([k, v]) => h("div.stat", {}, h("b", {}, v), h("span", {}, k)))),
    h("div.grid2", {},
      h("div", {}, h("h3", {}, "Activation histogram"), histogram(n.hist_bins)),
      h("div#explain", {}, h("h3", {}, "Label, facets, logit lens"), explanation(n))),
    ...(n.images ? await imageExemplars(n) : [h("h2", {}, `Top activations (${r.top ? r.top.length : 0})`), h("div#top", {}, (r.top || []).map(ex))]),
  ];
  if (r.bands && r.bands.length) {
    kids.push(h("h2", {}, "Quantile bands"));
    for (const b of r.bands) {
      kids.push(h("h3", {}, `[${fmt(b.lo, 3)}, ${fmt(b.hi, 3)})  ${b.count.toLocaleString()} tokens, quantiles ${pct(b.q_lo)}–${pct(b.q_hi)}`));
      kids.push(h("div.band", {}, b.examples.map(ex)));
    }
  }
  if (r.random && r.random.length) kids.push(h("h2", {}, "Random tokens"), h("div", {}, r.random.map(ex)));
  show(...kids);
}

function explanation(n) {
  const e = n.explanation;
  if (!e) return h("p.note", {}, n.explain_note || "not explained yet");
  return h("div", {},
    h("p", {}, h("b", {}, e.label), e.score != null ? `  score ${fmt(e.score, 3)}` : ""),
    e.facets && e.facets.length ? h("p", {}, e.facets.map((f) => h("span.pill", {}, f))) : null,
    e.lens_top && h("p.toks", {}, "promotes: ", e.lens_top.map((t) => h("span.pill", { title: fmt(t.value) }, showTok(t.token)))),
    e.lens_bottom && h("p.toks", {}, "suppresses: ", e.lens_bottom.map((t) => h("span.pill", { title: fmt(t.value) }, showTok(t.token)))));
}

function linkOf(id) {
  const i = id.lastIndexOf(":");
  return `/neuron/${id.slice(0, i)}/${id.slice(i + 1)}`;
}

async function pageSearch() {
  const q = new URLSearchParams(location.search);
  const o = await overview();
  const hooks = o.atlas ? o.atlas.hooks.map((x) => x.name) : [];
  const layers = [...new Set(hooks.map((x) => (x.match(/^blocks\.(\d+)\./) || [])[1]).filter((x) => x != null))];
  const field = (name, label, el) => h("label", {}, label, el);
  const input = (name, ph) => h("input", { name, id: "q-" + name, value: q.get(name) || "", placeholder: ph });
  const select = (name, opts) => {
    const s = h("select", { name, id: "q-" + name }, opts.map(([v, t]) => h("option", { value: v }, t)));
    s.value = q.get(name) || "";
    return s;
  };
  const form = h("form.row#search-form", {},
    field("token", "token (center of top examples)", input("token", "e.g. the")),
    field("label", "label text", input("label", "after glia explain")),
    field("layer", "layer", select("layer", [["", "any"], ...layers.map((l) => [l, l])])),
    field("hook", "hook", select("hook", [["", "any"], ...hooks.map((x) => [x, x])])),
    field("sort", "sort", select("sort", [["", "default"], ["max", "max activation"], ["density", "density"], ["sparsity", "sparsity"], ["matches", "matches"], ["unit", "unit"]])),
    h("button", { type: "submit" }, "Search"));
  const out = h("div#results");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    history.pushState(null, "", "/search?" + p);
    run(p);
  });
  const run = async (p) => {
    out.replaceChildren(h("p.muted", {}, "Searching…"));
    try {
      const r = await api("/api/search?" + p);
      out.replaceChildren(
        r.note ? h("p.note", {}, r.note) : "",
        h("p.muted", {}, `${r.total.toLocaleString()} unit(s)`, r.tokens && r.tokens.length ? ` for token(s) ${r.tokens.map((t) => JSON.stringify(t)).join(" ")}` : ""),
        table(["unit", "max#", "mean#", "density#", "top token", "matches#", "label"], r.hits.map((x) => h("tr", {},
          h("td", {}, unitLink(x.id)), h("td.num", {}, fmt(x.max)), h("td.num", {}, fmt(x.mean, 3)), h("td.num", {}, pct(x.density)),
          h("td.mono", {}, showTok(x.top_token || "")), h("td.num", {}, x.matches || ""), h("td", {}, x.label || "")))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  show(h("h1", {}, "Search units"), form, out);
  if ([...q.keys()].length) run(q);
}

async function pageExplore() {
  const q = new URLSearchParams(location.search);
  const o = await overview();
  if (isImageModel(o)) return pageExploreImage(o, q);
  const layers = o.model ? o.model.dims.n_layers : 0;
  const prompt = h("textarea#prompt", { rows: 3 });
  prompt.value = q.get("prompt") || "Once upon a time, there was a little girl named Lily.";
  const units = h("input#units", { size: 48, value: q.get("units") || "", placeholder: "blocks.0.mlp.hook_post:5, …" });
  const attn = h("select#attn-layer", {}, [h("option", { value: -1 }, "none"), ...Array.from({ length: layers }, (_, l) => h("option", { value: l }, `layer ${l}`))]);
  attn.value = "0";
  const btn = h("button#run", { type: "submit" }, "Run");
  const out = h("div#explore-out");
  const form = h("form", {}, h("label", {}, "prompt", prompt),
    h("div.row", { style: { display: "flex", gap: "10px", alignItems: "flex-end", marginTop: "8px" } },
      h("label", {}, "units to trace (HOOK:UNIT, comma-separated)", units), h("label", {}, "attention", attn), btn));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { prompt: prompt.value, units: units.value.split(",").map((s) => s.trim()).filter(Boolean), attn_layer: Number(attn.value), top: 5 };
    out.replaceChildren(h("p.muted", {}, "Running…"));
    try { out.replaceChildren(...exploreResult(await busy(btn, api("/api/run", body)))); } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Prompt explorer"), form, out);
  if (q.get("units") || q.get("prompt")) btn.click();
}

function exploreResult(r) {
  const texts = r.tokens.map((t) => t.text);
  const kids = [h("h2", {}, `Next token`), h("p.toks#next", {}, r.next.map((t) => h("span.pill", {}, `${showTok(t.token)} ${(100 * t.prob).toFixed(1)}%`)))];
  if (r.units.length) {
    kids.push(h("h2", {}, "Chosen units"));
    for (const u of r.units) {
      const scale = u.atlas_max ?? Math.max(...u.acts, 0);
      kids.push(h("div.ex.unit-trace", {}, h("span.lab", {}, unitLink(u.id)), tokenSpans(texts, u.acts, scale, -1)));
    }
  }
  kids.push(h("h2", {}, "Top units at each token"), h("p.muted", {}, `ranked by activation ÷ the unit's atlas maximum, over ${r.top_hooks.length} hook(s)`));
  kids.push(table(["#", "token", "top units"], r.top.map((units, i) => h("tr.top-row", {},
    h("td.num", {}, i), h("td.mono", {}, JSON.stringify(texts[i])),
    h("td", {}, units.map((u) => h("span.pill", {}, unitLink(u.id), ` ${fmt(u.act, 3)}`, u.frac != null ? ` (${(100 * u.frac).toFixed(0)}%)` : "")))))));
  if (r.attention) {
    const n = texts.length, cell = Math.max(4, Math.min(14, Math.floor(220 / n)));
    kids.push(h("h2", {}, `Attention patterns, layer ${r.attention.layer}`));
    kids.push(h("div.heads#heads", {}, r.attention.pattern.map((pat, head) => {
      const svg = h("svg", { width: n * cell, height: n * cell });
      pat.forEach((row, qi) => row.forEach((v, ki) => {
        if (ki > qi) return;
        svg.append(h("rect", { x: ki * cell, y: qi * cell, width: cell, height: cell, fill: `rgba(124,58,237,${v.toFixed(3)})` },
          h("title", {}, `head ${head}: ${JSON.stringify(texts[qi])} → ${JSON.stringify(texts[ki])}: ${v.toFixed(3)}`)));
      }));
      return h("figure", {}, h("figcaption", {}, `head ${head}`), svg);
    })));
  }
  return kids;
}

async function pageIntervene() {
  const q = new URLSearchParams(location.search);
  const o = await overview();
  if (isImageModel(o)) return pageInterveneImage(o, q);
  const prompt = h("textarea#iv-prompt", { rows: 2 });
  prompt.value = q.get("prompt") || "Once upon a time, there was a little";
  const specs = h("textarea#iv-specs", { rows: 3, placeholder: "blocks.3.mlp.hook_post[:,117]=0  (one per line)" });
  specs.value = q.get("spec") || "blocks.4.mlp.hook_post[:,0:20]*=8";
  const maxNew = h("input#iv-max-new", { type: "number", value: 16, min: 0, max: 48, style: { width: "70px" } });
  const btn = h("button#apply", { type: "submit" }, "Apply");
  const out = h("div#iv-out");
  const form = h("form", {}, h("label", {}, "prompt", prompt), h("label", {}, "interventions (the CLI's --intervene language, one per line)", specs),
    h("div", { style: { display: "flex", gap: "10px", alignItems: "flex-end", marginTop: "8px" } }, h("label", {}, "generate tokens", maxNew), btn));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { prompt: prompt.value, specs: specs.value.split("\n").map((s) => s.trim()).filter(Boolean), max_new: Number(maxNew.value) };
    out.replaceChildren(h("p.muted", {}, "Running…"));
    try { out.replaceChildren(...interveneResult(await busy(btn, api("/api/intervene", body)), body.prompt)); } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Intervention playground"), form, out);
}

function interveneResult(r, prompt) {
  const dist = (title, list) => h("div", {}, h("h3", {}, title), table(["token", "p#", ""], list.map((t) => h("tr", {},
    h("td.mono", {}, JSON.stringify(t.token)), h("td.num", {}, (100 * t.prob).toFixed(2) + "%"),
    h("td", {}, h("span.bar", { style: { width: `${Math.round(160 * t.prob)}px` } }))))));
  return [
    h("p", {}, "applied: ", r.specs.map((s) => h("span.pill", {}, s)), `  KL(base ‖ intervened) = ${fmt(r.kl, 3)} nats`),
    h("div.grid2", {}, dist("Next token: baseline", r.base), dist("Next token: with interventions", r.after)),
    h("h2", {}, "Largest changes"),
    table(["token", "baseline#", "intervened#", "Δ#"], r.changes.slice(0, 12).map((c) => h("tr.change", {},
      h("td.mono", {}, JSON.stringify(c.token)), h("td.num", {}, pct(c.base)), h("td.num", {}, pct(c.after)),
      h("td.num" + (c.delta >= 0 ? ".pos" : ".neg"), {}, (c.delta >= 0 ? "+" : "") + (100 * c.delta).toFixed(2))))),
    h("h2", {}, "Generated (greedy)"),
    h("div.grid2", {},
      h("div", {}, h("h3", {}, "baseline"), h("div.gen", {}, prompt, h("span.new#gen-base", {}, r.base_text))),
      h("div", {}, h("h3", {}, "with interventions"), h("div.gen", {}, prompt, h("span.new#gen-after", {}, r.after_text)))),
  ];
}

async function pagePatch() {
  const o = await overview();
  const kids = [h("h1", {}, "Activation patching")];
  if (o.patch_file) {
    try {
      const f = await api("/api/patch/file");
      kids.push(h("h2", {}, `Loaded result: ${f.name}`), f.grid ? heatmap(f.grid) : h("pre", {}, JSON.stringify(f.result, null, 1).slice(0, 4000)));
    } catch (e) { kids.push(errorBox(e)); }
  }
  const inp = (id, v, size = 50) => h("input", { id, value: v, size });
  const clean = inp("p-clean", "Lily and Tim went to the park. Tim gave the ball to"), corrupt = inp("p-corrupt", "Lily and Tim went to the park. Lily gave the ball to");
  const metric = inp("p-metric", "logit-diff:Lily,Tim", 24);
  const hook = h("select#p-hook", {}, ["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z", "mlp_post"].map((x) => h("option", {}, x)));
  const per = h("select#p-per", {}, ["pos", "head", "layer"].map((x) => h("option", {}, x)));
  const btn = h("button#p-run", { type: "submit" }, "Patch");
  const out = h("div#patch-out");
  const form = h("form.row", {}, h("label", {}, "clean", clean), h("label", {}, "corrupt", corrupt),
    h("label", {}, "metric (logit-diff:A,B)", metric), h("label", {}, "hook", hook), h("label", {}, "per", per), btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(h("p.muted", {}, "Patching…"));
    const body = { clean: clean.value, corrupt: corrupt.value, metric: metric.value.trim(), hook: hook.value, per: per.value };
    try {
      const r = await busy(btn, api("/api/patch", body));
      out.replaceChildren(h("p.muted", {}, `metric clean ${fmt(r.clean_metric)}, corrupt ${fmt(r.corrupt_metric)}; ${r.patched_rows} patched rows in ${r.seconds.toFixed(2)} s`), heatmap(r.grid));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  kids.push(h("h2", {}, "Run a sweep"), h("p.muted", {}, "One clean/corrupt pair; the same sweep as glia patch."), form, out);
  show(...kids);
}

// pageAttribute explains one target of a prompt: the prompt token by token
// (IG or gradient × activation at a hook, summed per position) and the
// final residual stream component by component (DLA), and, given a corrupt
// prompt, the units attribution patching ranks. All from /api/attribute.
async function pageAttribute() {
  const q = new URLSearchParams(location.search);
  const o = await overview();
  // Gradients are summed per position, the hook's axis 1: hooks whose axis
  // 1 is not the position (attention patterns and scores) are left out.
  const hooks = o.hooks.filter((x) => x.shape && !/hook_(pattern|attn_scores)$/.test(x.name)).map((x) => x.name);
  const inp = (id, v, ph, size = 22) => h("input", { id, value: v, placeholder: ph, size });
  const prompt = h("textarea#a-prompt", { rows: 2 });
  prompt.value = q.get("prompt") || "Once upon a time, there was a little girl named Lily. She";
  const target = inp("a-target", q.get("target") || "", "top token", 12);
  const metric = inp("a-metric", q.get("metric") || "", "logit-diff:A,B");
  const pos = inp("a-pos", q.get("pos") || "", "last", 5);
  const method = h("select#a-method", {}, [["ig", "integrated gradients"], ["gradxact", "gradient × activation"]].map(([v, t]) => h("option", { value: v }, t)));
  method.value = q.get("method") || "ig";
  const hook = h("select#a-hook", {}, hooks.map((x) => h("option", {}, x)));
  hook.value = hooks.includes(q.get("hook")) ? q.get("hook") : "hook_embed";
  const corrupt = inp("a-corrupt", q.get("corrupt") || "", "optional: AtP against this prompt", 40);
  // AtP's nodes: neurons, heads (their queries and keys, where AtP*'s QK fix
  // matters) or residual positions.
  const atpNodes = h("select#a-atp-nodes", {}, [["neurons", "neurons"], ["heads", "heads (q, k)"], ["pos", "residual positions"]].map(([v, t]) => h("option", { value: v }, t)));
  atpNodes.value = q.get("atp_nodes") || "neurons";
  const star = h("input#a-star", { type: "checkbox" });
  star.checked = q.get("star") === "1";
  const atpHook = { neurons: "blocks.*.mlp.hook_post", heads: "blocks.*.attn.hook_q,blocks.*.attn.hook_k", pos: "blocks.*.hook_resid_pre" };
  const btn = h("button#a-run", { type: "submit" }, "Attribute");
  const out = h("div#attr-out");
  const form = h("form", {}, h("label", {}, "prompt", prompt),
    h("div.row", { style: { display: "flex", flexWrap: "wrap", gap: "10px", alignItems: "flex-end", marginTop: "8px" } },
      h("label", {}, "target token", target), h("label", {}, "or metric", metric), h("label", {}, "position", pos),
      h("label", {}, "tokens by", method), h("label", {}, "at hook", hook), h("label", {}, "corrupt prompt (AtP)", corrupt),
      h("label", {}, "AtP nodes", atpNodes), h("label", { title: "AtP*: QK fix and GradDrop (Kramár et al. 2024)" }, star, " AtP*"), btn));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries({ prompt, target, metric, pos, method, hook, corrupt })) if (el.value) p.set(k, el.value);
    if (corrupt.value) { p.set("atp_nodes", atpNodes.value); if (star.checked) p.set("star", "1"); }
    history.replaceState(null, "", "/attribute?" + p);
    const base = { prompt: prompt.value, target: target.value, metric: metric.value.trim(), pos: pos.value === "" ? null : Number(pos.value) };
    out.replaceChildren(h("p.muted", {}, "Attributing…"));
    try {
      const calls = [
        api("/api/attribute", { ...base, method: method.value, hook: hook.value, top: 12 }),
        api("/api/attribute", { ...base, method: "dla", top: 200 }),
      ];
      if (corrupt.value) {
        calls.push(api("/api/attribute", { ...base, method: "atp", corrupt: corrupt.value, top: 15, hook: atpHook[atpNodes.value],
          per: atpNodes.value === "pos" ? "pos" : "unit", star: star.checked }));
      }
      const res = await busy(btn, Promise.all(calls));
      if (res[2]) res[2].star = star.checked;
      out.replaceChildren(...attributeResult(...res));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Attribution"),
    h("p.muted", {}, "Which tokens and which components drive one output: the same methods as glia attribute (docs/attribution.md)."), form, out);
  if (q.get("prompt")) btn.click();
}

// neuronOf links a DLA neuron (L3N17) to its neuron page.
function neuronOf(name) {
  const m = /^L(\d+)N(\d+)$/.exec(name);
  if (!m) return null;
  const id = `blocks.${m[1]}.mlp.hook_post:${m[2]}`;
  return h("a.mono", { href: linkOf(id), title: id }, name);
}

// scoreBar is a bar as long as |v| / lim, red when positive, blue when not.
function scoreBar(v, lim) {
  return h("span.bar", { style: { width: `${Math.round(140 * Math.min(1, Math.abs(v) / lim))}px`, background: diverging(Math.sign(v) * 0.8, 1) } });
}

function scoreTable(id, head, rows, lim) {
  return h("table#" + id, {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)), h("th.num", {}, "score"), h("th", {}, ""))),
    h("tbody", {}, rows.map(([cells, v]) => h("tr.comp-row", {}, cells.map((c) => h("td.mono", {}, c)),
      h("td.num" + (v >= 0 ? ".pos" : ".neg"), {}, (v >= 0 ? "+" : "") + fmt(v, 3)), h("td", {}, scoreBar(v, lim))))));
}

const absMax = (xs) => Math.max(1e-9, ...xs.map((x) => Math.abs(x)));

function attributeResult(grad, dla, atp) {
  const texts = grad.tokens.map((t) => t.text);
  const lim = absMax(grad.by_pos);
  const check = grad.method === "ig" ? `relative completeness delta ${pct(grad.check)}` : `Σ attributions ${fmt(grad.sum)}`;
  const kids = [
    h("p#attr-target", {}, h("b", {}, grad.target), `  value ${fmt(grad.value)}`),
    h("h2", {}, "Token by token"),
    h("p.muted", {}, `${grad.method === "ig" ? "Integrated gradients" : "Gradient × activation"}, summed over the hook's other axes per token; red raises the target, blue lowers it (|max| ${fmt(lim, 3)}; ${check}).`),
    h("p.toks#attr-tokens", {}, texts.map((t, i) => h("span.tok", {
      title: `${JSON.stringify(t)}  ${fmt(grad.by_pos[i])}`, "data-attr": grad.by_pos[i],
      style: { background: diverging(grad.by_pos[i], lim) },
    }, showTok(t)))),
    h("h3", {}, "Top elements of the hook"),
    scoreTable("attr-elements", ["index", "token"], grad.components.map((c) => {
      const at = c.name.slice(1, -1).split(" ").map(Number);
      return [[c.name, JSON.stringify(texts[at[1]] ?? "")], c.score];
    }), absMax(grad.components.map((c) => c.score))),
  ];
  const comps = dla.components;
  const dlim = absMax(comps.map((c) => c.score));
  const pick = (re, n) => comps.filter((c) => re.test(c.name)).slice(0, n);
  kids.push(
    h("h2", {}, "Component by component (direct logit attribution)"),
    h("p.muted", {}, `target ${fmt(dla.value)} = Σ over every component and bias ${fmt(dla.sum)} (completeness ${fmt(dla.check, 2)}); the ${comps.length} largest are listed`),
    h("div.grid2", {},
      h("div", {}, h("h3", {}, "Top components"), scoreTable("dla-top", ["component"], comps.slice(0, 15).map((c) => [[neuronOf(c.name) || c.name], c.score]), dlim)),
      h("div", {},
        h("h3", {}, "Top heads"), scoreTable("dla-heads", ["head"], pick(/^L\d+H\d+$/, 8).map((c) => [[c.name], c.score]), dlim),
        h("h3", {}, "Top neurons"), scoreTable("dla-neurons", ["neuron"], pick(/^L\d+N\d+$/, 8).map((c) => [[neuronOf(c.name)], c.score]), dlim))));
  if (atp) {
    kids.push(h("h2", {}, atp.star ? "Attribution patching (AtP*)" : "Attribution patching"),
      h("p.muted", {}, `clean ${fmt(atp.value)}; Spearman ρ of estimate and real patching over the re-checked top units ${fmt(atp.check, 3)}`),
      h("table#atp-rows", {}, h("thead", {}, h("tr", {}, h("th", {}, "unit"), h("th.num", {}, "estimate"), h("th.num", {}, "real"))),
        h("tbody", {}, atp.components.map((c) => h("tr.comp-row", {}, h("td", {}, unitLink(c.name)),
          h("td.num", {}, fmt(c.score, 3)), h("td.num", {}, c.real == null ? "" : fmt(c.real, 3)))))));
  }
  const notes = [...(grad.notes || []), ...(dla.notes || [])];
  if (notes.length) kids.push(h("h3", {}, "Notes"), h("ul.muted", {}, notes.map((n) => h("li", {}, n))));
  return kids;
}

// pageCompare is glia compare on the server's model: layer × layer (or
// hooks × hooks) similarity over the prompts typed in, from /api/compare.
async function pageCompare() {
  const inp = (id, v, size = 28) => h("input", { id, value: v, size });
  const prompts = h("textarea#c-prompts", { rows: 6 });
  prompts.value = ["Once upon a time", "Lily went to the park", "The dog ran after the ball", "She saw a little bird",
    "Tom had a red ball", "The sun was hot", "Mom made a big cake", "The cat sat on the mat"].join("\n");
  const a = inp("c-a", "blocks.*.hook_resid_post"), b = inp("c-b", "", 28);
  b.placeholder = "(same as rows)";
  const sel = (id, opts, v) => { const e = h("select#" + id, {}, opts.map((x) => h("option", {}, x))); e.value = v; return e; };
  const method = sel("c-method", ["cka", "cka-debiased", "cka-rbf", "rsa", "encoding", "pls"], "cka");
  const pool = sel("c-pool", ["last", "mean"], "mean");
  const rdm = sel("c-rdm", ["correlation", "euclidean", "cosine"], "correlation");
  const comp = sel("c-compare", ["spearman", "pearson", "cosine", "rho-a", "tau-a", "tau-b", "cosine-whitened", "pearson-whitened"], "spearman");
  const btn = h("button#c-run", { type: "submit" }, "Compare");
  const out = h("div#compare-out");
  const form = h("form", {}, h("label", {}, "prompts (one per line: the stimuli)", prompts),
    h("div.row", { style: { display: "flex", flexWrap: "wrap", gap: "10px", alignItems: "flex-end", marginTop: "8px" } },
      h("label", {}, "rows: hooks", a), h("label", {}, "columns: hooks", b), h("label", {}, "method", method),
      h("label", {}, "pool", pool), h("label", {}, "RDM (rsa)", rdm), h("label", {}, "compare (rsa)", comp), btn));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(h("p.muted", {}, "Comparing…"));
    const body = { a: a.value.trim(), b: b.value.trim(), method: method.value, pool: pool.value, rdm: rdm.value, compare: comp.value,
      prompts: prompts.value.split("\n").map((x) => x.trim()).filter((x) => x) };
    try {
      const r = await busy(btn, api("/api/compare", body));
      out.replaceChildren(heatmap(r));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Compare representations"),
    h("p.muted", {}, "CKA, RSA, ridge and PLS encoding scores between hooks over these prompts, as glia compare (docs/compare.md); recordings and noise ceilings through the API or the CLI."),
    form, out);
}

// pageConcepts is glia concepts on the server's model: each concept's texts
// (one window each) contrasted with the others' to find its units, then the
// units deactivated on every corpus (POST /api/concepts, docs/concepts.md).
async function pageConcepts() {
  const defaults = [
    ["animals", "The dog ran after the ball\nThe cat sat on the mat\nA bird sang in the tree\nThe fish swam in the pond\nThe puppy barked at the cat\nThe rabbit hopped in the grass"],
    ["food", "Mom made a big cake\nThey ate apples and bread\nThe soup was hot and good\nShe had milk and cookies\nDad cooked eggs for breakfast\nThe pie smelled sweet"],
    ["", ""],
  ];
  const blocks = defaults.map(([name, texts], i) => {
    const n = h("input#k-name" + i, { value: name, size: 14, placeholder: "concept name" });
    const t = h("textarea#k-texts" + i, { rows: 6, cols: 34, placeholder: "texts, one per line" });
    t.value = texts;
    return { n, t, el: h("div", {}, h("label", {}, "concept", n), t) };
  });
  const sel = (id, opts, v) => { const e = h("select#" + id, {}, opts.map((x) => h("option", {}, x))); e.value = v; return e; };
  const method = sel("k-method", ["mean-diff", "freq-diff", "auroc", "lape", "lna", "culnig"], "mean-diff");
  const verify = sel("k-verify", ["zero", "aura", "none"], "zero");
  const hooks = h("input#k-hooks", { value: "blocks.*.mlp.hook_post", size: 24 });
  const rate = h("input#k-rate", { value: "0.01", size: 6 });
  const btn = h("button#k-run", { type: "submit" }, "Find concept units");
  const out = h("div#concepts-out");
  const form = h("form", {}, h("div.row", { style: { display: "flex", flexWrap: "wrap", gap: "12px" } }, blocks.map((b) => b.el)),
    h("div.row", { style: { display: "flex", flexWrap: "wrap", gap: "10px", alignItems: "flex-end", marginTop: "8px" } },
      h("label", {}, "method", method), h("label", {}, "units (hooks)", hooks), h("label", {}, "rate", rate),
      h("label", {}, "verify", verify), btn));
  const fmt = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x)) ? "–" : Number(x).toFixed(d);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(h("p.muted", {}, "Collecting activations, finding units, verifying…"));
    const corpora = blocks.filter((b) => b.n.value.trim() && b.t.value.trim()).map((b) => ({
      name: b.n.value.trim(), texts: b.t.value.split("\n").map((x) => x.trim()).filter((x) => x) }));
    const body = { corpora, methods: method.value, hooks: hooks.value.trim(), rate: Number(rate.value) || 0, verify: verify.value };
    try {
      const r = await busy(btn, api("/api/concepts", body));
      const parts = [];
      for (const m of r.report.methods) {
        parts.push(h("h2", {}, m.method));
        const rows = m.units.map((u) => h("tr", {}, h("td", {}, u.concept), h("td", {}, h("a", { href: u.link }, u.name)),
          h("td.num", {}, fmt(u.score)), h("td.num", {}, fmt(u.mean)), h("td.num", {}, fmt(u.mean_rest))));
        parts.push(h("table#k-units", {}, h("thead", {}, h("tr", {}, ["concept", "unit", "score", "mean", "mean (rest)"].map((x) => h("th", {}, x)))),
          h("tbody", {}, rows)));
        for (const mx of m.verify || []) {
          const max = Math.max(1e-9, ...mx.cells.flat().map((c) => Math.abs(c.delta)));
          const head = h("tr", {}, h("th", {}, "units of ↓ / loss on →"), mx.corpora.map((c) => h("th", {}, c)));
          const body = mx.cells.map((row, i) => h("tr", {}, h("th", {}, mx.concepts[i]), row.map((c) => {
            const a = Math.min(1, Math.abs(c.delta) / max);
            const bg = c.delta >= 0 ? `rgba(220,40,40,${a})` : `rgba(40,90,220,${a})`;
            return h("td.num.k-cell", { style: { background: bg, fontWeight: c.corpus === mx.concepts[i] ? "bold" : "normal" },
              title: `loss ${fmt(c.loss_before)} → ${fmt(c.loss_after)} (${c.units} units, ± ${fmt(c.stderr, 4)})` }, (c.delta >= 0 ? "+" : "") + fmt(c.delta));
          })));
          parts.push(h("p.muted", {}, `next-token loss change with each concept's units set by "${mx.mode}" (rows) on each corpus (columns); own cells in bold`),
            h("table#k-matrix", {}, h("thead", {}, head), h("tbody", {}, body)));
        }
      }
      parts.push(h("p.muted", {}, `${r.seconds.toFixed(2)} s`));
      out.replaceChildren(...parts);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Concept neurons"),
    h("p.muted", {}, "Units that respond to one concept's texts more than to the others', found by contrast and checked by deactivating them (as glia concepts; docs/concepts.md)."),
    form, out);
}

// ---- router ----

async function route() {
  const p = location.pathname;
  let page = "overview";
  document.title = "glia";
  try {
    if (p.startsWith("/neuron/")) {
      page = "neuron";
      const rest = decodeURIComponent(p.slice("/neuron/".length));
      const i = rest.lastIndexOf("/");
      await pageNeuron(rest.slice(0, i), rest.slice(i + 1));
    } else if (p === "/search") { page = "search"; await pageSearch(); }
    else if (p === "/explore") { page = "explore"; await pageExplore(); }
    else if (p === "/intervene") { page = "intervene"; await pageIntervene(); }
    else if (p === "/patch") { page = "patch"; await pagePatch(); }
    else if (p === "/attribute") { page = "attribute"; await pageAttribute(); }
    else if (p === "/compare") { page = "compare"; await pageCompare(); }
    else if (p === "/attrgraph") { page = "attrgraph"; await pageAttrGraph(); }
    else if (p === "/concepts") { page = "concepts"; await pageConcepts(); }
    else await pageOverview();
  } catch (e) { show(errorBox(e)); }
  for (const a of document.querySelectorAll("nav a[data-page]")) a.classList.toggle("active", a.dataset.page === page);
  document.body.dataset.page = page;
  document.body.dataset.ready = "1";
}

function navigate(href) { history.pushState(null, "", href); document.body.dataset.ready = ""; route(); }

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || a.target || ev.ctrlKey || ev.metaKey || ev.shiftKey || a.origin !== location.origin) return;
  ev.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener("popstate", route);
document.getElementById("goto").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = document.getElementById("goto-unit").value.trim();
  if (v.includes(":")) navigate(linkOf(v));
});
document.getElementById("auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("glia-token", document.getElementById("auth-token").value);
  document.getElementById("auth").hidden = true;
  overviewCache = null;
  route();
});
if (location.hash.startsWith("#token=")) {
  sessionStorage.setItem("glia-token", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
}
overview().then((o) => {
  document.getElementById("model-tag").textContent = o.model ? o.model.name : o.atlas ? o.atlas.model_name : "";
}).catch(() => {});
route();
