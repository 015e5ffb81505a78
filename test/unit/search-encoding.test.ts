import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import type { IndexValues, ResourceStore, SearchQuery, WriteOp } from '../../server/src/store/resource-store.js';
import { tempDirs } from '../helpers/temp-dirs.js';

/**
 * The embedded engine's search documents share their msgpackr structures (lmdb-js
 * sharedStructuresKey). A store written before that (each value carrying its own structures)
 * still reads, and is re-encoded once at open: same answers, smaller values; the structures
 * survive a restart.
 */

const tempDir = tempDirs('search-encoding');

function indexOf(i: number): IndexValues {
  return {
    subject: [`Patient/p${i % 7}`],
    code: [{ s: 'http://loinc.org', c: `c${i % 5}`, t: `code ${i % 5}` }],
    date: [{ lo: i * 1000, hi: i * 1000 + 999 }],
    ...(i % 2 === 0 ? { status: [{ c: 'final' }] } : {}),
  };
}

async function seed(store: ResourceStore, n: number): Promise<void> {
  const ops: WriteOp[] = [];
  for (let i = 0; i < n; i++) {
    const id = `o${i}`;
    ops.push({ kind: 'create', resourceType: 'Observation', id, resource: { resourceType: 'Observation', id, status: 'final', code: { text: `t${i}` } }, index: indexOf(i) });
  }
  await store.commit({ ops, now: '2025-01-01T00:00:00.000Z' });
}

const QUERIES: SearchQuery[] = [
  { resourceType: 'Observation', filter: { 'idx.code': { $elemMatch: { c: 'c2' } } }, limit: 100, total: true, indexFields: ['code', 'date'] },
  { resourceType: 'Observation', filter: { 'idx.date': { $elemMatch: { lo: { $gte: 20_000 } } } }, sort: [['idx.date.lo', -1]], limit: 7 },
  { resourceType: 'Observation', filter: { 'idx.subject': 'Patient/p3', 'idx.status': { $elemMatch: { c: 'final' } } }, limit: 100, idsOnly: true, total: true },
];

async function answers(store: ResourceStore): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const q of QUERIES) out.push(await store.search(q));
  return out;
}

/** Raw bytes of each search document, read without the store (so without its structures). */
function rawSizes(path: string): number[] {
  const root = open({ path, maxDbs: 8, readOnly: true });
  const db = root.openDB({ name: 'search', encoding: 'binary' });
  const sizes = [...db.getRange({ start: ['Observation', ''], end: ['Observation', '\uffff'] })].map(({ value }) => (value as Buffer).length);
  void root.close();
  return sizes;
}

describe('search document encoding', () => {
  it('re-encodes the search documents of an older store once at open: same answers, smaller values', async () => {
    const path = join(tempDir(), 'store');
    const store = createEmbeddedStore({ path });
    await store.init();
    await seed(store, 60);
    const before = await answers(store);
    await store.close();

    // Rewrite the documents as a store before shared structures held them: each value with
    // its own structures, and no encoding mark.
    const reader = open({ path, maxDbs: 8, readOnly: true });
    const shared = reader.openDB({ name: 'search', sharedStructuresKey: Symbol.for('custodian.search-structures') });
    const docs = [...shared.getRange({ start: ['Observation', ''], end: ['Observation', '\uffff'] })];
    assert.equal(docs.length, 60);
    await reader.close();
    const root = open({ path, maxDbs: 8 });
    const plain = root.openDB({ name: 'search' });
    const meta = root.openDB({ name: 'meta' });
    await root.transaction(() => {
      for (const { key, value } of docs) plain.put(key, value);
      meta.remove('searchEncoding');
    });
    await root.close();
    const oldSizes = rawSizes(path);

    const infos: string[] = [];
    const reopened = createEmbeddedStore({ path, logger: { info: (m) => infos.push(m) } });
    await reopened.init();
    assert.ok(infos.some((m) => /60 search documents re-encoded/.test(m)), infos.join('\n'));
    assert.deepEqual(await answers(reopened), before);
    await reopened.close();
    const newSizes = rawSizes(path);
    assert.equal(newSizes.length, oldSizes.length);
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(newSizes) < 0.8 * sum(oldSizes), `re-encoded ${sum(newSizes)} bytes vs ${sum(oldSizes)} before`);

    // Once only: the next open finds the mark.
    const again: string[] = [];
    const third = createEmbeddedStore({ path, logger: { info: (m) => again.push(m) } });
    await third.init();
    assert.ok(!again.some((m) => /re-encod/.test(m)), again.join('\n'));
    assert.deepEqual(await answers(third), before);
    await third.close();
  });

  it('keeps its structures across restarts while new shapes keep arriving', async () => {
    const path = join(tempDir(), 'store');
    let store = createEmbeddedStore({ path });
    await store.init();
    await seed(store, 20);
    const want: unknown[] = [];
    for (let round = 0; round < 3; round++) {
      // A new resource type and index shape each round, then a restart.
      const type = ['Condition', 'Encounter', 'Procedure'][round]!;
      const index: IndexValues = { [`p${round}`]: [`v${round}`], subject: ['Patient/p1'], [`q${round}`]: [{ c: `x${round}`, extra: round }] };
      await store.commit({ ops: [{ kind: 'create', resourceType: type, id: `r${round}`, resource: { resourceType: type, id: `r${round}` } as never, index }], now: '2025-01-02T00:00:00.000Z' });
      want.push({ type, index });
      await store.close();
      store = createEmbeddedStore({ path });
      await store.init();
      for (const w of want as Array<{ type: string; index: IndexValues }>) {
        const found = await store.search({ resourceType: w.type, filter: { 'idx.subject': 'Patient/p1' }, limit: 5, indexFields: Object.keys(w.index) });
        assert.equal(found.resources.length, 1);
        assert.deepEqual(found.resources[0]!.index, w.index);
      }
      assert.deepEqual((await store.search(QUERIES[0]!)).total, 4);
    }
    await store.close();
  });
});
