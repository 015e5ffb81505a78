import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { Query } from 'mingo';
import type { SearchRequest } from '@medplum/core';
import { compileSearch, MAX_SEARCH_VALUES } from '../../server/src/fhir/search/compile-search.js';
import { MAX_CHAIN_LINKS } from '../../server/src/fhir/search/chain.js';
import { MAX_INCLUDE_PARAMS } from '../../server/src/fhir/search-results/include-params.js';
import { FHIR_JSON, startTestApp, type TestApp } from './app-fixture.js';
import { matchIds, type SearchBundle } from './search-fixture.js';

/**
 * Defects found reviewing the search implementation: requests that crashed (5xx), cost
 * unbounded work, or answered differently on two paths that should agree.
 */
const FORM = 'application/x-www-form-urlencoded';

describe('search review', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    const put = async (r: Record<string, unknown>): Promise<void> => {
      const res = await request(t.app).put(`/fhir/${r.resourceType as string}/${r.id as string}`).set('Content-Type', FHIR_JSON).send(r);
      assert.ok(res.status < 300, `${res.status} ${res.text}`);
    };
    for (let i = 0; i < 3; i++) await put({ resourceType: 'Organization', id: `org${i}`, name: `Org ${i}`, partOf: { reference: `Organization/org${(i + 1) % 3}` } });
    for (let i = 0; i < 4; i++) {
      await put({
        resourceType: 'Patient',
        id: `p${i}`,
        name: [{ family: ['Zed', 'Abel', 'Mills', 'Abel'][i] }],
        birthDate: `19${70 + i}-01-01`,
        managingOrganization: { reference: 'Organization/org0' },
        ...(i % 2 ? { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">Marker text ${i}</div>` } } : {}),
      });
    }
    await put({ resourceType: 'List', id: 'l1', status: 'current', mode: 'working', entry: [{ item: { reference: 'Patient/p2' } }, { item: { reference: 'Patient/p3' } }] });
    // A "diamond" of ValueSets: each includes the one below it twice, so expanding the top one
    // path by path reads the bottom one 2^20 times.
    await put({ resourceType: 'ValueSet', id: 'vs0', url: 'http://review/vs0', status: 'active', compose: { include: [{ system: 'http://loinc.org', concept: [{ code: '8867-4' }] }] } });
    for (let i = 1; i <= 20; i++) {
      await put({ resourceType: 'ValueSet', id: `vs${i}`, url: `http://review/vs${i}`, status: 'active', compose: { include: [{ valueSet: [`http://review/vs${i - 1}`] }, { valueSet: [`http://review/vs${i - 1}`] }] } });
    }
    await put({
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/p1' },
    });
  });
  after(async () => {
    await t?.close();
  });

  const tooCostly = (res: request.Response): void => {
    assert.equal(res.status, 400, res.text.slice(0, 300));
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.equal(res.body.issue[0].code, 'too-costly', res.text.slice(0, 300));
  };

  it('a chain longer than the stack (POST form body) is a 400, not a 500', async () => {
    const res = await request(t.app).post('/fhir/Organization/_search').set('Content-Type', FORM).send(`${'partof.'.repeat(20000)}name=Org`);
    tooCostly(res);
  });

  it('a deep _has nesting (POST form body) is a 400, not a 500', async () => {
    const res = await request(t.app).post('/fhir/Organization/_search').set('Content-Type', FORM).send(`${'_has:Organization:partof:'.repeat(5000)}name=Org`);
    tooCostly(res);
  });

  it('chains up to the limit still work', async () => {
    const key = `${'partof.'.repeat(MAX_CHAIN_LINKS)}name`;
    const ok = await request(t.app).get(`/fhir/Organization?${key}=Org`);
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.equal((ok.body as SearchBundle).total, 3);
    tooCostly(await request(t.app).get(`/fhir/Organization?${'partof.'.repeat(MAX_CHAIN_LINKS + 1)}name=Org`));
  });

  it('a search with more than MAX_SEARCH_VALUES values is refused as too costly', async () => {
    const many = Array.from({ length: 200_000 }, (_, i) => `x${i}`).join(',');
    tooCostly(await request(t.app).post('/fhir/Patient/_search').set('Content-Type', FORM).send(`name=${many}`));
    tooCostly(await request(t.app).post('/fhir/Patient/_search').set('Content-Type', FORM).send(Array.from({ length: MAX_SEARCH_VALUES + 1 }, (_, i) => `name=x${i}`).join('&')));
    const ok = await request(t.app).post('/fhir/Patient/_search').set('Content-Type', FORM).send(`name=${Array.from({ length: MAX_SEARCH_VALUES - 1 }, (_, i) => `x${i}`).join(',')},abel`);
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.deepEqual(matchIds(ok.body as SearchBundle), ['Patient/p1', 'Patient/p3']);
  });

  it('repeated _include/_revinclude values are merged, and too many distinct ones are refused', async () => {
    const once = await request(t.app).get('/fhir/Patient?_id=p1&_revinclude:iterate=Observation:subject&_include=Patient:organization');
    assert.equal(once.status, 200);
    const body = Array.from({ length: 5000 }, () => '_revinclude:iterate=Observation:subject&_include=Patient:organization').join('&');
    const started = Date.now();
    const repeated = await request(t.app).post('/fhir/Patient/_search').set('Content-Type', FORM).send(`_id=p1&${body}`);
    assert.equal(repeated.status, 200, repeated.text.slice(0, 300));
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    const ids = (b: SearchBundle): string[] => (b.entry ?? []).map((e) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`).sort();
    assert.deepEqual(ids(repeated.body as SearchBundle), ids(once.body as SearchBundle));
    const targets = ['Patient', 'Practitioner', 'Organization', 'Encounter', 'Location', 'Device', 'Group', 'RelatedPerson', 'PractitionerRole', 'Medication', 'Specimen', 'Observation', 'Condition', 'Procedure', 'DiagnosticReport', 'ImagingStudy', 'MedicationRequest', 'ServiceRequest', 'CarePlan', 'CareTeam', 'Goal', 'AllergyIntolerance', 'Immunization', 'DocumentReference', 'Composition', 'Consent', 'Coverage', 'Claim', 'Account', 'Appointment', 'Schedule', 'Slot', 'Task', 'Provenance', 'Questionnaire', 'QuestionnaireResponse', 'List', 'Media', 'Substance', 'NutritionOrder', 'FamilyMemberHistory', 'ClinicalImpression', 'DetectedIssue', 'RiskAssessment', 'Flag', 'EpisodeOfCare', 'HealthcareService', 'Endpoint', 'Basic', 'Binary', 'Bundle', 'Library'];
    assert.ok(targets.length > MAX_INCLUDE_PARAMS);
    tooCostly(await request(t.app).get(`/fhir/Patient?${targets.map((ty) => `_include=Patient:*:${ty}`).join('&')}`));
  });

  it(':in over a ValueSet included along exponentially many paths expands each ValueSet once', { timeout: 20_000 }, async () => {
    const res = await request(t.app).get('/fhir/Observation?code:in=http://review/vs20');
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.deepEqual(matchIds(res.body as SearchBundle), ['Observation/o1']);
  });

  it('system search applies _text and _list like a type search (they are common to every type)', async () => {
    for (const q of ['_text=marker', '_list=l1', '_text=marker&_list=l1']) {
      const type = await request(t.app).get(`/fhir/Patient?${q}`).set('Prefer', 'handling=strict');
      const system = await request(t.app).get(`/fhir?_type=Patient&${q}`).set('Prefer', 'handling=strict');
      assert.equal(type.status, 200, type.text.slice(0, 300));
      assert.equal(system.status, 200, `${q}: ${system.text.slice(0, 300)}`);
      assert.deepEqual(matchIds(system.body as SearchBundle), matchIds(type.body as SearchBundle), q);
    }
  });

  it('system search drops only the _sort keys that are not common, like a type search', async () => {
    const type = await request(t.app).get('/fhir/Patient?_sort=bogus,-birthdate');
    const system = await request(t.app).get('/fhir?_type=Patient&_sort=bogus,-birthdate');
    assert.deepEqual(matchIds(type.body as SearchBundle), ['Patient/p3', 'Patient/p2', 'Patient/p1', 'Patient/p0']);
    assert.deepEqual(matchIds(system.body as SearchBundle), matchIds(type.body as SearchBundle));
  });

  it('client text reaches $regex without a raw NUL (MongoDB refuses one) and still matches literally', async () => {
    const store = { search: async () => ({ resources: [] }), readCurrent: async () => undefined };
    const req = { resourceType: 'Patient', filters: [{ code: 'name:contains', operator: 'eq', value: 'a\u0000b.' }] } as unknown as SearchRequest;
    const compiled = await compileSearch(t.deps.defs, req, { strict: true, store });
    const text = JSON.stringify(compiled.filter);
    assert.ok(text.includes('$regex'), text);
    assert.ok(!text.includes('\\u0000'), text);
    assert.ok(new Query(compiled.filter).test({ idx: { name: ['xa\u0000b.y'] } }));
    assert.ok(!new Query(compiled.filter).test({ idx: { name: ['xa\u0000bzy'] } }));
    const res = await request(t.app).get('/fhir/Patient?name=a%00b');
    assert.equal(res.status, 200);
  });
});
