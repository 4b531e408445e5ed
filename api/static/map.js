// Cordon live map: jurisdiction boundaries and zones as vector layers on a plain background
// (works with no internet), devices moving from the live feed, open alerts in the side panel.
"use strict";

// --- signing in: OAuth2 password flow; tokens kept for this tab only ------------------------
const session = {
  get access() { return sessionStorage.getItem("cordon.access"); },
  get refresh() { return sessionStorage.getItem("cordon.refresh"); },
  keep(t) {
    sessionStorage.setItem("cordon.access", t.access_token);
    sessionStorage.setItem("cordon.refresh", t.refresh_token);
  },
  clear() { sessionStorage.removeItem("cordon.access"); sessionStorage.removeItem("cordon.refresh"); },
};

async function token(form) {
  const r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(form) });
  if (!r.ok) throw new Error((await r.json()).detail || `HTTP ${r.status}`);
  session.keep(await r.json());
}

async function refreshed() {
  if (!session.refresh) return false;
  try { await token({ grant_type: "refresh_token", refresh_token: session.refresh }); return true; }
  catch (e) { session.clear(); return false; }
}

let signedIn = null;  // resolves once a token is at hand
function signIn() {
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  dialog.hidden = false;
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      try {
        await token({ grant_type: "password", username: data.get("username"),
                      password: data.get("password") });
        dialog.hidden = true; error.textContent = "";
        resolve();
      } catch (err) { error.textContent = err.message; }
    };
  });
}

async function api(path, retry = true) {
  if (!session.access) await (signedIn ||= signIn());
  const r = await fetch(path, { headers: { Authorization: `Bearer ${session.access}` } });
  if (r.status === 401 && retry) {
    if (!(await refreshed())) { signedIn = null; session.clear(); }
    return api(path, false);
  }
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

const map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([30.3, -97.7], 9);
const layers = {
  boundaries: L.layerGroup().addTo(map),
  zones: L.layerGroup().addTo(map),
  devices: L.layerGroup().addTo(map),
};
L.control.layers(null, {
  "Jurisdictions": layers.boundaries, "Zones": layers.zones, "Devices": layers.devices,
}).addTo(map);

// Names and ids come from imports and the live feed: they go into the page as text, never as
// markup. (Leaflet takes a string tooltip as HTML: it gets an element instead.)
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}
const label = (text) => el("span", null, text);

const markers = new Map();          // device_id -> circleMarker
const supervisee = new Map();       // device_id -> supervisee_id
const openAlerts = new Map();       // alert id -> alert
window.cordon = { map, layers, markers, openAlerts };

function violating(superviseeId) {
  for (const a of openAlerts.values()) if (a.supervisee_id === superviseeId) return true;
  return false;
}

function styleFor(deviceId) {
  const bad = violating(supervisee.get(deviceId));
  return { radius: bad ? 7 : 4, color: bad ? "#7a0916" : "#1f4f8f", weight: 1,
           fillColor: bad ? "#e5484d" : "#3b82f6", fillOpacity: 0.9 };
}

function placeDevice(p) {
  supervisee.set(p.device_id, p.supervisee_id);
  let m = markers.get(p.device_id);
  if (!m) {
    m = L.circleMarker([p.lat, p.lon], styleFor(p.device_id)).addTo(layers.devices);
    m.bindTooltip(label(`${p.supervisee_id} · ${p.device_id}`));
    markers.set(p.device_id, m);
  } else {
    m.setLatLng([p.lat, p.lon]);
  }
  document.getElementById("device-count").textContent = markers.size;
}

function restyleSupervisee(superviseeId) {
  for (const [deviceId, m] of markers) {
    if (supervisee.get(deviceId) === superviseeId) m.setStyle(styleFor(deviceId));
  }
}

const KIND_LABEL = {
  exclusion_entry: "Entered exclusion zone", inclusion_exit: "Left permitted area",
  low_battery_warning: "Battery low", low_battery_critical: "Battery critical",
};

function renderAlerts() {
  const list = document.getElementById("alerts");
  list.replaceChildren();
  const sorted = [...openAlerts.values()].sort((a, b) => b.started_at - a.started_at);
  for (const a of sorted) {
    const li = document.createElement("li");
    li.dataset.alertId = a.id;
    const when = new Date(a.started_at * 1000).toLocaleTimeString();
    li.append(
      el("span", "kind",
         (KIND_LABEL[a.kind] || a.kind) + (a.status === "acknowledged" ? " (acknowledged)" : "")),
      " — ", el("span", "who", a.supervisee_id), el("br"),
      el("span", "where", a.subject_name || a.subject), " ", el("span", "when", `since ${when}`));
    li.addEventListener("click", () => a.lat != null && map.setView([a.lat, a.lon], 14));
    list.appendChild(li);
  }
  document.getElementById("alerts-open").textContent = openAlerts.size;
}

