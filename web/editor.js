// editor.js -- the operation editor: draw a polygon (click the vertices,
// drag them to move) or a circle (click the centre, click again for the
// radius) on the map, or type the coordinates; set times, altitudes, kind,
// priority and disclosure; the draft is checked live against the other
// parties' operations (POST /v1/operations/check) before it is saved.
// Saving a changed operation sends If-Match with the version it was opened
// at: a 412 keeps the user's draft, explains what happened and shows the
// server's current version beside it; the next save is then made against
// that version, on purpose.
// An operation has one or more volumes: the volume selector picks the one
// the form and the map edit; the others are drawn faintly and kept in
// `vols` (the API's form, footprint null until drawn).  Volumes can be
// added (starting from the current one's times and altitudes) and removed
// (never the last).  Invariant: vols[vi] is stale while the form is being
// edited; stash() writes the form back before anything reads vols.

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
  let vols = [null], vi = 0;
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

  // The volume in the form.
  function formVolume() {
    return {
      footprint: footprint(),
      altitude: { lower_m: Number($('ed-lower').value), upper_m: Number($('ed-upper').value) },
      time: { start: fromInput($('ed-start').value), end: fromInput($('ed-end').value) },
    };
  }

  function stash() { vols[vi] = formVolume(); }

  // The draft as the API takes it, or null while a volume has no shape
  // (missing() says which).
  function body() {
    stash();
    if (missing() >= 0) return null;
    const b = {
      kind: $('ed-kind').value.trim(),
      priority: Number($('ed-priority').value),
      disclosure: $('ed-disclosure').value,
      volumes: vols.map((v) => ({ footprint: v.footprint, altitude: { ...v.altitude }, time: { ...v.time } })),
    };
    if (base && base.separation) b.separation = base.separation;
    if ($('ed-exigent').checked) {
      b.exigent = true;
      b.exigent_reason = $('ed-reason').value;
    }
    return b;
  }

  function missing() { return vols.findIndex((v) => !v || !v.footprint); }

  function volumeSelect() {
    const sel = clear($('ed-volume'));
    vols.forEach((_, i) => sel.append(h('option', { value: String(i) }, t('ed.vol.n', { i: i + 1, n: vols.length }))));
    sel.value = String(vi);
    $('ed-vol-remove').disabled = vols.length < 2;
  }

  // Put volume i (null: a new one) into the form and on the map.
  function loadVolume(i) {
    vi = i;
    const v = vols[i];
    if (v) {
      $('ed-start').value = toInput(v.time.start);
      $('ed-end').value = toInput(v.time.end);
      $('ed-lower').value = v.altitude.lower_m;
      $('ed-upper').value = v.altitude.upper_m;
    }
    vertices = []; center = null; radius = 0;
    const fp = v && v.footprint;
    if (fp && fp.type === 'circle') {
      setShape('circle');
      center = [fp.center.lat, fp.center.lng];
      radius = fp.radius_m;
    } else {
      setShape('polygon');
      if (fp) vertices = fp.vertices.map((p) => [p.lat, p.lng]);
    }
    volumeSelect();
    draw();
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
    vols.forEach((v, i) => {
      if (i !== vi && v && v.footprint)
        volumeLayer(v, { color: '#b45309', weight: 1, dashArray: '2 4', fillOpacity: 0.08, className: 'draft-other' })
          .addTo(draftLayer);
    });
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
    if (!open || !b || !b.volumes.every((v) => v.time.start && v.time.end)) { clear(out); return; }
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
    if (!b) {
      const i = missing();
      $('ed-error').textContent = vols.length > 1 ? t('ed.needshape.n', { i: i + 1 }) : t('ed.needshape');
      if (i !== vi) loadVolume(i);
      return;
    }
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
    const now = Math.ceil(app.api.now() / 3600e3) * 3600e3;
    $('ed-kind').value = op ? op.kind : 'drone';
    $('ed-priority').value = op ? op.priority : 50;
    $('ed-disclosure').value = op ? op.disclosure : 'contact';
    $('ed-start').value = toInput(new Date(now + 3600e3).toISOString());
    $('ed-end').value = toInput(new Date(now + 3 * 3600e3).toISOString());
    $('ed-lower').value = 0;
    $('ed-upper').value = 300;
    $('ed-exigent').checked = !!(op && op.exigent);
    $('ed-reason').value = (op && op.exigent_reason) || '';
    $('ed-reason-l').hidden = !$('ed-exigent').checked;
    vols = op ? op.volumes.map((v) => JSON.parse(JSON.stringify(v))) : [null];
    loadVolume(0);
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
  $('ed-volume').addEventListener('change', () => { stash(); loadVolume(Number($('ed-volume').value)); });
  $('ed-vol-add').addEventListener('click', () => {
    stash();
    const from = vols[vi];
    vols.push({ footprint: null, altitude: { ...from.altitude }, time: { ...from.time } });
    loadVolume(vols.length - 1);
  });
  $('ed-vol-remove').addEventListener('click', () => {
    if (vols.length < 2) return;
    vols.splice(vi, 1);
    loadVolume(Math.min(vi, vols.length - 1));
  });
  $('ed-radius').addEventListener('change', () => { radius = Number($('ed-radius').value) || 0; draw(); });
  $('ed-exigent').addEventListener('change', () => { $('ed-reason-l').hidden = !$('ed-exigent').checked; check(); });
  for (const id of ['ed-kind', 'ed-priority', 'ed-disclosure', 'ed-start', 'ed-end', 'ed-lower', 'ed-upper', 'ed-reason'])
    $(id).addEventListener('change', check);

  return { open: openEditor, close, isOpen: () => open, relabel: hint };
}
