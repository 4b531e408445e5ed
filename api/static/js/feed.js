// The live feed: one WebSocket, reconnected after any loss. Before each reconnect the caller
// rebuilds its picture from the REST API (``resync``), so nothing that changed meanwhile
// — an alert cleared or resolved while the feed was down — stays on screen.

import { accessToken, forget, refreshed } from "./session.js";

const RETRY_MS = 2000;

export class Feed {
  constructor({ onEvent, onState, resync, sinceAlertId }) {
    Object.assign(this, { onEvent, onState, resync, sinceAlertId });
    this.socket = null;
    this.held = false;
    this.connections = 0;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ token: accessToken() || "",
                                        since_alert_id: this.sinceAlertId() });
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/live?${query}`);
    this.socket = ws;
    this.onState("connecting");
    ws.onopen = () => { this.connections += 1; this.onState("connected"); };
    ws.onmessage = (msg) => this.onEvent(JSON.parse(msg.data));
    ws.onclose = async (e) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.onState("reconnecting");
      if (e.code === 4401 && !(await refreshed())) forget();
      if (!this.held) setTimeout(() => this.reconnect(), RETRY_MS);
    };
  }

  async reconnect() {
    if (this.held || this.socket) return;
    try {
      await this.resync();
    } catch (e) {
      // The server is not back (an engine restarting): connecting now could succeed a moment
      // later with the stale picture on screen. Try the whole step again.
      console.warn("resync failed", e);
      if (!this.held) setTimeout(() => this.reconnect(), RETRY_MS);
      return;
    }
    if (!this.held && !this.socket) this.connect();
  }

  // Close the feed and keep it closed until resume(): a paused screen, and the tests' way to
  // take it down.
  pause() {
    this.held = true;
    const ws = this.socket;
    this.socket = null;
    if (ws) ws.close();
    this.onState("paused");
  }

  resume() {
    this.held = false;
    return this.reconnect();
  }
}
