import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Query } from 'mingo';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { sortDocuments } from '../../server/src/store/keyset.js';
import type { IndexValues, ResourceStore, SortKey } from '../../server/src/store/resource-store.js';

/**
 * Property: for random index values and random query documents of the shapes the compiler
 * emits (and their negations), the embedded engine returns exactly what mingo returns when it
 * evaluates the same document over every live document, in every page, whatever plan it picks.
 */
type Doc = Record<string, unknown>;

const code = fc.constantFrom('A', 'B', 'C', 'AB');
const system = fc.constantFrom('s1', 's2');
const name = fc.constantFrom('smith', 'smithers', 'jones', 'jo', 'ab.c');
const ref = fc.constantFrom('Patient/1', 'Patient/2', 'Patient/3');

const indexArb: fc.Arbitrary<IndexValues> = fc.record(
  {
    subject: fc.array(ref, { minLength: 1, maxLength: 2 }),
    code: fc.array(fc.record({ s: system, c: code }, { requiredKeys: ['c'] }), { minLength: 1, maxLength: 3 }),
    value: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 3 }),
    date: fc.array(fc.integer({ min: 0, max: 20 }).chain((lo) => fc.record({ lo: fc.constant(lo), hi: fc.integer({ min: lo, max: lo + 5 }) })), { minLength: 1, maxLength: 2 }),
    name: fc.array(name, { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const leaf: fc.Arbitrary<Doc> = fc.oneof(
  ref.map((r) => ({ 'idx.subject': r })),
  fc.array(ref, { maxLength: 3 }).map((rs) => ({ 'idx.subject': { $in: rs } })),
  fc.tuple(fc.option(system, { nil: undefined }), code).map(([s, c]) => ({ 'idx.code': { $elemMatch: s ? { s, c } : { c } } })),
  code.map((c) => ({ 'idx.code': { $elemMatch: { s: { $exists: false }, c } } })),
  system.map((s) => ({ 'idx.code': { $elemMatch: { s } } })),
  fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 })).map(([a, b]) => ({ 'idx.value': { $gte: a, $lt: b } })),
  fc.integer({ min: 0, max: 20 }).map((a) => ({ 'idx.value': { $elemMatch: { $gt: a, $lte: a + 3 } } })),
  fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 25 })).map(([a, b]) => ({ 'idx.date': { $elemMatch: { lo: { $gte: a }, hi: { $lte: b } } } })),
  fc.integer({ min: 0, max: 25 }).map((a) => ({ $or: [{ 'idx.date': { $elemMatch: { lo: { $gte: a } } } }, { 'idx.date': { $elemMatch: { hi: { $gt: a } } } }] })),
  fc.constantFrom('sm', 'smithe', 'j', 'ab\\.', 'x').map((p) => ({ 'idx.name': { $regex: `^${p}` } })),
  fc.constantFrom('mit', 'o').map((p) => ({ 'idx.name': { $regex: p } })),
  fc.constantFrom('idx.name', 'idx.value', 'idx.code').chain((f) => fc.boolean().map((e) => ({ [f]: { $exists: e } }))),
  fc.constantFrom('d0', 'd3', 'd7', 'zz').map((id) => ({ id })),
);

const filterArb: fc.Arbitrary<Doc> = fc.letrec<{ f: Doc }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('f'), { minLength: 1, maxLength: 3 }).map((fs) => ({ $and: fs })),
    fc.array(tie('f'), { minLength: 1, maxLength: 3 }).map((fs) => ({ $or: fs })),
    tie('f').map((f) => ({ $nor: [f] })),
  ),
})).f;

const sortArb: fc.Arbitrary<SortKey[]> = fc.constantFrom<SortKey[]>([], [['id', -1]], [['idx.value', 1]], [['idx.date.hi', -1]], [['idx.name', 1], ['lastUpdatedMs', -1]]);

describe('embedded engine: planner agrees with a plain evaluation (property)', () => {
  let dir: string;
  let store: ResourceStore;
  let run = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-planner-'));
    store = createEmbeddedStore({ path: dir });
    await store.init();
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('random documents, filters, sorts and page sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(indexArb, { minLength: 0, maxLength: 12 }),
        fc.array(fc.nat({ max: 11 }), { maxLength: 4 }),
        filterArb,
        sortArb,
        fc.integer({ min: 1, max: 5 }),
        async (indexes, deletions, filter, sort, pageSize) => {
          // A fresh resource type per run keeps runs apart in one store.
          const type = `T${run++}`;
          const docs = indexes.map((idx, i) => ({ id: `d${i}`, idx }));
          if (docs.length > 0) {
            await store.commit({ now: new Date(Date.UTC(2024, 0, 1)).toISOString(), ops: docs.map((d) => ({ kind: 'create', resourceType: type, id: d.id, resource: { resourceType: 'Basic', id: d.id } as never, index: d.idx })) });
            const gone = [...new Set(deletions.filter((i) => i < docs.length))];
            if (gone.length > 0) await store.commit({ now: new Date(Date.UTC(2024, 0, 2)).toISOString(), ops: gone.map((i) => ({ kind: 'delete', resourceType: type, id: `d${i}` })) });
            for (const i of gone) docs[i] = undefined as never;
          }
          const live = docs.filter(Boolean).map((d) => ({ ...d, deleted: false, lastUpdatedMs: Date.UTC(2024, 0, 1) }));
          const expected = live.filter((d) => new Query(filter).test(d));
          sortDocuments(expected, sort);
          const ids = expected.map((d) => d.id);

          const all = await store.search({ resourceType: type, filter, sort, limit: 100, total: true });
          assert.deepEqual(all.resources.map((r) => r.id), ids);
          assert.equal(all.total, ids.length);
          const paged: string[] = [];
          let position: unknown[] | undefined;
          for (let guard = 0; guard < 20; guard++) {
            const page = await store.search({ resourceType: type, filter, sort, limit: pageSize, idsOnly: true, ...(position ? { after: position } : {}) });
            paged.push(...page.resources.map((r) => r.id));
            if (page.resources.length < pageSize) break;
            position = page.resources.at(-1)!.sortValues;
          }
          assert.deepEqual(paged, ids);
        },
      ),
      { numRuns: 150 },
    );
  });
});
