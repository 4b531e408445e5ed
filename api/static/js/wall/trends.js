// The week's trend: alerts raised per day, one stacked bar per kind (ECharts, canvas).

import { kindLabel, locale } from "../i18n.js";
import { FONT } from "./map.js";

const echarts = window.echarts;
const rem = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;

export class Trends {
  constructor(element) {
    this.chart = echarts.init(element, "dark", { renderer: "canvas" });
  }

  resize() { this.chart.resize(); }

  show(trends) {
    const size = rem();
    const day = new Intl.DateTimeFormat(locale(), { month: "numeric", day: "numeric",
                                                   timeZone: "UTC" });
    const kinds = Object.keys(trends.kinds);
    this.chart.setOption({
      backgroundColor: "transparent",
      animation: false,  // a wall redraws often: no motion, no half-drawn screenshot
      textStyle: { fontFamily: FONT, fontSize: size * 0.8 },
      grid: { left: size * 2.5, right: size, top: size * 2.2, bottom: size * 1.6 },
      legend: { top: 0, type: "scroll", textStyle: { color: "#dbe7ff", fontSize: size * 0.75 },
                itemWidth: size, itemHeight: size * 0.6 },
      tooltip: { trigger: "axis", renderMode: "richText" },
      xAxis: { type: "category",
               data: trends.days.map((d) => day.format(new Date(`${d}T12:00:00Z`))),
               axisLabel: { color: "#8fa3c8", fontSize: size * 0.75 } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: "#8fa3c8", fontSize: size * 0.75 },
               splitLine: { lineStyle: { color: "#1a3566" } } },
      series: kinds.map((k) => ({ name: kindLabel(k), type: "bar", stack: "all",
                                  data: trends.kinds[k], barWidth: "55%" })),
    }, true);
  }
}
