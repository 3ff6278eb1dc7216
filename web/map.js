// map.js -- the console's map: Leaflet over an offline basemap of country
// outlines (world-atlas, served by the binary), an optional tile layer when
// the deployment has one, the party's operations coloured by state and the
// conflicts' overlap regions, filtered by a moment in time and an altitude
// band.  Invariant: the layers always show exactly what passes the current
// filter; the editor draws its draft on a layer of its own (editor.js).

import * as L from './leaflet.js';

export const STATE_COLOURS = {
  planned: '#2563eb', active: '#16a34a', completed: '#6b7280', cancelled: '#9ca3af',
};

export function volumeLayer(v, style) {
  const f = v.footprint;
  if (f.type === 'circle') return L.circle([f.center.lat, f.center.lng], { radius: f.radius_m, ...style });
  return L.polygon(f.vertices.map((p) => [p.lat, p.lng]), style);
}

function meets(aStart, aEnd, t) {
  return Date.parse(aStart) <= t && t < Date.parse(aEnd);
}

function bandMeets(lower, upper, lo, hi) {
  return (lo === null || upper > lo) && (hi === null || lower < hi);
}

export function createMap(el, { t, tileUrl, onSelect }) {
  const map = L.map(el, { center: [35.0, 38.0], zoom: 6, worldCopyJump: true, attributionControl: false });
  const base = L.layerGroup().addTo(map);
  const opsLayer = L.layerGroup().addTo(map);
  const cfLayer = L.layerGroup().addTo(map);
  const self = {
    L, map, ops: [], conflicts: [], filter: { at: null, lo: null, hi: null },
    shown: { ops: 0, conflicts: 0 },
  };

  fetch('/assets/countries-50m.json').then((r) => r.json()).then((topo) => {
    const world = window.topojson.feature(topo, topo.objects.countries);
    L.geoJSON(world, {
      style: { color: '#8a8f98', weight: 1, fillColor: '#eef0e6', fillOpacity: 1 },
      interactive: false,
    }).addTo(base);
  }).catch(() => {});
  if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 18 }).addTo(base);

  self.setTileUrl = (url) => { if (url) L.tileLayer(url, { maxZoom: 18 }).addTo(base); };

  self.redraw = () => {
    opsLayer.clearLayers();
    cfLayer.clearLayers();
    const { at, lo, hi } = self.filter;
    let nOps = 0, nCf = 0;
    for (const op of self.ops) {
      const vols = op.volumes.filter((v) => (at === null || meets(v.time.start, v.time.end, at)) &&
        bandMeets(v.altitude.lower_m, v.altitude.upper_m, lo, hi));
      if (!vols.length) continue;
      nOps++;
      const colour = STATE_COLOURS[op.state] || '#000';
      for (const v of vols) {
        const layer = volumeLayer(v, {
          color: colour, weight: 2, fillOpacity: 0.15,
          dashArray: op.state === 'cancelled' ? '4 4' : null,
          className: 'op op-' + op.state,
        });
        layer.bindTooltip(`${op.kind} · ${t('state.' + op.state)} · ${v.altitude.lower_m}–${v.altitude.upper_m} m`);
        layer.on('click', () => onSelect && onSelect(op));
        layer.addTo(opsLayer);
      }
    }
    for (const c of self.conflicts) {
      const o = c.overlap;
      if (!o || !o.region) continue;
      if (at !== null && !meets(o.time.start, o.time.end, at)) continue;
      if (!bandMeets(o.altitude.lower_m, o.altitude.upper_m, lo, hi)) continue;
      nCf++;
      const r = o.region;
      L.rectangle([[r.south, r.west], [r.north, r.east]], {
        color: '#dc2626', weight: 2, fillOpacity: 0.3, className: 'overlap',
      }).bindTooltip(`${t('cf.overlap')} · ${c.other.party.name} · ${t('state.' + c.state)}`).addTo(cfLayer);
    }
    self.shown = { ops: nOps, conflicts: nCf };
    el.dataset.ops = nOps;
    el.dataset.conflicts = nCf;
  };

  self.setOperations = (ops) => { self.ops = ops; self.redraw(); };
  self.setConflicts = (cfs) => {
    self.conflicts = cfs.filter((c) => c.state !== 'resolved');
    self.redraw();
  };
  self.setFilter = (f) => { Object.assign(self.filter, f); self.redraw(); };

  // The span of time the slider covers: every volume and overlap shown.
  self.timeSpan = () => {
    let a = Infinity, b = -Infinity;
    for (const op of self.ops) for (const v of op.volumes) {
      a = Math.min(a, Date.parse(v.time.start));
      b = Math.max(b, Date.parse(v.time.end));
    }
    if (a === Infinity) { a = Date.now(); b = a + 86400e3; }
    return [a, b];
  };

  self.fitOperation = (op) => {
    const b = L.latLngBounds([]);
    for (const v of op.volumes) {
      const f = v.footprint;
      if (f.type === 'circle') b.extend(L.latLng(f.center.lat, f.center.lng).toBounds(2 * f.radius_m));
      else for (const p of f.vertices) b.extend([p.lat, p.lng]);
    }
    if (b.isValid()) map.fitBounds(b, { maxZoom: 10, padding: [30, 30] });
  };

  self.invalidate = () => map.invalidateSize();
  return self;
}
