// Every device as a dot on one canvas: positions and states held in typed arrays, projected
// and drawn in one pass, at most once a frame and only when something changed (a positions
// message, a pan or zoom). One Leaflet vector layer per device (L.circleMarker) costs an
// object, a bounds update and a path per dot on every move: too slow for tens of thousands
// moving every second on a machine drawing in software (see benchmarks/console.py).
//
// Below `clusterBelow` zoom the dots are gathered into clusters, in screen space: a grid of
// `cell` pixels over the canvas, each cell's devices drawn as one disc with their count,
// coloured by the worst state among them (the last of `worst`: violation over silent over
// compliant), at the mean of their positions. A cell holding one device draws its dot. One
// pass over the typed arrays; clicking a cluster zooms to its devices.
//
// Bracelets are round, phones square (`kinds`), so a person's two devices are told apart.
// Pinned dots (the person being looked at) stay out of the clusters.

/* global L */
const TILE = 256;
const MAX_LAT = 85.0511287798;

export class DeviceLayer extends L.Layer {
  constructor(styles, order, { worst = order, kinds = ["bracelet", "phone"],
                                clusterBelow = 14, cell = 56 } = {}) {
    super();
    this.styles = styles;               // state name -> {radius, color, fillColor, …}
    this.order = order;                 // state names, drawn in this order (last on top)
    // state index (in `order`) -> its rank in `worst` (the higher, the worse)
    this.rank = Uint8Array.from(order, (name) => worst.indexOf(name));
    this.kinds = kinds;                 // kind names: 0 round, 1 square
    this.clusterBelow = clusterBelow;
    this.cell = cell;
    this.clusters = [];                 // as last drawn: {count, state, x, y, box: [x0,y0,x1,y1]}
    this.singles = 0;                   // devices drawn as their own dot, last time
    this.capacity = 1024;
    this.count = 0;
    this.lon = new Float64Array(this.capacity);
    this.lat = new Float64Array(this.capacity);
    this.state = new Uint8Array(this.capacity);
    this.kind = new Uint8Array(this.capacity);
    this.pin = new Uint8Array(this.capacity);  // 1: never in a cluster (the person looked at)
    this.ids = [];
    this.queued = false;
    this.draws = 0;
  }

  // A new dot; returns its index.
  add(id, lon, lat, state, kind) {
    if (this.count === this.capacity) this.grow();
    const i = this.count;
    this.count += 1;
    this.ids[i] = id;
    this.move(i, lon, lat);
    this.state[i] = this.order.indexOf(state);
    this.kind[i] = Math.max(this.kinds.indexOf(kind), 0);
    return i;
  }

  // These dots (and no others) kept out of clusters, drawn on their own at any zoom.
  pinOnly(indices) {
    this.pin.fill(0);
    for (const i of indices) this.pin[i] = 1;
    this.changed();
  }

  rekind(i, kind) {
    const k = Math.max(this.kinds.indexOf(kind), 0);
    if (this.kind[i] !== k) { this.kind[i] = k; this.changed(); }
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
    for (const name of ["lon", "lat", "state", "kind", "pin"]) {
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
             viewreset: this.changed, mousemove: this.hover, mouseout: this.unhover,
             click: this.click };
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
    const clustered = map.getZoom() < this.clusterBelow;
    this.clusteredNow = clustered;
    const alone = clustered ? this.gather(n, xs, ys, size) : null;
    this.singles = 0;
    for (let k = 0; k < this.order.length; k += 1) {
      const style = this.styles[this.order[k]];
      const r = style.radius;
      const side = r * 1.7;  // a phone's square: about the area of the bracelet's disc
      ctx.beginPath();
      for (let i = 0; i < n; i += 1) {
        if (this.state[i] !== k) continue;
        const x = xs[i];
        const y = ys[i];
        if (x < -r || y < -r || x > size.x + r || y > size.y + r) continue;
        if (alone && !alone[i]) continue;
        this.singles += 1;
        if (this.kind[i] === 1) {
          ctx.rect(x - side / 2, y - side / 2, side, side);
        } else {
          ctx.moveTo(x + r, y);
          ctx.arc(x, y, r, 0, 2 * Math.PI);
        }
      }
      ctx.globalAlpha = style.fillOpacity;
      ctx.fillStyle = style.fillColor;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = style.weight;
      ctx.strokeStyle = style.color;
      ctx.stroke();
    }
    if (clustered) this.drawClusters(ctx);
    else this.clusters = [];
    this.projected = n;
  }

