// One person: their devices (battery, last heard, accuracy, pairing), plan, zones drawn on the
// map, open and past alerts, and today's track (GET /supervisees/{id}/track). Live on the map:
// a line from their bracelet to their phone with the distance, and for each protection order
// the victim's exclusion zone (a circle of enter_m around the victim's phone, moving with it)
// with the distance between them (GET /supervisees/{id}/victim-zones, read again every few
// seconds: victims' phones are in neither /positions nor the live feed). The victim's position
// is shown only as the zone: no marker, no track.

import { explainButton } from "./alerts.js";
import { caseworkState, clearCasework, showCasework } from "./casework.js";
import { byId, el, label } from "./dom.js";
import { fmt, kindLabel, t } from "./i18n.js";
import { layers, map, pinDevices, zoneLayer } from "./map.js";
import { openReport } from "./report.js";
import { deviceSilent, onRosterChange, roster } from "./roster.js";
import { api } from "./session.js";

/* global L */
const VICTIM_POLL_MS = 5000;
const VICTIM_STYLE = { color: "#7a0916", weight: 2, dashArray: "6 4", fillColor: "#e5484d",
                       fillOpacity: 0.12 };

let current = null;  // {id, detail, zones, alerts, track, victims}
let back = () => {};
let replayPerson = () => {};
let victimTimer = null;
// What the map shows live for the person: {pair: {line, distance}, victims: victim id ->
// {circle, order, distance}} — also the tests' view of it (window.cordon.personLive).
export const personLive = { pair: null, victims: new Map() };

export function setUpPerson({ onBack, onReplay }) {
  back = onBack;
  replayPerson = onReplay;
  byId("person-back").addEventListener("click", () => back());
  onRosterChange((what) => { if (what === "positions" || what === "time") updateLive(); });
}

// Where the person spent the last 30 days (GET /supervisees/{id}/home-range): H3 cells shaded
// by their share of the observed time, the cells holding half of it outlined.
export const homeRange = { layer: null, summary: null, cells: 0 };

async function toggleHomeRange(id) {
  if (homeRange.layer) {
    layers.person.removeLayer(homeRange.layer);
    homeRange.layer = null;
    homeRange.summary = null;
    homeRange.cells = 0;
    refreshPerson();
    return;
  }
  const end = new Date();
  const start = new Date(end.getTime() - 30 * 86400e3);
  const got = await api(`/api/v1/supervisees/${encodeURIComponent(id)}/home-range`
                        + `?start=${start.toISOString()}&end=${end.toISOString()}`);
  if (!current || current.id !== id) return;
  const top = got.features.length ? got.features[0].properties.share : 1;
  homeRange.layer = L.geoJSON(got, {
    style: (f) => ({
      color: f.properties.core === "50" ? "#b45309" : "#d97706",
      weight: f.properties.core === "50" ? 2 : 0.5,
      fillColor: "#f59e0b",
      fillOpacity: 0.1 + 0.6 * Math.sqrt(f.properties.share / top),
    }),
    onEachFeature: (f, layer) => layer.bindTooltip(label(t("person.rangeCell", {
      pct: fmt.percent(100 * f.properties.share),
      hours: fmt.number(Math.round(f.properties.seconds / 360) / 10) }))),
  }).addTo(layers.person);
  homeRange.summary = got;
  homeRange.cells = got.features.length;
  refreshPerson();
  const b = homeRange.layer.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [30, 30], maxZoom: 16 });
}

export function closePerson() {
  if (homeRange.layer) layers.person.removeLayer(homeRange.layer);
  homeRange.layer = null;
  homeRange.summary = null;
  homeRange.cells = 0;
  current = null;
  clearCasework();
  layers.person.clearLayers();
  clearTimeout(victimTimer);
  personLive.pair = null;
  personLive.victims.clear();
  pinDevices([]);
}

