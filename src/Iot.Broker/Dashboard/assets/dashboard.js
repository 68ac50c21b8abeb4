// The Iot broker dashboard: one dependency-free module. It reads the HTTP API (with the API key from the field at the
// top, kept in localStorage) and follows the live aggregates as Server-Sent Events read through fetch(), because
// EventSource cannot send the X-Api-Key header. Rendering is throttled to one frame per change; see docs/dashboard.md.

const POLL_MS = 3000;
const SLOW_POLL_MS = 15000;
const HISTORY_MS = 3600000;  // the chart shows the last hour of window ends, loaded from the history when the page opens
const MAX_POINTS = 720;      // per device: an hour of 5 s windows
const MAX_CHART_ENDS = 720;  // window ends drawn on the chart
const MAX_HISTORY = 20000;   // results asked of the history (the newest kept; the broker caps it too)
const MAX_ROWS = 300;        // table rows rendered at once (the filter finds the others)
const KEY_STORAGE = 'iot.dashboard.apiKey';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const state = {
  apiKey: localStorage.getItem(KEY_STORAGE) ?? '',
  stream: '',
  window: '',
  field: '',
  stat: 'avg',
  selected: '',
  latest: new Map(),   // key -> latest aggregate result
  series: new Map(),   // key -> [{ end: ms, result }], oldest first
  fields: new Set(),
  deviceIds: '',
  lastMetrics: null,
  deadLetterNotes: new Map(),
};

// ------------------------------------------------------------------ HTTP API

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

function authHeaders(extra) {
  const headers = new Headers(extra);
  if (state.apiKey) headers.set('X-Api-Key', state.apiKey);
  return headers;
}

async function problemDetail(res) {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text);
    return p.detail || p.title || text || res.statusText;
  } catch {
    return text || res.statusText;
  }
}

function showAuth(status, detail) {
  const banner = $('auth-banner');
  banner.hidden = false;
  banner.dataset.status = String(status);
  banner.textContent = status === 401
    ? `401 Unauthorized: the API needs a key. Enter an API key of a dashboard or service identity above. (${detail})`
    : `403 Forbidden: this API key may not read the API. (${detail})`;
}

function clearAuth() {
  const banner = $('auth-banner');
  if (!banner.hidden) {
    banner.hidden = true;
    banner.textContent = '';
  }
}

async function getJson(path) {
  const res = await fetch(path, { headers: authHeaders() });
  if (res.status === 401 || res.status === 403) {
    const detail = await problemDetail(res);
    showAuth(res.status, detail);
    throw new ApiError(res.status, detail);
  }
  if (!res.ok) throw new ApiError(res.status, await problemDetail(res));
  clearAuth();
  return res.json();
}

// ------------------------------------------------------------------ formatting

const escapeHtml = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function num(v, digits = 2) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const time = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

function age(iso) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function span(ts) {
  // TimeSpan as System.Text.Json writes it: [d.]hh:mm:ss[.fffffff]
  if (!ts) return '–';
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+)/.exec(ts);
  if (!m) return ts;
  const secs = (+(m[1] ?? 0)) * 86400 + (+m[2]) * 3600 + (+m[3]) * 60 + (+m[4]);
  if (secs === 0) return '–';
  return secs < 60 ? `${secs} s` : secs < 3600 ? `${Math.floor(secs / 60)} min` : `${Math.floor(secs / 3600)} h`;
}

// ------------------------------------------------------------------ render scheduling

let frameRequested = false;
const dirty = new Set();

function invalidate(part) {
  dirty.add(part);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      const parts = [...dirty];
      dirty.clear();
      if (parts.includes('table')) renderAggregateTable();
      if (parts.includes('chart')) renderChart();
    });
  }
}

// ------------------------------------------------------------------ live aggregates (SSE over fetch)

let sse = { controller: null, generation: 0, retry: 1000 };

function setLive(text, cls) {
  const pill = $('live-state');
  pill.textContent = text;
  pill.className = `pill ${cls}`;
}

function resetAggregates() {
  state.latest.clear();
  state.series.clear();
  state.fields.clear();
  renderFieldOptions();
  invalidate('table');
  invalidate('chart');
}

