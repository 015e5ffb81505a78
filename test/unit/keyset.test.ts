import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Query } from 'mingo';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { checkPosition, effectiveSort, keysetFilter, sortDocuments, sortValuesOf } from '../../server/src/store/keyset.js';
import type { SortKey } from '../../server/src/store/resource-store.js';

type Doc = Record<string, unknown>;

const ids = (docs: Doc[]): unknown[] => docs.map((d) => d.id);

describe('effectiveSort', () => {
  it('appends id ascending unless id is already a key', () => {
    assert.deepEqual(effectiveSort(), [['id', 1]]);
    assert.deepEqual(effectiveSort([['idx.date.hi', -1]]), [['idx.date.hi', -1], ['id', 1]]);
    assert.deepEqual(effectiveSort([['id', -1], ['idx.x', 1]]), [['id', -1], ['idx.x', 1]]);
  });
});

describe('sortValuesOf / sortDocuments follow MongoDB ordering', () => {
  it('arrays sort by their smallest element ascending and largest descending; missing lowest', () => {
    const docs: Doc[] = [
      { id: 'a', n: 1 },
      { id: 'b', n: [1] },
      { id: 'c', n: [0, 1] },
      { id: 'd' },
      { id: 'e', n: [5, -1, 3] },
    ];
    sortDocuments(docs, [['n', 1]]);
    assert.deepEqual(ids(docs), ['d', 'e', 'c', 'a', 'b']);
    sortDocuments(docs, [['n', -1]]);
    assert.deepEqual(ids(docs), ['e', 'a', 'b', 'c', 'd']);
    assert.deepEqual(sortValuesOf({ id: 'e', n: [5, -1, 3] }, [['n', 1]]), [-1, 'e']);
    assert.deepEqual(sortValuesOf({ id: 'e', n: [5, -1, 3] }, [['n', -1]]), [5, 'e']);
    assert.deepEqual(sortValuesOf({ id: 'd' }, [['n', -1]]), [null, 'd']);
  });

  it('reads dotted paths through arrays of objects; an element lacking the field counts as null', () => {
    const doc = { id: 'x', idx: { date: [{ lo: 5, hi: 9 }, { lo: 2, hi: 3 }], code: [{ c: 'b' }, { t: 'text only' }] } };
    assert.deepEqual(sortValuesOf(doc, [['idx.date.lo', 1]]), [2, 'x']);
    assert.deepEqual(sortValuesOf(doc, [['idx.date.hi', -1]]), [9, 'x']);
    assert.deepEqual(sortValuesOf(doc, [['idx.code.c', 1]]), [null, 'x']);
    assert.deepEqual(sortValuesOf(doc, [['idx.code.c', -1]]), ['b', 'x']);
  });

  it('orders values of different types in BSON order', () => {
    const docs: Doc[] = [
      { id: '1', v: true },
      { id: '2', v: 'a' },
      { id: '3', v: 10 },
      { id: '4', v: null },
    ];
    sortDocuments(docs, [['v', 1]]);
    assert.deepEqual(ids(docs), ['4', '3', '2', '1']);
  });
});

