// Harrier UI. Every value from an alert reaches the page through textContent or setAttribute on
// a fixed attribute: nothing is parsed as HTML. No inline script (the CSP forbids it).
'use strict';

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
const COLORS = { Emergency: '#5b0000', Alert: '#8b0000', Critical: '#c0392b', Error: '#e67e22', Warning: '#f1c40f',
  Notice: '#3498db', Informational: '#95a5a6', Debug: '#d5d8dc' };
let session = null;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
  if (r.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new Error('not logged in');
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

function showStore(st) {
  const b = $('store-banner');
  if (!b || !st) return;
  if (st.ok) { b.hidden = true; return; }
  b.hidden = false;
  b.textContent = 'Alert store (' + st.backend + ') is failing: ' + (st.error || 'unknown error');
}

function currentParams() {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of [...p.entries()]) if (v === '') p.delete(k);
  return p;
}

function fillFilters() {
  const p = currentParams();
  const f = $('filters');
  if (!f) return;
  for (const input of f.querySelectorAll('input, select')) {
    if (p.has(input.name)) input.value = p.get(input.name);
  }
  // Empty fields are left out of the URL, so a shared link only carries real filters.
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const input of f.querySelectorAll('input, select')) if (input.value !== '') q.set(input.name, input.value);
    location.search = q.toString();
  });
}

function prioCell(p) { return el('td', { class: 'p-' + p }, p); }

function fieldsOf(ev) { return ev.output_fields || {}; }

function containerOf(ev) {
  const f = fieldsOf(ev);
  return f['container.name'] || f['container.id'] || '';
}

function eventRow(ev, fresh) {
  const link = el('a', { href: '/event?id=' + encodeURIComponent(ev.id) }, ev.rule || '');
  const tr = el('tr', { 'data-id': String(ev.id) },
    el('td', {}, ev.time || ''), prioCell(ev.priority || ''), el('td', {}, link), el('td', {}, ev.hostname || ''),
    el('td', {}, containerOf(ev)), el('td', { class: 'output' }, ev.output || ''));
  if (fresh) tr.className = 'new';
  return tr;
}

async function pageDashboard() {
  const sel = $('d-since');
  const p = currentParams();
  if (p.has('since')) sel.value = p.get('since');
  sel.addEventListener('change', () => { location.search = 'since=' + encodeURIComponent(sel.value); });
  const d = await api('/api/v1/dashboard?since=' + encodeURIComponent(sel.value));
  $('total').textContent = String(d.total);
  showStore(d.store);
  $('store-state').textContent = 'store: ' + d.store.backend + (d.store.ok ? ', ok' : ', failing') + ', ' + d.store.alerts + ' stored';
  for (const [key, rows] of Object.entries(d.top)) {
    const ol = $('top-' + key);
    if (!ol) continue;
    clear(ol);
    for (const [name, n] of rows) {
      const q = new URLSearchParams();
      if (key === 'priority') { q.set('priority', name); } else if (key === 'rule') { q.set('rule', name); }
      else if (key === 'source') { q.set('source', name); } else if (key === 'hostname') { q.set('hostname', name); }
      else if (key === 'namespace') { q.set('namespace', name); } else if (key === 'tags') { q.set('tags', name); }
      else { q.set('q', name); }
      const li = el('li', { 'data-key': name, 'data-count': String(n) }, el('a', { href: '/events?' + q.toString() }, name), ' ', el('span', { class: 'muted' }, String(n)));
      ol.appendChild(li);
    }
  }
  drawChart(d);
}

