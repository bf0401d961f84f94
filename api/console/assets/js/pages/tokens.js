import { h, replace, badge, time, table, errorBox, empty, spinner, toast } from '../dom.js';
import { get, post, patch, can, query } from '../api.js';
import { formFor } from '../forms.js';

const types = ['ISO14443', 'ISO15693', 'Central', 'eMAID', 'KeyCode', 'Local', 'MacAddress', 'NoAuthorization'];

export default {
  title: () => 'ID tokens',
  async render(root, _params, q) {
    const search = h('input', { type: 'search', id: 'token-search', placeholder: 'Value starts with…', value: q.get('q') || '', 'aria-label': 'Search tokens' });
    const status = h('select', { id: 'token-status', 'aria-label': 'Status' }, h('option', { value: '' }, 'Every status'),
      ['Accepted', 'Blocked', 'Expired', 'Invalid'].map((s) => h('option', { value: s }, s)));
    const list = h('div', { 'aria-live': 'polite' }, spinner());
    const operator = can('operator');

    async function setStatus(t, s) {
      try {
        await patch(`/id-tokens/${encodeURIComponent(t.id)}`, { status: s });
        toast(`${t.value} is now ${s}.`);
        await load();
      } catch (e) { toast(e.message, 'bad'); }
    }
    async function expireNow(t) {
      try {
        await patch(`/id-tokens/${encodeURIComponent(t.id)}`, { expiresAt: new Date().toISOString() });
        toast(`${t.value} expires now.`);
        await load();
      } catch (e) { toast(e.message, 'bad'); }
    }

    async function load() {
      const r = await get('/id-tokens' + query({ pageSize: 200, valuePrefix: search.value.trim(), status: status.value }));
      const ts = r.idTokens || [];
      replace(list, ts.length ? table(['Value', 'Type', 'Status', 'Expires', 'Group', 'Max sessions', operator ? 'Actions' : ''], ts.map((t) => h('tr', { dataset: { token: t.value } },
        h('td', { class: 'mono' }, t.value),
        h('td', null, t.type),
        h('td', null, badge(t.status)),
        h('td', null, time(t.expiresAt)),
        h('td', null, t.groupId || '—'),
        h('td', null, t.maxActiveTransactions ?? '—'),
        h('td', { class: 'row-actions' }, operator ? [
          t.status === 'Blocked'
            ? h('button', { type: 'button', class: 'small', onclick: () => setStatus(t, 'Accepted') }, 'Unblock')
            : h('button', { type: 'button', class: 'small', onclick: () => setStatus(t, 'Blocked') }, 'Block'),
          h('button', { type: 'button', class: 'small', onclick: () => expireNow(t) }, 'Expire now'),
        ] : null))), { caption: 'ID tokens' }) : empty('No token matches.'));
    }
    search.addEventListener('input', () => load().catch((e) => replace(list, errorBox(e))));
    status.addEventListener('change', () => load().catch((e) => replace(list, errorBox(e))));

    const create = operator ? h('details', { class: 'add' }, h('summary', { class: 'button' }, 'Add a token'), formFor({
      id: 'create-token', title: 'Add an ID token', submit: 'Add',
      fields: [
        { name: 'value', label: 'Value (card UID or token)', required: true },
        { name: 'type', label: 'Type', type: 'select', options: types, default: 'ISO14443' },
        { name: 'status', label: 'Status', type: 'select', options: ['Accepted', 'Blocked', 'Expired', 'Invalid'], default: 'Accepted' },
        { name: 'expiresAt', label: 'Expires', type: 'datetime' },
        { name: 'groupId', label: 'Group' },
        { name: 'maxActiveTransactions', label: 'Max concurrent sessions', type: 'number', min: 0 },
      ],
    }, async (body) => {
      const t = await post('/id-tokens', body);
      toast(`Token ${t.value} added.`);
      await load();
      return t;
    }, { closeOnSuccess: true })) : null;

    replace(root, h('div', { class: 'page-head' }, h('h1', null, 'ID tokens'), create), h('div', { class: 'filters' }, search, status), list);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
  },
};
