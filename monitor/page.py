"""The dashboard page: one self-contained HTML document whose script draws everything.

The state JSON (the same object ``/api/v1/state`` serves) is inlined in the page, so the first
paint needs no request and a page saved to disk still shows the swarm; the script then re-fetches
``/api/v1/state`` every refresh period and redraws. One renderer (the script) keeps the first
paint and the live updates identical. Everything a node announced (names, versions) is untrusted
and escaped before it reaches the DOM.

The block map is an inline SVG: a coverage strip (online nodes per block; red = none, amber =
one), one bar per node over blocks 0..L-1 colored by state, red bands over uncovered blocks, and
GCA's first chains as segmented bars. Each node's bar and table row carry ``data-peer-id``.
"""

from __future__ import annotations

import json
from typing import Any

_TEMPLATE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chainswarm health</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 12px 24px; display: flex; align-items: baseline; gap: 16px; }
  header h1 { font-size: 20px; margin: 0; }
  header .meta { color: #aab3c5; font-size: 13px; }
  main { padding: 16px 24px; }
  section.model { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 16px 20px; margin-bottom: 18px; }
  h2 { font-size: 18px; margin: 0 0 8px 0; display: flex; align-items: center; gap: 10px; }
  h3 { font-size: 14px; margin: 16px 0 6px 0; color: #485166; text-transform: uppercase; letter-spacing: .04em; }
  .badge { font-size: 12px; padding: 3px 8px; border-radius: 10px; color: #fff; font-weight: 600; }
  .badge.healthy { background: #2e9d5b; } .badge.broken { background: #d64545; }
  .status { font-size: 14px; color: #485166; margin-bottom: 10px; }
  .cards { display: flex; flex-wrap: wrap; gap: 10px; }
  .card { background: #f4f5f7; border-radius: 6px; padding: 8px 12px; min-width: 110px; }
  .card .v { font-size: 18px; font-weight: 600; } .card .k { font-size: 12px; color: #6b7487; }
  table { border-collapse: collapse; font-size: 13px; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6e8ee; white-space: nowrap; }
  th { color: #6b7487; font-weight: 600; }
  td.mono, span.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
  .state { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; }
  svg text { font-family: system-ui, sans-serif; }
  .note { font-size: 12px; color: #6b7487; margin-top: 8px; }
  ul.events { list-style: none; padding: 0; margin: 0; font-size: 13px; }
  ul.events li { padding: 3px 0; border-bottom: 1px solid #eef0f4; }
  .kind { display: inline-block; min-width: 70px; font-weight: 600; }
  #error { color: #d64545; }
</style>
</head>
<body>
<header><h1>chainswarm swarm health</h1><span class="meta" id="meta"></span><span class="meta" id="error"></span></header>
<main><div id="models"></div>
<section class="model" id="events-section"><h3>Recent events</h3><ul class="events" id="events"></ul></section></main>
<script id="initial-state" type="application/json">__STATE__</script>
<script>
"use strict";
const REFRESH_MS = __REFRESH_MS__;
const COLORS = {online: "#2e9d5b", joining: "#e8a33d", draining: "#8a63d2", offline: "#9aa1ad"};
const CHAIN_COLORS = ["#3b7dd8", "#6fa8ee"];

function esc(value) {
  return String(value).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function short(peer) { return peer.length > 8 ? "\u2026" + peer.slice(-8) : peer; }
function label(node) { return node.public_name || short(node.peer_id); }
function num(v, digits = 4) { return v === null ? "\u221e" : Number(v).toPrecision(digits).replace(/\.?0+(e|$)/, "$1"); }
function secs(v) { return v === null ? "unbounded" : num(v) + " s"; }
function pct(v) { return v === null ? "\u221e" : (100 * v).toFixed(1) + "%"; }
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return num(n, 3) + " " + units[i];
}
function ranges(blocks) {
  const out = []; let run = [];
  for (const b of blocks) { if (run.length && b !== run[run.length - 1] + 1) { out.push(run); run = []; } run.push(b); }
  if (run.length) out.push(run);
  return out.map(r => r.length === 1 ? String(r[0]) : r[0] + "\u2013" + r[r.length - 1]).join(", ");
}

function blockMap(m) {
  const W = 1180, X0 = 170, ROW = 22, GAP = 6, L = Math.max(m.num_blocks, 1);
  const bw = (W - X0 - 10) / L, x = b => X0 + b * bw;
  const chains = m.chains.slice(0, 8);
  const nodesTop = 30 + ROW + 14;
  const chainsTop = nodesTop + m.nodes.length * (ROW + GAP) + (chains.length ? 22 : 0);
  const H = chainsTop + chains.length * (ROW + GAP) + 6;
  const step = Math.max(1, Math.ceil(36 / bw));
  const parts = [`<svg class="blockmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="block map">`];
  for (let b = 0; b < m.num_blocks; b += step)
    parts.push(`<text x="${x(b) + bw / 2}" y="14" font-size="11" text-anchor="middle" fill="#6b7487">${b}</text>`);
  parts.push(`<text x="0" y="${30 + 15}" font-size="12" fill="#485166">coverage</text>`);
  m.coverage.forEach((c, b) => {
    const fill = c === 0 ? "#d64545" : c === 1 ? "#e8a33d" : "#2e9d5b";
    parts.push(`<rect class="cover" data-block="${b}" data-count="${c}" x="${x(b) + 0.5}" y="30" width="${Math.max(bw - 1, 0.5)}" height="${ROW}" fill="${fill}" opacity="${c >= 2 ? 0.55 + Math.min(c, 5) * 0.09 : 1}"><title>block ${b}: ${c} online node(s)</title></rect>`);
    if (bw >= 14) parts.push(`<text x="${x(b) + bw / 2}" y="${30 + 15}" font-size="11" text-anchor="middle" fill="#fff">${c}</text>`);
  });
  if (m.nodes.length)
    for (const b of m.uncovered)
      parts.push(`<rect x="${x(b)}" y="${nodesTop - 4}" width="${bw}" height="${m.nodes.length * (ROW + GAP) + 2}" fill="#d64545" opacity="0.12"/>`);
  m.nodes.forEach((n, i) => {
    const y = nodesTop + i * (ROW + GAP), color = COLORS[n.state] || "#555";
    const tip = `${label(n)} ${n.peer_id}\n${n.state} blocks [${n.start}, ${n.end})\nslots ${n.cache_slots_free}/${n.cache_slots_total} free, c=${n.c_reserved}`;
    parts.push(`<g class="node" data-peer-id="${esc(n.peer_id)}" data-state="${esc(n.state)}"><title>${esc(tip)}</title>`);
    parts.push(`<text x="0" y="${y + 15}" font-size="12" fill="#1d2330">${esc(label(n).slice(0, 22))}</text>`);
    parts.push(`<rect x="${X0}" y="${y}" width="${W - X0 - 10}" height="${ROW}" fill="#eef0f4" rx="3"/>`);
    const w = (Math.min(n.end, L) - n.start) * bw;
    parts.push(`<rect class="span" x="${x(n.start) + 1}" y="${y}" width="${Math.max(w - 2, 1)}" height="${ROW}" fill="${color}" rx="3"/>`);
    if (w > 90) parts.push(`<text x="${x(n.start) + 8}" y="${y + 15}" font-size="11" fill="#fff">[${n.start}, ${n.end}) \u00b7 ${n.cache_slots_free}/${n.cache_slots_total} slots free</text>`);
    parts.push(`</g>`);
  });
  if (chains.length) parts.push(`<text x="0" y="${chainsTop - 8}" font-size="11" fill="#6b7487">GCA chains (fastest first)</text>`);
  chains.forEach((c, k) => {
    const y = chainsTop + k * (ROW + GAP);
    parts.push(`<g class="chain"><text x="0" y="${y + 15}" font-size="12" fill="#1d2330">#${k + 1}  c=${c.capacity}  T=${num(c.service_time_s, 3)} s</text>`);
    c.hops.forEach(([peer, s, e], h) => {
      parts.push(`<rect x="${x(s) + 1}" y="${y + 3}" width="${Math.max((e - s) * bw - 2, 1)}" height="${ROW - 6}" fill="${CHAIN_COLORS[h % 2]}" rx="2"><title>${esc(short(peer))} blocks [${s}, ${e})</title></rect>`);
      if ((e - s) * bw > 70) parts.push(`<text x="${x(s) + 6}" y="${y + 15}" font-size="10" fill="#fff">${esc(short(peer))}</text>`);
    });
    parts.push(`</g>`);
  });
  parts.push(`</svg>`);
  return parts.join("");
}

function card(k, v) { return `<div class="card"><div class="v">${v}</div><div class="k">${k}</div></div>`; }

function status(m) {
  if (m.num_blocks === 0) return "No node of this model is announced.";
  if (m.uncovered.length) return `Blocks ${ranges(m.uncovered)} have no online node: the model cannot be served.`;
  let s = "Every block has an online node.";
  if (m.covered_once.length) s += ` Blocks ${ranges(m.covered_once)} have only one.`;
  return s;
}

function nodeTable(m) {
  const head = "<tr><th>peer</th><th>name</th><th>state</th><th>blocks</th><th>memory</th><th>slots free/total</th><th>c</th><th>\u03c4<sup>p</sup> s/block</th><th>tok/s</th><th>device</th><th>version</th><th>age</th></tr>";
  const rows = m.nodes.map(n => `<tr data-peer-id="${esc(n.peer_id)}"><td class="mono" title="${esc(n.peer_id)}">${esc(short(n.peer_id))}</td><td>${esc(n.public_name || "\u2013")}</td>` +
    `<td><span class="state" style="background:${COLORS[n.state] || "#555"}"></span>${esc(n.state)}</td><td>[${n.start}, ${n.end})</td><td>${bytes(n.memory_bytes)}</td>` +
    `<td>${n.cache_slots_free}/${n.cache_slots_total}</td><td>${n.c_reserved}</td><td>${num(n.block_time_s)}</td><td>${num(n.tokens_per_s, 3)}</td>` +
    `<td>${esc(n.device)} ${esc(n.dtype)}</td><td>${esc(n.version || "\u2013")}</td><td>${n.record_age_s.toFixed(1)} s</td></tr>`);
  return `<table class="nodes">${head}${rows.join("")}</table>`;
}

function chainTable(m) {
  if (!m.chains.length) return `<p class="status">No chain: the online nodes do not cover every block.</p>`;
  const rows = m.chains.map((c, k) => `<tr><td>#${k + 1}</td><td class="mono">${c.hops.map(([p, s, e]) => `${esc(short(p))}[${s},${e})`).join(" \u2192 ")}</td>` +
    `<td>${num(c.service_time_s)} s</td><td>${c.capacity}</td><td>${num(c.service_time_s > 0 ? c.capacity / c.service_time_s : null)}</td></tr>`);
  return `<table><tr><th>chain</th><th>hops</th><th>T<sub>k</sub></th><th>c<sub>k</sub></th><th>c<sub>k</sub>/T<sub>k</sub> jobs/s</th></tr>${rows.join("")}</table>`;
}

function modelSection(m) {
  const online = m.nodes.filter(n => n.state === "online").length;
  const joining = m.nodes.filter(n => n.state === "joining").length;
  const demand = m.demand_clients ? `${m.demand_clients} client(s)` : "none announced";
  return `<section class="model" data-model="${esc(m.model)}">` +
    `<h2>${esc(m.model)} <span class="badge ${m.healthy ? "healthy" : "broken"}">${m.healthy ? "healthy" : "broken"}</span></h2>` +
    `<div class="status">${status(m)}${m.moving_peer_id ? ` Rebalancing lease: ${esc(short(m.moving_peer_id))}.` : ""}</div>` +
    `<div class="cards">${card("blocks", m.num_blocks)}${card("online / joining", `${online} / ${joining}`)}` +
    `${card("uncovered", m.uncovered.length)}${card("covered once", m.covered_once.length)}${card("chains", m.chains.length)}` +
    `${card("\u03bd service rate", num(m.service_rate, 3) + " /s")}${card("\u03bb demand (" + demand + ")", num(m.arrival_rate, 3) + " /s")}` +
    `${card("utilization \u03bb/\u03bd", pct(m.utilization))}${card("mean response (Thm 4)", secs(m.response_time_lower_s) + " \u2013 " + secs(m.response_time_upper_s))}</div>` +
    `<h3>Block map</h3>${blockMap(m)}<h3>Nodes</h3>${nodeTable(m)}<h3>Chains (GCA)</h3>${chainTable(m)}` +
    `<div class="note">${esc(m.comm_time_note)}</div></section>`;
}

function render(state) {
  const models = state.models.length ? state.models.map(modelSection).join("")
    : `<section class="model"><h2>No model announced on this swarm</h2></section>`;
  document.getElementById("models").innerHTML = models;
  document.getElementById("events").innerHTML = state.events.length
    ? state.events.map(e => `<li><span class="mono">${new Date(e.at * 1000).toLocaleTimeString()}</span> <span class="kind">${esc(e.kind)}</span> ${esc(e.model)}: ${esc(e.detail)}</li>`).join("")
    : "<li>none since the monitor started</li>";
  document.getElementById("meta").textContent = `read ${new Date(state.read_at * 1000).toLocaleTimeString()} \u00b7 refresh every ${REFRESH_MS / 1000} s`;
  document.getElementById("error").textContent = state.monitor && state.monitor.last_error ? "last read failed: " + state.monitor.last_error : "";
}

async function refresh() {
  try {
    const response = await fetch("/api/v1/state", {cache: "no-store"});
    render(await response.json());
  } catch (e) {
    document.getElementById("error").textContent = "monitor unreachable: " + e;
  }
}

render(JSON.parse(document.getElementById("initial-state").textContent));
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
"""


def render_page(state: dict[str, Any], refresh_s: float) -> str:
    """The dashboard with ``state`` inlined; ``<`` is escaped so no value can close the script."""
    state_json = json.dumps(state, allow_nan=False).replace("<", "\\u003c")
    return _TEMPLATE.replace("__REFRESH_MS__", str(int(refresh_s * 1000))).replace("__STATE__", state_json)
