// app.js -- the console's entry: sign-in and sign-out (a session cookie and
// its CSRF token, docs/console.md), the tabs, the operations list, the
// map's filters, and the live event stream that keeps every view current.
// Invariants: nothing but the sign-in page shows until GET/POST
// /v1/session has answered; any 401 returns to the sign-in page and closes
// the stream; every string shown comes from i18n.js in the chosen language.

import { createApi, problemText } from './api.js';
import { translate, LANGS } from './i18n.js';
import { h, clear, fmtTime } from './util.js';
import { createMap } from './map.js';
import { createEditor } from './editor.js';
import { createConflicts } from './conflicts.js';
import { createHotline } from './hotline.js';
import { createAudit } from './audit.js';

const $ = (id) => document.getElementById(id);
const api = createApi();
const EVENTS = [
  'operation.created', 'operation.updated', 'operation.activated', 'operation.completed', 'operation.cancelled',
  'conflict.opened', 'conflict.acknowledged', 'conflict.accepted', 'conflict.resolved',
  'line.proposed', 'line.opened', 'line.accepted', 'line.suspended', 'line.resumed', 'line.freeze', 'line.freeze_cleared',
  'message.new', 'message.delivered', 'message.acknowledged', 'message.escalated',
  'call.ringing', 'call.answered', 'call.declined', 'call.missed', 'call.ended', 'call.readout',
  'presence.changed',
];
const PLANNERS = ['planner', 'party-admin'];

const app = {
  api, lang: 'en', whoami: null, operations: [], conflictViews: [],
  t: (k, p) => translate(app.lang, k, p),
};
let mapView = null, editor = null, conflicts = null, hotline = null, audit = null, stream = null;
let view = 'map', signedIn = false;

// ------------------------------------------------------------ language --
function applyLang() {
  document.documentElement.lang = app.lang;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = app.t(e.dataset.i18n);
  for (const o of $('ed-disclosure').options) o.textContent = app.t('disc.' + o.value);
  $('lang').value = app.lang;
  if (signedIn) {
    renderWho();
    renderOps();
    conflicts.render();
    mapView.redraw();
    sliderOut();
    hotline.relang();
  }
}

$('lang').addEventListener('change', () => {
  app.lang = api.lang = LANGS.includes($('lang').value) ? $('lang').value : 'en';
  localStorage.setItem('dcf.lang', app.lang);
  applyLang();
});

app.status = (text) => { $('live').textContent = text; };

// --------------------------------------------------------------- views --
app.show = (v) => {
  view = v;
  for (const b of document.querySelectorAll('[role=tab]')) {
    const on = b.dataset.view === v;
    b.setAttribute('aria-selected', on ? 'true' : 'false');
    b.tabIndex = on ? 0 : -1;
    $('view-' + b.dataset.view).hidden = !on;
  }
  if (v === 'map' && mapView) mapView.invalidate();
};

const tabs = [...document.querySelectorAll('[role=tab]')];
for (const b of tabs) {
  b.addEventListener('click', () => app.show(b.dataset.view));
  b.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(b);
    const j = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i + tabs.length - 1) % tabs.length : -1;
    if (j >= 0) { tabs[j].focus(); app.show(tabs[j].dataset.view); }
  });
}

// ------------------------------------------------------------- sign-in --
function showSignIn(message, keep = false) {
  signedIn = false;
  if (picking) picking(null);
  if (stream) { stream.close(); stream = null; }
  if (hotline) hotline.stop();
  $('tabs').hidden = true;
  $('signout').hidden = true;
  $('whoami').textContent = '';
  $('urgent').hidden = true;
  for (const v of ['map', 'conflicts', 'hotline', 'audit']) $('view-' + v).hidden = true;
  $('view-signin').hidden = false;
  $('signin-error').textContent = message || '';
  // Boot shows the form only once its session check has failed, and a
  // token typed or pasted meanwhile must survive that (keep = true).
  if (!keep) $('token').value = '';
  $('token').focus();
}

api.onUnauthorized = () => { if (signedIn) showSignIn(app.t('signin.expired')); };

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('signin-error').textContent = '';
  try {
    const r = await api.request('POST', '/v1/session', { token: $('token').value.trim() }, { noAuthRedirect: true });
    await enter(r.data);
  } catch (e) {
    $('signin-error').textContent = e.status === 401 ? app.t('signin.bad') : problemText(e);
  }
});

