// carbonedge calibration page: draw on the snapshot, fit the ground plane, save a signed record.
// Plain browser JavaScript, no build step. Coordinates are image pixels of the snapshot
// (x right, y down); the server validates everything again.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  tool: "line", lines: [], zones: [], exclusions: [], sky: null, points: [],
  draft: [], fit: null, size: [640, 360], snapshotSha: null, image: new Image(),
  view: { scale: 1, tx: 0, ty: 0 }, detections: [], detectionsFrame: null,
};
window.ceState = state; // for the page tests and for debugging in the browser console

const HINTS = {
  line: "Click the start, then the end of the counting line.",
  zone: "Click the zone's corners, then Finish polygon.",
  exclusion: "Click the corners of an area to ignore, then Finish polygon.",
  sky: "Click along the horizon and around the sky, then Finish polygon.",
  point: "Click a ground point you measured, then type its X and Y in metres in the table.",
};

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let payload = null;
  try { payload = await response.json(); } catch (e) { payload = null; }
  if (!response.ok) {
    const message = payload && payload.error ? payload.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return payload;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

// ---- loading -------------------------------------------------------------------------------

async function load(fresh) {
  const s = fresh ? await api("POST", "/api/snapshot", {}) : await api("GET", "/api/state");
  state.size = s.image_size_px;
  state.snapshotSha = s.snapshot_sha256;
  $("#source-id").textContent = s.source_id;
  $("#snapshot-info").textContent = `snapshot ${s.snapshot_taken_at}, ${s.image_size_px[0]}x${s.image_size_px[1]} px`;
  const canvas = $("#canvas");
  canvas.width = s.image_size_px[0];
  canvas.height = s.image_size_px[1];
  if (!fresh && (s.current || s.in_force)) adopt(s.current, s.in_force);
  await new Promise((resolve, reject) => {
    state.image.onload = resolve;
    state.image.onerror = () => reject(new Error("the snapshot image did not load"));
    state.image.src = `/api/snapshot.png?sha=${s.snapshot_sha256}`;
  });
  redraw();
}

function adopt(record, inForce) {
  // Start from what is in force (the site config with the current record over it): the
  // technician edits rather than redraws, and what is removed here is removed when saved.
  const g = inForce || record;
  state.lines = g.lines.map((l) => ({ id: l.id, start_px: l.start_px, end_px: l.end_px }));
  state.zones = g.zones.map((z) => ({ id: z.id, polygon_px: z.polygon_px, movement: z.movement }));
  state.exclusions = g.exclusion_masks_px.slice();
  state.sky = g.sky_mask_px;
  const fit = record && record.homography_fit;
  if (fit && fit.image_px) {
    state.points = fit.image_px.map((p, i) => ({ image_px: p, world_m: fit.world_m[i] }));
  }
  showInForce(record);
  renderLists();
}

function showInForce(record) {
  $("#current-record").textContent = record
    ? `In force: ${record.source_id}@v${record.version}, ${record.created_at} by ${record.created_by}.`
    : "In force: the site config (no calibration record yet).";
}

// ---- drawing on the canvas -----------------------------------------------------------------

function imagePoint(event) {
  const canvas = $("#canvas");
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * canvas.width / rect.width;
  const y = (event.clientY - rect.top) * canvas.height / rect.height;
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

function clampToImage(p) {
  return [Math.min(Math.max(p[0], 0), state.size[0]), Math.min(Math.max(p[1], 0), state.size[1])];
}

// ---- zoom, pan, drag ---------------------------------------------------------------------

function applyView() {
  const v = state.view, stage = $("#stage"), canvas = $("#canvas");
  const w = stage.clientWidth, h = canvas.offsetHeight;
  v.tx = Math.min(0, Math.max(w - w * v.scale, v.tx)); // the picture always covers the stage
  v.ty = Math.min(0, Math.max(h - h * v.scale, v.ty));
  canvas.style.transform = `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`;
}

function zoomAt(factor, clientX, clientY) {
  const v = state.view, rect = $("#stage").getBoundingClientRect();
  const px = (clientX === undefined ? rect.width / 2 : clientX - rect.left);
  const py = (clientY === undefined ? rect.height / 2 : clientY - rect.top);
  const scale = Math.min(8, Math.max(1, v.scale * factor));
  v.tx = px - (px - v.tx) * (scale / v.scale);
  v.ty = py - (py - v.ty) * (scale / v.scale);
  v.scale = scale;
  applyView();
}

function handles() {
  // everything a finger can grab: [image point, setter]
  const out = [];
  state.lines.forEach((l) => {
    out.push([l.start_px, (p) => { l.start_px = p; }], [l.end_px, (p) => { l.end_px = p; }]);
  });
  state.points.forEach((g) => { out.push([g.image_px, (p) => { g.image_px = p; staleFit(); }]); });
  const corners = (poly) => poly.forEach((c, k) => out.push([c, (p) => { poly[k] = p; }]));
  state.zones.forEach((z) => corners(z.polygon_px));
  state.exclusions.forEach(corners);
  if (state.sky) corners(state.sky);
  corners(state.draft);
  return out;
}

function hitTest(p) {
  const canvas = $("#canvas"), rect = canvas.getBoundingClientRect();
  const radius = 12 * canvas.width / rect.width; // 12 screen px, in image px
  let best = null, bestD = radius;
  for (const [q, set] of handles()) {
    const d = Math.hypot(q[0] - p[0], q[1] - p[1]);
    if (d <= bestD) { best = set; bestD = d; }
  }
  return best;
}

const pointers = new Map();
let gesture = null; // {kind: "press"|"drag"|"pan"|"pinch", ...}

function onPointerDown(event) {
  if (event.button !== undefined && event.button > 0) return;
  $("#stage").setPointerCapture(event.pointerId);
  pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (pointers.size === 2) {
    const [a, b] = [...pointers.values()];
    gesture = { kind: "pinch", dist: Math.hypot(a[0] - b[0], a[1] - b[1]) };
    return;
  }
  if (pointers.size > 2) return;
  const set = hitTest(imagePoint(event));
  gesture = { kind: "press", x: event.clientX, y: event.clientY, tx: state.view.tx,
    ty: state.view.ty, set, moved: false };
}

function onPointerMove(event) {
  if (!pointers.has(event.pointerId)) return;
  pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (!gesture) return;
  if (gesture.kind === "pinch" && pointers.size === 2) {
    const [a, b] = [...pointers.values()];
    const dist = Math.hypot(a[0] - b[0], a[1] - b[1]);
    if (gesture.dist > 0) zoomAt(dist / gesture.dist, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
    gesture.dist = dist;
    return;
  }
  const dx = event.clientX - gesture.x, dy = event.clientY - gesture.y;
  if (!gesture.moved && Math.hypot(dx, dy) < 4) return;
  gesture.moved = true;
  if (gesture.set) { // drag a point, a line end or a corner
    gesture.set(clampToImage(imagePoint(event)));
    redraw();
  } else if (state.view.scale > 1) { // pan the zoomed picture
    state.view.tx = gesture.tx + dx;
    state.view.ty = gesture.ty + dy;
    applyView();
  }
}

function onPointerUp(event) {
  if (!pointers.delete(event.pointerId)) return;
  const g = gesture;
  if (!g || g.kind === "pinch") {
    if (pointers.size === 0) gesture = null;
    return;
  }
  gesture = null;
  if (!g.moved) onCanvasClick(event); // a tap: the tool's click
  else if (g.set) { renderLists(); redraw(); }
}

function onWheel(event) {
  event.preventDefault();
  zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX, event.clientY);
}

// ---- live detections ---------------------------------------------------------------------

async function pollDetections() {
  if (!$("#live-detections").checked) return;
  try {
    const d = await api("GET", "/api/detections");
    state.detections = d.boxes;
    state.detectionsFrame = d.frame_index;
    window.ceDetectionRounds = (window.ceDetectionRounds || 0) + 1;
    redraw();
  } catch (err) {
    showError(`Live detections: ${err.message}`);
    $("#live-detections").checked = false;
    state.detections = [];
    redraw();
    return;
  }
  setTimeout(pollDetections, 1000);
}

function toggleDetections() {
  if ($("#live-detections").checked) pollDetections();
  else { state.detections = []; redraw(); }
}

function onCanvasClick(event) {
  const p = imagePoint(event); // before anything changes the layout under the cursor
  showError("");
  if (state.tool === "point") {
    state.points.push({ image_px: p, world_m: [null, null] });
    staleFit();
  } else if (state.tool === "line") {
    state.draft.push(p);
    if (state.draft.length === 2) {
      state.lines.push({ id: nextId("line", state.lines), start_px: state.draft[0], end_px: state.draft[1] });
      state.draft = [];
    }
  } else {
    state.draft.push(p);
  }
  renderLists();
  redraw();
}

function finishPolygon() {
  if (state.tool === "line" || state.tool === "point") return;
  if (state.draft.length < 3) {
    showError(`A polygon needs at least 3 corners (you clicked ${state.draft.length}).`);
    return;
  }
  const polygon = state.draft;
  state.draft = [];
  if (state.tool === "zone") {
    state.zones.push({ id: nextId("zone", state.zones), polygon_px: polygon, movement: $("#zone-movement").value });
  } else if (state.tool === "exclusion") {
    state.exclusions.push(polygon);
  } else {
    state.sky = polygon;
  }
  renderLists();
  redraw();
}

function nextId(prefix, items) {
  let n = items.length + 1;
  while (items.some((it) => it.id === `${prefix}${n}`)) n += 1;
  return `${prefix}${n}`;
}

function redraw() {
  const ctx = $("#canvas").getContext("2d");
  const [w, h] = state.size;
  ctx.clearRect(0, 0, w, h);
  if (state.image.complete && state.image.naturalWidth) ctx.drawImage(state.image, 0, 0, w, h);
  const lw = Math.max(1.5, w / 400);
  if (state.fit && state.fit.grid_px) {
    ctx.strokeStyle = "rgba(255, 230, 0, 0.75)";
    ctx.lineWidth = 1;
    for (const run of state.fit.grid_px) polyline(ctx, run, false);
  }
  state.exclusions.forEach((m) => fillPolygon(ctx, m, "rgba(200, 0, 0, 0.30)", "#c00", lw));
  if (state.sky) fillPolygon(ctx, state.sky, "rgba(80, 160, 255, 0.30)", "#28f", lw);
  const zoneColour = { none: "#f0a000", entry: "#00c070", exit: "#d040d0", both: "#00b0d0" };
  for (const z of state.zones) {
    fillPolygon(ctx, z.polygon_px, "rgba(255, 255, 255, 0.12)", zoneColour[z.movement], lw);
    label(ctx, z.polygon_px[0], `${z.id} (${z.movement})`, zoneColour[z.movement]);
  }
  for (const b of state.detections) {
    const [x0, y0, x1, y1] = b.xyxy;
    ctx.strokeStyle = DETECTION_COLOUR;
    ctx.lineWidth = lw;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = DETECTION_COLOUR;
    ctx.fillRect((x0 + x1) / 2 - 2 * lw, y1 - 2 * lw, 4 * lw, 4 * lw); // the anchor lines count
    label(ctx, [x0 - 6, y0 + 2], `${b.class_name} ${b.confidence.toFixed(2)}`, DETECTION_COLOUR);
  }
  for (const l of state.lines) drawLine(ctx, l, lw);
  state.points.forEach((p, i) => {
    const outlier = state.fit && state.fit.inliers && state.fit.inliers[i] === false;
    ctx.fillStyle = outlier ? "#ff2020" : "#ffee00";
    ctx.beginPath();
    ctx.arc(p.image_px[0], p.image_px[1], 2.5 * lw, 0, 2 * Math.PI);
    ctx.fill();
    label(ctx, p.image_px, String(i + 1), ctx.fillStyle);
  });
  if (state.draft.length) {
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = lw;
    polyline(ctx, state.draft, false);
    ctx.setLineDash([]);
    state.draft.forEach((p) => ctx.strokeRect(p[0] - 3, p[1] - 3, 6, 6));
  }
}

const DETECTION_COLOUR = "#ff8c00";

function polyline(ctx, pts, close) {
  ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
  if (close) ctx.closePath();
  ctx.stroke();
}

function fillPolygon(ctx, pts, fill, stroke, lw) {
  ctx.fillStyle = fill;
  ctx.strokeStyle = stroke;
  ctx.lineWidth = lw;
  polyline(ctx, pts, true);
  ctx.fill();
}

function label(ctx, p, text, colour) {
  ctx.font = "bold 13px sans-serif";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
  ctx.strokeText(text, p[0] + 6, p[1] - 6);
  ctx.fillStyle = colour;
  ctx.fillText(text, p[0] + 6, p[1] - 6);
}

function drawLine(ctx, l, lw) {
  // The "in" side is on the right of start -> end as seen on screen (x right, y down).
  const [x0, y0] = l.start_px, [x1, y1] = l.end_px;
  const len = Math.hypot(x1 - x0, y1 - y0) || 1;
  const nx = -(y1 - y0) / len, ny = (x1 - x0) / len;
  const mx = (x0 + x1) / 2, my = (y0 + y1) / 2, a = Math.max(18, len * 0.08);
  ctx.strokeStyle = "#00e0ff";
  ctx.lineWidth = 2 * lw;
  polyline(ctx, [l.start_px, l.end_px], false);
  const tip = [mx + nx * a, my + ny * a];
  ctx.lineWidth = lw;
  polyline(ctx, [[mx, my], tip], false);
  const bx = tip[0] - nx * 8, by = tip[1] - ny * 8;
  ctx.fillStyle = "#00e0ff";
  ctx.beginPath();
  ctx.moveTo(tip[0], tip[1]);
  ctx.lineTo(bx + ny * 6, by - nx * 6);
  ctx.lineTo(bx - ny * 6, by + nx * 6);
  ctx.closePath();
  ctx.fill();
  label(ctx, tip, "in", "#00e0ff");
  label(ctx, l.start_px, l.id, "#00e0ff");
}

// ---- side panel ----------------------------------------------------------------------------

function renderLists() {
  const lineList = $("#line-list"), zoneList = $("#zone-list"), maskList = $("#mask-list");
  lineList.replaceChildren(...state.lines.map((l, i) => item(l, state.lines, i, [
    button("reverse", () => { [l.start_px, l.end_px] = [l.end_px, l.start_px]; }),
  ])));
  zoneList.replaceChildren(...state.zones.map((z, i) => item(z, state.zones, i, [
    select(["none", "entry", "exit", "both"], z.movement, (v) => { z.movement = v; }),
  ])));
  const masks = state.exclusions.map((m, i) => row(`exclusion ${i + 1} (${m.length} corners)`,
    () => state.exclusions.splice(i, 1)));
  if (state.sky) masks.push(row(`sky (${state.sky.length} corners)`, () => { state.sky = null; }));
  maskList.replaceChildren(...masks);
  renderPoints();
}

function item(obj, list, index, extra) {
  const li = document.createElement("li");
  const input = document.createElement("input");
  input.value = obj.id;
  input.className = "item-id";
  input.addEventListener("change", () => { obj.id = input.value.trim(); redraw(); });
  li.append(input, ...extra, button("delete", () => list.splice(index, 1)));
  return li;
}

function row(text, remove) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span, button("delete", remove));
  return li;
}

