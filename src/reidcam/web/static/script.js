// reidcam live UI: plain JavaScript, no framework, nothing loaded from the network but this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  token: "",
  cameras: [],
  queries: [],
  selected: new Set(),
  galleryLimit: 60,
  cardEls: new Map(),
  matchEls: new Map(),
  thresholdDragging: false,
  thresholdSending: false,
  thresholdAgain: false,
  thresholdPending: null,
  thresholdVersion: -1,
  streams: new Map(),
  live: null,
  calibration: null,
  cameraCal: [],
  timers: {},
  person: null,
  people: [],
};

// ---- access token (only needed when the server is reachable from the network) ----
(function initToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem("reidcam-token", fromUrl);
    history.replaceState(null, "", location.pathname);
  }
  state.token = fromUrl || sessionStorage.getItem("reidcam-token") || "";
})();

function withToken(url) {
  if (!state.token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(state.token);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    const t = prompt("This reidcam server needs its access token:");
    if (t) {
      state.token = t.trim();
      sessionStorage.setItem("reidcam-token", state.token);
      // the page itself needs the token too: reopen it with ?token= (the server sets its cookie)
      location.assign("/?token=" + encodeURIComponent(state.token));
    }
    throw new Error("access token required");
  }
  const body = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
  if (!res.ok) {
    let detail = body && body.detail ? body.detail : res.statusText;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    const err = new Error(detail);
    err.status = res.status;
    throw err;
  }
  return body;
}

const jsonBody = (data) => ({ headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k === "alt" || k === "title" || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

const clock = (epoch) => new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
const sim = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));

let bannerTimer = null;
function banner(text, kind = "info") {
  const b = $("#banner");
  b.textContent = text;
  b.dataset.kind = kind;
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => (b.hidden = true), kind === "error" ? 8000 : 4000);
}

function debounce(name, fn, ms) {
  if (state.timers[name]) return;
  state.timers[name] = setTimeout(() => {
    state.timers[name] = null;
    fn();
  }, ms);
}

// ---- cameras ------------------------------------------------------------------------
function cameraPanel(cam) {
  const img = el("img", { class: "stream", alt: `camera ${cam.camera_id} live view` });
  const panel = el(
    "section",
    { class: "camera", "data-camera-id": cam.camera_id, "data-matched": "false" },
    el(
      "header",
      {},
      el("span", { class: "name", text: cam.name }),
      el("span", { class: "chip state" }),
      el("span", { class: "fps" }),
      el("span", { class: "reconnects", hidden: true }),
      el("span", { class: "age" }),
      el("button", { type: "button", class: "remove", text: "×", title: `remove camera ${cam.camera_id}`, "data-remove": cam.camera_id })
    ),
    el("div", { class: "frame" }, img),
    el("div", { class: "seen", role: "status" }),
    el("div", { class: "calib", hidden: true })
  );
  state.streams.set(cam.camera_id, img);
  return panel;
}

// Frames come over the page's one WebSocket (see connectLive), not one MJPEG connection per camera.
function showFrame(buffer) {
  const n = new DataView(buffer).getUint16(0);
  const cameraId = new TextDecoder().decode(new Uint8Array(buffer, 2, n));
  const img = state.streams.get(cameraId);
  if (!img) return;
  const url = URL.createObjectURL(new Blob([new Uint8Array(buffer, 2 + n)], { type: "image/jpeg" }));
  const old = img.dataset.url;
  img.src = url;
  img.dataset.url = url;
  img.dataset.frames = String(Number(img.dataset.frames || 0) + 1);
  if (old) URL.revokeObjectURL(old);
}

function renderCameras(cameras) {
  const box = $("#cameras");
  if (!state.cameras.length || cameras.map((c) => c.camera_id).join() !== state.cameras.map((c) => c.camera_id).join()) {
    state.cameras = cameras;
    for (const img of state.streams.values()) if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    state.streams.clear();
    box.replaceChildren(...cameras.map(cameraPanel));
    fillCameraFilter($("#gallery-camera"), cameras);
    fillCameraFilter($("#match-camera"), cameras);
  }
  state.cameras = cameras;
  box.dataset.count = String(cameras.length);
  const health = [];
  for (const cam of cameras) {
    const panel = box.querySelector(`[data-camera-id="${CSS.escape(cam.camera_id)}"]`);
    updateCameraPanel(panel, cam);
    if (panel && cam.state !== "failed" && panel.querySelector(".calib").hidden) showCameraRates(Number($("#threshold").value));
    const chip = el("span", { class: "chip", "data-state": cam.state, title: cam.description + (cam.last_error ? "\n" + cam.last_error : "") });
    chip.textContent = `${cam.name}: ${cam.state}${cam.state === "live" ? " " + cam.fps.toFixed(1) + " fps" : ""}`;
    health.push(chip);
  }
  $("#health").replaceChildren(...health);
}

