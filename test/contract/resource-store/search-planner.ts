import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Query } from 'mingo';
import type { IndexValues, SortKey, StoredDocument, WriteOp } from '../../../server/src/store/resource-store.js';
import { sortDocuments } from '../../../server/src/store/keyset.js';
import { at, ms, observation, type StoreContext } from './fixture.js';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const DAY = 86_400_000;
const LONG = `${'x'.repeat(150)}-long-${'y'.repeat(60)}`;

/**
 * Index values of many shapes, including the ones a careless index would get wrong: values on
 * both sides of a two-sided range (a multikey trap), strings longer than any posting key,
 * codes without a system, entries missing a sub-field, composite elements holding arrays.
 */
function indexOf(i: number): IndexValues {
  const idx: IndexValues = {
    subject: [`Patient/${i % 4}`],
    code: [{ s: i % 5 === 0 ? 'http://snomed.info/sct' : LOINC, c: ['A', 'B', 'C'][i % 3]! }, ...(i % 4 === 0 ? [{ c: 'A' }] : []), { t: `text ${i}` }],
    value: i % 6 === 0 ? [10, 100] : [i * 7 % 97],
    date: [{ lo: (i % 9) * DAY, hi: (i % 9) * DAY + DAY - 1 }, ...(i % 5 === 0 ? [{ lo: 20 * DAY, hi: 40 * DAY }] : [])],
    vq: [{ v: 5 + (i % 3) * 0.5, s: UCUM, c: i % 2 ? 'mg' : 'g' }],
    combo: [{ c0: [{ c: ['A', 'B'][i % 2] }], c1: [{ v: i % 3 }] }],
    cv: [{ c1: i % 7 === 0 ? [0.5, 3] : [i % 3] }],
  };
  if (i % 3 !== 1) idx.status = [{ c: 'final' }];
  if (i % 2 === 0) idx.name = [['smith', 'smithers', 'asmith', 'a.b', 'ab'][i % 5]!, ...(i % 8 === 0 ? [LONG] : [])];
  if (i === 7) idx.name = [`${LONG}-other`];
  return idx;
}

const N = 40;
const id = (i: number): string => `o${String(i).padStart(2, '0')}`;

async function seed(ctx: StoreContext): Promise<Array<Omit<StoredDocument, 'resource'>>> {
  const docs: Array<Omit<StoredDocument, 'resource'>> = [];
  // Three commits, so lastUpdatedMs differs and later commits replace earlier index values.
  for (const step of [0, 1, 2]) {
    const ops: WriteOp[] = [];
    for (let i = step; i < N; i += 3) {
      ops.push({ kind: 'create', resourceType: 'Observation', id: id(i), resource: observation(id(i), i), index: indexOf(i) });
      docs.push({ resourceType: 'Observation', id: id(i), versionId: '1', lastUpdated: at(step), lastUpdatedMs: ms(step), deleted: false, idx: indexOf(i) });
    }
    await ctx.store.commit({ ops, now: at(step) });
  }
  // An update that moves a document out of one posting and into another, and a deletion.
  const moved = { ...indexOf(3), subject: ['Patient/9'] };
  await ctx.store.commit({
    now: at(3),
    ops: [
      { kind: 'update', resourceType: 'Observation', id: id(3), resource: observation(id(3)), index: moved },
      { kind: 'delete', resourceType: 'Observation', id: id(4) },
    ],
  });
  const three = docs.find((d) => d.id === id(3))!;
  Object.assign(three, { versionId: '2', lastUpdated: at(3), lastUpdatedMs: ms(3), idx: moved });
  return docs.filter((d) => d.id !== id(4));
}

