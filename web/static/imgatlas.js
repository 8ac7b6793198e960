// Image atlases (glia atlas build --images): a unit's exemplars, the top
// images by spatially max-pooled activation, drawn by the server with the
// unit's mask tinted red (where the map, upsampled to the image, exceeds
// the unit's quantile). Loaded after app.js, whose h, fmt and token it uses.
"use strict";

// pngData fetches an API PNG with the bearer token and returns it as a
// data: URL (the page's CSP allows data: images; <img src> cannot send
// the token).
async function pngData(path) {
  const opts = { headers: {} };
  if (token()) opts.headers["Authorization"] = "Bearer " + token();
  const res = await fetch(path, opts);
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}: ${path}`);
  const blob = await res.blob();
  return new Promise((ok, bad) => {
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = () => bad(r.error);
    r.readAsDataURL(blob);
  });
}

// exemplarParam links an image unit's "run in explorer" and "ablate" to
// its top exemplar (the explorer loads that image); "" for a text unit.
function exemplarParam(n) {
  return n.images && n.images.exemplars.length ? "&exemplar=" + encodeURIComponent(n.images.exemplars[0].png) : "";
}

// imageExemplars draws a unit's exemplars as thumbnails with their masks,
// once every PNG has arrived.
async function imageExemplars(n) {
  const im = n.images;
  const q = im.quantile == null ? "none" : fmt(im.quantile) + (im.quantile_err > 0 ? ` ±${fmt(im.quantile_err, 2)} (${im.quantile_method})` : "");
  const side = Math.max(96, Math.min(168, 6 * Math.max(im.image_w, im.image_h)));
  const urls = await Promise.all(im.exemplars.map((e) => pngData(e.png + "?scale=6")));
  const card = (e, i) => h("figure.exemplar", {
    "data-image": e.image, "data-activation": e.activation,
    style: { margin: "0", width: `${side + 2}px`, font: "11px var(--mono)" },
  },
  h("img", { src: urls[i], width: side, height: Math.round(side * im.image_h / im.image_w), alt: `image ${e.image} with mask`,
    title: `${e.source}\nmax at cell [${e.argmax.join(", ")}] of ${im.grid_h}×${im.grid_w}` + (e.mask_box ? `\nmask x ${e.mask_box[0]}..${e.mask_box[2] - 1}, y ${e.mask_box[1]}..${e.mask_box[3] - 1} (${e.mask_pixels} px)` : "\nmask empty"),
    style: { imageRendering: "pixelated", border: "1px solid var(--line)", display: "block" } }),
  h("figcaption", {}, h("b", {}, fmt(e.activation)), `  #${e.rank} · image ${e.image}`));
  return [
    h("h2", {}, `Exemplars (${im.exemplars.length})`),
    h("p.muted#exemplar-note", {}, `Top images by the unit's maximum over its ${im.grid_h}×${im.grid_w} ${im.layout} grid. `,
      `Red: where the map, upsampled bilinearly to ${im.image_w}×${im.image_h}, exceeds the unit's ${100 * im.quantile_q}th percentile over every position of every image (${q}).`),
    h("div#exemplars", { style: { display: "flex", flexWrap: "wrap", gap: "12px" } }, im.exemplars.map(card)),
  ];
}
