//! The HTML report: one self-contained file (inline CSS and script, the report's JSON inside)
//! that opens with no network. Its script draws the charts as SVG from the embedded JSON.

use crate::Report;

/// Renders a report as a self-contained HTML page.
pub fn render(report: &Report) -> String {
    let json = serde_json::to_string(report).expect("a report always serializes");
    // Inside a <script> element only `</` can end it early.
    let json = json.replace("</", "<\\/");
    let title = escape(&report.scenario);
    PAGE.replace("{{TITLE}}", &title)
        .replace("{{REPORT}}", &json)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Rallypoint bots: {{TITLE}}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fafbfc; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 15px; margin: 24px 0 8px; }
  .muted { color: #667; }
  table { border-collapse: collapse; background: #fff; }
  td, th { padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .pass { color: #17803d; font-weight: 600; }
  .fail { color: #c0262d; font-weight: 600; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
  figure { margin: 0; background: #fff; border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 12px; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  .legend span { margin-right: 12px; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
</style>
</head>
<body>
<h1>Rallypoint bots: <span id="name">{{TITLE}}</span></h1>
<div class="muted" id="overview"></div>
<h2>Thresholds</h2>
<div id="thresholds"></div>
<h2>Over time</h2>
<div class="charts" id="charts"></div>
<h2>Summary</h2>
<div id="summary"></div>
<script type="application/json" id="report">{{REPORT}}</script>
<script>
"use strict";
const report = JSON.parse(document.getElementById("report").textContent);
const colors = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626"];
const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

document.getElementById("overview").textContent =
  `${report.players} bots, ${fmt(report.duration_s)} s, ${report.matches_completed} matches, ` +
  `bots' CPU ${fmt(report.bots_cpu_seconds)} s`;

// Thresholds.
const th = document.getElementById("thresholds");
if (report.thresholds.length === 0) {
  th.append(el("p", { class: "muted" }, "none set"));
} else {
  const t = el("table");
  t.append(row(["threshold", "actual", "result"], "th"));
  for (const v of report.thresholds) {
    const r = row([v.threshold, v.actual === null ? "no such metric" : fmt(v.actual), ""]);
    r.lastChild.append(el("span", { class: v.passed ? "pass" : "fail" }, v.passed ? "pass" : "FAIL"));
    t.append(r);
  }
  th.append(t);
}

function row(cells, tag = "td") {
  const r = el("tr");
  for (const c of cells) r.append(el(tag, typeof c === "number" ? { class: "num" } : {}, typeof c === "number" ? fmt(c) : c));
  return r;
}

// A line chart of some series over the timeline.
function chart(title, series) {
  const W = 460, H = 180, L = 44, B = 22, T = 8, R = 8;
  const points = report.timeline;
  const fig = el("figure");
  fig.append(el("figcaption", {}, title));
  const svg = svgEl("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-series": series.length });
  const tMax = Math.max(1, ...points.map((p) => p.t_s));
  let yMax = 0;
  for (const s of series) points.forEach((p, i) => { yMax = Math.max(yMax, s.value(p, i) || 0); });
  yMax = yMax > 0 ? yMax * 1.1 : 1;
  const x = (t) => L + (t / tMax) * (W - L - R);
  const y = (v) => H - B - (v / yMax) * (H - B - T);
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#99a" }));
  svg.append(svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#99a" }));
  for (const frac of [0, 0.5, 1]) {
    const label = svgEl("text", { x: L - 4, y: y(yMax * frac / 1.1) + 4, "text-anchor": "end", "font-size": 10, fill: "#667" });
    label.textContent = fmt(Math.round(yMax * frac / 1.1 * 10) / 10);
    svg.append(label);
  }
  const xl = svgEl("text", { x: W - R, y: H - 6, "text-anchor": "end", "font-size": 10, fill: "#667" });
  xl.textContent = `${fmt(Math.round(tMax))} s`;
  svg.append(xl);
  const legend = el("div", { class: "legend" });
  series.forEach((s, i) => {
    const pts = points.map((p, i) => `${x(p.t_s).toFixed(1)},${y(s.value(p, i) || 0).toFixed(1)}`).join(" ");
    svg.append(svgEl("polyline", { points: pts, fill: "none", stroke: colors[i % colors.length], "stroke-width": 1.6, "data-name": s.name }));
    const item = el("span");
    item.append(el("i", { style: `background:${colors[i % colors.length]}` }), document.createTextNode(s.name));
    legend.append(item);
  });
  fig.append(svg, legend);
  return fig;
}

const charts = document.getElementById("charts");
charts.append(
  chart("Concurrency (bots)", [
    { name: "target", value: (p) => p.target },
    { name: "playing", value: (p) => p.playing },
    { name: "queued", value: (p) => p.queued },
  ]),
  chart("Latency p99 per second (ms)", [
    { name: "RTT", value: (p) => p.rtt_p99_ms },
    { name: "time to match", value: (p) => p.time_to_match_p99_ms },
  ]),
  chart("Errors and matches (cumulative)", [
    { name: "errors", value: (p) => p.errors },
    { name: "matches completed", value: (p) => p.matches_completed },
  ]),
);
if (report.timeline.some((p) => p.server)) {
  charts.append(
    chart("Server: players and worst tick p99 (ms)", [
      { name: "players", value: (p) => p.server && p.server.players },
      { name: "tick p99 ms", value: (p) => p.server && p.server.tick_p99_us / 1000 },
    ]),
    chart("Server: memory (MB) and CPU (% of one core)", [
      { name: "resident MB", value: (p) => p.server && p.server.rss_bytes / 1e6 },
      {
        name: "CPU, % of one core",
        value: (p, i) => {
          const prev = report.timeline[i - 1];
          if (!p.server || !prev || !prev.server) return 0;
          return ((p.server.cpu_ms - prev.server.cpu_ms) / 1000 / (p.t_s - prev.t_s)) * 100;
        },
      },
    ]),
  );
}

// Summary: every latency block and counter.
const summary = el("table");
summary.append(row(["metric", "count", "p50", "p99", "max"], "th"));
for (const [k, v] of Object.entries(report)) {
  if (v && typeof v === "object" && "p99" in v) summary.append(row([k, v.count, v.p50, v.p99, v.max]));
}
for (const [k, v] of Object.entries(report)) {
  if (typeof v === "number") summary.append(row([k, "", "", "", v]));
}
for (const [k, v] of Object.entries(report.errors)) summary.append(row([`errors.${k}`, "", "", "", v]));
for (const [k, v] of Object.entries(report.game_counts || {})) summary.append(row([`game_counts.${k}`, "", "", "", v]));
document.getElementById("summary").append(summary);
</script>
</body>
</html>
"##;
