import { h, replace, badge, time, table, errorBox, empty, spinner, toast } from '../dom.js';
import { get, post, patch, query } from '../api.js';
import { formFor } from '../forms.js';

const roles = ['viewer', 'operator', 'admin'];

function act(label, fn, cls = 'small') {
  return h('button', { type: 'button', class: cls, onclick: async (e) => {
    const b = e.currentTarget;
    b.disabled = true;
    try { await fn(); } catch (err) { toast(err.message, 'bad'); } finally { b.disabled = false; }
  } }, label);
}

export const users = {
  title: () => 'Users',
  async render(root) {
    const list = h('div', null, spinner());
    async function load() {
      const r = await get('/users' + query({ pageSize: 500 }));
      const us = r.users || [];
      replace(list, us.length ? table(['Email', 'Name', 'Role', 'State', 'Created', 'Actions'], us.map((u) => {
        const role = h('select', { 'aria-label': `Role of ${u.email}` }, roles.map((x) => h('option', { value: x, selected: x === u.role }, x)));
        role.addEventListener('change', async () => {
          try { await patch(`/users/${u.id}`, { role: role.value }); toast(`${u.email} is now ${role.value}.`); } catch (e) { toast(e.message, 'bad'); role.value = u.role; }
        });
        return h('tr', null,
          h('td', null, u.email), h('td', null, `${u.firstName} ${u.lastName}`), h('td', null, role),
          h('td', null, badge(u.disabled ? 'disabled' : 'active', u.disabled ? 'bad' : 'ok')), h('td', null, time(u.createdAt)),
          h('td', { class: 'row-actions' },
            u.disabled ? act('Enable', async () => { await post(`/users/${u.id}/enable`); await load(); })
              : act('Disable', async () => { if (confirm(`Disable ${u.email}? Their sessions end within seconds.`)) { await post(`/users/${u.id}/disable`); await load(); } }),
            act('Reset password', async () => {
              const p = prompt(`New password for ${u.email} (at least 12 characters):`);
              if (p) { await post(`/users/${u.id}/reset-password`, { password: p }); toast('Password reset.'); }
            })));
      }), { caption: 'Users' }) : empty('No user.'));
    }
    replace(root, h('div', { class: 'page-head' }, h('h1', null, 'Users'),
      h('details', { class: 'add' }, h('summary', { class: 'button' }, 'Add a user'), formFor({
        id: 'create-user', title: 'Add a user', submit: 'Add',
        fields: [
          { name: 'email', label: 'Email', required: true },
          { name: 'firstName', label: 'First name', required: true },
          { name: 'lastName', label: 'Last name', required: true },
          { name: 'role', label: 'Role', type: 'select', options: roles, default: 'viewer', required: true },
          { name: 'password', label: 'Password (12+ characters)', type: 'password', required: true },
        ],
      }, async (body) => { const u = await post('/users', body); await load(); toast(`${u.email} added.`); return u; }, { closeOnSuccess: true }))),
    list);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
  },
};

export const apiKeys = {
  title: () => 'API keys',
  async render(root) {
    const list = h('div', null, spinner());
    async function load() {
      const ks = (await get('/api-keys')).apiKeys || [];
      replace(list, ks.length ? table(['Name', 'Role', 'State', 'Created', 'Expires', 'Last used', ''], ks.map((k) => h('tr', null,
        h('td', null, k.name), h('td', null, k.role), h('td', null, badge(k.state, k.state === 'active' ? 'ok' : 'idle')),
        h('td', null, time(k.createdAt), k.createdBy ? h('div', { class: 'muted small' }, k.createdBy) : null),
        h('td', null, time(k.expiresAt)), h('td', null, time(k.lastUsedAt)),
        h('td', null, k.state === 'active' ? act('Revoke', async () => { if (confirm(`Revoke ${k.name}? Tools using it stop working.`)) { await post(`/api-keys/${k.id}/revoke`); await load(); } }) : null))), { caption: 'API keys' }) : empty('No API key.'));
    }
    replace(root, h('div', { class: 'page-head' }, h('h1', null, 'API keys'),
      h('details', { class: 'add' }, h('summary', { class: 'button' }, 'Create a key'), formFor({
        id: 'create-key', title: 'Create an API key', submit: 'Create',
        description: 'The secret is shown once: copy it now.',
        fields: [
          { name: 'name', label: 'Name', required: true },
          { name: 'role', label: 'Role', type: 'select', options: roles, default: 'viewer', required: true },
          { name: 'expiresAt', label: 'Expires', type: 'datetime' },
        ],
      }, async (body) => { const r = await post('/api-keys', body); await load(); return { secret: r.secret }; }, { answeredBy: 'Created:' }))),
    list);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
  },
};

export const audit = {
  title: () => 'Audit trail',
  async render(root, _p, q) {
    const actor = h('input', { type: 'search', placeholder: 'Actor', value: q.get('actor') || '', 'aria-label': 'Actor' });
    const station = h('input', { type: 'search', placeholder: 'Station id', value: q.get('station') || '', 'aria-label': 'Station' });
    const list = h('div', null, spinner());
    const more = h('div');
    let next = '';
    let rows = [];
    async function load(append) {
      const r = await get('/audit' + query({ actor: actor.value.trim(), stationId: station.value.trim(), pageSize: 100, pageToken: append ? next : '' }));
      rows = append ? rows.concat(r.records || []) : (r.records || []);
      next = r.nextPageToken || '';
      replace(list, rows.length ? table(['Time', 'Actor', 'From', 'Call', 'Target', 'Outcome'], rows.map((a) => h('tr', null,
        h('td', { class: 'nowrap' }, time(a.at)), h('td', null, a.actor, h('div', { class: 'muted small' }, a.actorKind)),
        h('td', null, a.address), h('td', { class: 'mono small' }, a.method.split('/').pop()),
        h('td', null, a.targetType ? `${a.targetType} ${a.targetId}` : '—'),
        h('td', null, badge(a.outcome || '—', a.outcome === 'ok' ? 'ok' : 'bad'), a.error ? h('div', { class: 'muted small' }, a.error) : null))), { caption: 'Audit trail' }) : empty('No record matches.'));
      replace(more, next ? h('button', { type: 'button', onclick: () => load(true) }, 'Load more') : null);
    }
    const go = (e) => { e.preventDefault(); load().catch((err) => replace(list, errorBox(err))); };
    replace(root, h('h1', null, 'Audit trail'), h('form', { class: 'filters', onsubmit: go, role: 'search' }, actor, station, h('button', { type: 'submit' }, 'Filter')), list, more);
    try { await load(); } catch (e) { replace(list, errorBox(e)); }
  },
};
