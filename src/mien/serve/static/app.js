// mien web page: upload an image or a video, draw the server's rows. Plain JS, no dependencies, works offline.
"use strict";

const EXPRESSIONS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"];
// Same colours as mien's overlays (Okabe-Ito, colour-blind safe).
const COLOURS = {
  neutral: "#bbbbbb", happy: "#f0e442", sad: "#0072b2", surprise: "#56b4e9",
  fear: "#cc79a7", disgust: "#009e73", anger: "#d55e00", contempt: "#e69f00",
};
const LANDMARK_COLOURS = ["#ff0000", "#0000ff", "#00ff00", "#ff00ff", "#00ffff"];
const VIDEO_SUFFIXES = [".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"];
const POLL_MS = 500;

const $ = (id) => document.getElementById(id);
let lastDownloads = null; // {csv, json, summary}: functions that fetch and save

// ------------------------------------------------------------------ small helpers
function apiHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function request(url, options = {}) {
  const response = await fetch(url, { ...options, headers: { ...apiHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function saveBlob(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function isVideo(file) {
  const name = file.name.toLowerCase();
  return file.type.startsWith("video/") || VIDEO_SUFFIXES.some((s) => name.endsWith(s));
}

function cell(row, text, className) {
  const td = document.createElement(row.parentElement && row.parentElement.tagName === "THEAD" ? "th" : "td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(table, header, rows) {
  const head = table.querySelector("thead");
  const body = table.querySelector("tbody");
  head.replaceChildren();
  body.replaceChildren();
  const headRow = head.insertRow();
  header.forEach((h) => cell(headRow, h));
  rows.forEach((values) => {
    const tr = body.insertRow();
    values.forEach((v) => {
      if (v instanceof Node) { const td = cell(tr, ""); td.appendChild(v); } else { cell(tr, v); }
    });
  });
}

function fmt(value, digits = 2) {
  return value === null || value === undefined ? "" : Number(value).toFixed(digits);
}

function probabilityBar(p) {
  const span = document.createElement("span");
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = `${Math.round(60 * (p || 0))}px`;
  span.appendChild(bar);
  span.appendChild(document.createTextNode(" " + fmt(p)));
  return span;
}

// Optional columns from further heads: rendered only when present and filled in for some face.
const measured = (faces, column) => faces.some((f) => f[column] !== null && f[column] !== undefined);

function auColumns(columns, faces) {
  // AU probabilities (AU12_p, 0..1) when the result has them, else intensities (AU12_r / AU12, 0..5)
  const family = columns.some((c) => /^AU\d+_p$/.test(c)) ? /^AU\d+_p$/ : /^AU\d+(_r)?$/;
  return columns.filter((c) => family.test(c) && measured(faces, c));
}

function hasValenceArousal(columns, faces) {
  return columns.includes("valence") && columns.includes("arousal") && measured(faces, "valence");
}

// ------------------------------------------------------------------ images
async function analyzeImage(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  setStatus(`analysing ${file.name} ...`);
  const started = performance.now();
  const data = await (await request("/v1/analyze", { method: "POST", body: form })).json();
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  setStatus(`${data.faces} face(s) in ${data.input} (${seconds} s)`);
  await drawImage(file, data);
  showFaceTable(data);
  showExtras(data);
  $("image-result").hidden = false;
  lastDownloads = {
    csv: async () => {
      const csvForm = new FormData();
      csvForm.append("file", file, file.name);
      const response = await request("/v1/analyze?format=csv", { method: "POST", body: csvForm });
      saveBlob(await response.blob(), stem(file.name) + ".csv");
    },
    json: async () => saveBlob(new Blob([JSON.stringify(data, null, 1)], { type: "application/json" }),
      stem(file.name) + ".json"),
  };
  showDownloads(false);
}

function stem(name) {
  return name.replace(/\.[^.]*$/, "") || "result";
}

async function drawImage(file, data) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const canvas = $("canvas");
  const record = data.records[0] || {};
  const width = record.image_width || bitmap.width;
  const height = record.image_height || bitmap.height;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, width, height);
  const scale = Math.max(width, height) / 800;
  ctx.lineWidth = Math.max(2, 2 * scale);
  ctx.font = `${Math.max(14, Math.round(16 * scale))}px system-ui, sans-serif`;
  for (const face of data.records.filter((r) => r.success === 1)) {
    const colour = COLOURS[face.expression] || "#ffffff";
    ctx.strokeStyle = colour;
    ctx.strokeRect(face.face_x, face.face_y, face.face_width, face.face_height);
    const label = `${face.face_id}: ${face.expression} ${fmt(face["expr_" + face.expression])}`;
    const textHeight = parseInt(ctx.font, 10) + 6;
    const textWidth = ctx.measureText(label).width + 8;
    const top = Math.max(0, face.face_y - textHeight);
    ctx.fillStyle = colour;
    ctx.fillRect(face.face_x, top, textWidth, textHeight);
    ctx.fillStyle = "#000000";
    ctx.fillText(label, face.face_x + 4, top + textHeight - 6);
    for (let i = 0; i < 5; i++) {
      const x = face[`lm5_x_${i}`];
      const y = face[`lm5_y_${i}`];
      if (x === null || y === null || x === undefined) continue;
      ctx.fillStyle = LANDMARK_COLOURS[i];
      ctx.beginPath();
      ctx.arc(x, y, Math.max(2, 2.5 * scale), 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function showFaceTable(data) {
  const faces = data.records.filter((r) => r.success === 1);
  const header = ["face", "expression", "probability", "quality", "face score", "box (x, y, w, h)",
    ...EXPRESSIONS];
  const rows = faces.map((f) => [
    String(f.face_id), f.expression, fmt(f["expr_" + f.expression]), f.quality, fmt(f.face_score),
    [f.face_x, f.face_y, f.face_width, f.face_height].map((v) => Math.round(v)).join(", "),
    ...EXPRESSIONS.map((e) => probabilityBar(f["expr_" + e])),
  ]);
  if (!faces.length) {
    const error = data.records.length ? data.records[0].error : "";
    rows.push(["-", error || "no face found", "", "", "", "", ...EXPRESSIONS.map(() => "")]);
  }
  fillTable($("faces"), header, rows);
  $("faces").querySelectorAll("tbody tr td:nth-child(2)").forEach((td) => td.classList.add("label"));
}

function showExtras(data) {
  const box = $("extras");
  box.replaceChildren();
  const faces = data.records.filter((r) => r.success === 1);
  const aus = auColumns(data.columns, faces);
  if (aus.length) {
    faces.forEach((face) => {
      const title = document.createElement("h3");
      title.textContent = `Action units, face ${face.face_id}`;
      box.appendChild(title);
      box.appendChild(auBars(face, aus));
    });
  }
  if (hasValenceArousal(data.columns, faces)) {
    const title = document.createElement("h3");
    title.textContent = "Valence / arousal";
    box.appendChild(title);
    box.appendChild(valenceArousalPlot(faces));
  }
}

function auBars(face, aus) {
  const values = aus.map((c) => face[c]).filter((v) => v !== null && v !== undefined);
  const top = Math.max(1, ...values); // intensities 0..5 (OpenFace) or probabilities 0..1
  const canvas = document.createElement("canvas");
  canvas.className = "au-bars";
  canvas.width = 260;
  canvas.height = 16 * aus.length + 4;
  const ctx = canvas.getContext("2d");
  ctx.font = "11px system-ui, sans-serif";
  aus.forEach((c, i) => {
    const v = face[c] || 0;
    ctx.fillStyle = "#333333";
    ctx.fillText(c, 2, 16 * i + 13);
    ctx.fillStyle = "#0072b2";
    ctx.fillRect(60, 16 * i + 4, 160 * Math.max(0, v) / top, 10);
    ctx.fillStyle = "#333333";
    ctx.fillText(fmt(v), 224, 16 * i + 13);
  });
  return canvas;
}

function valenceArousalPlot(faces) {
  const size = 220;
  const canvas = document.createElement("canvas");
  canvas.className = "va-plot";
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const toPixel = (v) => (v + 1) / 2 * (size - 40) + 20; // valence/arousal in [-1, 1], inside the frame
  ctx.strokeStyle = "#999999";
  ctx.strokeRect(10, 10, size - 20, size - 20);
  ctx.beginPath();
  ctx.moveTo(size / 2, 10); ctx.lineTo(size / 2, size - 10);
  ctx.moveTo(10, size / 2); ctx.lineTo(size - 10, size / 2);
  ctx.stroke();
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#555555";
  ctx.fillText("valence", size - 52, size / 2 + 14);
  ctx.fillText("arousal", size / 2 + 4, 22);
  ctx.fillText("-1", 12, size / 2 + 14);
  faces.forEach((f) => {
    if (f.valence === null || f.arousal === null) return;
    ctx.fillStyle = COLOURS[f.expression] || "#000000";
    ctx.beginPath();
    ctx.arc(toPixel(f.valence), size - toPixel(f.arousal), 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#000000";
    ctx.fillText(String(f.face_id), toPixel(f.valence) + 8, size - toPixel(f.arousal) + 4);
  });
  return canvas;
}

// ------------------------------------------------------------------ videos
async function analyzeVideo(file) {
  setStatus(`uploading ${file.name} ...`);
  const form = new FormData();
  form.append("file", file, file.name);
  let job = await (await request("/v1/videos", { method: "POST", body: form })).json();
  $("progress-box").hidden = false;
  while (job.status === "queued" || job.status === "running") {
    $("progress").value = job.progress;
    $("progress-text").textContent = `${job.status}: ${job.frames_done} of ~${job.frames_total || "?"} frames`;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await (await request(`/v1/videos/${encodeURIComponent(job.id)}`)).json();
  }
  $("progress").value = job.status === "done" ? 1 : $("progress").value;
  $("progress-text").textContent = `${job.status}: ${job.frames_done} frames`;
  if (job.status !== "done") throw new Error(`video job failed: ${job.error}`);
  const result = await (await request(job.links.result)).json();
  setStatus(`${result.rows.length} frames, ${result.summary.length} track(s) in ${result.name}` +
    (job.error ? ` (warning: ${job.error})` : ""));
  showTracks(result);
  $("video-result").hidden = false;
  const download = (url, filename) => async () => saveBlob(await (await request(url)).blob(), filename);
  lastDownloads = {
    csv: download(job.links.csv, stem(file.name) + "_frames.csv"),
    json: async () => saveBlob(new Blob([JSON.stringify(result)], { type: "application/json" }),
      stem(file.name) + ".json"),
    summary: download(job.links.summary_csv, stem(file.name) + "_summary.csv"),
  };
  showDownloads(true);
}

function showTracks(result) {
  const header = ["track", "first frame", "last frame", "duration s", "frames", "dominant"];
  fillTable($("tracks"), header, result.summary.map((t) => [
    String(t.track_id), String(t.first_frame), String(t.last_frame), fmt(t.duration), String(t.frames),
    t.dominant_expression,
  ]));
  $("tracks").querySelectorAll("tbody tr td:nth-child(6)").forEach((td) => td.classList.add("label"));
  const box = $("timelines");
  box.replaceChildren();
  const duration = Math.max(1e-6, ...result.rows.map((r) => r.timestamp));
  for (const track of result.summary) {
    const rows = result.rows.filter((r) => r.success === 1 && r.track_id === track.track_id);
    box.appendChild(timeline(track.track_id, rows, duration));
  }
}

function timeline(trackId, rows, duration) {
  const wrapper = document.createElement("div");
  wrapper.className = "timeline";
  const title = document.createElement("h3");
  title.textContent = `Track ${trackId}: smoothed expression probabilities over time`;
  wrapper.appendChild(title);
  const canvas = document.createElement("canvas");
  canvas.width = 900;
  canvas.height = 180;
  const ctx = canvas.getContext("2d");
  const left = 36, right = 10, top = 8, bottom = 22;
  const w = canvas.width - left - right, h = canvas.height - top - bottom;
  const x = (t) => left + (t / duration) * w;
  const y = (p) => top + (1 - p) * h;
  ctx.strokeStyle = "#cccccc";
  ctx.strokeRect(left, top, w, h);
  ctx.fillStyle = "#555555";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText("1", left - 14, top + 8);
  ctx.fillText("0", left - 14, top + h);
  ctx.fillText("0 s", left, canvas.height - 6);
  ctx.fillText(`${duration.toFixed(1)} s`, left + w - 30, canvas.height - 6);
  EXPRESSIONS.forEach((e) => {
    const column = `expr_smooth_${e}` in (rows[0] || {}) ? `expr_smooth_${e}` : `expr_${e}`;
    ctx.strokeStyle = COLOURS[e];
    ctx.lineWidth = 2;
    ctx.beginPath();
    rows.forEach((r, i) => {
      const px = x(r.timestamp), py = y(r[column] || 0);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
  wrapper.appendChild(canvas);
  const legend = document.createElement("div");
  legend.className = "legend";
  EXPRESSIONS.forEach((e) => {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[e];
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(e));
    legend.appendChild(item);
  });
  wrapper.appendChild(legend);
  return wrapper;
}

// ------------------------------------------------------------------ wiring
function showDownloads(isVideoResult) {
  $("downloads").hidden = false;
  $("dl-summary").hidden = !isVideoResult;
}

function reset() {
  ["image-result", "video-result", "downloads", "progress-box"].forEach((id) => { $(id).hidden = true; });
  lastDownloads = null;
}

async function handle(file) {
  if (!file) return;
  reset();
  try {
    if (isVideo(file)) await analyzeVideo(file); else await analyzeImage(file);
  } catch (error) {
    setStatus(`${file.name}: ${error.message}`, true);
  }
}

function runDownload(kind) {
  if (lastDownloads && lastDownloads[kind]) {
    lastDownloads[kind]().catch((error) => setStatus(`download failed: ${error.message}`, true));
  }
}

function init() {
  const drop = $("drop");
  $("api-key").value = localStorage.getItem("mien-api-key") || "";
  $("api-key").addEventListener("change", () => localStorage.setItem("mien-api-key", $("api-key").value));
  $("file").addEventListener("change", (event) => handle(event.target.files[0]));
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    handle(event.dataTransfer.files[0]);
  });
  $("dl-csv").addEventListener("click", () => runDownload("csv"));
  $("dl-json").addEventListener("click", () => runDownload("json"));
  $("dl-summary").addEventListener("click", () => runDownload("summary"));
}

init();
