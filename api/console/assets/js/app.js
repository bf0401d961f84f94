// The console: a hash router over pages that read the REST API.

import { h, replace, errorBox } from './dom.js';
import { session, can, whenSignedOut } from './api.js';
import login from './pages/login.js';
import overview from './pages/overview.js';
import stations from './pages/stations.js';
import station from './pages/station.js';
import sessions from './pages/sessions.js';
import sessionPage from './pages/session.js';
import tokens from './pages/tokens.js';
import pending from './pages/pending.js';
import { users, apiKeys, audit } from './pages/admin.js';

// Routes in menu order; a page whose role the user lacks is not offered.
const routes = [
  { path: '', page: overview, nav: 'Overview' },
  { path: 'stations', page: stations, nav: 'Stations' },
  { path: 'stations/:id', page: station },
  { path: 'sessions', page: sessions, nav: 'Sessions' },
  { path: 'sessions/:id', page: sessionPage },
  { path: 'id-tokens', page: tokens, nav: 'ID tokens' },
  { path: 'pending', page: pending, nav: 'Pending' },
  { path: 'users', page: users, nav: 'Users', role: 'admin' },
  { path: 'api-keys', page: apiKeys, nav: 'API keys', role: 'admin' },
  { path: 'audit', page: audit, nav: 'Audit', role: 'admin' },
];

let cleanup = null;

function parse() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p, qs] = raw.split('?');
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  for (const r of routes) {
    const rp = r.path.split('/').filter(Boolean);
    if (rp.length !== parts.length) continue;
    const params = {};
    if (rp.every((seg, i) => (seg.startsWith(':') ? (params[seg.slice(1)] = parts[i], true) : seg === parts[i]))) {
      return { route: r, params, query: new URLSearchParams(qs || '') };
    }
  }
  return { route: null, params: {}, query: new URLSearchParams(qs || '') };
}

export function navigate(hash) { location.hash = hash; }

function renderChrome(active) {
  const s = session.get();
  const top = document.getElementById('top');
  top.hidden = !s;
  if (!s) return;
  replace(document.getElementById('nav'),
    routes.filter((r) => r.nav && (!r.role || can(r.role))).map((r) =>
      h('a', { href: `#/${r.path}`, 'aria-current': active === r ? 'page' : false }, r.nav)));
  replace(document.getElementById('who'),
    h('span', { class: 'who-name', title: s.email }, s.name || s.email || ''),
    h('span', { class: 'badge idle role' }, s.role),
    h('button', { class: 'link', type: 'button', onclick: signOut }, 'Sign out'));
}

function signOut() {
  session.clear();
  navigate('#/login');
}

async function show() {
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  const main = document.getElementById('main');
  document.getElementById('nav').classList.remove('open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
  if (location.hash.startsWith('#/login') || !session.get()) {
    renderChrome(null);
    const next = location.hash.startsWith('#/login') ? '' : location.hash;
    cleanup = login.render(main, { next }) || null;
    document.title = 'Sign in · Chargeplane';
    return;
  }
  const { route, params, query } = parse();
  renderChrome(route && (route.nav ? route : routes.find((r) => r.nav && route.path.startsWith(r.path + '/'))));
  if (!route) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  if (route.role && !can(route.role)) {
    replace(main, h('h1', null, 'Not allowed'), h('p', null, `This page needs the ${route.role} role.`));
    return;
  }
  document.title = `${route.page.title ? route.page.title(params) + ' · ' : ''}Chargeplane`;
  replace(main);
  try {
    cleanup = (await route.page.render(main, params, query)) || null;
  } catch (e) {
    replace(main, errorBox(e));
  }
  main.focus({ preventScroll: true });
}

whenSignedOut((message) => {
  sessionStorage.setItem('chargeplane.notice', message);
  if (!location.hash.startsWith('#/login')) navigate('#/login');
});

document.getElementById('menu-toggle').addEventListener('click', (e) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});

window.addEventListener('hashchange', show);
show();
