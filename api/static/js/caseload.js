// The caseload: every supervisee in the caller's reach as a virtualised list (only the rows
// in view are in the page), searched and filtered by state, alert kind and plan, and narrowed
// to a jurisdiction picked in the tree (province › … › township); usable while the registry
// still loads page by page (how far it has come is shown), and the way to enrol a person.

import { byId, el, option } from "./dom.js";
import { catalogues, fmt, kindLabel, t } from "./i18n.js";
import {
  STATES, loading, mayAct, onRosterChange, roster, subtree, superviseeState,
} from "./roster.js";

const ROW_PX = 46;
const OVERSCAN = 6;

const filter = { search: "", state: "", kind: "", plan: "", jurisdiction: null };
let within = null;  // ids of the chosen jurisdiction and those below it (null: all)
let rows = [];      // the supervisees that pass, in order
let onPick = () => {};
let onJurisdiction = () => {};
let onEnrol = () => {};

export const caseload = {
  get rows() { return rows; },
  filter,
  rendered: () => byId("caseload-rows").children.length,
};

export function wireCaseload({ onPerson, onPlace, onEnrol: enrol }) {
  onPick = onPerson;
  onJurisdiction = onPlace;
  if (enrol) onEnrol = enrol;
}

// Enrolling is for a supervisor somewhere in reach; an officer does not see the button.
function showEnrol() {
  byId("enrol-open").hidden = !byId("enrol-form").hidden
    || ![...roster.reach.keys()].some((j) => mayAct(j, "supervisor"));
}

// Live alerts by person, built once a refilter: the filters ask about each of up to 70,000
// people, and the alerts are one list.
let alertsOf = new Map();
function indexAlerts() {
  alertsOf = new Map();
  for (const a of roster.alerts.values()) {
    const list = alertsOf.get(a.supervisee_id);
    if (list) list.push(a); else alertsOf.set(a.supervisee_id, [a]);
  }
}

function passes(s, now) {
  if (within && !within.has(s.jurisdiction_id)) return false;
  if (filter.search) {
    const q = filter.search.toLowerCase();
    if (!s.id.toLowerCase().includes(q) && !s.name.toLowerCase().includes(q)) return false;
  }
  if (filter.plan && (s.plan_id || "") !== (filter.plan === "-" ? "" : filter.plan)) return false;
  if (filter.kind && !(alertsOf.get(s.id) || []).some((a) => a.kind === filter.kind)) {
    return false;
  }
  if (filter.state && (alertsOf.has(s.id) ? "violation" : superviseeState(s.id, now))
      !== filter.state) return false;
  return true;
}

export function refilter() {
  const now = roster.now();
  indexAlerts();
  rows = [];
  for (const s of roster.supervisees.values()) if (passes(s, now)) rows.push(s);
  byId("caseload-count").textContent = t("caseload.count", {
    shown: fmt.number(rows.length), total: fmt.number(roster.supervisees.size) });
  showProgress();
  byId("caseload-spacer").style.height = `${rows.length * ROW_PX}px`;
  draw();
}

// While the registry loads page by page: how many people and devices so far.
function showProgress() {
  const box = byId("caseload-progress");
  box.hidden = !loading.active;
  if (!loading.active) return;
  byId("caseload-progress-text").textContent = t("caseload.loading", {
    people: fmt.number(loading.supervisees), devices: fmt.number(loading.devices) });
}

function row(s, index, now) {
  const state = superviseeState(s.id, now);
  const div = el("div", `row state-${state}`);
  div.dataset.superviseeId = s.id;
  div.style.top = `${index * ROW_PX}px`;
  div.style.height = `${ROW_PX}px`;
  const first = el("div", "row-line");
  first.append(el("span", "dot"), el("span", "row-name", s.name), " ",
               el("span", "row-id", s.id));
  const second = el("div", "row-line small");
  second.append(el("span", "row-state", t(`state.${state}`)));
  const kinds = [...new Set((alertsOf.get(s.id) || []).map((a) => kindLabel(a.kind)))];
  if (kinds.length) second.append(" · ", el("span", "row-kinds", kinds.join(", ")));
  div.append(first, second);
  div.addEventListener("click", () => onPick(s.id));
  return div;
}

// Only the rows in view (and a few either side) are built.
function draw() {
  const box = byId("caseload-list");
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_PX) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((box.scrollTop + box.clientHeight) / ROW_PX)
                        + OVERSCAN);
  const now = roster.now();
  const built = [];
  for (let i = first; i < last; i++) built.push(row(rows[i], i, now));
  byId("caseload-rows").replaceChildren(...built);
}

function fillFilters() {
  const state = byId("filter-state");
  const kind = byId("filter-kind");
  const plan = byId("filter-plan");
  state.replaceChildren(option("", t("caseload.any")),
                        ...STATES.map((s) => option(s, t(`state.${s}`))));
  const kinds = Object.keys(catalogues.en).filter((k) => k.startsWith("kind."))
    .map((k) => k.slice(5));
  kind.replaceChildren(option("", t("caseload.any")),
                       ...kinds.map((k) => option(k, kindLabel(k))));
  plan.replaceChildren(option("", t("caseload.any")), option("-", t("caseload.noPlan")),
                       ...[...roster.plans.values()].map((p) => option(p.id, p.name)));
  state.value = filter.state;
  kind.value = filter.kind;
  plan.value = filter.plan;
}

function tree() {
  const root = byId("jurisdiction-tree");
  const node = (n) => {
    const li = el("li");
    const b = el("button", "jurisdiction", n.name);
    b.type = "button";
    b.dataset.jurisdictionId = n.id;
    if (filter.jurisdiction === n.id) b.setAttribute("aria-current", "true");
    b.addEventListener("click", () => choose(n.id));
    li.append(b);
    if (n.children.length) {
      const ul = el("ul");
      ul.append(...n.children.map(node));
      li.append(ul);
    }
    return li;
  };
  const all = el("button", "jurisdiction", t("caseload.everywhere"));
  all.type = "button";
  all.dataset.jurisdictionId = "";
  if (!filter.jurisdiction) all.setAttribute("aria-current", "true");
  all.addEventListener("click", () => choose(null));
  const top = el("li");
  top.append(all);
  const ul = el("ul");
  ul.append(...roster.jurisdictions.map(node));
  top.append(ul);
  root.replaceChildren(top);
}

export function choose(jurisdictionId) {
  filter.jurisdiction = jurisdictionId;
  within = jurisdictionId ? subtree(jurisdictionId) : null;
  tree();
  refilter();
  if (within) onJurisdiction([...within]);
}

export function translateCaseload() {
  fillFilters();
  tree();
  refilter();
}

export function setUpCaseload() {
  const box = byId("caseload-list");
  let pending = false;
  box.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  });
  byId("caseload-search").addEventListener("input", (e) => {
    filter.search = e.target.value.trim();
    box.scrollTop = 0;
    refilter();
  });
  for (const [id, key] of [["filter-state", "state"], ["filter-kind", "kind"],
                           ["filter-plan", "plan"]]) {
    byId(id).addEventListener("change", (e) => { filter[key] = e.target.value; refilter(); });
  }
  // States change with alerts and with time (a device falls silent): redrawn at most every
  // second, not on each of thousands of positions.
  let queued = false;
  byId("enrol-open").addEventListener("click", () => onEnrol());
  onRosterChange((what) => {
    if (what === "loading") { showProgress(); return; }
    if (what === "registry") { fillFilters(); tree(); showEnrol(); }
    if (queued) return;
    queued = true;
    setTimeout(() => { queued = false; refilter(); }, what === "positions" ? 1000 : 0);
  });
}