function drawChart(d) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 900, H = 220, PAD = 30;
  const nb = Math.max(1, Math.ceil((d.now_ns - d.since_ns) / d.bucket_ns));
  const first = Math.floor(d.since_ns / d.bucket_ns) * d.bucket_ns;
  const stacks = new Map();
  for (const b of d.histogram) {
    const i = Math.round((b.start_ns - first) / d.bucket_ns);
    if (!stacks.has(i)) stacks.set(i, {});
    stacks.get(i)[b.priority] = (stacks.get(i)[b.priority] || 0) + b.count;
  }
  let max = 1;
  for (const s of stacks.values()) max = Math.max(max, Object.values(s).reduce((a, b) => a + b, 0));
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('width', '100%');
  svg.setAttribute('id', 'chart-svg');
  const bw = (W - PAD) / (nb + 1);
  for (const [i, s] of stacks) {
    let y = H - PAD;
    for (const p of PRIORITIES.slice().reverse()) {
      const n = s[p];
      if (!n) continue;
      const h = (H - 2 * PAD) * n / max;
      y -= h;
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', String(PAD + i * bw));
      r.setAttribute('y', String(y));
      r.setAttribute('width', String(Math.max(1, bw - 1)));
      r.setAttribute('height', String(h));
      r.setAttribute('fill', COLORS[p] || '#888');
      r.setAttribute('data-priority', p);
      r.setAttribute('data-count', String(n));
      const t = document.createElementNS(NS, 'title');
      t.textContent = p + ': ' + n;
      r.appendChild(t);
      svg.appendChild(r);
    }
  }
  const axis = document.createElementNS(NS, 'text');
  axis.setAttribute('x', '2'); axis.setAttribute('y', '14');
  axis.textContent = 'max ' + max + ' per ' + Math.round(d.bucket_ns / 60e9) + ' min';
  svg.appendChild(axis);
  const c = $('chart'); clear(c); c.appendChild(svg);
  const lg = $('legend'); clear(lg);
  for (const p of PRIORITIES) {
    const sw = el('span', { class: 'sw' }); sw.style.background = COLORS[p];
    lg.appendChild(el('span', {}, sw, p));
  }
}

// Pages go by the API's keyset cursor (`before=` the `next` of the page shown): a deep page costs
// what the first one does. The URL keeps `before`, the position of the page's first row (`pos`)
// for the range text, and the cursors of the pages before it (`back`, newest first, at most
// BACK_MAX) so "Newer" is a plain link too; past BACK_MAX pages "Newer" leads to the newest page.
const BACK_MAX = 100;
async function pageEvents() {
  fillFilters();
  const p = currentParams();
  const limit = parseInt(p.get('limit') || '50', 10);
  const before = p.get('before') || '';
  const back = (p.get('back') || '').split(',').filter(Boolean);
  const pos = before ? Math.max(0, parseInt(p.get('pos') || '0', 10) || 0) : 0;
  const q = currentParams();
  q.delete('back'); q.delete('pos'); q.delete('offset');
  q.set('limit', String(limit));
  const d = await api('/api/v1/events?' + q.toString());
  const body = $('events-body'); clear(body);
  for (const ev of d.events) body.appendChild(eventRow(ev, false));
  const fmt = (n) => n.toLocaleString('en-US');
  // Past 10,000 matches the store stops counting: the total is a lower bound.
  const shown = d.total_exact === false ? fmt(d.total) + '+' : fmt(d.total);
  $('count').textContent = shown + ' events';
  $('count').setAttribute('data-total', String(d.total));
  const exp = currentParams(); for (const k of ['limit', 'offset', 'before', 'back', 'pos']) exp.delete(k);
  exp.set('format', 'jsonl'); $('export-jsonl').setAttribute('href', '/api/v1/export?' + exp.toString());
  exp.set('format', 'csv'); $('export-csv').setAttribute('href', '/api/v1/export?' + exp.toString());
  const nav = (cursor, backList, at) => {
    const n = currentParams();
    for (const k of ['before', 'back', 'pos', 'offset']) n.delete(k);
    if (cursor) { n.set('before', cursor); n.set('pos', String(at)); }
    if (cursor && backList.length) n.set('back', backList.slice(0, BACK_MAX).join(','));
    return '/events?' + n.toString();
  };
  const from = pos + 1, to = pos + d.events.length;
  // The range's "of": the count, or past the cap at least the rows already paged through.
  let of = shown;
  if (!d.next && d.events.length) of = fmt(to); // the last page: every match has been seen
  else if (d.total_exact === false || to > d.total) of = fmt(Math.max(d.total, to)) + '+';
  $('page').textContent = d.events.length ? fmt(from) + '–' + fmt(to) + ' of ' + of : (before ? 'no older events' : '');
  const prev = $('prev'), next = $('next');
  if (before) {
    prev.hidden = false;
    if (back.length) prev.setAttribute('href', nav(back[0], back.slice(1), Math.max(0, pos - limit)));
    else if (pos > limit) { prev.setAttribute('href', nav('', [], 0)); prev.textContent = '⇤ Newest'; }
    else prev.setAttribute('href', nav('', [], 0));
  } else prev.hidden = true;
  if (d.next) { next.hidden = false; next.setAttribute('href', nav(d.next, before ? [before, ...back] : [], pos + d.events.length)); }
  else next.hidden = true;
}