function updateCameraPanel(panel, cam) {
  if (!panel) return;
  panel.dataset.state = cam.state;
  const st = panel.querySelector(".state");
  st.textContent = cam.state;
  st.dataset.state = cam.state;
  panel.querySelector(".fps").textContent = cam.state === "live" ? `${cam.fps.toFixed(1)} fps` : "";
  const rc = panel.querySelector(".reconnects");
  if (rc) {
    // Shown as text once a camera has dropped out at least once: a flaky camera is visible at a glance.
    rc.hidden = !(cam.reconnects > 0);
    rc.textContent = cam.reconnects > 0 ? `${cam.reconnects} reconnect${cam.reconnects === 1 ? "" : "s"}` : "";
    rc.title = cam.last_error || "";
  }
  const age = cam.last_frame_age_s;
  panel.querySelector(".age").textContent = age === null ? "" : `last frame ${age < 10 ? age.toFixed(1) : Math.round(age)} s ago`;
  panel.querySelector(".age").title = `frames read ${cam.frames_read}, processed ${cam.frames_processed}, reconnects ${cam.reconnects}, errors ${cam.errors}`;
  const seen = panel.querySelector(".seen");
  if (cam.state === "failed") {
    // The reason, on the panel itself: a chip's tooltip is not where a first-time user looks.
    seen.textContent = cam.last_error || "this camera could not be used";
    seen.dataset.error = "true";
    seen.setAttribute("role", "alert");
    panel.querySelector(".calib").hidden = true;
    return;
  }
  delete seen.dataset.error;
  seen.setAttribute("role", "status");
  const m = cam.last_match;
  panel.dataset.matched = m ? "true" : "false";
  if (m) {
    panel.dataset.similarity = m.similarity.toFixed(2);
    const recent = Date.now() / 1000 - m.at < 5;
    panel.classList.toggle("recent", recent);
    seen.textContent = `${m.label} seen: ${sim(m.similarity)} at ${clock(m.at)}`;
  } else {
    delete panel.dataset.similarity;
    panel.classList.remove("recent");
    seen.textContent = state.queries.length ? "query not seen yet" : "";
  }
}

// Add or remove a camera (stopped or running): every open tab hears of it over its socket
// ("cameras" event) and redraws its panels; the other cameras go on.
async function addCamera(form) {
  const id = $("#add-camera-id").value.trim();
  const raw = $("#add-camera-source").value.trim();
  const source = /^\d+$/.test(raw) ? Number(raw) : raw; // a bare number is a USB camera
  const button = $("#add-camera-button");
  button.disabled = true;
  try {
    const cam = await api("/api/cameras", Object.assign({ method: "POST" }, jsonBody({ id, source })));
    form.reset();
    if (cam.state === "failed") banner(`Camera ${cam.camera_id} added, but it cannot run: ${cam.last_error}`, "error");
    else banner(`Camera ${cam.camera_id} added.`);
  } catch (e) {
    banner(`Camera not added: ${e.message}`, "error");
  } finally {
    button.disabled = false;
  }
  refreshStatus();
}

async function removeCamera(cameraId) {
  const what = state.cluster
    ? `Remove camera ${cameraId} from the cluster's registry? Its worker lets it go (its open sightings are saved), for every page and after restarts.`
    : `Remove camera ${cameraId}? Its open sightings are saved; it comes back when the server restarts if it is in the config.`;
  if (!confirm(what)) return;
  try {
    await api(`/api/cameras/${encodeURIComponent(cameraId)}`, { method: "DELETE" });
    banner(`Camera ${cameraId} removed.`);
  } catch (e) {
    banner(`Camera not removed: ${e.message}`, "error");
  }
  refreshStatus();
}

function fillCameraFilter(select, cameras) {
  const value = select.value;
  select.replaceChildren(el("option", { value: "", text: "all cameras" }), ...cameras.map((c) => el("option", { value: c.camera_id, text: c.name })));
  select.value = value;
}

// ---- status, start/stop, threshold ------------------------------------------------------
async function refreshStatus() {
  try {
    const s = await api("/api/status");
    renderCameras(s.cameras);
    showRunState(s);
    $("#device").textContent = s.device;
    serverThreshold(s.threshold, s.threshold_version);
    renderStorage(s.storage);
  } catch (e) {
    $("#run-state").textContent = "offline";
    $("#run-state").dataset.state = "failed";
  }
}

// Stopping can take seconds on a busy machine (the last detection batch, the sightings still to
// write): every tab says so and offers neither button until it is done.
function showRunState(r) {
  const rs = $("#run-state");
  rs.textContent = r.stopping ? "stopping…" : r.running ? "running" : r.error ? "error" : "stopped";
  rs.dataset.state = r.stopping ? "stopping" : r.running ? "live" : r.error ? "failed" : "stopped";
  rs.title = r.error || "";
  $("#start").disabled = r.running || r.stopping;
  $("#stop").disabled = !r.running || r.stopping;
}

// A full or read-only data directory: crops are not saved (detection goes on), say so in the header.
function renderStorage(st) {
  let chip = $("#storage-state");
  const bad = st && st.failing;
  if (!bad) {
    if (chip) chip.remove(); // .chip sets display, which would beat the hidden attribute
    return;
  }
  if (!chip) {
    chip = el("span", { id: "storage-state", class: "chip", role: "alert", "data-state": "failed" });
    $("#run-state").after(chip);
  }
  const lost = st.sightings_failed > 0 ? `, ${st.sightings_failed} sightings not stored` : "";
  chip.textContent = `disk: crops not saved (${st.write_errors})${lost}`;
  chip.title = st.last_error || "";
}

// ---- distributed mode: workers and memory services (GET /api/cluster; 404 on one machine) ----
// The chip says in one line whether every part is there; red with the count when something
// needs a look. Clicked, it opens the list: the problems, then each process with its cameras.
async function refreshCluster() {
  if (state.cluster === false) return;
  let c;
  try {
    c = await api("/api/cluster");
  } catch (e) {
    if (e.status === 404) {
      state.cluster = false; // one machine: no chip, no more polling
      return;
    }
    c = { summary: "cluster unknown", problems: [`the broker did not answer: ${e.message}`], workers: {}, memory: {} };
  }
  if (state.cluster !== true) {
    // the workers run the cameras: there is nothing to start or stop from here
    for (const id of ["#start", "#stop"]) $(id).style.display = "none";
    $("#add-camera").title = "Added to the cluster's camera registry: a worker takes it within seconds, and it stays after restarts.";
  }
  state.cluster = true;
  showCluster(c);
}

