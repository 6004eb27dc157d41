// massaged live dashboard. Reads /events (Server-Sent Events from
// massaged-web, one {"topic":..,"payload":..} per message) and draws each
// device: traces on a canvas (requestAnimationFrame), the current activity
// from start/end events, the session's counters, events and health.
// No framework, no network beyond this page's server; every buffer is bounded.
"use strict";

const WINDOW_S = 10;          // seconds of trace shown
const TRACE_CAP = 2048;       // trace points kept per device (50/s: 40 s)
const INTERVAL_CAP = 96;      // activity intervals kept per device for shading
const EVENT_ROWS = 7;         // events listed per device
const TEXT_EVERY_MS = 250;    // counters and health are refreshed this often

const COLORS = {
  roll: "#3d8bd9", hold: "#2f9e7a", flex: "#e0732f", rock: "#8a5cc9", stroke: "#c9475b",
  p: "#2f6fb0", pFill: "rgba(47, 111, 176, 0.18)", g: "#c0792a", gFill: "rgba(192, 121, 42, 0.16)",
  grid: "#e8ebe6", text: "#66757a",
};

const devices = new Map();
const page = { messages: 0, bridge: null, daemon: null, lastMessage: 0 };

// ---- Device state -----------------------------------------------------------

function makeDevice(name, kind) {
  const tpl = document.getElementById("device-template");
  const card = tpl.content.firstElementChild.cloneNode(true);
  card.dataset.device = name;
  card.querySelector(".dev-name").textContent = name;
  card.querySelector(".kind").textContent = kind === "scraper" ? "scraping tool" : "massage ball";
  card.querySelector(".p-label").textContent = kind === "scraper" ? "blade force" : "pressure";
  const counters = card.querySelector(".counters");
  const defs = kind === "scraper" ? [
    ["strokes", "strokes", ""], ["rate", "stroke rate", "/min"],
    ["consistency", "direction consistency", ""], ["force", "mean force", "N"],
    ["length", "mean length", "cm"], ["areas", "areas", ""], ["marks", "marks", ""],
    ["samples", "samples", ""],
  ] : [
    ["holds", "holds", ""], ["flexes_now", "flexes this hold", ""],
    ["flexes_per_hold", "flexes per hold", ""], ["hold_time", "current hold", "s"],
    ["rolls", "rolls", ""], ["rocks", "rocks", ""], ["marks", "marks", ""],
    ["samples", "samples", ""],
  ];
  const values = {};
  for (const [key, label, unit] of defs) {
    const el = document.createElement("div");
    el.className = "counter";
    el.innerHTML = '<span class="v"></span><span class="u"></span><span class="l"></span>';
    const v = el.querySelector(".v");
    v.dataset.counter = key;
    v.textContent = "0";
    el.querySelector(".u").textContent = unit;
    el.querySelector(".l").textContent = label;
    counters.appendChild(el);
    values[key] = v;
  }
  const empty = document.getElementById("empty");
  if (empty) empty.remove();
  // Keep cards in a stable order: balls first, then by name.
  card.dataset.order = (kind === "ball" ? "0" : "1") + name;
  const main = document.getElementById("devices");
  const after = [...main.children].find(c => c.dataset.order > card.dataset.order);
  main.insertBefore(card, after || null);

  const dev = {
    name, kind, card, values,
    canvas: card.querySelector("canvas"),
    stateEl: card.querySelector(".state"),
    connText: card.querySelector(".conn-text"),
    events: card.querySelector(".event-list"),
    health: Object.fromEntries([...card.querySelectorAll("[data-health]")].map(e => [e.dataset.health, e])),
    pNow: card.querySelector(".p-now"), gNow: card.querySelector(".g-now"),
    // Trace ring (device time, envelope, mean, rotation).
    t: new Float64Array(TRACE_CAP), dt: new Float32Array(TRACE_CAP),
    pmin: new Float32Array(TRACE_CAP), pmax: new Float32Array(TRACE_CAP), pmean: new Float32Array(TRACE_CAP),
    gmax: new Float32Array(TRACE_CAP), gap: new Uint8Array(TRACE_CAP),
    head: 0, count: 0, lastT: null, lastArrival: 0,
    samples: 0, connected: false, status: null,
    open: {},            // type -> start t_dev, for roll/hold/flex/rock
    intervals: [],       // {type, t0, t1} for shading, t1 null while open
    holds: 0, flexTotal: 0, flexNow: 0, holdStart: null, rolls: 0, rocks: 0, marks: 0,
    strokes: [], strokeCount: 0, areas: 0, lastStrokeEnd: -Infinity,
    scale: { p: null, g: null },
    dirty: true,
  };
  devices.set(name, dev);
  return dev;
}

