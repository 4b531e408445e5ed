// One person: their devices (battery, last heard, accuracy, pairing), plan, zones drawn on the
// map, open and past alerts, and today's track (GET /supervisees/{id}/track).

import { explainButton } from "./alerts.js";
import { byId, el } from "./dom.js";
import { fmt, kindLabel, t } from "./i18n.js";
import { layers, map, zoneLayer } from "./map.js";
import { deviceSilent, roster } from "./roster.js";
import { api } from "./session.js";

let current = null;  // {id, detail, zones, alerts, track}
let back = () => {};
let replayPerson = () => {};

export function setUpPerson({ onBack, onReplay }) {
  back = onBack;
  replayPerson = onReplay;
  byId("person-back").addEventListener("click", () => back());
}

export function closePerson() { current = null; layers.person.clearLayers(); }

export async function openPerson(id) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const enc = encodeURIComponent(id);
  current = { id };
  byId("person-body").replaceChildren(el("p", null, "…"));
  const [detail, alerts, track, zones] = await Promise.all([
    api(`/api/v1/supervisees/${enc}`),
    api(`/api/v1/alerts?supervisee_id=${enc}&limit=50`),
    api(`/api/v1/supervisees/${enc}/track?start=${midnight.toISOString()}`
        + `&end=${new Date().toISOString()}`).catch(() => null),
    api("/api/v1/zones"),
  ]);
  if (!current || current.id !== id) return;
  const wanted = new Set(detail.supervisee.zone_ids);
  Object.assign(current, { detail: detail.supervisee, alerts: alerts.alerts, track,
                           zones: zones.features.filter((f) => wanted.has(f.id)) });
  draw();
  refreshPerson();
}

function draw() {
  layers.person.clearLayers();
  const group = L.featureGroup();  // eslint-disable-line no-undef
  for (const f of current.zones) zoneLayer(f).addTo(group);
  if (current.track) {
    // A lone fix is a Point: a dot, not Leaflet's default marker image.
    L.geoJSON(current.track, {  // eslint-disable-line no-undef
      style: { color: "#7c3aed", weight: 3 },
      pointToLayer: (f, at) => L.circleMarker(at, {  // eslint-disable-line no-undef
        radius: 6, color: "#7c3aed", weight: 2, fillOpacity: 0.2 }),
    }).addTo(group);
  }
  group.addTo(layers.person);
  const box = group.getBounds();
  if (box.isValid()) map.fitBounds(box, { padding: [20, 20], maxZoom: 15 });
}

export function refreshPerson() {
  if (!current || !current.detail) return;
  const s = current.detail;
  const now = roster.now();
  const body = [];
  const title = el("h2", "person-name", s.name);
  title.append(" ", el("span", "row-id", s.id));
  body.push(title);
  const replayBtn = el("button", "replay-btn", t("person.replay"));
  replayBtn.type = "button";
  replayBtn.addEventListener("click", () => replayPerson(s.id));
  body.push(replayBtn);
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
}
