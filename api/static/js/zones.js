// Zones: draw and edit polygons, circles and corridors on the map, set their kind and weekly
// schedule (a curfew is an inclusion zone on a schedule), assign them to people, import and
// export GeoJSON (POST|PUT|DELETE /zones, /zones/import, GET /zones?download=true).
//
// A small drawing tool of its own rather than a plugin: Leaflet.draw is unmaintained and
// neither it nor Geoman has a corridor (a line with a width in metres); this one needs only
// Leaflet's markers and vector layers, so it keeps to the console's CSP with nothing to vendor.

import { byId, el, option } from "./dom.js";
import { fmt, t } from "./i18n.js";
import { map, redrawZones } from "./map.js";
import { roster, rosterChanged } from "./roster.js";
import { ApiError, api } from "./session.js";

/* global L */
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const M_PER_DEG = 111_320;
const SHOWN = 300;  // zones listed at most (the search narrows)

export const zonesState = {
  features: [],          // every zone in reach, as GET /zones answers
  places: [],            // jurisdictions in reach: {id, name, timezone, role}
  editing: null,         // {id, shape, points, centre, radius, width, geometry, props}
};

const drawing = L.layerGroup();
let ready = false;

// --- loading ------------------------------------------------------------------------------------

export async function loadZones() {
  const [zones, places] = await Promise.all([api("/api/v1/zones"), api("/api/v1/jurisdictions")]);
  zonesState.features = zones.features;
  zonesState.places = places.jurisdictions;
  redrawZones(zones.features);
  fillPlaces();
  renderList();
}

const writable = () => zonesState.places.filter((j) => j.role !== "officer");
const placeOf = (id) => zonesState.places.find((j) => j.id === id);

function fillPlaces() {
  for (const pick of [byId("zone-jurisdiction"), byId("zone-form").elements.jurisdiction]) {
    const was = pick.value;
    pick.replaceChildren(...writable().map((j) => option(j.id, j.name)));
    if (was && writable().some((j) => j.id === was)) pick.value = was;
  }
}

// --- the list -----------------------------------------------------------------------------------

function shapeOf(f) {
  if (f.geometry.type === "Point") return "circle";
  if (f.geometry.type === "LineString") return "corridor";
  return "polygon";
}

export function scheduleText(schedule) {
  if (!schedule) return t("zones.always");
  return (schedule.windows || []).map((w) => {
    const days = w.days.length === 7 ? t("zones.everyDay")
      : w.days.map((d) => t(`day.${d}`)).join(t("zones.daySep"));
    return t("zones.window", { days, start: w.start, end: w.end });
  }).join("; ") || t("zones.noWindows");
}

function renderList() {
  const query = byId("zone-search").value.trim().toLowerCase();
  const found = zonesState.features.filter((f) => !query
    || f.id.toLowerCase().includes(query) || f.properties.name.toLowerCase().includes(query));
  const rows = found.slice(0, SHOWN).map((f) => {
    const li = el("li", `zone-row kind-${f.properties.kind}`);
    li.dataset.zoneId = f.id;
    const curfew = f.properties.kind === "inclusion" && f.properties.schedule;
    li.append(el("div", "zone-name", f.properties.name),
              el("div", "small", [t(curfew ? "zones.curfew" : `zones.kind.${f.properties.kind}`),
                                  t(`zones.shape.${shapeOf(f)}`), f.id].join(" · ")),
              el("div", "small", scheduleText(f.properties.schedule)));
    li.addEventListener("click", () => editZone(f.id));
    return li;
  });
  byId("zone-list").replaceChildren(...rows);
  byId("zone-count").textContent = t("zones.count", {
    shown: fmt.number(rows.length), total: fmt.number(found.length) });
}

// --- the editor ---------------------------------------------------------------------------------

const form = () => byId("zone-form");

function newZone(shape) {
  const jid = byId("zone-jurisdiction").value;
  startEditing({ id: null, shape, points: [], centre: null, radius: 150, width: 100,
                 geometry: null, props: { kind: shape === "circle" ? "inclusion" : "exclusion",
                                          name: "", jurisdiction_id: jid, schedule: null } });
}

