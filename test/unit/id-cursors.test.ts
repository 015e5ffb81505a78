import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import fc from 'fast-check';
import { candidateCursor, intersect, postedIds, type CursorSource } from '../../server/src/store/embedded/id-cursors.js';
import { postingLookup } from '../../server/src/store/embedded/posting-memory.js';
import type { Candidate } from '../../server/src/store/embedded/access-paths.js';
import { STRING_END, type PostingKey, type PostingValue } from '../../server/src/store/embedded/postings.js';

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

  it('reads each reference form with one range, skips gaps of other patients, and still finds every id', () => {
    // Sorted, the relative batch p5..p44 runs 'Patient/p10' … 'Patient/p44', 'Patient/p5' …
    // 'Patient/p9': p45..p49 and p50..p59 lie inside it, two gaps skipped by re-opening.
    const subject = read(batch('subject', 5, 45));
    assert.deepEqual(subject.ids, Array.from({ length: 40 }, (_, i) => [0, 1, 2].map((k) => `r${5 + i}-${k}`)).flat().sort());
    assert.equal(subject.opens, 3 + 1, 'the relative form and its two gaps, the absolute form once');
    const performer = read(batch('performer', 5, 45));
    assert.deepEqual(performer.ids, ['r7-0', 'r9-1'], 'both forms read where both are posted');
    assert.equal(performer.opens, 2);
    const empty = read(batch('code', 5, 45));
    assert.deepEqual(empty.ids, []);
    assert.equal(empty.opens, 2, 'a path without postings costs a range per form');
  });
});

/** postedIds' answer, and what a plain read of one range per value gives: they must be equal. */
interface Posted {
  ids: string[];
  /** Every (path, value, id) handed to onPosting, in order. */
  seen: Array<[string, PostingValue, string]>;
}

function perValueReference(postings: Database<null, PostingKey>, type: string, c: Candidate): Posted {
  const out: Posted = { ids: [...(c.ids ?? [])], seen: [] };
  for (const r of c.ranges) {
    if (r.kind !== 'eq') throw new Error('eq ranges only');
    for (const key of postings.getKeys({ start: [type, r.path, r.value] as unknown as PostingKey, end: [type, r.path, r.value, STRING_END] as unknown as PostingKey })) {
      out.ids.push(key[3]);
      out.seen.push([r.path, r.value, key[3]]);
    }
  }
  return out;
}

/** postedIds through a database that counts the ranges opened and the keys read. */
function posted(postings: Database<null, PostingKey>, type: string, c: Candidate): Posted & { opens: number; keys: number } {
  let opens = 0;
  let keys = 0;
  const counted = { getKeys: (o: Parameters<typeof postings.getKeys>[0]) => (opens++, postings.getKeys(o)) } as unknown as Database<null, PostingKey>;
  const src: CursorSource = { postings: counted, has: postingLookup(postings, undefined), type, onRead: () => keys++ };
  const seen: Posted['seen'] = [];
  const ids = postedIds(src, c, (path, value, id) => seen.push([path, value, id]));
  return { ids, seen, opens, keys };
}

const candidate = (values: Array<[string, PostingValue]>, ids?: string[]): Candidate => ({
  ranges: values.map(([path, value]) => ({ kind: 'eq' as const, path, value })),
  exact: true,
  ...(ids ? { ids } : {}),
});