function showCluster(c) {
  const chip = $("#cluster");
  chip.hidden = false;
  const n = c.problems.length;
  chip.textContent = n ? `${c.summary} · ${n} problem${n === 1 ? "" : "s"}` : c.summary;
  chip.dataset.state = n ? "failed" : "live";
  chip.title = n ? c.problems.join("\n") : "every part of the cluster reports in";
  const procs = [
    ...Object.entries(c.workers).map(([name, w]) => {
      const cams = (w.cameras || []).join(", ") || "no camera";
      const pub = w.publisher || {};
      return el("li", { text: `worker ${name}: ${cams}; ${pub.published || 0} sightings sent, ${pub.queued || 0} queued` });
    }),
    ...Object.entries(c.memory).map(([name, m]) => el("li", { text: `memory ${name}: ${m.role || "?"}; ${m.stored || 0} sightings stored` })),
  ];
  $("#cluster-problems").replaceChildren(...c.problems.map((p) => el("li", { text: p })));
  $("#cluster-processes").replaceChildren(...(procs.length ? procs : [el("li", { class: "hint", text: "no process reports in" })]));
}

// The slider belongs to the user while they change it: an edit not sent yet, or a PUT in flight.
// The status poll and the threshold events echo older values meanwhile; applied, they made the
// slider jump back while stepped with the arrow keys (0.71 -> 0.74 showed 0.72). Once the last
// PUT is answered its version says what is older, so no quiet time after it: a quiet second
// held back another tab's newer step for up to a second (the 0.81-for-0.82 of the 3-tab test).
const userOwnsThreshold = () => state.thresholdDragging || state.thresholdSending;

// One PUT at a time, always of the slider's current value: two in flight could arrive out of
// order and leave the server at an older value than the slider shows.
async function sendThreshold() {
  if (state.thresholdSending) {
    state.thresholdAgain = true;
    return;
  }
  state.thresholdSending = true;
  try {
    do {
      state.thresholdAgain = false;
      const r = await api("/api/threshold", Object.assign({ method: "PUT" }, jsonBody({ threshold: Number($("#threshold").value) })));
      // the server's value (it may round), unless another tab's newer one came meanwhile
      if (!state.thresholdAgain && newerThreshold(r.version)) setThreshold(r.threshold);
    } while (state.thresholdAgain);
  } catch (e) {
    banner(`Threshold not changed: ${e.message}`, "error");
  } finally {
    state.thresholdSending = false;
    state.thresholdDragging = false;
    applyPendingThreshold(); // another tab's newer value that came meanwhile; an older one is dropped
  }
}

// The server's threshold comes from events, status answers and PUT answers, each with the version
// (a count of changes) it had. An older one than already seen is dropped: a status answer built
// before another tab's change and delivered after it set the slider back (0.81 for 0.82). A newer
// one that arrives while the slider is the user's is kept, not dropped (another operator's step),
// and applied once the slider is free again, unless a newer one was applied meanwhile: a status
// answer of the old version kept during this tab's own PUT came back after that PUT's answer and
// set the slider back (0.81 for 0.82).
function newerThreshold(version) {
  if (version < state.thresholdVersion) return false;
  state.thresholdVersion = version;
  return true;
}

function serverThreshold(v, version) {
  if (!newerThreshold(version)) return;
  state.thresholdPending = { value: v, version };
  applyPendingThreshold();
}

function applyPendingThreshold() {
  clearTimeout(state.timers.thresholdPending);
  if (state.thresholdPending === null) return;
  if (state.thresholdPending.version < state.thresholdVersion) {
    state.thresholdPending = null; // a newer value (this tab's PUT answer) was applied meanwhile
    return;
  }
  if (userOwnsThreshold()) {
    state.timers.thresholdPending = setTimeout(applyPendingThreshold, 100); // a drag has no end event to wait on
    return;
  }
  setThreshold(state.thresholdPending.value);
  state.thresholdPending = null;
}

function setThreshold(v) {
  $("#threshold").value = v;
  $("#threshold-value").textContent = Number(v).toFixed(2);
  showRates(Number(v));
}

// ---- per camera: the label-free calibration of the self-calibrating matcher --------------
async function refreshCameraCalibration() {
  try {
    state.cameraCal = await api("/api/calibration/cameras");
  } catch (e) {
    state.cameraCal = [];
  }
  showCameraRates(Number($("#threshold").value));
}

function cameraRatesText(c, t) {
  if (!c.self_calibrating) return "";
  if (!c.enough) {
    return `calibrating: ${c.num_negative}/${c.min_negative_pairs} different-people, ${c.num_positive}/${c.min_positive_pairs} same-person pairs; threshold ${c.threshold_in_use.toFixed(2)} (model default)`;
  }
  const r = c.curve.find((x) => x.threshold >= t - 1e-9) || { fmr: 0, tpr: 0 };
  return `here at ${t.toFixed(2)}: false matches ${pct(r.fmr)} · true matches ${pct(r.tpr)} (estimated); threshold in use ${c.threshold_in_use.toFixed(2)}`;
}

