import { h, replace, badge, time, ago, table, errorBox, empty, spinner, toast } from '../dom.js';
import { all, get, post, can, query } from '../api.js';
import { watch } from '../live.js';
import { stationState, stateLabel, stateKind, connectorLabel } from '../stations-model.js';
import { formFor } from '../forms.js';

export function connectorChips(s) {
  return h('span', { class: 'chips' }, (s.connectors || []).filter((c) => c.connectorId || !c.evseId).map((c) =>
    h('span', { class: `chip ${c.status ? '' : 'idle'}`, dataset: { connector: connectorLabel(c), status: c.status || '' } },
      h('span', { class: `dot ${badgeKind(c.status)}` }), `${connectorLabel(c)} ${c.status || '—'}`)));
}

function badgeKind(status) {
  return badge(status).className.split(' ')[1];
}

export default {
  title: () => 'Stations',
  async render(root, _params, q) {
    const filters = { q: q.get('q') || '', state: q.get('state') || '', version: q.get('version') || '' };
    let stations = [];
    let total = 0;
    const list = h('div', { id: 'station-list', 'aria-live': 'polite' }, spinner());
    const count = h('p', { class: 'muted', id: 'station-count' });

    const search = h('input', { type: 'search', id: 'station-search', placeholder: 'Id, name, vendor, model or serial', value: filters.q, 'aria-label': 'Search stations' });
    const state = h('select', { id: 'station-state', 'aria-label': 'State' },
      h('option', { value: '' }, 'Every state'),
      Object.entries(stateLabel).map(([k, v]) => h('option', { value: k, selected: filters.state === k }, v)));
    const version = h('select', { id: 'station-version', 'aria-label': 'OCPP version' },
      h('option', { value: '' }, 'Every version'),
      ['1.6', '2.0.1'].map((v) => h('option', { value: v, selected: filters.version === v }, `OCPP ${v}`)));

    const apply = () => {
      filters.q = search.value.trim();
      filters.state = state.value;
      filters.version = version.value;
      const qs = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
      history.replaceState(null, '', `#/stations${qs ? '?' + qs : ''}`);
      load().catch((e) => replace(list, errorBox(e)));
    };
    // The server filters: wait for a pause in the typing.
    let typing;
    search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(apply, 250); });
    state.addEventListener('change', apply);
    version.addEventListener('change', apply);

    function draw() {
      const shown = stations;
      count.textContent = `${shown.length} of ${total} stations`;
      replace(list, shown.length ? table(['Station', 'State', 'OCPP', 'Connectors', 'Vendor / model', 'Last seen'], shown.map((s) => {
        const st = stationState(s);
        return h('tr', { dataset: { station: s.id } },
          h('td', null, h('a', { href: `#/stations/${encodeURIComponent(s.id)}` }, h('strong', null, s.id)), s.name ? h('div', { class: 'muted small' }, s.name) : null),
          h('td', null, badge(stateLabel[st], stateKind[st])),
          h('td', null, s.ocppVersion || '—'),
          h('td', null, connectorChips(s)),
          h('td', null, [s.vendor, s.model].filter(Boolean).join(' ') || '—'),
          h('td', { title: s.lastSeen || '' }, s.lastSeen ? ago(s.lastSeen) : '—'));
      }), { caption: 'Stations' }) : empty(total ? 'No station matches these filters.' : 'No station registered yet.'));
    }

    // The server filters and orders by id; the unfiltered count comes from
    // a one-row page. A slower answer to older filters is dropped.
    let loads = 0;
    async function load() {
      const n = ++loads;
      const [rows, every] = await Promise.all([
        all('/stations', 'stations', { state: filters.state, ocppVersion: filters.version, search: filters.q }),
        get('/stations' + query({ pageSize: 1 })),
      ]);
      if (n !== loads) return;
      stations = rows;
      total = Number(every.totalSize) || 0;
      draw();
    }

    const addForm = can('operator') ? formFor({
      id: 'create-station', title: 'Register a station', submit: 'Register',
      fields: [
        { name: 'id', label: 'Station id (its OCPP identity)', required: true },
        { name: 'name', label: 'Name' },
        { name: 'password', label: 'Basic-auth password (16+ characters, optional)', type: 'password' },
      ],
    }, async (body) => {
      const s = await post('/stations', body);
      toast(`Station ${s.id} registered.`);
      await load();
      return s;
    }, { closeOnSuccess: true }) : null;

    replace(root,
      h('div', { class: 'page-head' }, h('h1', null, 'Stations'),
        addForm ? h('details', { class: 'add' }, h('summary', { class: 'button' }, 'Register a station'), addForm) : null),
      h('div', { class: 'filters' }, search, state, version),
      count, list);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
    return watch(() => load().catch((e) => replace(list, errorBox(e))),
      (ev) => /station|connector|status|boot/i.test(ev.type || ''));
  },
};