function editZone(id) {
  const f = zonesState.features.find((z) => z.id === id);
  if (!f) return;
  const shape = shapeOf(f);
  const g = f.geometry;
  const ed = { id, shape, points: [], centre: null, radius: f.properties.radius_m || 150,
               width: f.properties.width_m || 100, geometry: g, props: { ...f.properties } };
  // Only a single ring without holes is edited corner by corner; other polygons keep their
  // geometry and change only their other properties.
  if (g.type === "Polygon" && g.coordinates.length === 1) {
    ed.points = g.coordinates[0].slice(0, -1).map(([lon, lat]) => L.latLng(lat, lon));
  } else if (g.type === "LineString") {
    ed.points = g.coordinates.map(([lon, lat]) => L.latLng(lat, lon));
  } else if (g.type === "Point") {
    ed.centre = L.latLng(g.coordinates[1], g.coordinates[0]);
  }
  startEditing(ed);
  const box = layerBounds();
  if (box) map.fitBounds(box, { padding: [40, 40], maxZoom: 16 });
}

function startEditing(ed) {
  zonesState.editing = ed;
  const f = form();
  f.hidden = false;
  f.elements.name.value = ed.props.name || "";
  if (ed.props.jurisdiction_id) f.elements.jurisdiction.value = ed.props.jurisdiction_id;
  f.elements.radius.value = Math.round(ed.radius);
  f.elements.width.value = Math.round(ed.width);
  f.elements.scheduled.checked = !!ed.props.schedule;
  f.elements.assign.value = "";
  byId("zone-windows").replaceChildren(
    ...(ed.props.schedule?.windows || [{ days: DAYS.slice(), start: "22:00", end: "06:00" }])
      .map(windowRow));
  byId("zone-error").textContent = "";
  byId("zone-message").textContent = "";
  byId("zone-delete").hidden = !ed.id;
  byId("zone-delete-confirm").hidden = true;
  byId("zone-detach").hidden = true;
  translateEditor();
  f.elements.kind.value = ed.props.kind;
  map.doubleClickZoom.disable();
  draw();
}

function stopEditing() {
  zonesState.editing = null;
  form().hidden = true;
  drawing.clearLayers();
  map.doubleClickZoom.enable();
}

// A 24-hour time (HH:MM, as the schedule stores it) in both languages: an input of type
// "time" follows the browser's locale, and shows 上午/下午 in Chinese.
function timeInput(className, value) {
  const input = el("input", `time ${className}`);
  input.type = "text";
  input.inputMode = "numeric";
  input.autocomplete = "off";
  input.pattern = "([01][0-9]|2[0-3]):[0-5][0-9]";
  input.maxLength = 5;
  input.size = 5;
  input.placeholder = t("zones.timePlaceholder");
  input.title = t("zones.timeTitle");
  input.value = value;
  input.required = true;
  // "7:30" or "0730" as typed becomes "07:30".
  input.addEventListener("change", () => {
    const m = /^(\d{1,2}):?(\d{2})$/.exec(input.value.trim());
    if (m) input.value = `${m[1].padStart(2, "0")}:${m[2]}`;
  });
  return input;
}

function windowRow(w) {
  const li = el("li", "zone-window");
  const days = el("div", "days");
  for (const d of DAYS) {
    const box = el("input");
    box.type = "checkbox";
    box.value = d;
    box.checked = w.days.includes(d);
    const lab = el("label");
    lab.append(box, el("span", "day", t(`day.${d}`)));
    days.append(lab);
  }
  const times = el("div", "times");
  const start = timeInput("start", w.start);
  const end = timeInput("end", w.end);
  const drop = el("button", "drop-window", "×");
  drop.type = "button";
  drop.title = t("zones.dropWindow");
  drop.addEventListener("click", () => li.remove());
  times.append(start, "–", end, drop);
  li.append(days, times);
  return li;
}

function readWindows() {
  return [...byId("zone-windows").children].map((li) => ({
    days: [...li.querySelectorAll(".days input:checked")].map((b) => b.value),
    start: li.querySelector(".start").value,
    end: li.querySelector(".end").value,
  }));
}

