// The map: jurisdiction boundaries and zones as vector layers on a plain background (no
// internet needed), a dot per device coloured by how its person stands (round: a bracelet,
// square: a phone), gathered into clusters at low zoom, a legend, and a layer for the person
// being looked at.

import { DeviceLayer } from "./devicelayer.js";
import { el, label } from "./dom.js";
import { fmt, t } from "./i18n.js";
import { deviceState, roster } from "./roster.js";

/* global L */
export const map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([30.3, -97.7], 9);

const STYLE = {
  compliant: { radius: 4, color: "#1f4f8f", weight: 1, fillColor: "#3b82f6", fillOpacity: 0.9 },
  violation: { radius: 7, color: "#7a0916", weight: 1, fillColor: "#e5484d", fillOpacity: 0.9 },
  silent: { radius: 4, color: "#6b7280", weight: 1, fillColor: "#c4c8d0", fillOpacity: 0.8 },
};

// Below this zoom, devices gather into clusters (about a town across the screen).
export const CLUSTER_BELOW = 14;

// Every device on one canvas (devicelayer.js); violations drawn last, on top. A cluster takes
// the colour of the worst state inside it: violation over silent over compliant.
export const dots = new DeviceLayer(STYLE, ["silent", "compliant", "violation"], {
  worst: ["compliant", "silent", "violation"], kinds: ["bracelet", "phone"],
  clusterBelow: CLUSTER_BELOW,
});
// Their own pane, above the county lines and zones (whose fills would veil them) and below
// tooltips and the drawing tool's handles.
map.createPane("devices").style.zIndex = 450;
L.setOptions(dots, { pane: "devices" });
dots.labelOf = (id) => label(`${roster.positions.get(id)?.supervisee_id ?? ""} · ${id}`);
dots.formatCount = (n) => fmt.number(n);
dots.clusterLabel = (c) => label(t("map.cluster", { count: fmt.number(c.count),
                                                     state: t(`state.${c.state}`) }));

export const layers = {
  boundaries: L.layerGroup().addTo(map),
  zones: L.layerGroup().addTo(map),
  devices: dots.addTo(map),
  person: L.layerGroup().addTo(map),
  replay: L.layerGroup().addTo(map),
};
// device id -> {i, state, options}: the device's dot, and the style it is drawn with.
export const markers = new Map();
const boundaryOf = new Map();      // jurisdiction id -> its GeoJSON layer

let control = null;
export function layerControl() {
  if (control) control.remove();
  control = L.control.layers(null, {
    [t("layers.jurisdictions")]: layers.boundaries, [t("layers.zones")]: layers.zones,
    [t("layers.devices")]: layers.devices, [t("layers.person")]: layers.person,
    [t("layers.replay")]: layers.replay,
  }).addTo(map);
}

export function placeDevice(p) {
  let m = markers.get(p.device_id);
  if (!m) {
    const state = deviceState(p.device_id);
    m = { i: dots.add(p.device_id, p.lon, p.lat, state, roster.devices.get(p.device_id)?.kind),
          state,
          get options() { return STYLE[this.state]; } };
    markers.set(p.device_id, m);
  } else {
    dots.move(m.i, p.lon, p.lat);
    restyleDevice(p.device_id);
  }
}

export function restyleDevice(deviceId) {
  const m = markers.get(deviceId);
  if (!m) return;
  const state = deviceState(deviceId);
  if (m.state !== state) {
    m.state = state;
    dots.restyle(m.i, state);
  }
}

export function restyleAll() { for (const id of markers.keys()) restyleDevice(id); }

// These devices' dots kept out of the clusters (the person looked at), and no others.
export function pinDevices(ids) {
  dots.pinOnly(ids.map((id) => markers.get(id)?.i).filter((i) => i != null));
}

// Each dot's shape from its device's kind (the registry may arrive after the positions).
export function reshapeAll() {
  for (const [id, m] of markers) dots.rekind(m.i, roster.devices.get(id)?.kind);
}

// The legend: the three states' colours, a bracelet's and a phone's shape, a cluster.
let legend = null;
export function drawLegend() {
  if (legend) legend.remove();
  legend = L.control({ position: "bottomright" });
  legend.onAdd = () => {
    const box = el("div", "map-legend leaflet-bar");
    box.id = "map-legend";
    for (const state of ["compliant", "violation", "silent"]) {
      const row = el("div", "legend-row");
      row.append(el("span", `legend-swatch dot state-${state}`), t(`state.${state}`));
      box.append(row);
    }
    for (const kind of ["bracelet", "phone"]) {
      const row = el("div", "legend-row");
      row.append(el("span", `legend-swatch shape-${kind}`), t(`device.${kind}`));
      box.append(row);
    }
    const row = el("div", "legend-row");
    row.append(el("span", "legend-swatch cluster", "12"), t("map.legendCluster"));
    box.append(row);
    return box;
  };
  legend.addTo(map);
}

export function restyleSupervisee(superviseeId) {
  const s = roster.supervisees.get(superviseeId);
  const ids = s ? s.device_ids : [...markers.keys()].filter(
    (d) => roster.positions.get(d)?.supervisee_id === superviseeId);
  for (const id of ids) restyleDevice(id);
}

export const ZONE_STYLE = {
  exclusion: { color: "#b42318", weight: 1, fillColor: "#f97066", fillOpacity: 0.35 },
  inclusion: { color: "#1a7f37", weight: 1, dashArray: "4 4", fill: false },
};

// A zone feature as a Leaflet layer (a circle for a Point with its radius).
export function zoneLayer(f, style = ZONE_STYLE[f.properties.kind] || ZONE_STYLE.exclusion) {
  if (f.geometry.type === "Point") {
    const [lon, lat] = f.geometry.coordinates;
    return L.circle([lat, lon], { radius: f.properties.radius_m, ...style })
      .bindTooltip(label(f.properties.name));
  }
  return L.geoJSON(f, { style }).bindTooltip(label(f.properties.name));
}

export function drawStatic(bounds, zones) {
  const counties = L.geoJSON(bounds, {
    style: { color: "#5a6272", weight: 1.5, fill: true, fillColor: "#ffffff", fillOpacity: 0.6 },
    onEachFeature: (f, l) => {
      l.bindTooltip(label(f.properties.name), { sticky: true });
      boundaryOf.set(f.id, l);
    },
  }).addTo(layers.boundaries);
  if (counties.getLayers().length) map.fitBounds(counties.getBounds(), { padding: [10, 10] });
  redrawZones(zones.features);
}

// The zones layer drawn again from these features (after an edit or an import).
export function redrawZones(features) {
  layers.zones.clearLayers();
  for (const f of features) {
    // Inclusion zones as large as a county would hide the map under their outline: only the
    // circles, corridors and curfews of them (a home, a route) are drawn; every exclusion
    // zone is.
    if (f.geometry.type === "Point" || f.geometry.type === "LineString"
        || f.properties.kind === "exclusion" || f.properties.schedule) {
      zoneLayer(f).addTo(layers.zones);
    }
  }
}

// Fit the map to the boundaries of these jurisdictions (those that have one).
export function fitJurisdictions(ids) {
  let box = null;
  for (const id of ids) {
    const l = boundaryOf.get(id);
    if (l) box = box ? box.extend(l.getBounds()) : L.latLngBounds(l.getBounds());
  }
  if (box) map.fitBounds(box, { padding: [10, 10] });
}
