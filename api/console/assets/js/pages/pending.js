import { h, replace, time, table, errorBox, empty, spinner, toast } from '../dom.js';
import { all, post, can } from '../api.js';
import { watch } from '../live.js';
import { stationState } from '../stations-model.js';

// Stations that connected unannounced and wait for an operator's decision:
// accepting one makes its next BootNotification Accepted (the core asks a
// connected one to boot again at once); rejecting refuses it.
export default {
  title: () => 'Pending stations',
  async render(root) {
    const list = h('div', { 'aria-live': 'polite' }, spinner());
    replace(root, h('h1', null, 'Pending stations'), h('p', { class: 'muted' }, 'Unknown stations that connected (UNKNOWN_STATIONS=pending) and wait to be accepted. Give a password to require it from now on.'), list);
    const decide = async (button, s, verb) => {
      if (verb === 'reject' && !window.confirm(`Reject ${s.id}? It will be refused when it connects.`)) return;
      button.disabled = true;
      try {
        const pw = button.closest('tr').querySelector('input[name="password"]')?.value || '';
        const r = await post(`/stations/${encodeURIComponent(s.id)}/${verb}`, verb === 'accept' && pw ? { password: pw } : {});
        toast(verb === 'reject' ? `${s.id} rejected.`
          : `${s.id} accepted${r.bootTriggered ? ': it was asked to boot again now.' : '. It will be accepted at its next BootNotification.'}`);
        await load();
      } catch (e) {
        toast(e.message, 'bad');
        button.disabled = false;
      }
    };
    async function load() {
      const ss = (await all('/stations', 'stations', { status: 'pending' })).filter((s) => stationState(s) === 'pending');
      replace(list, ss.length ? table(['Station', 'Vendor / model', 'Serial', 'OCPP', 'Last seen', can('operator') ? 'Decision' : ''], ss.map((s) => h('tr', { dataset: { station: s.id } },
        h('td', null, h('a', { href: `#/stations/${encodeURIComponent(s.id)}` }, s.id)),
        h('td', null, [s.vendor, s.model].filter(Boolean).join(' ') || '—'),
        h('td', null, s.serialNumber || s.chargeBoxSerialNumber || '—'),
        h('td', null, s.ocppVersion || '—'),
        h('td', null, time(s.lastSeen)),
        h('td', { class: 'row-actions' }, can('operator') ? [
          h('input', { type: 'password', name: 'password', autocomplete: 'new-password', placeholder: 'Password to require (optional)', 'aria-label': `Basic-auth password for ${s.id} (optional)` }),
          h('button', { type: 'button', class: 'small primary', dataset: { action: 'accept' }, onclick: (e) => decide(e.currentTarget, s, 'accept') }, 'Accept'),
          h('button', { type: 'button', class: 'small', dataset: { action: 'reject' }, onclick: (e) => decide(e.currentTarget, s, 'reject') }, 'Reject'),
        ] : null))), { caption: 'Pending stations' }) : empty('No station is waiting.'));
    }
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
    return watch(() => load().catch((e) => replace(list, errorBox(e))), (ev) => /station/.test(ev.type || ''));
  },
};