// The last hour of the window, recomputed by the broker from the stream, so the chart does not open empty. Live
// results that arrive first are kept: onAggregate merges by window end.
async function loadHistory(generation) {
  if (!state.stream || !state.window) return;
  const query = new URLSearchParams({ window: state.window, since: new Date(Date.now() - HISTORY_MS).toISOString(), max: String(MAX_HISTORY) });
  try {
    const history = await getJson(`/api/streams/${enc(state.stream)}/aggregates/history?${query}`);
    if (generation !== sse.generation) return;
    for (const r of history.results) onAggregate(r);
    $('agg-chart').dataset.history = String(history.results.length);
  } catch (error) {
    console.warn('aggregate history:', error);
  }
}

function followAggregates() {
  sse.controller?.abort();
  const generation = ++sse.generation;
  if (!state.stream) return;
  loadHistory(generation);
  const controller = new AbortController();
  sse.controller = controller;
  const query = new URLSearchParams({ latest: 'true' });
  if (state.window) query.set('window', state.window);
  const url = `/api/streams/${enc(state.stream)}/aggregates?${query}`;
  setLive('connecting', 'warn');

  (async () => {
    try {
      const res = await fetch(url, { headers: authHeaders({ Accept: 'text/event-stream' }), signal: controller.signal });
      if (res.status === 401 || res.status === 403) {
        showAuth(res.status, await problemDetail(res));
        throw new ApiError(res.status, 'aggregates');
      }
      if (!res.ok) throw new ApiError(res.status, await problemDetail(res));
      setLive('live', 'ok');
      sse.retry = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          onServerEvent(block);
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      console.warn('aggregates:', error);
    }
    if (generation !== sse.generation) return;
    setLive('reconnecting', 'bad');
    setTimeout(() => { if (generation === sse.generation) followAggregates(); }, sse.retry);
    sse.retry = Math.min(sse.retry * 2, 15000);
  })();
}

function onServerEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (event !== 'aggregate' || data.length === 0) return;
  try {
    onAggregate(JSON.parse(data.join('\n')));
  } catch (error) {
    console.warn('bad aggregate event', error);
  }
}

function onAggregate(r) {
  if (state.window && r.window !== state.window) return;
  const end = Date.parse(r.end);
  const previous = state.latest.get(r.key);
  if (!previous || Date.parse(previous.end) <= end) state.latest.set(r.key, r);

  let points = state.series.get(r.key);
  if (!points) state.series.set(r.key, points = []);
  const last = points[points.length - 1];
  if (!last || last.end < end) points.push({ end, result: r });
  else if (last.end === end) last.result = r;
  else {
    // A replayed or late result: insert in order, replacing one with the same end.
    const i = points.findIndex((p) => p.end >= end);
    if (points[i].end === end) points[i].result = r; else points.splice(i, 0, { end, result: r });
  }
  if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);

  let newField = false;
  for (const f of Object.keys(r.fields ?? {})) {
    if (!state.fields.has(f)) { state.fields.add(f); newField = true; }
  }
  if (newField) renderFieldOptions();
  invalidate('table');
  invalidate('chart');
}

function valueOf(result, field, stat) {
  if (!result) return undefined;
  if (stat === 'count' && !field) return result.count;
  const f = result.fields?.[field];
  return f ? f[stat] : undefined;
}

function renderFieldOptions() {
  const select = $('agg-field');
  const fields = [...state.fields].sort();
  if (!state.field || !state.fields.has(state.field)) state.field = fields.includes('temperature') ? 'temperature' : (fields[0] ?? '');
  select.innerHTML = fields.map((f) => `<option${f === state.field ? ' selected' : ''}>${escapeHtml(f)}</option>`).join('');
}

