import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SearchQuery } from '../../../server/src/store/resource-store.js';
import { at, createOp, deleteOp, ms, observation, patient, updateOp, type StoreContext } from './fixture.js';

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';

/**
 * Observations shaped like the query compiler's index values. Written in reverse id order so
 * an engine that returns insertion order instead of applying the id tie-break is caught.
 */
async function seed(ctx: StoreContext): Promise<void> {
  await ctx.store.commit({
    now: at(0),
    ops: [
      createOp(observation('o5'), { subject: 'Patient/1', code: [{ s: LOINC, c: '8867-4' }], value: 72, name: 'smith' }),
      createOp(observation('o4'), { subject: 'Patient/3', code: [{ s: LOINC, c: '8867-4' }], value: 90, name: 'asmith' }),
      createOp(observation('o3'), {
        subject: 'Patient/2',
        code: [
          { s: SNOMED, c: '8867-4' },
          { s: LOINC, c: '1234-5' },
        ],
        value: 72,
        name: 'jones',
      }),
      createOp(observation('o2'), { subject: 'Patient/1', code: [{ s: LOINC, c: '8310-5' }], value: 36.6, name: 'smithers' }),
      createOp(observation('o1'), { subject: 'Patient/1', code: [{ s: LOINC, c: '8867-4' }], value: 72, name: 'smith' }),
      // Same index values under another type: searches are scoped to their resource type.
      createOp(patient('o0'), { subject: 'Patient/1', value: 72, name: 'smith' }),
    ],
  });
  await ctx.store.commit({ ops: [deleteOp('Observation', 'o5')], now: at(1) });
}

/** Searches Observations and returns the ids found (and the total when asked). */
async function ids(ctx: StoreContext, query: Partial<SearchQuery>): Promise<string[]> {
  const result = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 100, ...query });
  return result.resources.map((r) => r.id);
}

export function searchContract(ctx: StoreContext): void {
  describe('search', () => {
    it('filters on an idx field by equality', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.subject': 'Patient/1' } }), ['o1', 'o2']);
    });

    it('filters with $in', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.subject': { $in: ['Patient/2', 'Patient/3'] } } }), ['o3', 'o4']);
    });

    it('filters with $elemMatch: system and code must match in the same element', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.code': { $elemMatch: { s: LOINC, c: '8867-4' } } } }), ['o1', 'o4']);
    });

    it('filters with an anchored $regex prefix', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.name': { $regex: '^smith' } } }), ['o1', 'o2']);
    });

    it('filters on a numeric range with $gte and $lt', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.value': { $gte: 36.6, $lt: 90 } } }), ['o1', 'o2', 'o3']);
    });

    it('combines conditions with $and / $or', async () => {
      await seed(ctx);
      const filter = { $or: [{ 'idx.subject': 'Patient/3' }, { $and: [{ 'idx.value': 72 }, { 'idx.name': 'jones' }] }] };
      assert.deepEqual(await ids(ctx, { filter }), ['o3', 'o4']);
    });

    it('filters on lastUpdatedMs', async () => {
      await seed(ctx);
      await ctx.store.commit({ ops: [updateOp(observation('o2'), { value: 1 })], now: at(7) });
      assert.deepEqual(await ids(ctx, { filter: { lastUpdatedMs: { $gte: ms(7) } } }), ['o2']);
    });

    it('never returns deleted resources, even when the filter asks for them', async () => {
      await seed(ctx);
      const all = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 100, total: true });
      assert.deepEqual(all.resources.map((r) => r.id), ['o1', 'o2', 'o3', 'o4']);
      assert.equal(all.total, 4);
      assert.deepEqual(await ids(ctx, { filter: { id: 'o5' } }), []);
      assert.deepEqual(await ids(ctx, { filter: { deleted: true } }), []);
    });

    it('matches current versions only', async () => {
      await seed(ctx);
      await ctx.store.commit({ ops: [updateOp(observation('o2'), { subject: 'Patient/9' })], now: at(2) });
      assert.deepEqual(await ids(ctx, { filter: { 'idx.subject': 'Patient/1' } }), ['o1']);
      assert.deepEqual(await ids(ctx, { filter: { 'idx.subject': 'Patient/9' } }), ['o2']);
    });

    it('returns StoredVersions of the current version', async () => {
      await seed(ctx);
      const { resources } = await ctx.store.search({ resourceType: 'Observation', filter: { id: 'o4' }, limit: 10 });
      assert.equal(resources.length, 1);
      const [r] = resources;
      assert.deepEqual([r.resourceType, r.id, r.versionId, r.lastUpdated, r.deleted], ['Observation', 'o4', '1', at(0), false]);
      assert.equal(r.resource?.resourceType, 'Observation');
      assert.equal(r.resource?.meta?.versionId, '1');
      const { sortValues, ...version } = r;
      assert.deepEqual(sortValues, ['o4']);
      assert.deepEqual(version, await ctx.store.readCurrent('Observation', 'o4'));
    });

    it('sorts by the given keys, then by id ascending', async () => {
      await seed(ctx);
      assert.deepEqual(await ids(ctx, { sort: [['idx.value', -1]] }), ['o4', 'o1', 'o3', 'o2']);
      assert.deepEqual(await ids(ctx, { sort: [['idx.value', 1]] }), ['o2', 'o1', 'o3', 'o4']);
      assert.deepEqual(await ids(ctx, { sort: [['idx.name', 1]] }), ['o4', 'o3', 'o1', 'o2']);
      assert.deepEqual(await ids(ctx, { sort: [['id', -1]] }), ['o4', 'o3', 'o2', 'o1']);
    });

    it('sorts by lastUpdatedMs', async () => {
      await seed(ctx);
      await ctx.store.commit({ ops: [updateOp(observation('o3'), {})], now: at(5) });
      await ctx.store.commit({ ops: [updateOp(observation('o1'), {})], now: at(6) });
      assert.deepEqual(await ids(ctx, { sort: [['lastUpdatedMs', -1]] }), ['o1', 'o3', 'o2', 'o4']);
    });

    it('pages with skip and limit; total counts every match', async () => {
      await seed(ctx);
      const page = await ctx.store.search({ resourceType: 'Observation', filter: {}, sort: [['idx.value', -1]], skip: 1, limit: 2, total: true });
      assert.deepEqual(page.resources.map((r) => r.id), ['o1', 'o3']);
      assert.equal(page.total, 4);
      const last = await ctx.store.search({ resourceType: 'Observation', filter: {}, skip: 3, limit: 2, total: true });
      assert.deepEqual(last.resources.map((r) => r.id), ['o4']);
      assert.equal(last.total, 4);
      const beyond = await ctx.store.search({ resourceType: 'Observation', filter: {}, skip: 10, limit: 2, total: true });
      assert.deepEqual(beyond.resources, []);
      assert.equal(beyond.total, 4);
    });

    it('limit 0 returns no resources but still counts (FHIR _count=0)', async () => {
      await seed(ctx);
      const counted = await ctx.store.search({ resourceType: 'Observation', filter: { 'idx.subject': 'Patient/1' }, limit: 0, total: true });
      assert.deepEqual(counted.resources, []);
      assert.equal(counted.total, 2);
    });

    it('finds nothing in a type never written', async () => {
      const result = await ctx.store.search({ resourceType: 'Encounter', filter: {}, limit: 10, total: true });
      assert.deepEqual(result.resources, []);
      assert.equal(result.total, 0);
    });
  });
}
