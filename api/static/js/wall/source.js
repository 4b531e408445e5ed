// Where the wall's figures come from: GET /api/v1/wall/{id}, as a signed-in person (the
// console's session) or as a kiosk (its own long-lived token). The live feed (feed.js) signs
// in with the token in this tab's session, so a kiosk's is put there too.

import { ApiError, api } from "../session.js";

export class WallSource {
  constructor(kioskToken) {
    this.kiosk = kioskToken || null;
    this.boundaries = new Map();  // jurisdiction id → its regions' GeoJSON features
  }

  // The kiosk's token where feed.js looks for one (a refused socket clears it: put it back).
  arm() {
    if (this.kiosk) {
      sessionStorage.setItem("cordon.access", this.kiosk);
      sessionStorage.removeItem("cordon.refresh");
    }
  }

  async get(path) {
    if (!this.kiosk) return api(path);
    this.arm();
    const r = await fetch(path, { headers: { Authorization: `Bearer ${this.kiosk}` } });
    if (!r.ok) {
      let detail = null;
      try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
      throw new ApiError(path, r.status, detail);
    }
    return r.json();
  }

  // The view of one jurisdiction, with its regions' boundaries (fetched once per place).
  async view(id) {
    const known = this.boundaries.get(id);
    const view = await this.get(`/api/v1/wall/${encodeURIComponent(id)}?boundaries=${!known}`);
    if (!known) {
      if (this.boundaries.size > 64) this.boundaries.clear();
      this.boundaries.set(id, view.boundaries);
    }
    view.boundaries = this.boundaries.get(id);
    return view;
  }

  // A person's first reachable jurisdiction, for a wall opened without one.
  async firstPlace() {
    const tree = (await this.get("/api/v1/jurisdictions")).tree;
    return tree.length ? tree[0].id : null;
  }
}