function renderAggregateTable() {
  const fields = [...state.fields].sort();
  const stat = state.stat;
  const filter = $('agg-filter').value.trim().toLowerCase();
  const keys = [...state.latest.keys()].sort();
  if (keys.length && !state.latest.has(state.selected)) {
    state.selected = keys[0];
    invalidate('chart');
  }
  const shown = keys.filter((k) => !filter || k.toLowerCase().includes(filter));
  const head = `<tr><th>device</th><th>window</th><th>window end</th><th class="n">events</th>${fields.map((f) => `<th class="n">${escapeHtml(f)} (${stat})</th>`).join('')}</tr>`;
  const table = $('agg-table');
  if (table.tHead.dataset.head !== head) {
    table.tHead.innerHTML = head;
    table.tHead.dataset.head = head;
  }
  table.tBodies[0].innerHTML = shown.slice(0, MAX_ROWS).map((k) => {
    const r = state.latest.get(k);
    const cells = fields.map((f) => {
      const v = valueOf(r, f, stat);
      return `<td class="n" data-field="${escapeHtml(f)}">${num(v)}</td>`;
    }).join('');
    return `<tr data-key="${escapeHtml(k)}" data-end="${escapeHtml(r.end)}"${k === state.selected ? ' class="selected"' : ''}>` +
      `<td>${escapeHtml(k)}</td><td>${escapeHtml(r.window)}</td><td>${time(Date.parse(r.end))}</td><td class="n">${num(r.count)}</td>${cells}</tr>`;
  }).join('');

  const newest = keys.reduce((m, k) => Math.max(m, Date.parse(state.latest.get(k).end)), 0);
  $('agg-summary').textContent = keys.length === 0
    ? (state.stream ? `Waiting for the first closed window of ${state.stream}${state.window ? '/' + state.window : ''}…` : 'No stream.')
    : `${keys.length} device${keys.length === 1 ? '' : 's'}` +
      (shown.length > MAX_ROWS ? `, showing ${MAX_ROWS} of ${shown.length} (filter to find others)` : filter ? `, ${shown.length} match` : '') +
      ` · newest window end ${time(newest)} · click a row to chart it`;
}

// ------------------------------------------------------------------ chart (canvas)

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function renderChart() {
  const canvas = $('agg-chart');
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0) return;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const field = state.field;
  const stat = state.stat;
  $('legend-device').textContent = state.selected ? `${state.selected} ${field} ${stat}` : 'device';

  // The fleet: per window end, the mean, min and max of the chosen value over all devices.
  const byEnd = new Map();
  for (const points of state.series.values()) {
    for (const p of points) {
      const v = valueOf(p.result, field, stat);
      if (v === undefined || Number.isNaN(v)) continue;
      let agg = byEnd.get(p.end);
      if (!agg) byEnd.set(p.end, agg = { sum: 0, n: 0, min: Infinity, max: -Infinity });
      agg.sum += v; agg.n += 1; agg.min = Math.min(agg.min, v); agg.max = Math.max(agg.max, v);
    }
  }
  const sorted = [...byEnd.keys()].sort((a, b) => a - b);
  const newestEnd = sorted[sorted.length - 1] ?? 0;
  const ends = sorted.filter((e) => e > newestEnd - HISTORY_MS).slice(-MAX_CHART_ENDS);
  const device = (state.series.get(state.selected) ?? [])
    .filter((p) => p.end >= (ends[0] ?? 0))
    .map((p) => ({ end: p.end, v: valueOf(p.result, field, stat) }))
    .filter((p) => p.v !== undefined);

  // What is drawn, for tests and scripts: window ends and the selected device's points.
  canvas.dataset.ends = String(ends.length);
  canvas.dataset.devicePoints = String(device.length);
  canvas.dataset.firstEnd = ends.length ? new Date(ends[0]).toISOString() : '';

  const ink = cssVar('--muted');
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = ink;
  if (ends.length === 0) {
    ctx.fillText(field ? 'no data yet' : 'waiting for aggregates…', 12, 20);
    return;
  }

  let lo = Infinity;
  let hi = -Infinity;
  for (const e of ends) { const a = byEnd.get(e); lo = Math.min(lo, a.min); hi = Math.max(hi, a.max); }
  for (const p of device) { lo = Math.min(lo, p.v); hi = Math.max(hi, p.v); }
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08;
  lo -= pad; hi += pad;
  const t0 = ends[0];
  const t1 = ends.length > 1 ? ends[ends.length - 1] : t0 + 1;
  const left = 52, right = 12, top = 10, bottom = 22;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);

  // Grid and labels.
  ctx.strokeStyle = cssVar('--line');
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(width - right, yy); ctx.stroke();
    ctx.fillText(num(v, Math.abs(hi - lo) < 10 ? 2 : 1), left - 6, yy + 4);
  }
  const labels = Math.min(6, ends.length);
  for (let i = 0; i < labels; i++) {
    const t = ends[Math.round((i * (ends.length - 1)) / Math.max(1, labels - 1))];
    ctx.textAlign = i === 0 ? 'left' : i === labels - 1 ? 'right' : 'center';
    ctx.fillText(time(t), x(t), height - 6);
  }

  // Fleet band (min to max) and mean.
  ctx.fillStyle = cssVar('--band');
  ctx.beginPath();
  ends.forEach((e, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(e), y(byEnd.get(e).max)));
  [...ends].reverse().forEach((e) => ctx.lineTo(x(e), y(byEnd.get(e).min)));
  ctx.closePath();
  ctx.fill();
  line(ctx, ends.map((e) => [x(e), y(byEnd.get(e).sum / byEnd.get(e).n)]), cssVar('--fleet'), 1.5);

  // The selected device.
  const pts = device.map((p) => [x(p.end), y(p.v)]);
  line(ctx, pts, cssVar('--accent'), 2);
  ctx.fillStyle = cssVar('--accent');
  for (const [px, py] of pts.slice(-30)) { ctx.beginPath(); ctx.arc(px, py, 2.2, 0, Math.PI * 2); ctx.fill(); }
}

