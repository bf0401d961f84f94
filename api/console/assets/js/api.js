// The console's only way to the server: the public REST API, with the
// signed-in user's token. Errors become messages an operator can act on.

const KEY = 'chargeplane.session';

export const session = {
  get() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (s && s.token && (!s.expiresAt || new Date(s.expiresAt) > new Date())) return s;
    } catch { /* a damaged entry is a signed-out user */ }
    return null;
  },
  set(s) { localStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { localStorage.removeItem(KEY); },
};

const ranks = { viewer: 1, operator: 2, admin: 3 };

// can says whether the signed-in role is at least the given one; what a
// role may not do is not offered (the server refuses it anyway).
export function can(role) {
  const s = session.get();
  return !!s && (ranks[s.role] || 0) >= ranks[role];
}

export class APIError extends Error {
  constructor(status, body, fallback) {
    super(describe(status, body, fallback));
    this.status = status;
    this.body = body || {};
    this.reason = reasonOf(body);
  }
}

function errorInfo(body) {
  return (body?.details || []).find((d) => (d['@type'] || '').endsWith('google.rpc.ErrorInfo')) || null;
}

function reasonOf(body) {
  return errorInfo(body)?.reason || '';
}

function describe(status, body, fallback) {
  const info = errorInfo(body);
  const msg = body?.message || fallback || `HTTP ${status}`;
  switch (info?.reason) {
    case 'STATION_NOT_CONNECTED':
      return 'The station is not connected: nothing was sent. Try again when it is online.';
    case 'OCPP_VERSION_UNKNOWN':
      return 'The station has never connected, so its OCPP version is unknown: nothing was sent.';
    case 'COMMAND_TIMEOUT':
      return 'The charger did not answer in time. It may still carry the command out; check its status and the message log.';
    case 'CHARGER_CALL_ERROR': {
      const code = info.metadata?.code || 'error';
      const d = info.metadata?.description;
      return `The charger answered with an error: ${code}${d ? ` — ${d}` : ''}.`;
    }
    case 'INVALID_COMMAND':
      return `Not sent: ${info.metadata?.reason || msg}.`;
  }
  switch (status) {
    case 401: return 'Your session has ended. Sign in again.';
    case 403: return `Not allowed: ${msg}.`;
    case 404: return `Not found: ${msg}.`;
    case 413: return 'The request is too large.';
    case 429: return `Too many attempts: ${msg}.`;
    case 503: return 'The server is not ready (database or broker unavailable). Try again shortly.';
  }
  return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? '' : '.');
}

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

// request calls the REST API. A 401 signs the user out (the token expired
// or was revoked) and the caller's promise rejects with a clear message.
export async function request(method, path, body, opts = {}) {
  const s = session.get();
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (s && !opts.anonymous) headers.Authorization = `Bearer ${s.token}`;
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, null, 'The server cannot be reached. Check the network and that Chargeplane is running');
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const err = new APIError(resp.status, data, text && !data ? text.slice(0, 200) : resp.statusText);
    if (resp.status === 401 && !opts.anonymous) {
      session.clear();
      onSignedOut(err.message);
    }
    throw err;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body ?? {}, opts);
export const patch = (path, body) => request('PATCH', path, body);
export const del = (path) => request('DELETE', path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// all pages through a list endpoint, up to limit items.
export async function all(path, field, params = {}, limit = 5000) {
  const items = [];
  let token = '';
  do {
    const page = await get(path + query({ ...params, pageSize: 1000, pageToken: token }));
    items.push(...(page[field] || []));
    token = page.nextPageToken;
  } while (token && items.length < limit);
  return items;
}

export async function signIn(email, password) {
  const r = await request('POST', '/auth/login', { email, password }, { anonymous: true });
  session.set({ token: r.accessToken, role: r.role, expiresAt: r.expiresAt, email });
  try {
    const me = await get('/auth/me');
    session.set({ token: r.accessToken, role: me.role || r.role, expiresAt: r.expiresAt, email, name: me.name });
  } catch { /* the login answer is enough */ }
}
