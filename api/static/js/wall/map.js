// The map of a jurisdiction's regions (its children; a jurisdiction without any shows its own
// outline), each coloured by the chosen figure, with the live alerts on it. Apache ECharts
// (vendored) draws on a canvas: tooltips in rich text, never HTML, so nothing a person typed
// becomes markup. Clicking a region drills down into it.

import { fmt, t } from "../i18n.js";

const echarts = window.echarts;
export const FIGURES = {
  people: (f) => f.people.total,
  online: (f) => f.devices.online,
  silent: (f) => f.devices.silent,
  alerts: (f) => f.alerts.raised,
  open: (f) => f.alerts.open + f.alerts.acknowledged,
};
const SEVERITY_COLOURS = { critical: "#ff3b3b", high: "#ff8a3d", medium: "#ffcf5c", low: "#5b8cff" };
const MAX_POINTS = 200;
const LIVE = new Set(["open", "acknowledged"]);

export const FONT = 'system-ui, "Cordon Noto Sans SC", "Noto Sans CJK SC", sans-serif';
const rem = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;

export class WallMap {
  constructor(element, onRegion) {
    this.chart = echarts.init(element, "dark", { renderer: "canvas" });
    this.onRegion = onRegion;
    this.points = new Map();  // alert id → alert, live ones with a place
    this.chart.on("click", (e) => {
      if (e.componentType === "series" && e.seriesType === "map" && e.data?.child) {
        this.onRegion(e.data.id);
      }
    });
    this.figure = "alerts";
  }

  resize() { this.chart.resize(); }

  show(view, figure) {
    this.view = view;
    this.figure = figure;
    const children = view.children.filter((c) => c.has_boundary);
    const regions = children.length ? children.map((c) => ({ ...c, figures: view.regions[c.id] }))
      : [{ ...view.jurisdiction, figures: view.kpis }];
    const features = view.boundaries.map((f) => ({ ...f, properties: { ...f.properties, name: f.id } }));
    echarts.registerMap("wall", { type: "FeatureCollection", features });
    const value = FIGURES[figure] || FIGURES.alerts;
    const data = regions.map((r) => ({ name: r.id, id: r.id, label_: r.name,
                                       value: value(r.figures), child: children.length > 0 }));
    const max = Math.max(1, ...data.map((d) => d.value));
    this.points.clear();
    for (const a of view.recent) this.place(a);
    const size = rem();
    this.chart.setOption({
      backgroundColor: "transparent",
      animation: false,  // a wall redraws often: no motion, no half-drawn screenshot
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "item", renderMode: "richText",
                 formatter: (p) => (p.seriesType === "map"
                   ? `${p.data.label_}\n${t(`wall.figure.${figure}`)}: ${fmt.number(p.value)}` : "") },
      visualMap: { min: 0, max, seriesIndex: 0, calculable: false, left: size, bottom: size,
                   text: [fmt.number(max), "0"], itemHeight: size * 8, itemWidth: size,
                   textStyle: { color: "#dbe7ff", fontSize: size * 0.9 },
                   inRange: { color: ["#102d5e", "#1d5fbf", "#3d9bff", "#a8dcff"] } },
      geo: { map: "wall", roam: false, layoutSize: "95%", itemStyle: { borderColor: "#8fb4ff",
             borderWidth: 1.2, areaColor: "#0d2a5c" },
             emphasis: { itemStyle: { areaColor: "#2f6fd6" }, label: { show: false } },
             label: { show: false } },
      series: [
        { type: "map", geoIndex: 0, data,
          label: { show: true } },
        { type: "effectScatter", coordinateSystem: "geo", zlevel: 2, silent: true,  // clicks: the region
          rippleEffect: { scale: 3, brushType: "stroke" }, symbolSize: size * 0.7,
          data: this.pointData() },
        { type: "scatter", coordinateSystem: "geo", zlevel: 1, symbolSize: 0, silent: true,
          label: { show: true, formatter: (p) => `${p.data.label_}\n${fmt.number(p.data.v)}`,
                   color: "#fff", fontSize: size * 1.05, lineHeight: size * 1.4,
                   textBorderColor: "#06101f", textBorderWidth: 3 },
          data: regions.map((r, i) => ({ value: centre(features.find((f) => f.id === r.id)),
                                         label_: r.name, v: data[i].value }))
            .filter((d) => d.value) },
      ],
    }, true);
  }

  place(alert) {
    if (alert.lon == null || alert.lat == null || !LIVE.has(alert.status)) {
      this.points.delete(alert.id);
      return;
    }
    this.points.set(alert.id, alert);
    if (this.points.size > MAX_POINTS) this.points.delete(this.points.keys().next().value);
  }

  // A live alert arrived or changed: the points again (the rest of the map stays).
  update(alert) {
    this.place(alert);
    this.chart.setOption({ series: [{}, { data: this.pointData() }] });
  }

  pointData() {
    return [...this.points.values()].map((a) => ({
      value: [a.lon, a.lat], id: a.id,
      itemStyle: { color: SEVERITY_COLOURS[a.severity] || "#ff3b3b" },
    }));
  }
}

// A label's place: the middle of the feature's bounding box (good enough for counties).
function centre(feature) {
  if (!feature?.geometry) return null;
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else c.forEach(walk);
  };
  walk(feature.geometry.coordinates);
  return Number.isFinite(w) ? [(w + e) / 2, (s + n) / 2] : null;
}
