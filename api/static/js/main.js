// The officer's console: wires the parts together and starts them. Each part is a module of
// its own (session, feed, i18n, roster, map, alerts, caseload, person, casework, replay,
// zones, since).

import {
  onAlertEvent, onMissedAlerts, render as renderAlerts, replaceAlerts, setUpResolve,
  sinceAlertId, tick, translateResolve, wireAlerts,
} from "./alerts.js";
import { caseload, choose, setUpCaseload, translateCaseload, wireCaseload } from "./caseload.js";
import { caseworkState, openEnrol, setUpCasework, translateCasework } from "./casework.js";
import { byId, option } from "./dom.js";
import { Feed } from "./feed.js";
import { LOCALES, fmt, locale, onLocale, setLocale, t, translate } from "./i18n.js";
import {
  dots, drawLegend, drawStatic, fitJurisdictions, layerControl, layers, map, markers,
  placeDevice, reshapeAll, restyleAll,
} from "./map.js";
import {
  closePerson, homeRange, openPerson, personLive, refreshPerson, setUpPerson,
} from "./person.js";
import {
  openExplained, openReplay, replay, seek as seekReplay, setUpReplay, translateReplay,
} from "./replay.js";
import { openBulletin, openReport, reportState, setUpReport } from "./report.js";
import { loading, pages, roster, rosterChanged } from "./roster.js";
import { api } from "./session.js";
import { loadSince, renderSince, setUpSince } from "./since.js";
import { sound } from "./sound.js";
import { openZones, setUpZones, translateEditor, zonesState } from "./zones.js";

const MONTH_S = 30 * 86400;

// --- the screen's frame: language, sound, tabs ------------------------------------------------

function setUpFrame() {
  const pick = byId("locale");
  pick.replaceChildren(...LOCALES.map(([code, name]) => option(code, name)));
  pick.value = locale();
  pick.addEventListener("change", () => setLocale(pick.value));
  const toggle = byId("sound");
  const showSound = () => {
    toggle.textContent = t(sound.enabled ? "sound.on" : "sound.off");
    toggle.setAttribute("aria-pressed", String(sound.enabled));
  };
  toggle.addEventListener("click", () => { sound.toggle(); showSound(); });
  document.addEventListener("click", () => sound.unlock(), { once: true });
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  onLocale(() => {
    pick.value = locale();
    showSound();
    showFeed();
    layerControl();
    drawLegend();
    dots.changed();  // the clusters' counts in the locale's digits
    renderAlerts();
    translateResolve();
    translateCaseload();
    refreshPerson();
    translateCasework();
    translateReplay();
    translateEditor();
    renderSince();
  });
  translate();
  showSound();
  layerControl();
  drawLegend();
}

export function showTab(name) {
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "caseload") translateCaseload();
  if (name === "zones") openZones().catch(console.error);
}

let feedState = "connecting";
function showFeed(state = feedState) {
  feedState = state;
  const node = byId("feed-state");
  node.textContent = t(`feed.${state}`);
  node.className = `state ${state === "connected" ? "up" : "down"}`;
}

// --- data --------------------------------------------------------------------------------------

async function loadStatic() {
  const cfg = await api("/api/v1/ui-config");
  if (cfg.tile_url) L.tileLayer(cfg.tile_url, { maxZoom: 19 }).addTo(map);  // eslint-disable-line no-undef
  const [bounds, zones] = await Promise.all([
    api("/api/v1/jurisdictions/boundaries"), api("/api/v1/zones"),
  ]);
  drawStatic(bounds, zones);
}

// The registry: plans, the jurisdiction tree and the caller's roles at once; people and
// devices page by page (at 70,000 people, 14 pages and more), the caseload usable from the
// first page on and showing how far the load has come. A reload (after a reconnect) keeps the
// old lists on screen until the new ones are whole.
async function loadRegistry() {
  const [plans, places, me] = await Promise.all([
    api("/api/v1/plans"), api("/api/v1/jurisdictions"), api("/api/v1/me"),
  ]);
  roster.plans = new Map(plans.plans.map((p) => [p.id, p]));
  roster.jurisdictions = places.tree;
  roster.jurisdictionNames = new Map(places.jurisdictions.map((j) => [j.id, j.name]));
  roster.reach = new Map(Object.entries(me.reach));
  roster.username = me.username;
  rosterChanged("registry");
  const first = roster.supervisees.size === 0;
  const people = first ? roster.supervisees : new Map();
  const devices = first ? roster.devices : new Map();
  Object.assign(loading, { active: true, supervisees: 0, devices: 0 });
  rosterChanged("loading");
  try {
    await Promise.all([
      pages("/api/v1/supervisees", "supervisees", (page) => {
        for (const s of page) people.set(s.id, s);
        loading.supervisees = people.size;
        rosterChanged(first ? "supervisees" : "loading");
      }),
      pages("/api/v1/devices", "devices", (page) => {
        for (const d of page) {
          devices.set(d.id, d);
          // On the first load the dots may be on the map already: each takes its shape as
          // its device arrives (a later reload reshapes them all at its end).
          const m = first ? markers.get(d.id) : null;
          if (m) dots.rekind(m.i, d.kind);
        }
        loading.devices = devices.size;
        rosterChanged("loading");
      }),
    ]);
    roster.supervisees = people;
    roster.devices = devices;
  } finally {
    loading.active = false;
  }
  reshapeAll();
  rosterChanged("registry");
  translateReplay();  // the person pickers' list
}