function button(text, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", () => { action(); renderLists(); redraw(); });
  return b;
}

function select(options, value, change) {
  const s = document.createElement("select");
  for (const o of options) s.append(new Option(o, o, false, o === value));
  s.addEventListener("change", () => { change(s.value); redraw(); });
  return s;
}

function renderPoints() {
  const body = $("#points tbody");
  const fit = state.fit;
  body.replaceChildren(...state.points.map((p, i) => {
    const tr = document.createElement("tr");
    if (fit && fit.inliers && fit.inliers[i] === false) tr.className = "outlier";
    const cells = [String(i + 1), p.image_px[0].toFixed(1), p.image_px[1].toFixed(1)];
    for (const text of cells) tr.append(cell(text));
    for (const axis of [0, 1]) {
      const input = document.createElement("input");
      input.type = "number";
      input.step = "0.01";
      input.className = axis ? "world-y" : "world-x";
      input.value = p.world_m[axis] === null ? "" : String(p.world_m[axis]);
      input.addEventListener("input", () => {
        p.world_m[axis] = input.value === "" ? null : Number(input.value);
        staleFit();
      });
      const td = document.createElement("td");
      td.append(input);
      tr.append(td);
    }
    tr.append(cell(fit ? metres(fit.per_point_error_m[i]) : ""), cell(fit ? metres(fit.loo_error_m[i]) : ""));
    const td = document.createElement("td");
    td.append(button("×", () => { state.points.splice(i, 1); staleFit(); }));
    tr.append(td);
    return tr;
  }));
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

const metres = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));

