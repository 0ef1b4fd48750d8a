// fastcolor studio: the page. Plain JS, no build step, no network but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const SWATCHES = ["#e8463c", "#f28c28", "#f7d038", "#a3e048", "#49da9a", "#34bbe6", "#4355db", "#d23be7",
                  "#ffffff", "#f4e9c8", "#e0b589", "#b07850", "#9e9e9e", "#5d4037", "#263238", "#000000"];

const state = { id: null, info: null, history: [], busy: false };

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function api(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    let message = body.detail || response.statusText;
    if (typeof message !== "string") message = JSON.stringify(message);
    if (response.status === 503) {
      message += ` (retry after ${response.headers.get("Retry-After") || "a few"} s)`;
    }
    throw new Error(message);
  }
  return body;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the image could not be loaded: " + url));
    img.src = url;
  });
}

async function draw() {
  if (!state.id) return;
  const id = state.id;
  const lines = $("lines").checked || !state.info.flats;
  const img = await loadImage(`/api/results/${id}${lines ? ".png" : "/flats.png"}`);
  if (id !== state.id) return;            // a newer result arrived meanwhile
  if (canvas.width !== img.naturalWidth || canvas.height !== img.naturalHeight) {
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
  }
  ctx.drawImage(img, 0, 0);
  canvas.dataset.resultId = id;
  canvas.dataset.lines = String(lines);
  document.body.dataset.state = "ready";
}

function updateControls() {
  const info = state.info;
  $("undo").disabled = state.history.length === 0;
  for (const fmt of ["png", "psd", "ora"]) {
    const a = $("dl-" + fmt);
    const ok = info && (fmt === "png" || info.flats);
    a.classList.toggle("disabled", !ok);
    if (ok) {
      a.href = `/api/results/${info.id}.${fmt}`;
      a.download = `fastcolor.${fmt}`;
    } else {
      a.removeAttribute("href");
    }
  }
  if (info && info.background_color) $("bg-color").value = info.background_color;
  $("apply-bg").disabled = !(info && info.flats && info.background_color);
}

async function show(info, remember = true) {
  if (remember && state.id) state.history.push(state.id);
  state.id = info.id;
  state.info = info;
  updateControls();
  await draw();
}

async function run(label, task) {
  if (state.busy) return;
  state.busy = true;
  document.body.dataset.state = "busy";
  const started = performance.now();
  setStatus(label + "…");
  try {
    await task();
    const ms = Math.round(performance.now() - started);
    const info = state.info;
    setStatus(`${info.width} x ${info.height}, ${info.regions} regions` +
              (info.background_color ? `, background ${info.background_color}` : "") + ` (${ms} ms)`);
  } catch (err) {
    setStatus(err.message, true);
    document.body.dataset.state = "error";
  } finally {
    state.busy = false;
  }
}

function showVariants(info) {
  const box = $("variants");
  box.replaceChildren();
  $("variants-box").hidden = info.variants.length < 2;
  info.variants.forEach((vid, i) => {
    const img = document.createElement("img");
    img.src = `/api/results/${vid}.png`;
    img.alt = `variant ${i + 1}`;
    img.title = `variant ${i + 1}`;
    img.dataset.id = vid;
    img.classList.toggle("selected", vid === info.id);
    img.addEventListener("click", () => run("Variant " + (i + 1), async () => {
      await show(await api(`/api/results/${vid}`));
      for (const other of box.children) other.classList.toggle("selected", other === img);
    }));
    box.appendChild(img);
  });
}

async function colorize() {
  const file = $("file").files[0];
  if (!file) throw new Error("open a line-art file first");
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("samples", $("samples").value || "1");
  if ($("seed").value !== "") form.append("seed", $("seed").value);
  form.append("flats", $("flats").checked ? "true" : "false");
  form.append("figure_colors", $("figure-colors").value);
  if ($("use-background").checked) form.append("background", $("background").value);
  const hints = $("hints").files[0];
  if (hints) form.append("hints", hints, hints.name);
  const info = await api("/api/colorize", { method: "POST", body: form });
  state.history = [];
  state.id = null;
  showVariants(info);
  await show(info, false);
}

function recolor(body) {
  return api(`/api/results/${state.id}/recolor`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

// ---- events -------------------------------------------------------------------------------
$("colorize-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run("Colorizing", colorize);
});
$("file").addEventListener("change", () => run("Colorizing", colorize));

const drop = $("drop");
for (const target of [drop, canvas]) {
  target.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  target.addEventListener("dragleave", () => drop.classList.remove("over"));
  target.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (ev.dataTransfer.files.length) {
      $("file").files = ev.dataTransfer.files;
      run("Colorizing", colorize);
    }
  });
}

canvas.addEventListener("click", (ev) => {
  if (!state.info || !state.info.flats) {
    if (state.info) setStatus("this page was colored with flats off: turn flats on to recolor regions", true);
    return;
  }
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((ev.clientX - rect.left) * canvas.width / rect.width);
  const y = Math.floor((ev.clientY - rect.top) * canvas.height / rect.height);
  if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return;
  const color = $("color").value;
  run(`Painting ${color}`, async () => show(await recolor({ points: [[x, y]], colors: [color] })));
});

$("apply-bg").addEventListener("click", () => {
  const color = $("bg-color").value;
  run("Painting the background", async () => show(await recolor({ background: color })));
});

$("undo").addEventListener("click", () => run("Undo", async () => {
  const previous = state.history.pop();
  await show(await api(`/api/results/${previous}`), false);
}));

$("lines").addEventListener("change", () => run("Redrawing", draw));

const swatches = $("swatches");
for (const color of SWATCHES) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "swatch";
  b.style.background = color;
  b.title = color;
  b.dataset.color = color;
  b.addEventListener("click", () => {
    $("color").value = color;
    for (const other of swatches.children) other.classList.toggle("selected", other === b);
  });
  swatches.appendChild(b);
}
$("color").addEventListener("input", () => {
  for (const other of swatches.children) other.classList.remove("selected");
});
updateControls();
