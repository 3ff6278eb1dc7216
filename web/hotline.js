// hotline.js -- the hotline view: lines with desk presence, a line's message
// thread with delivery and acknowledgement ticks, the send form (free text
// or a template form generated from GET /v1/templates, in the interface
// language), calls (ringing dialog, timer, transcript, end, readouts side by
// side), the urgent-message banner with its countdown, and the line's
// statistics as small charts.
// Invariants: a message is shown as the server last sent it (upsert by line
// and seq); template renderings come from the server in the language of
// the request, so switching language refetches the thread; the banner lists
// exactly the messages addressed to this party that have a deadline and are
// not yet acknowledged by it.

import { h, clear, fmtTime, mmss, toInput, fromInput } from './util.js';
import { problemText } from './api.js';
import { beep, ring } from './sound.js';
import { barChart, columnChart } from './charts.js';

export function createHotline(app) {
  const t = app.t;
  const $ = (id) => document.getElementById(id);
  const lineList = $('line-list'), lineDetail = $('line-detail'), statsBox = $('line-stats');
  const banner = $('urgent');
  const dialog = $('ring');
  let lines = [], templates = [], selected = null;
  const threads = new Map();     // line id -> Map(seq -> message)
  const calls = new Map();       // call id -> call
  let selectedCall = null, ringing = null, stopRing = null, tick = null;
  // Forms survive re-rendering (an event must not wipe what the user types).
  const kept = new Map();
  const keep = (key, make) => { if (!kept.has(key)) kept.set(key, make()); return kept.get(key); };

  // A call only moves forward (ringing -> answered -> ended, readouts are
  // added): a late answer must not replace a newer copy (events race replies).
  const RANK = { ringing: 0, answered: 1, declined: 2, missed: 2, ended: 2 };
  const rank = (c) => (RANK[c.state] ?? 0) * 100 + (c.readouts ? c.readouts.length : 0);
  function putCall(c) {
    const old = calls.get(c.id);
    if (!old || rank(c) >= rank(old)) calls.set(c.id, { ...old, ...c });
  }

  const party = () => app.whoami.party;
  const role = () => app.whoami.role;
  const myName = () => (localStorage.getItem('dcf.name') || `${party()} ${role()}`).slice(0, 100);

  const mayAck = (m) => (m.level === 'duty' && ['duty', 'senior'].includes(role())) ||
    (m.level === 'senior' && role() === 'senior');
  const myCopy = (m) => (m.recipients || []).find((r) => r.party === party());
  const needsMe = (m) => { const c = myCopy(m); return c && c.state !== 'acknowledged' && m.deadline; };

  // ----------------------------------------------------------- loading --
  async function loadLines() {
    const r = await app.api.get('/v1/lines?limit=100');
    const same = JSON.stringify(r.items) === JSON.stringify(lines);
    lines = r.items;
    if (same) return;   // keep the focus where it is
    if (!selected && lines.length) selected = lines[0].id;
    renderLines();
  }

  async function loadThread(id) {
    const m = new Map();
    let after = 0;
    for (let i = 0; i < 20; i++) {
      const r = await app.api.get(`/v1/lines/${id}/messages?after=${after}&limit=200`);
      for (const x of r.items) m.set(x.seq, x);
      if (!r.next_cursor) break;
      after = r.next_cursor;
    }
    threads.set(id, m);
  }

  async function loadCalls(id) {
    const r = await app.api.get(`/v1/lines/${id}/calls?limit=100`);
    for (const c of r.items) putCall(c);
    const mine = r.items.slice().sort((a, b) => b.started_at.localeCompare(a.started_at));
    if (!selectedCall && mine.length) selectedCall = mine[0].id;
    if (selectedCall) await loadCall(selectedCall);
  }

  async function loadCall(id) {
    putCall(await app.api.get('/v1/calls/' + id));
  }

  async function loadAll() {
    if (!templates.length) templates = (await app.api.get('/v1/templates')).items;
    await loadLines();
    for (const l of lines) await loadThread(l.id);
    if (selected) await loadCalls(selected);
    render();
  }

  // --------------------------------------------------------- rendering --
  function presence(l) {
    return h('ul', { class: 'presence' }, l.members.map((m) => h('li', {},
      m.party.name, ' ',
      ['duty', 'senior'].map((d) => h('span', {
        class: 'desk ' + (m.desks[d].present ? 'on' : 'off'),
        title: m.desks[d].last_seen ? fmtTime(m.desks[d].last_seen) : '',
        dataset: { party: m.party.id, desk: d },
      }, `${t('desk.' + d)}: ${m.desks[d].present ? t('hl.present') : t('hl.absent')}`)),
      m.suspended ? h('span', { class: 'badge warn' }, t('hl.suspended')) : null)));
  }

  // A party-admin proposes lines; accepting is the party-admin's too;
  // suspending and resuming our side also the senior desk's.
  function proposeForm() {
    const err = h('p', { class: 'error', role: 'alert' });
    const name = h('input', { id: 'lp-name', maxlength: 100, required: true });
    const members = h('input', { id: 'lp-members', required: true, placeholder: 'red, green' });
    const f = h('form', { id: 'line-propose', class: 'stack' },
      h('h4', {}, t('hl.propose')),
      h('label', {}, t('hl.linename'), ' ', name),
      h('label', {}, t('hl.members'), ' ', members),
      h('button', { type: 'submit' }, t('hl.proposebtn')), err);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const l = await app.api.post('/v1/lines', {
          name: name.value, members: members.value.split(',').map((x) => x.trim()).filter(Boolean) });
        name.value = members.value = '';
        selected = l.id;
        await loadLines();
        render();
      } catch (x) { err.textContent = problemText(x); }
    });
    return f;
  }

  function lineAdmin(l) {
    const me = l.members.find((m) => m.party.id === party());
    if (!me) return null;
    const err = h('p', { class: 'error', role: 'alert' });
    const act = async (path, body) => {
      err.textContent = '';
      try { await app.api.post(`/v1/lines/${l.id}/${path}`, body); } catch (x) { err.textContent = problemText(x); return false; }
      try { await loadLines(); render(); } catch (x) { err.textContent = problemText(x); }
      return true;
    };
    const box = h('div', { class: 'line-admin' });
    if (role() === 'party-admin' && !me.accepted_at)
      box.append(h('button', { id: 'line-accept', onclick: () => act('accept') }, t('hl.acceptline')));
    if (l.state === 'open' && ['party-admin', 'senior'].includes(role())) {
      if (me.suspended) {
        box.append(h('span', { class: 'badge warn' }, `${t('hl.suspended')}: ${me.suspended.reason}`), ' ',
          h('button', { id: 'line-resume', onclick: () => act('resume') }, t('hl.resume')));
      } else {
        // Kept like the other forms: an event re-rendering the view while
        // someone types the reason must not wipe it.
        const reason = keep('reason:' + l.id, () =>
          h('input', { id: 'line-reason', maxlength: 500, 'aria-label': t('hl.reason'), placeholder: t('hl.reason') }));
        box.append(reason, ' ', h('button', { id: 'line-suspend', onclick: async () => {
          const why = reason.value.trim();
          if (!why) { err.textContent = t('hl.needreason'); return; }
          if (await act('suspend', { reason: why })) reason.value = '';
        } }, t('hl.suspend')));
      }
    }
    box.append(err);
    return box.childNodes.length > 1 ? box : null;
  }

  function renderLines() {
    clear(lineList);
    for (const l of lines) {
      lineList.append(h('li', { class: l.id === selected ? 'sel' : '' },
        h('button', { class: 'item', 'aria-pressed': l.id === selected ? 'true' : 'false',
          onclick: async () => { selected = l.id; selectedCall = null; await loadThread(l.id); await loadCalls(l.id); render(); } },
          h('strong', {}, l.name), ' ', h('span', { class: 'badge' }, t('line.' + l.state))),
        presence(l)));
    }
    if (!lines.length) lineList.append(h('li', { class: 'empty' }, t('hl.nolines')));
    if (role() === 'party-admin') lineList.append(h('li', {}, keep('propose', proposeForm)));
  }

  function ticks(m) {
    if (!m.from || m.from.party !== party()) return null;
    return h('span', { class: 'ticks' }, (m.recipients || []).map((r) => {
      const cls = 'tick tick-' + r.state;
      const mark = r.state === 'sent' ? '✓' : '✓✓';
      const txt = r.state === 'acknowledged'
        ? t('tick.ack', { party: r.party, by: r.acknowledged_by || '' }) : t('tick.' + r.state, { party: r.party });
      return h('span', { class: cls, title: txt, 'aria-label': txt }, mark, ' ', txt);
    }));
  }

  function messageItem(m, lineId) {
    const own = m.from && m.from.party === party();
    const copy = myCopy(m);
    const msgErr = h('span', { class: 'error', role: 'alert' });
    const from = m.from && m.from.party ? m.from.party : t('hl.server');
    return h('li', { class: `msg ${own ? 'own' : 'their'} type-${m.type}`, dataset: { seq: m.seq, line: lineId } },
      h('div', { class: 'mhead' },
        h('span', { class: 'from' }, from), ' ',
        h('span', { class: 'badge type-' + m.type }, t('type.' + m.type)), ' ',
        h('span', { class: 'badge' }, t('desk.' + m.level)), ' ',
        m.kind !== 'message' ? h('span', { class: 'badge' }, t('kind.' + m.kind)) : null,
        h('time', { datetime: m.sent_at }, fmtTime(m.sent_at))),
      m.text ? h('p', { class: 'mtext' }, m.text) : null,
      m.template ? h('div', { class: 'tpl', lang: m.template.locale },
        h('strong', {}, m.template.title), h('pre', { class: 'rendering' }, m.template.rendering)) : null,
      m.conflict ? h('p', { class: 'mtext' }, t('hl.notice', { party: m.conflict.other.party.name, state: t('state.' + m.conflict.state) })) : null,
      ticks(m),
      copy ? h('div', { class: 'mine' },
        copy.state === 'acknowledged'
          ? h('span', { class: 'tick tick-acknowledged' }, t('hl.youacked', { by: copy.acknowledged_by || '' }))
          : mayAck(m) ? h('button', { class: 'ack', onclick: () => ack(m, msgErr) }, t('hl.ack')) : null,
        msgErr) : null);
  }

  function templateFields(tp) {
    const box = h('div', { class: 'tplform' });
    if (!tp) return box;
    for (const f of tp.fields) {
      const id = 'tf-' + f.name;
      const label = (f.help && (f.help[app.lang] || f.help.en)) || f.name;
      const lab = h('label', { for: id }, label, f.required ? ' *' : '', ' ', h('code', {}, f.name));
      let input;
      if (f.type === 'enum') {
        input = h('select', { id, dataset: { field: f.name, type: f.type } },
          f.required ? null : h('option', { value: '' }, '—'),
          f.values.map((v) => h('option', { value: v.value }, v.label[app.lang] || v.label.en)));
      } else if (f.type === 'text') {
        input = h('textarea', { id, rows: 2, maxlength: f.max_length, dataset: { field: f.name, type: f.type } });
      } else if (f.type === 'time') {
        input = h('input', { id, type: 'datetime-local', dataset: { field: f.name, type: f.type } });
      } else if (f.type === 'time-window') {
        const now = Math.ceil(app.api.now() / 3600e3) * 3600e3;
        input = h('span', { id, class: 'pair', dataset: { field: f.name, type: f.type } },
          h('input', { type: 'datetime-local', 'aria-label': label + ' ' + t('ed.start'), value: toInput(new Date(now).toISOString()) }),
          h('input', { type: 'datetime-local', 'aria-label': label + ' ' + t('ed.end'), value: toInput(new Date(now + 7200e3).toISOString()) }));
      } else if (f.type === 'altitude') {
        input = h('input', { id, type: 'number', dataset: { field: f.name, type: f.type } });
      } else if (f.type === 'altitude-band') {
        input = h('span', { id, class: 'pair', dataset: { field: f.name, type: f.type } },
          h('input', { type: 'number', 'aria-label': label + ' ' + t('ed.lower'), value: 0 }),
          h('input', { type: 'number', 'aria-label': label + ' ' + t('ed.upper'), value: 1000 }));
      } else if (f.type === 'area') {
        const coords = h('textarea', { rows: 2, 'aria-label': label + ' ' + t('ed.coords'), placeholder: '35.0, 36.0' });
        const radius = h('input', { type: 'number', min: 1, step: 1, 'aria-label': label + ' ' + t('ed.radius'), placeholder: t('ed.radius') });
        // Drawn on the console's map: the corners become the coordinates.
        const draw = h('button', { type: 'button', class: 'draw-area', onclick: async () => {
          const pts = await app.pickArea();
          app.show('hotline');
          if (pts) {
            coords.value = pts.map(([a, b]) => `${a.toFixed(5)}, ${b.toFixed(5)}`).join('\n');
            radius.value = '';
          }
          coords.focus();
        } }, t('hl.drawarea'));
        input = h('span', { id, class: 'pair', dataset: { field: f.name, type: f.type } }, coords, radius, draw);
      } else {
        input = h('input', { id, list: 'refs', dataset: { field: f.name, type: f.type } });
      }
      box.append(h('div', { class: 'field' }, lab, input));
    }
    const refs = h('datalist', { id: 'refs' },
      app.operations.map((o) => h('option', { value: o.id })), app.conflictViews.map((c) => h('option', { value: c.id })));
    box.append(refs);
    return box;
  }

  function readFields(tp, box) {
    const out = {};
    for (const f of tp.fields) {
      const el = box.querySelector(`[data-field="${f.name}"]`);
      const ins = el.querySelectorAll ? el.querySelectorAll('input, textarea') : [];
      let v;
      switch (f.type) {
        case 'time': v = el.value ? fromInput(el.value) : undefined; break;
        case 'time-window': v = ins[0].value && ins[1].value ? { start: fromInput(ins[0].value), end: fromInput(ins[1].value) } : undefined; break;
        case 'altitude': v = el.value === '' ? undefined : Number(el.value); break;
        case 'altitude-band': v = ins[0].value !== '' && ins[1].value !== '' ? { lower_m: Number(ins[0].value), upper_m: Number(ins[1].value) } : undefined; break;
        case 'area': {
          const pts = ins[0].value.split('\n').map((l) => l.split(',').map(Number)).filter((p) => p.length === 2 && p.every(Number.isFinite));
          if (pts.length >= 3) v = { type: 'polygon', vertices: pts.map(([lat, lng]) => ({ lat, lng })) };
          else if (pts.length === 1 && Number(ins[1].value) > 0) v = { type: 'circle', center: { lat: pts[0][0], lng: pts[0][1] }, radius_m: Number(ins[1].value) };
          break;
        }
        default: v = el.value === '' ? undefined : el.value;
      }
      if (v !== undefined) out[f.name] = v;
    }
    return out;
  }

  function sendForm(l) {
    const err = h('p', { class: 'error', role: 'alert' });
    const type = h('select', { id: 'm-type' }, ['info', 'request', 'warning', 'urgent'].map((x) => h('option', { value: x }, t('type.' + x))));
    const level = h('select', { id: 'm-level' }, ['duty', 'senior'].map((x) => h('option', { value: x }, t('desk.' + x))));
    if (role() === 'senior') level.value = 'senior';
    const tsel = h('select', { id: 'm-template' }, h('option', { value: '' }, t('hl.notemplate')),
      templates.map((tp) => h('option', { value: tp.id }, tp.title[app.lang] || tp.title.en)));
    const text = h('textarea', { id: 'm-text', rows: 3, maxlength: 4000 });
    let fieldsBox = templateFields(null);
    tsel.addEventListener('change', () => {
      const nb = templateFields(templates.find((x) => x.id === tsel.value));
      fieldsBox.replaceWith(nb);
      fieldsBox = nb;
    });
    const form = h('form', { id: 'send-form', class: 'send', 'aria-label': t('hl.send') },
      h('h3', {}, t('hl.send')),
      h('label', {}, t('hl.type'), ' ', type), ' ',
      h('label', {}, t('hl.level'), ' ', level), ' ',
      h('label', {}, t('hl.template'), ' ', tsel),
      fieldsBox,
      h('label', { class: 'block' }, t('hl.text'), text),
      h('button', { type: 'submit' }, t('hl.sendbtn')), err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const b = { type: type.value, level: level.value };
      if (text.value.trim()) b.text = text.value;
      const tp = templates.find((x) => x.id === tsel.value);
      if (tp) { b.template = tp.id; b.fields = readFields(tp, fieldsBox); }
      try {
        const m = await app.api.post(`/v1/lines/${l.id}/messages`, b);
        upsert(l.id, m);
        text.value = '';
        renderThread();
      } catch (e) { err.textContent = problemText(e); }
    });
    return form;
  }

  // Kept across renders (keep), like the send form: an event arriving while
  // a topic is typed must not lose it.
  function callForm(l) {
    const err = h('p', { class: 'error', role: 'alert' });
    const topic = h('input', { id: 'call-topic', required: true, maxlength: 200 });
    const f = h('form', { class: 'callform' }, h('label', {}, t('call.topic'), ' ', topic),
      h('button', { type: 'submit', id: 'call-start' }, t('call.start')), err);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      try {
        const c = await app.api.post(`/v1/lines/${l.id}/calls`, { level: role(), topic: topic.value, by: myName() });
        putCall(c);
        selectedCall = c.id;
        topic.value = '';
        renderThread();
      } catch (e) { err.textContent = problemText(e); }
    });
    return f;
  }

  function callPanel(l) {
    const box = h('div', { class: 'calls', id: 'call-panel' });
    if (['duty', 'senior'].includes(role())) box.append(keep('call:' + l.id, () => callForm(l)));
    const lineCalls = [...calls.values()].filter((c) => c.line === l.id)
      .sort((a, b) => b.started_at.localeCompare(a.started_at));
    if (lineCalls.length) {
      box.append(h('ul', { class: 'calllist' }, lineCalls.slice(0, 8).map((c) => h('li', {},
        h('button', { class: 'item', 'aria-pressed': c.id === selectedCall ? 'true' : 'false',
          onclick: async () => { selectedCall = c.id; await loadCall(c.id); renderThread(); } },
          `${fmtTime(c.started_at)} · ${c.topic} · ${t('call.' + c.state)}`)))));
    }
    const c = calls.get(selectedCall);
    if (c && c.line === l.id) box.append(callDetail(c, l));
    return box;
  }

  function onCall(c) {
    return c.caller.party === party() || (c.answered_by && c.answered_by.party === party());
  }

  function callDetail(c, l) {
    const err = h('p', { class: 'error', role: 'alert' });
    const act = (fn, where = err) => async (ev) => {
      if (ev) ev.preventDefault();
      where.textContent = '';
      try { await fn(); renderThread(); } catch (e) { where.textContent = problemText(e); }
    };
    const thread = threads.get(l.id) || new Map();
    const transcript = [...thread.values()].filter((m) => m.call === c.id);
    const d = h('div', { class: 'call st-' + c.state, id: 'call', dataset: { state: c.state, id: c.id } },
      h('h3', {}, t('call.title', { topic: c.topic })),
      h('p', {}, h('span', { class: 'badge', id: 'call-state' }, t('call.' + c.state)), ' ',
        t('call.level', { level: t('desk.' + c.level) }), ' · ', t('call.from', { party: c.caller.party })),
      c.state === 'answered' ? h('p', { class: 'timer', id: 'call-timer', dataset: { since: c.answered_at } }, '0:00') : null,
      c.duration_s != null ? h('p', {}, t('call.duration', { d: mmss(c.duration_s * 1000) })) : null,
      h('ol', { class: 'transcript', 'aria-label': t('call.transcript') }, transcript.map((m) =>
        h('li', { class: m.from.party === party() ? 'own' : 'their' }, h('span', { class: 'from' }, m.from.party), ': ', m.text || ''))));
    if (c.state === 'answered' && onCall(c) && role() === c.level) {
      const f = keep('say:' + c.id, () => {
        const line = h('input', { id: 'call-line', 'aria-label': t('call.say'), maxlength: 4000 });
        const ferr = h('p', { class: 'error', role: 'alert' });
        const form = h('form', { class: 'callsay' }, line, h('button', { type: 'submit' }, t('call.saybtn')), ferr);
        form.addEventListener('submit', act(async () => {
          if (!line.value.trim()) return;
          const m = await app.api.post(`/v1/lines/${l.id}/messages`, { type: 'info', level: c.level, text: line.value, call: c.id });
          line.value = '';
          upsert(l.id, m);
        }, ferr));
        return form;
      });
      d.append(f, h('button', { id: 'call-end', onclick: act(async () => putCall(await app.api.post(`/v1/calls/${c.id}/end`))) }, t('call.end')));
    }
    if (c.state === 'ringing' && c.caller.party === party()) d.append(h('p', { class: 'hint' }, t('call.waiting')));
    const readouts = c.readouts || [];
    if (c.state === 'ended' && onCall(c) && role() === c.level && !readouts.some((r) => r.party === party())) d.append(keep('ro:' + c.id, () => {
      const text = h('textarea', { id: 'readout-text', rows: 3, maxlength: 20000, required: true });
      const vis = h('select', { id: 'readout-vis' }, ['shared', 'internal'].map((x) => h('option', { value: x }, t('ro.' + x))));
      const f = h('form', { class: 'readoutform' }, h('h4', {}, t('ro.file')),
        h('label', { class: 'block' }, t('ro.text'), text), h('label', {}, t('ro.vis'), ' ', vis),
        h('button', { type: 'submit', id: 'readout-file' }, t('ro.filebtn')), h('p', { class: 'error', role: 'alert' }));
      f.addEventListener('submit', act(async () => {
        putCall(await app.api.post(`/v1/calls/${c.id}/readout`, { visibility: vis.value, text: text.value, by: myName() }));
      }, f.querySelector('.error')));
      return f;
    }));
    if (readouts.length) {
      d.append(h('div', { class: 'readouts', id: 'readouts', 'aria-label': t('ro.title') }, readouts.map((r) =>
        h('article', { class: 'readout', dataset: { party: r.party } },
          h('h4', {}, r.party, ' · ', t('ro.' + r.visibility)),
          h('p', { class: 'rtext' }, r.text),
          h('p', { class: 'hint' }, `${r.by || ''} · ${fmtTime(r.filed_at)}`)))));
    }
    d.append(err);
    return d;
  }

  function renderThread() {
    clear(lineDetail);
    const l = lines.find((x) => x.id === selected);
    if (!l) return;
    const thread = [...(threads.get(l.id) || new Map()).values()].sort((a, b) => a.seq - b.seq);
    // Element.append writes a null as the text "null": h() skips them.
    lineDetail.append(...[
      h('h3', {}, l.name),
      lineAdmin(l),
      h('label', { class: 'name' }, t('hl.myname'), ' ',
        h('input', { id: 'my-name', value: myName(), maxlength: 100,
          onchange: (e) => localStorage.setItem('dcf.name', e.target.value) })),
      callPanel(l),
      h('ol', { class: 'thread', id: 'thread', 'aria-label': t('hl.thread') },
        thread.filter((m) => !m.call).map((m) => messageItem(m, l.id))),
      l.state === 'open' && ['duty', 'senior', 'party-admin'].includes(role()) ? keep('send:' + l.id, () => sendForm(l)) : null,
    ].filter((x) => x !== null));
    const th = $('thread');
    th.scrollTop = th.scrollHeight;
    renderStats(l);
  }

  async function renderStats(l) {
    try {
      const st = await app.api.get(`/v1/lines/${l.id}/stats`);
      const weeks = new Map();
      for (const c of calls.values()) {
        if (c.line !== l.id) continue;
        const d = new Date(c.started_at);
        const mon = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)));
        const k = mon.toISOString().slice(5, 10);
        weeks.set(k, (weeks.get(k) || 0) + 1);
      }
      const wk = [...weeks.entries()].sort().slice(-8).map(([label, value]) => ({ label, value }));
      const rate = [], ackT = [];
      for (const sd of st.sides) for (const lv of ['duty', 'senior']) {
        const x = sd.levels[lv];
        const n = x.calls_answered + x.calls_declined + x.calls_missed;
        const label = `${sd.party} ${t('desk.' + lv)}`;
        rate.push({ label, value: n ? x.calls_answered / n : null, text: n ? Math.round((100 * x.calls_answered) / n) + '%' : null });
        ackT.push({ label, value: x.median_ack_s, text: x.median_ack_s == null ? null : Math.round(x.median_ack_s) + ' s' });
      }
      clear(statsBox).append(h('h3', {}, t('st.title')),
        columnChart(t('st.perweek'), wk),
        barChart(t('st.answer'), rate, { max: 1 }),
        barChart(t('st.ack'), ackT));
    } catch { /* statistics are optional decoration */ }
  }

  function renderBanner() {
    const due = [];
    for (const [lineId, th] of threads) for (const m of th.values()) if (needsMe(m)) due.push([lineId, m]);
    clear(banner);
    banner.hidden = !due.length;
    for (const [lineId, m] of due) {
      const err = h('span', { class: 'error' });
      banner.append(h('div', { class: 'urgent-item', dataset: { seq: m.seq } },
        h('strong', {}, t('type.' + m.type).toUpperCase()), ' ',
        t('ban.from', { party: (m.from && m.from.party) || t('hl.server') }), ': ',
        m.text || (m.template && m.template.title) ||
          (m.conflict ? t('hl.notice', { party: m.conflict.other.party.name, state: t('state.' + m.conflict.state) }) : ''), ' · ',
        t('ban.left'), ' ', h('span', { class: 'countdown', dataset: { deadline: m.deadline } }, ''),
        ' ', h('button', { class: 'ack', onclick: () => ack(m, err, lineId) }, t('hl.ack')), err));
    }
    updateClocks();
  }

  function updateClocks() {
    const now = app.api.now();
    for (const e of document.querySelectorAll('.countdown')) {
      const left = Date.parse(e.dataset.deadline) - now;
      e.textContent = left >= 0 ? mmss(left) : t('ban.overdue', { t: mmss(-left) });
      e.classList.toggle('overdue', left < 0);
    }
    const timer = document.getElementById('call-timer');
    if (timer) timer.textContent = mmss(now - Date.parse(timer.dataset.since));
  }

  async function ack(m, err, lineId = m.line) {
    try {
      const r = await app.api.post(`/v1/lines/${lineId}/messages/${m.seq}/acknowledge`, { by: myName() });
      upsert(lineId, r);
      render();
    } catch (e) { err.textContent = problemText(e); }
  }

  function upsert(lineId, m) {
    if (!threads.has(lineId)) threads.set(lineId, new Map());
    threads.get(lineId).set(m.seq, m);
  }

  // Re-rendering moves the kept forms out of the document and back, which
  // drops the focus: give it back (with the caret) to the control that had
  // it, so that an event arriving while someone types loses nothing.
  function render() {
    const a = document.activeElement;
    const caret = a && typeof a.selectionStart === 'number' ? [a.selectionStart, a.selectionEnd] : null;
    renderLines();
    renderThread();
    renderBanner();
    if (a && a !== document.activeElement && a.isConnected) {
      a.focus();
      if (caret) a.setSelectionRange(caret[0], caret[1]);
    }
    const n = [...threads.values()].reduce((a, th) => a + [...th.values()].filter(needsMe).length, 0);
    $('hotline-count').textContent = n ? `(${n})` : '';
  }

  // ------------------------------------------------------------- calls --
  function showRinging(c) {
    ringing = c;
    $('ring-body').textContent = t('call.ringbody', { party: c.caller.party, topic: c.topic, level: t('desk.' + c.level) });
    if (!dialog.open) dialog.showModal();
    if (!stopRing) stopRing = ring();
  }

  function hideRinging(id) {
    if (ringing && (!id || ringing.id === id)) {
      ringing = null;
      if (dialog.open) dialog.close();
      if (stopRing) { stopRing(); stopRing = null; }
    }
  }

  $('ring-answer').addEventListener('click', async () => {
    const c = ringing;
    hideRinging();
    if (!c) return;
    try {
      putCall(await app.api.post(`/v1/calls/${c.id}/answer`, { by: myName() }));
      selected = c.line;
      selectedCall = c.id;
      app.show('hotline');
      await loadThread(c.line);
      render();
    } catch (e) { app.status(problemText(e)); }
  });
  $('ring-decline').addEventListener('click', async () => {
    const c = ringing;
    hideRinging();
    if (c) try { await app.api.post(`/v1/calls/${c.id}/decline`, { reason: '' }); } catch (e) { app.status(problemText(e)); }
  });
  dialog.addEventListener('cancel', (e) => e.preventDefault());   // Esc must not lose a call silently

  // ------------------------------------------------------------ events --
  async function onEvent(type, d) {
    if (type === 'message.new') {
      upsert(d.line, d);
      if (d.from && d.from.party !== party() && needsMe(d)) beep();
    } else if (type.startsWith('message.')) {
      try { upsert(d.line, await app.api.get(`/v1/lines/${d.line}/messages/${d.seq}`)); } catch { /* gone */ }
    } else if (type === 'call.ringing') {
      putCall(d);
      if (d.level === role()) showRinging(d);
    } else if (type.startsWith('call.')) {
      const id = d.id || d.call;
      hideRinging(id);
      try { await loadCall(id); } catch { /* not visible */ }
      if (type === 'call.answered' && calls.get(id).caller.party === party()) selectedCall = id;
    } else if (type.startsWith('line.') || type === 'presence.changed') {
      await loadLines();
    }
    render();
  }

  tick = setInterval(updateClocks, 500);

  return {
    loadAll, onEvent, render,
    async relang() { kept.clear(); for (const l of lines) await loadThread(l.id); render(); },
    stop() { clearInterval(tick); tick = null; hideRinging(); },
    reset() {
      lines = []; selected = null; selectedCall = null;
      threads.clear(); calls.clear(); kept.clear();
      if (!tick) tick = setInterval(updateClocks, 500);
    },
  };
}
