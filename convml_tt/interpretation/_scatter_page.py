"""The page of the interactive scatter: one self-contained HTML document
(inline CSS, plain JavaScript drawing SVG, the data as JSON in the page;
nothing is fetched), filled by :mod:`convml_tt.interpretation.interactive`.

``__TITLE__`` is replaced by the HTML-escaped title and ``__DATA__`` by the
JSON of the points (``</`` escaped so it cannot end the script element).

What the page does: one circle per tile (``circle.pt`` with ``data-tile-id``);
hovering shows the tile's thumbnail and every value it carries (``#tooltip``,
``#tip-img``, ``#tip-table``); a click selects or deselects a tile (``#selected``
lists the selected ids, ready to copy; ``window.convmlScatter.selected()``
returns them); ``#color-by`` colours the points by any coordinate:
categories with a 10-colour palette and a legend, numbers and times with
viridis and a colour bar (grey where a tile has no value).
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px sans-serif;margin:8px;color:#222;background:#fff}
#wrap{display:flex;gap:14px;align-items:flex-start}
#plot{background:#fff;border:1px solid #ccc}
#plot text{font-size:11px;fill:#333}
circle.pt{stroke:#fff;stroke-width:0.6;cursor:pointer}
circle.pt.selected{stroke:#000;stroke-width:2.2}
#hover-ring{fill:none;stroke:#d62728;stroke-width:2.2;pointer-events:none;visibility:hidden}
#tooltip{position:absolute;display:none;pointer-events:none;background:#fff;border:1px solid #888;
  padding:5px;box-shadow:2px 2px 6px rgba(0,0,0,.3);font-size:11px;z-index:10}
#tip-img{display:block;image-rendering:pixelated;width:128px;height:128px;margin-bottom:4px}
#tip-table{border-collapse:collapse}#tip-table td{padding:0 4px;white-space:nowrap}
#tip-table td:first-child{color:#666}
#side{width:270px}
#legend{margin:8px 0;max-height:220px;overflow:auto}
#legend .sw{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:middle}
#colorbar{height:12px;width:230px;border:1px solid #aaa}
#cb-labels{display:flex;justify-content:space-between;width:232px;font-size:11px}
#selected{width:255px;height:70px}
</style></head><body>
<h3 id="title">__TITLE__</h3>
<div id="wrap">
<svg id="plot" width="660" height="520" xmlns="http://www.w3.org/2000/svg"></svg>
<div id="side">
<label>colour by <select id="color-by"></select></label>
<div id="legend"></div>
<p>hover a point: its tile; click: (de)select it.<br>selected tiles: <span id="n-selected">0</span></p>
<textarea id="selected" readonly placeholder="tile ids of the selected points"></textarea><br>
<button id="clear">clear selection</button>
</div></div>
<div id="tooltip"><img id="tip-img" alt="tile"><table id="tip-table"></table></div>
<script type="application/json" id="scatter-data">__DATA__</script>
<script>
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("scatter-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("plot");
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const M = {l: 56, r: 12, t: 12, b: 44};
  const n = D.x.length;
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                   "#b5de2b", "#fde725"];
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
  const MISSING = "#bbbbbb";

  function extent(a) {
    let lo = Infinity, hi = -Infinity;
    for (const v of a) { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    const pad = 0.04 * (hi - lo);
    return [lo - pad, hi + pad];
  }
  const [x0, x1] = extent(D.x), [y0, y1] = extent(D.y);
  const sx = v => M.l + (v - x0) / (x1 - x0) * (W - M.l - M.r);
  const sy = v => H - M.b - (v - y0) / (y1 - y0) * (H - M.t - M.b);
  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    (parent || svg).appendChild(e);
    return e;
  }
  const esc = s => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
                            .replace(/"/g, "&quot;");
  function fmt(v, kind) {
    if (v === null || v === undefined) return "\u2013";
    if (kind === "number" && typeof v === "number" && !Number.isInteger(v)) return +v.toPrecision(4) + "";
    return esc(v);
  }
  // axes: frame, ticks, labels
  el("rect", {x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, fill: "none", stroke: "#999"});
  for (let k = 0; k <= 4; k++) {
    const vx = x0 + (x1 - x0) * (0.05 + 0.225 * k), vy = y0 + (y1 - y0) * (0.05 + 0.225 * k);
    el("line", {x1: sx(vx), x2: sx(vx), y1: H - M.b, y2: H - M.b + 5, stroke: "#999"});
    el("text", {x: sx(vx), y: H - M.b + 17, "text-anchor": "middle"}).textContent = +vx.toPrecision(3);
    el("line", {x1: M.l - 5, x2: M.l, y1: sy(vy), y2: sy(vy), stroke: "#999"});
    el("text", {x: M.l - 7, y: sy(vy) + 4, "text-anchor": "end"}).textContent = +vy.toPrecision(3);
  }
  el("text", {x: (W + M.l - M.r) / 2, y: H - 6, "text-anchor": "middle"}).textContent = D.xlabel;
  el("text", {x: 14, y: (H - M.b + M.t) / 2, "text-anchor": "middle",
              transform: "rotate(-90 14 " + (H - M.b + M.t) / 2 + ")"}).textContent = D.ylabel;

  // points
  const layer = el("g", {id: "points"});
  const circles = [];
  for (let i = 0; i < n; i++) {
    const c = el("circle", {cx: sx(D.x[i]).toFixed(2), cy: sy(D.y[i]).toFixed(2), r: D.radius, "class": "pt",
                            "data-index": i, "data-tile-id": D.tile_id[i]}, layer);
    circles.push(c);
  }
  // the hovered point's ring, drawn above every point (the points keep their order: moving a
  // circle under the pointer would make the browser drop the click on it)
  const ring = el("circle", {id: "hover-ring", r: D.radius + 2});

  // hover: the tile and its values
  const tip = document.getElementById("tooltip"), tipImg = document.getElementById("tip-img");
  const tipTable = document.getElementById("tip-table");
  function showTip(i, ev) {
    tipImg.style.display = D.images[i] ? "block" : "none";
    tipImg.src = D.images[i] ? "data:image/png;base64," + D.images[i] : "";
    tipImg.setAttribute("data-tile-id", D.tile_id[i]);
    let rows = "<tr><td>tile_id</td><td>" + D.tile_id[i] + "</td></tr>";
    for (const f of D.fields) {
      const u = f.units ? " " + f.units : "";
      rows += "<tr><td>" + esc(f.name) + "</td><td>" + fmt(f.values[i], f.kind) +
              (f.values[i] === null ? "" : esc(u)) + "</td></tr>";
    }
    tipTable.innerHTML = rows;
    tip.style.display = "block";
    moveTip(ev);
  }
  function moveTip(ev) {
    const pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    let left = ev.pageX + pad, top = ev.pageY + pad;
    if (left + w > window.scrollX + window.innerWidth) left = ev.pageX - pad - w;
    if (top + h > window.scrollY + window.innerHeight) top = Math.max(window.scrollY, ev.pageY - pad - h);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  // click: select / deselect
  const selected = new Set();
  const selBox = document.getElementById("selected"), nSel = document.getElementById("n-selected");
  function updateSelection() {
    const ids = circles.filter((c, i) => selected.has(i)).map(c => +c.getAttribute("data-tile-id"));
    selBox.value = ids.join(", ");
    nSel.textContent = ids.length;
  }
  circles.forEach((c, i) => {
    c.addEventListener("mouseenter", ev => {
      ring.setAttribute("cx", c.getAttribute("cx"));
      ring.setAttribute("cy", c.getAttribute("cy"));
      ring.style.visibility = "visible";
      showTip(i, ev);
    });
    c.addEventListener("mousemove", moveTip);
    c.addEventListener("mouseleave", () => { ring.style.visibility = "hidden"; tip.style.display = "none"; });
    c.addEventListener("click", () => {
      if (selected.has(i)) { selected.delete(i); c.classList.remove("selected"); }
      else { selected.add(i); c.classList.add("selected"); }
      updateSelection();
    });
  });
  document.getElementById("clear").addEventListener("click", () => {
    selected.clear();
    circles.forEach(c => c.classList.remove("selected"));
    updateSelection();
  });

  // colour by a coordinate
  function hex(c) { return [1, 3, 5].map(k => parseInt(c.slice(k, k + 2), 16)); }
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const k = Math.min(Math.floor(t), VIRIDIS.length - 2), f = t - k;
    const a = hex(VIRIDIS[k]), b = hex(VIRIDIS[k + 1]);
    return "rgb(" + a.map((v, j) => Math.round(v + f * (b[j] - v))).join(",") + ")";
  }
  const legend = document.getElementById("legend");
  function colourBy(name) {
    const f = D.fields.find(g => g.name === name);
    legend.innerHTML = "";
    if (!f) { circles.forEach(c => c.setAttribute("fill", TAB10[0])); return; }
    if (f.kind === "category") {
      const cats = [...new Set(f.values.filter(v => v !== null))].sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
      const col = new Map(cats.map((v, k) => [v, TAB10[k % TAB10.length]]));
      circles.forEach((c, i) => c.setAttribute("fill", f.values[i] === null ? MISSING : col.get(f.values[i])));
      legend.innerHTML = cats.map(v => '<div><span class="sw" style="background:' + col.get(v) + '"></span>' +
                                       esc(v) + "</div>").join("");
      return;
    }
    const num = f.values.map(v => v === null ? null : (f.kind === "time" ? Date.parse(v + "Z") : v));
    let lo = Infinity, hi = -Infinity;
    for (const v of num) if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi > lo ? hi - lo : 1;
    circles.forEach((c, i) => c.setAttribute("fill", num[i] === null || !isFinite(num[i]) ? MISSING
                                                     : viridis((num[i] - lo) / span)));
    const label = v => f.kind === "time" ? new Date(v).toISOString().slice(0, 19).replace("T", " ")
                                          : +v.toPrecision(4);
    const stops = VIRIDIS.map((c, k) => c + " " + (100 * k / (VIRIDIS.length - 1)) + "%").join(",");
    legend.innerHTML = '<div id="colorbar" style="background:linear-gradient(to right,' + stops + ')"></div>' +
      '<div id="cb-labels"><span>' + (lo === Infinity ? "" : label(lo)) + "</span><span>" +
      (hi === -Infinity ? "" : label(hi)) + "</span></div>" + (f.units ? "<div>" + esc(f.units) + "</div>" : "");
  }
  const select = document.getElementById("color-by");
  select.innerHTML = '<option value="">(one colour)</option>' + D.fields.map(
    f => '<option value="' + esc(f.name) + '">' + esc(f.name) + "</option>").join("");
  select.value = D.color_by || "";
  select.addEventListener("change", () => colourBy(select.value));
  colourBy(select.value);
  window.convmlScatter = {n: n, selected: () => circles.filter((c, i) => selected.has(i))
                                                          .map(c => +c.getAttribute("data-tile-id"))};
})();
</script></body></html>
"""
