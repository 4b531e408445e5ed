// The alert queue: every live alert (open or acknowledged), labelled in the officer's
// language, with severity, age and the countdown to its escalation; alerts of one person
// raised within a few minutes of each other shown together as one incident; acknowledge and
// resolve (note, cause, outcome) from the screen. Critical ones flash and may beep.

import { byId, el, option } from "./dom.js";
import { fmt, kindLabel, locale, t } from "./i18n.js";
import { restyleSupervisee } from "./map.js";
import { api } from "./session.js";
import { plan, roster, rosterChanged } from "./roster.js";
import { sound } from "./sound.js";

const INCIDENT_WINDOW_S = 300;  // alerts of one person this close together are one incident
const SEVERITY_RANK = { low: 0, medium: 1, high: 2, critical: 3 };
const LIVE = new Set(["open", "acknowledged"]);

let lastAlertId = 0;  // the newest alert seen: a reconnect asks for what came after it
export const sinceAlertId = () => lastAlertId;

let showOnMap = () => {};
let openPerson = () => {};
let explain = () => {};
export function wireAlerts({ onShow, onPerson, onExplain }) {
  showOnMap = onShow;
  openPerson = onPerson;
  explain = onExplain;
}

// "Explain": the replay around the alert, with the fixes that decided it (replay.js).
export function explainButton(a) {
  const b = el("button", "explain-btn", t("alerts.explain"));
  b.type = "button";
  b.addEventListener("click", (e) => { e.stopPropagation(); explain(a.id); });
  return b;
}

function normalised(a) {
  // Live events of the engine carry the episode's time as "at" and no raised_at.
  const started = a.started_at ?? a.at;
  const previous = roster.alerts.get(a.id);
  return { ...previous, ...a, started_at: started,
           raised_at: a.raised_at ?? previous?.raised_at ?? started };
}

function keep(a) {
  if (a.id > lastAlertId) lastAlertId = a.id;
  const affected = new Set([a.supervisee_id]);
  if (LIVE.has(a.status)) roster.alerts.set(a.id, normalised(a));
  else roster.alerts.delete(a.id);
  return affected;
}

function changed(supervisees) {
  render();
  for (const s of supervisees) restyleSupervisee(s);
  rosterChanged("alerts");
}

// The whole list, as the server has it now (at start, and after every reconnect).
export function replaceAlerts(list) {
  const before = new Set([...roster.alerts.values()].map((a) => a.supervisee_id));
  roster.alerts.clear();
  for (const a of list) keep(a);
  for (const a of list) before.add(a.supervisee_id);
  changed(before);
}

export function onAlertEvent(ev) {
  const a = ev.alert;
  const wasCritical = roster.alerts.get(a.id)?.severity === "critical";
  if (ev.action === "opened") a.status = "open";
  changed(keep(a));
  if (ev.action === "escalated") flash(a.id);
  if (LIVE.has(a.status) && a.severity === "critical" && !wasCritical) sound.beep();
}

export function onMissedAlerts(list) {
  const affected = new Set();
  for (const a of list) for (const s of keep(a)) affected.add(s);
  changed(affected);
}

// --- the list on screen ---------------------------------------------------------------------

// Alerts grouped by person, chained while each starts within the window of the one before.
export function incidents(alerts = [...roster.alerts.values()]) {
  const byPerson = new Map();
  for (const a of alerts) {
    if (!byPerson.has(a.supervisee_id)) byPerson.set(a.supervisee_id, []);
    byPerson.get(a.supervisee_id).push(a);
  }
  const out = [];
  for (const list of byPerson.values()) {
    list.sort((x, y) => x.started_at - y.started_at || x.id - y.id);
    let current = null;
    for (const a of list) {
      if (!current || a.started_at - current.last > INCIDENT_WINDOW_S) {
        current = { supervisee_id: a.supervisee_id, alerts: [], last: a.started_at };
        out.push(current);
      }
      current.alerts.push(a);
      current.last = Math.max(current.last, a.started_at);
    }
  }
  for (const i of out) {
    i.alerts.reverse();  // newest first within
    i.rank = Math.max(...i.alerts.map((a) => (SEVERITY_RANK[a.severity] ?? 0)
                                            + (a.status === "open" ? 0.5 : 0)));
  }
  return out.sort((x, y) => y.rank - x.rank || y.last - x.last);
}

const ticking = [];  // {alert, age, countdown} of the rows on screen, updated every second
const flashing = new Set();

function flash(alertId) {
  flashing.add(alertId);
  render();
  setTimeout(() => { flashing.delete(alertId); render(); }, 10_000);
}

function severityBadge(a) {
  return el("span", `severity sev-${a.severity}`, t(`severity.${a.severity}`));
}

