import { h, replace, time, table, errorBox, empty, spinner } from '../dom.js';
import { all } from '../api.js';
import { watch } from '../live.js';

// Stations that connected and wait for an operator's decision.
export default {
  title: () => 'Pending stations',
  async render(root) {
    const list = h('div', { 'aria-live': 'polite' }, spinner());
    replace(root, h('h1', null, 'Pending stations'), h('p', { class: 'muted' }, 'Stations that booted and are waiting to be accepted.'), list);
    async function load() {
      const ss = (await all('/stations', 'stations')).filter((s) => s.registrationStatus === 'Pending');
      replace(list, ss.length ? table(['Station', 'Vendor / model', 'Serial', 'OCPP', 'Last boot'], ss.map((s) => h('tr', { dataset: { station: s.id } },
        h('td', null, h('a', { href: `#/stations/${encodeURIComponent(s.id)}` }, s.id)),
        h('td', null, [s.vendor, s.model].filter(Boolean).join(' ') || '—'),
        h('td', null, s.serialNumber || s.chargeBoxSerialNumber || '—'),
        h('td', null, s.ocppVersion || '—'),
        h('td', null, time(s.lastBoot)))), { caption: 'Pending stations' }) : empty('No station is waiting.'));
    }
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
    return watch(() => load().catch((e) => replace(list, errorBox(e))));
  },
};