function showCameraRates(t) {
  for (const c of state.cameraCal) {
    const panel = document.querySelector(`#cameras [data-camera-id="${CSS.escape(c.camera_id)}"]`);
    const box = panel && panel.querySelector(".calib");
    if (!box) continue;
    if (panel.dataset.state === "failed") {
      box.hidden = true;
      continue;
    }
    const text = cameraRatesText(c, t);
    box.hidden = !text && !c.warning;
    box.dataset.warning = c.warning ? "true" : "false";
    box.setAttribute("role", c.warning ? "alert" : "status");
    box.replaceChildren(...[c.warning && el("strong", { class: "warning", text: c.warning }), text && el("span", { text })].filter(Boolean));
    box.title = c.why;
  }
}

// ---- calibration: what a threshold means for this model (`reidcam calibrate`) ------------
const pct = (x) => (x >= 0.1 ? `${(100 * x).toFixed(0)} %` : x >= 0.001 ? `${(100 * x).toFixed(1)} %` : `${(100 * x).toFixed(2)} %`);

async function loadCalibration() {
  refreshCameraCalibration();
  try {
    state.calibration = await api("/api/calibration");
  } catch (e) {
    state.calibration = null;
  }
  const cal = state.calibration;
  const box = $("#calibration");
  box.dataset.calibrated = cal && cal.calibrated ? "true" : "false";
  box.hidden = !(cal && cal.calibrated); // nothing to show next to the slider without a calibration
  $("#use-calibrated").hidden = !(cal && cal.calibrated);
  $("#calibration-hist").toggleAttribute("hidden", !(cal && cal.calibrated && cal.histogram)); // an SVG: no .hidden
  if (!cal || !cal.calibrated) {
    $("#calibration-text").textContent = "not calibrated";
    box.title = "Run `reidcam calibrate` on labelled crops of your cameras and start the server with --calibration to see what this threshold means.";
    return;
  }
  const held = cal.holdout ? `; held-out pairs: false matches ${pct(cal.holdout.fmr)}, true matches ${pct(cal.holdout.tpr)}` : "";
  box.title =
    `Calibrated for ${cal.model_id}: threshold ${cal.threshold.toFixed(3)} allows ${pct(cal.target_fmr)} false matches ` +
    `(measured ${pct(cal.fmr)}, true matches ${pct(cal.tpr)}) on ${cal.num_same} same-person and ${cal.num_different} ` +
    `different-people pairs${held}. Data: ${cal.data}. Green: same person, red: different people.`;
  drawHistogram(cal);
  showRates(Number($("#threshold").value));
}

function ratesAt(t) {
  const curve = state.calibration && state.calibration.curve;
  if (!curve || !curve.length) return null;
  return curve.find((r) => r.threshold >= t - 1e-9) || { threshold: t, fmr: 0, tpr: 0 };
}

function showRates(t) {
  showCameraRates(t);
  const cal = state.calibration;
  if (!cal || !cal.calibrated) return;
  const r = ratesAt(t);
  const text = $("#calibration-text");
  text.textContent = `false matches ${pct(r.fmr)} · true matches ${pct(r.tpr)} (calibrated ${cal.threshold.toFixed(2)})`;
  text.dataset.fmr = r.fmr;
  text.dataset.tpr = r.tpr;
  text.classList.toggle("risky", r.fmr > 2 * cal.target_fmr);
  const line = $("#calibration-hist .current");
  if (line) line.setAttribute("x1", 100 * t), line.setAttribute("x2", 100 * t);
}

function drawHistogram(cal) {
  const h = cal.histogram;
  const svg = $("#calibration-hist");
  const ns = svg.namespaceURI; // the SVG namespace, from the element in the page
  const shape = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  const parts = [];
  for (const [kind, counts] of [["different", h.different], ["same", h.same]]) {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    const peak = Math.max(...counts.map((c) => c / total)) || 1;
    counts.forEach((c, i) => {
      const x0 = h.edges[i], x1 = h.edges[i + 1];
      if (x1 <= 0 || !c) return; // the slider spans similarities 0..1
      const height = (22 * c) / total / peak;
      parts.push(shape("rect", { class: kind, x: 100 * Math.max(x0, 0), width: 100 * (x1 - Math.max(x0, 0)), y: 24 - height, height }));
    });
  }
  parts.push(shape("line", { class: "calibrated", x1: 100 * cal.threshold, x2: 100 * cal.threshold, y1: 0, y2: 24 }));
  parts.push(shape("line", { class: "current", x1: 0, x2: 0, y1: 0, y2: 24 }));
  svg.replaceChildren(...parts);
}

async function useCalibrated() {
  const cal = state.calibration;
  if (!cal || !cal.calibrated) return;
  try {
    const r = await api("/api/threshold", Object.assign({ method: "PUT" }, jsonBody({ threshold: cal.threshold })));
    if (newerThreshold(r.version)) setThreshold(r.threshold);
  } catch (e) {
    banner(`Threshold not changed: ${e.message}`, "error");
  }
}

async function startStop(action) {
  if (action === "stop") showRunState({ running: true, stopping: true, error: null });
  $("#start").disabled = $("#stop").disabled = true;
  try {
    const r = await api(`/api/${action}`, { method: "POST" });
    if (r.error) banner(r.error, "error");
  } catch (e) {
    banner(`${action} failed: ${e.message}`, "error");
  }
  refreshStatus();
}

