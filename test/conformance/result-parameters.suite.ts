import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConformanceContext } from '../helpers/search-conformance-app.js';
import { entriesOfMode, search } from '../helpers/search-http.js';

const SUBSETTED = 'SUBSETTED';
const isSubsetted = (r: Record<string, any>): boolean => (r.meta?.tag ?? []).some((t: { code?: string }) => t.code === SUBSETTED);

/** _summary, _elements and _total (R4 §3.1.1.5.7–5.9) on pat-chen and the female patients. */
export function resultParameterSuite(ctx: ConformanceContext): void {
  describe('_summary, _elements, _total', () => {
    const one = async (query: string): Promise<Record<string, any>> => {
      const res = await search(ctx.app.app, query);
      assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 600));
      const matches = entriesOfMode(res.body, 'match');
      assert.equal(matches.length, 1, `${query} should match pat-chen only`);
      return matches[0]!;
    };

    it('without _summary the whole resource comes back, not marked SUBSETTED', async () => {
      const r = await one('Patient?_id=pat-chen');
      assert.ok(r.maritalStatus && r.text && r.generalPractitioner && r.name);
      assert.ok(!isSubsetted(r));
    });

    it('_summary=true keeps only summary elements (R4 Patient: name, gender, birthDate … but not maritalStatus, text, generalPractitioner)', async () => {
      const r = await one('Patient?_id=pat-chen&_summary=true');
      for (const k of ['id', 'meta', 'identifier', 'name', 'telecom', 'gender', 'birthDate', 'address', 'managingOrganization']) assert.ok(k in r, `${k} kept`);
      for (const k of ['maritalStatus', 'text', 'generalPractitioner']) assert.ok(!(k in r), `${k} dropped`);
      assert.ok(isSubsetted(r), 'marked SUBSETTED');
    });

    it('_summary=text keeps text, id and meta (Patient has no mandatory top-level elements)', async () => {
      const r = await one('Patient?_id=pat-chen&_summary=text');
      assert.ok(r.text && r.id && r.meta);
      for (const k of ['name', 'gender', 'maritalStatus']) assert.ok(!(k in r), `${k} dropped`);
      assert.ok(isSubsetted(r));
    });

    it('_summary=data drops only the text', async () => {
      const r = await one('Patient?_id=pat-chen&_summary=data');
      assert.ok(!('text' in r));
      assert.ok(r.maritalStatus && r.name && r.generalPractitioner);
      assert.ok(isSubsetted(r));
    });

    it('_summary=count returns the count and no matches', async () => {
      const res = await search(ctx.app.app, 'Patient?gender=female&_summary=count');
      assert.equal(res.status, 200);
      assert.equal(res.body.total, 2);
      assert.equal(entriesOfMode(res.body, 'match').length, 0);
    });

    it('_elements keeps the named elements plus id and meta, marked SUBSETTED', async () => {
      const r = await one('Patient?_id=pat-chen&_elements=gender,birthDate');
      assert.equal(r.gender, 'female');
      assert.equal(r.birthDate, '1992-07-14');
      assert.equal(r.id, 'pat-chen');
      for (const k of ['name', 'maritalStatus', 'text', 'address']) assert.ok(!(k in r), `${k} dropped`);
      assert.ok(isSubsetted(r));
    });

    it('_total=accurate counts every match, not the page', async () => {
      const res = await search(ctx.app.app, 'Observation?code=8867-4&_total=accurate&_count=1');
      assert.equal(res.status, 200);
      assert.equal(res.body.total, 4);
      assert.equal(entriesOfMode(res.body, 'match').length, 1);
    });

    it('_total=estimate and _total=none are accepted; a total, when given, is not wrong', async () => {
      for (const mode of ['estimate', 'none']) {
        const res = await search(ctx.app.app, `Observation?code=8867-4&_total=${mode}&_count=1`);
        assert.equal(res.status, 200);
        assert.equal(entriesOfMode(res.body, 'match').length, 1);
        if (mode === 'none') assert.ok(res.body.total === undefined || res.body.total === 4, `_total=none gave ${res.body.total}`);
        else assert.ok(res.body.total === undefined || (Number.isInteger(res.body.total) && res.body.total >= 1), `_total=estimate gave ${res.body.total}`);
      }
    });

    it('the Bundle is a searchset whose entries carry fullUrl under the base', async () => {
      const res = await search(ctx.app.app, 'Patient?_id=pat-chen');
      assert.equal(res.body.resourceType, 'Bundle');
      assert.equal(res.body.type, 'searchset');
      assert.equal(res.body.entry?.[0]?.fullUrl, 'http://localhost:8080/fhir/Patient/pat-chen');
    });
  });
}