// Hints, labels and the rows only the shape needs, in the current language.
export function translateEditor() {
  const ed = zonesState.editing;
  const f = form();
  const kind = f.elements.kind.value;
  f.elements.kind.replaceChildren(option("exclusion", t("zones.kind.exclusion")),
                                  option("inclusion", t("zones.kind.inclusion")));
  f.elements.kind.value = kind || "exclusion";
  if (!ed) { renderList(); return; }
  byId("zone-form-title").textContent = ed.id ? t("zones.editTitle", { id: ed.id })
    : t(`zones.newTitle.${ed.shape}`);
  const editable = ed.shape !== "polygon" || !ed.geometry || ed.points.length > 0;
  byId("zone-hint").textContent = editable ? t(`zones.hint.${ed.shape}`) : t("zones.hint.fixed");
  byId("zone-radius-row").hidden = ed.shape !== "circle";
  byId("zone-width-row").hidden = ed.shape !== "corridor";
  const place = placeOf(f.elements.jurisdiction.value);
  byId("zone-tz").textContent = t("zones.timezone", { tz: place ? place.timezone : "UTC" });
  for (const s of byId("zone-windows").querySelectorAll(".day")) {
    s.textContent = t(`day.${s.previousSibling.value}`);
  }
  for (const input of byId("zone-windows").querySelectorAll("input.time")) {
    input.placeholder = t("zones.timePlaceholder");
    input.title = t("zones.timeTitle");
  }
  renderAssigned();
  renderList();
}

function renderAssigned() {
  const ed = zonesState.editing;
  const holders = ed && ed.id ? [...roster.supervisees.values()].filter(
    (s) => s.zone_ids.includes(ed.id)) : [];
  const box = byId("zone-assigned");
  if (!holders.length) { box.replaceChildren(el("span", "small", t("zones.nobody"))); return; }
  box.replaceChildren(el("span", "small", t("zones.assignedTo")), ...holders.map((s) => {
    const chip = el("span", "chip", `${s.name} (${s.id})`);
    const x = el("button", "unassign", "×");
    x.type = "button";
    x.title = t("zones.unassign");
    x.addEventListener("click", () => assign(s.id, ed.id, false).then(renderAssigned)
      .catch(showError));
    chip.append(x);
    return chip;
  }));
}

function fillPeople() {
  const list = byId("zone-people");
  const people = [...roster.supervisees.values()].filter((s) => !s.released_at);
  list.replaceChildren(...people.slice(0, 5000).map((s) => option(s.id, s.name)));
}

// --- drawing on the map -------------------------------------------------------------------------

function vertexIcon(extra = "") {
  return L.divIcon({ className: `zone-vertex ${extra}`, iconSize: [12, 12] });
}

function onMapClick(e) {
  const ed = zonesState.editing;
  if (!ed) return;
  if (ed.shape === "circle") ed.centre = e.latlng;
  else if (ed.shape === "corridor" || !ed.geometry || ed.points.length) ed.points.push(e.latlng);
  else return;  // a polygon kept as it is
  draw();
}

function style() {
  const kind = form().elements.kind.value;
  return kind === "inclusion"
    ? { color: "#1a7f37", weight: 2, fillColor: "#34d399", fillOpacity: 0.2 }
    : { color: "#b42318", weight: 2, fillColor: "#f97066", fillOpacity: 0.3 };
}

// A corridor's area: each segment a rectangle of the width, each corner a disc (local metres).
function corridorParts(points, width) {
  const half = width / 2;
  const parts = [];
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    const kx = M_PER_DEG * Math.cos((a.lat * Math.PI) / 180);
    const dx = (b.lng - a.lng) * kx;
    const dy = (b.lat - a.lat) * M_PER_DEG;
    const len = Math.hypot(dx, dy) || 1;
    const nx = (-dy / len) * half;
    const ny = (dx / len) * half;
    const off = (p, s) => [p.lat + (s * ny) / M_PER_DEG, p.lng + (s * nx) / kx];
    parts.push(L.polygon([off(a, 1), off(b, 1), off(b, -1), off(a, -1)], style()));
  }
  for (const p of points) parts.push(L.circle(p, { radius: half, ...style(), weight: 0 }));
  return parts;
}

