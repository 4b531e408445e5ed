// An unattended wall goes round its regions: the top, then each of its children for one
// interval each, then the top again. Anyone touching the screen restarts the interval.

export class Rotation {
  constructor(go) {
    this.go = go;         // show a jurisdiction
    this.seconds = 0;     // 0: off
    this.stops = [];      // the top, then its children
    this.index = 0;
    this.timer = null;
  }

  setStops(top, children) {
    this.stops = [top, ...children];
    if (this.index >= this.stops.length) this.index = 0;
  }

  set(seconds) {
    this.seconds = seconds;
    this.restart();
  }

  restart() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.seconds > 0) this.timer = setInterval(() => this.next(), this.seconds * 1000);
  }

  next() {
    if (this.stops.length < 2) return;
    this.index = (this.index + 1) % this.stops.length;
    this.go(this.stops[this.index], { rotating: true });
  }
}
