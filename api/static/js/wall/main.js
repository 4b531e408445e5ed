// The command centre's wall: wires the figures (source.js → figures.js), the map (map.js), the
// week's trend (trends.js), the live warnings (warnings.js, fed by the console's feed.js),
// drill-down and rotation (rotation.js). It runs unattended: after a network drop or an engine
// restart the feed reconnects by itself and the figures are fetched again first.

import { Feed } from "../feed.js";
import { LOCALES, onLocale, setLocale, t, translate, locale } from "../i18n.js";
import { fmt } from "../i18n.js";
import { showFigures } from "./figures.js";
import { FIGURES, WallMap } from "./map.js";
import { Rotation } from "./rotation.js";
import { keepRotation, readSettings } from "./settings.js";
import { WallSource } from "./source.js";
import { Trends } from "./trends.js";
import { Warnings } from "./warnings.js";

const RETRY_MS = 2000;
const SETTLE_MS = 500;  // alerts arriving together: one refresh of the figures
const ROTATIONS = [0, 10, 30, 60, 120, 300];
const $ = (id) => document.getElementById(id);

const settings = readSettings();
if (settings.lang) setLocale(settings.lang);
const source = new WallSource(settings.kiosk);
const state = { top: null, trail: [], view: null, subtree: new Set(), names: {},
                figure: FIGURES[settings.figure] ? settings.figure : "alerts", lastAlertId: 0 };

const map = new WallMap($("wall-map"), (id) => go(id));
const trends = new Trends($("wall-trends"));
const warnings = new Warnings($("wall-warnings"), $("wall-no-warnings"));
const rotation = new Rotation((id) => go(id, { rotating: true }));
const feed = new Feed({
  onEvent,
  onState(s) {
    const node = $("wall-feed");
    node.dataset.state = s;
    node.className = `feed-state ${s}`;
    node.textContent = t(`wall.feed.${s}`);
  },
  resync: () => load(current()),
  sinceAlertId: () => state.lastAlertId,
});

const current = () => state.trail[state.trail.length - 1];
let asked = 0;  // loads started, and the newest one shown: an older answer that arrives late
let shown = 0;  // (refreshes overlap) must not put older figures back on screen

// Fetch and show one jurisdiction's view.
async function load(id) {
  const ticket = ++asked;
  let view;
  try {
    view = await source.view(id);
  } catch (e) {
    if (e.status === 401 || e.status === 403 || e.status === 404) $("wall-refused").hidden = false;
    throw e;
  }
  if (id !== current() || ticket < shown) return view;  // the screen moved on meanwhile
  shown = ticket;
  $("wall-refused").hidden = true;
  state.view = view;
  state.subtree = new Set(view.subtree);
  Object.assign(state.names, view.names);
  for (const a of view.recent) state.lastAlertId = Math.max(state.lastAlertId, a.id);
  if (id === state.top) rotation.setStops(id, view.children.map((c) => c.id));
  render();
  subscribe();
  return view;
}

function render() {
  const view = state.view;
  if (!view) return;
  document.body.dataset.jurisdiction = view.jurisdiction.id;
  showFigures(view.kpis);
  warnings.reset(view.recent, state.names);
  map.show(view, state.figure);
  trends.show(view.trends);
  const asOf = $("wall-asof");
  asOf.dataset.asOf = String(view.as_of);
  asOf.textContent = t("wall.asOf", { time: fmt.dateTime(view.as_of) });
  crumbs();
}

function crumbs() {
  const nav = $("wall-crumbs");
  const parts = [];
  state.trail.forEach((id, i) => {
    if (i) {
      const sep = document.createElement("span");
      sep.className = "sep";
      sep.textContent = "›";
      parts.push(sep);
    }
    const name = state.names[id] || id;
    if (i === state.trail.length - 1) {
      const here = document.createElement("span");
      here.className = "here";
      here.textContent = name;
      parts.push(here);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = name;
      b.addEventListener("click", () => go(id));
      parts.push(b);
    }
  });
  nav.replaceChildren(...parts);
  $("wall-up").hidden = !(state.trail.length > 1 || state.view?.parent_reachable);
}

