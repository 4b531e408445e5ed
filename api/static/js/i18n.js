// The console's languages: catalogues of every string (i18n/en.js, i18n/zh-CN.js), the chosen
// one remembered in this browser, dates and numbers through Intl in that locale.

import en from "./i18n/en.js";
import zhCN from "./i18n/zh-CN.js";

export const catalogues = { en, "zh-CN": zhCN };
export const LOCALES = [["zh-CN", "中文"], ["en", "English"]];
const KEY = "cordon.locale";

function preferred() {
  const kept = localStorage.getItem(KEY);
  if (kept && catalogues[kept]) return kept;
  for (const l of navigator.languages || [navigator.language]) {
    if (/^zh\b/i.test(l)) return "zh-CN";
    if (/^en\b/i.test(l)) return "en";
  }
  return "en";
}

let current = preferred();
const listeners = [];

export const locale = () => current;

// The string of ``key`` in the current language, with {name} filled from ``vars``.
export function t(key, vars) {
  const s = catalogues[current][key] ?? en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

export const kindLabel = (kind) => (`kind.${kind}` in en ? t(`kind.${kind}`) : kind);

// Fill every element marked data-i18n (text), data-i18n-placeholder, data-i18n-title.
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) {
    node.title = t(node.dataset.i18nTitle);
  }
  document.title = t("app.title");
  document.documentElement.lang = current;
}

export function setLocale(l) {
  if (!catalogues[l]) return;
  current = l;
  localStorage.setItem(KEY, l);
  cache.clear();
  translate();
  for (const f of listeners) f(l);
}

export const onLocale = (f) => listeners.push(f);

const cache = new Map();
function formatter(name, make) {
  if (!cache.has(name)) cache.set(name, make(current));
  return cache.get(name);
}

export const fmt = {
  number: (n) => (n == null ? "–" : formatter("n", (l) => new Intl.NumberFormat(l)).format(n)),
  percent: (p) => formatter("p", (l) => new Intl.NumberFormat(l, {
    style: "percent", maximumFractionDigits: 0 })).format(p / 100),
  time: (epoch) => formatter("t", (l) => new Intl.DateTimeFormat(l, {
    hour: "2-digit", minute: "2-digit", second: "2-digit" })).format(epoch * 1000),
  dateTime: (epoch) => formatter("dt", (l) => new Intl.DateTimeFormat(l, {
    dateStyle: "short", timeStyle: "medium" })).format(epoch * 1000),
  // A replay's clock: the date and a 24-hour time to the second.
  playhead: (epoch) => formatter("ph", (l) => new Intl.DateTimeFormat(l, {
    dateStyle: "medium", timeStyle: "medium", hourCycle: "h23" })).format(epoch * 1000),
  // "5 minutes ago" / "5分钟前"
  ago(seconds) {
    const rtf = formatter("r", (l) => new Intl.RelativeTimeFormat(l, { numeric: "always" }));
    const s = Math.max(0, seconds);
    if (s < 60) return rtf.format(-Math.floor(s), "second");
    if (s < 3600) return rtf.format(-Math.floor(s / 60), "minute");
    if (s < 86400) return rtf.format(-Math.floor(s / 3600), "hour");
    return rtf.format(-Math.floor(s / 86400), "day");
  },
  // A countdown, m:ss or h:mm:ss.
  clock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  },
};
