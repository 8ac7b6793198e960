// Image models (ViT, CNN) in the prompt explorer and the intervention
// playground: an uploaded image (or an image atlas exemplar, ?exemplar=PNG
// path) instead of a prompt; the top classes, the chosen hook's most active
// units as maps over its grid (a CNN channel's h×w, a ViT unit per patch),
// and Grad-CAM. Loaded after imgatlas.js (pngData) and before app.js, whose
// h, fmt, api, busy and errorBox it uses once the page is drawn.
"use strict";

// isImageModel: the model reads pixels (its input hook is hook_pixels).
function isImageModel(o) { return !!o.model && o.hooks.some((x) => x.name === "hook_pixels"); }

// imageHooks are the hooks whose values lie on a grid or are per unit:
// [1, c, h, w], a ViT's [1, positions, ...], or [1, features].
function imageHooks(o) {
  return o.hooks.filter((x) => x.shape && x.name !== "hook_pixels" && !/hook_(pattern|attn_scores)$/.test(x.name)).map((x) => x.name);
}

// imagePicker is a file input with a preview; value() is the image as a
// data: URL (which the API takes in "image"), or "" before one is chosen.
function imagePicker(id, q) {
  let data = "";
  const preview = h("img#" + id + "-preview", { alt: "input image", width: 112, height: 112,
    style: { imageRendering: "pixelated", border: "1px solid var(--line)", display: "none", objectFit: "contain" } });
  const input = h("input#" + id, { type: "file", accept: "image/png,image/jpeg" });
  const set = (url) => { data = url; preview.src = url; preview.style.display = url ? "block" : "none"; };
  input.addEventListener("change", () => {
    const f = input.files[0];
    if (!f) return;
    const r = new FileReader();
    r.onload = () => set(r.result);
    r.readAsDataURL(f);
  });
  // An exemplar of the image atlas, as stored (no mask or tint, one pixel per pixel).
  const ready = q.get("exemplar") ? pngData(q.get("exemplar").split("?")[0] + "?raw=1").then(set) : Promise.resolve();
  return { el: h("div", { style: { display: "flex", gap: "10px", alignItems: "flex-end" } }, h("label", {}, "image (PNG or JPEG)", input), preview), value: () => data, ready };
}

// mapCanvas draws a grid of values, white at lo to purple at hi.
function mapCanvas(values, gh, gw, lo, hi, cell) {
  const c = h("canvas.unit-map", { width: gw * cell, height: gh * cell, style: { border: "1px solid var(--line)", imageRendering: "pixelated" } });
  const ctx = c.getContext("2d");
  values.forEach((v, i) => {
    const f = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
    ctx.fillStyle = `rgba(124,58,237,${f.toFixed(3)})`;
    ctx.fillRect((i % gw) * cell, Math.floor(i / gw) * cell, cell, cell);
  });
  return c;
}

function classPills(list, id) {
  return h("p.toks#" + id, {}, list.map((t) => h("span.pill", { "data-class": t.id }, `${t.token} ${(100 * t.prob).toFixed(1)}%`)));
}