function device(name, kind) {
  return devices.get(name) || makeDevice(name, kind || "ball");
}

function pushTrace(dev, m) {
  const i = dev.head;
  dev.t[i] = m.t_dev; dev.dt[i] = m.dt;
  dev.pmin[i] = m.p_min; dev.pmax[i] = m.p_max; dev.pmean[i] = m.p_mean;
  dev.gmax[i] = m.gyr_max; dev.gap[i] = m.gap ? 1 : 0;
  dev.head = (i + 1) % TRACE_CAP;
  if (dev.count < TRACE_CAP) dev.count++;
  // A device clock that jumped back (a restarted stream) starts a new trace.
  if (dev.lastT !== null && m.t_dev < dev.lastT - 1) { dev.count = 1; dev.intervals = []; }
  dev.lastT = m.t_dev + m.dt;
  dev.lastArrival = performance.now();
  dev.samples = m.samples;
  dev.pLast = m.p_mean; dev.gLast = m.gyr_max;
}

function addInterval(dev, type, t0, t1) {
  dev.intervals.push({ type, t0, t1 });
  if (dev.intervals.length > INTERVAL_CAP) dev.intervals.shift();
}

function closeInterval(dev, type, t0, t1) {
  for (let k = dev.intervals.length - 1; k >= 0; k--) {
    const iv = dev.intervals[k];
    if (iv.type === type && iv.t1 === null) { iv.t0 = Math.min(iv.t0, t0); iv.t1 = t1; return; }
  }
  addInterval(dev, type, t0, t1);
}

function onEvent(m, replay) {
  const dev = device(m.device, m.kind);
  const type = m.type;
  if (type === "session" && m.phase === "end" && !replay) historyChanged();
  if (type === "connected") dev.connected = true;
  else if (type === "disconnected") { dev.connected = false; dev.open = {}; }
  else if (type === "mark") dev.marks++;
  else if (type === "stroke") {
    dev.strokeCount++;
    dev.strokes.push(m);
    if (dev.strokes.length > 200) dev.strokes.shift();
    dev.lastStrokeEnd = m.t_dev;
    addInterval(dev, "stroke", m.t_start_dev, m.t_dev);
  } else if (type === "area") {
    dev.areas++;
    dev.lastArea = m;
  } else if (m.phase === "start") {
    dev.open[type] = m.t_dev;
    addInterval(dev, type, m.t_dev, null);
    if (type === "hold") { dev.flexNow = 0; dev.holdStart = m.t_dev; }
  } else if (m.phase === "end") {
    delete dev.open[type];
    closeInterval(dev, type, m.t_start_dev, m.t_dev);
    if (type === "hold") {
      dev.holds++;
      dev.flexTotal += m.flex_count || 0;
      dev.lastHold = m;
      dev.holdStart = null;
    } else if (type === "flex") dev.flexNow++;
    else if (type === "roll") dev.rolls++;
    else if (type === "rock") dev.rocks++;
  }
  addEventRow(dev, m, replay);
  dev.dirty = true;
}

function fmt(x, digits) {
  return x === undefined || x === null || !isFinite(x) ? "–" : Number(x).toFixed(digits);
}

