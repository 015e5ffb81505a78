import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConformanceApp, type ConformanceApp, type ConformanceEngine } from '../helpers/search-conformance-app.js';
import { includeRefs, matchIds, search, searchPost, type SearchResponse } from '../helpers/search-http.js';
import { badInputSuite } from './bad-input.suite.js';
import { pagingSuite } from './paging.suite.js';
import { resultParameterSuite } from './result-parameters.suite.js';
import type { RowTable, SearchRow } from './rows/row.js';
import { dateRows } from './rows/dates.js';
import { chainRows, referenceRows } from './rows/references.js';
import { commonRows } from './rows/common.js';
import { compositeRows, numberRows, quantityRows } from './rows/quantities.js';
import { includeRows, sortRows } from './rows/sort.js';
import { stringRows } from './rows/strings.js';
import { tokenRows } from './rows/tokens.js';

export const TABLES: RowTable[] = [stringRows, tokenRows, referenceRows, chainRows, dateRows, numberRows, quantityRows, compositeRows, commonRows, sortRows, includeRows];

/** Rows run with strict handling, so an unsupported parameter fails loudly instead of being ignored. */
const STRICT = { Prefer: 'handling=strict' };

/**
 * The FHIR search conformance suite (issue 3 item 6): every table over the fixture in
 * fixtures/search-conformance, then result parameters, paging and bad input, all over HTTP
 * against the real app on the given engine. The same suite runs for every engine.
 */
export function runSearchConformance(engine: ConformanceEngine): void {
  describe(`search conformance: ${engine.kind}`, () => {
    let t: ConformanceApp | undefined;
    const ctx = {
      get app(): ConformanceApp {
        if (!t) throw new Error('conformance app not started');
        return t;
      },
    };
    before(async () => {
      t = await startConformanceApp(engine);
    });
    after(async () => {
      await t?.close();
    });

    for (const table of TABLES) {
      describe(table.name, () => {
        for (const row of table.rows) {
          const name = row.label ?? (typeof row.query === 'string' ? row.query : 'query');
          it(name, async () => checkRow(ctx.app, row, search));
        }
      });
    }
    describe('POST [type]/_search answers every row like GET', () => {
      for (const table of TABLES) {
        it(table.name, async () => {
          for (const row of table.rows) await checkRow(ctx.app, row, searchPost);
        });
      }
    });
    resultParameterSuite(ctx);
    pagingSuite(ctx);
    badInputSuite(ctx);
  });
}

type Send = (app: ConformanceApp['app'], query: string, headers: Record<string, string>) => Promise<SearchResponse>;

async function checkRow(t: ConformanceApp, row: SearchRow, send: Send): Promise<void> {
  const q = typeof row.query === 'string' ? row.query : row.query(t.facts);
  const query = /[?&]_count=/.test(q) ? q : `${q}${q.includes('?') ? '&' : '?'}_count=100`;
  const res = await send(t.app, query, STRICT);
  const why = row.why ? ` (${row.why})` : '';
  assert.equal(res.status, 200, `${query} → HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 600)}`);
  const ids = matchIds(res.body);
  assert.equal(new Set(ids).size, ids.length, `duplicate matches for ${query}: ${ids.join(', ')}`);
  if (row.ordered) assert.deepEqual(ids, row.ordered, `order of ${query}${why}`);
  if (row.ids) assert.deepEqual([...ids].sort(), [...row.ids].sort(), `matches of ${query}${why}`);
  for (const id of row.includes ?? []) assert.ok(ids.includes(id), `${query} must match ${id}${why}; got ${ids.join(', ')}`);
  for (const id of row.excludes ?? []) assert.ok(!ids.includes(id), `${query} must not match ${id}${why}`);
  if (row.included) assert.deepEqual(includeRefs(res.body), [...row.included].sort(), `included resources of ${query}${why}`);
}
