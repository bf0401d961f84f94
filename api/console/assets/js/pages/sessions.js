import { h, replace, errorBox, empty, spinner } from '../dom.js';
import { get, query } from '../api.js';
import { watch } from '../live.js';
import { sessionTable } from './station.js';

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

export default {
  title: () => 'Sessions',
  async render(root, _params, q) {
    const f = {
      station: h('input', { type: 'search', id: 'filter-station', value: q.get('station') || '', placeholder: 'Station id' }),
      token: h('input', { type: 'search', id: 'filter-token', value: q.get('token') || '', placeholder: 'ID token' }),
      from: h('input', { type: 'datetime-local', id: 'filter-from', value: localInput(q.get('from')) }),
      to: h('input', { type: 'datetime-local', id: 'filter-to', value: localInput(q.get('to')) }),
      active: h('input', { type: 'checkbox', id: 'filter-active', checked: q.get('active') === '1' }),
    };
    const list = h('div', { id: 'session-list', 'aria-live': 'polite' }, spinner());
    const more = h('div');
    let items = [];
    let next = '';

    const params = () => ({
      stationId: f.station.value.trim(),
      idToken: f.token.value.trim(),
      startedAfter: f.from.value ? new Date(f.from.value).toISOString() : '',
      startedBefore: f.to.value ? new Date(f.to.value).toISOString() : '',
      active: f.active.checked ? 'true' : '',
    });

    async function load(append = false) {
      const r = await get('/transactions' + query({ ...params(), pageSize: 50, pageToken: append ? next : '' }));
      items = append ? items.concat(r.transactions || []) : (r.transactions || []);
      next = r.nextPageToken || '';
      replace(list, items.length ? [h('p', { class: 'muted' }, `${r.totalSize ?? items.length} sessions`), sessionTable(items)] : empty('No session matches these filters.'));
      replace(more, next ? h('button', { type: 'button', onclick: () => load(true).catch((e) => replace(list, errorBox(e))) }, 'Load more') : null);
    }

    const apply = (e) => {
      e?.preventDefault();
      const p = params();
      const qs = new URLSearchParams(Object.entries({ station: p.stationId, token: p.idToken, from: p.startedAfter, to: p.startedBefore, active: f.active.checked ? '1' : '' }).filter(([, v]) => v)).toString();
      history.replaceState(null, '', `#/sessions${qs ? '?' + qs : ''}`);
      load().catch((err) => replace(list, errorBox(err)));
    };
    for (const el of Object.values(f)) el.addEventListener('change', apply);

    replace(root, h('h1', null, 'Sessions'),
      h('form', { class: 'filters', onsubmit: apply, role: 'search' },
        h('label', null, 'Station ', f.station), h('label', null, 'Token ', f.token),
        h('label', null, 'From ', f.from), h('label', null, 'To ', f.to),
        h('label', { class: 'check' }, f.active, ' In progress only'),
        h('button', { type: 'submit' }, 'Filter')),
      list, more);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
    return watch(() => (next ? null : load()), (ev) => /transaction|session/i.test(ev.type || ''));
  },
};