function describe(m) {
  switch (m.type) {
    case "stroke":
      return `${m.direction}, ${fmt(m.length_m * 100, 0)} cm, ${fmt(m.mean_force_n, 1)} N, ${fmt(m.duration_s, 2)} s`;
    case "area":
      return `${m.strokes} strokes, ${fmt(m.stroke_rate_per_min, 0)}/min, ${fmt(m.direction_consistency * 100, 0)}% ${m.direction}`;
    case "hold":
      return m.phase === "end" ? `${fmt(m.duration_s, 1)} s, ${m.flex_count} flexes, ${fmt(m.load_pa / 1000, 1)} kPa` : "started";
    case "flex":
      return m.phase === "end" ? `${fmt(m.duration_s, 1)} s, +${fmt(m.pressure_rise_pa, 0)} Pa, ${fmt(m.median_freq_hz, 0)} Hz` : "started";
    case "rock":
      return m.phase === "end" ? `${fmt(m.freq_hz, 2)} Hz, ±${fmt(m.amplitude_deg, 0)}°, ${m.cycles} cycles` : "started";
    case "roll":
      return m.phase === "end" ? `${fmt(m.duration_s, 1)} s` : "started";
    case "mark": return "button pressed";
    default: return m.phase || "";
  }
}

function addEventRow(dev, m, replay) {
  const li = document.createElement("li");
  li.dataset.type = m.type;
  if (!replay) li.className = "fresh";
  const when = m.t_host ? new Date(m.t_host * 1000).toLocaleTimeString([], { hour12: false }) : "";
  li.innerHTML = '<span class="t"></span><span class="ty"></span><span class="d"></span>';
  li.children[0].textContent = when;
  li.children[1].textContent = m.type;
  li.children[1].className = "ty ty-" + m.type;
  li.children[2].textContent = describe(m);
  dev.events.prepend(li);
  while (dev.events.children.length > EVENT_ROWS) dev.events.lastChild.remove();
}

function onStatus(m) {
  const dev = device(m.device, m.kind);
  dev.status = m;
  dev.connected = !!m.connected;
  dev.dirty = true;
}

function onDaemon(m) {
  page.daemon = m;
  for (const d of m.devices || []) {
    const dev = device(d.name, d.kind);
    if (dev.connected !== d.connected) { dev.connected = d.connected; dev.dirty = true; }
  }
}

// ---- Derived figures ----------------------------------------------------------

function currentState(dev) {
  if (!dev.connected) return "offline";
  if (dev.kind === "scraper") {
    const now = dev.lastT === null ? 0 : dev.lastT;
    return (dev.pLast > 1.5 || now - dev.lastStrokeEnd < 1.5) ? "scraping" : "idle";
  }
  if (dev.open.flex !== undefined) return "flexing";
  if (dev.open.rock !== undefined) return "rocking";
  if (dev.open.hold !== undefined) return "holding";
  if (dev.open.roll !== undefined) return "rolling";
  return "idle";
}

function scraperFigures(dev) {
  const s = dev.strokes;
  const now = dev.lastT === null ? 0 : dev.lastT;
  const recent = s.filter(x => x.t_dev > now - 60);
  let rate = 0;
  if (recent.length >= 2) {
    const span = Math.max(recent[recent.length - 1].t_dev - recent[0].t_start_dev, 1);
    rate = (recent.length - 1) / span * 60;
  }
  const dirs = { up: 0, down: 0, level: 0 };
  let force = 0, length = 0;
  for (const x of s) { dirs[x.direction] = (dirs[x.direction] || 0) + 1; force += x.mean_force_n; length += x.length_m; }
  const major = Object.entries(dirs).sort((a, b) => b[1] - a[1])[0];
  return {
    rate, consistency: s.length ? major[1] / s.length : null, majority: major[0],
    force: s.length ? force / s.length : null, length: s.length ? length / s.length * 100 : null,
  };
}

