// Reports as a sheet over the console: a person's day (日报告: where they slept, hours at home,
// at work, elsewhere, moving and unseen, distance, the places they stopped, coverage gaps with
// their causes, alerts with their outcomes, check-ins; GET /supervisees/{id}/daily-report) and
// a jurisdiction's month (月通报: people by level, alerts by status, kind, cause and outcome,
// orders, a row per child jurisdiction; GET /jurisdictions/{id}/bulletin). A sheet prints on
// its own (the print stylesheet hides the rest of the console: "Save as PDF" in the print
// dialogue makes the PDF) and downloads as CSV in either language.

import { byId, el } from "./dom.js";
import { fmt, kindLabel, locale, onLocale, t } from "./i18n.js";
import { accessToken, api } from "./session.js";

let shown = null;  // {kind: "day" | "month", id, day (or month), report}

const hours = (s) => t("report.hours", { h: fmt.number(Math.round((s / 3600) * 10) / 10) });
const clock = (epoch, tz) => new Intl.DateTimeFormat(locale(), {
  hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: tz }).format(epoch * 1000);

// Yesterday in this browser's calendar, as YYYY-MM-DD (the report's default day).
function yesterday() {
  const d = new Date(Date.now() - 86400e3);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-`
    + `${String(d.getDate()).padStart(2, "0")}`;
}

export function setUpReport() {
  byId("report-close").addEventListener("click", closeReport);
  byId("report-print").addEventListener("click", () => window.print());
  byId("report-day").addEventListener("change", (e) => {
    if (shown && shown.kind === "day" && e.target.value) load(shown.id, e.target.value);
  });
  byId("report-month").addEventListener("change", (e) => {
    if (shown && shown.kind === "month" && e.target.value) loadBulletin(shown.id, e.target.value);
  });
  for (const lang of ["en", "zh-CN"]) {
    byId(`report-csv-${lang}`).addEventListener("click", () => download(lang));
  }
  onLocale(() => {
    if (shown && shown.report) (shown.kind === "month" ? renderBulletin : render)(shown.report);
  });
}

export const reportState = { get shown() { return shown; } };

function openSheet(kind) {
  byId("report-sheet").hidden = false;
  document.body.classList.add("report-open");
  byId("report-day-label").hidden = kind !== "day";
  byId("report-month-label").hidden = kind !== "month";
  const heading = byId("report-heading");  // kept by the language switch (data-i18n)
  heading.dataset.i18n = kind === "day" ? "report.title" : "bulletin.title";
  heading.textContent = t(heading.dataset.i18n);
}

export function openReport(id, day = yesterday()) {
  openSheet("day");
  byId("report-day").value = day;
  load(id, day);
}

// This month in this browser's calendar, as YYYY-MM.
function thisMonth() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

export function openBulletin(jurisdictionId, month = thisMonth()) {
  openSheet("month");
  byId("report-month").value = month;
  loadBulletin(jurisdictionId, month);
}

export function closeReport() {
  shown = null;
  byId("report-sheet").hidden = true;
  document.body.classList.remove("report-open");
}

async function load(id, day) {
  shown = { kind: "day", id, day, report: null };
  const body = byId("report-body");
  body.replaceChildren(el("p", null, "…"));
  try {
    const report = await api(`/api/v1/supervisees/${encodeURIComponent(id)}/daily-report`
                             + `?day=${encodeURIComponent(day)}`);
    if (!shown || shown.kind !== "day" || shown.id !== id || shown.day !== day) return;
    shown.report = report;
    render(report);
  } catch (err) {
    body.replaceChildren(el("p", "form-error", `${t("report.failed")}: ${err.message}`));
  }
}

// The CSV comes with the access token, so it is fetched and handed to the browser as a file.
async function download(lang) {
  if (!shown) return;
  const path = shown.kind === "day"
    ? `/api/v1/supervisees/${encodeURIComponent(shown.id)}/daily-report.csv`
      + `?day=${encodeURIComponent(shown.day)}&lang=${encodeURIComponent(lang)}`
    : `/api/v1/jurisdictions/${encodeURIComponent(shown.id)}/bulletin.csv`
      + `?month=${encodeURIComponent(shown.day)}&lang=${encodeURIComponent(lang)}`;
  const r = await fetch(path, { headers: { Authorization: `Bearer ${accessToken()}` } });
  if (!r.ok) return;
  const url = URL.createObjectURL(await r.blob());
  const a = el("a");
  a.href = url;
  a.download = `${shown.kind === "day" ? "daily-report" : "bulletin"}-${shown.id}-`
    + `${shown.day}-${lang}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function table(headings, rows) {
  const tbl = el("table", "report-table");
  const head = el("tr");
  for (const h of headings) head.append(el("th", null, h));
  tbl.append(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) tr.append(el("td", null, cell));
    tbl.append(tr);
  }
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", "small", t("report.none"));
    td.colSpan = headings.length;
    tr.append(td);
    tbl.append(tr);
  }
  return tbl;
}

