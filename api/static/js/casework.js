// Casework in the console: enrolling a person (from the caseload), and in the person view
// their positioning orders (定位监管令: list with state and days left, make, renew with an
// assessment, remove early), their devices (assign, swap, retire, each with a reason, and
// their history), the bracelet–phone pairing, leave (外出请假: request, approve or refuse,
// cancel, the return 销假), check-ins (信息化核查: "check in now" and the answers), and release
// (解矫), after which the record is read-only. Forms show only to whom the API lets act: a
// supervisor of the person's jurisdiction, except that any officer of the person files a
// leave, records a return and asks for a check-in, and a leave is decided by a supervisor at
// its approving level other than its requester (four eyes). The API's refusals
// appear next to the field they name, in the console's language where the console knows the
// refusal (otherwise as the API words it).

import { byId, el, option } from "./dom.js";
import { fmt, locale, t, translate } from "./i18n.js";
import { map } from "./map.js";
import { caseload } from "./caseload.js";
import { mayAct, roster, rosterChanged } from "./roster.js";
import { api } from "./session.js";

/* global L */
const DAY_S = 86400;

// The tests' view, and the map's: whether the next click on the map is the new home.
// ``home``: the circle drawn on the map for the person being enrolled.
export const caseworkState = { picking: false, enrolled: null, person: null, home: null };

let onPerson = () => {};
let onChanged = () => {};
let grounds = null;             // GET /order-grounds, once
let person = null;              // {detail, orders, history, message, open: Map(form -> values)}
const homeLayer = L.layerGroup();

export function setUpCasework({ onPerson: openOne, onChanged: changed }) {
  onPerson = openOne;
  onChanged = changed;
  homeLayer.addTo(map);
  const f = byId("enrol-form");
  f.addEventListener("submit", (e) => { e.preventDefault(); enrol().catch(console.error); });
  byId("enrol-cancel").addEventListener("click", closeEnrol);
  byId("enrol-pick").addEventListener("click", pickHome);
  for (const name of ["lon", "lat", "radius"]) {
    f.elements[name].addEventListener("input", drawHome);
  }
  // A field's refusal goes once the field is changed.
  for (const root of [f, byId("person-casework")]) {
    for (const type of ["input", "change"]) {
      root.addEventListener(type, (e) => {
        const x = e.target;
        const form = x.form || x.closest("form");
        if (!x.name || !form) return;
        x.removeAttribute("aria-invalid");
        const box = form.querySelector(`.field-error[data-for="${x.name}"]`);
        if (box) box.textContent = "";
      });
    }
  }
  map.on("click", (e) => {
    if (!caseworkState.picking) return;
    caseworkState.picking = false;
    byId("enrol-pick").removeAttribute("aria-pressed");
    f.elements.lon.value = e.latlng.lng.toFixed(6);
    f.elements.lat.value = e.latlng.lat.toFixed(6);
    drawHome();
  });
}

// --- the API's refusals, next to their fields ----------------------------------------------