function refreshText(dev) {
  const v = dev.values;
  v.samples.textContent = dev.samples.toLocaleString("en-US");
  v.marks.textContent = dev.marks;
  if (dev.kind === "scraper") {
    const f = scraperFigures(dev);
    v.strokes.textContent = dev.strokeCount;
    v.rate.textContent = fmt(f.rate, 1);
    v.consistency.textContent = f.consistency === null ? "–" : `${fmt(f.consistency * 100, 0)}% ${f.majority}`;
    v.force.textContent = fmt(f.force, 1);
    v.length.textContent = fmt(f.length, 0);
    v.areas.textContent = dev.areas;
  } else {
    v.holds.textContent = dev.holds;
    v.flexes_now.textContent = dev.open.hold !== undefined ? dev.flexNow : "–";
    v.flexes_per_hold.textContent = dev.holds ? fmt(dev.flexTotal / dev.holds, 1) : "–";
    v.hold_time.textContent = dev.holdStart !== null && dev.lastT !== null ? fmt(dev.lastT - dev.holdStart, 0) : "–";
    v.rolls.textContent = dev.rolls;
    v.rocks.textContent = dev.rocks;
  }
  const state = currentState(dev);
  dev.stateEl.dataset.state = state;
  dev.stateEl.firstElementChild.textContent = state;
  dev.card.dataset.connected = dev.connected ? "true" : "false";
  dev.connText.textContent = dev.connected ? "connected" : "disconnected";
  if (dev.pLast !== undefined) {
    dev.pNow.textContent = dev.kind === "scraper" ? `${fmt(dev.pLast, 1)} N` : `${fmt(dev.pLast / 1000, 2)} kPa`;
    dev.gNow.textContent = `${fmt(dev.gLast, 0)} °/s`;
  }
  const st = dev.status;
  if (st) {
    const h = dev.health;
    h.battery.textContent = st.battery_mv ? `${fmt(st.battery_mv / 1000, 2)} V${st.charging ? " ⚡" : ""}` : "–";
    h.temperature.textContent = st.temperature_c !== undefined ? `${fmt(st.temperature_c, 1)} °C` : "–";
    h.rate.textContent = st.rate_hz ? `${st.rate_hz} Hz` : "–";
    setCount(h.samples_lost, st.samples_lost);
    setCount(h.frames_lost, st.frames_lost);
    setCount(h.errors, (st.crc_errors || 0) + (st.malformed || 0), `${st.crc_errors || 0} / ${st.malformed || 0}`);
    setCount(h.connects, Math.max(0, (st.connects || 0) - 1), String(st.connects || 0));
    if (!st.connected && st.last_loss) dev.connText.textContent = `disconnected: ${st.last_loss}`;
  }
}

function setCount(el, bad, text) {
  el.textContent = text !== undefined ? text : (bad === undefined ? "–" : String(bad));
  el.classList.toggle("warn", bad > 0);
}

function refreshPage() {
  const d = page.daemon;
  if (d) {
    const up = d.uptime_s;
    const hms = `${Math.floor(up / 3600)}:${String(Math.floor(up / 60) % 60).padStart(2, "0")}:${String(Math.floor(up) % 60).padStart(2, "0")}`;
    document.getElementById("daemon-meta").textContent =
      `daemon ${d.version} · up ${hms}${d.recording ? " · recording" : ""}`;
  }
  const b = page.bridge;
  document.getElementById("foot-stream").textContent = `messages: ${page.messages.toLocaleString("en-US")}`;
  document.getElementById("foot-drops").textContent =
    `drops: daemon ${d ? d.publish_dropped : "–"} · this browser ${b ? b.client_dropped : "–"}`;
  const link = document.getElementById("link");
  const stale = performance.now() - page.lastMessage > 3000;
  if (page.open && !stale) { link.dataset.state = "live"; setText("link-text", "live"); }
  else if (page.lastMessage) { link.dataset.state = "lost"; setText("link-text", "no data"); }
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el.textContent !== text) el.textContent = text;
}

// ---- Drawing --------------------------------------------------------------------

function niceRange(lo, hi, minSpan) {
  if (!(hi >= lo)) return [0, 1];
  const span = Math.max(hi - lo, minSpan);
  const mid = (hi + lo) / 2;
  return [mid - span * 0.58, mid + span * 0.58];
}

// Eases the axis toward its target so autoscaling does not jump every frame.
function ease(cur, target) {
  if (!cur) return target.slice();
  const k = (target[0] < cur[0] || target[1] > cur[1]) ? 0.35 : 0.06;
  return [cur[0] + (target[0] - cur[0]) * k, cur[1] + (target[1] - cur[1]) * k];
}