function render(r) {
  const tz = r.timezone;
  const out = [];
  const title = el("h2", "report-title", `${t("report.title")} · ${r.name}`);
  title.append(" ", el("span", "row-id", r.supervisee_id));
  out.push(title);
  out.push(el("p", "small", t("report.dayOf", { day: r.day, tz })
    + (r.complete ? "" : ` · ${t("report.incomplete")}`)));
  const facts = el("dl", "report-facts");
  const fact = (k, v) => { facts.append(el("dt", null, t(k)), el("dd", null, v)); };
  fact("report.slept", r.slept ? t(`report.place.${r.slept}`) : t("report.unknown"));
  fact("report.home", hours(r.home_s));
  fact("report.work", hours(r.work_s));
  fact("report.elsewhere", hours(r.elsewhere_s));
  fact("report.moving", hours(r.moving_s));
  fact("report.unseen", hours(r.unseen_s));
  fact("report.distance", t("report.km", { km: fmt.number(Math.round(r.distance_m / 100) / 10) }));
  fact("report.fixes", fmt.number(r.fixes));
  out.push(facts);
  if (!r.home) out.push(el("p", "small", t("report.noHome")));
  else if (r.inferred_home_from_registered_m != null && r.inferred_home_from_registered_m > 300) {
    out.push(el("p", "report-warning", t("report.homeMismatch", {
      m: fmt.number(Math.round(r.inferred_home_from_registered_m)) })));
  }
  out.push(el("h3", null, t("report.visits")));
  out.push(table([t("report.from"), t("report.to"), t("report.minutes"), t("report.where")],
    r.visits.map((v) => [clock(v.start, tz), clock(v.end, tz),
                         fmt.number(Math.round(v.duration_s / 60)),
                         t(`report.place.${v.place}`)])));
  out.push(el("h3", null, t("report.gaps")));
  out.push(el("p", "small", t("report.gapsNote")));
  out.push(table([t("report.from"), t("report.to"), t("report.minutes"), t("report.cause")],
    r.gaps.map((g) => [clock(g.start, tz), clock(g.end, tz),
                       fmt.number(Math.round((g.end - g.start) / 60)),
                       t(`report.gap.${g.cause}`)])));
  out.push(el("h3", null, t("report.alerts")));
  out.push(table([t("report.from"), t("report.kind"), t("report.status"), t("report.cause"),
                  t("report.outcome"), t("report.note")],
    r.alerts.map((a) => [clock(a.started_at, tz), kindLabel(a.kind), t(`status.${a.status}`),
                         a.cause || "–", a.outcome || "–", a.note || ""])));
  out.push(el("h3", null, t("report.checkIns")));
  out.push(table([t("report.requested"), t("report.answered"), t("report.status"),
                  t("report.fromHome")],
    r.check_ins.map((c) => [clock(c.requested_at, tz),
                            c.answered_at ? clock(c.answered_at, tz) : "–",
                            t(`report.checkIn.${c.status}`),
                            c.home_distance_m == null ? "–"
                              : `${fmt.number(Math.round(c.home_distance_m))} m`])));
  byId("report-body").replaceChildren(...out);
}

