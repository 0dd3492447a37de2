// chart.js - small inline SVG charts: grouped bars and lines over a time axis.
//
// Each chart is a <figure>: a caption, the SVG (role="img" with a title and
// a one-line summary as its accessible name and description), a legend, and
// the numbers as a real table in a <details>, so nothing is only visual.
// Colours come from the stylesheet (.series-N), so they follow the theme.

import { h, s, id } from "./dom.js";

const W = 360;
const H = 170;
const PAD = { top: 10, right: 8, bottom: 22, left: 28 };

// A round number >= v for the top of the y axis.
function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(labels, max) {
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const g = s("g", { class: "axes", "aria-hidden": "true" });
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + ih - f * ih;
    g.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: f ? "grid" : "axis" }));
    g.append(s("text", { x: PAD.left - 4, y: y + 4, class: "tick", "text-anchor": "end" }, String(Math.round(max * f * 10) / 10)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 6));
  const step = iw / labels.length;
  labels.forEach((l, i) => {
    if (i % every) return;
    g.append(s("text", { x: PAD.left + step * (i + 0.5), y: H - 6, class: "tick", "text-anchor": "middle" }, l));
  });
  return { g, iw, ih, step };
}

function figure(opts, svgBody, summary) {
  const tid = id("ct");
  const did = id("cd");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": tid, "aria-describedby": did, class: "chart-svg", focusable: "false" },
    s("title", { id: tid }, opts.title), s("desc", { id: did }, summary), svgBody);
  const legend = opts.series.length > 1 ? h("ul", { class: "legend" }, opts.series.map((x, i) =>
    h("li", null, h("span", { class: ["swatch", `series-${i}`], "aria-hidden": "true" }), x.name))) : null;
  const rows = opts.labels.map((l, i) => h("tr", null, h("th", { scope: "row" }, opts.longLabels ? opts.longLabels[i] : l),
    opts.series.map((x) => h("td", null, String(x.values[i])))));
  const data = h("details", { class: "chart-data" }, h("summary", null, "Show the numbers"),
    h("div", { class: "table-wrap", role: "region", "aria-label": `${opts.title}: data`, tabindex: "0" },
      h("table", { class: "table" }, h("caption", { class: "visually-hidden" }, opts.title),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, opts.axisLabel || "Time"),
          opts.series.map((x) => h("th", { scope: "col" }, x.name)))),
        h("tbody", null, rows))));
  return h("figure", { class: "chart" }, h("figcaption", null, opts.title), svg, legend, opts.note && h("p", { class: "hint" }, opts.note), data);
}

function summarize(opts) {
  return opts.series.map((x) => {
    const total = x.values.reduce((a, b) => a + b, 0);
    const peak = Math.max(0, ...x.values);
    const at = x.values.indexOf(peak);
    return `${x.name}: ${total} in total${peak ? `, at most ${peak} (${(opts.longLabels || opts.labels)[at]})` : ""}.`;
  }).join(" ");
}

// Grouped bars. opts: {title, labels: [...], longLabels?, series: [{name,
// values}], axisLabel?, note?}.
export function barChart(opts) {
  const max = niceMax(Math.max(0, ...opts.series.flatMap((x) => x.values)));
  const { g, ih, step } = frame(opts.labels, max);
  const n = opts.series.length;
  const bw = Math.max(1, (step * 0.8) / n);
  const bars = s("g", null);
  opts.series.forEach((x, si) => {
    x.values.forEach((v, i) => {
      if (!v) return;
      const bh = (v / max) * ih;
      bars.append(s("rect", { x: PAD.left + step * i + step * 0.1 + bw * si, y: PAD.top + ih - bh, width: bw, height: bh, class: `series-${si}` },
        s("title", null, `${(opts.longLabels || opts.labels)[i]} — ${x.name}: ${v}`)));
    });
  });
  return figure(opts, [g, bars], summarize(opts));
}

// Lines (with a light area under the first series). Same options.
export function lineChart(opts) {
  const max = niceMax(Math.max(0, ...opts.series.flatMap((x) => x.values)));
  const { g, ih, step } = frame(opts.labels, max);
  const body = [g];
  opts.series.forEach((x, si) => {
    const pts = x.values.map((v, i) => [PAD.left + step * (i + 0.5), PAD.top + ih - (v / max) * ih]);
    const d = pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
    if (si === 0 && pts.length) {
      body.push(s("path", { d: `${d} L${pts[pts.length - 1][0].toFixed(1)},${PAD.top + ih} L${pts[0][0].toFixed(1)},${PAD.top + ih} Z`, class: `area series-${si}` }));
    }
    body.push(s("path", { d, class: `line series-${si}` }));
    pts.forEach(([px, py], i) => body.push(s("circle", { cx: px, cy: py, r: 2.5, class: `dot series-${si}` },
      s("title", null, `${(opts.longLabels || opts.labels)[i]} — ${x.name}: ${x.values[i]}`))));
  });
  return figure(opts, body, summarize(opts));
}

// Counts timestamps into buckets: returns {labels, longLabels, index(ms)}
// for the last n hours (unit "hour") or days (unit "day") ending now.
export function buckets(n, unit, now = Date.now()) {
  const size = unit === "hour" ? 3600e3 : 86400e3;
  const end = unit === "hour" ? Math.floor(now / size) * size + size : startOfDay(now) + size;
  const start = end - n * size;
  const labels = [];
  const longLabels = [];
  const hf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const df = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const lf = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: unit === "hour" ? "short" : undefined });
  for (let i = 0; i < n; i++) {
    const t = new Date(start + i * size);
    labels.push(unit === "hour" ? hf.format(t) : df.format(t));
    longLabels.push(lf.format(t));
  }
  return {
    labels, longLabels, start, end, size,
    index(ms) {
      if (ms < start || ms >= end) return -1;
      return Math.floor((ms - start) / size);
    },
    count(times) {
      const out = new Array(n).fill(0);
      for (const t of times) {
        const i = this.index(t);
        if (i >= 0) out[i] += 1;
      }
      return out;
    },
  };
}

function startOfDay(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
