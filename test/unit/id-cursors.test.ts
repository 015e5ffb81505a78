import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { candidateCursor, intersect, type CursorSource } from '../../server/src/store/embedded/id-cursors.js';
import { postingLookup } from '../../server/src/store/embedded/posting-memory.js';
import type { Candidate } from '../../server/src/store/embedded/access-paths.js';
import type { PostingKey } from '../../server/src/store/embedded/postings.js';

/**
 * Intersecting posting lists by leapfrogging, and switching a list that is dense next to the
 * others to point lookups: same ids either way, far fewer keys read.
 */
const N = 6000;
const id = (i: number) => `id-${String(i).padStart(5, '0')}`;
const eq = (path: string, value: string): Candidate => ({ ranges: [{ kind: 'eq', path, value }], exact: true });

/**
 * A postings database in a temporary LMDB environment, filled by `fill` inside one transaction
 * before the suite's tests and removed after them (call inside a describe).
 */
function postingsFixture(prefix: string, fill: (postings: Database<null, PostingKey>) => void): { readonly postings: Database<null, PostingKey> } {
  let dir = '';
  let root: RootDatabase | undefined;
  const fixture = { postings: undefined as unknown as Database<null, PostingKey> };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `custodian-${prefix}-`));
    root = open({ path: dir, compression: false, maxDbs: 2 });
    const postings = root.openDB({ name: 'postings' }) as unknown as Database<null, PostingKey>;
    fixture.postings = postings;
    await postings.transaction(() => fill(postings));
  });
  after(async () => {
    await root?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

describe('id cursors: intersect', () => {
  const db = postingsFixture('cursors', (postings) => {
    for (let i = 0; i < N; i++) {
      // 'dense': 5 of every 6 ids (a consent token most documents carry);
      // 'sparse': every 40th id (one code); 'mid': every 3rd id; 'odd'/'even' for a union.
      if (i % 6 !== 0) postings.put(['T', 'dense', 'v', id(i)], null);
      if (i % 40 === 0 || i % 40 === 7) postings.put(['T', 'sparse', 'v', id(i)], null);
      if (i % 3 === 0) postings.put(['T', 'mid', 'v', id(i)], null);
      postings.put(['T', i % 2 === 0 ? 'even' : 'odd', 'v', id(i)], null);
    }
  });

  function run(candidates: Candidate[], dir: 1 | -1 = 1, afterId?: string, checked: boolean[] = []): { ids: string[]; reads: number } {
    let reads = 0;
    const { postings } = db;
    const src: CursorSource = { postings, has: postingLookup(postings, undefined), type: 'T', onRead: () => reads++ };
    const ids = [...intersect(candidates.map((c) => candidateCursor(src, c, dir)), dir, afterId, checked)];
    return { ids, reads };
  }

  const expected = (keep: (i: number) => boolean, dir: 1 | -1 = 1, afterIndex = -1): string[] => {
    const all = Array.from({ length: N }, (_, i) => i).filter(keep).filter((i) => (dir === 1 ? i > afterIndex : afterIndex < 0 || i < afterIndex));
    return (dir === 1 ? all : all.reverse()).map(id);
  };

  it('a sparse list and a dense one: the ids of both, reading a few keys per sparse id', () => {
    const { ids, reads } = run([eq('sparse', 'v'), eq('dense', 'v')]);
    assert.deepEqual(ids, expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 6 !== 0));
    const sparse = (2 * N) / 40;
    // Leapfrogging through the dense list all the way read about 8 keys per sparse id here.
    assert.ok(reads <= 3 * sparse, `read ${reads} keys for ${sparse} sparse ids`);
  });

  it('a dense list the caller checks itself is dropped, not probed: a superset of the intersection, within the sparse list', () => {
    const { ids, reads } = run([eq('sparse', 'v'), eq('dense', 'v')], 1, undefined, [false, true]);
    const sparse = expected((i) => i % 40 === 0 || i % 40 === 7);
    const both = expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 6 !== 0);
    assert.ok(both.every((x) => ids.includes(x)), 'every id of the intersection is yielded');
    assert.ok(ids.every((x) => sparse.includes(x)), 'only ids of the sparse list are yielded');
    assert.ok(ids.length < sparse.length, 'ids before the switch were intersected');
    // The sparse list plus the seeks before the switch (418 here); probing as well read 702.
    assert.ok(reads <= sparse.length + 150, `read ${reads} keys for ${sparse.length} sparse ids`);
  });

  it('the dense list given first, descending, and from a position: the same ids', () => {
    assert.deepEqual(run([eq('dense', 'v'), eq('sparse', 'v')]).ids, expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 6 !== 0));
    assert.deepEqual(run([eq('sparse', 'v'), eq('dense', 'v')], -1).ids, expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 6 !== 0, -1));
    assert.deepEqual(run([eq('sparse', 'v'), eq('dense', 'v')], 1, id(2000)).ids, expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 6 !== 0, 1, 2000));
  });

  it('a union (odd or even: every id) probed as a whole, with three lists', () => {
    const union: Candidate = { ranges: [{ kind: 'eq', path: 'odd', value: 'v' }, { kind: 'eq', path: 'even', value: 'v' }], exact: true };
    const { ids } = run([eq('sparse', 'v'), union, eq('mid', 'v')]);
    assert.deepEqual(ids, expected((i) => (i % 40 === 0 || i % 40 === 7) && i % 3 === 0));
  });

  it('lists of comparable density: the same ids, reading no more than both lists', () => {
    const { ids, reads } = run([eq('mid', 'v'), eq('dense', 'v')]);
    assert.deepEqual(ids, expected((i) => i % 3 === 0 && i % 6 !== 0));
    assert.ok(reads <= N / 3 + (5 * N) / 6, `read ${reads}`);
  });
});