function line(ctx, points, color, width) {
  if (points.length === 0) return;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
  ctx.stroke();
}

// ------------------------------------------------------------------ streams and windows

async function refreshStreams() {
  const streams = await getJson('/api/streams');
  const names = streams.map((s) => s.name).sort();
  const streamSelect = $('agg-stream');
  if (!state.stream || !names.includes(state.stream)) state.stream = names.includes('telemetry') ? 'telemetry' : (names[0] ?? '');
  streamSelect.innerHTML = names.map((n) => `<option${n === state.stream ? ' selected' : ''}>${escapeHtml(n)}</option>`).join('');
  await refreshWindows();
}

async function refreshWindows() {
  if (!state.stream) return;
  const statuses = await getJson(`/api/streams/${enc(state.stream)}/aggregations`);
  const windows = [...new Set(statuses.map((s) => s.window))].sort();
  const select = $('agg-window');
  const before = state.window;
  if (!windows.includes(state.window)) state.window = windows[0] ?? '';
  select.innerHTML = windows.length
    ? windows.map((w) => `<option${w === state.window ? ' selected' : ''}>${escapeHtml(w)}</option>`).join('')
    : '<option value="">none configured</option>';
  if (windows.length === 0) {
    $('agg-summary').textContent = `No window is configured over ${state.stream}: add one under Iot:Streams:Windows (docs/configuration.md).`;
  }
  if (before !== state.window || !sse.controller) {
    resetAggregates();
    followAggregates();
  }
}

// ------------------------------------------------------------------ clients and devices

let clientsCache = null;

async function refreshClients() {
  clientsCache = await getJson('/api/clients?limit=5000');
  renderClients();
  updateDeviceList();
}

function renderClients() {
  if (!clientsCache) return;
  const { connected, sessions, truncated, clients } = clientsCache;
  const filter = $('clients-filter').value.trim().toLowerCase();
  const shown = clients.filter((c) => !filter || c.clientId.toLowerCase().includes(filter));
  $('clients-summary').textContent = `${connected} connected · ${sessions} sessions` +
    (registered !== null ? ` · ${registered} registered devices` : '') +
    (shown.length > MAX_ROWS || truncated ? ` · showing ${Math.min(MAX_ROWS, shown.length)}` : '');
  $('clients-table').tBodies[0].innerHTML = shown.slice(0, MAX_ROWS).map((c) =>
    `<tr data-client-id="${escapeHtml(c.clientId)}"><td>${escapeHtml(c.clientId)}</td>` +
    `<td>${c.identity ? `${escapeHtml(c.identity)} <span class="muted">${escapeHtml(c.role)}</span>` : '<span class="muted">anonymous</span>'}</td>` +
    `<td>${escapeHtml(c.protocolVersion)}</td><td>${escapeHtml(c.remoteEndPoint ?? '')}</td>` +
    `<td title="${escapeHtml(c.connectedAt ?? '')}">${age(c.connectedAt)}</td>` +
    `<td class="n">${c.subscriptions}</td><td class="n">${c.queuedMessages}</td></tr>`).join('');
}

let registered = null;
let registeredIds = [];

async function refreshDevices() {
  const devices = await getJson('/api/devices');
  registeredIds = devices.filter((d) => d.role === 'device').map((d) => d.id);
  registered = registeredIds.length;
  renderClients();
  updateDeviceList();
}

function updateDeviceList() {
  const ids = new Set(registeredIds);
  for (const c of clientsCache?.clients ?? []) if (!c.role || c.role === 'device') ids.add(c.clientId);
  const sorted = [...ids].sort().slice(0, 2000);
  const joined = sorted.join('\n');
  if (joined === state.deviceIds) return;   // leave the datalist alone while nothing changed
  state.deviceIds = joined;
  $('device-ids').innerHTML = sorted.map((id) => `<option value="${escapeHtml(id)}"></option>`).join('');
}