// Show another jurisdiction: a region of this one (drill down), one on the trail (back up),
// the parent (a new top), or — rotating — the top or one of its regions.
function go(id, { rotating = false } = {}) {
  const at = state.trail.indexOf(id);
  if (at >= 0) state.trail = state.trail.slice(0, at + 1);
  else if (state.view?.children.some((c) => c.id === id)) state.trail.push(id);
  else if (rotating) state.trail = [state.top, id];
  else { state.top = id; state.trail = [id]; }
  if (!rotating) rotation.restart();
  load(id).catch((e) => console.warn("wall", e));
}

function up() {
  if (state.trail.length > 1) go(state.trail[state.trail.length - 2]);
  else if (state.view?.parent_reachable) go(state.view.jurisdiction.parent_id);
}

// A person's feed: alerts only, of what the wall shows (a kiosk's is so already).
function subscribe() {
  const ws = feed.socket;
  if (source.kiosk || !ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: "subscribe", positions: false,
                           jurisdictions: [...state.subtree] }));
}

let settle = null;
function refreshSoon() {
  clearTimeout(settle);
  settle = setTimeout(refresh, SETTLE_MS);
}

function refresh() {
  load(current()).catch((e) => console.warn("wall refresh", e));
}

function onAlert(alert) {
  if (!alert || !state.subtree.has(alert.jurisdiction_id)) return;
  state.lastAlertId = Math.max(state.lastAlertId, alert.id || 0);
  warnings.upsert(alert);
  map.update(alert);
  refreshSoon();
}

function onEvent(msg) {
  if (msg.type === "hello") subscribe();
  else if (msg.type === "alert") onAlert(msg.alert);
  else if (msg.type === "missed") msg.alerts.forEach(onAlert);
}

function controls() {
  const lang = $("wall-locale");
  lang.replaceChildren(...LOCALES.map(([code, name]) => new Option(name, code, false,
                                                                   code === locale())));
  lang.addEventListener("change", () => setLocale(lang.value));
  const rotate = $("wall-rotate");
  const options = [...new Set([...ROTATIONS, settings.rotateS])].sort((a, b) => a - b);
  const label = (s) => (s ? t("wall.seconds", { n: s }) : t("wall.rotateOff"));
  const fill = () => rotate.replaceChildren(...options.map((s) => new Option(
    label(s), String(s), false, s === rotation.seconds)));
  fill();
  rotate.addEventListener("change", () => {
    rotation.set(Number(rotate.value));
    keepRotation(rotation.seconds);
  });
  const figures = $("wall-figures");
  const buttons = () => figures.replaceChildren(...Object.keys(FIGURES).map((f) => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(f === state.figure));
    b.dataset.mapFigure = f;
    b.textContent = t(`wall.figure.${f}`);
    b.addEventListener("click", () => {
      state.figure = f;
      buttons();
      if (state.view) map.show(state.view, f);
    });
    return b;
  }));
  buttons();
  $("wall-up").addEventListener("click", up);
  onLocale(() => {
    document.title = t("wall.title");
    fill();
    buttons();
    feed.onState($("wall-feed").dataset.state || "connecting");
    render();
  });
  // Canvas text in a CJK face whose subset arrives later: draw again once it is here.
  let fonts = null;
  document.fonts.addEventListener("loadingdone", () => {
    clearTimeout(fonts);
    fonts = setTimeout(render, 100);
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { map.resize(); trends.resize(); render(); }, 200);
  });
}

async function start() {
  translate();
  document.title = t("wall.title");
  rotation.seconds = settings.rotateS;
  controls();
  for (;;) {
    try {
      const place = settings.jurisdiction || await source.firstPlace();
      state.top = place;
      state.trail = [place];
      await load(place);
      break;
    } catch (e) {
      console.warn("wall: not ready", e);  // the engine starting, or the network down
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  source.arm();
  feed.connect();
  rotation.set(settings.rotateS);
  setInterval(refresh, settings.refreshS * 1000);
}

start();
window.cordonWall = { feed, rotation, state };  // for tests, as the console's window.cordon
