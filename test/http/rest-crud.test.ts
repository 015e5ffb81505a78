import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { BASE, FHIR_JSON, observation, patient, startTestApp, type TestApp } from './app-fixture.js';

describe('FHIR REST interactions', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('create assigns an id and returns Location, ETag, Last-Modified and the resource', async () => {
    const res = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(patient('Create', { id: 'client-chosen' }));
    assert.equal(res.status, 201);
    assert.match(res.headers['content-type'], /^application\/fhir\+json/);
    assert.notEqual(res.body.id, 'client-chosen', 'the server assigns the id on create');
    assert.match(res.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(res.body.meta.versionId, '1');
    assert.equal(res.headers.location, `${BASE}/Patient/${res.body.id}/_history/1`);
    assert.equal(res.headers.etag, 'W/"1"');
    assert.equal(new Date(res.headers['last-modified']).toUTCString(), res.headers['last-modified']);
  });

  it('accepts application/json as well as application/fhir+json', async () => {
    const res = await request(t.app).post('/fhir/Patient').set('Content-Type', 'application/json').send(patient('PlainJson'));
    assert.equal(res.status, 201);
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await request(t.app).post('/fhir/Patient').set('Prefer', 'return=minimal').send(patient('Minimal'));
    assert.equal(minimal.status, 201);
    assert.equal(minimal.text, '');
    assert.ok(minimal.headers.location);
    const oo = await request(t.app).post('/fhir/Patient').set('Prefer', 'return=OperationOutcome').send(patient('Outcome'));
    assert.equal(oo.status, 201);
    assert.equal(oo.body.resourceType, 'OperationOutcome');
  });

  it('read, vread, update with If-Match, stale If-Match → 412', async () => {
    const created = (await request(t.app).post('/fhir/Patient').send(patient('Versions'))).body;
    const read = await request(t.app).get(`/fhir/Patient/${created.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.name, [{ family: 'Versions', given: ['Peter'] }]);

    const updated = await request(t.app)
      .put(`/fhir/Patient/${created.id}`)
      .set('If-Match', 'W/"1"')
      .send({ ...created, active: true });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.meta.versionId, '2');
    assert.equal(updated.body.active, true);

    const stale = await request(t.app).put(`/fhir/Patient/${created.id}`).set('If-Match', 'W/"1"').send({ ...created, active: false });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.resourceType, 'OperationOutcome');

    const v1 = await request(t.app).get(`/fhir/Patient/${created.id}/_history/1`);
    assert.equal(v1.status, 200);
    assert.equal(v1.body.active, undefined);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}/_history/9`)).status, 404);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}`).set('If-None-Match', 'W/"2"')).status, 304);
  });

  it('update-as-create with a client id', async () => {
    const res = await request(t.app).put('/fhir/Patient/chosen-id-1').send(patient('Upsert', { id: 'chosen-id-1' }));
    assert.equal(res.status, 201);
    assert.equal(res.body.id, 'chosen-id-1');
  });

  it('delete keeps history; a later read is 410 and the old version still reads', async () => {
    const created = (await request(t.app).post('/fhir/Patient').send(patient('Deleted'))).body;
    const del = await request(t.app).delete(`/fhir/Patient/${created.id}`);
    assert.equal(del.status, 200);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}`)).status, 410);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}/_history/1`)).status, 200);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}/_history/2`)).status, 410);
    const hist = await request(t.app).get(`/fhir/Patient/${created.id}/_history`);
    assert.equal(hist.body.total, 2);
    assert.equal(hist.body.entry[0].request.method, 'DELETE');
    assert.equal((await request(t.app).delete('/fhir/Patient/never-existed')).status, 404);
  });

  it('JSON Patch applies, tests, and refuses bad patches', async () => {
    const created = (await request(t.app).post('/fhir/Patient').send(patient('Patchy'))).body;
    const ok = await request(t.app)
      .patch(`/fhir/Patient/${created.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/gender', value: 'female' }]));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.gender, 'female');
    assert.equal(ok.body.meta.versionId, '2');

    const failedTest = await request(t.app)
      .patch(`/fhir/Patient/${created.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'test', path: '/gender', value: 'male' }]));
    assert.equal(failedTest.status, 422);

    const invalidResult = await request(t.app)
      .patch(`/fhir/Patient/${created.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'add', path: '/birthDate', value: 'not-a-date' }]));
    assert.equal(invalidResult.status, 400);

    const changesId = await request(t.app)
      .patch(`/fhir/Patient/${created.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/id', value: 'other' }]));
    assert.equal(changesId.status, 400);

    const wrongType = await request(t.app).patch(`/fhir/Patient/${created.id}`).set('Content-Type', FHIR_JSON).send({ gender: 'male' });
    assert.equal(wrongType.status, 415);
    assert.equal((await request(t.app).get(`/fhir/Patient/${created.id}`)).body.meta.versionId, '2');
  });

  it('instance and type history honour _count and _since', async () => {
    const created = (await request(t.app).post('/fhir/Group').send({ resourceType: 'Group', type: 'person', actual: true, name: 'g1' })).body;
    for (let i = 2; i <= 4; i++) {
      await request(t.app).put(`/fhir/Group/${created.id}`).send({ ...created, name: `g${i}` });
    }
    const page = await request(t.app).get(`/fhir/Group/${created.id}/_history?_count=2`);
    assert.equal(page.body.type, 'history');
    assert.equal(page.body.total, 4);
    assert.deepEqual(page.body.entry.map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId), ['4', '3']);
    const next = page.body.link.find((l: { relation: string }) => l.relation === 'next');
    assert.ok(next);
    const page2 = await request(t.app).get(new URL(next.url).pathname + new URL(next.url).search);
    assert.deepEqual(page2.body.entry.map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId), ['2', '1']);

    const future = await request(t.app).get(`/fhir/Group/_history?_since=${encodeURIComponent('2999-01-01T00:00:00Z')}`);
    assert.equal(future.body.total, 0);
    const all = await request(t.app).get('/fhir/Group/_history');
    assert.equal(all.body.total, 4);
    assert.equal((await request(t.app).get('/fhir/Group/_history?_since=yesterday')).status, 400);
  });

  it('conditional create (If-None-Exist): 0 → create, 1 → existing, 2 → 412', async () => {
    const body = patient('Conditional', { identifier: [{ system: 'urn:test', value: 'cc-1' }] });
    const first = await request(t.app).post('/fhir/Patient').set('If-None-Exist', 'identifier=urn:test|cc-1').send(body);
    assert.equal(first.status, 201);
    const second = await request(t.app).post('/fhir/Patient').set('If-None-Exist', 'identifier=urn:test|cc-1').send(body);
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
    await request(t.app).post('/fhir/Patient').send(body);
    const third = await request(t.app).post('/fhir/Patient').set('If-None-Exist', 'identifier=urn:test|cc-1').send(body);
    assert.equal(third.status, 412);
    const unknownParam = await request(t.app).post('/fhir/Patient').set('If-None-Exist', 'nonsense=1').send(body);
    assert.equal(unknownParam.status, 400);
  });

  it('concurrent conditional creates of the same identifier create exactly one resource', async () => {
    const body = patient('Racer', { identifier: [{ system: 'urn:test', value: 'race-1' }] });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => request(t.app).post('/fhir/Patient').set('If-None-Exist', 'identifier=urn:test|race-1').send(body)),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [...Array(19).fill(200), 201]);
    assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
    assert.equal((await request(t.app).get('/fhir/Patient?identifier=urn:test|race-1&_summary=count')).body.total, 1);
  });

  it('conditional update: no match creates, one match updates', async () => {
    const body = patient('CondUpdate', { identifier: [{ system: 'urn:test', value: 'cu-1' }] });
    const created = await request(t.app).put('/fhir/Patient?identifier=urn:test|cu-1').send(body);
    assert.equal(created.status, 201);
    const updated = await request(t.app).put('/fhir/Patient?identifier=urn:test|cu-1').send({ ...body, active: true });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.id, created.body.id);
    assert.equal(updated.body.meta.versionId, '2');
  });

  it('search by patient, by code, with _count paging and _summary=count', async () => {
    const p = (await request(t.app).post('/fhir/Patient').send(patient('Searchable'))).body;
    for (let i = 0; i < 5; i++) await request(t.app).post('/fhir/Observation').send(observation(p.id, '8867-4', 60 + i));
    await request(t.app).post('/fhir/Observation').send(observation(p.id, '29463-7', 80));
    const bySubject = await request(t.app).get(`/fhir/Observation?subject=Patient/${p.id}`);
    assert.equal(bySubject.body.total, 6);
    const byPatient = await request(t.app).get(`/fhir/Observation?patient=${p.id}&code=http://loinc.org|8867-4&_count=2`);
    assert.equal(byPatient.body.total, 5);
    assert.equal(byPatient.body.entry.length, 2);
    assert.ok(byPatient.body.link.some((l: { relation: string }) => l.relation === 'next'));
    const count = await request(t.app).get(`/fhir/Observation?patient=${p.id}&_summary=count`);
    assert.equal(count.body.total, 6);
    assert.equal(count.body.entry, undefined);
    const sorted = await request(t.app).get(`/fhir/Observation?patient=${p.id}&code=8867-4&_sort=-value-quantity`);
    assert.equal(sorted.status, 200);
    const form = await request(t.app).post('/fhir/Observation/_search').type('form').send({ patient: p.id, code: '29463-7' });
    assert.equal(form.status, 200);
    assert.equal(form.body.total, 1);
  });

  it('first-class types round-trip: ImagingStudy, Consent, Claim, Group', async () => {
    const p = (await request(t.app).post('/fhir/Patient').send(patient('FirstClass'))).body;
    const bodies = [
      {
        resourceType: 'ImagingStudy',
        status: 'available',
        subject: { reference: `Patient/${p.id}` },
        identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:2.25.1234567890' }],
        modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }],
        series: [{ uid: '2.25.99', modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' } }],
      },
      {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${p.id}` },
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
        // A permit: a deny-all Consent would hide the Claim below from the reader (issue 5).
        provision: { type: 'permit' },
      },
      {
        resourceType: 'Claim',
        status: 'active',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
        use: 'claim',
        patient: { reference: `Patient/${p.id}` },
        created: '2024-03-01',
        provider: { reference: 'Organization/org-hospital' },
        priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
        insurance: [{ sequence: 1, focal: true, coverage: { display: 'Acme plan' } }],
      },
      { resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${p.id}` } }] },
    ];
    for (const body of bodies) {
      const created = await request(t.app).post(`/fhir/${body.resourceType}`).send(body);
      assert.equal(created.status, 201, `${body.resourceType}: ${JSON.stringify(created.body)}`);
      const read = await request(t.app).get(`/fhir/${body.resourceType}/${created.body.id}`);
      assert.equal(read.status, 200);
      const { id: _id, meta: _meta, ...rest } = read.body;
      assert.deepEqual(rest, body);
    }
    const imaging = await request(t.app).get(`/fhir/ImagingStudy?patient=${p.id}&modality=CT`);
    assert.equal(imaging.body.total, 1);
    const consents = await request(t.app).get(`/fhir/Consent?patient=${p.id}&status=active`);
    assert.equal(consents.body.total, 1);
    const groups = await request(t.app).get(`/fhir/Group?member=Patient/${p.id}`);
    assert.equal(groups.body.total, 1);
  });
});

describe('update-as-create disabled', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ UPDATE_CREATE: 'false' });
  });
  after(async () => {
    await t.close();
  });
  it('PUT to an unknown id is refused with 405', async () => {
    const res = await request(t.app).put('/fhir/Patient/new-one').send(patient('NoUpsert', { id: 'new-one' }));
    assert.equal(res.status, 405);
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.equal((await request(t.app).get('/fhir/Patient/new-one')).status, 404);
  });
});