function draw() {
  const ed = zonesState.editing;
  drawing.clearLayers();
  if (!ed) return;
  const s = style();
  if (ed.shape === "circle") {
    ed.radius = Number(form().elements.radius.value) || ed.radius;
    if (!ed.centre) return;
    L.circle(ed.centre, { radius: ed.radius, ...s }).addTo(drawing);
    const centre = L.marker(ed.centre, { icon: vertexIcon("centre"), draggable: true })
      .addTo(drawing);
    centre.on("dragend", () => { ed.centre = centre.getLatLng(); draw(); });
    const edge = L.latLng(ed.centre.lat, ed.centre.lng
      + ed.radius / (M_PER_DEG * Math.cos((ed.centre.lat * Math.PI) / 180)));
    const handle = L.marker(edge, { icon: vertexIcon("radius"), draggable: true }).addTo(drawing);
    handle.on("dragend", () => {
      ed.radius = Math.max(1, Math.round(map.distance(ed.centre, handle.getLatLng())));
      form().elements.radius.value = ed.radius;
      draw();
    });
    return;
  }
  if (ed.shape === "polygon" && ed.geometry && !ed.points.length) {
    L.geoJSON(ed.geometry, { style: s }).addTo(drawing);
    return;
  }
  if (ed.shape === "polygon" && ed.points.length >= 3) L.polygon(ed.points, s).addTo(drawing);
  else if (ed.points.length >= 2) L.polyline(ed.points, { ...s, dashArray: "4 4" }).addTo(drawing);
  if (ed.shape === "corridor" && ed.points.length >= 2) {
    ed.width = Number(form().elements.width.value) || ed.width;
    for (const part of corridorParts(ed.points, ed.width)) part.addTo(drawing);
  }
  ed.points.forEach((p, i) => {
    const m = L.marker(p, { icon: vertexIcon(i === 0 ? "first" : ""), draggable: true })
      .addTo(drawing);
    m.on("dragend", () => { ed.points[i] = m.getLatLng(); draw(); });
    m.on("click", () => { ed.points.splice(i, 1); draw(); });  // a click takes a corner away
  });
}

function layerBounds() {
  const group = L.featureGroup(drawing.getLayers());
  const box = group.getBounds();
  return box.isValid() ? box : null;
}

// The feature the editor holds, or an error message key.
function feature() {
  const ed = zonesState.editing;
  const f = form().elements;
  const props = { name: f.name.value.trim(), kind: f.kind.value,
                  jurisdiction_id: f.jurisdiction.value };
  let geometry;
  const ring = (pts) => pts.map((p) => [p.lng, p.lat]);
  if (ed.shape === "circle") {
    if (!ed.centre) return { error: "zones.needCentre" };
    geometry = { type: "Point", coordinates: [ed.centre.lng, ed.centre.lat] };
    props.radius_m = Number(f.radius.value);
  } else if (ed.shape === "corridor") {
    if (ed.points.length < 2) return { error: "zones.needLine" };
    geometry = { type: "LineString", coordinates: ring(ed.points) };
    props.width_m = Number(f.width.value);
  } else if (ed.geometry && !ed.points.length) {
    geometry = ed.geometry;
  } else {
    if (ed.points.length < 3) return { error: "zones.needCorners" };
    const pts = ring(ed.points);
    geometry = { type: "Polygon", coordinates: [[...pts, pts[0]]] };
  }
  if (f.scheduled.checked) {
    const place = placeOf(props.jurisdiction_id);
    props.schedule = { ...(ed.props.schedule || {}),
                       timezone: place ? place.timezone : "UTC", windows: readWindows() };
  }
  return { type: "Feature", ...(ed.id ? { id: ed.id } : {}), properties: props, geometry };
}

