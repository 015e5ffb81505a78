import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { FHIR_JSON } from './app-fixture.js';
import { linkOf, local, matchIds, openApp, removeDir, tempDataDir, walk, type OpenApp, type SearchBundle } from './search-fixture.js';

/**
 * Property: for random data with multi-valued and missing sort fields, ties everywhere (one
 * transaction gives every resource the same lastUpdated; ids repeat across types), random sorts
 * and page sizes, walking next links and then previous links visits exactly the expected order.
 * The expected order is computed here from MongoDB's rules, not by the server's code.
 */

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const DATES = ['2019-05-01', '2020-01-01', '2020-01-02', '2021-07-15'];

interface Imm {
  id: string;
  dates: string[];
}

const cmp = (a: string | undefined, b: string | undefined): number => (a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : a < b ? -1 : 1);

describe('paging property: every order walks completely and exactly, both ways', () => {
  let dir: string;
  let t: OpenApp;
  let run = 0;
  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  const dataArb = fc.record({
    imms: fc.uniqueArray(fc.record({ id: fc.constantFrom(...IDS), dates: fc.array(fc.constantFrom(...DATES), { maxLength: 3 }) }), { selector: (r) => r.id, maxLength: 6 }),
    obsIds: fc.uniqueArray(fc.constantFrom(...IDS), { maxLength: 6 }),
    count: fc.integer({ min: 1, max: 4 }),
  });

  const load = async (imms: Imm[], obsIds: string[]): Promise<string> => {
    const tag = `run${run++}`;
    const meta = { tag: [{ system: 'urn:run', code: tag }] };
    const entry = [
      ...imms.map((i) => ({
        resource: {
          resourceType: 'Immunization',
          id: `${tag}-${i.id}`,
          meta,
          status: 'completed',
          vaccineCode: { text: 'x' },
          patient: { reference: 'Patient/p' },
          occurrenceDateTime: '2020-01-01',
          ...(i.dates.length > 0 ? { reaction: i.dates.map((date) => ({ date })) } : {}),
        },
        request: { method: 'PUT', url: `Immunization/${tag}-${i.id}` },
      })),
      ...obsIds.map((id) => ({
        resource: { resourceType: 'Observation', id: `${tag}-${id}`, meta, status: 'final', code: { text: 'x' } },
        request: { method: 'PUT', url: `Observation/${tag}-${id}` },
      })),
    ];
    if (entry.length > 0) {
      const res = await request(t.app).post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'transaction', entry });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    return tag;
  };

  const check = async (query: string, count: number, expected: string[]): Promise<void> => {
    const pages = await walk(t.app, `/fhir${query}&_count=${count}`);
    assert.deepEqual(pages.flatMap(matchIds), expected, `next: ${query} _count=${count}`);
    const back = await walk(t.app, local(linkOf(pages.at(-1) as SearchBundle, 'self') as string), 'previous');
    // Stepping back by whole pages from the last page lands on the forward pages' boundaries.
    assert.deepEqual(back.reverse().flatMap(matchIds), expected, `previous: ${query} _count=${count}`);
  };

  it('multi-valued date sort, both directions, one type', async () => {
    await fc.assert(
      fc.asyncProperty(dataArb, fc.boolean(), async ({ imms, count }, desc) => {
        const tag = await load(imms, []);
        const key = (i: Imm): string | undefined => (i.dates.length === 0 ? undefined : desc ? [...i.dates].sort().at(-1) : [...i.dates].sort()[0]);
        const expected = [...imms].sort((a, b) => cmp(key(a), key(b)) * (desc ? -1 : 1) || cmp(a.id, b.id)).map((i) => `Immunization/${tag}-${i.id}`);
        await check(`/Immunization?_tag=urn:run|${tag}&_sort=${desc ? '-' : ''}reaction-date`, count, expected);
      }),
      { seed: 20240601, numRuns: 25 },
    );
  });

  it('system search over two types with tied sort values and shared ids', async () => {
    await fc.assert(
      fc.asyncProperty(dataArb, fc.constantFrom('_lastUpdated', '-_lastUpdated', '_id', '-_id'), async ({ imms, obsIds, count }, sort) => {
        const tag = await load(imms, obsIds);
        const rows = [...imms.map((i) => ({ type: 'Immunization', id: `${tag}-${i.id}` })), ...obsIds.map((id) => ({ type: 'Observation', id: `${tag}-${id}` }))];
        // One transaction: every lastUpdated is equal, so the id decides, then the type.
        const idDir = sort === '-_id' ? -1 : 1;
        const expected = rows.sort((a, b) => cmp(a.id, b.id) * idDir || cmp(a.type, b.type)).map((r) => `${r.type}/${r.id}`);
        await check(`?_type=Observation,Immunization&_tag=urn:run|${tag}&_sort=${sort}`, count, expected);
      }),
      { seed: 777, numRuns: 25 },
    );
  });
});
