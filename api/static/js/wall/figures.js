// The KPI cards: every element marked data-figure="<path in kpis>" shows that figure (its
// raw value kept in data-value, for tests and the benchmark).

import { fmt, t } from "../i18n.js";

const at = (obj, path) => path.split(".").reduce((o, k) => (o == null ? o : o[k]), obj);

export function duration(seconds) {
  if (seconds == null) return t("wall.none");
  if (seconds < 60) return t("wall.seconds", { n: fmt.number(Math.round(seconds)) });
  return t("wall.minutes", { n: fmt.number(Math.round(seconds / 6) / 10) });
}

export function showFigures(kpis, root = document) {
  for (const node of root.querySelectorAll("[data-figure]")) {
    const value = at(kpis, node.dataset.figure);
    node.dataset.value = value == null ? "" : String(value);
    node.textContent = node.dataset.format === "duration" ? duration(value) : fmt.number(value);
  }
}
