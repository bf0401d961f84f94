// Live updates. Pages register what to re-read; the event stream
// (GET /api/v1/events, Server-Sent Events) says when. Where the stream is
// not available the pages are re-read on a short timer instead, so the
// console is live either way. Reading happens in the background: nothing
// waits on it.

import { session } from './api.js';

const watchers = new Set();
let pollTimer = null;
let streamAbort = null;
let streaming = false;
let lastEventId = '';
const POLL_MS = 3000;
const SAFETY_MS = 30000;
// Events come in bursts (a boot is several); one re-read per burst.
const DEBOUNCE_MS = 500;

// setMode shows how the page is kept live (the browser tests read it).
function setMode(streamingNow) {
  streaming = streamingNow;
  document.body.dataset.live = streamingNow ? 'stream' : 'poll';
}

export const stats = { events: 0, since: Date.now() };

// watch calls fn (debounced) whenever something may have changed: an event
// for which match(event) is true, or the timer. It returns the unwatch.
export function watch(fn, match = () => true) {
  const w = { fn, match, timer: null };
  watchers.add(w);
  ensureRunning();
  return () => { clearTimeout(w.timer); watchers.delete(w); };
}

function fire(w) {
  if (w.timer) return;
  w.timer = setTimeout(() => {
    w.timer = null;
    if (watchers.has(w)) Promise.resolve(w.fn()).catch(() => {});
  }, DEBOUNCE_MS);
}

function tick() {
  if (document.hidden) return;
  for (const w of watchers) fire(w);
}

function ensureRunning() {
  if (pollTimer) return;
  pollTimer = setInterval(() => { if (!streaming) tick(); }, POLL_MS);
  setInterval(() => { if (streaming) tick(); }, SAFETY_MS);
  connect();
}

export function isStreaming() { return streaming; }

async function connect() {
  const s = session.get();
  if (!s) { setTimeout(connect, 2000); return; }
  streamAbort = new AbortController();
  try {
    const headers = { Authorization: `Bearer ${s.token}`, Accept: 'text/event-stream' };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    const resp = await fetch('/api/v1/events', { headers, signal: streamAbort.signal });
    if (!resp.ok || !(resp.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      // No stream on this server (or not for this caller): poll, and look again later.
      await resp.body?.cancel();
      setMode(false);
      setTimeout(connect, 60000);
      return;
    }
    setMode(true);
    tick();
    await read(resp.body);
  } catch { /* closed or unreachable: reconnect below */ }
  setMode(false);
  setTimeout(connect, 2000);
}

async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(buf[i] === '\r' ? i + 4 : i + 2);
      dispatch(block);
    }
  }
}

function dispatch(block) {
  let type = 'message';
  let data = '';
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data += (data ? '\n' : '') + value;
    else if (field === 'id') lastEventId = value;
  }
  let ev;
  try { ev = data ? JSON.parse(data) : {}; } catch { ev = { data }; }
  if (typeof ev !== 'object' || ev === null) ev = { data: ev };
  ev.type = ev.type || type;
  // The stream names the station "station"; pages match on stationId.
  ev.stationId = ev.stationId || ev.station || '';
  stats.events++;
  for (const w of watchers) if (w.match(ev)) fire(w);
}