// ---- gallery ----------------------------------------------------------------------
function cropImg(crop) {
  const img = el("img", {
    class: "crop",
    src: withToken(crop.url),
    alt: `person on ${crop.camera_id}`,
    title: `${crop.camera_id} · ${crop.frame_name || ""} · ${clock(crop.captured_at)}\nclick: look for this person`,
    loading: "lazy",
    "data-crop-id": crop.crop_id,
    "data-camera-id": crop.camera_id,
    "data-frame-name": crop.frame_name || "",
    "data-xyxy": crop.xyxy ? crop.xyxy.join(",") : "",
  });
  img.classList.toggle("selected", state.selected.has(crop.crop_id));
  return img;
}

function updateCard(node, card) {
  const key = card.crops.map((c) => c.crop_id).join() + "|" + card.matched;
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  node.dataset.matched = String(card.matched);
  const track = card.track_id === null ? "" : ` #${card.track_id}`;
  const best = card.best_similarity === null ? "" : ` · ${sim(card.best_similarity)}`;
  node.title = `${card.camera_id}, ${card.track_id === null ? "untracked" : "track " + card.track_id}, ` +
    `seen ${clock(card.first_seen_at)}–${clock(card.last_seen_at)} (${card.observations} frames)`;
  node.replaceChildren(
    el("div", { class: "crops" }, ...card.crops.map(cropImg)),
    el("footer", {}, el("b", { text: card.camera_id + track }), el("br"), `${clock(card.first_seen_at)}${best}`)
  );
}

async function refreshGallery() {
  const cam = $("#gallery-camera").value;
  const q = `/api/gallery?limit=${state.galleryLimit}` + (cam ? `&camera_id=${encodeURIComponent(cam)}` : "");
  let page;
  try {
    page = await api(q);
  } catch (e) {
    return;
  }
  const box = $("#gallery");
  const keep = new Set();
  let prev = null;
  for (const card of page.cards) {
    keep.add(card.card_id);
    let node = state.cardEls.get(card.card_id);
    if (!node) {
      node = el("article", { class: "card", "data-card-id": card.card_id, "data-camera-id": card.camera_id });
      state.cardEls.set(card.card_id, node);
    }
    updateCard(node, card);
    const want = prev ? prev.nextSibling : box.firstChild;
    if (want !== node) box.insertBefore(node, want);
    prev = node;
  }
  for (const [id, node] of state.cardEls) {
    if (!keep.has(id)) {
      node.remove();
      state.cardEls.delete(id);
    }
  }
  $("#gallery-count").textContent = page.total ? `(${page.total})` : "";
  showLeftOut(page.left_out || {});
  $("#more").hidden = page.total <= page.cards.length;
  if (!page.total) box.replaceChildren(el("p", { class: "hint", text: "No people yet. Press Start detection." }));
  else box.querySelector(":scope > p.hint")?.remove();
}

// The gallery holds a bounded number of cards: say how many went, and why (single untracked
// frames go first, queried people never), so a missing person is not a mystery.
function showLeftOut(leftOut) {
  const parts = Object.entries(leftOut);
  const total = parts.reduce((n, [, k]) => n + k, 0);
  const box = $("#gallery-left-out");
  box.hidden = total === 0;
  box.dataset.total = String(total);
  box.textContent = total
    ? `${total} card${total === 1 ? "" : "s"} left out to keep the gallery small: ` +
      parts.map(([why, n]) => `${n} ${why}`).join(", ") + ". People who match a query, or were picked as one, are kept."
    : "";
}

function toggleSelected(img) {
  const id = img.dataset.cropId;
  if (state.selected.has(id)) state.selected.delete(id);
  else state.selected.add(id);
  document.querySelectorAll(`img.crop[data-crop-id="${CSS.escape(id)}"]`).forEach((i) => i.classList.toggle("selected", state.selected.has(id)));
  const n = state.selected.size;
  $("#use-selected").disabled = n === 0;
  $("#use-selected").textContent = n ? `Use ${n} selected as query` : "Use selected as query";
}

async function useAsQuery(cropIds) {
  try {
    const q = await api("/api/query/crops", Object.assign({ method: "POST" }, jsonBody({ crop_ids: cropIds, replace: true })));
    banner(`Looking for ${q.label} (${q.images.length} image${q.images.length > 1 ? "s" : ""}).`);
    state.selected.clear();
    document.querySelectorAll("img.crop.selected").forEach((i) => i.classList.remove("selected"));
    toggleSelectedButton();
    await afterQueryChange();
  } catch (e) {
    banner(`Could not use that crop: ${e.message}`, "error");
  }
}

function toggleSelectedButton() {
  $("#use-selected").disabled = state.selected.size === 0;
  $("#use-selected").textContent = "Use selected as query";
}

// ---- query ------------------------------------------------------------------------
async function refreshQuery() {
  try {
    state.queries = (await api("/api/query")).queries;
  } catch (e) {
    return;
  }
  renderQuery();
}

function renderQuery() {
  const box = $("#query");
  $("#clear-query").disabled = state.queries.length === 0;
  if (!state.queries.length) {
    box.replaceChildren(el("p", { class: "hint", text: "No query yet: click a person in the gallery, or upload a photo." }));
    return;
  }
  box.replaceChildren(
    ...state.queries.map((q) =>
      el(
        "div",
        { class: "query", "data-query-id": q.query_id },
        el("div", { class: "query-images" }, ...q.images.map((i) => el("img", { src: withToken(i.url), alt: q.label }))),
        el("span", { class: "query-label", text: `${q.label} · from ${QUERY_SOURCES[q.source] || q.source} at ${clock(q.created_at)}` })
      )
    )
  );
}

const QUERY_SOURCES = { upload: "a photo", crops: "the gallery", memory: "People (named)" };