// ------------------------------------------------------------------ cluster nodes

async function refreshNodes() {
  const cluster = await getJson('/api/cluster');
  const alive = cluster.nodes.filter((n) => n.alive).length;
  const nats = cluster.nats ? (cluster.nats.connected ? ` · NATS ${cluster.nats.server ?? ''}` : ` · NATS ${cluster.nats.state}`) : '';
  $('nodes-summary').textContent = cluster.mode === 'single'
    ? 'single process'
    : `cluster · ${alive} of ${cluster.nodes.length} alive${nats}${cluster.cutOff ? ' · cut off from NATS' : ''}`;
  $('nodes-table').tBodies[0].innerHTML = cluster.nodes.map((n) =>
    `<tr data-node-id="${escapeHtml(n.nodeId)}"><td>${escapeHtml(n.nodeId)}${n.self ? ' <span class="muted">this node</span>' : ''}</td>` +
    `<td>${n.alive ? 'alive' : '<span class="health bad">dead</span>'}</td><td>${escapeHtml(n.host ?? '')}</td>` +
    `<td class="n">${n.mqttPort ?? ''}</td><td class="n">${n.httpPort ?? ''}</td><td class="n">${n.connections}</td>` +
    `<td title="${escapeHtml(n.heartbeatAt ?? '')}">${age(n.heartbeatAt)}</td>` +
    `<td title="${escapeHtml(n.startedAt ?? '')}">${n.startedAt ? age(n.startedAt) : ''}</td></tr>`).join('');
}

// ------------------------------------------------------------------ queues and subscriptions

async function refreshQueues() {
  const queues = (await getJson('/api/queues')).slice(0, 50);
  const details = await Promise.all(queues.map((q) => getJson(`/api/queues/${enc(q.name)}`).catch(() => ({ queue: q, statistics: null }))));
  let dead = 0;
  $('queues-table').tBodies[0].innerHTML = details.map(({ queue, statistics: s }) => {
    dead += s?.deadLettered ?? 0;
    return `<tr data-queue="${escapeHtml(queue.name)}"><td>${escapeHtml(queue.name)}${queue.requiresSession ? ' <span class="muted">sessions</span>' : ''}</td>` +
      `<td class="n" data-stat="active">${num(s?.active)}</td><td class="n">${num(s?.scheduled)}</td><td class="n">${num(s?.deferred)}</td>` +
      `<td class="n${s?.deadLettered ? ' health bad' : ''}" data-stat="deadLettered">${num(s?.deadLettered)}</td><td class="n">${span(s?.oldestActiveAge)}</td></tr>`;
  }).join('');
  $('queues-summary').textContent = `${queues.length} queue${queues.length === 1 ? '' : 's'} · ${dead} dead-lettered`;
}

async function refreshSubscriptions() {
  const subscriptions = await getJson('/api/subscriptions');
  for (const s of subscriptions) {
    const note = state.deadLetterNotes.get(s.name);
    if (s.deadLetteredEvents > 0 && (!note || note.count !== s.deadLetteredEvents)) {
      // The newest dead letter's last outcome tells why deliveries fail.
      const letters = await getJson(`/api/subscriptions/${enc(s.name)}/deadletters?maxEvents=1`).catch(() => null);
      const first = letters?.value?.[0];
      state.deadLetterNotes.set(s.name, { count: s.deadLetteredEvents, text: first ? `${first.reason ?? ''} ${first.lastOutcome ?? ''}`.trim() : '' });
    }
  }
  let unhealthy = 0;
  $('subscriptions-table').tBodies[0].innerHTML = subscriptions.map((s) => {
    const d = s.destination ?? {};
    const target = d.endpointUrl ?? d.topic ?? '';
    let health = ['ok', 'healthy'];
    if (s.deadLetteredEvents > 0) health = ['bad', 'dead letters'];
    else if (s.pendingEvents >= 1000) health = ['warn', 'backlog'];
    if (health[0] !== 'ok') unhealthy++;
    const note = s.deadLetteredEvents > 0 ? state.deadLetterNotes.get(s.name)?.text ?? '' : '';
    return `<tr data-subscription="${escapeHtml(s.name)}"><td>${escapeHtml(s.name)}</td><td>${escapeHtml(s.filter?.topicFilter ?? '#')}</td>` +
      `<td>${escapeHtml(d.kind ?? '')} <span class="muted">${escapeHtml(target)}</span></td>` +
      `<td class="n" data-stat="pending">${num(s.pendingEvents)}</td><td class="n" data-stat="deadLettered">${num(s.deadLetteredEvents)}</td>` +
      `<td class="health ${health[0]}" title="${escapeHtml(note)}">${health[1]}${note ? ` <span class="muted">${escapeHtml(note.slice(0, 60))}</span>` : ''}</td></tr>`;
  }).join('') || '<tr><td colspan="6" class="muted">No event subscriptions (POST /api/subscriptions).</td></tr>';
  $('subscriptions-summary').textContent = `${subscriptions.length} subscription${subscriptions.length === 1 ? '' : 's'} · ${unhealthy} need attention`;
}