export async function openPerson(id) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const enc = encodeURIComponent(id);
  current = { id };
  byId("person-body").replaceChildren(el("p", null, "…"));
  if (!caseworkState.person || caseworkState.person.detail.id !== id) clearCasework();
  clearTimeout(victimTimer);
  const [detail, alerts, track, zones, victims] = await Promise.all([
    api(`/api/v1/supervisees/${enc}`),
    api(`/api/v1/alerts?supervisee_id=${enc}&limit=50`),
    api(`/api/v1/supervisees/${enc}/track?start=${midnight.toISOString()}`
        + `&end=${new Date().toISOString()}`).catch(() => null),
    api("/api/v1/zones"),
    api(`/api/v1/supervisees/${enc}/victim-zones`).catch(() => null),
  ]);
  if (!current || current.id !== id) return;
  const wanted = new Set(detail.supervisee.zone_ids);
  const inReach = zones.features;
  Object.assign(current, { detail: detail.supervisee, alerts: alerts.alerts, track,
                           zones: zones.features.filter((f) => wanted.has(f.id)),
                           victims: victims ? victims.victim_zones : [] });
  pinDevices(current.detail.devices.map((d) => d.id));
  draw();
  refreshPerson();
  showCasework(current.detail, inReach).catch(console.error);
  if (current.victims.length) victimTimer = setTimeout(() => pollVictims(id), VICTIM_POLL_MS);
}

// The victims' zones read again, while this person stays open.
async function pollVictims(id) {
  try {
    const doc = await api(`/api/v1/supervisees/${encodeURIComponent(id)}/victim-zones`);
    if (!current || current.id !== id) return;
    current.victims = doc.victim_zones;
    updateLive();
  } catch (e) { /* the feed state shows an outage; try again */ }
  if (current && current.id === id) {
    victimTimer = setTimeout(() => pollVictims(id), VICTIM_POLL_MS);
  }
}

const latLng = (p) => L.latLng(p.lat, p.lon);
const metres = (m) => fmt.number(Math.round(m));

// The bracelet and phone of the person: their pairing, else their first of each.
function pairOf(s) {
  const p = s.pairings[0];
  if (p) return [p.bracelet_id, p.phone_id];
  const b = s.devices.find((d) => d.kind === "bracelet");
  const ph = s.devices.find((d) => d.kind === "phone");
  return b && ph ? [b.id, ph.id] : null;
}

// The person's newest position, of any of their devices.
function newestOf(s) {
  let best = null;
  for (const d of s.devices) {
    const p = roster.positions.get(d.id);
    if (p && (!best || p.ts > best.ts)) best = p;
  }
  return best;
}

// The bracelet–phone line and the victims' zones, moved to where the devices are now, and
// the distances in the panel with them.
function updateLive() {
  if (!current || !current.detail || !personLive.group) return;
  const s = current.detail;
  const pair = pairOf(s);
  const ends = pair ? pair.map((id) => roster.positions.get(id)) : null;
  if (ends && ends[0] && ends[1]) {
    const at = [latLng(ends[0]), latLng(ends[1])];
    const distance = map.distance(at[0], at[1]);
    let live = personLive.pair;
    if (!live) {
      const line = L.polyline(at, { color: "#111827", weight: 2, dashArray: "2 4",
                                    className: "pair-line" });
      line.bindTooltip("", { permanent: true, direction: "bottom", offset: [0, 10],
                             className: "distance-label" });
      line.addTo(personLive.group);
      live = personLive.pair = { line };
    }
    live.line.setLatLngs(at);
    live.line.setTooltipContent(label(t("map.pairDistance", { m: metres(distance) })));
    live.line.openTooltip(L.latLngBounds(at).getCenter());
    Object.assign(live, { distance, ids: pair });
  } else if (personLive.pair) {
    personLive.pair.line.remove();
    personLive.pair = null;
  }
  const person = newestOf(s);
  const seen = new Set();
  for (const order of current.victims || []) {
    seen.add(order.victim_id);
    let live = personLive.victims.get(order.victim_id);
    if (!order.fix) {
      if (live) { live.circle.remove(); personLive.victims.delete(order.victim_id); }
      continue;
    }
    const centre = latLng(order.fix);
    const distance = person ? map.distance(latLng(person), centre) : null;
    if (!live) {
      const circle = L.circle(centre, { radius: order.enter_m, ...VICTIM_STYLE,
                                        className: "victim-zone" });
      circle.bindTooltip("", { permanent: true, direction: "top",
                               className: "victim-zone-label" });
      circle.addTo(personLive.group);
      live = { circle };
      personLive.victims.set(order.victim_id, live);
    }
    live.circle.setLatLng(centre);
    live.circle.setRadius(order.enter_m);
    live.circle.setTooltipContent(label(distance == null
      ? t("map.victimZoneFar", { victim: order.victim_id })
      : t("map.victimZone", { victim: order.victim_id, m: metres(distance) })));
    Object.assign(live, { order, distance, lat: centre.lat, lon: centre.lng });
  }
  for (const [vid, live] of personLive.victims) {
    if (!seen.has(vid)) { live.circle.remove(); personLive.victims.delete(vid); }
  }
  showDistances();
}

