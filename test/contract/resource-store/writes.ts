import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Patient } from '@medplum/fhirtypes';
import {
  at,
  commitOne,
  createOp,
  deepFreeze,
  deleteOp,
  fhirError,
  historyVersions,
  observation,
  patient,
  updateOp,
  type StoreContext,
} from './fixture.js';

/** Create, update, delete, atomicity and copy semantics of commit(), plus the two reads. */
export function writeContract(ctx: StoreContext): void {
  describe('create and read', () => {
    it('create writes version "1" with meta.versionId and meta.lastUpdated set to now', async () => {
      const v = await commitOne(ctx.store, createOp(patient('p1', 'Ng'), { family: 'ng' }), 0);
      assert.equal(v.resourceType, 'Patient');
      assert.equal(v.id, 'p1');
      assert.equal(v.versionId, '1');
      assert.equal(v.lastUpdated, at(0));
      assert.equal(v.deleted, false);
      assert.equal(v.resource?.meta?.versionId, '1');
      assert.equal(v.resource?.meta?.lastUpdated, at(0));
      assert.deepEqual((v.resource as Patient).name, [{ family: 'Ng' }]);

      assert.deepEqual(await ctx.store.readCurrent('Patient', 'p1'), v);
      assert.deepEqual(await ctx.store.readVersion('Patient', 'p1', '1'), v);
    });

    it('reads return undefined for what was never written', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      assert.equal(await ctx.store.readCurrent('Patient', 'nope'), undefined);
      assert.equal(await ctx.store.readCurrent('Observation', 'p1'), undefined);
      assert.equal(await ctx.store.readVersion('Patient', 'p1', '2'), undefined);
      assert.equal(await ctx.store.readVersion('Patient', 'p1', '0'), undefined);
      assert.equal(await ctx.store.readVersion('Patient', 'nope', '1'), undefined);
    });

    it('the store overwrites meta.versionId/lastUpdated and keeps the rest of meta', async () => {
      const input: Patient = {
        ...(patient('p1') as Patient),
        meta: { versionId: '99', lastUpdated: '2000-01-01T00:00:00.000Z', profile: ['http://example.org/p'] },
      };
      const v = await commitOne(ctx.store, createOp(input), 3);
      assert.deepEqual(v.resource?.meta, { versionId: '1', lastUpdated: at(3), profile: ['http://example.org/p'] });
    });

    it('create of an existing id fails with conflict and changes nothing', async () => {
      const first = await commitOne(ctx.store, createOp(patient('p1', 'First')), 0);
      await assert.rejects(ctx.store.commit({ ops: [createOp(patient('p1', 'Second'))], now: at(1) }), fhirError('conflict'));
      assert.deepEqual(await ctx.store.readCurrent('Patient', 'p1'), first);
    });

    it('create of a deleted id fails with conflict: a tombstone still counts', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      await commitOne(ctx.store, deleteOp('Patient', 'p1'), 1);
      await assert.rejects(ctx.store.commit({ ops: [createOp(patient('p1'))], now: at(2) }), fhirError('conflict'));
      assert.equal((await ctx.store.readCurrent('Patient', 'p1'))?.deleted, true);
    });

    it('the same id under two resource types is two resources', async () => {
      await commitOne(ctx.store, createOp(patient('x')), 0);
      const obs = await commitOne(ctx.store, createOp(observation('x')), 1);
      assert.equal(obs.versionId, '1');
      assert.equal((await ctx.store.readCurrent('Patient', 'x'))?.resource?.resourceType, 'Patient');
    });
  });

  describe('update', () => {
    it('writes the next version; earlier versions stay readable unchanged', async () => {
      await commitOne(ctx.store, createOp(patient('p1', 'Old')), 0);
      const v2 = await commitOne(ctx.store, updateOp(patient('p1', 'New')), 1);
      assert.equal(v2.versionId, '2');
      assert.equal(v2.lastUpdated, at(1));
      assert.equal(v2.resource?.meta?.versionId, '2');
      assert.equal(v2.resource?.meta?.lastUpdated, at(1));
      assert.deepEqual(await ctx.store.readCurrent('Patient', 'p1'), v2);

      const v1 = await ctx.store.readVersion('Patient', 'p1', '1');
      assert.deepEqual((v1?.resource as Patient).name, [{ family: 'Old' }]);
      assert.equal(v1?.resource?.meta?.versionId, '1');
      assert.equal(v1?.lastUpdated, at(0));
    });

    it('version ids are the decimal integers 1, 2, … (past 9 too)', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      for (let i = 2; i <= 11; i++) {
        const v = await commitOne(ctx.store, updateOp(patient('p1', `F${i}`)), i);
        assert.equal(v.versionId, String(i));
      }
      assert.deepEqual(((await ctx.store.readVersion('Patient', 'p1', '10'))?.resource as Patient).name, [{ family: 'F10' }]);
    });

    it('update of an absent resource creates version "1"', async () => {
      const v = await commitOne(ctx.store, updateOp(patient('p1')), 0);
      assert.equal(v.versionId, '1');
      assert.equal(v.deleted, false);
      assert.deepEqual(await ctx.store.readCurrent('Patient', 'p1'), v);
    });

    it('update revives a deleted resource with the next version number', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      await commitOne(ctx.store, deleteOp('Patient', 'p1'), 1);
      const v3 = await commitOne(ctx.store, updateOp(patient('p1', 'Back')), 2);
      assert.equal(v3.versionId, '3');
      assert.equal(v3.deleted, false);
      assert.deepEqual(await ctx.store.readCurrent('Patient', 'p1'), v3);
    });
  });

  describe('delete', () => {
    it('writes a tombstone as the next version; earlier versions stay readable', async () => {
      await commitOne(ctx.store, createOp(patient('p1', 'A')), 0);
      await commitOne(ctx.store, updateOp(patient('p1', 'B')), 1);
      const tomb = await commitOne(ctx.store, deleteOp('Patient', 'p1'), 2);
      assert.equal(tomb.deleted, true);
      assert.equal(tomb.versionId, '3');
      assert.equal(tomb.lastUpdated, at(2));
      assert.equal(tomb.resource, undefined);

      const current = await ctx.store.readCurrent('Patient', 'p1');
      assert.equal(current?.deleted, true);
      assert.equal(current?.versionId, '3');
      assert.equal(current?.lastUpdated, at(2));
      assert.equal(current?.resource, undefined);

      assert.deepEqual(((await ctx.store.readVersion('Patient', 'p1', '1'))?.resource as Patient).name, [{ family: 'A' }]);
      assert.deepEqual(((await ctx.store.readVersion('Patient', 'p1', '2'))?.resource as Patient).name, [{ family: 'B' }]);
      const v3 = await ctx.store.readVersion('Patient', 'p1', '3');
      assert.equal(v3?.deleted, true);
      assert.equal(v3?.resource, undefined);
    });

    it('deleting an absent resource writes nothing and returns a tombstone with versionId "0"', async () => {
      const tomb = await commitOne(ctx.store, deleteOp('Patient', 'ghost'), 0);
      assert.equal(tomb.deleted, true);
      assert.equal(tomb.versionId, '0');
      assert.equal(tomb.resource, undefined);
      assert.equal(await ctx.store.readCurrent('Patient', 'ghost'), undefined);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'ghost'), []);
    });

    it('deleting a deleted resource writes nothing and returns the current versionId', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      await commitOne(ctx.store, deleteOp('Patient', 'p1'), 1);
      const again = await commitOne(ctx.store, deleteOp('Patient', 'p1'), 2);
      assert.equal(again.deleted, true);
      assert.equal(again.versionId, '2');
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'p1'), ['2', '1']);
      assert.equal((await ctx.store.readCurrent('Patient', 'p1'))?.lastUpdated, at(1));
    });
  });

  describe('atomic commits', () => {
    it('a commit whose second op fails leaves nothing of the first op behind', async () => {
      await commitOne(ctx.store, createOp(patient('taken')), 0);
      const ops = [createOp(patient('fresh'), { family: 'fresh' }), createOp(patient('taken'))];
      await assert.rejects(ctx.store.commit({ ops, now: at(1) }), fhirError('conflict'));
      assert.equal(await ctx.store.readCurrent('Patient', 'fresh'), undefined);
      assert.equal(await ctx.store.readVersion('Patient', 'fresh', '1'), undefined);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient'), ['taken/1']);
      const found = await ctx.store.search({ resourceType: 'Patient', filter: { 'idx.family': 'fresh' }, limit: 10, total: true });
      assert.equal(found.total, 0);
    });

    it('a failed precondition later in the commit undoes earlier updates and deletes', async () => {
      await ctx.store.commit({ ops: [createOp(patient('a', 'A1')), createOp(patient('b', 'B1'))], now: at(0) });
      const before = await ctx.store.readCurrent('Patient', 'a');
      const ops = [
        updateOp(patient('a', 'A2')),
        deleteOp('Patient', 'b'),
        updateOp(patient('c'), {}, { expectedVersionId: '7' }),
      ];
      await assert.rejects(ctx.store.commit({ ops, now: at(1) }), fhirError('precondition-failed'));
      assert.deepEqual(await ctx.store.readCurrent('Patient', 'a'), before);
      assert.equal((await ctx.store.readCurrent('Patient', 'b'))?.deleted, false);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'a'), ['1']);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'b'), ['1']);
    });

    it('a commit across resource types returns results in op order with one lastUpdated', async () => {
      const results = await ctx.store.commit({
        ops: [createOp(patient('p1')), createOp(observation('o1')), updateOp(patient('p2'))],
        now: at(5),
      });
      assert.deepEqual(
        results.map((r) => [r.resourceType, r.id, r.versionId, r.lastUpdated]),
        [
          ['Patient', 'p1', '1', at(5)],
          ['Observation', 'o1', '1', at(5)],
          ['Patient', 'p2', '1', at(5)],
        ],
      );
      assert.equal((await ctx.store.readCurrent('Observation', 'o1'))?.versionId, '1');
    });
  });

  describe('several ops on one resource in one commit', () => {
    it('each op sees the result of the ops before it', async () => {
      const results = await ctx.store.commit({
        ops: [
          createOp(patient('p1', 'V1')),
          updateOp(patient('p1', 'V2'), {}, { expectedVersionId: '1' }),
          updateOp(patient('p1', 'V3'), {}, { expectedVersionId: '2' }),
        ],
        now: at(0),
      });
      assert.deepEqual(results.map((r) => r.versionId), ['1', '2', '3']);
      assert.equal((await ctx.store.readCurrent('Patient', 'p1'))?.versionId, '3');
      assert.deepEqual(((await ctx.store.readVersion('Patient', 'p1', '2'))?.resource as Patient).name, [{ family: 'V2' }]);
      assert.deepEqual(await historyVersions(ctx.store, 'Patient', 'p1'), ['3', '2', '1']);
    });

    it('create then delete in one commit leaves a tombstone at version "2"', async () => {
      const results = await ctx.store.commit({ ops: [createOp(patient('p1')), deleteOp('Patient', 'p1')], now: at(0) });
      assert.deepEqual(results.map((r) => [r.versionId, r.deleted]), [['1', false], ['2', true]]);
      const current = await ctx.store.readCurrent('Patient', 'p1');
      assert.equal(current?.deleted, true);
      assert.equal(current?.versionId, '2');
    });

    it('a second create of the same id in one commit fails the whole commit', async () => {
      await assert.rejects(
        ctx.store.commit({ ops: [createOp(patient('p1')), createOp(patient('p1'))], now: at(0) }),
        fhirError('conflict'),
      );
      assert.equal(await ctx.store.readCurrent('Patient', 'p1'), undefined);
    });

    it('a precondition on the pre-commit version fails once an earlier op moved it', async () => {
      await commitOne(ctx.store, createOp(patient('p1')), 0);
      const ops = [
        updateOp(patient('p1', 'X'), {}, { expectedVersionId: '1' }),
        updateOp(patient('p1', 'Y'), {}, { expectedVersionId: '1' }),
      ];
      await assert.rejects(ctx.store.commit({ ops, now: at(1) }), fhirError('precondition-failed'));
      assert.equal((await ctx.store.readCurrent('Patient', 'p1'))?.versionId, '1');
    });
  });

  describe("the caller's objects", () => {
    it('commit does not mutate the resource or index it was given', async () => {
      const resource = patient('p1');
      const index = { family: ['doe'], birth: { lo: 1, hi: 2 } };
      const snapshot = structuredClone({ resource, index });
      deepFreeze(resource);
      deepFreeze(index);
      const [created] = await ctx.store.commit({ ops: [createOp(resource, index)], now: at(0) });
      await ctx.store.commit({ ops: [updateOp(resource, index)], now: at(1) });
      assert.deepEqual({ resource, index }, snapshot);
      assert.notEqual(created.resource, resource);
      assert.equal(resource.meta, undefined);
    });
  });
}
