import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Query } from 'mingo';
import { mongoSearchPlan } from '../../server/src/store/mongo/mongo-search.js';
import { toSearchMatch, type CurrentDoc } from '../../server/src/store/mongo/mongo-documents.js';
import { matchedValuesOf } from '../../server/src/store/matched-values.js';
import { CURRENT_INDEXES } from '../../server/src/store/mongo/mongo-indexes.js';
import { compareValues } from '../../server/src/store/keyset.js';
import type { SearchQuery, SortKey } from '../../server/src/store/resource-store.js';

const base: SearchQuery = { resourceType: 'Observation', filter: { 'idx.subject': 'Patient/1' }, limit: 10 };

describe('mongoSearchPlan: the documents sent to MongoDB', () => {
  it('sorts by the effective sort with id as _id', () => {
    assert.deepEqual(mongoSearchPlan(base).sort, [['_id', 1]]);
    assert.deepEqual(mongoSearchPlan({ ...base, sort: [['idx.date.hi', -1]] }).sort, [['idx.date.hi', -1], ['_id', 1]]);
    assert.deepEqual(mongoSearchPlan({ ...base, sort: [['id', -1], ['idx.x', 1]] }).sort, [['_id', -1], ['idx.x', 1]]);
  });

  it('without a position, page and count share the filter plus liveness', () => {
    const plan = mongoSearchPlan(base);
    assert.deepEqual(plan.filter, { $and: [{ 'idx.subject': 'Patient/1' }, { deleted: false }] });
    assert.deepEqual(plan.countFilter, plan.filter);
  });

  it('a position narrows the page on _id but never the count', () => {
    const plan = mongoSearchPlan({ ...base, after: ['o7'] });
    assert.deepEqual(plan.filter, {
      $and: [{ 'idx.subject': 'Patient/1' }, { deleted: false }, { _id: { $exists: true, $ne: null, $not: { $lte: 'o7' } } }],
    });
    assert.deepEqual(plan.countFilter, { $and: [{ 'idx.subject': 'Patient/1' }, { deleted: false }] });
  });

  it('a position that does not fit the sort is a bad request before anything is sent', () => {
    assert.throws(() => mongoSearchPlan({ ...base, sort: [['idx.value', 1]], after: ['o7'] }), (e: unknown) => (e as { code?: string }).code === 'bad-request');
  });

  it('projects the version fields, the body unless idsOnly, the sort fields and the asked idx fields', () => {
    assert.deepEqual(mongoSearchPlan(base).projection, { deleted: 1, id: 1, lastUpdated: 1, resource: 1, resourceType: 1, versionId: 1 });
    assert.deepEqual(mongoSearchPlan({ ...base, idsOnly: true, sort: [['idx.date.lo', 1]], indexFields: ['code'] }).projection, {
      deleted: 1,
      id: 1,
      'idx.code': 1,
      'idx.date.lo': 1,
      lastUpdated: 1,
      resourceType: 1,
      versionId: 1,
    });
  });

  it('never names a path and its parent in one projection (MongoDB rejects path collisions)', () => {
    const p = mongoSearchPlan({ ...base, sort: [['idx.date.hi', -1]], indexFields: ['date', 'datex'] }).projection;
    assert.equal(p['idx.date'], 1);
    assert.equal(p['idx.datex'], 1);
    assert.equal(p['idx.date.hi'], undefined);
  });

  it('paging with the plan over MongoDB-shaped documents visits each row once, in order (evaluated with mingo)', () => {
    const docs: CurrentDoc[] = [];
    for (let i = 0; i < 17; i++) {
      const id = `o${String(i).padStart(2, '0')}`;
      docs.push({
        _id: id,
        resourceType: 'Observation',
        id,
        versionId: '1',
        lastUpdated: '2024-01-01T00:00:00.000Z',
        lastUpdatedMs: 0,
        deleted: i === 5,
        idx: { subject: ['Patient/1'], date: [{ lo: i % 4, hi: (i % 4) + 10 }] },
      });
    }
    const sort: SortKey[] = [['idx.date.hi', -1]];
    const run = (q: SearchQuery): CurrentDoc[] => {
      const plan = mongoSearchPlan(q);
      const hits = docs.filter((d) => new Query(plan.filter).test(d as unknown as Record<string, unknown>));
      // MongoDB's order for this sort: max of idx.date.hi descending, then _id ascending.
      const key = (d: CurrentDoc) => Math.max(...(d.idx.date as Array<{ hi: number }>).map((x) => x.hi));
      hits.sort((a, b) => key(b) - key(a) || compareValues(a._id, b._id));
      return hits.slice(0, q.limit);
    };
    const all = run({ ...base, sort, limit: 100 }).map((d) => d.id);
    assert.equal(all.length, 16);
    const seen: string[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const page = run({ ...base, sort, limit: 3, ...(after ? { after } : {}) });
      seen.push(...page.map((d) => d.id));
      if (page.length < 3) break;
      after = toSearchMatch(page[page.length - 1]!, { ...base, sort }).sortValues;
    }
    assert.deepEqual(seen, all);
  });
});