function staleFit() {
  if (!state.fit) return;
  state.fit = null;
  $("#fit-result").textContent = "Points changed: fit again.";
}

function fillRectangle() {
  const w = Number($("#rect-width-m").value), l = Number($("#rect-length-m").value);
  const y0 = Number($("#rect-offset-m").value);
  if (state.points.length < 4 || !(w > 0) || !(l > 0)) {
    showError("The helper needs 4 clicked points and a width and length above 0 m.");
    return;
  }
  const corners = [[0, y0], [w, y0], [w, y0 + l], [0, y0 + l]];
  state.points.slice(-4).forEach((p, k) => { p.world_m = corners[k].slice(); });
  staleFit();
  renderLists();
}

// ---- server actions ------------------------------------------------------------------------

function groundPoints() {
  const missing = state.points.findIndex((p) => p.world_m.some((v) => v === null || Number.isNaN(v)));
  if (missing >= 0) throw new Error(`Ground point ${missing + 1}: type its X and Y in metres.`);
  return state.points.map((p) => ({ image_px: p.image_px, world_m: p.world_m }));
}

async function fit() {
  showError("");
  try {
    const spacing = Number($("#grid-spacing-m").value) || 1;
    state.fit = await api("POST", "/api/fit", { ground_points: groundPoints(), grid_spacing_m: spacing });
    showFit(state.fit);
  } catch (err) {
    state.fit = null;
    $("#fit-result").textContent = "";
    showError(err.message);
  }
  renderLists();
  redraw();
}