function drawDevice(dev, nowMs) {
  const c = dev.canvas;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(c.clientWidth * dpr), h = Math.round(c.clientHeight * dpr);
  if (!w || !h) return;
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = c.clientWidth, H = c.clientHeight;
  ctx.clearRect(0, 0, W, H);
  if (dev.lastT === null) {
    ctx.fillStyle = COLORS.text; ctx.font = "13px system-ui, sans-serif";
    ctx.fillText("waiting for samples…", 14, 24);
    return;
  }
  // Scroll smoothly between messages, but never run ahead of the data by more
  // than a quarter second (a stalled stream then visibly stops).
  const tEnd = dev.lastT + Math.min((nowMs - dev.lastArrival) / 1000, 0.25);
  const t0 = tEnd - WINDOW_S;
  const left = 44, right = W - 8;
  const x = t => left + (t - t0) / WINDOW_S * (right - left);
  const pTop = 8, pH = H * 0.6 - 12, gTop = H * 0.6 + 6, gH = H * 0.4 - 14;

  // Activity bands behind the traces.
  for (const iv of dev.intervals) {
    const a = Math.max(iv.t0, t0), b = Math.min(iv.t1 === null ? tEnd : iv.t1, tEnd);
    if (b <= a) continue;
    const inner = iv.type === "flex" || iv.type === "rock";
    ctx.fillStyle = COLORS[iv.type] || COLORS.text;
    ctx.globalAlpha = inner ? 0.22 : 0.1;
    ctx.fillRect(x(a), inner ? pTop + pH * 0.5 : 0, x(b) - x(a), inner ? pH * 0.5 + 4 : H);
    ctx.globalAlpha = 1;
    if (x(a) > left + 2 && iv.t0 >= t0) {
      ctx.fillStyle = COLORS[iv.type]; ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(iv.type, x(a) + 3, inner ? pTop + pH * 0.5 + 12 : 12);
    }
  }

  // Visible index range and the axes' ranges.
  let pLo = Infinity, pHi = -Infinity, gHi = 0;
  const n = dev.count;
  const first = (dev.head - n + TRACE_CAP) % TRACE_CAP;
  let start = 0;
  while (start < n && dev.t[(first + start) % TRACE_CAP] + dev.dt[(first + start) % TRACE_CAP] < t0) start++;
  for (let k = start; k < n; k++) {
    const i = (first + k) % TRACE_CAP;
    if (dev.pmin[i] < pLo) pLo = dev.pmin[i];
    if (dev.pmax[i] > pHi) pHi = dev.pmax[i];
    if (dev.gmax[i] > gHi) gHi = dev.gmax[i];
  }
  const scraper = dev.kind === "scraper";
  dev.scale.p = ease(dev.scale.p, scraper ? [Math.min(0, pLo), Math.max(pHi * 1.15, 5)] : niceRange(pLo, pHi, 400));
  dev.scale.g = ease(dev.scale.g, [0, Math.max(gHi * 1.15, 20)]);
  const [pa, pb] = dev.scale.p, gb = dev.scale.g[1];
  const yp = v => pTop + pH - (v - pa) / (pb - pa) * pH;
  const yg = v => gTop + gH - v / gb * gH;

  // Grid and labels.
  ctx.strokeStyle = COLORS.grid; ctx.lineWidth = 1; ctx.fillStyle = COLORS.text;
  ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "right";
  for (let s = 0; s <= WINDOW_S; s += 2) {
    const xs = x(tEnd - s);
    ctx.beginPath(); ctx.moveTo(xs, pTop); ctx.lineTo(xs, H - 6); ctx.stroke();
  }
  for (const f of [0, 0.5, 1]) {
    const v = pa + (pb - pa) * f, yy = yp(v);
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(right, yy); ctx.stroke();
    ctx.fillText(scraper ? v.toFixed(0) : (v / 1000).toFixed(1), left - 5, yy + 3);
  }
  ctx.fillText(gb.toFixed(0), left - 5, gTop + 8);
  ctx.fillText("0", left - 5, gTop + gH + 3);
  ctx.textAlign = "left";

  // Pressure/force: min-max envelope and mean; rotation: filled magnitude.
  const drawSeries = (lo, hi, mid, yf, stroke, fill) => {
    let runStart = start;
    for (let k = start; k <= n; k++) {
      const i = (first + k) % TRACE_CAP;
      if (k < n && !(k > runStart && dev.gap[i])) continue;
      if (k - runStart >= 1) {
        ctx.beginPath();
        for (let j = runStart; j < k; j++) { const q = (first + j) % TRACE_CAP; ctx.lineTo(x(dev.t[q]), yf(hi[q])); }
        for (let j = k - 1; j >= runStart; j--) { const q = (first + j) % TRACE_CAP; ctx.lineTo(x(dev.t[q]), yf(lo ? lo[q] : 0)); }
        ctx.closePath(); ctx.fillStyle = fill; ctx.fill();
        ctx.beginPath();
        for (let j = runStart; j < k; j++) { const q = (first + j) % TRACE_CAP; ctx.lineTo(x(dev.t[q]), yf(mid[q])); }
        ctx.strokeStyle = stroke; ctx.lineWidth = 1.6; ctx.lineJoin = "round"; ctx.stroke();
      }
      runStart = k;
    }
  };
  ctx.save();
  ctx.beginPath(); ctx.rect(left, 0, right - left, H); ctx.clip();
  drawSeries(dev.pmin, dev.pmax, dev.pmean, yp, COLORS.p, COLORS.pFill);
  drawSeries(null, dev.gmax, dev.gmax, yg, COLORS.g, COLORS.gFill);
  ctx.restore();
  ctx.fillStyle = COLORS.text;
  ctx.fillText(scraper ? "N" : "kPa", 4, pTop + 10);
  ctx.fillText("°/s", 4, gTop + 20);
}

