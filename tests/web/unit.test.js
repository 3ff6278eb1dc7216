// unit.test.js -- the console's pure pieces under node, without a browser:
// both interface languages have the same keys, and the audit view's RFC
// 9162 inclusion- and consistency-proof checks and signed-bytes layout
// agree with a tree and proofs built here independently (node:crypto),
// including wrong proofs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KEYS, translate } from '../../web/i18n.js';
import { consistent, rootFromInclusion, sthBytes } from '../../web/audit.js';

const H = (...parts) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts.map((p) => Buffer.from(p)))).digest());
const leaf = (i) => H([0], Buffer.from(`entry ${i}`));

// RFC 9162 2.1.1 MTH and 2.1.3.1 PATH, straight from the definitions.
function k(n) { let p = 1; while (p * 2 < n) p *= 2; return p; }
function mth(l) { return l.length === 1 ? l[0] : H([1], mth(l.slice(0, k(l.length))), mth(l.slice(k(l.length)))); }
function path(m, l) {
  if (l.length === 1) return [];
  const s = k(l.length);
  return m < s ? [...path(m, l.slice(0, s)), mth(l.slice(s))] : [...path(m - s, l.slice(s)), mth(l.slice(0, s))];
}

// RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
function subproof(m, l, b) {
  const n = l.length;
  if (m === n) return b ? [] : [mth(l)];
  const s = k(n);
  return m <= s ? [...subproof(m, l.slice(0, s), b), mth(l.slice(s))]
    : [...subproof(m - s, l.slice(s), false), mth(l.slice(0, s))];
}

test('English and Russian have the same keys', () => {
  assert.deepEqual([...KEYS.ru].sort(), [...KEYS.en].sort());
  assert.equal(translate('ru', 'au.entry', { i: 7 }), 'запись 7');
  assert.equal(translate('en', 'no.such.key'), 'no.such.key');
});

test('inclusion proofs verify for every leaf of trees of size 1..20', async () => {
  for (let n = 1; n <= 20; n++) {
    const leaves = Array.from({ length: n }, (_, i) => leaf(i));
    const root = mth(leaves);
    for (let i = 0; i < n; i++) {
      const r = await rootFromInclusion(i, n, leaves[i], path(i, leaves));
      assert.deepEqual(r, root, `leaf ${i} of ${n}`);
    }
  }
});

test('wrong proofs do not lead to the root', async () => {
  const leaves = Array.from({ length: 11 }, (_, i) => leaf(i));
  const root = mth(leaves);
  const p = path(5, leaves);
  assert.notDeepEqual(await rootFromInclusion(5, 11, leaf(6), p), root);         // another entry
  assert.notDeepEqual(await rootFromInclusion(4, 11, leaves[5], p), root);       // another index
  assert.equal(await rootFromInclusion(5, 11, leaves[5], p.slice(1)), null);     // too short
  assert.equal(await rootFromInclusion(5, 11, leaves[5], [...p, p[0]]), null);   // too long
  assert.equal(await rootFromInclusion(11, 11, leaves[5], p), null);             // past the end
});

test('consistency proofs verify between every pair of sizes up to 20', async () => {
  const leaves = Array.from({ length: 20 }, (_, i) => leaf(i));
  for (let n = 1; n <= 20; n++) {
    const rootN = mth(leaves.slice(0, n));
    for (let m = 1; m <= n; m++) {
      const rootM = mth(leaves.slice(0, m));
      const p = m === n ? [] : subproof(m, leaves.slice(0, n), true);
      assert.ok(await consistent(m, n, rootM, rootN, p), `${m} -> ${n}`);
    }
  }
});

test('a rewritten history is not consistent', async () => {
  const leaves = Array.from({ length: 13 }, (_, i) => leaf(i));
  const forged = leaves.map((x, i) => (i === 3 ? leaf(99) : x));
  const p = subproof(6, leaves, true);
  const root6 = mth(leaves.slice(0, 6)), root13 = mth(leaves);
  assert.ok(await consistent(6, 13, root6, root13, p));
  assert.ok(!(await consistent(6, 13, mth(forged.slice(0, 6)), root13, p)));     // the old head differs
  assert.ok(!(await consistent(6, 13, root6, mth(forged), subproof(6, forged, true)))); // the new tree differs
  assert.ok(!(await consistent(6, 13, root6, root13, p.slice(1))));               // too short
  assert.ok(!(await consistent(5, 13, root6, root13, p)));                        // another size
  assert.ok(!(await consistent(13, 13, root6, root13, [])));                      // same size, another root
  assert.ok(!(await consistent(14, 13, root13, root13, p)));                      // the log shrank
});

test('the signed bytes of a tree head are the 57 of docs/audit.md', () => {
  const root = Buffer.alloc(32, 7);
  const b = sthBytes({ tree_size: 42, timestamp: 1764583200123, root_hash: root.toString('base64') });
  assert.equal(b.length, 57);
  assert.equal(Buffer.from(b.slice(0, 9)).toString(), 'DCF-STH-1');
  assert.equal(Buffer.from(b).readBigUInt64BE(9), 42n);
  assert.equal(Buffer.from(b).readBigUInt64BE(17), 1764583200123n);
  assert.deepEqual(Buffer.from(b.slice(25)), root);
});
