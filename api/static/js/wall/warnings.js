// The live warnings: today's alerts, newest first, each arriving one flashing at the top. At
// most MAX on screen (and in memory): a wall runs for weeks.

import { fmt, kindLabel, t } from "../i18n.js";

const MAX = 30;
const CLOSED = new Set(["resolved", "cleared"]);

export class Warnings {
  constructor(list, empty) {
    Object.assign(this, { list, empty });
    this.alerts = [];  // newest first
    this.names = {};
  }

  reset(alerts, names) {
    this.names = names || {};
    this.alerts = alerts.slice(0, MAX);
    this.render(new Set());
  }

  // An alert opened (added) or changed (its status updated); true if it is new here.
  upsert(alert) {
    const i = this.alerts.findIndex((a) => a.id === alert.id);
    if (i >= 0) {
      this.alerts[i] = { ...this.alerts[i], status: alert.status ?? this.alerts[i].status,
                         severity: alert.severity ?? this.alerts[i].severity };
      this.render(new Set());
      return false;
    }
    this.alerts.unshift({ ...alert, raised_at: alert.raised_at ?? alert.at ?? Date.now() / 1000 });
    this.alerts.length = Math.min(this.alerts.length, MAX);
    this.render(new Set([alert.id]));
    return true;
  }

  render(fresh) {
    this.empty.hidden = this.alerts.length > 0;
    const items = this.alerts.map((a) => {
      const li = document.createElement("li");
      li.className = `sev-${a.severity}${CLOSED.has(a.status) ? " closed" : ""}`;
      if (fresh.has(a.id)) li.classList.add("fresh");
      li.dataset.alertId = a.id;
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = fmt.time(a.raised_at);
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = kindLabel(a.kind);
      const sev = document.createElement("span");
      sev.className = "sev";
      sev.textContent = `${t(`severity.${a.severity}`)} · ${t(`status.${a.status}`)}`;
      const where = document.createElement("span");
      where.className = "where";
      const who = a.supervisee_name || t("wall.person", { id: a.supervisee_id });
      where.textContent = `${this.names[a.jurisdiction_id] || a.jurisdiction_id} · ${who}`;
      li.append(when, kind, sev, where);
      return li;
    });
    this.list.replaceChildren(...items);
  }
}
