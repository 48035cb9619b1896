// limbic dashboard. Plain JavaScript, no dependencies: it talks to the
// OpenAI-compatible API on the same origin (GET /v1/models, POST
// /v1/chat/completions with "stream": true, GET /v1/limbic/alerts and
// /v1/limbic/rules) and draws everything itself.
"use strict";

(() => {
  const KEY_STORAGE = "limbic.apiKey";
  const POLL_MS = 2000;
  const MAX_ALERTS = 200;
  const PALETTE = ["#2f6fe0", "#e4572e", "#17a398", "#d99a0b", "#8e44ad", "#c2185b",
    "#2e86ab", "#6a994e", "#7f5539", "#5c6b7a", "#ff6f91", "#00897b"];

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  };
  const fmt = (v, digits = 2) => (typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–");
  const signed = (v) => (v > 0 ? "+" : "") + Number(v).toFixed(2);
  const shortID = (id) => (id && id.length > 14 ? id.slice(0, 13) + "…" : id || "");

  const state = {
    key: "",
    model: null, // data[0] of /v1/models
    hasPack: false,
    history: [], // {role, content} sent as messages
    steers: [], // spec strings, "calm=0.1@3:generated"
    busy: false,
    abort: null,
    reply: 0, // number of the reply the chart shows
    tokens: [], // the current reply's token readouts
    tokenSpans: [], // their spans in the message list
    stat: "",
    layer: null,
    conversationID: "",
    colors: new Map(), // emotion → colour, stable for the page's life
    alerts: new Map(), // key → alert
    lastAlertID: 0,
    hasStore: true,
    pollTimer: 0,
    polling: false,
    rules: new Map(), // name → rule
    drawQueued: false,
    hover: -1,
    readoutOff: false, // the server has telemetry off
    emotions: [], // the pack's emotions (GET /v1/models), asked for at every token
    chat: 0, // bumped by "New chat", so that a reply cut short does not land in the new history
  };

  try { state.key = localStorage.getItem(KEY_STORAGE) || ""; } catch { state.key = ""; }

  // ---- API -------------------------------------------------------------

  function api(path, opts = {}) {
    const headers = Object.assign({}, opts.headers || {});
    if (state.key) headers.Authorization = "Bearer " + state.key;
    if (opts.body) headers["Content-Type"] = "application/json";
    return fetch(path, Object.assign({}, opts, { headers, cache: "no-store" }));
  }

  async function errorText(resp) {
    try {
      const j = await resp.json();
      if (j && j.error && j.error.message) return j.error.message;
    } catch { /* not JSON */ }
    return resp.status + " " + resp.statusText;
  }

  function notice(msg, kind) {
    const n = $("#notice");
    if (!msg) { n.hidden = true; n.textContent = ""; return; }
    n.textContent = msg;
    n.className = "notice" + (kind === "error" ? " error" : "");
    n.hidden = false;
  }

  // ---- model status ------------------------------------------------------

  async function loadModel() {
    const status = $("#status");
    let resp;
    try {
      resp = await api("/v1/models");
    } catch (e) {
      status.dataset.state = "error";
      status.textContent = "Cannot reach the server: " + e.message;
      return false;
    }
    if (resp.status === 401) {
      status.dataset.state = "error";
      status.textContent = "This server needs an API key: enter it above.";
      $("#api-key").focus();
      setEnabled(false);
      return false;
    }
    if (!resp.ok) {
      status.dataset.state = "error";
      status.textContent = "GET /v1/models: " + (await errorText(resp));
      return false;
    }
    const body = await resp.json();
    const m = body.data && body.data[0];
    if (!m) {
      status.dataset.state = "error";
      status.textContent = "The server lists no model.";
      return false;
    }
    state.model = m;
    const L = m.limbic || {};
    state.emotions = (L.emotions || []).slice();
    state.hasPack = !!(L.readout || L.steering);
    status.replaceChildren();
    status.append("Model ", el("strong", { id: "model-name", text: m.id }));
    if (L.context_length) status.append(" · " + L.context_length + " tokens of context");
    if (state.hasPack) {
      status.append(" · vectors ", el("strong", { text: L.vectors || "loaded" }),
        " · " + (L.emotions || []).length + " emotions · layer " + L.default_layer);
      status.append(el("span", { class: "pill on", text: "readout" }), el("span", { class: "pill on", text: "steering" }));
      status.dataset.state = "ready";
      notice("");
    } else {
      status.append(" · ", el("strong", { id: "no-pack", text: "no vector pack: plain completions" }));
      status.append(el("span", { class: "pill off", text: "no readout" }), el("span", { class: "pill off", text: "no steering" }));
      status.dataset.state = "plain";
      const note = L.note || "no vector pack loaded: plain completions without emotion readout or steering";
      notice(note.charAt(0).toUpperCase() + note.slice(1) + ".");
    }
    document.body.dataset.pack = state.hasPack ? "1" : "0";
    $("#steer-panel").hidden = !state.hasPack;
    $("#readout-controls").hidden = !state.hasPack;
    $("#chart-panel").hidden = !state.hasPack;
    fillSelects(L);
    setEnabled(true);
    return true;
  }

  function fillSelects(L) {
    const emotions = (L.emotions || []).slice().sort();
    const layers = L.layers || [];
    const emoSel = $("#steer-emotion");
    emoSel.replaceChildren(...emotions.map((e) => el("option", { value: e, text: e })));
    for (const sel of [$("#steer-layer"), $("#readout-layer")]) {
      const prev = sel.value;
      sel.replaceChildren(el("option", { value: "", text: "default (" + L.default_layer + ")" }),
        ...layers.map((l) => el("option", { value: l, text: String(l) })));
      if (prev && layers.includes(Number(prev))) sel.value = prev;
    }
  }

  function setEnabled(on) {
    $("#send").disabled = !on || state.busy;
    $("#prompt").disabled = !on;
  }

  // ---- rules and alerts --------------------------------------------------

  async function loadRules() {
    let resp;
    try { resp = await api("/v1/limbic/rules"); } catch { return; }
    if (!resp.ok) return;
    const rules = (await resp.json()).data || [];
    state.rules = new Map(rules.map((r) => [r.name, r]));
    const list = $("#rules-list");
    list.replaceChildren(...rules.map((r) => {
      const action = r.action && r.action.type && r.action.type !== "record" ? " → " + r.action.type : "";
      const extra = (r.for ? " for " + r.for : "") + (r.window > 1 ? " (mean of " + r.window + ")" : "");
      return el("li", {}, el("strong", { text: r.name }), ": ",
        el("code", { text: r.emotion + " " + r.op + " " + r.threshold }), extra + action);
    }));
    if (!rules.length) list.append(el("li", { text: "No rules: the server evaluates none." }));
    $("#rules").querySelector("summary").textContent = rules.length + " rule" + (rules.length === 1 ? "" : "s");
    updateAlertsMeta();
  }

  function updateAlertsMeta() {
    const meta = $("#alerts-meta");
    if (!state.hasStore) meta.textContent = "no store: only this page's alerts";
    else meta.textContent = "live, every " + POLL_MS / 1000 + " s";
  }

  function alertKey(a) {
    return a.id ? "id:" + a.id : ["local", a.conversation_id, a.rule, a.state, a.pos].join(":");
  }

  function addAlerts(list, conversationID) {
    const fresh = new Set();
    for (const a0 of list) {
      const a = Object.assign({}, a0);
      if (!a.conversation_id && conversationID) a.conversation_id = conversationID;
      if (!a.time) a.time = new Date().toISOString();
      const k = alertKey(a);
      if (state.alerts.has(k)) continue;
      state.alerts.set(k, a);
      fresh.add(k);
      if (a.id && a.id > state.lastAlertID) state.lastAlertID = a.id;
    }
    if (fresh.size) renderAlerts(fresh);
  }

  function renderAlerts(fresh) {
    const all = [...state.alerts.entries()].sort(([, a], [, b]) =>
      (a.id && b.id) ? b.id - a.id : Date.parse(b.time) - Date.parse(a.time));
    for (const [k] of all.slice(MAX_ALERTS)) state.alerts.delete(k);
    const ol = $("#alerts");
    if (!all.length) { ol.replaceChildren(el("li", { class: "empty", text: "No alerts yet." })); return; }
    ol.replaceChildren(...all.slice(0, MAX_ALERTS).map(([k, a]) => {
      const rule = state.rules.get(a.rule);
      const op = rule ? rule.op : "vs";
      const t = new Date(a.time);
      const parts = ["value " + fmt(a.value) + " " + op + " " + fmt(a.threshold), "pos " + a.pos];
      if (a.conversation_id) parts.push(shortID(a.conversation_id));
      if (a.action && a.action !== "record") parts.push("action " + a.action);
      const li = el("li", { class: fresh.has(k) ? "fresh" : "", "data-rule": a.rule, "data-id": a.id || "",
        "data-conversation": a.conversation_id || "" },
        el("span", { class: "state " + a.state, text: a.state }),
        el("span", { class: "rule", text: a.rule }),
        el("time", { class: "when", datetime: a.time, text: isNaN(t) ? "" : t.toLocaleTimeString() }),
        el("span", { class: "detail", title: a.conversation_id || "", text: parts.join(" · ") }));
      return li;
    }));
  }

  async function pollAlerts() {
    if (state.polling) return;
    clearTimeout(state.pollTimer);
    if (!state.hasStore) return;
    state.polling = true;
    const q = state.lastAlertID ? "?after_id=" + state.lastAlertID : "?limit=50";
    try {
      const resp = await api("/v1/limbic/alerts" + q);
      if (resp.status === 404) { state.hasStore = false; updateAlertsMeta(); return; }
      if (resp.ok) {
        const data = (await resp.json()).data || [];
        addAlerts(data.slice().reverse());
      }
    } catch { /* the server is away: try again later */ } finally { state.polling = false; }
    state.pollTimer = setTimeout(pollAlerts, POLL_MS);
  }

  // ---- steering -----------------------------------------------------------

  function steerSpec() {
    const emo = $("#steer-emotion").value;
    const strength = Number($("#steer-strength").value);
    const layer = $("#steer-layer").value;
    const span = $("#steer-span").value;
    if (!emo || !isFinite(strength)) return "";
    return emo + "=" + String(Math.round(strength * 100) / 100) + (layer !== "" ? "@" + layer : "") + ":" + span;
  }

  function renderSteers() {
    const ul = $("#steers");
    ul.dataset.specs = JSON.stringify(state.steers);
    if (!state.steers.length) {
      ul.replaceChildren(el("li", { class: "empty", text: "No steering: the model runs as it is." }));
      return;
    }
    ul.replaceChildren(...state.steers.map((s, i) => {
      const rm = el("button", { type: "button", class: "icon", "aria-label": "Remove steer " + s, title: "Remove", text: "✕" });
      rm.addEventListener("click", () => { state.steers.splice(i, 1); renderSteers(); });
      return el("li", { "data-spec": s }, el("code", { text: s }), rm);
    }));
  }

  // ---- chart ---------------------------------------------------------------

  function colorOf(name) {
    if (!state.colors.has(name)) state.colors.set(name, PALETTE[state.colors.size % PALETTE.length]);
    return state.colors.get(name);
  }

  // The top k emotions of a token's scores, highest first.
  function topOf(scores, k) {
    return Object.entries(scores || {}).sort(([, a], [, b]) => b - a).slice(0, k);
  }

  // The emotions to draw: those most often among the tokens' top k (the
  // "Top emotions per token" setting), then the highest mean. The server
  // reports every emotion at every token, so each line has no gaps.
  function pickSeries() {
    const k = Math.max(1, parseInt($("#top-k").value, 10) || 5);
    const stats = new Map();
    for (const t of state.tokens) {
      for (const [e, v] of Object.entries(t.scores || {})) {
        const s = stats.get(e) || { n: 0, sum: 0, m: 0 };
        s.m++; s.sum += v;
        stats.set(e, s);
      }
      for (const [e] of topOf(t.scores, k)) stats.get(e).n++;
    }
    const max = Math.max(1, Math.min(12, Number($("#max-lines").value) || 6));
    return [...stats.entries()]
      .filter(([, s]) => s.n > 0)
      .sort(([, a], [, b]) => b.n - a.n || b.sum / b.m - a.sum / a.m)
      .slice(0, max).map(([e]) => e);
  }

  function niceStep(range, n) {
    const raw = range / Math.max(1, n);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f >= 5 ? 10 : f >= 2 ? 5 : f >= 1 ? 2 : 1) * p;
  }

  const M = { l: 62, r: 14, t: 12, b: 44 };
  let geom = null;

  function scheduleDraw() {
    if (state.drawQueued) return;
    state.drawQueued = true;
    requestAnimationFrame(() => { state.drawQueued = false; drawChart(); });
  }

  function drawChart() {
    const svg = $("#chart");
    const W = Math.max(200, svg.clientWidth || 600);
    const H = Math.max(120, svg.clientHeight || 280);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const n = state.tokens.length;
    const names = n ? pickSeries() : [];
    let lo = Infinity, hi = -Infinity;
    for (const t of state.tokens) {
      for (const e of names) {
        const v = t.scores[e];
        if (typeof v === "number") { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    }
    if (!isFinite(lo)) { lo = -1; hi = 1; }
    lo = Math.min(lo, 0); hi = Math.max(hi, 0);
    if (hi - lo < 1e-6) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const xmax = Math.max(n - 1, 9);
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const x = (i) => M.l + (i / xmax) * pw;
    const y = (v) => M.t + (1 - (v - lo) / (hi - lo)) * ph;
    geom = { x, y, xmax, pw, n, W, H, names };

    const kids = [];
    const step = niceStep(hi - lo, 5);
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
      const yy = y(v);
      kids.push(svgEl("line", { class: Math.abs(v) < step / 1e6 ? "zero" : "axis", x1: M.l, x2: W - M.r, y1: yy, y2: yy }));
      const lab = svgEl("text", { class: "tick", x: M.l - 6, y: yy + 4, "text-anchor": "end" });
      lab.textContent = Math.abs(v) < step / 1e6 ? "0" : +v.toFixed(6) + "";
      kids.push(lab);
    }
    const xs = niceStep(xmax, Math.max(2, Math.floor(pw / 70)));
    for (let i = 0; i <= xmax; i += Math.max(1, xs)) {
      const lab = svgEl("text", { class: "tick", x: x(i), y: M.t + ph + 16, "text-anchor": "middle" });
      lab.textContent = String(i);
      kids.push(lab);
    }
    // Axis titles.
    const xt = svgEl("text", { class: "axis-title", x: M.l + pw / 2, y: H - 6, "text-anchor": "middle" });
    xt.textContent = "token of the answer";
    const yt = svgEl("text", { class: "axis-title", x: 0, y: 0, "text-anchor": "middle",
      transform: "translate(14 " + (M.t + ph / 2) + ") rotate(-90)" });
    yt.textContent = state.stat === "z" ? "z-score vs neutral" : state.stat === "cos" ? "cosine" : state.stat === "proj" ? "projection" : "readout";
    kids.push(xt, yt);
    kids.push(svgEl("line", { class: "axis", x1: M.l, x2: M.l, y1: M.t, y2: M.t + ph }));
    const cursor = svgEl("line", { id: "chart-cursor", class: "cursor", x1: 0, x2: 0, y1: M.t, y2: M.t + ph, visibility: "hidden" });
    kids.push(cursor);

    for (const e of names) {
      let d = "", prev = false, last = null;
      const lone = [];
      state.tokens.forEach((t, i) => {
        const v = t.scores[e];
        if (typeof v !== "number") { prev = false; return; }
        const next = state.tokens[i + 1];
        if (!prev && !(next && typeof next.scores[e] === "number")) lone.push([i, v]);
        d += (prev ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        prev = true; last = [i, v];
      });
      const color = colorOf(e);
      if (d) kids.push(svgEl("path", { class: "series", d, stroke: color, "data-emotion": e }));
      for (const [i, v] of lone) kids.push(svgEl("circle", { class: "dot", cx: x(i), cy: y(v), r: 2.5, fill: color }));
      if (last) kids.push(svgEl("circle", { class: "dot", cx: x(last[0]), cy: y(last[1]), r: 3.5, fill: color }));
    }
    svg.replaceChildren(...kids);
    svg.dataset.points = String(n);
    svg.dataset.series = String(names.length);
    $("#chart-empty").hidden = n > 0;

    const legend = $("#legend");
    const lastTok = state.tokens[n - 1];
    legend.replaceChildren(...names.map((e) => {
      const v = lastTok ? lastTok.scores[e] : undefined;
      return el("li", { "data-emotion": e }, el("span", { class: "swatch", "data-color": colorOf(e) }), e,
        el("span", { class: "val", text: typeof v === "number" ? fmt(v) : "" }));
    }));
    for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;

    const meta = [];
    if (n) meta.push(n + " token" + (n === 1 ? "" : "s"));
    if (state.layer !== null) meta.push("layer " + state.layer);
    if (state.stat) meta.push(state.stat === "z" ? "z-score vs neutral" : state.stat);
    if (state.conversationID) meta.push(shortID(state.conversationID));
    $("#chart-meta").textContent = meta.join(" · ");
    $("#chart-desc").textContent = n
      ? "Line chart of " + n + " tokens; emotions: " + names.map((e) =>
        e + " " + (lastTok && typeof lastTok.scores[e] === "number" ? fmt(lastTok.scores[e]) : "–")).join(", ") + " at the last token."
      : "No tokens yet.";
    if (state.hover >= 0) showHover(state.hover);
  }

  function visible(text) {
    return JSON.stringify(text).slice(1, -1).replace(/ /g, "␣");
  }

  function showHover(i) {
    const tip = $("#tooltip");
    const cursor = $("#chart-cursor");
    if (!geom || i < 0 || i >= state.tokens.length) {
      tip.hidden = true;
      if (cursor) cursor.setAttribute("visibility", "hidden");
      for (const s of document.querySelectorAll(".tok.hl")) s.classList.remove("hl");
      state.hover = -1;
      return;
    }
    state.hover = i;
    const t = state.tokens[i];
    const cx = geom.x(i);
    cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx);
    cursor.setAttribute("visibility", "visible");
    // The charted emotions and the token's top ones (not all of the pack's).
    const k = Math.max(1, parseInt($("#top-k").value, 10) || 5);
    const shown = new Map(topOf(t.scores, k));
    for (const e of geom.names) if (typeof t.scores[e] === "number") shown.set(e, t.scores[e]);
    const rows = [...shown.entries()].sort(([, a], [, b]) => b - a).map(([e, v]) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = state.colors.get(e) || "transparent";
      return el("tr", {}, el("td", {}, sw, " " + e), el("td", { class: "v", text: fmt(v) }));
    });
    tip.replaceChildren(el("div", { class: "tt-tok", text: "#" + i + " “" + visible(t.text) + "”" }),
      el("table", {}, el("tbody", {}, ...rows)));
    tip.hidden = false;
    const wrap = $("#chart-wrap");
    const scale = wrap.clientWidth / geom.W;
    let left = cx * scale + 12;
    if (left + tip.offsetWidth > wrap.clientWidth) left = cx * scale - tip.offsetWidth - 12;
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = "8px";
    for (const s of document.querySelectorAll(".tok.hl")) s.classList.remove("hl");
    const span = state.tokenSpans[i];
    if (span) span.classList.add("hl");
  }

  function onChartMove(ev) {
    if (!geom || !state.tokens.length) return;
    const svg = $("#chart");
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * geom.W;
    const i = Math.round(((px - M.l) / geom.pw) * geom.xmax);
    showHover(Math.max(0, Math.min(state.tokens.length - 1, i)));
  }

  // ---- chat ------------------------------------------------------------------

  function clearEmpty(list) {
    const e = list.querySelector(".empty");
    if (e) e.remove();
  }

  function addMessage(role, text) {
    const list = $("#messages");
    clearEmpty(list);
    const body = el("span", { class: "body" });
    if (text) body.textContent = text;
    const li = el("li", { class: role }, el("span", { class: "who", text: role === "user" ? "You" : "Model" }), body);
    list.append(li);
    list.scrollTop = list.scrollHeight;
    return { li, body };
  }

  function requestBody() {
    const body = {
      model: state.model ? state.model.id : "",
      messages: state.history.map((m) => ({ role: m.role, content: m.content })),
      stream: true,
    };
    const maxTokens = parseInt($("#max-tokens").value, 10);
    if (maxTokens > 0) body.max_tokens = maxTokens;
    const temp = parseFloat($("#temperature").value);
    if (isFinite(temp) && temp >= 0) body.temperature = temp;
    if (state.hasPack) {
      body.limbic = {};
      if (state.steers.length) body.limbic.steer = state.steers.slice();
      if (state.readoutOff) return body;
      const readout = {};
      const k = parseInt($("#top-k").value, 10);
      if (k > 0) readout.top_k = k;
      // Every emotion at every token, so that the charted lines have no
      // gaps (the chart picks its lines from each token's top k).
      if (state.emotions && state.emotions.length) readout.emotions = state.emotions.slice();
      const layer = $("#readout-layer").value;
      if (layer !== "") readout.layer = Number(layer);
      body.limbic.readout = readout;
    }
    return body;
  }

  // sse reads a response body as server-sent events and calls onData with
  // each event's data.
  async function sse(resp, onData) {
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = ev.split("\n").filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data && onData(data) === false) { reader.cancel().catch(() => {}); return; }
      }
    }
  }

  function startReply() {
    state.reply++;
    state.tokens = [];
    state.tokenSpans = [];
    state.conversationID = "";
    state.stat = "";
    state.layer = null;
    showHover(-1);
    scheduleDraw();
  }

  function setBusy(b) {
    state.busy = b;
    $("#send").disabled = b;
    $("#stop").disabled = !b;
    document.body.dataset.busy = b ? "1" : "0";
  }

  async function send(text) {
    state.history.push({ role: "user", content: text });
    addMessage("user", text);
    const { li, body } = addMessage("assistant", "");
    body.classList.add("streaming");
    startReply();
    const reply = state.reply;
    const chat = state.chat;
    const req = requestBody();
    const ctl = new AbortController();
    state.abort = ctl;
    setBusy(true);
    let content = "", finish = "", summary = null, steered = [], stoppedBy = "", error = "";
    const list = $("#messages");
    try {
      const post = () => api("/v1/chat/completions", { method: "POST", body: JSON.stringify(req), signal: ctl.signal });
      let resp = await post();
      if (resp.status === 400 && req.limbic && req.limbic.readout) {
        // A server started with --no-telemetry has a pack but reads nothing.
        const msg = await errorText(resp);
        if (!msg.includes("limbic.readout needs")) throw new Error(msg);
        state.readoutOff = true;
        delete req.limbic.readout;
        notice("This server has telemetry off: answers come without emotion readout.");
        resp = await post();
      }
      if (!resp.ok) throw new Error(await errorText(resp));
      await sse(resp, (data) => {
        if (data === "[DONE]") return false;
        let c;
        try { c = JSON.parse(data); } catch { return true; }
        if (c.error) { error = c.error.message || "server error"; return false; }
        const L = c.limbic || {};
        if (L.conversation_id) state.conversationID = L.conversation_id;
        if (L.layer !== undefined && L.stat) { state.layer = L.layer; state.stat = L.stat; }
        if (L.steer) steered = L.steer;
        const ch = (c.choices || [])[0];
        const piece = ch && ch.delta && typeof ch.delta.content === "string" ? ch.delta.content : "";
        if (L.tokens && L.tokens.length) {
          for (const t of L.tokens) {
            const i = state.tokens.length;
            state.tokens.push({ index: t.index, pos: t.pos, text: t.text || "", scores: t.scores || {} });
            const top = Object.entries(t.scores || {}).sort(([, a], [, b]) => b - a).slice(0, 3)
              .map(([e, v]) => e + " " + fmt(v)).join(", ");
            const span = el("span", { class: "tok", "data-i": i, "data-reply": reply, title: top, text: t.text || "" });
            body.append(span);
            state.tokenSpans.push(span);
          }
          const covered = L.tokens.map((t) => t.text || "").join("");
          if (piece.length > covered.length && piece.startsWith(covered)) body.append(piece.slice(covered.length));
          scheduleDraw();
        } else if (piece) {
          body.append(piece);
        }
        content += piece;
        if (L.alerts && L.alerts.length) addAlerts(L.alerts, state.conversationID);
        if (ch && ch.finish_reason) {
          finish = ch.finish_reason;
          summary = L.summary || null;
          stoppedBy = L.stopped_by || "";
        }
        list.scrollTop = list.scrollHeight;
        return true;
      });
    } catch (e) {
      if (e.name === "AbortError") finish = "stopped";
      else error = e.message || String(e);
    } finally {
      state.abort = null;
      setBusy(false);
      body.classList.remove("streaming");
    }
    const current = chat === state.chat;
    if (error) {
      li.classList.add("error");
      if (!content) {
        if (current) state.history.pop(); // the server did not take it: the user may resend
        body.textContent = "Error: " + error;
      } else {
        li.append(el("span", { class: "foot", text: "Error: " + error }));
      }
    }
    if (content && current) state.history.push({ role: "assistant", content });
    const foot = [];
    if (finish) foot.push(stoppedBy ? "stopped by rule " + stoppedBy : "finish: " + finish);
    if (state.tokens.length) foot.push(state.tokens.length + " tokens read");
    if (steered.length) foot.push("steered " + steered.join(", "));
    if (summary) {
      const top = Object.entries(summary).sort(([, a], [, b]) => b.mean - a.mean).slice(0, 3)
        .map(([e, s]) => e + " " + fmt(s.mean)).join(", ");
      if (top) foot.push("highest mean: " + top);
    }
    if (foot.length) li.append(el("span", { class: "foot", text: foot.join(" · ") }));
    scheduleDraw();
    if (state.hasStore) pollAlerts();
  }

  function newChat() {
    if (state.abort) state.abort.abort();
    state.chat++;
    state.history = [];
    $("#messages").replaceChildren(el("li", { class: "empty", text: "New conversation. Say something to the model." }));
    startReply();
    $("#prompt").focus();
  }

  // ---- wiring ------------------------------------------------------------------

  function bind() {
    $("#api-key").value = state.key;
    $("#key-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      state.key = $("#api-key").value.trim();
      try {
        if (state.key) localStorage.setItem(KEY_STORAGE, state.key);
        else localStorage.removeItem(KEY_STORAGE);
      } catch { /* storage disabled: keep it for this page */ }
      await start();
    });
    $("#chat-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const p = $("#prompt");
      const text = p.value.trim();
      if (!text || state.busy || !state.model) return;
      p.value = "";
      send(text);
    });
    $("#prompt").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        $("#chat-form").requestSubmit();
      }
    });
    $("#stop").addEventListener("click", () => { if (state.abort) state.abort.abort(); });
    $("#new-chat").addEventListener("click", newChat);
    const strength = $("#steer-strength");
    const showStrength = () => {
      $("#steer-strength-out").value = signed(strength.value);
      $("#steer-add").disabled = Number(strength.value) === 0; // no effect
    };
    strength.addEventListener("input", showStrength);
    showStrength();
    $("#steer-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const spec = steerSpec();
      if (!spec || Number(strength.value) === 0 || state.steers.includes(spec)) return;
      state.steers.push(spec);
      renderSteers();
    });
    $("#max-lines").addEventListener("input", scheduleDraw);
    const svg = $("#chart");
    svg.addEventListener("mousemove", onChartMove);
    svg.addEventListener("mouseleave", () => showHover(-1));
    $("#messages").addEventListener("mouseover", (ev) => {
      const t = ev.target.closest && ev.target.closest(".tok");
      if (t && Number(t.dataset.reply) === state.reply) showHover(Number(t.dataset.i));
    });
    $("#messages").addEventListener("mouseout", (ev) => {
      if (ev.target.closest && ev.target.closest(".tok")) showHover(-1);
    });
    window.addEventListener("resize", scheduleDraw);
  }

  async function start() {
    state.hasStore = true;
    state.readoutOff = false;
    if (await loadModel()) {
      await loadRules();
      updateAlertsMeta();
      pollAlerts();
    }
    scheduleDraw();
    document.body.dataset.ready = "1";
  }

  bind();
  renderSteers();
  start();
})();
