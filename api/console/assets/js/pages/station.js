import { h, replace, badge, time, ago, table, errorBox, empty, spinner, kwh, toast } from '../dom.js';
import { get, post, request, can, query, APIError } from '../api.js';
import { watch } from '../live.js';
import { formFor, showAnswer } from '../forms.js';
import { stationState, stateLabel, stateKind, connectorLabel } from '../stations-model.js';

let commandsSpec = null;
async function loadCommands() {
  if (!commandsSpec) {
    const r = await fetch('/console/commands.json');
    if (!r.ok) throw new Error('The command list could not be loaded.');
    commandsSpec = await r.json();
  }
  return commandsSpec;
}

const enc = encodeURIComponent;

// runCommand sends one declarative command to the station.
export function runCommand(stationId, cmd, body) {
  let path = `/stations/${enc(stationId)}${cmd.path}`;
  for (const f of cmd.fields) {
    if (f.inPath) {
      path = path.replace(`{${f.name}}`, enc(body[f.name] ?? ''));
      delete body[f.name];
    }
  }
  if (cmd.method === 'GET') {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const x of [].concat(v)) q.append(k, x);
    const qs = q.toString();
    return request('GET', path + (qs ? `?${qs}` : ''));
  }
  return request(cmd.method, path, body);
}

const tabs = [
  { id: 'overview', label: 'Overview' },
  { id: 'commands', label: 'Commands', role: 'operator' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'configuration', label: 'Configuration' },
  { id: 'messages', label: 'Message log' },
  { id: 'history', label: 'Command history' },
  { id: 'security', label: 'Security events' },
  { id: 'certificates', label: 'Certificates' },
];

