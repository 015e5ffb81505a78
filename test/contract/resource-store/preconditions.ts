import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at, commitOne, createOp, deleteOp, fhirError, historyVersions, patient, updateOp, type StoreContext } from './fixture.js';

/** WriteOp.expectedVersionId: optimistic concurrency checked atomically with the write. */
export function preconditionContract(ctx: StoreContext): void {
  describe('expectedVersionId', () => {
    it('null succeeds when the resource does not exist (create and update)', async () => {
      assert.equal((await commitOne(ctx.store, createOp(patient('a'), {}, { expectedVersionId: null }), 0)).versionId, '1');
      assert.equal((await commitOne(ctx.store, updateOp(patient('b'), {}, { expectedVersionId: null }), 0)).versionId, '1');
    });

    it('null fails with precondition-failed when the resource exists', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      await assert.rejects(
        ctx.store.commit({ ops: [updateOp(patient('p1', 'X'), {}, { expectedVersionId: null })], now: at(9) }),
        fhirError('precondition-failed'),
      );
      // "conflict" is for a create without a precondition; with one, the precondition speaks.
      await assert.rejects(
        ctx.store.commit({ ops: [createOp(patient('p1'), {}, { expectedVersionId: null })], now: at(9) }),
        fhirError('precondition-failed'),
      );
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'p1'), ['1']);
    });

    it('null succeeds on a deleted resource and revives it', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      await commitOne(ctx.store, deleteOp('Patient', 'p1'), 1);
      const v = await commitOne(ctx.store, updateOp(patient('p1'), {}, { expectedVersionId: null }), 2);
      assert.equal(v.versionId, '3');
      assert.equal(v.deleted, false);
    });

    it('a matching versionId lets update and delete through', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      assert.equal((await commitOne(ctx.store, updateOp(patient('p1'), {}, { expectedVersionId: '1' }), 1)).versionId, '2');
      const tomb = await commitOne(ctx.store, deleteOp('Patient', 'p1', { expectedVersionId: '2' }), 2);
      assert.equal(tomb.versionId, '3');
      assert.equal(tomb.deleted, true);
    });

    it('a different versionId fails with precondition-failed and writes nothing', async () => {
      await commitOne(ctx.store, createOp(patient('p1', 'Kept')), 0);
      await commitOne(ctx.store, updateOp(patient('p1', 'Kept')), 1);
      for (const op of [
        updateOp(patient('p1', 'Lost'), {}, { expectedVersionId: '1' }),
        updateOp(patient('p1', 'Lost'), {}, { expectedVersionId: '3' }),
        deleteOp('Patient', 'p1', { expectedVersionId: '1' }),
      ]) {
        await assert.rejects(ctx.store.commit({ ops: [op], now: at(9) }), fhirError('precondition-failed'));
      }
      const current = await ctx.store.readCurrent('Patient', 'p1');
      assert.equal(current?.versionId, '2');
      assert.equal(current?.deleted, false);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'p1'), ['2', '1']);
    });

    it('a versionId precondition on an absent resource fails with precondition-failed', async () => {
      await assert.rejects(
        ctx.store.commit({ ops: [updateOp(patient('ghost'), {}, { expectedVersionId: '1' })], now: at(9) }),
        fhirError('precondition-failed'),
      );
      assert.equal(await ctx.store.readCurrent('Patient', 'ghost'), undefined);
    });
  });
}