async function afterQueryChange() {
  await refreshQuery();
  await refreshMatches();
  refreshStatus();
}

async function clearQuery() {
  try {
    await api("/api/query", { method: "DELETE" });
    await api("/api/matches", { method: "DELETE" });
  } catch (e) {
    banner(`Could not clear: ${e.message}`, "error");
  }
  await afterQueryChange();
}

async function uploadPhoto(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("replace", "true");
  try {
    const r = await api("/api/query/upload", { method: "POST", body: form });
    banner(r.message);
    await afterQueryChange();
  } catch (e) {
    banner(`Upload refused: ${e.message}`, "error");
  } finally {
    $("#upload").value = "";
  }
}

// ---- matches ------------------------------------------------------------------------
async function refreshMatches() {
  const cam = $("#match-camera").value;
  const q = "/api/matches?limit=100&current_only=true&verdict=match&verdict=uncertain" + (cam ? `&camera_id=${encodeURIComponent(cam)}` : "");
  let page;
  try {
    page = await api(q);
  } catch (e) {
    return;
  }
  $("#match-count").textContent = page.total ? `(${page.total})` : "";
  const list = $("#matches");
  if (!page.matches.length) {
    list.replaceChildren(el("li", { class: "hint", text: state.queries.length ? "Not seen yet." : "Matches of the query person appear here." }));
    return;
  }
  list.replaceChildren(...page.matches.map(matchItem));
}

// One match or close call, with its evidence: the person's crop beside the query image that
// scored best (and the runner-up query's, when that is what made it a close call).
function matchItem(m) {
  const uncertain = m.verdict === "uncertain";
  const img = (url, alt, cls) => (url ? el("img", { class: cls, src: withToken(url), alt, title: alt, loading: "lazy" }) : null);
  const runner = m.runner_up_id
    ? `runner-up ${m.runner_up_label || m.runner_up_id} ${m.runner_up_similarity === null ? "" : sim(m.runner_up_similarity)}`
    : "";
  return el(
    "li",
    {
      class: uncertain ? "match uncertain" : "match",
      "data-match-id": m.match_id,
      "data-camera-id": m.camera_id,
      "data-verdict": m.verdict,
      "data-similarity": m.similarity.toFixed(3),
      "data-frame-name": m.frame_name || "",
      "data-xyxy": m.xyxy.join(","),
      title: m.reason,
    },
    el(
      "div",
      { class: "evidence" },
      img(m.thumbnail_url, `${m.label}? on ${m.camera_id}`, "seen"),
      img(m.query_image_url, `query image of ${m.label}`, "query-view"),
      uncertain ? img(m.runner_up_image_url, `query image of ${m.runner_up_label || "the runner-up"}`, "runner-up-view") : null
    ),
    el(
      "div",
      { class: "match-text" },
      el("strong", { text: m.camera_id }),
      el("span", { class: "verdict", "data-verdict": m.verdict, text: uncertain ? "close call: check" : "match" }),
      el("span", { class: "score", text: sim(m.similarity) }),
      el("span", { class: "when", text: `${clock(m.last_seen_at)}${m.first_seen_at < m.last_seen_at - 1 ? " (since " + clock(m.first_seen_at) + ")" : ""}` }),
      el("span", { class: "meta", text: `${m.label} · ${m.track_id === null ? "untracked" : "track " + m.track_id} · ${m.hits} frame${m.hits > 1 ? "s" : ""}` }),
      uncertain ? el("span", { class: "reason", text: m.reason + (runner ? ` (${runner})` : "") }) : null
    )
  );
}