// ------------------------------------------------------------------ broker numbers (/metrics, no key needed)

async function refreshMetrics() {
  const res = await fetch('/metrics');
  if (!res.ok) return;
  const values = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^(iot_mqtt_connections|iot_mqtt_messages_received_total|iot_mqtt_messages_sent_total) (\d+)/.exec(line);
    if (m) values[m[1]] = Number(m[2]);
  }
  const now = performance.now();
  $('num-connections').textContent = num(values.iot_mqtt_connections);
  const last = state.lastMetrics;
  if (last) {
    const dt = (now - last.at) / 1000;
    $('num-in').textContent = num(Math.max(0, (values.iot_mqtt_messages_received_total - last.in) / dt), 0);
    $('num-out').textContent = num(Math.max(0, (values.iot_mqtt_messages_sent_total - last.out) / dt), 0);
  }
  state.lastMetrics = { at: now, in: values.iot_mqtt_messages_received_total, out: values.iot_mqtt_messages_sent_total };
}

// ------------------------------------------------------------------ command form

const PAYLOAD_EXAMPLES = {
  ping: '{}',
  setInterval: '{"intervalMs": 5000}',
  setTarget: '{"temperature": 22.5}',
  reboot: '{}',
};

function showCommandResult(cls, status, text, pollPath) {
  $('cmd-status').textContent = status;
  $('cmd-status').className = `health ${cls}`;
  const pre = $('cmd-result');
  pre.hidden = false;
  pre.className = `result ${cls}`;
  pre.dataset.outcome = cls;
  pre.textContent = text;
  const poll = $('cmd-poll');
  poll.hidden = !pollPath;
  if (pollPath) {
    $('cmd-poll-link').href = pollPath;
    $('cmd-poll-link').textContent = pollPath;
    poll.dataset.path = pollPath;
  }
}

function describeCommand(body) {
  const { answer, ...command } = body;
  return (answer !== undefined && answer !== null ? `answer:\n${JSON.stringify(answer, null, 2)}\n\n` : '') +
    `command:\n${JSON.stringify(command, null, 2)}`;
}

function showCommand(body, httpStatus) {
  const status = body.status;
  const cls = status === 'Completed' ? 'ok' : status === 'Failed' || status === 'DeadLettered' || status === 'Expired' ? 'bad' : 'warn';
  const label = status === 'Completed' ? 'answered' : status === 'Queued' || status === 'Delivered' ? 'waiting for the device' : status;
  showCommandResult(cls, `${httpStatus} · ${status} · ${label}`, describeCommand(body),
    cls === 'warn' ? `/api/commands/${enc(body.commandId)}` : null);
}