$('signout').addEventListener('click', async () => {
  try { await api.del('/v1/session', { noAuthRedirect: true }); } catch { /* signed out anyway */ }
  api.csrf = null;
  showSignIn(app.t('signin.out'));
});

function renderWho() {
  const w = app.whoami;
  $('whoami').textContent = app.t('who', { party: w.party_name || w.party || '—', role: app.t('role.' + w.role) });
}

async function enter(session) {
  api.csrf = session.csrf;
  app.whoami = session.whoami;
  if (!app.whoami.party) { showSignIn(app.t('signin.admin')); return; }
  signedIn = true;
  $('view-signin').hidden = true;
  $('tabs').hidden = false;
  $('signout').hidden = false;
  renderWho();
  app.show('map');
  if (!mapView) {
    mapView = createMap($('map'), { t: app.t, tileUrl: session.tile_url, onSelect: (op) => selectOp(op) });
    editor = createEditor(app, mapView);
    conflicts = createConflicts(app);
    hotline = createHotline(app);
    audit = createAudit(app);
  } else {
    editor.close();
    hotline.reset();
  }
  $('op-new').hidden = !PLANNERS.includes(app.whoami.role);
  applyLang();
  await app.refresh();
  await hotline.loadAll();
  audit.load();
  openStream();
}

// ----------------------------------------------------------- area pick --
// A form elsewhere (a template's area field) asks for an area drawn on the
// map: the map view opens with a bar (hint, Done, Cancel), each click adds
// a corner, Done resolves with the corners ([lat, lng], at least 3) and
// Cancel (or Done with fewer) with null.  The editor is closed first, so
// that its own clicks do not draw too; one pick at a time.
let picking = null;
app.pickArea = () => new Promise((resolve) => {
  if (!mapView || picking) { resolve(null); return; }
  editor.close();
  const { L, map } = mapView;
  const pts = [];
  const layer = L.layerGroup().addTo(map);
  const style = { color: '#dc2626', weight: 3, dashArray: '6 4', fillOpacity: 0.15, className: 'pick' };
  const hint = () => { $('pick-hint').textContent = app.t('pick.hint', { n: pts.length }); };
  const onClick = (e) => {
    pts.push([e.latlng.lat, e.latlng.lng]);
    layer.clearLayers();
    if (pts.length >= 2) L.polygon(pts, style).addTo(layer);
    for (const p of pts) L.circleMarker(p, { radius: 4, color: '#dc2626' }).addTo(layer);
    hint();
  };
  const end = (result) => {
    map.off('click', onClick);
    map.removeLayer(layer);
    $('pick-bar').hidden = true;
    $('pick-done').onclick = $('pick-cancel').onclick = null;
    picking = null;
    resolve(result);
  };
  picking = end;
  map.on('click', onClick);
  $('pick-done').onclick = () => end(pts.length >= 3 ? pts : null);
  $('pick-cancel').onclick = () => end(null);
  $('pick-bar').hidden = false;
  hint();
  app.show('map');
  $('pick-done').focus();
});

// ---------------------------------------------------------- operations --
let selectedOp = null;
function selectOp(op) {
  selectedOp = op.id;
  renderOps();
  const li = document.querySelector(`#op-list [data-id="${op.id}"]`);
  if (li) li.scrollIntoView({ block: 'nearest' });
}

function renderOps() {
  const list = clear($('op-list'));
  const mayEdit = PLANNERS.includes(app.whoami.role);
  for (const op of app.operations) {
    const v = op.volumes[0];
    const live = op.state === 'planned' || op.state === 'active';
    const err = h('span', { class: 'error', role: 'alert' });
    const lc = (what) => async () => {
      try { await api.post(`/v1/operations/${op.id}/${what}`); await app.refresh(); } catch (e) { err.textContent = problemText(e); }
    };
    list.append(h('li', { class: op.id === selectedOp ? 'sel' : '', dataset: { id: op.id } },
      h('button', { class: 'item', onclick: () => { selectOp(op); mapView.fitOperation(op); } },
        h('span', { class: 'badge st-' + op.state }, app.t('state.' + op.state)), ' ',
        h('strong', {}, op.kind), ' ', fmtTime(v.time.start), ' · ', `${v.altitude.lower_m}–${v.altitude.upper_m} m`),
      mayEdit && live ? h('span', { class: 'opbtns' },
        h('button', { class: 'edit', onclick: () => editor.open(op) }, app.t('ops.edit')),
        op.state === 'planned' ? h('button', { onclick: lc('activate') }, app.t('ops.activate')) : null,
        h('button', { onclick: lc('cancel') }, app.t('ops.cancel'))) : null,
      err));
  }
  if (!app.operations.length) list.append(h('li', { class: 'empty' }, app.t('ops.none')));
  $('legend').replaceChildren(...['planned', 'active', 'completed', 'cancelled'].map((s) =>
    h('span', { class: 'lg lg-' + s }, app.t('state.' + s))), h('span', { class: 'lg lg-overlap' }, app.t('cf.overlap')));
}

