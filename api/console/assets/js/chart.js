// The meter values of a session as two lines over time: power (kW, left
// axis) and energy delivered (kWh, right axis), drawn in SVG.

import { h } from './dom.js';

const W = 720, H = 280, L = 56, R = 64, T = 16, B = 36;

function scale(v) {
  const unit = (v.unit || '').toLowerCase();
  const mult = Math.pow(10, v.multiplier || 0);
  const n = Number.parseFloat(v.value) * mult;
  if (unit.startsWith('k')) return n * 1000;
  return n;
}

// series extracts power (W) and energy (Wh) points; where the charger
// sends no power, it is derived from the energy between two samples.
export function series(meterValues) {
  const power = [];
  const energy = [];
  for (const v of meterValues || []) {
    const t = new Date(v.timestamp).getTime();
    const m = v.measurand || 'Energy.Active.Import.Register';
    if (v.phase) continue;
    if (m === 'Energy.Active.Import.Register') {
      const wh = v.valueWh ?? scale(v);
      if (Number.isFinite(wh)) energy.push([t, wh]);
    } else if (m === 'Power.Active.Import') {
      const w = scale(v);
      if (Number.isFinite(w)) power.push([t, w]);
    }
  }
  energy.sort((a, b) => a[0] - b[0]);
  power.sort((a, b) => a[0] - b[0]);
  if (!power.length) {
    for (let i = 1; i < energy.length; i++) {
      const dt = (energy[i][0] - energy[i - 1][0]) / 3600000;
      if (dt > 0) power.push([energy[i][0], (energy[i][1] - energy[i - 1][1]) / dt]);
    }
  }
  const e0 = energy.length ? energy[0][1] : 0;
  return { power, energy: energy.map(([t, wh]) => [t, wh - e0]) };
}

function ticks(max, n = 4) {
  if (max <= 0) return [0];
  const step = Math.pow(10, Math.floor(Math.log10(max / n)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => max / s <= n) || step * 10;
  const out = [];
  for (let v = 0; v <= max + 1e-9; v += nice) out.push(v);
  return out;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export function chart(meterValues) {
  const { power, energy } = series(meterValues);
  const all = power.concat(energy);
  if (all.length < 2) return null;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const pMax = Math.max(1, ...power.map((p) => p[1])) / 1000 * 1.1;
  const eMax = Math.max(0.001, ...energy.map((p) => p[1])) / 1000 * 1.1;
  const x = (t) => L + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - L - R);
  const yP = (kw) => H - B - (kw / pMax) * (H - T - B);
  const yE = (kwh) => H - B - (kwh / eMax) * (H - T - B);
  const line = (pts, y) => pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v / 1000).toFixed(1)}`).join(' ');
  const pT = ticks(pMax);
  const eT = ticks(eMax);
  const xT = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
  const lastE = energy.length ? energy[energy.length - 1][1] / 1000 : 0;
  const peak = power.length ? Math.max(...power.map((p) => p[1])) / 1000 : 0;
  return h('figure', { class: 'chart' },
    h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title', id: 'session-chart' },
      h('svg:title', { id: 'chart-title' }, `Power peaking at ${peak.toFixed(1)} kW and ${lastE.toFixed(2)} kWh delivered`),
      pT.map((v) => [
        h('svg:line', { x1: L, x2: W - R, y1: yP(v), y2: yP(v), class: 'grid' }),
        h('svg:text', { x: L - 6, y: yP(v) + 4, class: 'axis power', 'text-anchor': 'end' }, v.toFixed(v < 10 ? 1 : 0)),
      ]),
      eT.map((v) => h('svg:text', { x: W - R + 6, y: yE(v) + 4, class: 'axis energy' }, v.toFixed(v < 10 ? 2 : 0))),
      xT.map((t) => h('svg:text', { x: x(t), y: H - B + 18, class: 'axis', 'text-anchor': 'middle' }, timeFmt.format(new Date(t)))),
      h('svg:text', { x: 8, y: T + 4, class: 'axis power' }, 'kW'),
      h('svg:text', { x: W - 30, y: T + 4, class: 'axis energy' }, 'kWh'),
      power.length > 1 ? h('svg:polyline', { points: line(power, yP), class: 'series power', dataset: { series: 'power' } }) : null,
      energy.length > 1 ? h('svg:polyline', { points: line(energy, yE), class: 'series energy', dataset: { series: 'energy' } }) : null),
    h('figcaption', null, h('span', { class: 'key power' }, 'Power (kW)'), ' ', h('span', { class: 'key energy' }, 'Energy delivered (kWh)')));
}