async function sendCommand(event) {
  event.preventDefault();
  const device = $('cmd-device').value.trim();
  const name = $('cmd-name').value.trim();
  const payload = $('cmd-payload').value.trim();
  const wait = Number($('cmd-wait').value);
  const ttl = Number($('cmd-ttl').value);
  if (payload) {
    try { JSON.parse(payload); } catch (error) {
      showCommandResult('bad', 'invalid JSON', `The payload is not JSON: ${error.message}`);
      return;
    }
  }
  const query = new URLSearchParams();
  if (wait > 0) query.set('wait', String(wait));
  if (ttl > 0) query.set('ttl', String(ttl));
  const button = $('cmd-send');
  button.disabled = true;
  $('cmd-status').textContent = wait > 0 ? `sent, waiting up to ${wait} s…` : 'sending…';
  $('cmd-status').className = 'muted';
  try {
    const res = await fetch(`/api/devices/${enc(device)}/commands/${enc(name)}${query.size ? '?' + query : ''}`, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/json' }),
      body: payload || '{}',
    });
    if (res.status === 200 || res.status === 202) {
      const body = await res.json();
      if (res.status === 202) {
        showCommandResult('warn', '202 · queued', describeCommand(body), res.headers.get('Location') ?? `/api/commands/${enc(body.commandId)}`);
      } else {
        showCommand(body, 200);
      }
    } else if (res.status === 504) {
      const problem = await res.json().catch(() => ({}));
      showCommandResult('warn', `504 · no answer yet (${problem.status ?? 'Queued'})`,
        `${problem.detail ?? 'The device did not answer in time.'}`, problem.commandId ? `/api/commands/${enc(problem.commandId)}` : res.headers.get('Location'));
    } else if (res.status === 401 || res.status === 403) {
      const detail = await problemDetail(res);
      showCommandResult('bad', `${res.status} · ${res.status === 401 ? 'no valid API key' : 'forbidden'}`,
        `${detail}\n\nSending commands needs the API key of a service identity.`);
    } else {
      showCommandResult('bad', `${res.status} · error`, await problemDetail(res));
    }
  } catch (error) {
    showCommandResult('bad', 'network error', String(error));
  } finally {
    button.disabled = false;
  }
}

async function pollCommand() {
  const path = $('cmd-poll').dataset.path;
  if (!path) return;
  try {
    showCommand(await getJson(path), 200);
  } catch (error) {
    showCommandResult('bad', 'error', String(error.message ?? error));
  }
}

// ------------------------------------------------------------------ wiring

async function safely(what, action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 401 || error.status === 403))) console.warn(what, error);
  }
}

let tick = 0;
async function poll() {
  if (!document.hidden) {
    const slow = tick % Math.round(SLOW_POLL_MS / POLL_MS) === 0;
    tick++;
    await Promise.all([
      safely('metrics', refreshMetrics),
      safely('clients', refreshClients),
      safely('nodes', refreshNodes),
      safely('queues', refreshQueues),
      safely('subscriptions', refreshSubscriptions),
      slow ? safely('devices', refreshDevices) : null,
      slow || !state.stream || !sse.controller ? safely('streams', refreshStreams) : null,
    ]);
  }
  setTimeout(poll, POLL_MS);
}

function init() {
  $('api-key').value = state.apiKey;
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.apiKey = $('api-key').value.trim();
    if (state.apiKey) localStorage.setItem(KEY_STORAGE, state.apiKey); else localStorage.removeItem(KEY_STORAGE);
    sse.controller?.abort();
    sse.controller = null;
    tick = 0;
    clearAuth();
    safely('streams', refreshStreams);
    safely('clients', refreshClients);
    safely('nodes', refreshNodes);
    safely('queues', refreshQueues);
    safely('subscriptions', refreshSubscriptions);
    safely('devices', refreshDevices);
  });
  $('agg-stream').addEventListener('change', (e) => { state.stream = e.target.value; state.window = ''; safely('windows', refreshWindows); });
  $('agg-window').addEventListener('change', (e) => { state.window = e.target.value; resetAggregates(); followAggregates(); });
  $('agg-field').addEventListener('change', (e) => { state.field = e.target.value; invalidate('chart'); });
  $('agg-stat').addEventListener('change', (e) => { state.stat = e.target.value; invalidate('table'); invalidate('chart'); });
  $('agg-filter').addEventListener('input', () => invalidate('table'));
  $('clients-filter').addEventListener('input', renderClients);
  $('agg-table').addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-key]');
    if (!row) return;
    state.selected = row.dataset.key;
    invalidate('table');
    invalidate('chart');
  });
  $('clients-table').addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-client-id]');
    if (row) $('cmd-device').value = row.dataset.clientId;
  });
  $('cmd-name').addEventListener('change', (e) => {
    const current = $('cmd-payload').value.trim();
    if (current === '' || Object.values(PAYLOAD_EXAMPLES).includes(current)) $('cmd-payload').value = PAYLOAD_EXAMPLES[e.target.value] ?? '{}';
  });
  $('command-form').addEventListener('submit', sendCommand);
  $('cmd-poll-button').addEventListener('click', pollCommand);
  window.addEventListener('resize', () => invalidate('chart'));
  document.addEventListener('visibilitychange', () => { if (!document.hidden) invalidate('chart'); });
  invalidate('chart');
  poll();
}

init();