async function listAll(path) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 50; i++) {
    const r = await api.get(path + (path.includes('?') ? '&' : '?') + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    out.push(...r.items);
    cursor = r.next_cursor;
    if (!cursor) break;
  }
  return out;
}

app.refreshOps = async () => {
  app.operations = await listAll('/v1/operations');
  mapView.setOperations(app.operations);
  renderOps();
  sliderRange();
};

app.refreshConflicts = async () => {
  app.conflictViews = await listAll('/v1/conflicts');
  mapView.setConflicts(app.conflictViews);
  conflicts.set(app.conflictViews);
  const open = app.conflictViews.filter((c) => c.state === 'open').length;
  $('conflict-count').textContent = open ? `(${open})` : '';
};

app.refresh = async () => {
  try {
    await app.refreshOps();
    await app.refreshConflicts();
  } catch (e) { app.status(problemText(e)); }
};

app.showOnMap = (c) => {
  app.show('map');
  const r = c.overlap.region;
  mapView.map.fitBounds([[r.south, r.west], [r.north, r.east]], { maxZoom: 11, padding: [40, 40] });
};

// ----------------------------------------------------- map's filters --
function sliderRange() {
  const [a, b] = mapView.timeSpan();
  $('slider').dataset.from = a;
  $('slider').dataset.to = b;
  sliderOut();
}
function sliderAt() {
  const s = $('slider');
  return Number(s.dataset.from) + ((Number(s.dataset.to) - Number(s.dataset.from)) * Number(s.value)) / 1000;
}
function sliderOut() {
  const all = $('slider-all').checked;
  $('slider').disabled = all;
  $('slider-out').textContent = all ? app.t('map.any') : fmtTime(new Date(sliderAt()).toISOString());
  const num = (id) => ($(id).value === '' ? null : Number($(id).value));
  mapView.setFilter({ at: all ? null : sliderAt(), lo: num('alt-lo'), hi: num('alt-hi') });
}
for (const id of ['slider', 'slider-all', 'alt-lo', 'alt-hi']) $(id).addEventListener('input', () => signedIn && sliderOut());
$('op-new').addEventListener('click', () => editor.open(null));

// -------------------------------------------------------- live events --
function openStream() {
  if (stream) stream.close();
  const es = new EventSource('/v1/events');
  stream = es;
  es.onopen = () => app.status(app.t('live.on'));
  es.onerror = async () => {
    if (stream !== es) return;
    app.status(app.t('live.off'));
    if (es.readyState === EventSource.CLOSED) {
      // A refused stream (401, 503) is not retried by the browser: find out
      // why, return to sign-in when the session is gone, else try again.
      try {
        await api.request('GET', '/v1/session');
        setTimeout(() => { if (signedIn && stream === es) openStream(); }, 3000);
      } catch { /* onUnauthorized handled it */ }
    }
  };
  let pending = null;
  const refreshSoon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => app.refresh(), 150);
  };
  for (const type of EVENTS) {
    es.addEventListener(type, (ev) => {
      let d = {};
      try { d = JSON.parse(ev.data); } catch { return; }
      if (type.startsWith('operation.') || type.startsWith('conflict.')) refreshSoon();
      else hotline.onEvent(type, d);
    });
  }
}

// ---------------------------------------------------------------- boot --
(async function boot() {
  app.lang = api.lang = LANGS.includes(localStorage.getItem('dcf.lang')) ? localStorage.getItem('dcf.lang') : 'en';
  applyLang();
  try {
    const r = await api.request('GET', '/v1/session', undefined, { noAuthRedirect: true });
    await enter(r.data);
  } catch {
    showSignIn('', true);
  }
})();