async function loadBulletin(id, month) {
  shown = { kind: "month", id, day: month, report: null };
  const body = byId("report-body");
  body.replaceChildren(el("p", null, "…"));
  try {
    const b = await api(`/api/v1/jurisdictions/${encodeURIComponent(id)}/bulletin`
                        + `?month=${encodeURIComponent(month)}`);
    if (!shown || shown.kind !== "month" || shown.id !== id || shown.day !== month) return;
    shown.report = b;
    renderBulletin(b);
  } catch (err) {
    body.replaceChildren(el("p", "form-error", `${t("report.failed")}: ${err.message}`));
  }
}

const minutes = (s) => (s == null ? "–" : fmt.number(Math.round(s / 6) / 10));

function renderBulletin(b) {
  const out = [];
  out.push(el("h2", "report-title", `${t("bulletin.title")} · ${b.jurisdiction.name}`));
  out.push(el("p", "small", t("report.dayOf", { day: b.month, tz: b.timezone })
    + (b.complete ? "" : ` · ${t("bulletin.incomplete")}`)));
  const k = b.kpis;
  const facts = el("dl", "report-facts");
  const fact = (key, v) => { facts.append(el("dt", null, t(key)), el("dd", null, v)); };
  fact("bulletin.people", fmt.number(k.people.total));
  fact("bulletin.alerts", fmt.number(k.alerts.raised));
  fact("bulletin.escalated", fmt.number(k.alerts.escalated));
  fact("bulletin.response", minutes(k.alerts.median_response_s));
  fact("bulletin.ordersInForce", fmt.number(b.orders.in_force));
  fact("bulletin.ordersMade", `${fmt.number(b.orders.made)} / ${fmt.number(b.orders.renewed)}`
       + ` / ${fmt.number(b.orders.removed)}`);
  out.push(facts);
  const row = (name, f) => [name, fmt.number(f.people.total), fmt.number(f.people.strict),
    fmt.number(f.people.normal), fmt.number(f.people.relaxed), fmt.number(f.people.other),
    fmt.number(f.alerts.raised),
    fmt.number(f.alerts.open), fmt.number(f.alerts.closed), minutes(f.alerts.median_response_s),
    fmt.number(f.orders.in_force)];
  out.push(el("h3", null, t("bulletin.regions")));
  out.push(table([t("bulletin.region"), t("bulletin.people"), t("bulletin.strict"),
                  t("bulletin.normal"), t("bulletin.relaxed"), t("bulletin.other"),
                  t("bulletin.alerts"),
                  t("bulletin.alertsOpen"), t("bulletin.alertsClosed"), t("bulletin.response"),
                  t("bulletin.ordersInForce")],
    [...b.regions.map((r) => row(r.name, r)), row(t("bulletin.total"), k)]));
  out.push(el("h3", null, t("bulletin.byKind")));
  out.push(table([t("report.kind"), t("bulletin.alerts")],
    Object.entries(b.alerts_by_kind).map(([kind, n]) => [kindLabel(kind), fmt.number(n)])));
  const lang = locale() === "zh-CN" ? "zh-CN" : "en";
  for (const [heading, list] of [["bulletin.byCause", b.alerts_by_cause],
                                 ["bulletin.byOutcome", b.alerts_by_outcome]]) {
    out.push(el("h3", null, t(heading)));
    out.push(table([t(heading === "bulletin.byCause" ? "report.cause" : "report.outcome"),
                    t("bulletin.alerts")],
      list.map((c) => [c.labels[lang] || c.code, fmt.number(c.alerts)])));
  }
  byId("report-body").replaceChildren(...out);
}