function dl(pairs) {
  return h('dl', { class: 'details' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export default {
  title: ({ id }) => id,
  async render(root, { id }, q) {
    let station = null;
    const head = h('div', { class: 'page-head' });
    const panel = h('div', { class: 'panel', id: 'tab-panel', role: 'tabpanel' });
    const shown = tabs.filter((t) => !t.role || can(t.role));
    let current = shown.find((t) => t.id === q.get('tab')) || shown[0];
    const tabBar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Station' });
    let panelCleanup = null;

    function drawTabs() {
      replace(tabBar, shown.map((t) => h('button', {
        type: 'button', role: 'tab', id: `tab-${t.id}`, 'aria-selected': String(t === current), tabindex: t === current ? '0' : '-1',
        onclick: () => select(t),
        onkeydown: (e) => {
          const i = shown.indexOf(t);
          const j = e.key === 'ArrowRight' ? (i + 1) % shown.length : e.key === 'ArrowLeft' ? (i + shown.length - 1) % shown.length : -1;
          if (j >= 0) { select(shown[j]); tabBar.children[j].focus(); }
        },
      }, t.label)));
    }

    function select(t) {
      current = t;
      history.replaceState(null, '', `#/stations/${enc(id)}?tab=${t.id}`);
      drawTabs();
      showPanel();
    }

    async function showPanel() {
      if (panelCleanup) { panelCleanup(); panelCleanup = null; }
      panel.setAttribute('aria-labelledby', `tab-${current.id}`);
      replace(panel, spinner());
      try {
        panelCleanup = (await panels[current.id](panel)) || null;
      } catch (e) {
        replace(panel, errorBox(e));
      }
    }

    function drawHead() {
      const st = stationState(station);
      replace(head,
        h('div', null,
          h('p', { class: 'crumbs' }, h('a', { href: '#/stations' }, 'Stations'), ' / '),
          h('h1', null, station.id, ' ', h('span', { id: 'station-state' }, badge(stateLabel[st], stateKind[st]))),
          h('p', { class: 'muted' }, [station.name, [station.vendor, station.model].filter(Boolean).join(' '), station.ocppVersion && `OCPP ${station.ocppVersion}`].filter(Boolean).join(' · ') || 'Never booted'),
        ));
    }

    async function loadStation() {
      station = await get(`/stations/${enc(id)}`);
      drawHead();
    }

    const panels = {
      async overview(p) {
        const draw = () => {
          const s = station;
          const connectors = (s.connectors || []).filter((c) => c.connectorId || !c.evseId);
          replace(p,
            h('div', { class: 'columns' },
              h('section', null, h('h2', null, 'Connectors'),
                connectors.length ? table(['Connector', 'Status', 'Error', 'Since'], connectors.map((c) => h('tr', { dataset: { connector: connectorLabel(c) } },
                  h('td', null, connectorLabel(c)),
                  h('td', { class: 'connector-status' }, badge(c.status)),
                  h('td', null, c.errorCode && c.errorCode !== 'NoError' ? [c.errorCode, c.info ? ` (${c.info})` : ''] : '—'),
                  h('td', null, time(c.updatedAt)))), { caption: 'Connectors' }) : empty('No connector reported yet.'),
                h('h2', null, 'Charging now'),
                (s.activeTransactions || []).length ? table(['Session', 'Connector', 'Token', 'Started', 'Energy', ''], s.activeTransactions.map((t) => h('tr', null,
                  h('td', null, h('a', { href: `#/sessions/${t.id}` }, `#${t.id}`)),
                  h('td', null, t.evseId ? `${t.evseId}/${t.connectorId}` : t.connectorId),
                  h('td', null, t.idToken),
                  h('td', null, time(t.startedAt)),
                  h('td', null, kwh(t.energyWh)),
                  h('td', null, can('operator') ? h('button', { type: 'button', class: 'small', onclick: (e) => stop(e.currentTarget, t.id) }, 'Stop') : null)))) : empty('No session in progress.')),
              h('section', null, h('h2', null, 'Details'),
                dl([
                  ['State', badge(stateLabel[stationState(s)], stateKind[stationState(s)])],
                  ['Connected', s.connected ? 'yes' : 'no'],
                  ['Last seen', s.lastSeen ? [time(s.lastSeen), ` (${ago(s.lastSeen)})`] : '—'],
                  ['Registration', s.registrationStatus],
                  ['Last boot', s.lastBoot ? time(s.lastBoot) : ''],
                  ['OCPP', s.ocppVersion],
                  ['Vendor', s.vendor], ['Model', s.model], ['Serial', s.serialNumber || s.chargeBoxSerialNumber],
                  ['Firmware', s.firmwareVersion],
                  ['Firmware update', s.firmwareStatus?.status ? [badge(s.firmwareStatus.status), ' ', time(s.firmwareStatus.reportedAt)] : ''],
                  ['Log upload', s.logStatus?.status ? [badge(s.logStatus.status), ' ', time(s.logStatus.reportedAt)] : ''],
                  ['Meter', [s.meterType, s.meterSerialNumber].filter(Boolean).join(' ')],
                  ['ICCID', s.iccid], ['IMSI', s.imsi],
                  ['Password', s.hasPassword ? 'set (Basic auth)' : 'none'],
                  ['Registered', time(s.createdAt)],
                ]))));
        };
        async function stop(button, txId) {
          button.disabled = true;
          try {
            const r = await post(`/stations/${enc(id)}/remote-stop`, { transactionId: String(txId) });
            toast(`Stop of session #${txId}: ${r.status}`, r.status === 'Accepted' ? 'ok' : 'bad');
          } catch (e) {
            toast(e.message, 'bad');
          } finally {
            button.disabled = false;
          }
        }
        draw();
        return watch(() => loadStation().then(draw), (ev) => !ev.stationId || ev.stationId === id);
      },

      async commands(p) {
        const spec = await loadCommands();
        const v = station.ocppVersion;
        const fits = (x) => !x.versions || !v || x.versions.includes(v);
        replace(p,
          v ? null : h('p', { class: 'warn-text' }, 'This station has not connected yet, so its OCPP version is unknown: every command of both versions is shown.'),
          spec.groups.map((g) => {
            const cmds = g.commands.filter(fits);
            if (!cmds.length) return null;
            return h('section', { class: 'cmd-group' }, h('h2', null, g.title),
              h('div', { class: 'cmd-grid' }, cmds.map((c) => {
                const cmd = { ...c, fields: c.fields.filter(fits) };
                return h('div', { class: 'card' }, formFor(cmd, (body) => runCommand(id, cmd, body), { waiting: 'Waiting for the charger…', answeredBy: 'The charger answered' }));
              })));
          }),
          h('section', { class: 'cmd-group' }, h('h2', null, 'Any action'),
            h('div', { class: 'card' }, formFor({
              id: 'call', title: 'Send any OCPP action', submit: 'Send',
              description: 'Checked against the official schema of the station\'s version before it is sent.',
              fields: [{ name: 'action', label: 'Action', required: true }, { name: 'payload', label: 'Payload (JSON)', type: 'json', default: {} }],
            }, (body) => post(`/stations/${enc(id)}/call`, body), { waiting: 'Waiting for the charger…', answeredBy: 'The charger answered' }))));
      },

      async sessions(p) {
        const load = async () => {
          const r = await get('/transactions' + query({ stationId: id, pageSize: 50 }));
          const txs = r.transactions || [];
          replace(p, txs.length ? sessionTable(txs) : empty('No session on this station yet.'),
            h('p', null, h('a', { href: `#/sessions?station=${enc(id)}` }, 'All sessions of this station →')));
        };
        await load();
        return watch(load, (ev) => !ev.stationId || ev.stationId === id);
      },

      async configuration(p) {
        if (station.ocppVersion === '2.0.1') {
          const dm = (await get(`/stations/${enc(id)}/device-model`).catch((e) => (e.status === 404 ? {} : Promise.reject(e)))).deviceModel;
          const vars = flattenDeviceModel(dm);
          replace(p, h('p', { class: 'muted' }, dm?.generatedAt ? ['Device model reported ', time(dm.generatedAt), '. '] : 'No device model reported yet. ', can('operator') ? 'Request a base report under Commands to refresh it.' : ''),
            vars.length ? table(['Component', 'Variable', 'Attribute', 'Value', 'Mutability'], vars.map((r) => h('tr', null, r.map((c) => h('td', null, c))))) : null);
          return;
        }
        if (!can('operator')) {
          replace(p, empty('Reading a 1.6 station\'s configuration sends it a GetConfiguration command, which needs the operator role.'));
          return;
        }
        const out = h('div');
        const read = async () => {
          replace(out, spinner('Asking the charger'));
          try {
            const r = await get(`/stations/${enc(id)}/configuration`);
            const keys = r.configurationKeys || [];
            replace(out, keys.length ? table(['Key', 'Value', 'Read-only'], keys.map((k) => h('tr', null, h('td', { class: 'mono' }, k.key), h('td', { class: 'mono wrap' }, k.value ?? '—'), h('td', null, k.readonly ? 'yes' : '')))) : showAnswer(r),
              (r.unknownKeys || []).length ? h('p', { class: 'muted' }, `Unknown keys: ${r.unknownKeys.join(', ')}`) : null);
          } catch (e) { replace(out, errorBox(e)); }
        };
        replace(p, h('p', { class: 'muted' }, 'The configuration keys as the charger reports them now (GetConfiguration).'), h('button', { type: 'button', onclick: read }, 'Read again'), out);
        read();
      },

      async messages(p) {
        const load = async () => {
          const r = await get(`/stations/${enc(id)}/messages` + query({ pageSize: 100 }));
          const ms = r.messages || [];
          replace(p, ms.length ? table(['Time', 'Direction', 'Type', 'Action', 'Frame'], ms.map((m) => h('tr', null,
            h('td', { class: 'nowrap' }, time(m.at)),
            h('td', null, m.direction === 'in' ? '← from charger' : '→ to charger'),
            h('td', null, m.messageType),
            h('td', null, m.action || '—'),
            h('td', { class: 'mono frame' }, m.frame))), { class: 'log' }) : empty('No message logged for this station.'));
        };
        await load();
        return watch(load, (ev) => !ev.stationId || ev.stationId === id);
      },

      async history(p) {
        const load = async () => {
          const r = await get(`/stations/${enc(id)}/commands` + query({ pageSize: 50 }));
          const cs = r.commands || [];
          replace(p, cs.length ? table(['Sent', 'Action', 'By', 'Outcome', 'Answer'], cs.map((c) => h('tr', null,
            h('td', { class: 'nowrap' }, time(c.createdAt)),
            h('td', null, c.action),
            h('td', null, c.requestedBy || '—'),
            h('td', null, badge(c.status), c.errorCode ? ` ${c.errorCode}${c.errorDescription ? ' — ' + c.errorDescription : ''}` : ''),
            h('td', { class: 'mono frame' }, c.response ? JSON.stringify(c.response) : '')))) : empty('No command sent to this station yet.'));
        };
        await load();
        return watch(load, (ev) => !ev.stationId || ev.stationId === id);
      },

      async security(p) {
        const r = await get(`/stations/${enc(id)}/messages` + query({ pageSize: 1000 }));
        const evs = (r.messages || []).filter((m) => m.action === 'SecurityEventNotification' && m.messageType !== 'CALLRESULT').map((m) => {
          let payload = {};
          try { payload = JSON.parse(m.frame)[3] || {}; } catch { /* shown raw below */ }
          return { at: payload.timestamp || m.at, type: payload.type || '?', info: payload.techInfo || '' };
        });
        let events = [];
        if (station.ocppVersion === '2.0.1') {
          events = (await get(`/stations/${enc(id)}/events` + query({ pageSize: 50 })).catch(() => ({}))).events || [];
        }
        replace(p,
          h('h2', null, 'Security events'),
          h('p', { class: 'muted small' }, 'SecurityEventNotifications among the station\'s recent messages.'),
          evs.length ? table(['Time', 'Event', 'Details'], evs.map((e) => h('tr', null, h('td', null, time(e.at)), h('td', null, e.type), h('td', null, e.info)))) : empty('No security event in the recent messages.'),
          station.ocppVersion === '2.0.1' ? [h('h2', null, 'Station events (NotifyEvent)'),
            events.length ? table(['Time', 'Component', 'Variable', 'Value', 'Severity', 'Trigger'], events.map((e) => h('tr', null,
              h('td', null, time(e.occurredAt)), h('td', null, e.component?.name || ''), h('td', null, e.variable?.name || ''),
              h('td', null, e.actualValue), h('td', null, e.severity ?? '—'), h('td', null, e.trigger)))) : empty('No event reported.')] : null);
      },

      async certificates(p) {
        const [issued, installed] = await Promise.all([
          get(`/stations/${enc(id)}/certificates/issued` + query({ pageSize: 50 })),
          get(`/stations/${enc(id)}/certificates/installed`),
        ]);
        const iss = issued.certificates || [];
        const ins = installed.certificates || [];
        replace(p,
          h('h2', null, 'Issued by the CSMS'),
          iss.length ? table(['Serial', 'Subject', 'Valid from', 'Valid until', 'Type'], iss.map((c) => h('tr', null,
            h('td', { class: 'mono' }, c.serialNumber || '—'), h('td', null, c.subject || '—'),
            h('td', null, time(c.notBefore)), h('td', null, time(c.notAfter)), h('td', null, c.certificateType || '—')))) : empty('No certificate issued to this station.'),
          h('h2', null, 'Installed on the station'),
          ins.length ? table(['Type', 'Serial', 'Issuer key hash', 'Reported'], ins.map((c) => h('tr', null,
            h('td', null, c.certificateType || '—'), h('td', { class: 'mono' }, c.hashData?.serialNumber || '—'),
            h('td', { class: 'mono small' }, c.hashData?.issuerKeyHash || '—'), h('td', null, time(c.reportedAt))))) : empty('The station has not reported installed certificates.'));
      },
    };

    replace(root, h('div', null, spinner()));
    try {
      await loadStation();
    } catch (e) {
      replace(root, h('p', { class: 'crumbs' }, h('a', { href: '#/stations' }, 'Stations')), errorBox(e instanceof APIError && e.status === 404 ? new Error(`There is no station ${id}.`) : e));
      return null;
    }
    drawTabs();
    replace(root, head, tabBar, panel);
    await showPanel();
    const unwatchHead = watch(() => loadStation().catch(() => {}), (ev) => !ev.stationId || ev.stationId === id);
    return () => { unwatchHead(); if (panelCleanup) panelCleanup(); };
  },
};

export function sessionTable(txs) {
  return table(['Session', 'Station', 'Connector', 'Token', 'Started', 'Stopped', 'Energy', 'Status'], txs.map((t) => h('tr', { dataset: { session: t.id } },
    h('td', null, h('a', { href: `#/sessions/${t.id}` }, `#${t.id}`)),
    h('td', null, h('a', { href: `#/stations/${enc(t.stationId)}` }, t.stationId)),
    h('td', null, t.evseId ? `${t.evseId}/${t.connectorId}` : t.connectorId),
    h('td', null, t.idToken || '—'),
    h('td', { class: 'nowrap' }, time(t.startedAt)),
    h('td', { class: 'nowrap' }, time(t.stoppedAt)),
    h('td', null, kwh(t.energyWh)),
    h('td', null, badge(t.status || (t.stoppedAt ? 'Completed' : 'Active'))))), { caption: 'Sessions' });
}

function flattenDeviceModel(dm) {
  const rows = [];
  for (const c of dm?.components || []) {
    const where = [c.name, c.instance ? ` (${c.instance})` : '', c.evseId ? ` EVSE ${c.evseId}` : '', c.connectorId ? `/${c.connectorId}` : ''].join('');
    for (const v of c.variables || []) {
      for (const a of v.attributes || []) {
        rows.push([where, v.name + (v.instance ? ` (${v.instance})` : ''), a.type || 'Actual', a.value ?? '—', a.mutability || '']);
      }
    }
  }
  return rows;
}
