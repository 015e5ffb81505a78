import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { PostingMemory } from '../../server/src/store/embedded/posting-memory.js';
import type { ResourceStore, WriteOp } from '../../server/src/store/resource-store.js';
import { matchesNow } from '../helpers/current-match.js';

/**
 * The in-memory copy of the consent-token postings (posting-memory.ts) must answer exactly
 * what LMDB answers: applied in commit order once a commit has landed, discarded when it
 * failed, and never consulted for a document whose commit is still in flight.
 */
describe('posting memory: staging and settling', () => {
  const hot = (): PostingMemory => new PostingMemory(new Set(['_consent']));

  it('answers from memory only after the commit landed, and defers to LMDB while it is in flight', () => {
    const m = hot();
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), false);
    const s = m.stage();
    m.record(s, 'Observation', 'o1', '_consent', 'a', true);
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), undefined, 'in flight: ask LMDB');
    assert.equal(m.has('Observation', '_consent', 'a', 'o2'), false, 'other documents still answered');
    m.settle(s, true);
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), true);
    assert.equal(m.size, 1);
  });

  it('keeps paths that are not hot out of memory', () => {
    const m = hot();
    const s = m.stage();
    m.record(s, 'Observation', 'o1', 'code.c', 'x', true);
    assert.equal(m.has('Observation', '_consent', 'x', 'o1'), false, 'not pending: nothing hot changed');
    m.settle(s, true);
    assert.equal(m.size, 0);
  });

  it('applies commits in commit order even when a later one settles first', () => {
    const m = hot();
    const first = m.stage();
    m.record(first, 'Observation', 'o1', '_consent', 'a', true);
    const second = m.stage();
    m.record(second, 'Observation', 'o1', '_consent', 'a', false);
    m.settle(second, true);
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), undefined, 'the first is still in flight');
    m.settle(first, true);
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), false, 'added then removed');
    assert.equal(m.size, 0);
  });

  it('discards a failed commit', () => {
    const m = hot();
    const s = m.stage();
    m.record(s, 'Observation', 'o1', '_consent', 'a', true);
    m.settle(s, false);
    assert.equal(m.has('Observation', '_consent', 'a', 'o1'), false);
    assert.equal(m.size, 0);
  });

  it('keeps 1 and "1" apart', () => {
    const m = hot();
    const s = m.stage();
    m.record(s, 'Observation', 'o1', '_consent', 1, true);
    m.settle(s, true);
    assert.equal(m.has('Observation', '_consent', 1, 'o1'), true);
    assert.equal(m.has('Observation', '_consent', '1', 'o1'), false);
  });
});