describe('id cursors: a union read whole', () => {
  const db = postingsFixture('cursors-whole', (postings) => {
    // References in relative form only, except patient p7, also referenced in absolute form
    // under 'performer'; 'subject' holds no absolute reference at all.
    for (let p = 0; p < 60; p++) for (let k = 0; k < 3; k++) postings.put(['T', 'subject', `Patient/p${p}`, `r${p}-${k}`], null);
    postings.put(['T', 'performer', 'https://x/fhir/Patient/p7', 'r7-0'], null);
    postings.put(['T', 'performer', 'Patient/p9', 'r9-1'], null);
  });

  const batch = (path: string, from: number, to: number): Candidate => ({
    ranges: Array.from({ length: to - from }, (_, i) => [`Patient/p${from + i}`, `https://x/fhir/Patient/p${from + i}`]).flat().map((value) => ({ kind: 'eq' as const, path, value })),
    exact: true,
  });

  /** The ids, and how many key ranges were opened to find them. */
  function read(c: Candidate): { ids: string[]; opens: number } {
    let opens = 0;
    const { postings } = db;
    const counted = { getKeys: (o: Parameters<typeof postings.getKeys>[0]) => (opens++, postings.getKeys(o)) } as unknown as Database<null, PostingKey>;
    const src: CursorSource = { postings: counted, has: postingLookup(postings, undefined), type: 'T', onRead: () => {} };
    return { ids: [...intersect([candidateCursor(src, c, 1)], 1, undefined)], opens };
  }

  it('skips a reference form no posting holds, after one probe, and still finds every id', () => {
    const subject = read(batch('subject', 5, 45));
    assert.deepEqual(subject.ids, Array.from({ length: 40 }, (_, i) => [0, 1, 2].map((k) => `r${5 + i}-${k}`)).flat().sort());
    assert.equal(subject.opens, 2 + 40, 'two probes, then the relative form only');
    const performer = read(batch('performer', 5, 45));
    assert.deepEqual(performer.ids, ['r7-0', 'r9-1'], 'both forms read where both are posted');
    assert.equal(performer.opens, 2 + 80);
    const empty = read(batch('code', 5, 45));
    assert.deepEqual(empty.ids, []);
    assert.equal(empty.opens, 2, 'a path without postings costs a probe per form');
  });
});
