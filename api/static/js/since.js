// "Since you last looked": what changed in the officer's caseload after their previous
// sign-in (GET /me/since-last-sign-in) — alerts raised, escalated, resolved by someone else
// and cleared, people enrolled and released, positioning orders ending — shown after sign-in
// until dismissed.

import { byId, el } from "./dom.js";
import { fmt, kindLabel, t } from "./i18n.js";
import { api } from "./session.js";

const LISTED = 5;  // items shown per kind of change
let report = null;
let onPerson = () => {};

export function setUpSince({ onPerson: open }) {
  onPerson = open;
  byId("since-close").addEventListener("click", () => { byId("since").hidden = true; });
}

export async function loadSince() {
  report = await api("/api/v1/me/since-last-sign-in");
  byId("since").hidden = false;
  renderSince();
}

// Today's times as a clock, older ones with their date.
function when(epoch) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  return epoch * 1000 >= midnight.getTime() ? fmt.time(epoch) : fmt.dateTime(epoch);
}

function personLink(id, name) {
  const b = el("button", "who", name || id);
  b.type = "button";
  b.addEventListener("click", () => onPerson(id));
  return b;
}

function section(key, count, items) {
  const box = el("div", `since-part since-${key}`);
  box.append(el("div", "since-head", t(`since.${key}`, { count: fmt.number(count) })));
  if (items.length) {
    const ul = el("ul");
    ul.append(...items.slice(0, LISTED));
    if (count > LISTED) ul.append(el("li", "small", t("since.more", { count: fmt.number(count - LISTED) })));
    box.append(ul);
  }
  return box;
}

function alertItems(steps, withActor) {
  return steps.alerts.map((a) => {
    const li = el("li");
    li.dataset.alertId = a.id;
    li.append(el("span", "kind", kindLabel(a.kind)), " ", personLink(a.supervisee_id, a.supervisee_name),
              " ", el("span", "small", when(a.at)));
    if (withActor) li.append(" ", el("span", "small", t("since.by", { who: a.by })));
    return li;
  });
}

function peopleItems(list) {
  return list.map((p) => {
    const li = el("li");
    li.append(personLink(p.id, p.name), " ", el("span", "small", when(p.at)));
    return li;
  });
}

export function renderSince() {
  if (!report) return;
  const r = report;
  byId("since-title").textContent = r.first_sign_in ? t("since.titleFirst")
    : t("since.title", { time: fmt.dateTime(r.since) });
  const parts = [];
  if (r.raised.count) parts.push(section("raised", r.raised.count, alertItems(r.raised, false)));
  if (r.escalated.count) {
    parts.push(section("escalated", r.escalated.count, alertItems(r.escalated, false)));
  }
  if (r.resolved_by_others.count) {
    parts.push(section("resolved", r.resolved_by_others.count,
                       alertItems(r.resolved_by_others, true)));
  }
  if (r.cleared.count) parts.push(section("cleared", r.cleared.count, []));
  if (r.enrolled_count) parts.push(section("enrolled", r.enrolled_count, peopleItems(r.enrolled)));
  if (r.released_count) parts.push(section("released", r.released_count, peopleItems(r.released)));
  if (r.orders_ending.length) {
    parts.push(section("orders", r.orders_ending.length, r.orders_ending.map((o) => {
      const li = el("li");
      li.append(personLink(o.supervisee_id, o.supervisee_name), " ",
                el("span", "small", t(o.ended ? "since.orderEnded" : "since.orderEnds",
                                      { time: fmt.dateTime(o.ends_at) })));
      return li;
    })));
  }
  if (!parts.length) parts.push(el("p", "small", t("since.nothing")));
  byId("since-body").replaceChildren(...parts);
}