async function pageGroups() {
  fillFilters();
  const d = await api('/api/v1/groups?' + currentParams().toString());
  const body = $('groups-body'); clear(body);
  for (const g of d.groups) {
    const q = new URLSearchParams({ rule: g.rule });
    if (g.container) q.set('container', g.container);
    body.appendChild(el('tr', {}, el('td', {}, String(g.count)), prioCell(g.priority),
      el('td', {}, el('a', { href: '/events?' + q.toString() }, g.rule)), el('td', {}, g.container), el('td', {}, g.hostname),
      el('td', {}, new Date(g.first_ns / 1e6).toISOString()), el('td', {}, new Date(g.last_ns / 1e6).toISOString())));
  }
}

async function pageLive() {
  fillFilters();
  const base = currentParams();
  const body = $('live-body');
  let last = 0;
  const first = new URLSearchParams(base); first.set('limit', '50');
  const d = await api('/api/v1/events?' + first.toString());
  for (const ev of d.events) { body.appendChild(eventRow(ev, false)); last = Math.max(last, ev.id); }
  // Server-sent events: the server pushes each stored alert that matches the filters.
  const q = new URLSearchParams(base); q.set('after', String(last));
  const es = new EventSource('/api/v1/events/stream?' + q.toString());
  es.addEventListener('open', () => { $('live-state').textContent = 'live (streaming)'; });
  es.addEventListener('alert', (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.id <= last) return;
    body.insertBefore(eventRow(ev, true), body.firstChild);
    last = ev.id;
    while (body.children.length > 1000) body.removeChild(body.lastChild);
    $('live-state').textContent = 'live (streaming), last alert ' + new Date().toLocaleTimeString();
  });
  es.addEventListener('store-error', (m) => {
    let msg = m.data;
    try { msg = JSON.parse(m.data).error; } catch (e) { /* keep the raw text */ }
    $('live-state').textContent = 'store error: ' + msg;
  });
  // The browser reconnects by itself (with Last-Event-ID); say so meanwhile.
  es.addEventListener('error', () => { $('live-state').textContent = 'reconnecting…'; });
}

function kv(tbody, k, v) { tbody.appendChild(el('tr', {}, el('th', {}, k), el('td', {}, v))); }

