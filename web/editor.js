// editor.js -- the operation editor: draw a polygon (click the vertices,
// drag them to move) or a circle (click the centre, click again for the
// radius) on the map, or type the coordinates; set times, altitudes, kind,
// priority and disclosure; the draft is checked live against the other
// parties' operations (POST /v1/operations/check) before it is saved.
// Saving a changed operation sends If-Match with the version it was opened
// at: a 412 keeps the user's draft, explains what happened and shows the
// server's current version beside it; the next save is then made against
// that version, on purpose.
// Invariant: the editor edits the first volume; any other volumes of the
// operation are sent back unchanged.

import { h, clear, toInput, fromInput, debounce, fmtTime } from './util.js';
import { volumeLayer } from './map.js';
import { problemText, ApiError } from './api.js';

export function createEditor(app, mv) {
  const { L, map } = mv;
  const $ = (id) => document.getElementById(id);
  const form = $('editor');
  const draftLayer = L.layerGroup().addTo(map);
  const checkLayer = L.layerGroup().addTo(map);
  const serverLayer = L.layerGroup().addTo(map);
  const t = app.t;
  let open = false, base = null, shape = 'polygon', vertices = [], center = null, radius = 0;
  let checkSeq = 0;

  const vtxIcon = L.divIcon({ className: 'vtx', iconSize: [12, 12] });

  function footprint() {
    if (shape === 'circle') {
      if (!center || !(radius > 0)) return null;
      return { type: 'circle', center: { lat: center[0], lng: center[1] }, radius_m: Math.round(radius) };
    }
    if (vertices.length < 3) return null;
    return { type: 'polygon', vertices: vertices.map(([lat, lng]) => ({ lat: +lat.toFixed(6), lng: +lng.toFixed(6) })) };
  }

  function body() {
    const fp = footprint();
    if (!fp) return null;
    const b = {
      kind: $('ed-kind').value.trim(),
      priority: Number($('ed-priority').value),
      disclosure: $('ed-disclosure').value,
      volumes: [{
        footprint: fp,
        altitude: { lower_m: Number($('ed-lower').value), upper_m: Number($('ed-upper').value) },
        time: { start: fromInput($('ed-start').value), end: fromInput($('ed-end').value) },
      }],
    };
    if (base) {
      if (base.separation) b.separation = base.separation;
      b.volumes.push(...base.volumes.slice(1));
    }
    if ($('ed-exigent').checked) {
      b.exigent = true;
      b.exigent_reason = $('ed-reason').value;
    }
    return b;
  }

  function hint() {
    let k;
    if (shape === 'circle') k = !center ? 'ed.hint.centre' : 'ed.hint.radius';
    else k = vertices.length < 3 ? 'ed.hint.poly' : 'ed.hint.polydone';
    $('ed-hint').textContent = t(k, { n: vertices.length });
  }

  function writeCoords() {
    $('ed-coords').value = shape === 'circle'
      ? (center ? `${center[0].toFixed(5)}, ${center[1].toFixed(5)}` : '')
      : vertices.map(([a, b]) => `${a.toFixed(5)}, ${b.toFixed(5)}`).join('\n');
    $('ed-radius').value = radius ? Math.round(radius) : '';
  }

  function readCoords() {
    const pts = $('ed-coords').value.split('\n').map((l) => l.split(',').map(Number))
      .filter((p) => p.length === 2 && p.every(Number.isFinite));
    if (shape === 'circle') center = pts[0] || null;
    else vertices = pts;
    draw(false);
  }

  function draw(coords = true) {
    draftLayer.clearLayers();
    const style = { color: '#f59e0b', weight: 3, dashArray: '6 4', fillOpacity: 0.2, className: 'draft' };
    if (shape === 'circle') {
      if (center) {
        if (radius > 0) L.circle(center, { radius, ...style }).addTo(draftLayer);
        const m = L.marker(center, { icon: vtxIcon, draggable: true, keyboard: false }).addTo(draftLayer);
        m.on('drag', (e) => { center = [e.latlng.lat, e.latlng.lng]; });
        m.on('dragend', () => draw());
      }
    } else {
      if (vertices.length >= 2) L.polygon(vertices, style).addTo(draftLayer);
      vertices.forEach((p, i) => {
        const m = L.marker(p, { icon: vtxIcon, draggable: true, keyboard: false, title: t('ed.vertex', { n: i + 1 }) })
          .addTo(draftLayer);
        m.on('dragend', (e) => { vertices[i] = [e.target.getLatLng().lat, e.target.getLatLng().lng]; draw(); });
      });
    }
    if (coords) writeCoords();
    hint();
    check();
  }

  map.on('click', (e) => {
    if (!open) return;
    const p = [e.latlng.lat, e.latlng.lng];
    if (shape === 'circle') {
      if (!center || radius > 0) { center = p; radius = 0; }
      else radius = map.distance(center, p);
    } else vertices.push(p);
    draw();
  });

  const check = debounce(async () => {
    const b = body();
    const out = $('ed-check');
    checkLayer.clearLayers();
    if (!open || !b || !b.volumes[0].time.start || !b.volumes[0].time.end) { clear(out); return; }
    const seq = ++checkSeq;
    out.textContent = t('ed.checking');
    try {
      const r = await app.api.post('/v1/operations/check', b);
      if (seq !== checkSeq) return;
      clear(out);
      out.dataset.conflicts = r.conflicts.length;
      out.append(h('p', { class: r.conflicts.length ? 'warn' : 'ok' },
        r.conflicts.length ? t('ed.check.n', { n: r.conflicts.length }) : t('ed.check.none')));
      const ul = h('ul');
      for (const c of r.conflicts) {
        const o = c.overlap;
        ul.append(h('li', {}, `${c.other.party.name}: ${fmtTime(o.time.start)} – ${fmtTime(o.time.end)}, ` +
          `${o.altitude.lower_m}–${o.altitude.upper_m} m`));
        const g = o.region;
        L.rectangle([[g.south, g.west], [g.north, g.east]], { color: '#dc2626', dashArray: '3 3', weight: 2, fillOpacity: 0.25 })
          .addTo(checkLayer);
      }
      out.append(ul);
    } catch (e) {
      if (seq !== checkSeq) return;
      out.dataset.conflicts = '';
      out.textContent = t('ed.check.fail') + ' ' + problemText(e);
    }
  }, 600);

  function setShape(sh) {
    shape = sh;
    form.querySelector(`input[name=shape][value=${sh}]`).checked = true;
    $('ed-radius-l').hidden = sh !== 'circle';
  }

  function showServer(cur) {
    serverLayer.clearLayers();
    for (const v of cur.volumes) volumeLayer(v, { color: '#7c3aed', weight: 2, dashArray: '2 6', fillOpacity: 0.05 }).addTo(serverLayer);
    const v = cur.volumes[0];
    const box = $('editor-stale');
    clear(box);
    box.append(
      h('p', {}, h('strong', {}, t('ed.stale.title'))),
      h('p', {}, t('ed.stale.body', { mine: base.version, now: cur.version })),
      h('p', {}, t('ed.stale.server')),
      h('ul', {},
        h('li', {}, `${t('ed.kind')}: ${cur.kind}, ${t('ed.priority')}: ${cur.priority}, ${t('ed.disclosure')}: ${t('disc.' + cur.disclosure)}`),
        h('li', {}, `${t('ed.time')}: ${fmtTime(v.time.start)} – ${fmtTime(v.time.end)}`),
        h('li', {}, `${t('ed.alt')}: ${v.altitude.lower_m}–${v.altitude.upper_m} m`),
        h('li', {}, `${t('ed.version')}: ${cur.version} (${fmtTime(cur.updated_at)})`)),
      h('p', {}, t('ed.stale.next')));
    box.hidden = false;
  }

  async function save(ev) {
    ev.preventDefault();
    const b = body();
    $('ed-error').textContent = '';
    if (!b) { $('ed-error').textContent = t('ed.needshape'); return; }
    try {
      if (base) await app.api.put('/v1/operations/' + base.id, b, { ifMatch: `"${base.version}"` });
      else await app.api.post('/v1/operations', b);
      close();
      app.refresh();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412 && base) {
        try {
          const cur = await app.api.get('/v1/operations/' + base.id);
          showServer(cur);
          base = { ...cur };   // next save overwrites this version, knowingly
        } catch (e2) {
          $('ed-error').textContent = problemText(e2);
        }
        return;
      }
      $('ed-error').textContent = problemText(e);
    }
  }

  function openEditor(op) {
    open = true;
    base = op ? { ...op } : null;
    form.hidden = false;
    $('editor-stale').hidden = true;
    serverLayer.clearLayers();
    $('ed-error').textContent = '';
    $('editor-title').textContent = op ? t('ed.edit', { id: op.id }) : t('ed.new');
    form.dataset.op = op ? op.id : '';
    const v = op ? op.volumes[0] : null;
    const now = Math.ceil(app.api.now() / 3600e3) * 3600e3;
    $('ed-kind').value = op ? op.kind : 'drone';
    $('ed-priority').value = op ? op.priority : 50;
    $('ed-disclosure').value = op ? op.disclosure : 'contact';
    $('ed-start').value = toInput(v ? v.time.start : new Date(now + 3600e3).toISOString());
    $('ed-end').value = toInput(v ? v.time.end : new Date(now + 3 * 3600e3).toISOString());
    $('ed-lower').value = v ? v.altitude.lower_m : 0;
    $('ed-upper').value = v ? v.altitude.upper_m : 300;
    $('ed-exigent').checked = !!(op && op.exigent);
    $('ed-reason').value = (op && op.exigent_reason) || '';
    $('ed-reason-l').hidden = !$('ed-exigent').checked;
    vertices = []; center = null; radius = 0;
    if (v && v.footprint.type === 'circle') {
      setShape('circle');
      center = [v.footprint.center.lat, v.footprint.center.lng];
      radius = v.footprint.radius_m;
    } else {
      setShape('polygon');
      if (v) vertices = v.footprint.vertices.map((p) => [p.lat, p.lng]);
    }
    draw();
    if (op) mv.fitOperation(op);
    $('ed-kind').focus();
  }

  function close() {
    open = false;
    form.hidden = true;
    draftLayer.clearLayers();
    checkLayer.clearLayers();
    serverLayer.clearLayers();
    checkSeq++;
  }

  form.addEventListener('submit', save);
  $('ed-cancel').addEventListener('click', close);
  $('ed-clear').addEventListener('click', () => { vertices = []; center = null; radius = 0; draw(); });
  form.querySelectorAll('input[name=shape]').forEach((r) => r.addEventListener('change', () => {
    setShape(r.value); vertices = []; center = null; radius = 0; draw();
  }));
  $('ed-coords').addEventListener('change', readCoords);
  $('ed-radius').addEventListener('change', () => { radius = Number($('ed-radius').value) || 0; draw(); });
  $('ed-exigent').addEventListener('change', () => { $('ed-reason-l').hidden = !$('ed-exigent').checked; check(); });
  for (const id of ['ed-kind', 'ed-priority', 'ed-disclosure', 'ed-start', 'ed-end', 'ed-lower', 'ed-upper', 'ed-reason'])
    $(id).addEventListener('change', check);

  return { open: openEditor, close, isOpen: () => open, relabel: hint };
}
