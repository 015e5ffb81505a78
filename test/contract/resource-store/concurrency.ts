import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FhirError } from '../../../server/src/fhir/outcomes.js';
import { at, commitOne, createOp, patient, updateOp, type StoreContext } from './fixture.js';

function rejectionCodes(settled: PromiseSettledResult<unknown>[]): string[] {
  return settled
    .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => (s.reason instanceof FhirError ? s.reason.code : String(s.reason)));
}

export function concurrencyContract(ctx: StoreContext): void {
  describe('concurrent commits', () => {
    it('50 parallel commits of distinct resources all land', async () => {
      const ids = Array.from({ length: 50 }, (_, i) => `c${String(i).padStart(2, '0')}`);
      const results = await Promise.all(ids.map((id) => ctx.store.commit({ ops: [createOp(patient(id), { n: id })], now: at(0) })));
      assert.ok(results.every((r) => r.length === 1 && r[0].versionId === '1'));
      const all = await ctx.store.search({ resourceType: 'Patient', filter: {}, limit: 100, total: true });
      assert.equal(all.total, 50);
      assert.deepEqual(all.resources.map((r) => r.id), ids);
      assert.equal((await ctx.store.history({ resourceType: 'Patient', limit: 0 })).total, 50);
    });

    it('of 20 parallel updates from the same read, exactly one succeeds', async () => {
      await commitOne(ctx.store, createOp(patient('hot')), 0);
      const read = await ctx.store.readCurrent('Patient', 'hot');
      const settled = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          ctx.store.commit({ ops: [updateOp(patient('hot', `W${i}`), {}, { expectedVersionId: read!.versionId })], now: at(1) }),
        ),
      );
      const winners = settled.filter((s): s is PromiseFulfilledResult<Awaited<ReturnType<typeof ctx.store.commit>>> => s.status === 'fulfilled');
      assert.equal(winners.length, 1);
      assert.deepEqual(rejectionCodes(settled), Array(19).fill('precondition-failed'));
      const current = await ctx.store.readCurrent('Patient', 'hot');
      assert.equal(current?.versionId, '2');
      assert.deepEqual(current, winners[0].value[0]);
      assert.equal((await ctx.store.history({ resourceType: 'Patient', id: 'hot', limit: 0 })).total, 2);
    });

    it('of 20 parallel creates of one id, exactly one succeeds', async () => {
      const settled = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => ctx.store.commit({ ops: [createOp(patient('dup', `W${i}`))], now: at(0) })),
      );
      assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 1);
      assert.deepEqual(rejectionCodes(settled), Array(19).fill('conflict'));
      assert.equal((await ctx.store.history({ resourceType: 'Patient', id: 'dup', limit: 0 })).total, 1);
    });
  });
}