function showFit(f) {
  const out = $("#fit-result");
  const badge = document.createElement("span");
  badge.className = `verdict ${f.verdict}`;
  badge.id = "verdict";
  badge.textContent = f.verdict.toUpperCase();
  const text = document.createElement("div");
  const noise = f.noise_px === null ? "–" : f.noise_px.toFixed(2);
  text.textContent = `RMS ${metres(f.rms_error_m)} m (${f.rms_error_px.toFixed(2)} px), click noise ≈ ${noise} px, ` +
    `${f.inliers.filter(Boolean).length}/${f.inliers.length} inliers` + (f.reason ? `. ${f.reason}` : "");
  out.replaceChildren(badge, text);
}

async function save() {
  showError("");
  try {
    const record = await api("POST", "/api/save", {
      created_by: $("#created-by").value.trim(),
      notes: $("#notes").value,
      snapshot_sha256: state.snapshotSha,
      lines: state.lines,
      zones: state.zones,
      exclusion_masks_px: state.exclusions,
      sky_mask_px: state.sky,
      ground_points: groundPoints(),
      grid_spacing_m: Number($("#grid-spacing-m").value) || 1,
    });
    $("#save-result").textContent =
      `Saved ${record.record_id} (signed, sha256 ${record.sha256.slice(0, 12)}…) at ${record.created_at}.`;
    const now = await api("GET", "/api/state"); // the record in force is the one just saved
    showInForce(now.current);
    window.ceSaved = record;
  } catch (err) {
    showError(err.message);
  }
}