// The distances in the panel (the map's labels say the same).
function showDistances() {
  const box = byId("person-distances");
  if (!box || !current || !current.detail) return;
  const rows = [];
  const pair = pairOf(current.detail);
  if (pair) {
    rows.push(el("li", "pair-distance", personLive.pair
      ? t("person.pairDistance", { bracelet: pair[0], phone: pair[1],
                                   m: metres(personLive.pair.distance) })
      : t("person.pairUnknown", { bracelet: pair[0], phone: pair[1] })));
  }
  const now = roster.now();
  for (const order of current.victims || []) {
    const live = personLive.victims.get(order.victim_id);
    const zone = { victim: order.victim_id, enter: metres(order.enter_m),
                   exit: metres(order.exit_m) };
    const li = el("li", "victim-distance");
    li.dataset.victimId = order.victim_id;
    if (live && live.distance != null) {
      li.append(t("person.victimDistance", { ...zone, m: metres(live.distance) }));
      li.classList.toggle("inside", live.distance < order.enter_m);
    } else li.append(t("person.victimNoDistance", zone));
    li.append(el("div", "small", order.fix
      ? t("person.victimHeard", { time: fmt.ago(now - order.fix.ts) })
      : t("person.victimNoFix")));
    rows.push(li);
  }
  box.replaceChildren(...rows);
}

function draw() {
  layers.person.clearLayers();
  if (homeRange.layer) homeRange.layer.addTo(layers.person);
  personLive.pair = null;
  personLive.victims.clear();
  const group = L.featureGroup();
  for (const f of current.zones) zoneLayer(f).addTo(group);
  let near = null;  // the person's own things: their track, their devices, their victims' zones
  if (current.track) {
    // A lone fix is a Point: a dot, not Leaflet's default marker image.
    const track = L.geoJSON(current.track, {
      style: { color: "#7c3aed", weight: 3 },
      pointToLayer: (f, at) => L.circleMarker(at, {
        radius: 6, color: "#7c3aed", weight: 2, fillOpacity: 0.2 }),
    }).addTo(group);
    if (track.getBounds().isValid()) near = L.latLngBounds(track.getBounds());
  }
  group.addTo(layers.person);
  personLive.group = L.featureGroup().addTo(layers.person);
  updateLive();
  for (const d of current.detail.devices) {
    const p = roster.positions.get(d.id);
    if (p) near = near ? near.extend(latLng(p)) : L.latLngBounds([latLng(p), latLng(p)]);
  }
  for (const live of personLive.victims.values()) {
    const b = live.circle.getBounds();
    near = near ? near.extend(b) : L.latLngBounds(b);
  }
  // Where the person is, rather than the county-wide zone they must stay in.
  const box = near || group.getBounds();
  if (box.isValid()) map.fitBounds(box, { padding: [30, 30], maxZoom: 16 });
}

