import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IndexValues, SearchQuery, SortKey } from '../../../server/src/store/resource-store.js';
import { at, createOp, deleteOp, observation, updateOp, type StoreContext } from './fixture.js';

const LOINC = 'http://loinc.org';

/** n Observations o00…; value i % 5, a date range per i, code A for even i and B for odd. */
async function seed(ctx: StoreContext, n: number): Promise<void> {
  const ops = [];
  for (let i = 0; i < n; i++) ops.push(createOp(observation(id(i), i), index(i)));
  await ctx.store.commit({ ops, now: at(0) });
}

const id = (i: number): string => `o${String(i).padStart(2, '0')}`;

function index(i: number, code = i % 2 === 0 ? 'A' : 'B'): IndexValues {
  const day = 86_400_000;
  return {
    value: [i % 5],
    code: [{ s: LOINC, c: code }],
    date: [{ lo: (i % 7) * day, hi: (i % 7) * day + day - 1 }, ...(i % 3 === 0 ? [{ lo: 10 * day, hi: 11 * day }] : [])],
  };
}

/** Walks every page with keyset positions and returns the ids in visiting order. */
async function walk(ctx: StoreContext, query: Omit<SearchQuery, 'resourceType' | 'limit' | 'after'>, limit: number, between?: (page: number) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let after: unknown[] | undefined;
  for (let page = 0; page < 100; page++) {
    const result = await ctx.store.search({ resourceType: 'Observation', limit, ...query, ...(after ? { after } : {}) });
    seen.push(...result.resources.map((r) => r.id));
    if (result.resources.length < limit) return seen;
    after = result.resources[result.resources.length - 1]!.sortValues;
    await between?.(page);
  }
  throw new Error('paging did not end');
}

async function allIds(ctx: StoreContext, query: Omit<SearchQuery, 'resourceType' | 'limit'>): Promise<string[]> {
  return (await ctx.store.search({ resourceType: 'Observation', limit: 1000, ...query })).resources.map((r) => r.id);
}