describe('toSearchMatch', () => {
  const doc = {
    resourceType: 'Observation',
    id: 'o1',
    versionId: '3',
    lastUpdated: '2024-01-01T00:00:00.000Z',
    deleted: false,
    resource: { resourceType: 'Observation', id: 'o1' } as CurrentDoc['resource'],
    idx: { date: [{ lo: 1, hi: 2 }], code: [{ c: 'x' }] },
  };

  it('computes sortValues from the projected fields and returns the asked index fields', () => {
    const hit = toSearchMatch(doc, { ...base, sort: [['idx.date.lo', 1]], indexFields: ['code', 'absent'] });
    assert.deepEqual(hit.sortValues, [1, 'o1']);
    assert.deepEqual(hit.index, { code: [{ c: 'x' }] });
    assert.equal(hit.resource?.id, 'o1');
    assert.equal('idx' in hit, false);
  });

  it('with matchedOf, projects that idx field and reports the conjunct values the document holds', () => {
    const q = { ...base, filter: { $and: [{ 'idx.subject': { $in: ['Patient/a', 'Patient/b', 'https://x/Patient/a'] } }] }, matchedOf: 'subject' };
    assert.equal(mongoSearchPlan(q).projection['idx.subject'], 1);
    const values = matchedValuesOf(q);
    const hit = toSearchMatch({ ...doc, idx: { subject: ['https://x/Patient/a', 'Patient/c', 'Patient/a'] } }, q, values);
    assert.deepEqual(hit.matched, ['Patient/a', 'https://x/Patient/a']);
    assert.throws(() => matchedValuesOf({ ...base, filter: { 'idx.subject': { $regex: '^P' } }, matchedOf: 'subject' }), /matchedOf/);
  });

  it('drops the body for idsOnly', () => {
    const hit = toSearchMatch(doc, { ...base, idsOnly: true });
    assert.deepEqual(hit, { resourceType: 'Observation', id: 'o1', versionId: '3', lastUpdated: '2024-01-01T00:00:00.000Z', deleted: false, sortValues: ['o1'] });
  });
});

describe('current-collection indexes', () => {
  const keys = CURRENT_INDEXES.map((i) => i.key);

  it('index every search value through one wildcard index on idx', () => {
    assert.ok(keys.some((k) => JSON.stringify(k) === JSON.stringify({ 'idx.$**': 1 })));
  });

  it('serve id-ordered and lastUpdated-ordered pages of live documents from an index (no in-memory sort)', () => {
    const has = (k: Record<string, number>) => keys.some((x) => JSON.stringify(x) === JSON.stringify(k));
    assert.ok(has({ deleted: 1, _id: 1 }));
    assert.ok(has({ deleted: 1, lastUpdatedMs: 1, _id: 1 }));
    assert.ok(has({ deleted: 1, lastUpdatedMs: -1, _id: 1 }));
  });

  it('have unique names', () => {
    const names = CURRENT_INDEXES.map((i) => i.name);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.every((n) => typeof n === 'string' && n.length > 0));
  });
});