// ---- people: the identity memory ----------------------------------------------------------
const day = (epoch) => new Date(epoch * 1000).toLocaleString([], { hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const thumb = (url, alt) => (url ? el("img", { src: withToken(url), alt, loading: "lazy" }) : el("img", { alt }));
const personName = (p) => p.name || `unnamed ${p.identity_id.slice(4, 10)}`;

async function refreshPeople() {
  let page;
  try {
    page = await api(`/api/identities?limit=200${$("#named-only").checked ? "&named_only=true" : ""}`);
  } catch (e) {
    if (/identity memory is off/.test(e.message)) $("#people-panel").hidden = true;
    return;
  }
  const people = page.identities;
  state.people = people;
  $("#people-count").textContent = people.length ? `(${people.length}${people.length === page.limit ? "+" : ""})` : "";
  if (!people.length) {
    $("#people").replaceChildren(el("li", { class: "hint", text: "Nobody yet: people appear here once they leave a camera's view." }));
    return;
  }
  $("#people").replaceChildren(
    ...people.map((p) =>
      el(
        "li",
        { class: `person-row${state.person === p.identity_id ? " active" : ""}`, "data-identity-id": p.identity_id },
        thumb(p.thumbnail_url, personName(p)),
        el(
          "div",
          { class: "person-text" },
          el("b", { text: personName(p) }),
          el("span", { text: `${p.n_sightings} sighting${p.n_sightings === 1 ? "" : "s"} · ${p.camera_ids.join(", ")}` }),
          el("span", { text: p.last_seen_at ? `last seen ${day(p.last_seen_at)}` : "not seen yet" })
        )
      )
    )
  );
}

async function showPerson(id) {
  state.person = id;
  let person, line;
  try {
    [person, line] = await Promise.all([api(`/api/identities/${id}`), api(`/api/identities/${id}/timeline`)]);
  } catch (e) {
    banner(`Cannot show this person: ${e.message}`, "error");
    closePerson();
    return;
  }
  for (const row of document.querySelectorAll(".person-row")) row.classList.toggle("active", row.dataset.identityId === id);
  const name = el("input", { id: "person-name", value: person.name || "", placeholder: "name (makes them a query)", maxLength: 64 });
  const box = $("#person");
  box.hidden = false;
  box.replaceChildren(
    el(
      "div",
      { class: "person-head" },
      name,
      el("button", { id: "rename", type: "button", class: "primary", text: "Rename", onclick: () => renamePerson(id, name.value) }),
      el("button", { id: "delete-person", type: "button", class: "danger", text: "Delete", onclick: () => deletePerson(id, personName(person)) }),
      el("button", { type: "button", text: "Close", onclick: closePerson })
    ),
    mergeControls(id, person) || "",
    el("p", { class: "hint", text: `${person.n_sightings} sightings on ${person.camera_ids.join(", ") || "no camera"}; oldest first. Reject a sighting that is someone else.` }),
    el(
      "ol",
      { class: "timeline" },
      ...line.sightings.map((s) =>
        el(
          "li",
          { class: "sighting", "data-sighting-id": s.sighting_id, "data-camera-id": s.camera_id, "data-feedback": s.feedback || "" },
          thumb(s.thumbnail_url, `${personName(person)} on ${s.camera_id}`),
          el("span", { text: `${s.camera_id} · ${sim(s.similarity)}` }),
          el("span", { text: day(s.first_seen_at) }),
          el(
            "span",
            { class: "actions" },
            el("button", { type: "button", class: "confirm", text: "✓", title: "Confirm: this is them", onclick: () => sightingFeedback(s.sighting_id, "confirm") }),
            el("button", { type: "button", class: "reject", text: "✗", title: "Reject: this is someone else", onclick: () => sightingFeedback(s.sighting_id, "reject") }),
            el("button", { type: "button", class: "split", text: "⇱", title: "Split: someone else, a new person of their own", onclick: () => sightingFeedback(s.sighting_id, "split") })
          )
        )
      )
    )
  );
}

function closePerson() {
  state.person = null;
  $("#person").hidden = true;
  for (const row of document.querySelectorAll(".person-row.active")) row.classList.remove("active");
}

async function renamePerson(id, name) {
  try {
    await api(`/api/identities/${id}`, Object.assign({ method: "PATCH" }, jsonBody({ name: name.trim() || null })));
    banner(name.trim() ? `Renamed to ${name.trim()}; the cameras now look for them.` : "Name cleared.");
  } catch (e) {
    banner(`Not renamed: ${e.message}`, "error");
  }
  await Promise.all([refreshPeople(), showPerson(id), refreshQuery()]);
}

async function deletePerson(id, label) {
  if (!confirm(`Forget ${label}? Their sightings and photos are deleted for good.`)) return;
  try {
    const r = await api(`/api/identities/${id}`, { method: "DELETE" });
    banner(`${label} forgotten (${r.files_removed} photo${r.files_removed === 1 ? "" : "s"} deleted).`);
  } catch (e) {
    banner(`Not deleted: ${e.message}`, "error");
  }
  closePerson();
  await Promise.all([refreshPeople(), refreshQuery()]);
}

// Two entries that are one person (the tracker lost them, or they changed jacket): merge them.
function mergeControls(id, person) {
  const others = (state.people || []).filter((p) => p.identity_id !== id);
  if (!others.length) return null;
  // No one preselected: merging is for good, so the user picks the other person themselves.
  const pick = el(
    "select",
    { id: "merge-other", "aria-label": "person to merge into this one" },
    el("option", { value: "", text: "choose a person…", selected: true, disabled: true }),
    ...others.map((p) => el("option", { value: p.identity_id, text: `${personName(p)} (${p.n_sightings})` }))
  );
  const button = el("button", { id: "merge", type: "button", text: "Merge", disabled: true });
  pick.addEventListener("change", () => (button.disabled = !pick.value));
  const go = async () => {
    const other = others.find((p) => p.identity_id === pick.value);
    if (!other || !confirm(`Merge ${personName(other)} into ${personName(person)}? Their sightings become one person.`)) return;
    try {
      await api(`/api/identities/${id}/merge`, Object.assign({ method: "POST" }, jsonBody({ other_id: other.identity_id })));
      banner(`Merged ${personName(other)} into ${personName(person)}.`);
    } catch (e) {
      banner(`Not merged: ${e.message}`, "error");
    }
    await refreshPeople();
    await Promise.all([showPerson(id), refreshQuery()]);
  };
  button.addEventListener("click", go);
  return el("div", { class: "person-merge" }, el("span", { text: "Same person as" }), pick, button);
}

const FEEDBACK_DONE = {
  confirm: "Confirmed.",
  reject: "Rejected: the sighting was moved to someone else.",
  split: "Split: the sighting is a new person of its own.",
};

async function sightingFeedback(sightingId, verb) {
  try {
    await api(`/api/sightings/${sightingId}/${verb}`, { method: "POST" });
    banner(FEEDBACK_DONE[verb]);
  } catch (e) {
    banner(`Not done: ${e.message}`, "error");
  }
  await refreshPeople(); // first: the person view offers the people list to merge with
  if (state.person) await showPerson(state.person);
}

async function searchPhoto(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("k", "12");
  const box = $("#search-results");
  try {
    const r = await api("/api/search/photo", { method: "POST", body: form });
    box.hidden = false;
    box.replaceChildren(
      el("header", {}, el("span", { text: `${r.hits.length} most similar sighting${r.hits.length === 1 ? "" : "s"} · ${r.message}` }), el("button", { type: "button", text: "Close", onclick: () => (box.hidden = true) })),
      r.hits.length
        ? el(
            "ol",
            { class: "hits" },
            ...r.hits.map((h) =>
              el(
                "li",
                { class: "hit", "data-identity-id": h.sighting.identity_id || "", "data-similarity": h.similarity.toFixed(3), title: "show this person" },
                thumb(h.sighting.thumbnail_url, h.identity_name || "sighting"),
                el("span", { text: `${h.identity_name || "unnamed"} · ${sim(h.similarity)}` }),
                el("span", { text: `${h.sighting.camera_id} · ${day(h.sighting.first_seen_at)}` })
              )
            )
          )
        : el("p", { class: "hint", text: "Nobody like this has been seen." })
    );
  } catch (e) {
    banner(`Search refused: ${e.message}`, "error");
  } finally {
    $("#search-photo").value = "";
  }
}

// ---- live: one WebSocket for every camera's frames and the events ------------------------
// Browsers allow 6 HTTP connections per server, shared by every tab: a connection per camera
// (MJPEG) plus an event stream left none for the buttons past a few cameras or a second tab.
// The page holds this one socket whatever the camera count; the token travels as the cookie
// (or ?token=), as for every other request.
const EVENT_HANDLERS = {
  hello: () => {
    // (re)connected: events may have been missed meanwhile
    refreshStatus();
    refreshQuery();
    debounce("gallery", refreshGallery, 200);
    debounce("matches", refreshMatches, 200);
  },
  card: () => debounce("gallery", refreshGallery, 600),
  match: () => {
    debounce("matches", refreshMatches, 400);
    debounce("status", refreshStatus, 400);
  },
  query: () => refreshQuery(),
  matches_cleared: () => refreshMatches(),
  threshold: (e) => serverThreshold(e.threshold, e.version),
  runner: (e) => (e.stopping ? showRunState(e) : refreshStatus()),
  cameras: () => refreshStatus(),
  sighting: () => debounce("people", refreshPeople, 1500),
};

function connectLive() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(withToken(`${scheme}//${location.host}/api/live?fps=10`));
  ws.binaryType = "arraybuffer";
  ws.onmessage = (msg) => {
    if (typeof msg.data !== "string") return showFrame(msg.data);
    for (const event of JSON.parse(msg.data)) (EVENT_HANDLERS[event.type] || (() => {}))(event);
  };
  ws.onclose = () => {
    if (state.live === ws) state.live = null;
    setTimeout(connectLive, 2000); // the server restarted or the network blinked
  };
  state.live = ws;
}

// ---- wiring -------------------------------------------------------------------------
function wire() {
  $("#start").addEventListener("click", () => startStop("start"));
  $("#cluster").addEventListener("click", () => {
    const panel = $("#cluster-panel");
    panel.hidden = !panel.hidden;
    $("#cluster").setAttribute("aria-expanded", String(!panel.hidden));
  });
  $("#add-camera").addEventListener("submit", (e) => {
    e.preventDefault();
    addCamera(e.target);
  });
  $("#cameras").addEventListener("click", (e) => {
    const button = e.target.closest("button.remove");
    if (button) removeCamera(button.dataset.remove);
  });
  $("#stop").addEventListener("click", () => startStop("stop"));
  const th = $("#threshold");
  th.addEventListener("input", () => {
    state.thresholdDragging = true;
    $("#threshold-value").textContent = Number(th.value).toFixed(2);
    showRates(Number(th.value));
  });
  $("#use-calibrated").addEventListener("click", useCalibrated);
  th.addEventListener("change", sendThreshold);
  $("#gallery").addEventListener("click", (e) => {
    const img = e.target.closest("img.crop");
    if (!img) return;
    if (e.ctrlKey || e.metaKey || e.shiftKey || $("#multi").checked) toggleSelected(img);
    else useAsQuery([img.dataset.cropId]);
  });
  $("#use-selected").addEventListener("click", () => useAsQuery([...state.selected]));
  $("#clear-query").addEventListener("click", clearQuery);
  $("#upload").addEventListener("change", (e) => e.target.files[0] && uploadPhoto(e.target.files[0]));
  $("#gallery-camera").addEventListener("change", () => {
    state.cardEls.clear();
    $("#gallery").replaceChildren();
    refreshGallery();
  });
  $("#match-camera").addEventListener("change", refreshMatches);
  $("#people").addEventListener("click", (e) => {
    const row = e.target.closest(".person-row");
    if (row) showPerson(row.dataset.identityId);
  });
  $("#search-results").addEventListener("click", (e) => {
    const hit = e.target.closest(".hit");
    if (hit && hit.dataset.identityId) showPerson(hit.dataset.identityId);
  });
  $("#named-only").addEventListener("change", refreshPeople);
  $("#search-photo").addEventListener("change", (e) => e.target.files[0] && searchPhoto(e.target.files[0]));
  $("#more").addEventListener("click", () => {
    state.galleryLimit += 60;
    refreshGallery();
  });
}

async function main() {
  wire();
  await loadCalibration();
  await refreshStatus();
  await refreshQuery();
  await Promise.all([refreshGallery(), refreshMatches(), refreshPeople()]);
  connectLive();
  setInterval(refreshStatus, 1000);
  refreshCluster();
  setInterval(refreshCluster, 3000);
  setInterval(() => {
    refreshGallery();
    refreshMatches();
  }, 5000);
  setInterval(refreshPeople, 15000);
  setInterval(refreshCameraCalibration, 5000);
}

main();