describe('id cursors: postedIds reads many values of a path and prefix together', () => {
  const P = (i: number) => `Patient/p${String(i).padStart(3, '0')}`;
  const A = (i: number) => `https://x/fhir/Patient/p${String(i).padStart(3, '0')}`;
  const db = postingsFixture('cursors-groups', (postings) => {
    // 'subject': every patient, 3 postings each, relative form; p007 in absolute form too, and
    // one resource referring to p001 and p002 both.
    for (let p = 0; p < 300; p++) for (let k = 0; k < 3; k++) postings.put(['T', 'subject', P(p), `s${p}-${k}`], null);
    postings.put(['T', 'subject', A(7), 's7-abs'], null);
    postings.put(['T', 'subject', P(1), 'shared'], null);
    postings.put(['T', 'subject', P(2), 'shared'], null);
    // 'performer': three patients among many practitioners, and values sharing a requested
    // value's prefix that are not requested ('Patient/p0100' right after 'Patient/p010').
    for (let i = 0; i < 500; i++) postings.put(['T', 'performer', `Practitioner/x${i}`, `pr${i}`], null);
    for (const p of [10, 150, 299]) postings.put(['T', 'performer', P(p), `pf${p}`], null);
    postings.put(['T', 'performer', `${P(10)}0`, 'pf-longer'], null);
    postings.put(['T', 'performer', `${P(10)}/x`, 'pf-deeper'], null);
    // Numbers, and a string that reads like one of them.
    for (let n = 0; n < 40; n++) postings.put(['T', 'n', n, `n${n}`], null);
    postings.put(['T', 'n', '7', 'n-string-7'], null);
  });
  const batch = (path: string, patients: number[]): Candidate => candidate(patients.flatMap((p) => [[path, P(p)] as [string, PostingValue], [path, A(p)] as [string, PostingValue]]));
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

  function same(c: Candidate): ReturnType<typeof posted> {
    const got = posted(db.postings, 'T', c);
    const want = perValueReference(db.postings, 'T', c);
    assert.deepEqual(got.ids, want.ids, 'the same ids, in the same order');
    assert.deepEqual(got.seen, want.seen, 'onPosting sees the same (path, value, id), in the same order');
    return got;
  }

  it('a dense group of consecutive patients: one range per form, no key read in vain', () => {
    const got = same(batch('subject', range(100, 200)));
    assert.equal(got.ids.length, 300);
    assert.equal(got.opens, 2);
    assert.equal(got.keys, 300);
  });

  it('a sparse group among other values: one range, only wanted values kept', () => {
    const got = same(batch('performer', range(0, 300)));
    assert.deepEqual(got.ids, ['pf10', 'pf150', 'pf299']);
    // p010's longer and deeper neighbours are read on the way but not kept.
    assert.equal(got.opens, 2);
    assert.equal(got.keys, 5);
  });

  it('a group without postings, on a path or in a form: one range', () => {
    assert.deepEqual(same(batch('code', range(0, 300))).opens, 2);
    const abs = same(candidate(range(0, 50).map((p) => ['performer', A(p)])));
    assert.deepEqual([abs.ids, abs.opens], [[], 1]);
  });

  it('patients scattered over a dense path: gives up the group read, reads by value, about as dear as reading by value', () => {
    const scattered = range(0, 30).map((i) => i * 10);
    const got = same(candidate(scattered.map((p) => ['subject', P(p)])));
    assert.equal(got.ids.length, 90);
    assert.ok(got.opens <= scattered.length + 1, `opened ${got.opens} ranges for ${scattered.length} values`);
    // The gaps met before giving up: four keys each, among the first 16 values.
    assert.ok(got.keys <= 90 + 4 * 16, `read ${got.keys} keys`);
  });

  it('relative and absolute forms, numbers, duplicates, explicit ids, values without a prefix, in any order', () => {
    const values: Array<[string, PostingValue]> = [
      ...range(0, 20).reverse().map((p): [string, PostingValue] => ['subject', P(p)]),
      ['subject', P(7)], ['subject', A(7)], ['subject', P(2)],
      ...range(0, 20).map((p): [string, PostingValue] => ['subject', A(p)]),
      ...range(0, 12).map((n): [string, PostingValue] => ['n', n]), ['n', '7'], ['n', 7], ['n', 'x'],
      ...range(0, 12).map((p): [string, PostingValue] => ['performer', P(p)]), ['performer', `${P(10)}0`],
      ['subject', 'Patient/'], ['subject', 'noslash'],
    ];
    const got = same(candidate(values, ['explicit-1', 's5-0']));
    assert.ok(got.ids.filter((id) => id === 'shared').length === 3, 'p002 asked twice: its ids twice');
    assert.ok(got.ids.includes('n-string-7') && got.ids.includes('n7'));
    assert.ok(got.ids.includes('pf-longer'), 'a value asked for is kept even where it extends another');
  });

  it('groups whose ranges overlap: each keeps its own values', () => {
    // 'Patient/p010/x' lies within the range of the 'Patient/' group, and is a group's value too.
    const deeper = range(0, 10).map((i): [string, PostingValue] => ['performer', `${P(10)}/${i === 0 ? 'x' : `y${i}`}`]);
    const patients = range(0, 300).map((p): [string, PostingValue] => ['performer', P(p)]);
    assert.deepEqual(same(candidate([...patients, ...deeper])).ids, ['pf10', 'pf150', 'pf299', 'pf-deeper']);
    // The inner group read first, then the outer group's range passes its posting.
    assert.deepEqual(same(candidate([...deeper, ...patients])).ids, ['pf-deeper', 'pf10', 'pf150', 'pf299']);
  });

  it('a cursor over a group read: the same ids as over a plain read', () => {
    const c = batch('subject', [...range(40, 90), 5, 150]);
    const { postings } = db;
    const src: CursorSource = { postings, has: postingLookup(postings, undefined), type: 'T', onRead: () => {} };
    const want = [...new Set(perValueReference(postings, 'T', c).ids)].sort();
    assert.deepEqual([...intersect([candidateCursor(src, c, 1)], 1, undefined)], want);
    assert.deepEqual([...intersect([candidateCursor(src, c, -1)], -1, undefined)], [...want].reverse());
  });
});