async function pageEvent() {
  const id = currentParams().get('id') || '';
  const ev = await api('/api/v1/events/' + encodeURIComponent(id));
  const f = fieldsOf(ev);
  $('ev-title').textContent = ev.rule || 'Event';
  $('ev-summary').textContent = [ev.time, ev.priority, ev.source, ev.hostname].join(' · ');
  $('ev-output').textContent = ev.output || '';
  $('ev-raw').textContent = JSON.stringify(ev, null, 2);
  const fields = $('ev-fields');
  for (const k of Object.keys(f).sort()) kv(fields, k, f[k] === null ? '<NA>' : String(f[k]));
  kv(fields, 'tags', (ev.tags || []).join(', '));
  // Ancestry from the fields the rule printed: the process, its parent, then proc.aname[N].
  const anc = $('ev-ancestry');
  const chain = [];
  if (f['proc.name'] || f['proc.cmdline']) chain.push([f['proc.name'], f['proc.cmdline'] || f['proc.exepath'], f['proc.pid']]);
  if (f['proc.pname'] || f['proc.pcmdline']) chain.push([f['proc.pname'], f['proc.pcmdline'], f['proc.ppid']]);
  for (let i = 2; i < 16; i++) {
    const n = f['proc.aname[' + i + ']'];
    if (n === undefined) continue;
    chain.push([n, f['proc.acmdline[' + i + ']'], f['proc.apid[' + i + ']']]);
  }
  for (const [name, cmd, pid] of chain) {
    anc.appendChild(el('li', {}, String(name || '?'), pid !== undefined && pid !== null ? ' (pid ' + pid + ')' : '', cmd ? ' — ' + cmd : ''));
  }
  if (!chain.length) anc.appendChild(el('li', { class: 'muted' }, 'no process fields in this alert'));
  const ct = $('ev-container');
  for (const k of ['container.id', 'container.name', 'container.image.repository', 'container.image.tag', 'container.image',
    'container.privileged', 'k8s.ns.name', 'k8s.pod.name', 'k8s.pod.uid', 'k8s.pod.labels']) {
    if (f[k] !== undefined && f[k] !== null) kv(ct, k, String(f[k]));
  }
  if (!ct.children.length) kv(ct, 'container', 'host (no container fields)');
  const ackState = $('ack-state');
  if (ev.ack) ackState.textContent = 'Acknowledged by ' + ev.ack.by + ': ' + ev.ack.note;
  else ackState.textContent = 'Not acknowledged.';
  if (session.role !== 'admin') $('ack-form').hidden = true;
  $('ack-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/v1/events/' + encodeURIComponent(id) + '/ack', {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf },
        body: JSON.stringify({ note: $('ack-note').value }) });
      ackState.textContent = 'Acknowledged by ' + session.user + ': ' + $('ack-note').value;
    } catch (err) { ackState.textContent = 'Failed: ' + err.message; }
  });
  const q = new URLSearchParams({ rule: ev.rule || '', limit: '11' });
  const c = f['container.id'];
  if (c) q.set('container', c);
  const sim = await api('/api/v1/events?' + q.toString());
  const sb = $('ev-similar');
  for (const s of sim.events) if (String(s.id) !== String(ev.id)) sb.appendChild(eventRow(s, false));
}

function pageLogin() {
  const p = new URLSearchParams(location.search);
  if (p.get('error')) $('login-error').hidden = false;
  const n = p.get('next');
  if (n && n.startsWith('/') && !n.startsWith('//')) $('next').value = n;
}

async function logout() {
  await fetch('/logout', { method: 'POST', credentials: 'same-origin', redirect: 'manual',
    headers: { 'X-CSRF-Token': session.csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'csrf=' + encodeURIComponent(session.csrf) });
  location.href = '/login';
}

async function main() {
  const page = document.body.dataset.page;
  if (page === 'login') return pageLogin();
  session = await api('/api/v1/session');
  $('whoami').textContent = session.user + ' (' + session.role + ')';
  $('logout').addEventListener('click', logout);
  const pages = { dashboard: pageDashboard, events: pageEvents, event: pageEvent, live: pageLive, groups: pageGroups };
  try {
    await pages[page]();
    document.body.setAttribute('data-ready', '1');
  } catch (e) {
    const b = $('store-banner'); b.hidden = false; b.textContent = 'Error: ' + e.message;
    document.body.setAttribute('data-ready', 'error');
  }
}

main();
