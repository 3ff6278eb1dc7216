// audit.js -- the audit view: the latest signed tree head and, in the
// browser, the verification of the party's own entries (docs/audit.md):
// the head's Ed25519 signature over its 57 bytes with the key of GET
// /v1/audit/key, each entry's leaf hash SHA-256(0x00 || entry bytes), its
// index and party, and its RFC 9162 inclusion proof to the head's root.
// The browser also remembers the heads it has verified (localStorage, per
// party and key id, at most HEADS_MAX) and checks that the new head is
// consistent with each (RFC 9162 consistency proofs): a log rewritten
// under a head this browser saw fails, as with `deconflict audit verify`.
// WebCrypto does the hashing and the signature check.  The verdict names
// the first thing that does not verify.

import { h, clear, fmtTime } from './util.js';
import { problemText } from './api.js';

const enc = new TextEncoder();

function b64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hex(u8) { return [...u8].map((b) => b.toString(16).padStart(2, '0')).join(''); }

async function sha256(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

function equal(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }

const ONE = new Uint8Array([1]), ZERO = new Uint8Array([0]);

// RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or null
// when the proof has the wrong length for the index and size.
export async function rootFromInclusion(index, size, leaf, path) {
  if (index >= size) return null;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(ONE, p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(ONE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// RFC 9162 section 2.1.4.2: does `path` prove that the tree of size m
// with root rootM is a prefix of the tree of size n with root rootN?
export async function consistent(m, n, rootM, rootN, path) {
  if (m === n) return path.length === 0 && equal(rootM, rootN);
  if (m === 0 || m > n || path.length === 0) return false;
  if ((m & (m - 1)) === 0) path = [rootM, ...path];   // a power of two: the old root starts it
  let fn = m - 1, sn = n - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await sha256(ONE, c, fr);
      sr = await sha256(ONE, c, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await sha256(ONE, sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return equal(fr, rootM) && equal(sr, rootN) && sn === 0;
}

const HEADS_MAX = 32;   // remembered heads per party and key; the oldest go first

function headsKey(party, keyId) { return `dcf.audit.heads.${party}.${keyId}`; }

// The heads this browser verified before, oldest first ([] when none or
// unreadable: remembering is a help, never a reason to fail).
export function rememberedHeads(party, keyId) {
  try {
    const v = JSON.parse(localStorage.getItem(headsKey(party, keyId)) || '[]');
    return Array.isArray(v) ? v.filter((x) => Number.isSafeInteger(x.tree_size) && typeof x.root_hash === 'string') : [];
  } catch { return []; }
}

function remember(party, keyId, heads, sth) {
  const all = heads.filter((x) => x.tree_size !== sth.tree_size);
  all.push({ tree_size: sth.tree_size, root_hash: sth.root_hash, timestamp: sth.timestamp });
  all.sort((a, b) => a.tree_size - b.tree_size);
  try {
    localStorage.setItem(headsKey(party, keyId), JSON.stringify(all.slice(-HEADS_MAX)));
  } catch { /* storage full or off: the next check has fewer heads to compare */ }
}

// The 57 signed bytes of a tree head.
export function sthBytes(sth) {
  const b = new Uint8Array(57);
  b.set(enc.encode('DCF-STH-1'), 0);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(9, BigInt(sth.tree_size));
  dv.setBigUint64(17, BigInt(sth.timestamp));
  b.set(b64(sth.root_hash), 25);
  return b;
}

export function createAudit(app) {
  const t = app.t;
  const $ = (id) => document.getElementById(id);
  let running = false;

  function showSth(sth, key) {
    clear($('au-sth')).append(h('dl', {},
      h('dt', {}, t('au.size')), h('dd', { id: 'au-size' }, String(sth.tree_size)),
      h('dt', {}, t('au.time')), h('dd', {}, fmtTime(new Date(sth.timestamp).toISOString())),
      h('dt', {}, t('au.root')), h('dd', {}, h('code', {}, sth.root_hash)),
      h('dt', {}, t('au.keyid')), h('dd', {}, h('code', { id: 'au-keyid' }, key ? key.key_id : sth.key_id)),
      h('dt', {}, t('au.pin')), h('dd', { class: 'hint' }, t('au.pinhelp'))));
  }

  async function verify() {
    if (running) return;
    running = true;
    const verdict = $('au-verdict'), log = clear($('au-log'));
    verdict.className = 'verdict';
    verdict.textContent = t('au.running');
    const fail = (what) => { verdict.className = 'verdict bad'; verdict.dataset.result = 'failed'; verdict.textContent = t('au.failed', { what }); };
    try {
      const key = await app.api.get('/v1/audit/key');
      const sth = await app.api.get('/v1/audit/sth?fresh=true');
      showSth(sth, key);
      const pk = b64(key.public_key);
      const kid = hex((await sha256(pk)).slice(0, 8));
      if (kid !== key.key_id || sth.key_id !== key.key_id) { fail(t('au.e.keyid')); return; }
      const ck = await crypto.subtle.importKey('raw', pk, { name: 'Ed25519' }, false, ['verify']);
      if (!(await crypto.subtle.verify({ name: 'Ed25519' }, ck, b64(sth.signature), sthBytes(sth)))) {
        fail(t('au.e.sig'));
        return;
      }
      log.append(h('p', {}, '✓ ' + t('au.sigok')));
      const root = b64(sth.root_hash);
      // Every head seen before must be a prefix of this one.
      const heads = rememberedHeads(app.whoami.party, key.key_id);
      for (const old of heads) {
        const where = t('au.head', { size: old.tree_size });
        if (old.tree_size > sth.tree_size) { fail(`${where}: ${t('au.e.shrank', { size: sth.tree_size })}`); return; }
        let path = [];
        if (old.tree_size < sth.tree_size) {
          const pr = await app.api.get(`/v1/audit/proof/consistency?first=${old.tree_size}&second=${sth.tree_size}`);
          path = pr.consistency_path.map(b64);
        }
        if (!(await consistent(old.tree_size, sth.tree_size, b64(old.root_hash), root, path))) {
          fail(`${where}: ${t('au.e.fork', { size: sth.tree_size })}`);
          return;
        }
      }
      if (heads.length > 0) log.append(h('p', {}, '✓ ' + t('au.consistent', { n: heads.length })));
      let cursor = null, n = 0, done = false;
      do {
        const page = await app.api.get('/v1/audit/entries?limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
        for (const it of page.items) {
          if (it.index >= sth.tree_size) { done = true; break; }
          const entry = JSON.parse(it.entry);
          const where = t('au.entry', { i: it.index });
          if (entry.index !== it.index) { fail(`${where}: ${t('au.e.index')}`); return; }
          if (!entry.parties.includes(app.whoami.party)) { fail(`${where}: ${t('au.e.party')}`); return; }
          const leaf = await sha256(ZERO, enc.encode(it.entry));
          if (!equal(leaf, b64(it.leaf_hash))) { fail(`${where}: ${t('au.e.leaf')}`); return; }
          const pr = await app.api.get(`/v1/audit/proof/inclusion?index=${it.index}&tree_size=${sth.tree_size}`);
          const r = await rootFromInclusion(it.index, sth.tree_size, leaf, pr.audit_path.map(b64));
          if (!r || !equal(r, root)) { fail(`${where}: ${t('au.e.proof')}`); return; }
          n++;
          verdict.textContent = t('au.progress', { n });
        }
        cursor = page.next_cursor;
      } while (cursor && !done);
      remember(app.whoami.party, key.key_id, heads, sth);
      verdict.className = 'verdict good';
      verdict.dataset.result = 'verified';
      verdict.textContent = t('au.ok', { n, party: app.whoami.party, size: sth.tree_size, key: key.key_id });
    } catch (e) {
      verdict.className = 'verdict bad';
      verdict.dataset.result = 'error';
      verdict.textContent = t('au.error', { why: problemText(e) });
    } finally {
      running = false;
    }
  }

  $('au-verify').addEventListener('click', verify);
  return {
    async load() {
      try {
        showSth(await app.api.get('/v1/audit/sth'), null);
      } catch { /* no head yet: the verify button issues one */ }
    },
    verify,
  };
}
