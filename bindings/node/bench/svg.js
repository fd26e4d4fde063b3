'use strict';
// A grouped bar chart of median throughput per pattern and implementation, as plain SVG
// (no dependencies). Log scale: the implementations span two orders of magnitude.

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function svgChart(summary, patterns, impls, labels) {
  const values = [];
  for (const p of patterns) for (const i of impls) {
    const v = summary.rows[p].median[i];
    if (Number.isFinite(v) && v > 0) values.push(v);
  }
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 100))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1000))));
  const W = 960;
  const H = 460;
  const m = { l: 70, r: 20, t: 40, b: 110 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const y = (v) => m.t + ph - (Math.log10(v / lo) / Math.log10(hi / lo)) * ph;
  const gw = pw / patterns.length;
  const bw = (gw * 0.8) / impls.length;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">Node throughput, tcp, median Kmsg/s (log scale)</text>`);
  for (let v = lo; v <= hi; v *= 10) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  }
  patterns.forEach((p, gi) => {
    const x0 = m.l + gi * gw + gw * 0.1;
    impls.forEach((impl, ii) => {
      const v = summary.rows[p].median[impl];
      if (!(Number.isFinite(v) && v > 0)) return;
      const x = x0 + ii * bw;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(m.t + ph - y(v)).toFixed(1)}" fill="${COLORS[ii % COLORS.length]}"><title>${esc(`${p} ${labels[impl]}: ${v.toFixed(1)} Kmsg/s`)}</title></rect>`);
    });
    const seed = summary.rows[p].seed_node;
    if (Number.isFinite(seed)) {
      out.push(`<line x1="${(x0 - 2).toFixed(1)}" x2="${(x0 + impls.length * bw).toFixed(1)}" y1="${y(seed).toFixed(1)}" y2="${y(seed).toFixed(1)}" stroke="#000" stroke-dasharray="4 3"><title>${esc(`${p} seed Node: ${seed} Kmsg/s`)}</title></line>`);
    }
    out.push(`<text x="${(x0 + (impls.length * bw) / 2).toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(p)}</text>`);
  });
  const legend = impls.map((impl, i) => [labels[impl], COLORS[i % COLORS.length]]);
  legend.push(['seed Node (dashed)', '#000']);
  legend.forEach(([name, color], i) => {
    const x = m.l + (i % 3) * 260;
    const ly = H - 60 + Math.floor(i / 3) * 20;
    out.push(`<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${color}"/><text x="${x + 18}" y="${ly}">${esc(name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

module.exports = { svgChart };
