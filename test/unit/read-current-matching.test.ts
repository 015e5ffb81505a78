import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { ForwardingStore } from '../../server/src/store/forwarding-store.js';
import type { ResourceStore, SearchQuery, SearchResult, StoredVersion } from '../../server/src/store/resource-store.js';
import { at, commitOne, createOp, deleteOp, patient, updateOp } from '../contract/resource-store/fixture.js';
import { tempDirs } from '../helpers/temp-dirs.js';

/**
 * readCurrentMatching decides on the version it returns. The embedded engine reads record and
 * postings in one snapshot; ForwardingStore's fallback (for a base without the method) runs a
 * search and must not credit the version it read with a successor's values.
 */
describe('readCurrentMatching', () => {
  const tmp = tempDirs('read-current-matching');
  let store: ResourceStore;

  before(async () => {
    store = createEmbeddedStore({ path: join(tmp(), 'db') });
    await store.init();
    await commitOne(store, createOp(patient('p1'), { tags: ['a'] }), 0);
    await commitOne(store, createOp(patient('p2'), { tags: ['b'] }), 1);
    await commitOne(store, createOp(patient('p3'), { tags: ['a'] }), 2);
    await commitOne(store, deleteOp('Patient', 'p3'), 3);
    await commitOne(store, updateOp(patient('p2'), { tags: ['a'] }), 4);
  });
  after(() => store.close());

  /** The embedded store with readCurrentMatching hidden, as a store without it would be. */
  const withoutIt = (base: ResourceStore, search = base.search.bind(base)): ResourceStore =>
    ({ ...base, engine: base.engine, readCurrent: base.readCurrent.bind(base), search, readCurrentMatching: undefined }) as unknown as ResourceStore;

  const cases: [string, Record<string, unknown>][] = [
    ['p1', { 'idx.tags': 'a' }],
    ['p1', { 'idx.tags': { $ne: 'a' } }],
    ['p2', { 'idx.tags': 'a' }],
    ['p2', { 'idx.tags': { $ne: 'b' } }],
    ['p3', { 'idx.tags': { $ne: 'z' } }],
    ['nope', { 'idx.tags': { $nin: ['z'] } }],
  ];

  it('the fallback answers what the engine answers', async () => {
    const fallback = new ForwardingStore(withoutIt(store));
    for (const [id, filter] of cases) {
      const own = await store.readCurrentMatching!('Patient', id, filter);
      const viaSearch = await fallback.readCurrentMatching('Patient', id, filter);
      const show = (m: typeof own) => (m ? `${m.version.id}/${m.version.versionId} deleted=${m.version.deleted} matches=${m.matches}` : 'absent');
      assert.equal(show(viaSearch), show(own), `${id} ${JSON.stringify(filter)}`);
    }
    assert.deepEqual(
      await Promise.all(cases.map(async ([id, f]) => (await store.readCurrentMatching!('Patient', id, f))?.matches)),
      [true, false, true, true, false, undefined],
    );
  });

  it('the fallback never credits the version read with its successor\'s values', async () => {
    // The version read is p1/1; by the time the search runs, p1 has a version 2 that matches.
    const successor = async (q: SearchQuery): Promise<SearchResult> => {
      const hit = await store.search(q);
      return { resources: hit.resources.map((r) => ({ ...r, versionId: '2' })) };
    };
    const fallback = new ForwardingStore(withoutIt(store, successor));
    const read = await fallback.readCurrentMatching('Patient', 'p1', { 'idx.tags': 'a' });
    assert.equal((read?.version as StoredVersion).versionId, '1');
    assert.equal(read?.matches, false);
  });

  it('a gated read of a live version is answered by the version it returns', async () => {
    const read = await store.readCurrentMatching!('Patient', 'p2', { 'idx.tags': 'a' });
    assert.equal(read?.version.versionId, '2');
    assert.equal(read?.version.lastUpdated, at(4));
    assert.equal(read?.matches, true);
  });
});
