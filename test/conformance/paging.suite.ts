import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import type { ConformanceContext } from '../helpers/search-conformance-app.js';
import { follow, includeRefs, issueTexts, link, matchIds, search, walkPages } from '../helpers/search-http.js';

/** Queries walked page by page; together they cover ties, missing values, ranges, several keys and the default order. */
const WALKS = [
  'Observation?_sort=_id',
  'Observation?_sort=-date',
  'Observation?_sort=date',
  'Observation?_sort=value-quantity',
  'Observation?code=8867-4,2339-0,85354-9&_sort=status,-date',
  'Observation?category=vital-signs',
  'Patient?_sort=family',
  'Patient?_sort=-birthdate',
  'Patient?_sort=gender,_lastUpdated',
];

/**
 * Paging (issue 3 item 4; R4 §3.1.1.6 "Paging"): next/previous/self links walk the same ordered
 * result as one big page, stay stable while others write, survive a restart and reject forged
 * cursors with a 400.
 */
export function pagingSuite(ctx: ConformanceContext): void {
  describe('paging', () => {
    for (const q of WALKS) {
      it(`${q}: pages of 2 via next links = the full ordered list`, async () => {
        const full = await search(ctx.app.app, `${q}&_count=100`);
        assert.equal(full.status, 200, JSON.stringify(full.body).slice(0, 600));
        const expected = matchIds(full.body);
        assert.ok(expected.length > 2, 'the walk needs more than one page');
        const { pages, totals } = await walkPages(ctx.app.app, `${q}&_count=2`);
        assert.deepEqual(pages.flat(), expected);
        pages.slice(0, -1).forEach((p, i) => assert.equal(p.length, 2, `page ${i + 1} is full`));
        assert.ok(pages.at(-1)!.length > 0 && pages.at(-1)!.length <= 2, 'no empty trailing page');
        for (const total of totals) assert.ok(total === undefined || total === expected.length, `total ${total} ≠ ${expected.length}`);
      });
    }

    it('includes are per page: each page carries the patients of its own matches', async () => {
      const q = 'Observation?code=2339-0,8867-4&_include=Observation:patient&_sort=_id&_count=2';
      const patientOf: Record<string, string> = { 'obs-hr-1': 'pat-chen', 'obs-hr-2': 'pat-muller', 'obs-hr-3': 'pat-chenoweth', 'obs-noval': 'pat-nodata', 'obs-glu-1': 'pat-chen', 'obs-glu-2': 'pat-mueller' };
      let res = await search(ctx.app.app, q);
      const seen: string[] = [];
      for (;;) {
        assert.equal(res.status, 200);
        const ids = matchIds(res.body);
        seen.push(...ids);
        const wanted = [...new Set(ids.map((id) => `Patient/${patientOf[id]}`))].sort();
        assert.deepEqual(includeRefs(res.body), wanted, `includes of page ${ids.join(',')}`);
        const next = link(res.body, 'next');
        if (!next) break;
        res = await follow(ctx.app.app, next);
      }
      assert.deepEqual(seen, Object.keys(patientOf).sort());
    });

    it('self reproduces the page; previous goes back; the first page has no previous', async () => {
      const first = await search(ctx.app.app, 'Observation?_sort=_id&_count=3');
      assert.equal(link(first.body, 'previous'), undefined);
      const self = link(first.body, 'self');
      assert.ok(self);
      assert.deepEqual(matchIds((await follow(ctx.app.app, self)).body), matchIds(first.body));
      const second = await follow(ctx.app.app, link(first.body, 'next')!);
      const third = await follow(ctx.app.app, link(second.body, 'next')!);
      const back = link(third.body, 'previous');
      assert.ok(back, 'page 3 has a previous link');
      assert.deepEqual(matchIds((await follow(ctx.app.app, back)).body), matchIds(second.body));
      const back2 = link(second.body, 'previous');
      assert.ok(back2);
      assert.deepEqual(matchIds((await follow(ctx.app.app, back2)).body), matchIds(first.body));
    });

    it('a forged cursor is a 400 OperationOutcome', async () => {
      const q = 'Observation?_sort=_id&_count=2';
      const first = await search(ctx.app.app, q);
      const next = new URL(link(first.body, 'next')!);
      const original = new Set(['_sort', '_count']);
      const cursorParams = [...next.searchParams.keys()].filter((k) => !original.has(k));
      assert.ok(cursorParams.length > 0, `the next link carries a cursor parameter: ${next}`);
      for (const k of cursorParams) {
        const v = next.searchParams.get(k)!;
        const i = Math.floor(v.length / 2);
        next.searchParams.set(k, v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1));
      }
      const res = await follow(ctx.app.app, next.toString());
      assert.equal(res.status, 400, `forged ${next} → ${res.status}`);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.ok(issueTexts(res.body).join(' ').length > 0);
    });

    it('pages stay stable while another client writes before the cursor (keyset, not offset)', async () => {
      const q = 'Observation?_sort=_id&_count=3';
      const expected = matchIds((await search(ctx.app.app, 'Observation?_sort=_id&_count=100')).body);
      const first = await search(ctx.app.app, q);
      const inserted = 'obs-0-inserted';
      const put = await request(ctx.app.app)
        .put(`/fhir/Observation/${inserted}`)
        .set('Content-Type', 'application/fhir+json')
        .send({ resourceType: 'Observation', id: inserted, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } });
      assert.ok(put.status === 201 || put.status === 200, `PUT → ${put.status}`);
      try {
        const seen = [...matchIds(first.body)];
        let res = await follow(ctx.app.app, link(first.body, 'next')!);
        for (;;) {
          assert.equal(res.status, 200);
          seen.push(...matchIds(res.body));
          const next = link(res.body, 'next');
          if (!next) break;
          res = await follow(ctx.app.app, next);
        }
        assert.deepEqual(seen, expected, 'no page repeated or skipped a resource because of the insert');
      } finally {
        await request(ctx.app.app).delete(`/fhir/Observation/${inserted}`);
      }
    });

    it('a next link stays valid after a server restart', async () => {
      const q = 'Observation?_sort=-date&_count=4';
      const first = await search(ctx.app.app, q);
      const next = link(first.body, 'next')!;
      const before = matchIds((await follow(ctx.app.app, next)).body);
      await ctx.app.restart();
      const after = await follow(ctx.app.app, next);
      assert.equal(after.status, 200, JSON.stringify(after.body).slice(0, 600));
      assert.deepEqual(matchIds(after.body), before);
    });
  });
}