const FILTERS: Array<[string, Record<string, unknown>]> = [
  ['reference equality', { 'idx.subject': 'Patient/1' }],
  ['reference $in', { 'idx.subject': { $in: ['Patient/1', 'Patient/2'] } }],
  ['a value moved away by an update', { 'idx.subject': 'Patient/3' }],
  ['a value moved in by an update', { 'idx.subject': 'Patient/9' }],
  ['negated reference ($nor)', { $nor: [{ 'idx.subject': 'Patient/1' }] }],
  ['token system|code', { 'idx.code': { $elemMatch: { s: LOINC, c: 'A' } } }],
  ['token code', { 'idx.code': { $elemMatch: { c: 'B' } } }],
  ['token |code (no system)', { 'idx.code': { $elemMatch: { s: { $exists: false }, c: 'A' } } }],
  ['token system|', { 'idx.code': { $elemMatch: { s: LOINC } } }],
  ['token :not', { $nor: [{ 'idx.code': { $elemMatch: { c: 'A' } } }] }],
  ['token :text prefix', { 'idx.code': { $elemMatch: { t: { $regex: '^text 1' } } } }],
  [':missing=true', { 'idx.status': { $exists: false } }],
  [':missing=false', { 'idx.status': { $exists: true } }],
  ['string prefix', { 'idx.name': { $regex: '^smith' } }],
  ['string prefix with an escaped metacharacter', { 'idx.name': { $regex: '^a\\.b' } }],
  ['string :contains (unanchored)', { 'idx.name': { $regex: 'mith' } }],
  ['string :exact', { 'idx.name': 'smith' }],
  ['a string longer than a posting key, exactly', { 'idx.name': LONG }],
  ['a prefix longer than a posting key', { 'idx.name': { $regex: `^${'x'.repeat(140)}` } }],
  ['number range on a multi-valued field (one element each side)', { 'idx.value': { $gte: 36.6, $lt: 90 } }],
  ['number range within one element', { 'idx.value': { $elemMatch: { $gte: 36.6, $lt: 90 } } }],
  ['number gt at an existing value', { 'idx.value': { $gt: 70 } }],
  ['number ne ($not)', { 'idx.value': { $not: { $gte: 50, $lt: 80 } } }],
  ['date eq', { 'idx.date': { $elemMatch: { lo: { $gte: 3 * DAY }, hi: { $lte: 4 * DAY - 1 } } } }],
  ['date ge', { 'idx.date': { $elemMatch: { hi: { $gte: 7 * DAY } } } }],
  ['date lt', { 'idx.date': { $elemMatch: { lo: { $lt: 2 * DAY } } } }],
  ['date ap', { 'idx.date': { $elemMatch: { lo: { $lte: 25 * DAY }, hi: { $gte: 22 * DAY } } } }],
  ['date ne', { $nor: [{ 'idx.date': { $elemMatch: { lo: { $gte: 3 * DAY }, hi: { $lte: 4 * DAY - 1 } } } }] }],
  ['quantity with unit', { 'idx.vq': { $elemMatch: { v: { $gte: 5.25, $lt: 5.75 }, s: UCUM, c: 'mg' } } }],
  ['composite with arrays inside elements', { 'idx.combo': { $elemMatch: { 'c0.c': 'A', 'c1.v': { $gte: 1, $lt: 2 } } } }],
  ['two bounds on an array inside an element', { 'idx.cv': { $elemMatch: { c1: { $gte: 1, $lt: 2 } } } }],
  ['_lastUpdated', { lastUpdatedMs: { $gt: ms(1) } }],
  ['_id', { id: 'o05' }],
  ['_id list with an unknown and a deleted id', { id: { $in: ['o05', 'o09', 'nope', 'o04'] } }],
  ['match nothing', { id: { $in: [] } }],
  ['an empty reference list (a chain that found nothing)', { 'idx.subject': { $in: [] } }],
  ['an empty list inside $or', { $or: [{ 'idx.subject': { $in: [] } }, { 'idx.code': { $elemMatch: { c: 'C' } } }] }],
  ['_id :not', { $nor: [{ id: 'o05' }] }],
  ['$or of recognised and unrecognised clauses', { $or: [{ 'idx.subject': 'Patient/1' }, { 'idx.name': { $regex: 'mith' } }] }],
  ['$or of recognised clauses', { $or: [{ 'idx.subject': 'Patient/1' }, { 'idx.code': { $elemMatch: { c: 'C' } } }] }],
  [
    'AND of several recognised clauses',
    { $and: [{ 'idx.subject': { $in: ['Patient/0', 'Patient/2'] } }, { 'idx.code': { $elemMatch: { c: 'A' } } }, { 'idx.date': { $elemMatch: { hi: { $gte: 2 * DAY } } } }] },
  ],
  ['AND with a negation', { $and: [{ 'idx.code': { $elemMatch: { c: 'A' } } }, { $nor: [{ 'idx.subject': 'Patient/0' }] }] }],
  ['no filter', {}],
];

const SORTS: Array<[string, SortKey[]]> = [
  ['id', []],
  ['-id', [['id', -1]]],
  ['-value', [['idx.value', -1]]],
  ['date, then -_lastUpdated', [['idx.date.lo', 1], ['lastUpdatedMs', -1]]],
];

/**
 * Whatever plan the engine picks (postings, id streams, scans), every search returns what a
 * plain evaluation of the query document over all live documents returns.
 */
export function searchPlannerContract(ctx: StoreContext): void {
  describe('search: same results as a plain evaluation, whatever the plan', () => {
    for (const [label, filter] of FILTERS) {
      it(label, async () => {
        const docs = await seed(ctx);
        const expectedSet = docs.filter((d) => new Query(filter).test(d as unknown as Record<string, unknown>));
        for (const [sortLabel, sort] of SORTS) {
          const expected = [...expectedSet];
          sortDocuments(expected, sort);
          const ids = expected.map((d) => d.id);
          const all = await ctx.store.search({ resourceType: 'Observation', filter, sort, limit: 1000, total: true });
          assert.deepEqual(all.resources.map((r) => r.id), ids, `${sortLabel}: all`);
          assert.equal(all.total, ids.length, `${sortLabel}: total`);
          // Pages of 4 with keyset positions, each also counting.
          const paged: string[] = [];
          let after: unknown[] | undefined;
          for (let guard = 0; guard < 20; guard++) {
            const page = await ctx.store.search({ resourceType: 'Observation', filter, sort, limit: 4, total: true, ...(after ? { after } : {}) });
            assert.equal(page.total, ids.length, `${sortLabel}: total on a later page`);
            paged.push(...page.resources.map((r) => r.id));
            if (page.resources.length < 4) break;
            after = page.resources[3]!.sortValues;
          }
          assert.deepEqual(paged, ids, `${sortLabel}: paged`);
          const skipped = await ctx.store.search({ resourceType: 'Observation', filter, sort, skip: 2, limit: 3, idsOnly: true });
          assert.deepEqual(skipped.resources.map((r) => r.id), ids.slice(2, 5), `${sortLabel}: skip`);
        }
      });
    }
  });
}