let lastText = 0;
function frame(nowMs) {
  for (const dev of devices.values()) drawDevice(dev, nowMs);
  if (nowMs - lastText > TEXT_EVERY_MS) {
    lastText = nowMs;
    for (const dev of devices.values()) refreshText(dev);
    refreshPage();
  }
  requestAnimationFrame(frame);
}

// ---- Stream ---------------------------------------------------------------------

function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch (e) { return; }
  page.messages++;
  page.lastMessage = performance.now();
  const topic = msg.topic, m = msg.payload;
  if (topic.startsWith("trace.")) pushTrace(device(m.device, m.kind), m);
  else if (topic.startsWith("event.")) onEvent(m, !!msg.replay);
  else if (topic === "status.daemon") onDaemon(m);
  else if (topic.startsWith("status.")) onStatus(m);
  else if (topic === "web.bridge") page.bridge = m;
}

function connect() {
  const es = new EventSource("events");
  // EventSource reconnects by itself; a new stream replays the recent events,
  // so the page starts afresh then rather than counting them twice.
  es.onopen = () => {
    if (page.everOpen) {
      for (const dev of devices.values()) dev.card.remove();
      devices.clear();
    }
    page.everOpen = true;
    page.open = true;
  };
  es.onmessage = onMessage;
  es.onerror = () => {
    page.open = false;
    document.getElementById("link").dataset.state = "lost";
    setText("link-text", "reconnecting…");
  };
}

// ---- History view -----------------------------------------------------------------
// GET /history: massaged-history's overview (progress by day and by week, the
// latest sessions), fetched at load and again when a session ends.

const history = { data: null, by: "week", timer: 0, want: 0, wait: 0 };

// Sessions the database holds (the weeks' counts cover every one).
function historyTotal(d) {
  return d ? d.by_week.reduce((n, r) => n + r.sessions, 0) : 0;
}

function chart(canvas, labels, series) {
  const ctx = canvas.getContext("2d");
  const W = canvas.clientWidth || 300, H = canvas.height;
  canvas.width = W;
  ctx.clearRect(0, 0, W, H);
  const left = 34, right = W - 34, top = 10, bottom = H - 22, n = labels.length;
  ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = COLORS.text;
  if (!n) { ctx.fillText("no sessions yet", left, H / 2); return; }
  const x = i => left + (n === 1 ? (right - left) / 2 : i * (right - left) / (n - 1));
  ctx.strokeStyle = COLORS.grid;
  ctx.beginPath(); ctx.moveTo(left, bottom); ctx.lineTo(right, bottom); ctx.stroke();
  ctx.textAlign = "center";
  const every = Math.max(1, Math.ceil(n / 8));
  labels.forEach((l, i) => { if (i % every === 0) ctx.fillText(l.slice(5), x(i), H - 6); });
  series.forEach((s, k) => {
    const vals = s.values.map(v => (v === null || v === undefined ? NaN : v));
    const finite = vals.filter(Number.isFinite);
    const hi = Math.max(s.min_top || 0, ...finite, 1e-9), lo = Math.min(0, ...finite);
    const y = v => bottom - (v - lo) / (hi - lo) * (bottom - top);
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.8;
    if (s.bars) {
      const w = Math.max(2, (right - left) / Math.max(n, 1) * 0.5);
      vals.forEach((v, i) => { if (Number.isFinite(v)) ctx.fillRect(x(i) - w / 2, y(v), w, bottom - y(v)); });
    } else {
      ctx.beginPath();
      let pen = false;
      vals.forEach((v, i) => {
        if (!Number.isFinite(v)) { pen = false; return; }
        if (pen) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
        pen = true;
        ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4);
      });
      ctx.stroke();
    }
    ctx.textAlign = k === 0 ? "right" : "left";
    ctx.fillText(hi.toFixed(hi < 10 ? 2 : 0), k === 0 ? left - 4 : right + 4, top + 8);
    ctx.fillText(s.label, k === 0 ? left + 4 + ctx.measureText(s.label).width : right - 4 - ctx.measureText(s.label).width, top + 8 + 12 * k);
  });
}

