// charts.js -- the hotline statistics' small charts, drawn as inline SVG
// (no chart library): a bar chart of labelled values.  Every chart carries
// a <title> and role="img" with an aria-label so it reads without sight.

import { s } from './util.js';

// bars: [{label, value, text}]; max: the value of a full bar (default: the
// largest value).  Values may be null (drawn as an empty slot, "–").
export function barChart(title, bars, opts = {}) {
  const w = opts.width || 260, bh = 16, gap = 6, lw = opts.labelWidth || 90;
  const hgt = bars.length * (bh + gap) + 22;
  const max = opts.max || Math.max(1, ...bars.map((b) => b.value || 0));
  const svg = s('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img',
    'aria-label': title + ': ' + bars.map((b) => `${b.label} ${b.text ?? '–'}`).join(', '),
    class: 'chart' }, s('title', {}, title));
  svg.append(s('text', { x: 0, y: 12, class: 'ct' }, title));
  bars.forEach((b, i) => {
    const y = 20 + i * (bh + gap);
    const bw = b.value == null ? 0 : Math.max(1, ((w - lw - 50) * b.value) / max);
    svg.append(s('text', { x: 0, y: y + 12, class: 'cl' }, b.label));
    svg.append(s('rect', { x: lw, y, width: w - lw - 50, height: bh, class: 'cbg' }));
    svg.append(s('rect', { x: lw, y, width: bw, height: bh, class: 'cbar' }));
    svg.append(s('text', { x: w - 45, y: y + 12, class: 'cv' }, b.text ?? '–'));
  });
  return svg;
}

// columns: [{label, value}] as vertical bars (calls per week).
export function columnChart(title, cols, opts = {}) {
  const w = opts.width || 260, hgt = 110, base = 90;
  const max = Math.max(1, ...cols.map((c) => c.value));
  const cw = cols.length ? Math.min(30, (w - 10) / cols.length - 4) : 0;
  const svg = s('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img',
    'aria-label': title + ': ' + cols.map((c) => `${c.label} ${c.value}`).join(', '), class: 'chart' },
    s('title', {}, title));
  svg.append(s('text', { x: 0, y: 12, class: 'ct' }, title));
  svg.append(s('line', { x1: 0, x2: w, y1: base, y2: base, class: 'axis' }));
  cols.forEach((c, i) => {
    const x = 5 + i * (cw + 4), ch = ((base - 24) * c.value) / max;
    svg.append(s('rect', { x, y: base - ch, width: cw, height: ch, class: 'cbar' }));
    svg.append(s('text', { x: x + cw / 2, y: base - ch - 2, class: 'cv', 'text-anchor': 'middle' }, c.value));
    svg.append(s('text', { x: x + cw / 2, y: base + 14, class: 'cl', 'text-anchor': 'middle' }, c.label));
  });
  return svg;
}
