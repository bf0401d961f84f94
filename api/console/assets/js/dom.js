// Building the page: every text goes through textContent (never innerHTML),
// so nothing a charger or a user typed can become markup.

export function h(tag, props, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (!svg && k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Times are shown in the browser's zone.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return '—';
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOnly.format(d) : dateTime.format(d);
}

export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: dateTime.format(new Date(iso)) }, fmtTime(iso));
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function kwh(wh) {
  if (wh === undefined || wh === null) return '—';
  return `${(wh / 1000).toLocaleString(undefined, { maximumFractionDigits: 2 })} kWh`;
}

// A status word with its colour (class by status, text always present so
// colour is never the only signal).
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || statusKind(text)}` }, text || '—');
}

export function statusKind(s) {
  switch (s) {
    case 'Available': case 'Accepted': case 'online': case 'Active': case 'Completed': case 'ok': return 'ok';
    case 'Charging': case 'Occupied': case 'Preparing': case 'SuspendedEV': case 'SuspendedEVSE': case 'Finishing': case 'Started': case 'Updated': return 'busy';
    case 'Faulted': case 'Rejected': case 'Blocked': case 'faulted': case 'Invalid': case 'failed': case 'denied': return 'bad';
    case 'Pending': case 'Reserved': case 'Expired': case 'pending': return 'warn';
    default: return 'idle';
  }
}

export function spinner(label) {
  return h('span', { class: 'spinner', role: 'status' }, h('span', { class: 'visually-hidden' }, label || 'Loading'));
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err.message || String(err));
}

export function table(columns, rows, opts = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: opts.class || '' },
      opts.caption ? h('caption', { class: 'visually-hidden' }, opts.caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows)));
}

export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 8000 : 4000);
}