export function refreshPerson() {
  if (!current || !current.detail) return;
  const s = current.detail;
  const now = roster.now();
  const body = [];
  const title = el("h2", "person-name", s.name);
  title.append(" ", el("span", "row-id", s.id));
  body.push(title);
  if (s.released_at) {
    body.push(el("p", "released-banner", t("person.released", {
      time: fmt.dateTime(s.released_at), reason: s.release_reason || "–" })));
  }
  const replayBtn = el("button", "replay-btn", t("person.replay"));
  replayBtn.type = "button";
  replayBtn.addEventListener("click", () => replayPerson(s.id));
  const reportBtn = el("button", "report-btn", t("person.report"));
  reportBtn.type = "button";
  reportBtn.addEventListener("click", () => openReport(s.id));
  const rangeBtn = el("button", "range-btn",
                      t(homeRange.layer ? "person.rangeHide" : "person.range"));
  rangeBtn.type = "button";
  rangeBtn.setAttribute("aria-pressed", String(!!homeRange.layer));
  rangeBtn.addEventListener("click", () => toggleHomeRange(s.id).catch(console.error));
  body.push(el("div", "person-actions", null));
  body[body.length - 1].append(replayBtn, " ", reportBtn, " ", rangeBtn);
  if (homeRange.layer && homeRange.summary) {
    body.push(el("p", "small range-summary", t("person.rangeSummary", {
      core50: fmt.number(homeRange.summary.core_50), core95: fmt.number(homeRange.summary.core_95),
      hours: fmt.number(Math.round(homeRange.summary.observed_s / 3600)) })));
  }
  const plan = s.plan_id ? roster.plans.get(s.plan_id)?.name || s.plan_id : t("caseload.noPlan");
  body.push(el("div", "person-plan", `${t("person.plan")}: ${plan}`));
  body.push(el("h3", null, t("person.devices")));
  const devices = el("ul", "person-devices");
  for (const d of s.devices) {
    const p = roster.positions.get(d.id);
    const li = el("li", deviceSilent(d.id, now) ? "silent" : "");
    li.append(el("strong", null, `${d.id}`), ` (${t(`device.${d.kind}`)})`);
    const facts = [];
    if (p) {
      facts.push(t("person.lastHeard", { time: fmt.ago(now - p.ts) }));
      if (p.battery != null) facts.push(t("person.battery", { pct: fmt.percent(p.battery) }));
      if (p.accuracy_m != null) facts.push(t("person.accuracy", { m: fmt.number(Math.round(p.accuracy_m)) }));
    } else facts.push(t("person.never"));
    const pair = s.pairings.find((x) => x.bracelet_id === d.id || x.phone_id === d.id);
    if (pair) {
      facts.push(t("person.pairing", { peer: pair.bracelet_id === d.id ? pair.phone_id
                                                                       : pair.bracelet_id }));
    }
    li.append(el("div", "small", facts.join(" · ")));
    devices.append(li);
  }
  body.push(devices);
  body.push(el("h3", null, t("person.zones")));
  const zones = el("ul", "person-zones");
  for (const f of current.zones) zones.append(el("li", `zone-${f.properties.kind}`, f.properties.name));
  body.push(zones);
  if (pairOf(s) || (current.victims || []).length) {
    body.push(el("h3", null, t("person.distances")));
    const distances = el("ul", "person-distances");
    distances.id = "person-distances";
    body.push(distances);
    if ((current.victims || []).length) body.push(el("p", "small", t("person.victimPrivacy")));
  }
  const live = new Set([...roster.alerts.values()].filter((a) => a.supervisee_id === s.id)
    .map((a) => a.id));
  for (const [heading, list] of [
    ["person.openAlerts", current.alerts.filter((a) => live.has(a.id))],
    ["person.pastAlerts", current.alerts.filter((a) => !live.has(a.id))]]) {
    body.push(el("h3", null, t(heading)));
    const ul = el("ul", "person-alerts");
    for (const a of list) {
      const li = el("li", `sev-${a.severity}`,
                    `${fmt.dateTime(a.started_at)} ${kindLabel(a.kind)} — ${a.subject_name}`
                    + ` (${t(`status.${live.has(a.id) ? "open" : a.status}`)}) `);
      li.dataset.alertId = a.id;
      li.append(explainButton(a));
      ul.append(li);
    }
    body.push(ul);
  }
  if (current.track) {
    body.push(el("p", "person-track", t("person.track", {
      fixes: fmt.number(current.track.properties.fixes) })));
  }
  byId("person-body").replaceChildren(...body);
  updateLive();
}