export function searchPagingContract(ctx: StoreContext): void {
  describe('search: keyset positions and result shapes', () => {
    it('every match carries the sort values of the effective sort, ending with the id', async () => {
      await seed(ctx, 4);
      const { resources } = await ctx.store.search({ resourceType: 'Observation', filter: {}, sort: [['idx.value', -1]], limit: 2 });
      assert.deepEqual(resources.map((r) => r.sortValues), [[3, 'o03'], [2, 'o02']]);
      const byDate = await ctx.store.search({ resourceType: 'Observation', filter: { id: 'o03' }, sort: [['idx.date.lo', 1]], limit: 1 });
      assert.deepEqual(byDate.resources[0]!.sortValues, [3 * 86_400_000, 'o03']);
      const byId = await ctx.store.search({ resourceType: 'Observation', filter: {}, sort: [['id', -1]], limit: 1 });
      assert.deepEqual(byId.resources[0]!.sortValues, ['o03']);
    });

    const sorts: Array<[string, SortKey[]]> = [
      ['the id tie-break only', []],
      ['id descending', [['id', -1]]],
      ['a multi-valued date ascending', [['idx.date.lo', 1]]],
      ['a multi-valued date descending', [['idx.date.hi', -1]]],
      ['two keys with many ties', [['idx.value', 1], ['idx.code.c', -1]]],
    ];
    for (const [label, sort] of sorts) {
      it(`paging with after visits every match once, in order: ${label}`, async () => {
        await seed(ctx, 23);
        const expected = await allIds(ctx, { filter: {}, sort });
        assert.equal(expected.length, 23);
        for (const limit of [1, 4, 23]) assert.deepEqual(await walk(ctx, { filter: {}, sort }, limit), expected, `limit ${limit}`);
      });
    }

    it('after combines with the filter', async () => {
      await seed(ctx, 20);
      const filter = { 'idx.code': { $elemMatch: { s: LOINC, c: 'A' } } };
      const expected = await allIds(ctx, { filter, sort: [['idx.value', -1]] });
      assert.equal(expected.length, 10);
      assert.deepEqual(await walk(ctx, { filter, sort: [['idx.value', -1]] }, 3), expected);
    });

    it('total counts the filter, ignoring the position and the page', async () => {
      await seed(ctx, 10);
      const first = await ctx.store.search({ resourceType: 'Observation', filter: { 'idx.value': { $lt: 3 } }, limit: 2, total: true });
      assert.equal(first.total, 6);
      const next = await ctx.store.search({
        resourceType: 'Observation',
        filter: { 'idx.value': { $lt: 3 } },
        limit: 2,
        total: true,
        after: first.resources[1]!.sortValues,
      });
      assert.deepEqual(next.resources.map((r) => r.id), ['o02', 'o05']);
      assert.equal(next.total, 6);
    });

    it('pages stay stable while other clients write between pages', async () => {
      await seed(ctx, 12);
      const sort: SortKey[] = [['idx.value', 1]];
      const before = await allIds(ctx, { filter: {}, sort });
      // Between pages: delete a row not yet visited, insert rows sorting before and after the
      // position, and move a visited row to the end. Rows that existed throughout and did not
      // move are each seen exactly once.
      const seen = await walk(ctx, { filter: {}, sort }, 3, async (page) => {
        if (page !== 0) return;
        await ctx.store.commit({
          now: at(1),
          ops: [
            deleteOp('Observation', before[8]!),
            createOp(observation('n-early', 0), { value: [-1] }),
            createOp(observation('n-late', 9), { value: [9] }),
            updateOp(observation(before[0]!, 0), { value: [8] }),
          ],
        });
      });
      const stable = before.filter((x, i) => i !== 0 && i !== 8);
      for (const x of stable) assert.equal(seen.filter((s) => s === x).length, 1, `${x} seen once`);
      assert.ok(!seen.includes('n-early'), 'a row inserted before the position is not visited');
      assert.ok(!seen.includes(before[8]!), 'a row deleted before it was reached is not visited');
      assert.ok(seen.includes('n-late'), 'a row inserted after the position is visited');
      assert.deepEqual(seen.slice(0, 3), before.slice(0, 3));
      assert.deepEqual(seen.slice(3).filter((x) => stable.includes(x)), stable.slice(2));
    });

    it('a position after the last row gives an empty page', async () => {
      await seed(ctx, 3);
      const result = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 10, after: ['o02'], total: true });
      assert.deepEqual(result.resources, []);
      assert.equal(result.total, 3);
    });

    it('a position that does not fit the sort is refused as a bad request', async () => {
      await seed(ctx, 3);
      await assert.rejects(
        ctx.store.search({ resourceType: 'Observation', filter: {}, sort: [['idx.value', 1]], limit: 10, after: ['o02'] }),
        (err: unknown) => (err as { code?: string }).code === 'bad-request',
      );
      for (const after of [[5], [null], [{ $gt: '' }]]) {
        await assert.rejects(
          ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 10, after }),
          (err: unknown) => (err as { code?: string }).code === 'bad-request',
          JSON.stringify(after),
        );
      }
    });

    it('idsOnly returns the version fields without resource bodies', async () => {
      await seed(ctx, 3);
      await ctx.store.commit({ ops: [updateOp(observation('o01', 7), index(1))], now: at(2) });
      const { resources } = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 10, idsOnly: true });
      assert.deepEqual(
        resources.map((r) => ({ ...r })),
        [
          { resourceType: 'Observation', id: 'o00', versionId: '1', lastUpdated: at(0), deleted: false, sortValues: ['o00'] },
          { resourceType: 'Observation', id: 'o01', versionId: '2', lastUpdated: at(2), deleted: false, sortValues: ['o01'] },
          { resourceType: 'Observation', id: 'o02', versionId: '1', lastUpdated: at(0), deleted: false, sortValues: ['o02'] },
        ],
      );
      assert.equal(resources[0]!.resource, undefined);
    });

    it('indexFields returns the asked index values with each match, absent ones omitted', async () => {
      await seed(ctx, 2);
      const { resources } = await ctx.store.search({
        resourceType: 'Observation',
        filter: {},
        sort: [['idx.date.lo', 1]],
        limit: 10,
        indexFields: ['code', 'value', 'nothing'],
      });
      assert.deepEqual(resources.map((r) => r.index), [
        { code: [{ s: LOINC, c: 'A' }], value: [0] },
        { code: [{ s: LOINC, c: 'B' }], value: [1] },
      ]);
      assert.equal(resources[0]!.resource?.resourceType, 'Observation');
      const bare = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 1, indexFields: ['date'], idsOnly: true });
      assert.deepEqual(bare.resources[0]!.index, { date: index(0).date });
      assert.equal(bare.resources[0]!.resource, undefined);
      const none = await ctx.store.search({ resourceType: 'Observation', filter: {}, limit: 1 });
      assert.equal(none.resources[0]!.index, undefined);
    });
  });
}
