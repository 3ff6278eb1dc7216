// conflicts.js -- the conflicts view: the party's conflicts (newest first)
// and one conflict's detail: the overlap, the other side's contact and
// flags (acknowledged, accepted, exigent with its reason), and the
// acknowledge and accept buttons for the roles that may use them.

import { h, clear, fmtTime } from './util.js';
import { problemText } from './api.js';

const ACTORS = ['duty', 'senior', 'party-admin'];

export function createConflicts(app) {
  const t = app.t;
  const list = document.getElementById('cf-list');
  const detail = document.getElementById('cf-detail');
  let items = [], selected = null;

  function row(k, v) { return [h('dt', {}, k), h('dd', {}, v)]; }

  function renderDetail() {
    clear(detail);
    const c = items.find((x) => x.id === selected);
    if (!c) return;
    const o = c.overlap, other = c.other;
    const contact = other.contact || {};
    const may = ACTORS.includes(app.whoami.role) && c.state !== 'resolved';
    const msg = h('p', { class: 'error', role: 'alert' });
    const act = (what) => async () => {
      try {
        await app.api.post(`/v1/conflicts/${c.id}/${what}`);
        await app.refreshConflicts();
      } catch (e) { msg.textContent = problemText(e); }
    };
    detail.append(
      h('h3', {}, t('cf.with', { party: other.party.name })),
      h('p', {}, h('span', { class: 'badge st-' + c.state, id: 'cf-state' }, t('state.' + c.state)),
        other.exigent ? h('span', { class: 'badge exigent' }, t('cf.exigent')) : null),
      h('dl', {},
        row(t('cf.id'), c.id),
        row(t('cf.ownop'), `${c.own.operation.kind} (${c.own.operation.id})`),
        row(t('cf.time'), `${fmtTime(o.time.start)} – ${fmtTime(o.time.end)}`),
        row(t('cf.alt'), `${o.altitude.lower_m}–${o.altitude.upper_m} m`),
        row(t('cf.region'), `${o.region.south.toFixed(3)}…${o.region.north.toFixed(3)}° N, ` +
          `${o.region.west.toFixed(3)}…${o.region.east.toFixed(3)}° E` +
          (o.region_grid_m ? ' ' + t('cf.grid', { m: o.region_grid_m }) : '')),
        row(t('cf.sep'), `${c.separation.horizontal_m} m / ${c.separation.vertical_m} m / ${c.separation.time_s} s`),
        other.exigent ? row(t('cf.reason'), other.exigent_reason || '') : null,
        other.kind ? row(t('cf.otherkind'), `${other.kind}, ${t('ed.priority')} ${other.priority}`) : null,
        row(t('cf.contact'), h('span', {}, ['name', 'phone', 'email', 'radio', 'notes']
          .filter((k) => contact[k]).map((k) => h('span', { class: 'contact' }, `${t('contact.' + k)}: ${contact[k]}`)))),
        row(t('cf.ownack'), c.own.acknowledged ? `✓ ${fmtTime(c.own.acknowledged.at)}` : '—'),
        row(t('cf.ownacc'), c.own.accepted ? `✓ ${fmtTime(c.own.accepted.at)}` : '—'),
        row(t('cf.otherack'), other.acknowledged ? '✓' : '—'),
        row(t('cf.otheracc'), other.accepted ? '✓' : '—')),
      h('div', { class: 'buttons' },
        may && !c.own.acknowledged ? h('button', { id: 'cf-ack', onclick: act('acknowledge') }, t('cf.ack')) : null,
        may && !c.own.accepted ? h('button', { id: 'cf-accept', onclick: act('accept') }, t('cf.accept')) : null,
        h('button', { onclick: () => app.showOnMap(c) }, t('cf.onmap'))),
      msg);
  }

  function render() {
    clear(list);
    for (const c of items) {
      list.append(h('li', { class: c.id === selected ? 'sel' : '' },
        h('button', { class: 'item', 'aria-pressed': c.id === selected ? 'true' : 'false', dataset: { id: c.id },
          onclick: () => { selected = c.id; render(); } },
          h('span', { class: 'badge st-' + c.state }, t('state.' + c.state)), ' ',
          t('cf.with', { party: c.other.party.name }), ' · ', fmtTime(c.overlap.time.start),
          c.other.exigent ? h('span', { class: 'badge exigent' }, t('cf.exigent')) : null)));
    }
    if (!items.length) list.append(h('li', { class: 'empty' }, t('cf.none')));
    renderDetail();
  }

  return {
    set(views) {
      items = views.slice().sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
      if (!selected && items.length) selected = items[0].id;
      render();
    },
    select(id) { selected = id; render(); },
    render,
  };
}
