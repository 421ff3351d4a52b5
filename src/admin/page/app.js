// Troupe admin page: signs in (password login through the client API, or a pasted token), then shows the
// actors the server pushes over /_troupe/admin/ws. Data is written with textContent only; the machine
// diagrams are SVG the server generated from the machine definitions.
const TOKEN_KEY = 'troupe-admin-token';
const OWN_TOKEN_KEY = 'troupe-admin-token-own';
const $ = (selector) => document.querySelector(selector);

let socket = null;
let reconnectTimer = null;
let clockOffset = 0; // server time - browser time
let machines = [];

function showLogin(message) {
  $('#login').hidden = false;
  $('#dashboard').hidden = true;
  $('#session').hidden = true;
  $('#login-error').textContent = message || '';
}

function showDashboard(userId) {
  $('#login').hidden = true;
  $('#dashboard').hidden = false;
  $('#session').hidden = false;
  $('#whoami').textContent = userId;
}

function setConnection(text, live) {
  const el = $('#connection');
  el.textContent = text;
  el.classList.toggle('live', live);
}

async function login(user, password) {
  const identifier = { type: 'm.id.user', user: user.trim() };
  const response = await fetch('/_matrix/client/v3/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier, password, initial_device_display_name: 'Troupe admin page' }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 404) throw new Error('This server has no password login; paste an access token instead.');
  if (!response.ok) throw new Error(body.error || `Login failed (${response.status})`);
  return body.access_token;
}

function connect() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  clearTimeout(reconnectTimer);
  setConnection('connecting', false);
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/_troupe/admin/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  // The token goes in the first message, never in the URL.
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', access_token: token }));
  ws.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.type === 'ready') {
      machines = message.machines;
      renderMachines();
      showDashboard(message.user_id);
      setConnection('live', true);
    } else if (message.type === 'actors') {
      clockOffset = message.now - Date.now();
      render(message);
    } else if (message.type === 'error') {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(message.errcode === 'M_FORBIDDEN' ? 'That account is not a server admin.' : message.error);
    }
  };
  ws.onclose = (e) => {
    if (socket !== ws) return;
    socket = null;
    if (e.code === 4001 || e.code === 4003 || !sessionStorage.getItem(TOKEN_KEY)) return;
    setConnection('reconnecting', false);
    reconnectTimer = setTimeout(connect, 2000);
  };
}

function fmtTime(ms) {
  if (typeof ms !== 'number') return '—';
  const inS = Math.round((ms - (Date.now() + clockOffset)) / 1000);
  const rel = inS >= 0 ? `in ${inS} s` : `${-inS} s ago`;
  return `${new Date(ms).toLocaleTimeString()} (${rel})`;
}

function fmtDuration(ms) {
  if (typeof ms !== 'number' || ms === 0) return '—';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function cell(row, text, attrs = {}) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '—' : String(text);
  for (const [k, v] of Object.entries(attrs)) td.setAttribute(k, v);
  row.append(td);
  return td;
}

function stateCell(row, text, state = text) {
  const td = cell(row, text);
  td.classList.add('state', state.split(/[.,]/)[0]);
  td.dataset.field = 'state';
  return td;
}

function retryButton(row, label, url) {
  const td = document.createElement('td');
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.className = 'retry';
  button.onclick = async () => {
    button.disabled = true;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, 'content-type': 'application/json' },
        body: '{}',
      });
      if (!response.ok) button.title = (await response.json().catch(() => ({}))).error || `HTTP ${response.status}`;
    } finally {
      button.disabled = false;
    }
  };
  td.append(button);
  row.append(td);
}

function fill(tableId, rows, build) {
  const body = $(`#${tableId} tbody`);
  body.replaceChildren(...rows.map(build));
  $(`#${tableId}-empty`).hidden = rows.length > 0;
  $(`#${tableId}`).hidden = rows.length === 0;
}