function showError(e) {
  let text = e.message;
  if (e instanceof ApiError && Array.isArray(e.detail)) {
    text = e.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  byId("zone-error").textContent = text;
}

async function assign(superviseeId, zoneId, on) {
  const enc = encodeURIComponent(superviseeId);
  const { supervisee } = await api(`/api/v1/supervisees/${enc}`);
  const ids = new Set(supervisee.zone_ids);
  if (on) ids.add(zoneId); else ids.delete(zoneId);
  const changed = await api(`/api/v1/supervisees/${enc}`, {
    method: "PATCH", body: { zone_ids: [...ids] } });
  const known = roster.supervisees.get(superviseeId);
  if (known) Object.assign(known, { zone_ids: changed.supervisee.zone_ids });
  rosterChanged("registry");
}

async function save(e) {
  e.preventDefault();
  const ed = zonesState.editing;
  const made = feature();
  if (made.error) { byId("zone-error").textContent = t(made.error); return; }
  try {
    const stored = ed.id
      ? await api(`/api/v1/zones/${encodeURIComponent(ed.id)}`, { method: "PUT", body: made })
      : await api("/api/v1/zones", { method: "POST", body: made });
    const who = form().elements.assign.value.trim();
    if (who) await assign(who, stored.id, true);
    await loadZones();
    stopEditing();
    byId("zone-message").textContent = t("zones.saved", { name: stored.properties.name });
  } catch (err) { showError(err); }
}

async function remove(detach) {
  const ed = zonesState.editing;
  try {
    await api(`/api/v1/zones/${encodeURIComponent(ed.id)}${detach ? "?detach=true" : ""}`,
              { method: "DELETE" });
    for (const s of roster.supervisees.values()) {
      s.zone_ids = s.zone_ids.filter((z) => z !== ed.id);
    }
    const name = form().elements.name.value;
    stopEditing();
    await loadZones();
    byId("zone-message").textContent = t("zones.deleted", { name });
  } catch (err) {
    showError(err);
    byId("zone-detach").hidden = !(err instanceof ApiError && err.status === 409);
  }
}

// --- import and export --------------------------------------------------------------------------

async function importFile(file) {
  const out = byId("zone-message");
  try {
    const doc = JSON.parse(await file.text());
    const jid = encodeURIComponent(byId("zone-jurisdiction").value);
    const report = await api(`/api/v1/zones/import?jurisdiction_id=${jid}`,
                             { method: "POST", body: doc });
    const lines = [t("zones.imported", { stored: fmt.number(report.stored),
                                         rejected: fmt.number(report.rejected) })];
    for (const r of report.errors.slice(0, 20)) {
      lines.push(t("zones.importError", { index: r.index + 1, error: r.error }));
    }
    out.replaceChildren(...lines.map((l) => el("div", null, l)));
    await loadZones();
  } catch (err) {
    out.textContent = t("zones.importFailed", { reason: err.message });
  }
}

async function exportZones() {
  const jid = byId("zone-jurisdiction").value;
  const doc = await api(`/api/v1/zones?download=true&jurisdiction_id=${encodeURIComponent(jid)}`);
  const blob = new Blob([JSON.stringify(doc, null, 1)], { type: "application/geo+json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `zones-${jid}.geojson`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// --- wiring -------------------------------------------------------------------------------------

export function setUpZones() {
  drawing.addTo(map);
  map.on("click", onMapClick);
  for (const shape of ["polygon", "circle", "corridor"]) {
    byId(`zone-new-${shape}`).addEventListener("click", () => newZone(shape));
  }
  const f = form();
  f.addEventListener("submit", save);
  byId("zone-cancel").addEventListener("click", stopEditing);
  byId("zone-add-window").addEventListener("click", () => byId("zone-windows").append(
    windowRow({ days: DAYS.slice(0, 5), start: "22:00", end: "06:00" })));
  byId("zone-delete").addEventListener("click", () => { byId("zone-delete-confirm").hidden = false; });
  byId("zone-delete-confirm").addEventListener("click", () => remove(false));
  byId("zone-detach").addEventListener("click", () => remove(true));
  f.elements.kind.addEventListener("change", draw);
  f.elements.radius.addEventListener("input", draw);
  f.elements.width.addEventListener("input", draw);
  f.elements.jurisdiction.addEventListener("change", translateEditor);
  byId("zone-search").addEventListener("input", renderList);
  byId("zone-import").addEventListener("change", (e) => {
    if (e.target.files[0]) importFile(e.target.files[0]).finally(() => { e.target.value = ""; });
  });
  byId("zone-export").addEventListener("click", () => exportZones().catch((err) => {
    byId("zone-message").textContent = err.message;
  }));
}

// The tab is opened: the zones and people as they are now.
export async function openZones() {
  fillPeople();
  if (!ready) { ready = true; translateEditor(); }
  await loadZones();
}

export { stopEditing as closeZoneEditor };