// ---- wiring --------------------------------------------------------------------------------

function setTool(tool) {
  state.tool = tool;
  state.draft = [];
  document.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
  $("#hint").textContent = HINTS[tool];
  redraw();
}

document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
const stage = $("#stage");
stage.addEventListener("pointerdown", onPointerDown);
stage.addEventListener("pointermove", onPointerMove);
stage.addEventListener("pointerup", onPointerUp);
stage.addEventListener("pointercancel", (e) => { pointers.delete(e.pointerId); gesture = null; });
stage.addEventListener("wheel", onWheel, { passive: false });
$("#zoom-in").addEventListener("click", () => zoomAt(1.5));
$("#zoom-out").addEventListener("click", () => zoomAt(1 / 1.5));
$("#zoom-reset").addEventListener("click", () => { state.view = { scale: 1, tx: 0, ty: 0 }; applyView(); });
$("#live-detections").addEventListener("change", toggleDetections);
window.addEventListener("resize", applyView);
$("#finish-polygon").addEventListener("click", finishPolygon);
$("#undo-point").addEventListener("click", () => { state.draft.pop(); redraw(); });
$("#rect-fill").addEventListener("click", fillRectangle);
$("#fit").addEventListener("click", fit);
$("#save").addEventListener("click", save);
$("#refresh-snapshot").addEventListener("click", () => load(true).catch((e) => showError(e.message)));
document.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === document.body) finishPolygon(); });

setTool("line");
load(false).then(() => { window.ceReady = true; }, (err) => { showError(err.message); window.ceReady = "error"; });