function render({ actors, user_streams: streams }) {
  const byKind = (kind) => actors.filter((a) => a.kind === kind);
  fill('appservices', byKind('appservice'), (a) => {
    const f = a.figures;
    const tr = document.createElement('tr');
    tr.dataset.actor = a.id;
    cell(tr, a.id.slice(3));
    stateCell(tr, `${f.status === 'down' ? 'DOWN' : 'UP'} · ${a.state}`, f.status === 'down' ? 'down' : 'up');
    cell(tr, f.backoffStep);
    cell(tr, fmtTime(f.nextRetryAt), { 'data-field': 'next-retry', 'data-at': String(f.nextRetryAt ?? '') });
    cell(tr, f.position, { 'data-field': 'position' });
    cell(tr, Math.max(0, (f.notifiedPosition ?? 0) - (f.position ?? 0)));
    cell(tr, f.inFlightTxnId);
    cell(tr, `${f.transactionsSent} / ${f.transactionsFailed}`);
    cell(tr, f.lastFailure);
    retryButton(tr, 'Retry now', `/_troupe/admin/v1/appservices/${encodeURIComponent(a.id.slice(3))}/retry`);
    return tr;
  });
  fill('destinations', byKind('destination'), (a) => {
    const f = a.figures;
    const tr = document.createElement('tr');
    tr.dataset.actor = a.id;
    cell(tr, a.id.slice(5));
    stateCell(tr, a.state);
    cell(tr, fmtDuration(f.retryIntervalMs));
    cell(tr, fmtTime(f.nextRetryAt), { 'data-field': 'next-retry', 'data-at': String(f.nextRetryAt ?? '') });
    cell(tr, f.queuedPdus);
    cell(tr, f.queuedEdus);
    cell(tr, f.inFlightTxnId);
    cell(tr, `${f.transactionsSent} / ${f.transactionsFailed}`);
    cell(tr, f.failureTs ? new Date(f.failureTs).toLocaleString() : null);
    retryButton(tr, 'Retry now', `/_troupe/admin/v1/destinations/${encodeURIComponent(a.id.slice(5))}/retry`);
    return tr;
  });
  const supervisor = actors.find((a) => a.kind === 'supervisor');
  const figures = { ...streams, wakeUps: supervisor?.figures.wakeUps ?? 0, supervisor: supervisor?.state ?? '—' };
  for (const td of document.querySelectorAll('#user-streams td')) td.textContent = String(figures[td.dataset.figure] ?? '—');
  fill('others', actors.filter((a) => !['appservice', 'destination', 'supervisor', 'userStream'].includes(a.kind)), (a) => {
    const tr = document.createElement('tr');
    tr.dataset.actor = a.id;
    cell(tr, a.id);
    cell(tr, a.kind);
    stateCell(tr, a.state);
    cell(tr, JSON.stringify(a.figures));
    return tr;
  });
  highlight(actors);
}

function renderMachines() {
  const boxes = machines.map((m) => {
    const box = document.createElement('div');
    box.className = 'machine-box';
    box.dataset.kind = m.kind;
    const h = document.createElement('h3');
    h.textContent = `${m.kind} (${m.id})`;
    box.append(h);
    // Generated on the server from the machine definition, every name escaped there.
    box.insertAdjacentHTML('beforeend', m.svg);
    return box;
  });
  $('#machines').replaceChildren(...boxes);
}

/** Marks the states some live actor of each kind is in (a dotted path highlights each of its prefixes). */
function highlight(actors) {
  for (const box of document.querySelectorAll('.machine-box')) {
    const active = new Set();
    for (const a of actors) {
      if (a.kind !== box.dataset.kind) continue;
      for (const part of a.state.split(',')) {
        const steps = part.split('.');
        for (let i = 1; i <= steps.length; i++) active.add(steps.slice(0, i).join('.'));
      }
    }
    for (const g of box.querySelectorAll('g.state')) g.classList.toggle('active', active.has(g.dataset.path));
  }
}

$('#password-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const token = await login($('#login-user').value, $('#login-password').value);
    $('#login-password').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(OWN_TOKEN_KEY, '1');
    connect();
  } catch (error) {
    showLogin(error.message);
  }
});

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('#login-token').value.trim();
  $('#login-token').value = '';
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.removeItem(OWN_TOKEN_KEY);
  connect();
});

$('#logout').addEventListener('click', async () => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const own = sessionStorage.getItem(OWN_TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OWN_TOKEN_KEY);
  socket?.close();
  // A token this page obtained by logging in is logged out; a pasted one belongs to someone else.
  if (token && own) await fetch('/_matrix/client/v3/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => {});
  showLogin();
});

connect();
