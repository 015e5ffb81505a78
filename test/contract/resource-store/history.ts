import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Patient } from '@medplum/fhirtypes';
import { at, commitOne, createOp, deleteOp, ms, observation, patient, updateOp, type StoreContext } from './fixture.js';

/** p1 gets versions 1..4 at steps 0..3, the last one a tombstone. */
async function seedInstance(ctx: StoreContext): Promise<void> {
  await commitOne(ctx.store, createOp(patient('p1', 'V1')), 0);
  await commitOne(ctx.store, updateOp(patient('p1', 'V2')), 1);
  await commitOne(ctx.store, updateOp(patient('p1', 'V3')), 2);
  await commitOne(ctx.store, deleteOp('Patient', 'p1'), 3);
  await commitOne(ctx.store, createOp(patient('other')), 4);
}

/** Patient a@0, b@1, a@2 (v2), plus an Observation that type history must not show. */
async function seedType(ctx: StoreContext): Promise<void> {
  await commitOne(ctx.store, createOp(patient('a')), 0);
  await commitOne(ctx.store, createOp(patient('b')), 1);
  await commitOne(ctx.store, updateOp(patient('a')), 2);
  await commitOne(ctx.store, createOp(observation('x')), 3);
}

export function historyContract(ctx: StoreContext): void {
  describe('history of one resource', () => {
    it('lists every version newest first, tombstones included', async () => {
      await seedInstance(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', id: 'p1', limit: 100 });
      assert.equal(h.total, 4);
      assert.deepEqual(
        h.entries.map((e) => [e.versionId, e.lastUpdated, e.deleted]),
        [
          ['4', at(3), true],
          ['3', at(2), false],
          ['2', at(1), false],
          ['1', at(0), false],
        ],
      );
      assert.equal(h.entries[0].resource, undefined);
      assert.deepEqual((h.entries[3].resource as Patient).name, [{ family: 'V1' }]);
      assert.equal(h.entries[3].resource?.meta?.versionId, '1');
      assert.deepEqual(h.entries[1], await ctx.store.readVersion('Patient', 'p1', '3'));
    });

    it('sinceMs keeps versions at or after the instant', async () => {
      await seedInstance(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', id: 'p1', sinceMs: ms(1), limit: 100 });
      assert.deepEqual(h.entries.map((e) => e.versionId), ['4', '3', '2']);
      assert.equal(h.total, 3);
    });

    it('pages with skip and limit; total counts every version', async () => {
      await seedInstance(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', id: 'p1', skip: 1, limit: 2 });
      assert.deepEqual(h.entries.map((e) => e.versionId), ['3', '2']);
      assert.equal(h.total, 4);
      const counted = await ctx.store.history({ resourceType: 'Patient', id: 'p1', limit: 0 });
      assert.deepEqual(counted.entries, []);
      assert.equal(counted.total, 4);
    });

    it('orders versions written in the same instant by version number, numerically', async () => {
      const ops = [createOp(patient('p1'))];
      for (let i = 0; i < 10; i++) ops.push(updateOp(patient('p1', `F${i}`)));
      await ctx.store.commit({ ops, now: at(0) });
      const h = await ctx.store.history({ resourceType: 'Patient', id: 'p1', limit: 100 });
      assert.deepEqual(h.entries.map((e) => e.versionId), ['11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1']);
    });

    it('is empty for a resource never written', async () => {
      await seedInstance(ctx);
      assert.deepEqual(await ctx.store.history({ resourceType: 'Patient', id: 'ghost', limit: 10 }), { entries: [], total: 0 });
    });
  });

  describe('history of a type', () => {
    it('lists every version of every resource of the type, newest first', async () => {
      await seedType(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', limit: 100 });
      assert.deepEqual(
        h.entries.map((e) => `${e.resourceType}/${e.id}/${e.versionId}`),
        ['Patient/a/2', 'Patient/b/1', 'Patient/a/1'],
      );
      assert.equal(h.total, 3);
    });

    it('includes tombstones', async () => {
      await seedType(ctx);
      await commitOne(ctx.store, deleteOp('Patient', 'b'), 5);
      const h = await ctx.store.history({ resourceType: 'Patient', limit: 1 });
      assert.deepEqual([h.entries[0].id, h.entries[0].versionId, h.entries[0].deleted], ['b', '2', true]);
      assert.equal(h.total, 4);
    });

    it('sinceMs is inclusive', async () => {
      await seedType(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', sinceMs: ms(1), limit: 100 });
      assert.deepEqual(h.entries.map((e) => `${e.id}/${e.versionId}`), ['a/2', 'b/1']);
      assert.equal(h.total, 2);
    });

    it('pages with skip and limit; total counts every version', async () => {
      await seedType(ctx);
      const h = await ctx.store.history({ resourceType: 'Patient', skip: 1, limit: 1 });
      assert.deepEqual(h.entries.map((e) => `${e.id}/${e.versionId}`), ['b/1']);
      assert.equal(h.total, 3);
    });

    it('keeps newest-first order when one commit writes several versions', async () => {
      await ctx.store.commit({ ops: [createOp(patient('m')), updateOp(patient('m')), createOp(patient('n'))], now: at(0) });
      await ctx.store.commit({ ops: [updateOp(patient('n'))], now: at(1) });
      const h = await ctx.store.history({ resourceType: 'Patient', limit: 100 });
      const order = h.entries.map((e) => `${e.id}/${e.versionId}`);
      assert.equal(order[0], 'n/2');
      assert.ok(order.indexOf('m/2') < order.indexOf('m/1'), `m/2 must come before m/1 in ${order.join(', ')}`);
      assert.deepEqual([...order].sort(), ['m/1', 'm/2', 'n/1', 'n/2']);
    });

    it('is empty for a type never written', async () => {
      assert.deepEqual(await ctx.store.history({ resourceType: 'Encounter', limit: 10 }), { entries: [], total: 0 });
    });
  });
}
