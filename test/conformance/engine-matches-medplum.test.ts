import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { population, typedQueryArb } from '../helpers/search-arbitraries.js';
import { putAll, startSearchApp, type ConformanceEngine, type SearchApp } from '../helpers/search-conformance-app.js';
import { describeQuery, medplumDivergence } from '../helpers/search-divergence.js';
import { matchIds, search } from '../helpers/search-http.js';

/**
 * Property (issue 3 item 6), end to end: a random population is stored through the real app,
 * then random queries go over HTTP through the whole path (parsing, compiling, the engine's
 * index-driven planning and paging-free evaluation) and must return exactly the stored
 * resources @medplum/core's matchesSearchRequest accepts. Pairs where medplum departs from R4
 * are left out of the comparison (test/helpers/search-divergence.ts). Fixed seeds; fast-check
 * prints the seed and the shrunk query on failure.
 */
const SEED = 20_260_302;
const NUM_RUNS = 100;
const STRICT = { Prefer: 'handling=strict' };

function engineProperty(engine: ConformanceEngine): void {
  describe(`engine search ≡ @medplum/core matchesSearchRequest over a stored population (${engine.kind})`, () => {
    let t: SearchApp | undefined;
    let stored: Resource[] = [];
    before(async () => {
      t = await startSearchApp(engine);
      await putAll(t.app, population(SEED, 40, 60));
      // Compare against what the server holds (it sets meta.lastUpdated and versionId).
      for (const type of ['Patient', 'Observation']) {
        const res = await search(t.app, `${type}?_count=1000`);
        assert.equal(res.status, 200);
        stored.push(...(res.body.entry ?? []).map((e) => e.resource as Resource));
      }
      assert.equal(stored.length, 100);
    });
    after(async () => {
      await t?.close();
      stored = [];
    });

    it(`agrees on random queries (seed ${SEED}, ${NUM_RUNS} runs)`, async (ctx) => {
      let compared = 0;
      let matched = 0;
      await fc.assert(
        fc.asyncProperty(typedQueryArb, async ({ type, params }) => {
          const query = describeQuery(type, params);
          const res = await search(t!.app, `${query}&_count=1000`, STRICT);
          if (res.status !== 200) throw new Error(`${query} → HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
          const grouped = Object.create(null) as Record<string, string[]>;
          for (const p of params) (grouped[p.key] ??= []).push(p.value);
          const request = parseSearchRequest(type, grouped);
          const comparable = stored.filter((r) => r.resourceType === type && !medplumDivergence(r, params));
          const comparableIds = new Set(comparable.map((r) => r.id));
          const got = matchIds(res.body).filter((id) => comparableIds.has(id)).sort();
          const want = comparable.filter((r) => matchesSearchRequest(r, request)).map((r) => r.id as string).sort();
          compared += comparable.length;
          matched += want.length;
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            const extra = got.filter((id) => !want.includes(id));
            const missing = want.filter((id) => !got.includes(id));
            const show = (ids: string[]): string => ids.slice(0, 3).map((id) => JSON.stringify(stored.find((r) => r.id === id))).join('\n');
            throw new Error(`${query}: server also returned [${extra}], missed [${missing}]\n${show([...extra, ...missing])}`);
          }
        }),
        { seed: SEED, numRuns: NUM_RUNS, includeErrorInReport: true },
      );
      ctx.diagnostic(`compared ${compared} resource/query pairs, ${matched} matches`);
      assert.ok(matched > compared / 20 && matched < compared * 0.95, `matched ${matched} of ${compared}: the property is not vacuous`);
    });
  });
}

engineProperty({ kind: 'embedded' });

const uri = process.env.MONGODB_URI;
if (uri) engineProperty({ kind: 'mongodb', uri });
else {
  it('engine search ≡ medplum over a stored population (mongodb)', { skip: 'MONGODB_URI not set: no MongoDB server on this machine' }, () => {});
}