// What moves: positions and live alerts, rebuilt whole at start and after every reconnect.
async function loadDynamic() {
  const [pos, alerts] = await Promise.all([
    api(`/api/v1/positions?since_s=${MONTH_S}`), api("/api/v1/alerts?status=live&limit=5000"),
  ]);
  for (const p of pos.positions) roster.positions.set(p.device_id, p);
  replaceAlerts(alerts.alerts);
  for (const p of pos.positions) placeDevice(p);
  restyleAll();
  byId("device-count").textContent = fmt.number(markers.size);
  rosterChanged("positions");
}

function onPositions(list) {
  for (const p of list) {
    const known = roster.positions.get(p.device_id);
    if (known) Object.assign(known, p); else roster.positions.set(p.device_id, p);
    placeDevice(p);
  }
  byId("device-count").textContent = fmt.number(markers.size);
  rosterChanged("positions");
}

async function refreshHealth() {
  try {
    const h = await fetch("/api/v1/health").then((r) => r.json());
    byId("fixes-stored").textContent = fmt.number(h.counters.fixes_stored);
    byId("quarantined").textContent = fmt.number(h.counters.quarantined);
  } catch (e) { /* the feed state shows the outage */ }
}

// --- start -------------------------------------------------------------------------------------

const feed = new Feed({
  sinceAlertId,
  onState: showFeed,
  resync: () => Promise.all([loadRegistry(), loadDynamic()]),
  onEvent(ev) {
    if (ev.type === "positions") onPositions(ev.positions);
    else if (ev.type === "alert") onAlertEvent(ev);
    else if (ev.type === "missed") onMissedAlerts(ev.alerts);
  },
});

function showOnMap(a) {
  if (a.lat != null) map.setView([a.lat, a.lon], 14);
  else openPerson(a.supervisee_id);
}

setUpFrame();
setUpResolve();
setUpCaseload();
const failed = (e) => { byId("replay-error").textContent = t("alerts.failed", { reason: e.message }); };
setUpReplay({ onShowTab: showTab });
setUpPerson({ onBack: () => { closePerson(); showTab("caseload"); },
              onReplay: (id) => openReplay(id).catch(failed) });
wireAlerts({ onShow: showOnMap, onPerson: (id) => { showTab("person"); openPerson(id); },
             onExplain: (id) => openExplained(id).catch(failed) });
wireCaseload({ onPerson: (id) => { showTab("person"); openPerson(id); },
               onPlace: fitJurisdictions, onEnrol: openEnrol });
setUpCasework({ onPerson: (id) => { showTab("person"); openPerson(id); },
                onChanged: (id) => openPerson(id) });
setUpZones();
setUpReport();
// The bulletin of the jurisdiction chosen in the tree, or of the caller's first.
byId("bulletin-open").addEventListener("click", () => {
  const chosen = caseload.filter.jurisdiction || (roster.jurisdictions[0] || {}).id;
  if (chosen) openBulletin(chosen);
});
// A click on a cluster zooms in, unless the click is a corner of a zone being drawn.
dots.clickable = () => !zonesState.editing && !caseworkState.picking;
setUpSince({ onPerson: (id) => { showTab("person"); openPerson(id); } });

window.cordon = {
  map, layers, markers, dots, roster, feed, caseload, sound, setLocale, t, showTab, choose,
  replay, seekReplay, openReplay, openExplained, zones: zonesState, personLive,
  casework: caseworkState, report: reportState, openReport, openBulletin, homeRange,
  get openAlerts() { return roster.alerts; },
};

loadStatic().catch(console.error)
  .then(() => { loadSince().catch(console.error); })
  .then(() => Promise.all([loadRegistry(), loadDynamic()])).catch(console.error)
  .finally(() => feed.connect());
refreshHealth();
setInterval(refreshHealth, 2000);
setInterval(tick, 1000);
// A device falls silent with no event to say so: states are looked at again now and then.
setInterval(() => { restyleAll(); rosterChanged("time"); }, 5000);
