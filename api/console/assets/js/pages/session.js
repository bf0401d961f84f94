import { h, replace, time, kwh, badge, errorBox, empty, spinner, toast } from '../dom.js';
import { get, post, can } from '../api.js';
import { watch } from '../live.js';
import { chart } from '../chart.js';

export default {
  title: ({ id }) => `Session #${id}`,
  async render(root, { id }) {
    const body = h('div', null, spinner());
    replace(root, h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, 'Sessions'), ' / '), h('h1', null, `Session #${id}`), body);
    async function load() {
      const t = await get(`/transactions/${encodeURIComponent(id)}`);
      const active = !t.stoppedAt;
      const c = chart(t.meterValues);
      replace(body,
        h('dl', { class: 'details' },
          h('dt', null, 'Station'), h('dd', null, h('a', { href: `#/stations/${encodeURIComponent(t.stationId)}` }, t.stationId)),
          h('dt', null, 'Connector'), h('dd', null, t.evseId ? `${t.evseId}/${t.connectorId}` : String(t.connectorId)),
          h('dt', null, 'Status'), h('dd', null, badge(t.status || (active ? 'Active' : 'Completed'))),
          h('dt', null, 'ID token'), h('dd', null, t.idToken || '—', t.authStatus ? [' ', badge(t.authStatus)] : null),
          h('dt', null, 'Started'), h('dd', null, time(t.startedAt)),
          h('dt', null, 'Stopped'), h('dd', null, time(t.stoppedAt), t.stopReason ? ` (${t.stopReason})` : ''),
          h('dt', null, 'Energy'), h('dd', { id: 'session-energy' }, kwh(t.energyWh)),
          h('dt', null, 'Transaction id'), h('dd', { class: 'mono' }, t.transactionUid || '—')),
        active && can('operator') ? h('button', {
          type: 'button', class: 'danger',
          onclick: async (e) => {
            e.currentTarget.disabled = true;
            try {
              const r = await post(`/stations/${encodeURIComponent(t.stationId)}/remote-stop`, { transactionId: String(t.id) });
              toast(`Stop: ${r.status}`, r.status === 'Accepted' ? 'ok' : 'bad');
            } catch (err) { toast(err.message, 'bad'); }
          },
        }, 'Stop this session') : null,
        h('h2', null, 'Power and energy'),
        c || empty('Not enough meter values for a chart yet.'),
        (t.meterValues || []).length ? h('details', null, h('summary', null, `${t.meterValues.length} meter values`),
          h('div', { class: 'table-wrap' }, h('table', null,
            h('thead', null, h('tr', null, ['Time', 'Measurand', 'Phase', 'Value', 'Unit', 'Context'].map((x) => h('th', { scope: 'col' }, x)))),
            h('tbody', null, t.meterValues.map((m) => h('tr', null, h('td', null, time(m.timestamp)), h('td', null, m.measurand || 'Energy.Active.Import.Register'),
              h('td', null, m.phase), h('td', null, m.value), h('td', null, m.unit || 'Wh'), h('td', null, m.context))))))) : null);
    }
    try { await load(); } catch (e) { replace(body, errorBox(e)); }
    return watch(() => load().catch(() => {}), (ev) => /transaction|session|meter/i.test(ev.type || ''));
  },
};
