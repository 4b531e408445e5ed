// Every device as a dot on one canvas: positions and states held in typed arrays, projected
// and drawn in one pass, at most once a frame and only when something changed (a positions
// message, a pan or zoom). One Leaflet vector layer per device (L.circleMarker) costs an
// object, a bounds update and a path per dot on every move: too slow for tens of thousands
// moving every second on a machine drawing in software (see benchmarks/console.py).

/* global L */
const TILE = 256;
const MAX_LAT = 85.0511287798;

export class DeviceLayer extends L.Layer {
  constructor(styles, order) {
    super();
    this.styles = styles;               // state name -> {radius, color, fillColor, …}
    this.order = order;                 // state names, drawn in this order (last on top)
    this.capacity = 1024;
    this.count = 0;
    this.lon = new Float64Array(this.capacity);
    this.lat = new Float64Array(this.capacity);
    this.state = new Uint8Array(this.capacity);
    this.ids = [];
    this.queued = false;
    this.draws = 0;
  }

  // A new dot; returns its index.
  add(id, lon, lat, state) {
    if (this.count === this.capacity) this.grow();
    const i = this.count;
    this.count += 1;
    this.ids[i] = id;
    this.move(i, lon, lat);
    this.state[i] = this.order.indexOf(state);
    return i;
  }

  move(i, lon, lat) {
    this.lon[i] = lon;
    this.lat[i] = lat;
    this.changed();
  }

  restyle(i, state) {
    this.state[i] = this.order.indexOf(state);
    this.changed();
  }

  grow() {
    this.capacity *= 2;
    for (const name of ["lon", "lat", "state"]) {
      const bigger = new this[name].constructor(this.capacity);
      bigger.set(this[name]);
      this[name] = bigger;
    }
  }

  onAdd(map) {
    this.canvas = L.DomUtil.create("canvas", "device-layer leaflet-zoom-hide");
    map.getPane(this.options.pane || "overlayPane").appendChild(this.canvas);
    this.tip = L.tooltip({ direction: "top", offset: [0, -6] });
    this.changed();
  }

  onRemove() {
    this.canvas.remove();
    this.canvas = null;
    if (this.tip) this._map.closeTooltip(this.tip);
  }

  getEvents() {
    return { moveend: this.changed, zoomend: this.changed, resize: this.changed,
             viewreset: this.changed, mousemove: this.hover, mouseout: this.unhover };
  }

  changed() {
    if (this.queued || !this._map) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.draw(); });
  }

  // Web Mercator pixels at the map's zoom, relative to the canvas's top left: the same
  // projection Leaflet's EPSG:3857 uses, done in bulk.
  draw() {
    const map = this._map;
    if (!map || !this.canvas) return;
    this.draws += 1;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(canvas, topLeft);
    if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      canvas.style.width = `${size.x}px`;
      canvas.style.height = `${size.y}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    const scale = TILE * 2 ** map.getZoom();
    const origin = map.getPixelBounds().min;  // world pixel at the container's top left
    const ox = origin.x;
    const oy = origin.y;
    const n = this.count;
    const xs = this.xs && this.xs.length >= n ? this.xs : (this.xs = new Float32Array(this.capacity));
    const ys = this.ys && this.ys.length >= n ? this.ys : (this.ys = new Float32Array(this.capacity));
    const d2r = Math.PI / 180;
    for (let i = 0; i < n; i += 1) {
      const lat = Math.max(Math.min(this.lat[i], MAX_LAT), -MAX_LAT);
      const s = Math.sin(lat * d2r);
      xs[i] = ((this.lon[i] + 180) / 360) * scale - ox;
      ys[i] = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale - oy;
    }
    for (let k = 0; k < this.order.length; k += 1) {
      const style = this.styles[this.order[k]];
      const r = style.radius;
      ctx.beginPath();
      for (let i = 0; i < n; i += 1) {
        if (this.state[i] !== k) continue;
        const x = xs[i];
        const y = ys[i];
        if (x < -r || y < -r || x > size.x + r || y > size.y + r) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.globalAlpha = style.fillOpacity;
      ctx.fillStyle = style.fillColor;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = style.weight;
      ctx.strokeStyle = style.color;
      ctx.stroke();
    }
    this.projected = n;
  }

  // The dot under the pointer (the nearest within its radius and a few pixels), if any.
  at(point) {
    if (!this.xs || !this.projected) return -1;
    let best = -1;
    let bestD = 36;
    for (let i = 0; i < this.projected; i += 1) {
      const dx = this.xs[i] - point.x;
      const dy = this.ys[i] - point.y;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  hover(e) {
    const i = this.at(e.containerPoint);
    if (i < 0) { this.unhover(); return; }
    if (this.tipFor !== i) {
      this.tipFor = i;
      this.tip.setContent(this.labelOf(this.ids[i]));
      this.tip.setLatLng([this.lat[i], this.lon[i]]);
      this._map.openTooltip(this.tip);
    }
  }

  unhover() {
    if (this.tipFor == null || !this._map) return;
    this.tipFor = null;
    this._map.closeTooltip(this.tip);
  }

  labelOf(id) { return id; }
}
