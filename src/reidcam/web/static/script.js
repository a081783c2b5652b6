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
  timers: {},
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
      location.reload();
    }
    throw new Error("access token required");
  }
  const body = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
  if (!res.ok) {
    let detail = body && body.detail ? body.detail : res.statusText;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new Error(detail);
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
      el("span", { class: "age" })
    ),
    el("div", { class: "frame" }, img),
    el("div", { class: "seen", role: "status" })
  );
  connectStream(img, cam);
  return panel;
}

function connectStream(img, cam) {
  // Browsers keep at most 6 connections per server: past 3 cameras, poll snapshots instead of MJPEG.
  if (state.cameras.length <= 3) {
    img.onerror = () => setTimeout(() => (img.src = withToken(cam.stream_url) + "&r=" + Date.now()), 2000);
    img.src = withToken(cam.stream_url + "?fps=10");
    return;
  }
  const next = () => setTimeout(() => (img.src = withToken(cam.snapshot_url) + "&t=" + Date.now()), 300);
  img.onload = next;
  img.onerror = () => setTimeout(next, 1000);
  next();
}

function renderCameras(cameras) {
  const box = $("#cameras");
  if (!state.cameras.length || cameras.map((c) => c.camera_id).join() !== state.cameras.map((c) => c.camera_id).join()) {
    state.cameras = cameras;
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
  const age = cam.last_frame_age_s;
  panel.querySelector(".age").textContent = age === null ? "" : `last frame ${age < 10 ? age.toFixed(1) : Math.round(age)} s ago`;
  panel.querySelector(".age").title = `frames read ${cam.frames_read}, processed ${cam.frames_processed}, reconnects ${cam.reconnects}, errors ${cam.errors}`;
  const seen = panel.querySelector(".seen");
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
    const rs = $("#run-state");
    rs.textContent = s.running ? "running" : s.error ? "error" : "stopped";
    rs.dataset.state = s.running ? "live" : s.error ? "failed" : "stopped";
    rs.title = s.error || "";
    $("#start").disabled = s.running;
    $("#stop").disabled = !s.running;
    if (!state.thresholdDragging) setThreshold(s.threshold);
  } catch (e) {
    $("#run-state").textContent = "offline";
    $("#run-state").dataset.state = "failed";
  }
}

function setThreshold(v) {
  $("#threshold").value = v;
  $("#threshold-value").textContent = Number(v).toFixed(2);
}

async function startStop(action) {
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
  const track = card.track_id === null ? "untracked" : `track ${card.track_id}`;
  const best = card.best_similarity === null ? "" : ` · best ${sim(card.best_similarity)}`;
  node.replaceChildren(
    el("div", { class: "crops" }, ...card.crops.map(cropImg)),
    el("footer", { text: `${card.camera_id} · ${track} · ${clock(card.first_seen_at)}${best}` })
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
  $("#more").hidden = page.total <= page.cards.length;
  if (!page.total) box.replaceChildren(el("p", { class: "hint", text: "No people yet. Press Start detection." }));
  else box.querySelector(":scope > p.hint")?.remove();
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
        el("span", { class: "query-label", text: `${q.label} · from ${q.source === "upload" ? "a photo" : "the gallery"} at ${clock(q.created_at)}` })
      )
    )
  );
}

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
  const q = "/api/matches?limit=100&current_only=true" + (cam ? `&camera_id=${encodeURIComponent(cam)}` : "");
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
  list.replaceChildren(
    ...page.matches.map((m) =>
      el(
        "li",
        { class: "match", "data-match-id": m.match_id, "data-camera-id": m.camera_id, "data-similarity": m.similarity.toFixed(3) },
        m.thumbnail_url ? el("img", { src: withToken(m.thumbnail_url), alt: `${m.label} on ${m.camera_id}`, loading: "lazy" }) : null,
        el(
          "div",
          { class: "match-text" },
          el("strong", { text: m.camera_id }),
          el("span", { class: "score", text: sim(m.similarity) }),
          el("span", { class: "when", text: `${clock(m.last_seen_at)}${m.first_seen_at < m.last_seen_at - 1 ? " (since " + clock(m.first_seen_at) + ")" : ""}` }),
          el("span", { class: "meta", text: `${m.label} · ${m.track_id === null ? "untracked" : "track " + m.track_id} · ${m.hits} frame${m.hits > 1 ? "s" : ""}` })
        )
      )
    )
  );
}

// ---- live events (server-sent) ----------------------------------------------------------
function connectEvents() {
  const source = new EventSource(withToken("/api/events"));
  source.addEventListener("card", () => debounce("gallery", refreshGallery, 600));
  source.addEventListener("match", () => {
    debounce("matches", refreshMatches, 400);
    debounce("status", refreshStatus, 400);
  });
  source.addEventListener("query", () => refreshQuery());
  source.addEventListener("matches_cleared", () => refreshMatches());
  source.addEventListener("threshold", (e) => {
    if (!state.thresholdDragging) setThreshold(JSON.parse(e.data).threshold);
  });
  source.addEventListener("runner", () => refreshStatus());
}

// ---- wiring -------------------------------------------------------------------------
function wire() {
  $("#start").addEventListener("click", () => startStop("start"));
  $("#stop").addEventListener("click", () => startStop("stop"));
  const th = $("#threshold");
  th.addEventListener("input", () => {
    state.thresholdDragging = true;
    $("#threshold-value").textContent = Number(th.value).toFixed(2);
  });
  th.addEventListener("change", async () => {
    try {
      const r = await api("/api/threshold", Object.assign({ method: "PUT" }, jsonBody({ threshold: Number(th.value) })));
      setThreshold(r.threshold);
    } catch (e) {
      banner(`Threshold not changed: ${e.message}`, "error");
    } finally {
      state.thresholdDragging = false;
    }
  });
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
  $("#more").addEventListener("click", () => {
    state.galleryLimit += 60;
    refreshGallery();
  });
}

async function main() {
  wire();
  await refreshStatus();
  await refreshQuery();
  await Promise.all([refreshGallery(), refreshMatches()]);
  connectEvents();
  setInterval(refreshStatus, 1000);
  setInterval(() => {
    refreshGallery();
    refreshMatches();
  }, 5000);
}

main();