function alertItem(a) {
  const li = el("li", `alert sev-${a.severity} status-${a.status}`);
  li.dataset.alertId = a.id;
  if (a.severity === "critical" && a.status === "open") li.classList.add("critical");
  if (a.escalated_at) li.classList.add("escalated");
  if (flashing.has(a.id)) li.classList.add("just-escalated");
  const head = el("div", "line");
  head.append(severityBadge(a), " ", el("span", "kind", kindLabel(a.kind)));
  if (a.status === "acknowledged") head.append(" ", el("span", "acked", t("alerts.acknowledged")));
  const where = el("div", "line");
  where.append(el("span", "where", a.subject_name || a.subject), " · ",
               el("span", "when", t("alerts.since", { time: fmt.time(a.started_at) })), " ",
               el("span", "age"));
  const timing = el("div", "line timing");
  const countdown = el("span", "countdown");
  timing.append(countdown);
  if (a.escalated_at) {
    timing.append(el("span", "escalated-at",
                     t("alerts.escalated", { time: fmt.time(a.escalated_at) })));
  }
  const actions = el("div", "actions");
  const error = el("div", "error");
  if (a.status === "open") {
    const ack = el("button", "ack-btn", t("alerts.acknowledge"));
    ack.type = "button";
    ack.addEventListener("click", (e) => { e.stopPropagation(); acknowledge(a, error); });
    actions.append(ack);
  }
  const resolveBtn = el("button", "resolve-btn", t("alerts.resolve"));
  resolveBtn.type = "button";
  resolveBtn.addEventListener("click", (e) => { e.stopPropagation(); openResolve(a); });
  actions.append(resolveBtn, explainButton(a));
  li.append(head, where, timing, actions, error);
  li.addEventListener("click", () => showOnMap(a));
  ticking.push({ alert: a, age: where.querySelector(".age"), countdown });
  return li;
}

export function render() {
  const list = byId("alerts");
  ticking.length = 0;
  const items = [];
  for (const incident of incidents()) {
    const li = el("li", "incident");
    li.dataset.superviseeId = incident.supervisee_id;
    const head = el("div", "incident-head");
    const who = el("button", "who", incident.supervisee_id);
    who.type = "button";
    who.addEventListener("click", (e) => { e.stopPropagation(); openPerson(incident.supervisee_id); });
    head.append(who);
    const person = roster.supervisees.get(incident.supervisee_id);
    if (person && person.name !== person.id) head.append(" ", el("span", "name", person.name));
    if (incident.alerts.length > 1) {
      li.classList.add("multi");
      head.append(el("span", "incident-count",
                     t("alerts.incident", { count: incident.alerts.length })));
    }
    const inner = el("ul", "incident-alerts");
    inner.append(...incident.alerts.map(alertItem));
    li.append(head, inner);
    items.push(li);
  }
  list.replaceChildren(...items);
  byId("alerts-none").hidden = items.length > 0;
  byId("alerts-open").textContent = fmt.number(roster.alerts.size);
  tick();
}

export function tick() {
  const now = roster.now();
  for (const { alert: a, age, countdown } of ticking) {
    age.textContent = fmt.ago(now - a.started_at);
    if (a.status === "open" && !a.escalated_at) {
      const left = a.raised_at + plan(a.supervisee_id).escalate_after_s - now;
      countdown.textContent = left > 0 ? t("alerts.escalatesIn", { left: fmt.clock(left) })
        : t("alerts.escalationDue");
      countdown.classList.toggle("soon", left < 60);
    } else countdown.textContent = "";
  }
}

// --- acting on an alert ----------------------------------------------------------------------

async function acknowledge(a, error) {
  try {
    const r = await api(`/api/v1/alerts/${a.id}/acknowledge`, { method: "POST", body: {} });
    changed(keep(r.alert));
  } catch (e) { error.textContent = t("alerts.failed", { reason: e.message }); }
}

let codes = null;  // the agency's causes and outcomes
let resolving = null;

function fillSelect(select, list) {
  const chosen = select.value;
  select.replaceChildren(option("", t("resolve.choose")),
                         ...list.map((c) => option(c.code, c.labels[locale()] || c.labels.en)));
  select.value = chosen;
}

export function translateResolve() {
  if (!codes) return;
  const form = byId("resolve-form");
  fillSelect(form.elements.cause, codes.causes);
  fillSelect(form.elements.outcome, codes.outcomes);
  if (resolving) describeResolving();
}

function describeResolving() {
  byId("resolve-what").textContent =
    `${kindLabel(resolving.kind)} — ${resolving.supervisee_id} — ${resolving.subject_name}`;
}

async function openResolve(a) {
  codes ||= await api("/api/v1/alert-resolutions");
  resolving = a;
  const form = byId("resolve-form");
  form.reset();
  translateResolve();
  byId("resolve-error").textContent = "";
  byId("resolve").hidden = false;
  form.elements.cause.focus();
}

function closeResolve() { byId("resolve").hidden = true; resolving = null; }

export function setUpResolve() {
  const form = byId("resolve-form");
  byId("resolve-cancel").addEventListener("click", closeResolve);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { note: data.get("note"), cause: data.get("cause"), outcome: data.get("outcome") };
    try {
      const r = await api(`/api/v1/alerts/${resolving.id}/resolve`, { method: "POST", body });
      closeResolve();
      changed(keep(r.alert));
    } catch (err) {
      byId("resolve-error").textContent = t("alerts.failed", { reason: err.message });
    }
  });
}
