// ecg_synth web page: pick a model, class, subject, count and seed; draw the generated
// segments on ECG paper at 25 mm/s and 10 mm/mV; download them as CSV, NPY or WFDB zip.
// Plain JavaScript, no build step, nothing loaded from the network but this service's API.
"use strict";

const PX_PER_MM = 96 / 25.4; // CSS pixels per millimetre (CSS defines 96 px per inch)
const MM_PER_S = 25;
const MM_PER_MV = 10;
const MAX_DRAWN = 24; // segments drawn; downloads always hold all of them
const COLORS = { paper: "#ffffff", minor: "#f4b6b6", major: "#e06666", trace: "#111111",
                 label: "#1f4e9a" };

const $ = (id) => document.getElementById(id);
const state = { models: [], limits: {}, lastBody: null };

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// FastAPI errors: {"detail": "text"} or {"detail": [{"loc": [...], "msg": "..."}]}.
async function errorText(resp) {
  try {
    const body = await resp.json();
    if (Array.isArray(body.detail)) {
      return body.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`)
        .join("; ");
    }
    return String(body.detail ?? resp.statusText);
  } catch (e) {
    return `${resp.status} ${resp.statusText}`;
  }
}

function option(value, text, disabled = false) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  o.disabled = disabled;
  return o;
}

function currentModel() {
  return state.models.find((m) => m.name === $("model").value);
}

function onModelChange() {
  const m = currentModel();
  const cls = $("class");
  cls.replaceChildren();
  if (m.conditions.class) {
    cls.append(option("", "Training proportions"));
    for (const c of m.classes) {
      const count = m.class_counts[c] ?? 0;
      cls.append(option(c, count > 0 ? `${c} (${count} training beats)` : `${c} (not trained)`,
                        count <= 0));
    }
    cls.disabled = false;
  } else {
    cls.append(option("", "Unconditional model"));
    cls.disabled = true;
  }
  const subj = $("subject");
  subj.replaceChildren(option("", "All training subjects"));
  for (const s of m.subjects) subj.append(option(s, s));
  $("subject-label").hidden = !m.conditions.subject;
}

function requestBody(format) {
  const body = { model: $("model").value, n: Number($("n").value), seed: Number($("seed").value),
                 format };
  if ($("class").value) body.class = $("class").value;
  if (!$("subject-label").hidden && $("subject").value) body.subject = $("subject").value;
  return body;
}

async function postGenerate(body) {
  return fetch("/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                              body: JSON.stringify(body) });
}

// The model generates each beat's RR: the median RR before the beats of each class.
function rrSummary(data) {
  const byClass = {};
  data.rr.forEach((row, i) => (byClass[data.label_names[i]] ??= []).push(row[0]));
  const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const parts = Object.entries(byClass).map(([c, v]) => `${c} ${median(v).toFixed(2)} s`);
  return `RR before the beat (median): ${parts.join(", ")}`;
}

async function onGenerate(event) {
  event.preventDefault();
  const body = { ...requestBody("json"), preview: MAX_DRAWN };
  $("generate").disabled = true;
  setStatus(`Generating ${body.n} segment(s)…`);
  const t0 = performance.now();
  try {
    const resp = await postGenerate(body);
    if (!resp.ok) {
      setStatus(`Error: ${await errorText(resp)}`, true);
      return;
    }
    const data = await resp.json();
    state.lastBody = { ...body, seed: data.seed };
    delete state.lastBody.preview;
    $("result").hidden = false; // before drawing: the layout needs the paper's width
    draw(data);
    const counts = {};
    for (const c of data.label_names) counts[c] = (counts[c] || 0) + 1;
    const mix = Object.entries(counts).map(([c, k]) => `${c}: ${k}`).join(", ");
    $("summary").textContent = `${data.n} segment(s) from ${data.model} (${data.kind}), seed ` +
      `${data.seed}; ${mix}; ${data.fs} Hz, ${data.length} samples` +
      (data.rr ? `; ${rrSummary(data)}` : "") +
      (data.n > data.signals.length ? `; showing the first ${data.signals.length}` : "");
    setStatus(`Done in ${Math.round(performance.now() - t0)} ms.`);
  } catch (e) {
    setStatus(`Error: ${e}`, true);
  } finally {
    $("generate").disabled = false;
  }
}

function gridLines(ctx, width, height, step, color, lineWidthMm) {
  ctx.beginPath();
  for (let x = 0; x <= width + 1e-6; x += step) { ctx.moveTo(x, 0); ctx.lineTo(x, height); }
  for (let y = 0; y <= height + 1e-6; y += step) { ctx.moveTo(0, y); ctx.lineTo(width, y); }
  ctx.strokeStyle = color;
  ctx.lineWidth = lineWidthMm;
  ctx.stroke();
}

const ceil5 = (mm) => 5 * Math.ceil(mm / 5);

// Lay the segments out in cells of whole 5 mm squares, one row of paper per lead in a cell,
// and draw in millimetre units (the context is scaled to device pixels per mm).
function draw(data) {
  const segs = data.signals;
  const leads = data.leads.length;
  let lo = Infinity, hi = -Infinity;
  for (const seg of segs) for (const lead of seg) for (const v of lead) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const segW = (data.length / data.fs) * MM_PER_S;
  const cellW = ceil5(segW + 4);
  const leadH = ceil5((hi - lo) * MM_PER_MV + 3);
  const cellH = ceil5(leads * leadH + 4); // + a label line
  const avail = Math.max($("paper-wrap").clientWidth - 14, cellW * PX_PER_MM);
  const cols = Math.max(1, Math.min(segs.length, Math.floor(avail / (cellW * PX_PER_MM))));
  const rows = Math.ceil(segs.length / cols);
  const width = cols * cellW, height = rows * cellH;

  const canvas = $("paper");
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${width * PX_PER_MM}px`;
  canvas.style.height = `${height * PX_PER_MM}px`;
  canvas.width = Math.round(width * PX_PER_MM * dpr);
  canvas.height = Math.round(height * PX_PER_MM * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(PX_PER_MM * dpr, 0, 0, PX_PER_MM * dpr, 0, 0);
  ctx.fillStyle = COLORS.paper;
  ctx.fillRect(0, 0, width, height);
  gridLines(ctx, width, height, 1, COLORS.minor, 0.5 / PX_PER_MM);
  gridLines(ctx, width, height, 5, COLORS.major, 1 / PX_PER_MM);

  ctx.lineJoin = "round";
  segs.forEach((seg, i) => {
    const col = i % cols, row = Math.floor(i / cols);
    const x0 = col * cellW + (cellW - segW) / 2;
    const top = row * cellH;
    ctx.fillStyle = COLORS.label;
    ctx.font = "3px system-ui, sans-serif";
    const subject = data.subjects ? ` · ${data.subjects[i]}` : "";
    const rr = data.rr ? ` · RR ${data.rr[i][0].toFixed(2)} s` : ""; // the RR before the beat
    ctx.fillText(`#${i} ${data.label_names[i]}${subject}${rr}`, col * cellW + 1, top + 3.4);
    seg.forEach((lead, c) => {
      const zero = top + 4 + c * leadH + 1.5 + hi * MM_PER_MV; // y of 0 mV (y grows down)
      ctx.beginPath();
      lead.forEach((v, k) => {
        const x = x0 + (k / data.fs) * MM_PER_S, y = zero - v * MM_PER_MV;
        if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = COLORS.trace;
      ctx.lineWidth = 1.4 / PX_PER_MM;
      ctx.stroke();
    });
  });
  canvas.dataset.drawn = String(segs.length);
}

function filename(resp, format) {
  const m = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
  return m ? m[1] : `ecg.${format}`;
}

async function onDownload(event) {
  const format = event.currentTarget.dataset.format;
  if (!state.lastBody) return;
  setStatus(`Preparing ${format}…`);
  try {
    const resp = await postGenerate({ ...state.lastBody, format });
    if (!resp.ok) {
      setStatus(`Error: ${await errorText(resp)}`, true);
      return;
    }
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = filename(resp, format);
    document.body.append(a);
    a.click();
    a.remove();
    window.ecgLastDownload = { url, name: a.download, size: blob.size, type: blob.type };
    setTimeout(() => URL.revokeObjectURL(url), 120000);
    setStatus(`Downloaded ${a.download} (${blob.size} bytes).`);
  } catch (e) {
    setStatus(`Error: ${e}`, true);
  }
}

async function init() {
  try {
    const [health, models] = await Promise.all(
      [fetch("/health").then((r) => r.json()), fetch("/models").then((r) => r.json())]);
    state.models = models;
    state.limits = health.limits;
    $("n").max = String(health.limits.max_n);
    $("seed").max = String(health.limits.max_seed);
    for (const m of models) $("model").append(option(m.name, `${m.name} (${m.kind})`));
    onModelChange();
    setStatus(`Ready: ${models.length} model(s). Up to ${health.limits.max_n} segments per request.`);
  } catch (e) {
    setStatus(`Cannot reach the API: ${e}`, true);
  }
}

$("model").addEventListener("change", onModelChange);
$("controls").addEventListener("submit", onGenerate);
$("random-seed").addEventListener("click", () => {
  $("seed").value = String(Math.floor(Math.random() * 2 ** 32));
});
for (const b of document.querySelectorAll(".download")) b.addEventListener("click", onDownload);
init();
