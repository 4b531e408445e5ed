// Replay: a person's fixes over an interval played on a real time axis (×1 to ×600), the map
// following the moving point, the track coloured by the gap between fixes, accuracy circles
// near the playhead, the alerts and device events of the interval on a timeline, a second
// person over the same interval, and the track's downloads. "Explain this alert" opens it
// around an alert (GET /alerts/{id}/explain): the zone drawn, the fixes that decided it
// marked, the rule's thresholds shown.

import { byId, el, label, option } from "./dom.js";
import { fmt, kindLabel, t } from "./i18n.js";
import { layers, map, zoneLayer } from "./map.js";
import { roster } from "./roster.js";
import { accessToken, api } from "./session.js";

/* global L */
export const SPEEDS = [1, 10, 60, 300, 600];
export const GAP_CLASSES = [  // the gap between two fixes, and how its segment is drawn
  { key: "short", below: 120, style: { color: "#1a7f37", weight: 4 } },
  { key: "medium", below: 600, style: { color: "#d97706", weight: 4 } },
  { key: "long", below: Infinity, style: { color: "#b42318", weight: 3, dashArray: "6 6" } },
];
const PEOPLE_COLOURS = ["#7c3aed", "#0e7490"];
const STILL_M = 30;      // moving less than this …
const STILL_S = 300;     // … for this long is a still stretch (skipped when asked)
const NEAR_FIXES = 3;    // accuracy circles for this many fixes either side of the playhead
const MAX_POINTS = 100000;

export const replay = {
  people: [],           // [{id, tracks: [{device_id, ts, lon, lat, acc}], marker}]
  start: 0, end: 0,     // the interval, epoch seconds
  t: 0,                 // the playhead
  speed: 60,
  playing: false,
  skipStill: true,
  still: [],            // [from, to] still stretches of the first person
  marks: [],            // alerts and events on the timeline
  explained: null,      // the /explain answer when opened from an alert
  frames: 0,            // the playhead's moves, for tests
};

let showTab = () => {};
const group = () => layers.replay;

// --- the form ------------------------------------------------------------------------------

