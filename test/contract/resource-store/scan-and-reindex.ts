import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import { at, collect, commitOne, createOp, deleteOp, ms, observation, patient, updateOp, type StoreContext } from './fixture.js';

export function scanAndReindexContract(ctx: StoreContext): void {
  describe('scan', () => {
    it('yields every current, non-deleted document of the type with its index values', async () => {
      await ctx.store.commit({ ops: [createOp(patient('a'), { n: 1 }), createOp(patient('b'), { n: 2 }), createOp(patient('c'))], now: at(0) });
      await commitOne(ctx.store, updateOp(patient('b', 'B2'), { n: 22, tags: ['x'] }), 1);
      await commitOne(ctx.store, deleteOp('Patient', 'c'), 2);
      await commitOne(ctx.store, createOp(observation('o1'), { n: 3 }), 3);

      const docs = (await collect(ctx.store.scan('Patient'))).sort((x, y) => (x.id < y.id ? -1 : 1));
      assert.deepEqual(
        docs.map((d) => ({ ...d, resource: undefined })),
        [
          { resourceType: 'Patient', id: 'a', versionId: '1', lastUpdated: at(0), lastUpdatedMs: ms(0), deleted: false, resource: undefined, idx: { n: 1 } },
          { resourceType: 'Patient', id: 'b', versionId: '2', lastUpdated: at(1), lastUpdatedMs: ms(1), deleted: false, resource: undefined, idx: { n: 22, tags: ['x'] } },
        ],
      );
      assert.equal(docs[1].resource?.meta?.versionId, '2');
      assert.deepEqual(docs[0], { ...docs[0], resource: (await ctx.store.readCurrent('Patient', 'a'))?.resource });
    });

    it('yields nothing for a type never written', async () => {
      assert.deepEqual(await collect(ctx.store.scan('Encounter')), []);
    });
  });

  describe('updateIndex', () => {
    it('replaces the index values without creating a version', async () => {
      await ctx.store.commit({ ops: [createOp(patient('a'), { old: 'x', keep: 1 }), createOp(patient('b'), { old: 'x' })], now: at(0) });
      await ctx.store.updateIndex('Patient', [{ id: 'a', index: { fresh: 'y' } }]);

      const found = async (filter: Record<string, unknown>) =>
        (await ctx.store.search({ resourceType: 'Patient', filter, limit: 10 })).resources.map((r) => r.id);
      assert.deepEqual(await found({ 'idx.fresh': 'y' }), ['a']);
      assert.deepEqual(await found({ 'idx.old': 'x' }), ['b']);
      assert.deepEqual(await found({ 'idx.keep': 1 }), []);

      const a = (await collect(ctx.store.scan('Patient'))).find((d) => d.id === 'a');
      assert.deepEqual(a?.idx, { fresh: 'y' });
      assert.equal(a?.versionId, '1');
      assert.equal(a?.lastUpdated, at(0));
      assert.equal((await ctx.store.history({ resourceType: 'Patient', id: 'a', limit: 10 })).total, 1);
    });

    it('the next write replaces reindexed values with its own', async () => {
      await commitOne(ctx.store, createOp(patient('a'), { v: 1 }), 0);
      await ctx.store.updateIndex('Patient', [{ id: 'a', index: { v: 2 } }]);
      await commitOne(ctx.store, updateOp(patient('a'), { v: 3 }), 1);
      const [doc] = await collect(ctx.store.scan('Patient'));
      assert.deepEqual(doc.idx, { v: 3 });
    });

    it('leaves absent and deleted resources alone', async () => {
      await commitOne(ctx.store, createOp(patient('gone'), { v: 1 }), 0);
      await commitOne(ctx.store, deleteOp('Patient', 'gone'), 1);
      await ctx.store.updateIndex('Patient', [
        { id: 'gone', index: { v: 2 } },
        { id: 'never', index: { v: 2 } },
      ]);
      assert.deepEqual(await collect(ctx.store.scan('Patient')), []);
      assert.equal(await ctx.store.readCurrent('Patient', 'never'), undefined);
      const found = await ctx.store.search({ resourceType: 'Patient', filter: { 'idx.v': 2 }, limit: 10, total: true });
      assert.equal(found.total, 0);
      assert.equal((await ctx.store.readCurrent('Patient', 'gone'))?.deleted, true);
    });

    it('with a resource, replaces that version\'s stored body in place: current, history and index (relabel)', async () => {
      const [v1] = await ctx.store.commit({ ops: [createOp(observation('o1'), { sec: ['N'] }), createOp(patient('a'), { n: 1 })], now: at(0) });
      const relabelled = { ...v1.resource, meta: { ...v1.resource?.meta, security: [{ system: 'urn:labels', code: 'PSY' }] } } as Resource;
      await ctx.store.updateIndex('Observation', [{ id: 'o1', index: { sec: ['PSY'] }, resource: relabelled }]);

      const current = await ctx.store.readCurrent('Observation', 'o1');
      assert.equal(current?.versionId, '1');
      assert.equal(current?.lastUpdated, at(0));
      assert.deepEqual(current?.resource, { ...relabelled, meta: { ...relabelled.meta, versionId: '1', lastUpdated: at(0) } });
      assert.deepEqual((await ctx.store.readVersion('Observation', 'o1', '1'))?.resource, current?.resource);
      const history = await ctx.store.history({ resourceType: 'Observation', id: 'o1', limit: 10 });
      assert.equal(history.total, 1);
      assert.deepEqual(history.entries[0]?.resource, current?.resource);
      const found = await ctx.store.search({ resourceType: 'Observation', filter: { 'idx.sec': 'PSY' }, limit: 10 });
      assert.deepEqual(found.resources.map((r) => [r.id, r.versionId, r.resource?.meta?.security?.[0]?.code]), [['o1', '1', 'PSY']]);
      const [doc] = await collect(ctx.store.scan('Observation'));
      assert.deepEqual(doc.resource, current?.resource);
      assert.deepEqual((await ctx.store.readCurrent('Patient', 'a'))?.resource?.meta?.security, undefined);
    });

    it('with a resource of a version that is no longer current, rewrites only that version', async () => {
      const [v1] = await ctx.store.commit({ ops: [createOp(observation('o1', 1), { v: 1 })], now: at(0) });
      await commitOne(ctx.store, updateOp(observation('o1', 2), { v: 2 }), 1);
      const relabelled = { ...v1.resource, meta: { ...v1.resource?.meta, tag: [{ system: 'urn:labels', code: 'x' }] } } as Resource;
      await ctx.store.updateIndex('Observation', [{ id: 'o1', index: { v: 99 }, resource: relabelled }]);

      assert.deepEqual((await ctx.store.readVersion('Observation', 'o1', '1'))?.resource?.meta?.tag, [{ system: 'urn:labels', code: 'x' }]);
      const current = await ctx.store.readCurrent('Observation', 'o1');
      assert.equal(current?.versionId, '2');
      assert.equal(current?.resource?.meta?.tag, undefined);
      assert.equal((await ctx.store.search({ resourceType: 'Observation', filter: { 'idx.v': 2 }, limit: 10, total: true })).total, 1);
      assert.equal((await ctx.store.history({ resourceType: 'Observation', id: 'o1', limit: 10 })).total, 2);
    });

    it('with a resource, refuses one of another resource or without the version it replaces, writing nothing', async () => {
      const [v1] = await ctx.store.commit({ ops: [createOp(observation('o1'), { v: 1 }), createOp(observation('o2'), { v: 1 })], now: at(0) });
      const body = v1.resource as Resource;
      await assert.rejects(ctx.store.updateIndex('Observation', [{ id: 'o2', index: { v: 2 }, resource: body }]));
      await assert.rejects(ctx.store.updateIndex('Observation', [{ id: 'o1', index: { v: 2 }, resource: { ...body, meta: {} } as Resource }]));
      await assert.rejects(
        ctx.store.updateIndex('Observation', [
          { id: 'o2', index: { v: 2 } },
          { id: 'o1', index: { v: 2 }, resource: { ...body, resourceType: 'Patient' } as Resource },
        ]),
      );
      assert.equal((await ctx.store.search({ resourceType: 'Observation', filter: { 'idx.v': 2 }, limit: 10, total: true })).total, 0);
    });

    it('accepts an empty batch', async () => {
      await ctx.store.updateIndex('Patient', []);
      assert.deepEqual(await collect(ctx.store.scan('Patient')), []);
    });
  });

  describe('settings', () => {
    it('are absent until written, then read back; a write replaces the value', async () => {
      assert.equal(await ctx.store.readSetting('search-index-fingerprint'), undefined);
      await ctx.store.writeSetting('search-index-fingerprint', 'abc');
      await ctx.store.writeSetting('other', 'x');
      assert.equal(await ctx.store.readSetting('search-index-fingerprint'), 'abc');
      await ctx.store.writeSetting('search-index-fingerprint', 'def');
      assert.equal(await ctx.store.readSetting('search-index-fingerprint'), 'def');
      assert.equal(await ctx.store.readSetting('other'), 'x');
    });
  });
}
