import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Query } from 'mingo';
import type { IndexValues, SearchMatch, SearchQuery, WriteOp } from '../../../server/src/store/resource-store.js';
import { at, observation, type StoreContext } from './fixture.js';

const BASE = 'https://example.org/fhir';
/** Longer than a posting key holds: the engine cannot tell such values apart by their postings. */
const LONG_BASE = `https://${'very-long-host.'.repeat(10)}example.org/fhir`;
const N = 60;
const id = (i: number): string => `m${String(i).padStart(2, '0')}`;

/** Subjects of several shapes: one or two patients, relative or absolute, some out of any batch. */
function indexOf(i: number): IndexValues {
  const subject = [i % 3 === 0 ? `${BASE}/Patient/p${i % 20}` : `Patient/p${i % 20}`];
  if (i % 4 === 0) subject.push(`Patient/p${(i + 7) % 25}`);
  if (i % 10 === 5) subject.push(`${LONG_BASE}/Patient/p${i % 20}`);
  return { subject, code: [{ c: i % 2 === 0 ? 'even' : 'odd' }] };
}

async function seed(ctx: StoreContext): Promise<Map<string, IndexValues>> {
  const ops: WriteOp[] = [];
  const live = new Map<string, IndexValues>();
  for (let i = 0; i < N; i++) {
    ops.push({ kind: 'create', resourceType: 'Observation', id: id(i), resource: observation(id(i), i), index: indexOf(i) });
    live.set(id(i), indexOf(i));
  }
  await ctx.store.commit({ ops, now: at(0) });
  // A deleted document keeps no postings to report.
  await ctx.store.commit({ ops: [{ kind: 'delete', resourceType: 'Observation', id: id(1) }], now: at(1) });
  live.delete(id(1));
  return live;
}

/** Every page of a query by id, `limit` at a time. */
async function allPages(ctx: StoreContext, query: Omit<SearchQuery, 'limit'>, limit: number): Promise<SearchMatch[]> {
  const out: SearchMatch[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const page = await ctx.store.search({ ...query, limit, ...(after ? { after } : {}) });
    out.push(...page.resources);
    const last = page.resources[page.resources.length - 1];
    if (page.resources.length < limit || !last) return out;
    after = last.sortValues;
  }
}

function expected(live: Map<string, IndexValues>, filter: Record<string, unknown>, values: string[]): Map<string, string[]> {
  const q = new Query(filter);
  const out = new Map<string, string[]>();
  for (const [docId, idx] of live) {
    if (!q.test({ id: docId, idx })) continue;
    const held = new Set(idx.subject as string[]);
    out.set(docId, [...new Set(values)].filter((v) => held.has(v)).sort());
  }
  return out;
}

function got(hits: SearchMatch[]): Map<string, string[]> {
  return new Map(hits.map((h) => [h.id, [...(h.matched ?? ['<no matched>'])].sort()]));
}

/** `matchedOf`: which of a patient batch's references each match carries (a Bulk Data export's attribution). */
export function matchedOfContract(ctx: StoreContext): void {
  describe('search with matchedOf', () => {
    const batch = (from: number, to: number, base?: string): string[] => {
      const refs: string[] = [];
      for (let p = from; p < to; p++) refs.push(`Patient/p${p}`, `${base ?? BASE}/Patient/p${p}`);
      return refs;
    };

    for (const [label, values] of [
      ['a batch of many references', batch(0, 22)],
      ['a few references', batch(3, 6)],
      ['references longer than a posting key', [...batch(4, 9), ...batch(4, 9, LONG_BASE).filter((r) => r.startsWith('https'))]],
    ] as const) {
      it(`reports the batch values each match carries, on every page: ${label}`, async () => {
        const live = await seed(ctx);
        for (const filter of [{ 'idx.subject': { $in: [...values] } }, { $and: [{ 'idx.code': { $elemMatch: { c: 'even' } } }, { 'idx.subject': { $in: [...values] } }] }]) {
          const want = expected(live, filter, [...values]);
          assert.ok(want.size > 3, 'the case must reach several documents');
          for (const limit of [4, 1000]) {
            const hits = await allPages(ctx, { resourceType: 'Observation', filter, matchedOf: 'subject' }, limit);
            assert.deepEqual(got(hits), want, `limit ${limit}, filter ${JSON.stringify(filter).slice(0, 80)}`);
          }
          const ids = await allPages(ctx, { resourceType: 'Observation', filter, matchedOf: 'subject', idsOnly: true }, 5);
          assert.deepEqual(got(ids), want, 'idsOnly');
        }
      });
    }

    it('accepts one exact value, and combines with indexFields', async () => {
      const live = await seed(ctx);
      const filter = { 'idx.subject': 'Patient/p4' };
      const hits = await allPages(ctx, { resourceType: 'Observation', filter, matchedOf: 'subject', indexFields: ['code'] }, 3);
      assert.deepEqual(got(hits), expected(live, filter, ['Patient/p4']));
      for (const h of hits) assert.deepEqual(h.index?.code, live.get(h.id)?.code);
    });

    it('refuses a filter without an exact-value conjunct on the field', async () => {
      await seed(ctx);
      for (const filter of [{ 'idx.code': { $elemMatch: { c: 'odd' } } }, { $or: [{ 'idx.subject': 'Patient/p1' }, { 'idx.subject': 'Patient/p2' }] }, { 'idx.subject': { $regex: '^Patient/' } }]) {
        await assert.rejects(ctx.store.search({ resourceType: 'Observation', filter, limit: 10, matchedOf: 'subject' }), /matchedOf/);
      }
    });
  });
}