function localInput(epoch) {
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    + `T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function today() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  return [midnight.getTime() / 1000, Date.now() / 1000];
}

export function setUpReplay({ onShowTab }) {
  showTab = onShowTab;
  const [start, end] = today();
  byId("replay-start").value = localInput(start);
  byId("replay-end").value = localInput(end);
  byId("replay-load").addEventListener("click", () => loadFromForm());
  byId("replay-play").addEventListener("click", () => (replay.playing ? pause() : play()));
  byId("replay-slider").addEventListener("input", (e) => seek(Number(e.target.value)));
  byId("replay-skip").addEventListener("change", (e) => { replay.skipStill = e.target.checked; });
  byId("replay-speed").addEventListener("change", (e) => { replay.speed = Number(e.target.value); });
  for (const format of ["geojson", "csv", "gpx"]) {
    byId(`replay-export-${format}`).addEventListener("click", () => download(format));
  }
  translateReplay();
}

export function translateReplay() {
  const speed = byId("replay-speed");
  speed.replaceChildren(...SPEEDS.map((s) => option(String(s), t("replay.speedX", { x: s }))));
  speed.value = String(replay.speed);
  const people = byId("replay-people");
  people.replaceChildren(...[...roster.supervisees.values()].slice(0, 5000).map((s) => {
    const o = option(s.id, s.name);
    return o;
  }));
  const legend = byId("replay-legend");
  legend.replaceChildren(...GAP_CLASSES.map((g) => {
    const item = el("span", `gap gap-${g.key}`);
    item.append(el("span", "swatch"), t(`replay.gap.${g.key}`));
    return item;
  }));
  byId("replay-play").textContent = t(replay.playing ? "replay.pause" : "replay.play");
  showTime();
  summarise();
  drawTimeline();
  if (replay.explained) showExplanation();
}

function fromInput(id) {
  const v = byId(id).value;
  return v ? new Date(v).getTime() / 1000 : NaN;
}

async function loadFromForm() {
  const ids = [byId("replay-person").value.trim(), byId("replay-person2").value.trim()]
    .filter(Boolean);
  const start = fromInput("replay-start");
  const end = fromInput("replay-end");
  const error = byId("replay-error");
  error.textContent = "";
  if (!ids.length) { error.textContent = t("replay.needPerson"); return; }
  if (!(start < end)) { error.textContent = t("replay.badInterval"); return; }
  try {
    await load(ids, start, end);
  } catch (e) { error.textContent = t("alerts.failed", { reason: e.message }); }
}

// --- loading ---------------------------------------------------------------------------------

const iso = (epoch) => new Date(epoch * 1000).toISOString();

function tracksOf(collection) {
  return collection.features.map((f) => {
    const coords = f.geometry.type === "Point" ? [f.geometry.coordinates] : f.geometry.coordinates;
    return {
      device_id: f.properties.device_id,
      ts: f.properties.times.map((x) => Date.parse(x) / 1000),
      lon: coords.map((c) => c[0]), lat: coords.map((c) => c[1]),
      acc: f.properties.accuracy_m,
    };
  });
}

async function person(id, start, end) {
  const enc = encodeURIComponent(id);
  const span = `start=${iso(start)}&end=${iso(end)}`;
  const [track, alerts, events] = await Promise.all([
    api(`/api/v1/supervisees/${enc}/track?format=geojson&max_points=${MAX_POINTS}&${span}`),
    api(`/api/v1/alerts?supervisee_id=${enc}&limit=1000`),
    api(`/api/v1/supervisees/${enc}/device-events?${span}`),
  ]);
  const marks = [
    ...alerts.alerts.filter((a) => a.started_at >= start && a.started_at <= end)
      .map((a) => ({ ts: a.started_at, type: "alert", alert: a, who: id })),
    ...events.events.map((e) => ({ ts: e.ts, type: "event", event: e, who: id })),
  ];
  return { id, tracks: tracksOf(track), marks };
}

export async function load(ids, start, end, { explained = null } = {}) {
  pause();
  const people = explained ? [explainedPerson(explained)] : await Promise.all(
    ids.map((id) => person(id, start, end)));
  Object.assign(replay, { start, end, explained, people,
                          marks: people.flatMap((p) => p.marks).sort((a, b) => a.ts - b.ts) });
  replay.still = stillStretches(people[0]);
  byId("replay-person").value = people[0].id;
  if (explained) byId("replay-person2").value = "";
  byId("replay-start").value = localInput(start);
  byId("replay-end").value = localInput(end);
  const slider = byId("replay-slider");
  slider.min = String(Math.floor(start));
  slider.max = String(Math.ceil(end));
  slider.step = "1";
  byId("replay-controls").hidden = false;
  summarise();
  draw();
  drawTimeline();
  showExplanation();
  const first = Math.min(...people.flatMap((p) => p.tracks.map((tr) => tr.ts[0])));
  seek(explained ? explained.alert.started_at : (Number.isFinite(first) ? first : start));
}

function summarise() {
  byId("replay-summary").textContent = replay.people.map((p) => t("replay.summary", {
    who: p.id, fixes: fmt.number(p.tracks.reduce((n, tr) => n + tr.ts.length, 0)) })).join(" · ");
}

// The explanation's fixes as a person's tracks (every fix, unthinned), its events as marks.
function explainedPerson(ex) {
  const byDevice = new Map();
  for (const f of ex.fixes) {
    if (!byDevice.has(f.device_id)) {
      byDevice.set(f.device_id, { device_id: f.device_id, role: f.role, ts: [], lon: [],
                                  lat: [], acc: [], fixes: [] });
    }
    const tr = byDevice.get(f.device_id);
    tr.ts.push(f.ts); tr.lon.push(f.lon); tr.lat.push(f.lat); tr.acc.push(f.accuracy_m);
    tr.fixes.push(f);
  }
  const a = ex.alert;
  return {
    id: a.supervisee_id, tracks: [...byDevice.values()],
    marks: [{ ts: a.started_at, type: "alert", alert: a, who: a.supervisee_id },
            ...ex.events.map((e) => ({ ts: e.ts, type: "event", event: e, who: a.supervisee_id }))],
  };
}

export async function openExplained(alertId) {
  showTab("replay");
  const ex = await api(`/api/v1/alerts/${alertId}/explain`);
  await load([ex.alert.supervisee_id], ex.start, ex.end, { explained: ex });
}

export async function openReplay(superviseeId) {
  showTab("replay");
  const [start, end] = today();
  await load([superviseeId], start, end);
}

// Where the first person stood still (their longest track): moving less than STILL_M for at
// least STILL_S, or no fix at all for as long.
export function stillStretches(p) {
  const tr = [...p.tracks].sort((a, b) => b.ts.length - a.ts.length)[0];
  const out = [];
  if (!tr) return out;
  let anchor = 0;
  const cosLat = Math.cos((tr.lat[0] * Math.PI) / 180);
  const metres = (i, j) => Math.hypot((tr.lon[i] - tr.lon[j]) * 111320 * cosLat,
                                      (tr.lat[i] - tr.lat[j]) * 110540);
  for (let i = 1; i <= tr.ts.length; i += 1) {
    if (i === tr.ts.length || metres(anchor, i) > STILL_M) {
      const last = i - 1;
      if (tr.ts[last] - tr.ts[anchor] >= STILL_S) out.push([tr.ts[anchor], tr.ts[last]]);
      if (i < tr.ts.length && tr.ts[i] - tr.ts[last] >= STILL_S) out.push([tr.ts[last], tr.ts[i]]);
      anchor = i;
    }
  }
  return out;
}

// --- drawing ---------------------------------------------------------------------------------

function gapClass(gap) { return GAP_CLASSES.find((g) => gap < g.below); }

function draw() {
  group().clearLayers();
  const box = L.latLngBounds([]);
  replay.people.forEach((p, n) => {
    for (const tr of p.tracks) {
      const colour = tr.role === "victim" ? "#b42318" : PEOPLE_COLOURS[n % 2];
      // Segments in runs of one gap class: one polyline per run.
      let run = null;
      for (let i = 1; i < tr.ts.length; i += 1) {
        const g = gapClass(tr.ts[i] - tr.ts[i - 1]);
        if (!run || run.g !== g) {
          run = { g, points: [[tr.lat[i - 1], tr.lon[i - 1]]] };
          const line = L.polyline(run.points, { ...g.style, opacity: 0.85 });
          line.gapClass = g.key;
          run.line = line;
          line.addTo(group());
        }
        run.points.push([tr.lat[i], tr.lon[i]]);
        run.line.setLatLngs(run.points);
      }
      for (let i = 0; i < tr.ts.length; i += 1) box.extend([tr.lat[i], tr.lon[i]]);
      tr.marker = L.circleMarker([tr.lat[0], tr.lon[0]], {
        radius: 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 })
        .bindTooltip(label(`${p.id} · ${tr.device_id}`)).addTo(group());
      tr.near = L.layerGroup().addTo(group());
    }
  });
  const ex = replay.explained;
  if (ex) {
    if (ex.zone) zoneLayer(ex.zone).addTo(group());
    for (const tr of replay.people[0].tracks) {
      tr.fixes.forEach((f, i) => {
        if (!f.deciding) return;
        L.circle([f.lat, f.lon], { radius: f.accuracy_used_m, color: "#b42318", weight: 1,
                                   fillOpacity: 0.08, className: "deciding-accuracy" })
          .addTo(group());
        L.circleMarker([f.lat, f.lon], { radius: 7, color: "#b42318", weight: 3,
                                         fillColor: "#fde68a", fillOpacity: 1,
                                         className: "deciding-fix" })
          .bindTooltip(label(fixLine(f, i))).addTo(group());
      });
    }
  }
  if (box.isValid()) map.fitBounds(box, { padding: [30, 30], maxZoom: 16 });
}

function drawTimeline() {
  const line = byId("replay-timeline");
  if (!line || !(replay.end > replay.start)) return;
  const span = replay.end - replay.start;
  const items = [];
  for (const s of replay.still) {
    const band = el("div", "still");
    band.style.left = `${((s[0] - replay.start) / span) * 100}%`;
    band.style.width = `${((s[1] - s[0]) / span) * 100}%`;
    items.push(band);
  }
  for (const m of replay.marks) {
    const node = el("button", `mark mark-${m.type}`);
    node.type = "button";
    node.style.left = `${((m.ts - replay.start) / span) * 100}%`;
    node.title = `${fmt.time(m.ts)} ${m.who} — ${m.type === "alert" ? kindLabel(m.alert.kind)
      : t("replay.event", { event: m.event.event, device: m.event.device_id })}`;
    node.addEventListener("click", () => seek(m.ts));
    items.push(node);
  }
  line.replaceChildren(...items);
}

// --- the explanation ------------------------------------------------------------------------

function metres(m) { return m == null ? "–" : t("replay.metres", { m: fmt.number(Math.round(m)) }); }

function fixLine(f) {
  const said = f.decision ? t(`replay.decision.${f.decision}`)
    : f.verdict ? t(`replay.verdict.${f.verdict}`) : "";
  // A zone's distance is signed (negative inside); the decision says which side.
  return t(f.decision ? "replay.fixLineZone" : "replay.fixLine", {
    time: fmt.time(f.ts), distance: metres(f.distance_m == null ? null : Math.abs(f.distance_m)),
    accuracy: metres(f.accuracy_used_m), said });
}

function showExplanation() {
  const box = byId("replay-explain");
  const ex = replay.explained;
  box.hidden = !ex;
  if (!ex) { box.replaceChildren(); return; }
  const a = ex.alert;
  const parts = [el("h3", null, t("replay.explainTitle", { kind: kindLabel(a.kind) }))];
  parts.push(el("div", "small", `${a.supervisee_id} · ${a.subject_name} · ${fmt.dateTime(a.started_at)}`));
  const th = el("dl", "thresholds");
  for (const [key, value] of Object.entries(ex.thresholds)) {
    if (value == null) continue;
    th.append(el("dt", null, t(`replay.threshold.${key}`)),
              el("dd", null, key.endsWith("_m") ? metres(value)
                : key.endsWith("_s") ? fmt.clock(value) : fmt.number(value)));
  }
  if (ex.zone) {
    th.append(el("dt", null, t("replay.zone")), el("dd", null, ex.zone.properties.name));
  }
  parts.push(th);
  const deciding = ex.fixes.filter((f) => f.deciding);
  parts.push(el("h4", null, t("replay.deciding", { count: deciding.length })));
  const list = el("ol", "deciding");
  for (const f of deciding) list.append(el("li", null, fixLine(f)));
  parts.push(list);
  const between = ["victim_proximity", "separation", "gathering"].includes(a.kind);
  parts.push(el("p", "small", t(between ? "replay.ruleDistance" : "replay.ruleZone",
    { factor: ex.thresholds.accuracy_factor })));
  if (ex.gathering) parts.push(...gatheringHistory(ex.gathering));
  box.replaceChildren(...parts);
}

function gatheringHistory(g) {
  // 聚集: the pair's meetings the nightly co-location passes kept, newest first (text only).
  const out = [el("h4", null, t("replay.gatheringTitle", { days: fmt.number(g.days) }))];
  out.push(el("p", "small", t(g.found_by === "nightly_pass" ? "replay.gatheringByPass"
    : "replay.gatheringByEngine")));
  if (!g.meetings_count) {
    out.push(el("p", "small", t("replay.gatheringNone", { days: fmt.number(g.days) })));
    return out;
  }
  out.push(el("p", null, t("replay.gatheringSummary", {
    count: fmt.number(g.meetings_count), minutes: fmt.number(Math.round(g.minutes)),
    last: fmt.dateTime(g.last_start) })));
  const list = el("ol", "gathering-meetings");
  for (const m of [...g.meetings].sort((x, y) => y.start - x.start).slice(0, 10)) {
    list.append(el("li", null, t("replay.gatheringMeeting", {
      start: fmt.dateTime(m.start), minutes: fmt.number(Math.round(m.minutes)),
      closest: metres(m.closest_m) })));
  }
  out.push(list);
  return out;
}

// --- playing -------------------------------------------------------------------------------

function positionAt(tr, time) {
  // The last fix at or before the time (binary search), drawn moving toward the next one
  // when the gap between them is short; a long gap is shown as a gap, not a straight walk.
  let lo = 0;
  let hi = tr.ts.length - 1;
  if (time <= tr.ts[0]) return { i: 0, lat: tr.lat[0], lon: tr.lon[0], before: true };
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tr.ts[mid] <= time) lo = mid; else hi = mid - 1;
  }
  const i = lo;
  const j = Math.min(i + 1, tr.ts.length - 1);
  const gap = tr.ts[j] - tr.ts[i];
  if (j === i || gap >= GAP_CLASSES[1].below) return { i, lat: tr.lat[i], lon: tr.lon[i] };
  const k = (time - tr.ts[i]) / gap;
  return { i, lat: tr.lat[i] + k * (tr.lat[j] - tr.lat[i]),
           lon: tr.lon[i] + k * (tr.lon[j] - tr.lon[i]) };
}

function showTime() {
  const label = byId("replay-time");
  if (label) label.textContent = replay.end > replay.start ? fmt.playhead(replay.t) : "";
}

export function seek(time) {
  replay.t = Math.max(replay.start, Math.min(replay.end, time));
  replay.frames += 1;
  byId("replay-slider").value = String(Math.round(replay.t));
  showTime();
  let lead = null;
  for (const p of replay.people) {
    for (const tr of p.tracks) {
      if (!tr.ts.length) continue;
      const at = positionAt(tr, replay.t);
      tr.marker.setLatLng([at.lat, at.lon]);
      tr.near.clearLayers();
      for (let i = Math.max(0, at.i - NEAR_FIXES); i <= Math.min(tr.ts.length - 1, at.i + NEAR_FIXES); i += 1) {
        L.circle([tr.lat[i], tr.lon[i]], { radius: tr.acc[i], color: "#5a6272", weight: 1,
                                           fillOpacity: 0.06, className: "near-accuracy",
                                           interactive: false }).addTo(tr.near);
      }
      lead ||= [at.lat, at.lon];
    }
  }
  // The map follows the first person's point when it nears the edge of the view.
  if (lead && replay.playing && !map.getBounds().pad(-0.2).contains(lead)) map.panTo(lead);
}

let last = null;
function frame(now) {
  if (!replay.playing) return;
  const dt = last == null ? 0 : (now - last) / 1000;
  last = now;
  let next = replay.t + dt * replay.speed;
  if (replay.skipStill) {
    const s = replay.still.find(([from, to]) => next > from + 1 && next < to);
    if (s) next = s[1];
  }
  seek(next);
  if (replay.t >= replay.end) { pause(); return; }
  requestAnimationFrame(frame);
}

export function play() {
  if (!replay.people.length) return;
  if (replay.t >= replay.end) seek(replay.start);
  replay.playing = true;
  last = null;
  byId("replay-play").textContent = t("replay.pause");
  requestAnimationFrame(frame);
}

export function pause() {
  replay.playing = false;
  const b = byId("replay-play");
  if (b) b.textContent = t("replay.play");
}

export function closeReplay() { pause(); }

// --- downloads -------------------------------------------------------------------------------

async function download(format) {
  const p = replay.people[0];
  if (!p) return;
  const span = `start=${iso(replay.start)}&end=${iso(replay.end)}`;
  const r = await fetch(`/api/v1/supervisees/${encodeURIComponent(p.id)}/track?format=${format}`
                        + `&max_points=${MAX_POINTS}&${span}`,
  { headers: { Authorization: `Bearer ${accessToken()}` } });
  if (!r.ok) { byId("replay-error").textContent = t("alerts.failed", { reason: `HTTP ${r.status}` }); return; }
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${p.id}-${localInput(replay.start).replace(/[:T]/g, "")}.${format === "geojson" ? "geojson" : format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