let lastAlertId = 0;  // the newest alert seen: a reconnect asks for what came after it

function onAlert(ev) {
  const a = ev.alert;
  if (a.id > lastAlertId) lastAlertId = a.id;
  if (ev.action === "opened") openAlerts.set(a.id, { ...a, started_at: a.at });
  else if (ev.action === "acknowledged") openAlerts.set(a.id, a);  // live, someone has it
  else openAlerts.delete(a.id);  // resolved or cleared
  renderAlerts();
  restyleSupervisee(a.supervisee_id);
}

function onMissedAlert(a) {  // raised while the feed was down, as it stands now
  if (a.id > lastAlertId) lastAlertId = a.id;
  if (a.status === "open" || a.status === "acknowledged") openAlerts.set(a.id, a);
  else openAlerts.delete(a.id);
  renderAlerts();
  restyleSupervisee(a.supervisee_id);
}

async function loadStatic() {
  const cfg = await api("/api/v1/ui-config");
  if (cfg.tile_url) L.tileLayer(cfg.tile_url, { maxZoom: 19 }).addTo(map);
  const [bounds, zones] = await Promise.all([
    api("/api/v1/jurisdictions/boundaries"), api("/api/v1/zones"),
  ]);
  const counties = L.geoJSON(bounds, {
    style: { color: "#5a6272", weight: 1.5, fill: true, fillColor: "#ffffff", fillOpacity: 0.6 },
    onEachFeature: (f, l) => l.bindTooltip(label(f.properties.name), { sticky: true }),
  }).addTo(layers.boundaries);
  if (counties.getLayers().length) map.fitBounds(counties.getBounds(), { padding: [10, 10] });
  for (const f of zones.features) {
    const exclusion = f.properties.kind === "exclusion";
    const style = exclusion
      ? { color: "#b42318", weight: 1, fillColor: "#f97066", fillOpacity: 0.35 }
      : { color: "#1a7f37", weight: 1, dashArray: "4 4", fill: false };
    if (f.geometry.type === "Point") {
      const [lon, lat] = f.geometry.coordinates;
      L.circle([lat, lon], { radius: f.properties.radius_m, ...style })
        .bindTooltip(label(f.properties.name)).addTo(layers.zones);
    } else if (exclusion) {
      L.geoJSON(f, { style }).bindTooltip(label(f.properties.name)).addTo(layers.zones);
    }
  }
}

async function loadDynamic() {
  const [pos, alerts] = await Promise.all([
    api("/api/v1/positions?since_s=600"), api("/api/v1/alerts?status=live"),
  ]);
  for (const a of alerts.alerts) {
    openAlerts.set(a.id, a);
    if (a.id > lastAlertId) lastAlertId = a.id;
  }
  for (const p of pos.positions) placeDevice(p);
  renderAlerts();
  for (const id of markers.keys()) markers.get(id).setStyle(styleFor(id));
}

async function refreshHealth() {
  try {
    const h = await fetch("/api/v1/health").then((r) => r.json());
    document.getElementById("fixes-stored").textContent = h.counters.fixes_stored;
    document.getElementById("quarantined").textContent = h.counters.quarantined;
  } catch (e) { /* the feed state shows the outage */ }
}

function connectFeed() {
  const state = document.getElementById("feed-state");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ token: session.access || "", since_alert_id: lastAlertId });
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/live?${query}`);
  ws.onopen = () => { state.textContent = "connected"; state.className = "state up"; };
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "positions") ev.positions.forEach(placeDevice);
    else if (ev.type === "alert") onAlert(ev);
    else if (ev.type === "missed") ev.alerts.forEach(onMissedAlert);
  };
  ws.onclose = async (e) => {
    state.textContent = "reconnecting…"; state.className = "state down";
    if (e.code === 4401 && !(await refreshed())) { session.clear(); signedIn = null; }
    setTimeout(() => { loadDynamic().catch(() => {}).finally(connectFeed); }, 2000);
  };
}

loadStatic().catch(console.error)
  .then(() => loadDynamic()).catch(console.error).finally(connectFeed);
refreshHealth();
setInterval(refreshHealth, 2000);