// Refusals the console can say in the officer's language: [pattern of the API's words, key].
const KNOWN = [
  [/lasts at most ([\d.]+) days.*this one lasts ([\d.]+)/, "error.tooLong", ["max", "days"]],
  [/must end after it starts/, "error.endBeforeStart", []],
  [/would already be over/, "error.endPast", []],
  [/is not an enabled account holding the supervisor/, "error.approver", []],
  [/a device id is its MQTT user name/, "error.deviceId", []],
  [/is a (\w+), not a (\w+)/, "error.wrongKind", ["is", "want"]],
  [/overlaps this one/, "error.overlap", []],
  [/exists \(released or not\)/, "error.idTaken", []],
  [/is in service \(worn by/, "error.deviceTaken", []],
  [/is a protected victim's phone/, "error.victimPhone", []],
  [/is renewed already/, "error.renewed", []],
  [/has been released/, "error.released", []],
  [/has no phone in service/, "error.noPhone", []],
  [/overlaps this one: cancel it first/, "error.leaveOverlap", []],
  [/lasts at most ([\d.]+) days \(permit_max_days\); this one lasts ([\d.]+)/,
   "error.leaveTooLong", ["max", "days"]],
  [/the end must come after the start/, "error.endBeforeStart", []],
  [/the end is in the past/, "error.endPast", []],
];
const BY_TYPE = {
  missing: "error.required", string_too_short: "error.required",
  string_pattern_mismatch: "error.idPattern", string_too_long: "error.tooLongText",
  datetime_from_date_parsing: "error.date", datetime_parsing: "error.date",
};

function say(message, type) {
  for (const [re, key, names] of KNOWN) {
    const m = re.exec(message || "");
    if (m) return t(key, Object.fromEntries(names.map((n, i) => [n, m[i + 1]])));
  }
  if (type && BY_TYPE[type]) return t(BY_TYPE[type]);
  return message;
}

function clearErrors(form) {
  for (const n of form.querySelectorAll(".field-error")) n.textContent = "";
  for (const n of form.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
  form.querySelector(".form-error").textContent = "";
}

// Show an ApiError in ``form``: each 422 item at its field (``fields`` renames the API's
// field to the form's), a 404 naming a plan or jurisdiction at that field, the rest below.
function showError(form, err, fields = {}) {
  const at = (field, text) => {
    const name = fields[field] || field;
    const box = form.querySelector(`.field-error[data-for="${name}"]`);
    const input = form.elements[name];
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    if (box) { box.textContent = text; return true; }
    return false;
  };
  const general = form.querySelector(".form-error");
  if (err.status === 422 && Array.isArray(err.detail)) {
    const rest = [];
    for (const d of err.detail) {
      const loc = d.loc || [];
      const field = loc.length > 1 ? String(loc[1]) : "";
      const text = say(d.msg, d.type);
      if (!at(field, text)) rest.push(field ? `${field}: ${text}` : text);
    }
    general.textContent = rest.join(" · ");
    return;
  }
  const detail = typeof err.detail === "string" ? err.detail : err.message;
  if (err.status === 404) {
    const m = /^no (plan|jurisdiction) /.exec(detail || "");
    if (m && at(`${m[1]}_id`, t("error.notFound"))) return;
  }
  if (err.status === 403) { general.textContent = t("error.forbidden"); return; }
  const known = say(detail);
  if (known !== detail) {
    if (/exists \(released or not\)/.test(detail) && at("id", known)) return;
    // A refusal naming a device: at the field holding that device's id.
    const named = /^device (\S+) /.exec(detail || "");
    const holder = named && [...form.elements].find((x) => x.name && x.value === named[1]);
    if (holder && at(holder.name, known)) return;
    general.textContent = known;
    return;
  }
  general.textContent = t("error.failed", { reason: detail || `HTTP ${err.status}` });
}

// A form field: a label with its input (or select / textarea) and the place for its error.
function field(labelKey, input, name) {
  const label = el("label");
  const span = el("span", null, t(labelKey));
  span.dataset.i18n = labelKey;
  label.append(span, input);
  const error = el("span", "field-error");
  error.dataset.for = name;
  error.setAttribute("aria-live", "polite");
  label.append(error);
  return label;
}

function input(name, { type = "text", required = false, maxLength, value } = {}) {
  const node = el(type === "textarea" ? "textarea" : "input");
  if (type !== "textarea") node.type = type;
  else node.rows = 2;
  node.name = name;
  node.required = required;
  node.autocomplete = "off";
  if (maxLength) node.maxLength = maxLength;
  if (value != null) node.value = value;
  return node;
}

function select(name, options, value) {
  const node = el("select");
  node.name = name;
  node.replaceChildren(...options.map(([v, text]) => option(v, text)));
  if (value != null) node.value = value;
  return node;
}

function button(key, onClick, className = "") {
  const b = el("button", className, t(key));
  b.type = "button";
  b.dataset.i18n = key;
  b.addEventListener("click", onClick);
  return b;
}

// --- dates: a day picked is midnight there, in this browser's time zone ----------------------

const pad = (n) => String(n).padStart(2, "0");
function isoWithOffset(d) {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:`
    + `${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:`
    + `${pad(Math.abs(off) % 60)}`;
}
const dayValue = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
function dayStart(value) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d);
}
const dayAfter = (value) => { const d = dayStart(value); d.setDate(d.getDate() + 1); return d; };

// An order starts on its first day (now, when that is today) and ends at the end of its last.
function startOf(value) {
  return value === dayValue(new Date()) ? new Date() : dayStart(value);
}

// The last day an order from ``start`` (epoch s) may end on: its end-of-day within the limit.
function lastDay(start, maxDays) {
  const latest = new Date((start + maxDays * DAY_S) * 1000);
  const day = new Date(latest.getFullYear(), latest.getMonth(), latest.getDate());
  if (dayAfter(dayValue(day)) > latest) day.setDate(day.getDate() - 1);
  return day;
}

function when(epoch) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short",
                                             hourCycle: "h23" }).format(epoch * 1000);
}
const dayLabel = (d) => new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(d);

// --- enrolling ---------------------------------------------------------------------------------

// The jurisdictions where the caller is supervisor, as the tree shows them (indented).
function supervisedPlaces() {
  const out = [];
  const walk = (nodes, depth) => {
    for (const n of nodes) {
      if (mayAct(n.id, "supervisor")) out.push([n.id, `${"\u00a0\u00a0".repeat(depth)}${n.name}`]);
      walk(n.children, depth + 1);
    }
  };
  walk(roster.jurisdictions, 0);
  return out;
}

function fillEnrolChoices() {
  const f = byId("enrol-form");
  const place = f.elements.jurisdiction_id.value;
  const plan = f.elements.plan_id.value;
  const places = supervisedPlaces();
  f.elements.jurisdiction_id.replaceChildren(option("", t("enrol.choose")),
                                             ...places.map(([v, text]) => option(v, text)));
  const wanted = place || caseload.filter.jurisdiction;
  f.elements.jurisdiction_id.value = places.some(([v]) => v === wanted) ? wanted : "";
  f.elements.plan_id.replaceChildren(option("", t("enrol.noPlan")),
                                     ...[...roster.plans.values()].map((p) => option(p.id, p.name)));
  f.elements.plan_id.value = plan;
}

export function openEnrol() {
  const f = byId("enrol-form");
  f.reset();
  clearErrors(f);
  caseworkState.enrolled = null;
  fillEnrolChoices();
  f.hidden = false;
  byId("enrol-open").hidden = true;
  f.elements.id.focus();
}

function closeEnrol() {
  const f = byId("enrol-form");
  f.hidden = true;
  caseworkState.picking = false;
  caseworkState.home = null;
  homeLayer.clearLayers();
  byId("enrol-open").hidden = false;
}

function pickHome() {
  caseworkState.picking = true;
  byId("enrol-pick").setAttribute("aria-pressed", "true");
  byId("enrol-form").querySelector('.field-error[data-for="home"]').textContent = t("enrol.picking");
}

function homePoint() {
  const f = byId("enrol-form");
  const lon = parseFloat(f.elements.lon.value);
  const lat = parseFloat(f.elements.lat.value);
  const radius = parseFloat(f.elements.radius.value);
  if (!Number.isFinite(lon) || !Number.isFinite(lat)) return null;
  return { lon, lat, radius: Number.isFinite(radius) ? radius : 100 };
}

function drawHome() {
  homeLayer.clearLayers();
  caseworkState.home = null;
  const home = homePoint();
  const box = byId("enrol-form").querySelector('.field-error[data-for="home"]');
  if (!home) return;
  box.textContent = "";
  if (Math.abs(home.lat) > 90 || Math.abs(home.lon) > 180) return;
  const circle = L.circle([home.lat, home.lon], { radius: home.radius, color: "#1a7f37",
                                                  weight: 2, fillOpacity: 0.12,
                                                  className: "enrol-home" });
  circle.addTo(homeLayer);
  caseworkState.home = home;
  L.circleMarker([home.lat, home.lon], { radius: 4, color: "#1a7f37", fillOpacity: 1 })
    .addTo(homeLayer);
}

// Enrol, then assign the devices and pair them. A step refused after the enrolment is shown
// at its field; submitting again carries on from there (the person is not enrolled twice).
async function enrol() {
  const f = byId("enrol-form");
  clearErrors(f);
  const v = Object.fromEntries(new FormData(f));
  const id = v.id.trim();
  const missing = [["id", id], ["name", v.name.trim()], ["jurisdiction_id", v.jurisdiction_id]]
    .filter(([, x]) => !x);
  for (const [name] of missing) {
    f.querySelector(`.field-error[data-for="${name}"]`).textContent = t("error.required");
  }
  const home = homePoint();
  if ((v.lon.trim() || v.lat.trim()) && !home) {
    f.querySelector('.field-error[data-for="home"]').textContent = t("error.lonLat");
    return;
  }
  if (missing.length) return;
  const submit = f.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    let done = caseworkState.enrolled === id ? roster.supervisees.get(id) : null;
    if (!done) {
      const body = { id, name: v.name.trim(), jurisdiction_id: v.jurisdiction_id };
      if (v.plan_id) body.plan_id = v.plan_id;
      if (home) {
        body.home = { type: "Feature", properties: { radius_m: home.radius },
                      geometry: { type: "Point", coordinates: [home.lon, home.lat] } };
      }
      try {
        done = (await api("/api/v1/supervisees", { method: "POST", body })).supervisee;
      } catch (err) { showError(f, err, { home_zone_id: "home" }); return; }
      caseworkState.enrolled = id;
      keep(done);
    }
    const enc = encodeURIComponent(id);
    for (const kind of ["bracelet", "phone"]) {
      const deviceId = v[kind].trim();
      if (!deviceId || done.device_ids.includes(deviceId)) continue;
      try {
        done = (await api(`/api/v1/supervisees/${enc}/devices`, {
          method: "POST", body: { device_id: deviceId, kind } })).supervisee;
      } catch (err) {
        showError(f, err, { device_id: kind });
        f.querySelector(".form-error").textContent ||= t("enrol.partly", { id });
        return;
      }
      keep(done, [[deviceId, kind]]);
    }
    if (v.bracelet.trim() && v.phone.trim()) {
      try {
        done = (await api(`/api/v1/supervisees/${enc}/pairing`, {
          method: "PUT", body: { bracelet_id: v.bracelet.trim(), phone_id: v.phone.trim() },
        })).supervisee;
      } catch (err) { showError(f, err, { bracelet_id: "bracelet", phone_id: "phone" }); return; }
    }
    closeEnrol();
    caseworkState.enrolled = null;
    message(id, t("enrol.done", { name: done.name, id }));
    onPerson(id);
  } finally {
    submit.disabled = false;
  }
}

// The person (and their new devices) into the roster the caseload and the map read.
function keep(s, newDevices = []) {
  for (const [id, kind] of newDevices) {
    roster.devices.set(id, { id, kind, supervisee_id: s.id, report_interval_s: null,
                             jurisdiction_id: s.jurisdiction_id, retired_at: null });
  }
  for (const [id, d] of roster.devices) {
    if (d.supervisee_id === s.id && !s.device_ids.includes(id)) roster.devices.delete(id);
  }
  if (s.released_at) roster.supervisees.delete(s.id); else roster.supervisees.set(s.id, s);
  rosterChanged("supervisees");
}

// --- the person view's casework ------------------------------------------------------------

const pending = new Map();  // person id -> a message to show once their view is redrawn
function message(id, text) { pending.set(id, text); }

export function clearCasework() {
  clearTimeout(checkInTimer);
  person = null;
  caseworkState.person = null;
  byId("person-casework").replaceChildren();
}

// Called by the person view once it has the person: their orders and device history.
// ``zones``: the zones in reach (GeoJSON features), a leave's possible destinations.
export async function showCasework(detail, zones = []) {
  const id = detail.id;
  const enc = encodeURIComponent(id);
  grounds ||= await api("/api/v1/order-grounds");
  // Leave and check-ins are read only where the API has them (null: the section is left out);
  // who may approve an order, only for whoever may make one.
  const writes = !detail.released_at && mayAct(detail.jurisdiction_id, "supervisor");
  const [orders, history, leaves, checkIns, approvers] = await Promise.all([
    api(`/api/v1/orders?supervisee_id=${enc}&in_force=false`),
    api(`/api/v1/supervisees/${enc}/device-history`),
    api(`/api/v1/supervisees/${enc}/leaves?limit=50`).catch(() => null),
    api(`/api/v1/supervisees/${enc}/check-ins?limit=20`).catch(() => null),
    writes ? api(`/api/v1/order-approvers?supervisee_id=${enc}`).catch(() => null) : null,
  ]);
  const same = person && person.detail.id === id;
  if (same) remember();
  const open = same ? person.open : new Map();
  person = { detail, orders: orders.orders, history: history.assignments, open,
             leaves: leaves && leaves.leaves, checkIns: checkIns && checkIns.check_ins,
             zones: zones.map((f) => ({ id: f.id, name: f.properties.name })),
             approvers: approvers ? approvers.approvers : [],
             message: pending.get(id) || "" };
  pending.delete(id);
  caseworkState.person = person;
  render();
  watchCheckIns(id);
}

// While a check-in waits for its answer, its list is read again every few seconds.
const CHECK_IN_POLL_MS = 5000;
let checkInTimer = null;
function watchCheckIns(id) {
  clearTimeout(checkInTimer);
  if (!person || !(person.checkIns || []).some((c) => c.status === "pending")) return;
  checkInTimer = setTimeout(async () => {
    try {
      const doc = await api(`/api/v1/supervisees/${encodeURIComponent(id)}/check-ins?limit=20`);
      if (!person || person.detail.id !== id) return;
      person.checkIns = doc.check_ins;
      remember();
      render();
    } catch (e) { /* the feed state shows an outage; try again */ }
    watchCheckIns(id);
  }, CHECK_IN_POLL_MS);
}

// Which forms are open, with what typed in them, so that a redraw (new data, another
// language) loses nothing.
function remember() {
  for (const f of byId("person-casework").querySelectorAll("form[data-form]")) {
    person.open.set(f.dataset.form, Object.fromEntries(
      [...f.elements].filter((x) => x.name).map((x) => [x.name, x.type === "checkbox"
        ? x.checked : x.value])));
  }
}

function restore(form) {
  const values = person.open.get(form.dataset.form);
  if (!values) return;
  for (const [name, value] of Object.entries(values)) {
    const x = form.elements[name];
    if (!x) continue;
    if (x.type === "checkbox") x.checked = value; else x.value = value;
  }
}

export function translateCasework() {
  if (!byId("enrol-form").hidden) fillEnrolChoices();
  translate(byId("enrol-form"));
  if (person) { remember(); render(); }
}

function render() {
  const s = person.detail;
  const writable = !s.released_at && mayAct(s.jurisdiction_id, "supervisor");
  const box = byId("person-casework");
  const out = [el("h3", "cw-title", t("casework.title"))];
  const note = el("div", "cw-message", person.message);
  note.setAttribute("role", "status");
  out.push(note);
  if (s.released_at) {
    out.push(el("p", "cw-readonly", t("casework.readOnly")));
  } else if (!writable) {
    out.push(el("p", "cw-readonly", t("casework.needSupervisor")));
  }
  out.push(ordersSection(writable), devicesSection(writable));
  if (person.leaves) out.push(leaveSection(!s.released_at));
  if (person.checkIns) out.push(checkInSection(!s.released_at));
  if (writable) out.push(releaseSection());
  box.replaceChildren(...out);
  box.classList.toggle("read-only", !writable);
  for (const f of box.querySelectorAll("form[data-form]")) restore(f);
}

// A small form of the person view; ``key`` names it (which one is open, and its values).
function smallForm(key, titleKey, titleVars, fields, submitKey, onSubmit, extra = []) {
  const f = el("form", "casework-form");
  f.dataset.form = key;
  f.noValidate = true;
  f.append(el("h4", null, t(titleKey, titleVars)), ...fields, ...extra);
  const buttons = el("div", "buttons");
  const submit = el("button", null, t(submitKey));
  submit.type = "submit";
  buttons.append(submit, button("casework.cancel", () => {
    remember();
    person.open.delete(key);
    render();
  }));
  const error = el("div", "form-error");
  error.setAttribute("role", "alert");
  f.append(buttons, error);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(f);
    submit.disabled = true;
    try {
      const done = await onSubmit(Object.fromEntries(new FormData(f)), f);
      if (done === false) return;
      person.open.delete(key);
      f.remove();  // done: not remembered as open when the view is drawn again
      message(s().id, done);
      onChanged(s().id);
    } catch (err) {
      if (err && err.status) showError(f, err); else throw err;
    } finally { submit.disabled = false; }
  });
  return f;
}
const s = () => person.detail;

function opener(key, labelKey, className = "") {
  return button(labelKey, () => {
    remember();
    person.open.set(key, {});
    render();
    const f = byId("person-casework").querySelector(`form[data-form="${key}"]`);
    const first = f && f.querySelector("input, select, textarea");
    if (first) first.focus();
  }, className);
}

const isOpen = (key) => person.open.has(key);
const post = (path, body, method = "POST") => api(path, { method, body });
const required = (form, names) => {
  let ok = true;
  for (const name of names) {
    if (!String(form.elements[name].value || "").trim()) {
      form.querySelector(`.field-error[data-for="${name}"]`).textContent = t("error.required");
      ok = false;
    }
  }
  return ok;
};

// --- positioning orders ----------------------------------------------------------------------

function orderState(o, now) {
  if (o.removed_at != null) return "removed";
  if (o.in_force) return "inForce";
  if (o.starts_at > now) return "upcoming";
  return "ended";
}

function groundLabel(o) {
  const g = o.ground_label || (grounds.grounds.find((x) => x.code === o.ground) || {}).labels;
  return g ? (locale() === "zh-CN" ? g["zh-CN"] : g.en) : o.ground;
}

function ordersSection(writable) {
  const sec = el("section", "cw-orders");
  sec.append(el("h4", null, t("orders.title")));
  const now = Date.now() / 1000;
  const list = el("ul", "order-list");
  const shown = [...person.orders].sort((a, b) => b.starts_at - a.starts_at);
  if (!shown.length) list.append(el("li", "small", t("orders.none")));
  for (const o of shown) {
    const state = orderState(o, now);
    const li = el("li", `order state-${state}`);
    li.dataset.orderId = o.id;
    const head = el("div", "order-head");
    head.append(el("span", `badge badge-${state}`, t(`orders.state.${state}`)), " ",
                el("span", "order-ground", groundLabel(o)));
    li.append(head);
    li.append(el("div", "small order-dates", t("orders.dates", {
      start: when(o.starts_at), end: when(o.ends_at) })));
    if (state === "inForce") {
      li.append(el("div", "order-left", t("orders.daysLeft", {
        days: fmt.number(Math.max(0, Math.ceil((o.ends_at - now) / DAY_S))) })));
    } else if (state === "upcoming") {
      li.append(el("div", "order-left", t("orders.startsIn", {
        days: fmt.number(Math.ceil((o.starts_at - now) / DAY_S)) })));
    }
    const facts = [t("orders.approver", { who: o.approver })];
    if (o.renews) facts.push(t("orders.renews", { id: o.renews }));
    li.append(el("div", "small", facts.join(" · ")));
    if (o.assessment) li.append(el("div", "small", t("orders.assessment", { text: o.assessment })));
    if (o.removal_reason) {
      li.append(el("div", "small", t("orders.removed", { time: when(o.removed_at),
                                                       reason: o.removal_reason })));
    }
    const live = state === "inForce" || state === "upcoming";
    const renewed = person.orders.some((x) => x.renews === o.id && x.removed_at == null);
    if (writable && live) {
      const actions = el("div", "actions");
      if (!renewed) actions.append(opener(`renew-${o.id}`, "orders.renew"));
      actions.append(opener(`remove-${o.id}`, "orders.remove"));
      li.append(actions);
      if (isOpen(`renew-${o.id}`)) li.append(renewForm(o));
      if (isOpen(`remove-${o.id}`)) li.append(removeOrderForm(o));
    }
    list.append(li);
  }
  sec.append(list);
  if (writable) {
    if (isOpen("order-new")) sec.append(newOrderForm());
    else sec.append(opener("order-new", "orders.new", "cw-open"));
  }
  return sec;
}

// The approver: typed, with the accounts that may approve offered (GET /order-approvers).
function approverInput(value) {
  const box = input("approver", { required: true, maxLength: 200, value });
  const list = el("datalist");
  list.id = `approvers-${Math.random().toString(36).slice(2)}`;
  list.append(...person.approvers.map((a) => option(a.username, a.display_name || a.username)));
  box.setAttribute("list", list.id);
  const wrap = el("span", "approver");
  wrap.append(box, list);
  return wrap;
}

function limitHint(form, start) {
  const hint = form.querySelector(".limit-hint");
  hint.textContent = t("orders.limit", { max: fmt.number(grounds.max_days),
                                          last: dayLabel(lastDay(start, grounds.max_days)) });
}

function newOrderForm() {
  const today = dayValue(new Date());
  const groundSel = select("ground", grounds.grounds.map((g) => [
    g.code, locale() === "zh-CN" ? g.labels["zh-CN"] : g.labels.en]));
  const start = input("starts_at", { type: "date", required: true, value: today });
  const end = input("ends_at", { type: "date", required: true });
  const hint = el("p", "small limit-hint");
  const f = smallForm("order-new", "orders.newTitle", null, [
    field("orders.ground", groundSel, "ground"),
    field("orders.approverField", approverInput(), "approver"),
    field("orders.start", start, "starts_at"),
    field("orders.end", end, "ends_at"),
    hint,
    field("orders.note", input("note", { type: "textarea", maxLength: 4000 }), "note"),
  ], "orders.make", async (v, form) => {
    if (!required(form, ["approver", "starts_at", "ends_at"])) return false;
    const body = { supervisee_id: s().id, ground: v.ground, approver: v.approver.trim(),
                   starts_at: isoWithOffset(startOf(v.starts_at)),
                   ends_at: isoWithOffset(dayAfter(v.ends_at)) };
    if (v.note.trim()) body.note = v.note.trim();
    const made = (await post("/api/v1/orders", body)).order;
    return t("orders.made", { id: made.id });
  });
  const update = () => {
    if (start.value) limitHint(f, startOf(start.value).getTime() / 1000);
  };
  start.addEventListener("change", update);
  queueMicrotask(update);
  return f;
}

function renewForm(o) {
  const end = input("ends_at", { type: "date", required: true });
  const f = smallForm(`renew-${o.id}`, "orders.renewTitle", { id: o.id }, [
    el("p", "small", t("orders.renewFrom", { time: when(o.ends_at) })),
    field("orders.approverField", approverInput(o.approver), "approver"),
    field("orders.newEnd", end, "ends_at"),
    el("p", "small limit-hint"),
    field("orders.assessmentField", input("assessment", { type: "textarea", required: true,
                                                          maxLength: 4000 }), "assessment"),
  ], "orders.renewSubmit", async (v, form) => {
    if (!required(form, ["approver", "ends_at", "assessment"])) return false;
    const made = (await post(`/api/v1/orders/${o.id}/renew`, {
      approver: v.approver.trim(), ends_at: isoWithOffset(dayAfter(v.ends_at)),
      assessment: v.assessment.trim() })).order;
    return t("orders.renewed", { id: o.id, until: when(made.ends_at) });
  });
  queueMicrotask(() => limitHint(f, o.ends_at));
  return f;
}

function removeOrderForm(o) {
  return smallForm(`remove-${o.id}`, "orders.removeTitle", { id: o.id }, [
    field("casework.reason", input("reason", { type: "textarea", required: true,
                                               maxLength: 4000 }), "reason"),
  ], "orders.removeSubmit", async (v, form) => {
    if (!required(form, ["reason"])) return false;
    await post(`/api/v1/orders/${o.id}/remove`, { reason: v.reason.trim() });
    return t("orders.removedDone", { id: o.id });
  });
}

// --- devices, their history, the pairing ------------------------------------------------------

const KINDS = ["bracelet", "phone", "beacon"];

function devicesSection(writable) {
  const sec = el("section", "cw-devices");
  sec.append(el("h4", null, t("devices.title")));
  const list = el("ul", "device-list");
  const enc = encodeURIComponent(s().id);
  const devices = s().devices || [];
  if (!devices.length) list.append(el("li", "small", t("devices.none")));
  for (const d of devices) {
    const li = el("li", "cw-device");
    li.dataset.deviceId = d.id;
    li.append(el("strong", null, d.id), ` (${t(`device.${d.kind}`)})`);
    if (writable) {
      const actions = el("div", "actions");
      actions.append(opener(`swap-${d.id}`, "devices.swap"),
                     opener(`retire-${d.id}`, "devices.retire"));
      li.append(actions);
      if (isOpen(`swap-${d.id}`)) {
        li.append(smallForm(`swap-${d.id}`, "devices.swapTitle", { id: d.id }, [
          field("devices.newId", input("new_device_id", { required: true, maxLength: 100 }),
                "new_device_id"),
          field("casework.reason", input("reason", { type: "textarea", required: true,
                                                     maxLength: 2000 }), "reason"),
        ], "devices.swapSubmit", async (v, form) => {
          if (!required(form, ["new_device_id", "reason"])) return false;
          const next = v.new_device_id.trim();
          const done = (await post(`/api/v1/supervisees/${enc}/devices/`
                                   + `${encodeURIComponent(d.id)}/swap`,
                                   { new_device_id: next, reason: v.reason.trim() })).supervisee;
          keep(done, [[next, d.kind]]);
          return t("devices.swapped", { old: d.id, id: next });
        }));
      }
      if (isOpen(`retire-${d.id}`)) {
        li.append(smallForm(`retire-${d.id}`, "devices.retireTitle", { id: d.id }, [
          field("casework.reason", input("reason", { type: "textarea", required: true,
                                                     maxLength: 2000 }), "reason"),
        ], "devices.retireSubmit", async (v, form) => {
          if (!required(form, ["reason"])) return false;
          const done = (await post(`/api/v1/supervisees/${enc}/devices/`
                                   + `${encodeURIComponent(d.id)}/retire`,
                                   { reason: v.reason.trim() })).supervisee;
          keep(done);
          return t("devices.retired", { id: d.id });
        }));
      }
    }
    list.append(li);
  }
  sec.append(list);
  const pairing = (s().pairings || [])[0];
  sec.append(el("div", "small cw-pairing", pairing
    ? t("devices.paired", { bracelet: pairing.bracelet_id, phone: pairing.phone_id })
    : t("devices.unpaired")));
  if (writable) {
    const tools = el("div", "actions");
    if (!isOpen("device-new")) tools.append(opener("device-new", "devices.add"));
    const bracelets = devices.filter((d) => d.kind === "bracelet");
    const phones = devices.filter((d) => d.kind === "phone");
    if (bracelets.length && phones.length && !isOpen("pairing")) {
      tools.append(opener("pairing", "devices.pair"));
    }
    sec.append(tools);
    if (isOpen("device-new")) {
      sec.append(smallForm("device-new", "devices.addTitle", null, [
        field("devices.id", input("device_id", { required: true, maxLength: 100 }),
              "device_id"),
        field("devices.kind", select("kind", KINDS.map((k) => [k, t(`device.${k}`)])), "kind"),
      ], "devices.addSubmit", async (v, form) => {
        if (!required(form, ["device_id"])) return false;
        const id = v.device_id.trim();
        const done = (await post(`/api/v1/supervisees/${enc}/devices`,
                                 { device_id: id, kind: v.kind })).supervisee;
        keep(done, [[id, v.kind]]);
        return t("devices.added", { id });
      }));
    }
    if (isOpen("pairing")) {
      sec.append(smallForm("pairing", "devices.pairTitle", null, [
        field("devices.bracelet", select("bracelet_id", bracelets.map((d) => [d.id, d.id]),
                                         pairing && pairing.bracelet_id), "bracelet_id"),
        field("devices.phone", select("phone_id", phones.map((d) => [d.id, d.id]),
                                      pairing && pairing.phone_id), "phone_id"),
      ], "devices.pairSubmit", async (v) => {
        await post(`/api/v1/supervisees/${enc}/pairing`,
                   { bracelet_id: v.bracelet_id, phone_id: v.phone_id }, "PUT");
        return t("devices.pairedDone", { bracelet: v.bracelet_id, phone: v.phone_id });
      }));
    }
  }
  const history = el("details", "device-history");
  history.append(el("summary", null, t("devices.history", {
    count: fmt.number(person.history.length) })));
  const ul = el("ul");
  for (const a of [...person.history].reverse()) {
    const li = el("li");
    li.dataset.deviceId = a.device_id;
    li.append(el("strong", null, a.device_id), ` (${t(`device.${a.kind}`)}) `,
              a.to == null ? t("devices.since", { from: when(a.from), by: a.assigned_by || "–" })
                : t("devices.fromTo", { from: when(a.from), to: when(a.to),
                                        by: a.ended_by || "–" }));
    if (a.end_reason) li.append(el("div", "small", t("devices.why", { reason: a.end_reason })));
    ul.append(li);
  }
  history.append(ul);
  sec.append(history);
  return sec;
}

// --- release (解矫) ----------------------------------------------------------------------------

function releaseSection() {
  const sec = el("section", "cw-release");
  sec.append(el("h4", null, t("release.title")));
  if (!isOpen("release")) {
    sec.append(opener("release", "release.open", "danger"));
    return sec;
  }
  const confirm = input("confirm", { type: "checkbox" });
  const confirmLabel = el("label", "inline");
  confirmLabel.append(confirm, el("span", null, t("release.confirm", { name: s().name,
                                                                       id: s().id })));
  const confirmError = el("span", "field-error");
  confirmError.dataset.for = "confirm";
  sec.append(smallForm("release", "release.formTitle", { name: s().name }, [
    el("p", "small", t("release.explain")),
    field("release.reason", input("reason", { type: "textarea", required: true,
                                              maxLength: 2000 }), "reason"),
    confirmLabel, confirmError,
  ], "release.submit", async (v, form) => {
    const ok = required(form, ["reason"]);
    if (!form.elements.confirm.checked) {
      confirmError.textContent = t("release.needConfirm");
      return false;
    }
    if (!ok) return false;
    const done = await post(`/api/v1/supervisees/${encodeURIComponent(s().id)}/release`,
                            { reason: v.reason.trim() });
    keep(done.supervisee);
    return t("release.done", { name: s().name, devices: fmt.number(done.devices_retired.length),
                               orders: fmt.number(done.orders_ended.length),
                               alerts: fmt.number(done.alerts_resolved.length) });
  }));
  return sec;
}

// --- leave (外出请假) ----------------------------------------------------------------------------

function leaveSection(active) {
  const sec = el("section", "cw-leaves");
  sec.append(el("h4", null, t("leave.title")));
  const now = Date.now() / 1000;
  const list = el("ul", "leave-list");
  if (!person.leaves.length) list.append(el("li", "small", t("leave.none")));
  for (const l of person.leaves) {
    const state = l.overdue ? "overdue" : l.in_force ? "inForce" : l.status;
    const li = el("li", `leave state-${state}`);
    li.dataset.leaveId = l.id;
    const head = el("div", "order-head");
    head.append(el("span", `badge badge-${state}`, t(`leave.state.${state}`)), " ",
                el("span", null, t(`leave.kind.${l.kind}`)), " ",
                el("span", "small", t("leave.to", { zone: l.destination_zone_id })));
    li.append(head, el("div", "small", t("orders.dates", { start: when(l.starts_at),
                                                           end: when(l.ends_at) })));
    li.append(el("div", "small", t("leave.reason", { text: l.reason })));
    const facts = [t("leave.requestedBy", { who: l.requested_by })];
    if (l.status === "requested") {
      facts.push(t("leave.awaiting", { level: t(`leave.level.${l.approval_level}`),
                                       place: placeName(l.approval_jurisdiction_id) }));
    }
    if (l.decided_by) {
      facts.push(t(l.status === "refused" ? "leave.refusedBy" : "leave.approvedBy",
                   { who: l.decided_by }));
    }
    li.append(el("div", "small", facts.join(" · ")));
    if (l.decision_note) li.append(el("div", "small", t("leave.note", { text: l.decision_note })));
    if (l.closed_by) {
      li.append(el("div", "small", t(`leave.closed.${l.status}`, {
        who: l.closed_by, time: when(l.closed_at), note: l.close_note || "" })));
    }
    if (active) {
      const actions = el("div", "actions");
      const decides = l.status === "requested" && roster.username !== l.requested_by
        && mayAct(l.approval_jurisdiction_id, "supervisor");
      const mine = roster.username === l.requested_by || mayAct(l.jurisdiction_id, "supervisor");
      if (decides) {
        actions.append(opener(`approve-${l.id}`, "leave.approve"),
                       opener(`refuse-${l.id}`, "leave.refuse"));
      }
      if (l.status === "approved" && l.starts_at <= now) {
        actions.append(opener(`return-${l.id}`, "leave.return"));
      } else if (mine && (l.status === "requested" || l.status === "approved")) {
        actions.append(opener(`cancel-${l.id}`, "leave.cancel"));
      }
      if (actions.children.length) li.append(actions);
      for (const [action, key, noteRequired] of [["approve", "leave.approveSubmit", false],
                                                 ["refuse", "leave.refuseSubmit", true],
                                                 ["return", "leave.returnSubmit", false],
                                                 ["cancel", "leave.cancelSubmit", false]]) {
        if (!isOpen(`${action}-${l.id}`)) continue;
        li.append(smallForm(`${action}-${l.id}`, `leave.${action}Title`, { id: l.id }, [
          field(noteRequired ? "leave.why" : "leave.noteField",
                input("note", { type: "textarea", required: noteRequired, maxLength: 4000 }),
                "note"),
        ], key, async (v, form) => {
          if (noteRequired && !required(form, ["note"])) return false;
          const body = v.note.trim() ? { note: v.note.trim() } : {};
          await post(`/api/v1/leaves/${l.id}/${action}`, body);
          return t(`leave.done.${action}`, { id: l.id });
        }));
      }
    }
    list.append(li);
  }
  sec.append(list);
  if (active) {
    if (isOpen("leave-new")) sec.append(newLeaveForm());
    else sec.append(opener("leave-new", "leave.new", "cw-open"));
  }
  return sec;
}

function placeName(id) {
  return (roster.jurisdictionNames && roster.jurisdictionNames.get(id)) || id;
}

// A leave's destination: one of the zones in reach (not the person's own), or a circle typed.
function newLeaveForm() {
  const today = dayValue(new Date());
  const own = new Set(s().zone_ids || []);
  const zones = person.zones.filter((z) => !own.has(z.id));
  const f = smallForm("leave-new", "leave.newTitle", null, [
    field("leave.kindField", select("kind", [["leave", t("leave.kind.leave")],
                                             ["permit", t("leave.kind.permit")]]), "kind"),
    field("leave.zone", select("zone_id", [["", t("leave.zoneNone")],
                                           ...zones.map((z) => [z.id, z.name])]), "zone_id"),
    el("p", "small", t("leave.areaHint")),
    (() => {
      const row = el("div", "triple");
      row.append(field("enrol.lon", input("lon"), "lon"), field("enrol.lat", input("lat"), "lat"),
                 field("enrol.radius", input("radius", { type: "number", value: "2000" }),
                       "radius"));
      return row;
    })(),
    (() => { const e = el("span", "field-error"); e.dataset.for = "destination"; return e; })(),
    field("orders.start", input("starts_at", { type: "date", required: true, value: today }),
          "starts_at"),
    field("orders.end", input("ends_at", { type: "date", required: true }), "ends_at"),
    field("leave.reasonField", input("reason", { type: "textarea", required: true,
                                                 maxLength: 4000 }), "reason"),
  ], "leave.submit", async (v, form) => {
    if (!required(form, ["starts_at", "ends_at", "reason"])) return false;
    const lon = parseFloat(v.lon);
    const lat = parseFloat(v.lat);
    let destination;
    if (Number.isFinite(lon) && Number.isFinite(lat)) {
      destination = { area: { type: "Feature", properties: { radius_m: parseFloat(v.radius) || 2000 },
                              geometry: { type: "Point", coordinates: [lon, lat] } } };
    } else if (v.zone_id) destination = { zone_id: v.zone_id };
    else {
      form.querySelector('.field-error[data-for="destination"]').textContent = t("leave.needDestination");
      return false;
    }
    const made = (await post(`/api/v1/supervisees/${encodeURIComponent(s().id)}/leaves`, {
      kind: v.kind, destination, reason: v.reason.trim(),
      starts_at: isoWithOffset(startOf(v.starts_at)),
      ends_at: isoWithOffset(dayAfter(v.ends_at)) })).leave;
    return t("leave.requested", { id: made.id, level: t(`leave.level.${made.approval_level}`) });
  });
  return f;
}

// --- check-ins (信息化核查) ----------------------------------------------------------------------

function checkInSection(active) {
  const sec = el("section", "cw-check-ins");
  sec.append(el("h4", null, t("checkIn.title")));
  if (active) {
    const ask = button("checkIn.now", async () => {
      ask.disabled = true;
      try {
        const made = await post(`/api/v1/supervisees/${encodeURIComponent(s().id)}/check-ins`,
                                { deadline_min: 10 });
        message(s().id, t(made.sent ? "checkIn.sent" : "checkIn.queued"));
        onChanged(s().id);
      } catch (err) {
        const box = sec.querySelector(".check-in-error");
        box.textContent = say(typeof err.detail === "string" ? err.detail : err.message);
        ask.disabled = false;
      }
    }, "check-in-now");
    const error = el("div", "form-error check-in-error");
    error.setAttribute("role", "alert");
    sec.append(ask, error);
  }
  const list = el("ul", "check-in-list");
  if (!person.checkIns.length) list.append(el("li", "small", t("checkIn.none")));
  for (const c of person.checkIns) {
    const li = el("li", `check-in status-${c.status}`);
    li.dataset.checkInId = c.id;
    li.append(el("span", `badge badge-${c.status}`, t(`checkIn.status.${c.status}`)), " ",
              when(c.requested_at), " ",
              el("span", "small", c.scheduled_for != null ? t("checkIn.scheduled")
                : t("checkIn.by", { who: c.requested_by })));
    if (c.answer) {
      const a = c.answer;
      li.append(el("div", "small", a.home_distance_m == null
        ? t("checkIn.answerNoHome", { time: when(a.ts) })
        : t(a.at_home ? "checkIn.answerHome" : "checkIn.answerAway", {
          time: when(a.ts), m: fmt.number(Math.round(a.home_distance_m)) })));
    } else if (c.status === "pending") {
      li.append(el("div", "small", t("checkIn.until", { time: when(c.deadline) })));
    }
    list.append(li);
  }
  sec.append(list);
  return sec;
}
