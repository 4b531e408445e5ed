// The caseload as the console knows it: supervisees, their devices and plans, each device's
// last fix, and the live alerts — and from these, how each person stands: compliant, in
// violation (a live alert), or silent (a device not heard for its interval plus the grace).

import { api } from "./session.js";

// The plan settings the engine uses when a plan leaves them out (alerts/plans.py).
export const PLAN_DEFAULTS = {
  report_interval_s: 60, lost_contact_grace_s: 1800, escalate_after_s: 900,
};

export const STATES = ["compliant", "violation", "silent"];

export const roster = {
  supervisees: new Map(),   // id -> {id, name, jurisdiction_id, plan_id, zone_ids, device_ids}
  devices: new Map(),       // id -> {id, kind, supervisee_id, report_interval_s, …}
  plans: new Map(),         // id -> {id, name, settings}
  positions: new Map(),     // device id -> latest position
  alerts: new Map(),        // live alert id -> alert
  jurisdictions: [],        // the tree, as GET /jurisdictions answers
  reach: new Map(),         // jurisdiction id -> the caller's role there (GET /me)
  username: null,           // the caller's account (GET /me)
  now: () => Date.now() / 1000,
};

// The largest page the API's list endpoints give (limit ≤ 5000); the first page is smaller,
// so that the caseload shows something at once.
export const PAGE_SIZE = 5000;
const FIRST_PAGE = 1000;

// How far the registry's load has come (the caseload shows it): people and devices so far.
export const loading = { active: false, supervisees: 0, devices: 0 };

// Every page of a list endpoint (limit / offset), one request at a time and none above the
// API's limit, each handed to ``onPage`` as it arrives.
export async function pages(path, key, onPage) {
  const sep = path.includes("?") ? "&" : "?";
  for (let offset = 0, size = FIRST_PAGE; ; offset += size, size = PAGE_SIZE) {
    const page = (await api(`${path}${sep}limit=${size}&offset=${offset}`))[key];
    onPage(page);
    if (page.length < size) return;
  }
}

// The caller's role on a jurisdiction ("officer", "supervisor", "admin"; null outside reach),
// from GET /me's reach; whether it is at least ``role``.
const RANK = { officer: 1, supervisor: 2, admin: 3 };
export function mayAct(jurisdictionId, role = "supervisor") {
  const held = roster.reach.get(jurisdictionId);
  return Boolean(held) && RANK[held] >= RANK[role];
}

const listeners = [];
export const onRosterChange = (f) => listeners.push(f);
export function rosterChanged(what) { for (const f of listeners) f(what); }

export function plan(superviseeId) {
  const s = roster.supervisees.get(superviseeId);
  const p = s && s.plan_id ? roster.plans.get(s.plan_id) : null;
  return { ...PLAN_DEFAULTS, ...(p ? p.settings : {}) };
}

export function superviseeOf(deviceId) {
  const d = roster.devices.get(deviceId);
  if (d) return d.supervisee_id;
  const p = roster.positions.get(deviceId);
  return p ? p.supervisee_id : null;
}

// Silent: not heard for longer than its report interval plus the plan's grace (or never).
export function deviceSilent(deviceId, now = roster.now()) {
  const p = roster.positions.get(deviceId);
  if (!p) return true;
  const sid = superviseeOf(deviceId);
  const settings = plan(sid);
  const d = roster.devices.get(deviceId);
  const interval = (d && d.report_interval_s) || settings.report_interval_s;
  return now - p.ts > interval + settings.lost_contact_grace_s;
}

export function liveAlertsOf(superviseeId) {
  const out = [];
  for (const a of roster.alerts.values()) if (a.supervisee_id === superviseeId) out.push(a);
  return out;
}

export function superviseeState(superviseeId, now = roster.now()) {
  if (liveAlertsOf(superviseeId).length) return "violation";
  const s = roster.supervisees.get(superviseeId);
  const ids = s ? s.device_ids : [];
  if (ids.length && ids.some((d) => deviceSilent(d, now))) return "silent";
  return "compliant";
}

export function deviceState(deviceId, now = roster.now()) {
  const sid = superviseeOf(deviceId);
  if (sid && liveAlertsOf(sid).length) return "violation";
  return deviceSilent(deviceId, now) ? "silent" : "compliant";
}

// The jurisdiction and every one below it, from the tree.
export function subtree(jurisdictionId) {
  const out = new Set();
  const walk = (nodes, inside) => {
    for (const n of nodes) {
      const here = inside || n.id === jurisdictionId;
      if (here) out.add(n.id);
      walk(n.children, here);
    }
  };
  walk(roster.jurisdictions, false);
  return out;
}