describe('keysetFilter', () => {
  it('expands the keys lexicographically, renaming fields for the engine', () => {
    const f = keysetFilter([['n', -1]], [7, 'p1'], (x) => (x === 'id' ? '_id' : x));
    assert.deepEqual(f, {
      $or: [{ n: { $not: { $gte: 7 } } }, { $and: [{ n: { $eq: 7, $not: { $gt: 7 } } }, { _id: { $exists: true, $ne: null, $not: { $lte: 'p1' } } }] }],
    });
  });

  it('excludes documents with an element lacking the field from "min > a" (MongoDB counts it as null)', () => {
    // Evaluated by MongoDB, `$ne: null` fails for such a document; this pins the clause shape.
    const f = keysetFilter([['idx.code.c', 1]], ['a', 'z']) as { $or: Doc[] };
    assert.deepEqual(f.$or[0], { 'idx.code.c': { $exists: true, $ne: null, $not: { $lte: 'a' } } });
  });

  it('after a missing value descending, only equal-null rows with a later id remain', () => {
    const f = keysetFilter([['n', -1]], [null, 'm']);
    const docs: Doc[] = [{ id: 'a' }, { id: 'z' }, { id: 'q', n: 1 }];
    assert.deepEqual(ids(docs.filter((d) => new Query(f).test(d))), ['z']);
  });

  it('refuses positions that do not fit the sort or carry objects (400, not 500)', () => {
    const bad = (after: unknown[]) => () => keysetFilter([['n', 1]], after);
    const is400 = (err: unknown) => err instanceof FhirError && err.code === 'bad-request';
    assert.throws(bad([1]), is400);
    assert.throws(bad([1, 'a', 'b']), is400);
    assert.throws(bad([{ $gt: 1 }, 'a']), is400);
    assert.throws(bad([[1], 'a']), is400);
    assert.throws(bad([Number.NaN, 'a']), is400);
    assert.throws(() => checkPosition([], 'x' as unknown as unknown[]), is400);
    assert.throws(bad([1, null]), is400, 'an id is a string');
    assert.throws(bad([1, 7]), is400, 'an id is a string');
    assert.throws(() => checkPosition([['lastUpdatedMs', 1]], ['2024', 'a']), is400);
    assert.doesNotThrow(bad([null, 'a']));
  });

  // Index values hold one type per field; arrays of objects either all carry the sorted
  // sub-field or none does (where MongoDB and mingo agree on what is missing).
  const numberField = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }));
  const stringField = fc.oneof(
    fc.constantFrom('a', 'b', 'c'),
    fc.array(fc.constantFrom('a', 'b', 'c', 'ab'), { minLength: 1, maxLength: 3 }),
  );
  const rangeField = fc.oneof(
    fc.array(fc.record({ lo: fc.integer({ min: 0, max: 3 }), hi: fc.integer({ min: 3, max: 6 }) }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.record({ other: fc.constant(1) }), { minLength: 1, maxLength: 2 }),
  );
  const docsArb = fc
    .uniqueArray(
      fc.record(
        { id: fc.stringMatching(/^[a-e]{1,2}$/), n: numberField, s: stringField, d: rangeField },
        { requiredKeys: ['id'] },
      ),
      { selector: (d) => d.id, minLength: 0, maxLength: 25 },
    )
    .map((docs) => docs.map((d) => ({ ...d, idx: { d: d.d } }) as Doc));
  const sortArb: fc.Arbitrary<SortKey[]> = fc.uniqueArray(
    fc.tuple(fc.constantFrom('n', 's', 'idx.d.lo', 'idx.d.hi', 'id'), fc.constantFrom<1 | -1>(1, -1)),
    { selector: (k) => k[0], maxLength: 3 },
  );

  it('selects exactly the rows after a position (property, evaluated by mingo)', () => {
    fc.assert(
      fc.property(docsArb, sortArb, fc.nat(), (docs, sort, pick) => {
        const sorted = [...docs];
        sortDocuments(sorted, sort);
        if (sorted.length === 0) return;
        const p = pick % sorted.length;
        const q = new Query(keysetFilter(sort, sortValuesOf(sorted[p], sort)));
        const selected = sorted.filter((d) => q.test(d));
        assert.deepEqual(ids(selected), ids(sorted.slice(p + 1)));
      }),
      { numRuns: 400 },
    );
  });

  it('paging with keysetFilter and a limit visits every row once, in order (property)', () => {
    fc.assert(
      fc.property(docsArb, sortArb, fc.integer({ min: 1, max: 4 }), (docs, sort, limit) => {
        const expected = [...docs];
        sortDocuments(expected, sort);
        const visited: Doc[] = [];
        let after: unknown[] | undefined;
        for (let pages = 0; pages <= docs.length + 1; pages++) {
          const q = after ? new Query(keysetFilter(sort, after)) : undefined;
          const page = docs.filter((d) => !q || q.test(d));
          sortDocuments(page, sort);
          const taken = page.slice(0, limit);
          visited.push(...taken);
          if (taken.length < limit) break;
          after = sortValuesOf(taken[taken.length - 1], sort);
        }
        assert.deepEqual(ids(visited), ids(expected));
      }),
      { numRuns: 300 },
    );
  });
});
