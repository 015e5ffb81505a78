import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Query } from 'mingo';
import { matchesNow } from '../../helpers/current-match.js';
import { at, commitOne, createOp, deleteOp, patient, type StoreContext } from './fixture.js';

/**
 * readCurrentMatching (the consent read-by-id path) and the searches whose filters mix clauses the
 * embedded engine decides from its postings (`$ne`, `$nin`, `$in`, equality on top-level
 * string arrays: posting-predicate.ts) with clauses it evaluates on the document. Both must
 * equal a plain evaluation of the filter, whatever the split.
 */
const TOKENS = ['a', 'b', 'c', 'N|x', '~*|t'];
const token = fc.constantFrom(...TOKENS);

type Filter = Record<string, unknown>;
const leaf: fc.Arbitrary<Filter> = fc.oneof(
  token.map((t) => ({ 'idx.tags': t })),
  token.map((t) => ({ 'idx.tags': { $ne: t } })),
  fc.array(token, { minLength: 1, maxLength: 3 }).map((ts) => ({ 'idx.tags': { $in: ts } })),
  fc.array(token, { minLength: 1, maxLength: 3 }).map((ts) => ({ 'idx.tags': { $nin: ts } })),
  fc.integer({ min: 0, max: 3 }).map((n) => ({ 'idx.n': { $gte: n } })),
  token.map((t) => ({ 'idx.other': t })),
);
const filter: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('f'), { minLength: 1, maxLength: 3 }).map((fs) => ({ $and: fs })),
    fc.array(tie('f'), { minLength: 1, maxLength: 3 }).map((fs) => ({ $or: fs })),
  ),
})).f;
const docIndex = fc.record({ tags: fc.uniqueArray(token, { maxLength: 4 }), n: fc.integer({ min: 0, max: 3 }), other: fc.array(token, { maxLength: 2 }) }, { requiredKeys: ['n'] });

export function readCurrentMatchingContract(ctx: StoreContext): void {
  describe('readCurrentMatching and posting-decided clauses', () => {
    it('returns the current version, not matching when deleted, nothing when absent', async (t) => {
      const read = ctx.store.readCurrentMatching?.bind(ctx.store);
      if (!read) return t.skip('engine has no readCurrentMatching');
      await commitOne(ctx.store, createOp(patient('p1'), { tags: ['a'] }), 0);
      await commitOne(ctx.store, createOp(patient('p2'), { tags: ['a'] }), 1);
      await commitOne(ctx.store, deleteOp('Patient', 'p2'), 2);
      const p1 = await read('Patient', 'p1', { 'idx.tags': { $ne: 'z' } });
      assert.deepEqual([p1?.version.id, p1?.version.versionId, p1?.version.deleted, p1?.version.resource?.id, p1?.matches], ['p1', '1', false, 'p1', true]);
      assert.equal((await read('Patient', 'p1', { 'idx.tags': { $ne: 'a' } }))?.matches, false);
      const p2 = await read('Patient', 'p2', { 'idx.tags': { $ne: 'z' } });
      assert.deepEqual([p2?.version.versionId, p2?.version.deleted, p2?.matches], ['2', true, false]);
      assert.equal(await read('Patient', 'nope', { 'idx.tags': { $nin: ['z'] } }), undefined);
    });

    it('agrees with a plain evaluation of random filters (read-by-id, page and total)', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(docIndex, { minLength: 1, maxLength: 8 }), fc.array(filter, { minLength: 1, maxLength: 4 }), async (indexes, filters) => {
          // A type per run: runs share the store.
          const type = `Run${run++}`;
          const ids = indexes.map((_, i) => `r${i}`);
          await ctx.store.commit({
            ops: indexes.map((idx, i) => ({ kind: 'update' as const, resourceType: type, id: ids[i] as string, resource: { resourceType: type, id: ids[i] } as never, index: idx })),
            now: at(0),
          });
          for (const f of filters) {
            const q = new Query(f);
            const expected = ids.filter((_, i) => q.test({ idx: indexes[i] } as Record<string, unknown>));
            const page = await ctx.store.search({ resourceType: type, filter: f, limit: 100, total: true });
            assert.deepEqual(page.resources.map((r) => r.id).sort(), [...expected].sort(), JSON.stringify(f));
            assert.equal(page.total, expected.length, JSON.stringify(f));
            const withExact = await ctx.store.search({ resourceType: type, filter: { $and: [{ 'idx.n': 1 }, f] }, limit: 100, total: true });
            const expectedExact = expected.filter((id) => indexes[ids.indexOf(id)]?.n === 1);
            assert.equal(withExact.total, expectedExact.length, JSON.stringify(f));
            if (!ctx.store.readCurrentMatching) continue;
            for (const id of ids) assert.equal(await matchesNow(ctx.store, type, id, f), expected.includes(id), `${id} ${JSON.stringify(f)}`);
          }
        }),
        { numRuns: 60 },
      );
    });
  });
}