  // The grid's cells, filled from the projected positions: this.clusters gets every cell of
  // two or more devices; the answer marks (1) the devices that stand alone in their cell.
  gather(n, xs, ys, size) {
    const cell = this.cell;
    const cols = Math.ceil(size.x / cell) + 1;
    const cells = cols * (Math.ceil(size.y / cell) + 1);
    if (!this.grid || this.grid.count.length < cells) {
      this.grid = { count: new Int32Array(cells), sx: new Float64Array(cells),
                    sy: new Float64Array(cells), worst: new Int8Array(cells),
                    x0: new Float32Array(cells), y0: new Float32Array(cells),
                    x1: new Float32Array(cells), y1: new Float32Array(cells),
                    first: new Int32Array(cells) };
    }
    const g = this.grid;
    g.count.fill(0, 0, cells);
    if (!this.cellOf || this.cellOf.length < this.capacity) {
      this.cellOf = new Int32Array(this.capacity);
      this.alone = new Uint8Array(this.capacity);
    }
    const cellOf = this.cellOf;
    const rank = this.rank;
    for (let i = 0; i < n; i += 1) {
      const x = xs[i];
      const y = ys[i];
      if (!(x >= 0 && y >= 0 && x < size.x && y < size.y)) { cellOf[i] = -1; continue; }
      if (this.pin[i]) { cellOf[i] = -2; continue; }
      const c = ((x / cell) | 0) + ((y / cell) | 0) * cols;
      cellOf[i] = c;
      const r = rank[this.state[i]];
      if (g.count[c] === 0) {
        g.count[c] = 1; g.sx[c] = x; g.sy[c] = y; g.worst[c] = r; g.first[c] = i;
        g.x0[c] = x; g.y0[c] = y; g.x1[c] = x; g.y1[c] = y;
      } else {
        g.count[c] += 1; g.sx[c] += x; g.sy[c] += y;
        if (r > g.worst[c]) g.worst[c] = r;
        if (x < g.x0[c]) g.x0[c] = x; else if (x > g.x1[c]) g.x1[c] = x;
        if (y < g.y0[c]) g.y0[c] = y; else if (y > g.y1[c]) g.y1[c] = y;
      }
    }
    const alone = this.alone;
    for (let i = 0; i < n; i += 1) {
      const c = cellOf[i];
      alone[i] = c === -2 || (c >= 0 && g.count[c] === 1) ? 1 : 0;
    }
    const worstName = [];
    for (let k = 0; k < this.order.length; k += 1) worstName[this.rank[k]] = this.order[k];
    const clusters = [];
    for (let c = 0; c < cells; c += 1) {
      const m = g.count[c];
      if (m < 2) continue;
      clusters.push({ count: m, state: worstName[g.worst[c]], x: g.sx[c] / m, y: g.sy[c] / m,
                      box: [g.x0[c], g.y0[c], g.x1[c], g.y1[c]] });
    }
    this.clusters = clusters;
    return alone;
  }

  drawClusters(ctx) {
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = "bold 11px sans-serif";
    for (const c of this.clusters) {
      const style = this.styles[c.state];
      const r = Math.min(10 + 4 * Math.log10(c.count) * 2, 26);
      c.r = r;
      ctx.beginPath();
      ctx.arc(c.x, c.y, r + 3, 0, 2 * Math.PI);
      ctx.globalAlpha = 0.35;
      ctx.fillStyle = style.fillColor;
      ctx.fill();
      ctx.beginPath();
      ctx.arc(c.x, c.y, r, 0, 2 * Math.PI);
      ctx.globalAlpha = 0.95;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = style.color;
      ctx.stroke();
      ctx.fillStyle = c.state === "silent" ? "#1f2933" : "#ffffff";
      ctx.fillText(this.formatCount(c.count), c.x, c.y);
    }
  }

  formatCount(n) { return String(n); }

  // The cluster under the pointer, if any.
  clusterAt(point) {
    for (const c of this.clusters) {
      const dx = c.x - point.x;
      const dy = c.y - point.y;
      if (dx * dx + dy * dy <= (c.r || 12) ** 2) return c;
    }
    return null;
  }

  // A click on a cluster: zoom to its devices (at least one step, at most to where they part).
  click(e) {
    if (!this.clickable()) return;
    const c = this.clusterAt(e.containerPoint);
    if (!c) return;
    const map = this._map;
    const pad = 4;
    const box = L.latLngBounds(map.containerPointToLatLng([c.box[0] - pad, c.box[1] - pad]),
                               map.containerPointToLatLng([c.box[2] + pad, c.box[3] + pad]));
    const zoom = Math.max(map.getZoom() + 1, Math.min(map.getBoundsZoom(box), map.getMaxZoom()));
    map.setView(box.getCenter(), zoom);
  }

  clickable() { return true; }

  // The dot under the pointer (the nearest within its radius and a few pixels), if any.
  at(point) {
    if (!this.xs || !this.projected) return -1;
    let best = -1;
    let bestD = 36;
    const alone = this.clusteredNow ? this.alone : null;
    for (let i = 0; i < this.projected; i += 1) {
      if (alone && !alone[i]) continue;
      const dx = this.xs[i] - point.x;
      const dy = this.ys[i] - point.y;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  hover(e) {
    const c = this.clusterAt(e.containerPoint);
    if (c) {
      this.canvasCursor(true);
      const key = `c${c.x},${c.y},${c.count}`;
      if (this.tipFor !== key) {
        this.tipFor = key;
        this.tip.setContent(this.clusterLabel(c));
        this.tip.setLatLng(this._map.containerPointToLatLng([c.x, c.y]));
        this._map.openTooltip(this.tip);
      }
      return;
    }
    this.canvasCursor(false);
    const i = this.at(e.containerPoint);
    if (i < 0) { this.unhover(); return; }
    if (this.tipFor !== i) {
      this.tipFor = i;
      this.tip.setContent(this.labelOf(this.ids[i]));
      this.tip.setLatLng([this.lat[i], this.lon[i]]);
      this._map.openTooltip(this.tip);
    }
  }

  canvasCursor(on) {
    const box = this._map.getContainer();
    if (on !== box.classList.contains("over-cluster")) box.classList.toggle("over-cluster", on);
  }

  unhover() {
    if (this._map) this.canvasCursor(false);
    if (this.tipFor == null || !this._map) return;
    this.tipFor = null;
    this._map.closeTooltip(this.tip);
  }

  labelOf(id) { return id; }

  clusterLabel(c) { return String(c.count); }
}
