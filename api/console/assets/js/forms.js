// Forms built from a declarative description (commands.json and the
// pages' own lists): one renderer, so every command shows its parameters,
// its progress and the charger's answer or the error the same way.

import { h, replace, badge } from './dom.js';

let seq = 0;

function input(f, id) {
  const common = { id, name: f.name, required: !!f.required, 'aria-describedby': f.help ? `${id}-help` : false };
  switch (f.type) {
    case 'select':
      return h('select', common,
        f.required ? null : h('option', { value: '' }, '—'),
        f.options.map((o) => h('option', { value: o, selected: o === f.default }, o)));
    case 'number':
      return h('input', { ...common, type: 'number', inputmode: 'numeric', step: '1', min: f.min ?? false, value: f.default ?? '' });
    case 'datetime':
      return h('input', { ...common, type: 'datetime-local', step: '1' });
    case 'json':
      return h('textarea', { ...common, rows: 4, spellcheck: false, class: 'mono', placeholder: f.placeholder || '' }, f.default ? JSON.stringify(f.default, null, 2) : '');
    case 'textarea':
      return h('textarea', { ...common, rows: 4, spellcheck: false, class: 'mono' });
    case 'checkbox':
      return h('input', { ...common, type: 'checkbox', checked: !!f.default, required: false });
    case 'password':
      return h('input', { ...common, type: 'password', autocomplete: 'new-password' });
    default:
      return h('input', { ...common, type: 'text', value: f.default ?? '', placeholder: f.placeholder || '', autocomplete: 'off' });
  }
}

// read turns the inputs into the request body; empty optional fields are
// left out so the server applies its defaults.
function read(fields, els) {
  const body = {};
  for (const f of fields) {
    const el = els[f.name];
    if (f.type === 'checkbox') { if (el.checked) body[f.name] = true; continue; }
    const v = el.value.trim();
    if (v === '') continue;
    switch (f.type) {
      case 'number': body[f.name] = Number.parseInt(v, 10); break;
      case 'datetime': body[f.name] = new Date(v).toISOString(); break;
      case 'json':
        try { body[f.name] = JSON.parse(v); } catch (e) { throw new Error(`${f.label || f.name}: not valid JSON (${e.message})`); }
        break;
      case 'list': body[f.name] = v.split(',').map((s) => s.trim()).filter(Boolean); break;
      default: body[f.name] = v;
    }
  }
  return body;
}

// formFor renders spec; run(body) does the call and returns the answer.
// The form is busy while its own call runs; the rest of the page is not.
export function formFor(spec, run, opts = {}) {
  const id = `f${++seq}`;
  const els = {};
  const out = h('div', { class: 'result', 'aria-live': 'polite', dataset: { result: spec.id } });
  const button = h('button', { type: 'submit', class: spec.danger ? 'danger' : 'primary' }, spec.submit || 'Send');
  const form = h('form', {
    class: 'cmd-form', dataset: { command: spec.id },
    onsubmit: async (e) => {
      e.preventDefault();
      let body;
      try {
        body = read(spec.fields || [], els);
      } catch (err) {
        replace(out, h('div', { class: 'error', role: 'alert' }, err.message));
        return;
      }
      if (spec.confirm && !window.confirm(spec.confirm)) return;
      button.disabled = true;
      const started = Date.now();
      const waiting = h('span', { class: 'muted' }, opts.waiting || 'Waiting for the answer…');
      replace(out, h('div', { class: 'pending' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), waiting));
      const timer = setInterval(() => { waiting.textContent = `${opts.waiting || 'Waiting for the answer…'} ${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
      try {
        const answer = await run(body);
        if (opts.closeOnSuccess) {
          // A creation form: the new row shows in the list behind it.
          replace(out);
          form.reset();
          const d = form.closest('details');
          if (d) { d.open = false; d.querySelector('summary')?.focus(); }
          return;
        }
        replace(out, showAnswer(answer, opts.answeredBy));
      } catch (err) {
        replace(out, h('div', { class: 'error', role: 'alert' }, err.message));
      } finally {
        clearInterval(timer);
        button.disabled = false;
      }
    },
  },
  spec.title && !opts.noTitle ? h('h3', null, spec.title) : null,
  spec.description ? h('p', { class: 'muted small' }, spec.description) : null,
  h('div', { class: 'fields' }, (spec.fields || []).map((f, i) => {
    const fid = `${id}-${i}`;
    els[f.name] = input(f, fid);
    const label = h('label', { for: fid }, f.label || f.name, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
    return h('div', { class: `field ${['json', 'textarea'].includes(f.type) ? 'wide' : ''} ${f.type === 'checkbox' ? 'check' : ''}` },
      f.type === 'checkbox' ? [els[f.name], label] : [label, els[f.name]],
      f.help ? h('div', { class: 'muted small', id: `${fid}-help` }, f.help) : null);
  })),
  h('div', { class: 'actions' }, button),
  out);
  return form;
}

// showAnswer shows a command's answer: its status first (by whom: the
// charger, for station commands), then the rest of it.
export function showAnswer(answer, by = 'Answer:') {
  if (answer === null || answer === undefined) return h('div', { class: 'ok-text' }, 'Done.');
  const parts = [];
  if (typeof answer.status === 'string' && answer.status) {
    parts.push(h('p', null, `${by} `, badge(answer.status), answer.reasonCode ? ` ${answer.reasonCode}` : '', answer.additionalInfo ? ` — ${answer.additionalInfo}` : ''));
  }
  const rest = { ...answer };
  for (const k of ['status', 'reasonCode', 'additionalInfo', 'commandId']) delete rest[k];
  const meaningful = Object.entries(rest).filter(([, v]) => v !== '' && v !== null && v !== 0 && !(Array.isArray(v) && !v.length));
  if (meaningful.length || !parts.length) {
    parts.push(h('details', { open: !parts.length }, h('summary', null, 'Full answer'), h('pre', { class: 'mono' }, JSON.stringify(answer, null, 2))));
  }
  return h('div', { class: 'answer' }, parts);
}
