import { h, replace, kwh, badge, time, table, errorBox, empty, spinner } from '../dom.js';
import { all, get, query } from '../api.js';
import { watch, stats, isStreaming } from '../live.js';
import { stationState, stateLabel, stateKind } from '../stations-model.js';

function card(label, value, id, kind) {
  return h('div', { class: `stat ${kind || ''}`, id }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

export default {
  title: () => 'Overview',
  async render(root) {
    const body = h('div', { 'aria-live': 'polite' }, spinner());
    replace(root, h('h1', null, 'Overview'), body);
    let lastEvents = stats.events;
    let lastAt = Date.now();

    async function load() {
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      // The server counts each state (a fleet is too large to fetch
      // whole); the stations needing attention are the first of theirs.
      const states = ['online', 'offline', 'faulted', 'pending'];
      const [pages, active, today] = await Promise.all([
        Promise.all(states.map((state) => get('/stations' + query({ state, pageSize: ['faulted', 'pending'].includes(state) ? 10 : 1 })))),
        get('/transactions' + query({ active: true, pageSize: 50 })),
        all('/transactions', 'transactions', { startedAfter: midnight.toISOString() }),
      ]);
      const counts = Object.fromEntries(states.map((k, i) => [k, Number(pages[i].totalSize) || 0]));
      const energy = today.reduce((sum, t) => sum + (t.energyWh || 0), 0);
      const now = Date.now();
      const rate = isStreaming() ? (stats.events - lastEvents) / Math.max(1, (now - lastAt) / 1000) : null;
      lastEvents = stats.events;
      lastAt = now;
      const attention = [...pages[2].stations, ...pages[3].stations].slice(0, 10);
      replace(body,
        h('section', { class: 'stats', 'aria-label': 'Stations' },
          ['online', 'offline', 'faulted', 'pending'].map((k) =>
            h('a', { href: `#/stations?state=${k}`, class: 'stat-link' }, card(stateLabel[k], counts[k], `count-${k}`, counts[k] && k !== 'online' ? stateKind[k] : '')))),
        h('section', { class: 'stats', 'aria-label': 'Activity' },
          h('a', { href: '#/sessions?active=1', class: 'stat-link' }, card('Active sessions', active.totalSize ?? (active.transactions || []).length, 'count-active')),
          card('Energy today', kwh(energy), 'energy-today'),
          card(isStreaming() ? 'Events / s' : 'Events / s (stream off)', rate === null ? '—' : rate.toFixed(1), 'rate')),
        h('div', { class: 'columns' },
          h('section', null, h('h2', null, 'Needs attention'),
            attention.length ? table(['Station', 'State', 'Last seen'], attention.map((s) => h('tr', null,
              h('td', null, h('a', { href: `#/stations/${encodeURIComponent(s.id)}` }, s.name || s.id)),
              h('td', null, badge(stateLabel[stationState(s)], stateKind[stationState(s)])),
              h('td', null, time(s.lastSeen))))) : empty('Nothing faulted or waiting for acceptance.')),
          h('section', null, h('h2', null, 'Charging now'),
            (active.transactions || []).length ? table(['Station', 'Connector', 'Started', 'Energy'], active.transactions.slice(0, 10).map((t) => h('tr', null,
              h('td', null, h('a', { href: `#/stations/${encodeURIComponent(t.stationId)}` }, t.stationId)),
              h('td', null, t.evseId ? `${t.evseId}/${t.connectorId}` : t.connectorId),
              h('td', null, h('a', { href: `#/sessions/${t.id}` }, time(t.startedAt))),
              h('td', null, kwh(t.energyWh))))) : empty('No session in progress.'))));
    }
    try { await load(); } catch (e) { replace(body, errorBox(e)); }
    return watch(() => load().catch((e) => replace(body, errorBox(e))));
  },
};