function fmt(v, digits) {
  return v === null || v === undefined ? "–" : (typeof v === "number" ? v.toFixed(digits) : String(v));
}

function renderHistory() {
  const d = history.data;
  if (!d) return;
  const rows = history.by === "day" ? d.by_day : d.by_week;
  const labels = rows.map(r => r.period);
  const col = k => rows.map(r => r[k]);
  const q = k => document.querySelector('[data-chart="' + k + '"]');
  chart(q("sessions"), labels, [
    { label: "sessions", values: col("sessions"), color: COLORS.hold, bars: true },
    { label: "adherence", values: col("adherence"), color: COLORS.roll, min_top: 1 }]);
  chart(q("ball"), labels, [
    { label: "flexes/hold", values: col("flexes_per_hold"), color: COLORS.flex },
    { label: "release", values: col("release_trend"), color: COLORS.rock }]);
  chart(q("scraper"), labels, [
    { label: "strokes", values: col("strokes"), color: COLORS.stroke, bars: true },
    { label: "force", values: col("mean_force_n"), color: COLORS.p }]);
  const body = document.getElementById("hist-rows");
  body.textContent = "";
  for (const s of d.sessions) {
    const tr = document.createElement("tr");
    const start = new Date(s.t_start * 1000);
    const cells = [start.toLocaleString(), s.device, s.participant || "–", fmt(s.duration_s / 60, 1),
      fmt(s.holds, 0), fmt(s.flexes, 0), fmt(s.release_trend, 3), fmt(s.strokes, 0),
      fmt(s.mean_force_n, 1), s.reason];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    body.appendChild(tr);
  }
  setText("hist-note", d.sessions.length ? "updated " + new Date().toLocaleTimeString()
                                         : "no finished sessions yet");
}

async function loadHistory() {
  try {
    const r = await fetch("history", { cache: "no-store" });
    const d = await r.json();
    if (d.error) { setText("hist-note", "history: " + d.error); return; }
    history.data = d;
    renderHistory();
    if (history.wait && historyTotal(d) < history.want && history.wait < 5600) {
      history.wait *= 2;  // an ended session's row is not written yet: ask again later
      history.timer = setTimeout(loadHistory, history.wait);
    } else {
      history.wait = 0;
    }
  } catch (e) {
    setText("hist-note", "history unavailable");
  }
}

// A session's row is written by the daemon's history thread after its `end`
// is published, a database commit that under load can take over a second:
// each end raises the number of sessions the view waits for, and an answer
// with fewer is asked for again, later each time (0.7 s, doubled up to 5.6 s).
function historyChanged() {
  history.want = Math.max(history.want, historyTotal(history.data)) + 1;
  clearTimeout(history.timer);
  history.wait = 700;
  history.timer = setTimeout(loadHistory, history.wait);
}

for (const b of document.querySelectorAll(".hist-by button")) {
  b.addEventListener("click", () => {
    history.by = b.dataset.by;
    for (const o of document.querySelectorAll(".hist-by button")) o.classList.toggle("on", o === b);
    renderHistory();
  });
}

connect();
loadHistory();
requestAnimationFrame(frame);