async function pageExploreImage(o, q) {
  const hooks = imageHooks(o);
  const pick = imagePicker("image", q);
  const unitsQ = q.get("units") || "";
  // Default: the server's choice, Grad-CAM's hook (the last spatial one).
  const hook = h("select#img-hook", {}, h("option", { value: "" }, "default (Grad-CAM's)"), hooks.map((x) => h("option", {}, x)));
  const unitHook = unitsQ.includes(":") ? unitsQ.slice(0, unitsQ.split(",")[0].lastIndexOf(":")) : "";
  hook.value = q.get("hook") || (hooks.includes(unitHook) ? unitHook : "");
  const units = h("input#units", { size: 40, value: unitsQ, placeholder: "HOOK:UNIT, …" });
  const cls = h("input#cam-class", { size: 4, placeholder: "top" });
  const method = h("select#cam-method", {}, ["gradcam", "hirescam"].map((x) => h("option", {}, x)));
  const btn = h("button#run", { type: "submit" }, "Run");
  const camBtn = h("button#gradcam", { type: "button" }, "Grad-CAM");
  const out = h("div#explore-out"), camOut = h("div#gradcam-out");
  const form = h("form", {}, pick.el,
    h("div.row", { style: { display: "flex", gap: "10px", alignItems: "flex-end", marginTop: "8px", flexWrap: "wrap" } },
      h("label", {}, "hook to show", hook), h("label", {}, "units to trace (HOOK:UNIT, comma-separated)", units), btn,
      h("label", {}, "Grad-CAM class", cls), h("label", {}, "method", method), camBtn));
  const image = () => {
    if (!pick.value()) throw new Error("choose an image first");
    return pick.value();
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const body = { image: image(), hook: hook.value, units: units.value.split(",").map((s) => s.trim()).filter(Boolean), top: 12 };
      out.replaceChildren(h("p.muted", {}, "Running…"));
      out.replaceChildren(...imageExploreResult(await busy(btn, api("/api/run", body))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  camBtn.addEventListener("click", async () => {
    try {
      const px = o.hooks.find((x) => x.name === "hook_pixels").shape; // [1, c, h, w]
      const body = { image: image(), method: method.value, scale: Math.max(1, Math.min(16, Math.round(280 / Math.max(px[2], px[3])))) };
      if (cls.value.trim() !== "") body.class = Number(cls.value);
      camOut.replaceChildren(h("p.muted", {}, "Computing…"));
      camOut.replaceChildren(...gradcamResult(await busy(camBtn, api("/api/gradcam", body))));
    } catch (e) { camOut.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Image explorer"), h("p.muted", {}, `${o.model.name} reads images: upload one, or open an image atlas exemplar's "run in explorer".`), form, out, camOut);
  await pick.ready;
  if (pick.value()) btn.click();
}

function imageExploreResult(r) {
  const im = r.image;
  const cell = Math.max(4, Math.min(12, Math.floor(112 / Math.max(im.grid_h, im.grid_w))));
  const kids = [h("h2", {}, "Top classes"), classPills(r.next, "next")];
  const card = (id, map, act, scale) => h("figure.unit-card", { style: { margin: "0" }, "data-unit": id, "data-act": act },
    mapCanvas(map, im.grid_h, im.grid_w, 0, scale, cell), h("figcaption", { style: { font: "11px var(--mono)" } }, unitLink(id), h("br"), fmt(act, 3)));
  if (r.units.length) {
    kids.push(h("h2", {}, "Chosen units"));
    kids.push(h("div#chosen", { style: { display: "flex", flexWrap: "wrap", gap: "10px" } }, r.units.map((u) => {
      const mx = Math.max(...u.acts);
      const side = Math.round(Math.sqrt(u.acts.length));
      return h("figure.unit-card", { style: { margin: "0" }, "data-unit": u.id },
        side * side === u.acts.length ? mapCanvas(u.acts, side, side, 0, u.atlas_max ?? mx, cell) : "",
        h("figcaption", { style: { font: "11px var(--mono)" } }, unitLink(u.id), h("br"), `max ${fmt(mx, 3)}`));
    })));
  }
  const where = { channels: "channel maps", patches: "values per patch (CLS left out)", vector: "values" }[im.layout] || im.layout;
  kids.push(h("h2", {}, `Most active units of ${im.hook}`),
    h("p.muted", {}, `${im.units} units, shape [${im.shape.join(", ")}]: ${where} on a ${im.grid_h}×${im.grid_w} grid, ranked by their maximum (÷ the atlas maximum when known); darker is higher, each on its own scale.`),
    h("div#unit-maps", { style: { display: "flex", flexWrap: "wrap", gap: "10px" } },
      r.top[0].map((u, i) => card(u.id, im.maps[i], u.act, u.act))));
  return kids;
}

function gradcamResult(r) {
  return [
    h("h2", {}, `Grad-CAM: class ${r.label} (logit ${fmt(r.logit, 4)})`),
    h("p.muted", {}, `${r.method} at ${r.hook}: ${r.weights.length} channels on a ${r.grid_h}×${r.grid_w} grid${r.patches ? " (patches, CLS dropped)" : ""}; red is where the class's evidence lies.`),
    h("img#gradcam-overlay", { src: "data:image/png;base64," + r.overlay, alt: "Grad-CAM overlay", style: { imageRendering: "pixelated", border: "1px solid var(--line)" } }),
    classPills(r.classes, "cam-classes"),
  ];
}

// pageInterveneImage is the playground for an image model: the class
// distribution without and with the interventions (HOOK[:,c]=0 zeroes a
// CNN's channel c, or a ViT unit at every position).
async function pageInterveneImage(o, q) {
  const pick = imagePicker("iv-image", q);
  const specs = h("textarea#iv-specs", { rows: 3, placeholder: "layers.4.relu.hook_out[:,7]=0  (one per line)" });
  specs.value = q.get("spec") || "";
  const btn = h("button#apply", { type: "submit" }, "Apply");
  const out = h("div#iv-out");
  const form = h("form", {}, pick.el, h("label", {}, "interventions (the CLI's --intervene language, one per line)", specs), btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      if (!pick.value()) throw new Error("choose an image first");
      const body = { image: pick.value(), specs: specs.value.split("\n").map((s) => s.trim()).filter(Boolean) };
      out.replaceChildren(h("p.muted", {}, "Running…"));
      const r = await busy(btn, api("/api/intervene", body));
      out.replaceChildren(h("p", {}, "applied: ", r.specs.map((s) => h("span.pill", {}, s)), `  KL(base ‖ intervened) = ${fmt(r.kl, 3)} nats`),
        h("div.grid2", {}, h("div", {}, h("h3", {}, "Classes: baseline"), classPills(r.base, "iv-base")),
          h("div", {}, h("h3", {}, "Classes: with interventions"), classPills(r.after, "iv-after"))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  });
  show(h("h1", {}, "Intervention playground"), form, out);
  await pick.ready;
  if (pick.value() && specs.value) btn.click();
}