describe('id cursors: postedIds against one range per value, on random postings', () => {
  const db = postingsFixture('cursors-groups-prop', () => {});
  const prefixes = ['Patient/', 'https://x/fhir/Patient/', 'Practitioner/', 'Patient/a/', 'Patient/\u00e9/'];
  // Suffixes that extend one another, and characters LMDB orders unlike JavaScript.
  const suffix = fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom('', '1/2', '\u00e9', '\ue000', '\u{1F600}', 'a\u{1F600}', 'a\ue000', ' ', '~'));
  const value: fc.Arbitrary<PostingValue> = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...prefixes), suffix).map(([p, s]) => p + s) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) },
    { weight: 1, arbitrary: fc.constantFrom('x', '\ue000/1', '\u{1F600}/1') },
  );
  const path = fc.constantFrom('subject', 'performer');
  const ids = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7'];
  const posting = fc.tuple(path, value, fc.constantFrom(...ids));
  // A dense stretch too: values 0..40 of one path and prefix, each with 0 to 7 postings, so a
  // request for some of them meets gaps (and may give up reading them as a group).
  const dense = fc.tuple(path, fc.constantFrom(...prefixes), fc.array(fc.nat(7), { minLength: 41, maxLength: 41 })).map(([p, pre, counts]) =>
    counts.flatMap((k, i) => ids.slice(0, k).map((id): [string, PostingValue, string] => [p, `${pre}${i}`, id])),
  );
  const postingSet = fc.tuple(fc.array(posting, { maxLength: 300, size: 'max' }), fc.array(dense, { maxLength: 2 })).map(([some, ds]) => [...some, ...ds.flat()]);
  // Up to three groups (many values of one path and prefix, as a batch's references in one
  // form) and a few other values, shuffled, some of them twice.
  const group = fc.tuple(path, fc.constantFrom(...prefixes), fc.array(suffix, { minLength: 6, maxLength: 60, size: 'max' })).map(([p, pre, ss]) => ss.map((x): [string, PostingValue] => [p, pre + x]));
  const request = fc.tuple(fc.array(group, { maxLength: 3 }), fc.array(fc.tuple(path, value), { maxLength: 20 })).chain(([gs, rest]) => fc.shuffledSubarray([...gs.flat(), ...rest], { minLength: Math.floor((gs.flat().length + rest.length) / 2) }));
  let run = 0;

  async function write(postings: Database<null, PostingKey>, type: string, add: Array<[string, PostingValue, string]>, remove: Array<[string, PostingValue, string]> = []): Promise<void> {
    await postings.transaction(() => {
      for (const [p, v, id] of remove) postings.remove([type, p, v, id]);
      for (const [p, v, id] of add) postings.put([type, p, v, id], null);
    });
  }

  it('the same ids in the same order, and the same onPosting calls, before and after the postings change', async () => {
    await fc.assert(
      fc.asyncProperty(
        postingSet,
        postingSet,
        fc.array(fc.nat(), { maxLength: 200, size: 'max' }),
        request,
        fc.option(fc.array(fc.constantFrom('i0', 'i9'), { maxLength: 3 }), { nil: undefined }),
        async (first, added, removed, asked, explicit) => {
          // A type per run keeps runs apart. Asked again once the postings have changed: nothing
          // learnt from the first answer may stay behind in the second.
          const type = `T${run++}`;
          const { postings } = db;
          const c = candidate(asked, explicit);
          await write(postings, type, first);
          const before = posted(postings, type, c);
          const expected = perValueReference(postings, type, c);
          assert.deepEqual(before.ids, expected.ids);
          assert.deepEqual(before.seen, expected.seen);
          const gone = removed.filter((i) => i < first.length).map((i) => first[i]!);
          await write(postings, type, added, gone);
          const got = posted(postings, type, c);
          const want = perValueReference(postings, type, c);
          assert.deepEqual(got.ids, want.ids);
          assert.deepEqual(got.seen, want.seen);
        },
      ),
      { numRuns: 200 },
    );
  });
});