describe('posting memory: the embedded store answers the same with and without it', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-posting-memory-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const TOKENS = ['~*|research', '~*|treatment', 'N|Organization/employer', '~Organization/employer|employment'];
  const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
  const TYPES = ['Observation', 'Condition'];

  type Step = { type: string; id: string; tokens: string[] | null; stale: boolean };
  const step = fc.record({
    type: fc.constantFrom(...TYPES),
    id: fc.constantFrom(...IDS),
    // null deletes the resource
    tokens: fc.option(fc.subarray(TOKENS), { nil: null, freq: 5 }),
    // a commit whose precondition fails: nothing may change, in LMDB or in memory
    stale: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
  });

  const opOf = (s: Step, expected?: string | null): WriteOp =>
    s.tokens === null
      ? { kind: 'delete', resourceType: s.type, id: s.id, ...(expected !== undefined ? { expectedVersionId: expected } : {}) }
      : {
          kind: 'update',
          resourceType: s.type,
          id: s.id,
          resource: { resourceType: s.type, id: s.id } as Resource,
          index: { _consent: s.tokens },
          ...(expected !== undefined ? { expectedVersionId: expected } : {}),
        };

  async function answers(store: ResourceStore): Promise<string[]> {
    const out: string[] = [];
    for (const type of TYPES) {
      for (const t of TOKENS) {
        const withIt = await store.search({ resourceType: type, filter: { 'idx._consent': t }, limit: 100, total: true, idsOnly: true });
        const without = await store.search({ resourceType: type, filter: { 'idx._consent': { $ne: t } }, limit: 100, total: true, idsOnly: true });
        out.push(`${type} ${t}: ${withIt.resources.map((r) => r.id).join(',')} (${withIt.total}) / not: ${without.resources.map((r) => r.id).join(',')} (${without.total})`);
        for (const id of IDS) out.push(`${type}/${id} ${t} ${await matchesNow(store, type, id, { 'idx._consent': t })}`);
      }
    }
    return out;
  }

  it('after random commits (concurrent, failing ones included) and after a reopen', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(step, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }), async (commits) => {
        run++;
        const withMemory = createEmbeddedStore({ path: join(dir, `m${run}`), memoryPaths: ['_consent'] });
        const plain = createEmbeddedStore({ path: join(dir, `p${run}`) });
        await withMemory.init();
        await plain.init();
        try {
          const now = new Date().toISOString();
          for (let i = 0; i < commits.length; i += 2) {
            // Two commits in flight at once, so staged changes of both are pending together.
            const pair = commits.slice(i, i + 2);
            for (const store of [withMemory, plain]) {
              await Promise.allSettled(
                pair.map((ops) => store.commit({ ops: ops.map((s) => opOf(s, s.stale ? 'no-such-version' : undefined)), now })),
              );
            }
            assert.deepEqual(await answers(withMemory), await answers(plain));
          }
          await withMemory.close();
          const reopened = createEmbeddedStore({ path: join(dir, `m${run}`), memoryPaths: ['_consent'] });
          await reopened.init();
          try {
            assert.deepEqual(await answers(reopened), await answers(plain));
          } finally {
            await reopened.close();
          }
        } finally {
          await withMemory.close().catch(() => undefined);
          await plain.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('posting memory: searches while a commit is in flight', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-posting-memory-flight-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const doc = (id: string, tokens: string[]): WriteOp => ({
    kind: 'update',
    resourceType: 'Observation',
    id,
    resource: { resourceType: 'Observation', id } as Resource,
    index: { _consent: tokens },
  });

  // The same question asked twice of the store holding the memory, in one tick (one LMDB read
  // snapshot): once as `$ne`, which posting lookups decide (memory, or LMDB for a document in
  // flight), once as `$not: {$eq}`, which the engine evaluates on the decoded search document.
  // Both must agree at every moment of a rewrite. (A second store on the same files would not
  // do as the oracle: its reads can take a snapshot on the other side of a commit.)
  it('answers every moment of a rewrite as the stored documents do, asking LMDB for the documents in flight', async () => {
    const postingsRead: number[] = [];
    const store = createEmbeddedStore({ path: join(dir, 'store'), memoryPaths: ['_consent'], onSearch: (s) => postingsRead.push(s.postingsRead) });
    await store.init();
    try {
      const now = new Date().toISOString();
      await store.commit({ ops: ['o1', 'o2', 'o3', 'o4'].map((id) => doc(id, ['a'])), now });
      const byPostings = { 'idx._consent': { $ne: 'a' } };
      const byDocument = { 'idx._consent': { $not: { $eq: 'a' } } };
      const both = async (): Promise<[string, string]> => {
        const q = (filter: Record<string, unknown>) => store.search({ resourceType: 'Observation', filter, limit: 10, total: true, idsOnly: true });
        const [p, d, p1, d1] = await Promise.all([q(byPostings), q(byDocument), matchesNow(store, 'Observation', 'o1', byPostings), matchesNow(store, 'Observation', 'o1', byDocument)]);
        const show = (page: Awaited<ReturnType<typeof q>>, o1: boolean) => `${page.resources.map((r) => r.id).join(',')} (${page.total}) o1:${o1}`;
        return [show(p, p1), show(d, d1)];
      };
      let answered = 0;
      for (let round = 0; round < 6; round++) {
        // o1 and o3 swap between carrying 'a' and not, the others stay.
        const tokens = round % 2 === 0 ? ['b'] : ['a'];
        let settled = false;
        const rewrite = store.commit({ ops: [doc('o1', tokens), doc('o3', tokens)], now }).finally(() => {
          settled = true;
        });
        while (!settled) {
          const [byP, byD] = await both();
          assert.equal(byP, byD, `round ${round}, during the rewrite`);
          answered++;
          await new Promise((r) => setImmediate(r));
        }
        await rewrite;
        assert.deepEqual(await both(), Array(2).fill(round % 2 === 0 ? 'o1,o3 (2) o1:true' : ' (0) o1:false'));
      }
      assert.ok(answered > 6, `searched ${answered} times while rewrites were in flight`);
      // Only a document in flight makes a hot path's lookup go to LMDB, where it is counted.
      assert.ok(postingsRead.some((n) => n > 0), 'some search asked LMDB for a document in flight');
    } finally {
      await store.close();
    }
  });
});
