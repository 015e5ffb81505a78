import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { FHIR_JSON, patient, startTestApp, type TestApp } from './app-fixture.js';

/** Client mistakes get a 4xx OperationOutcome: never a 5xx, never a stack trace. */
describe('errors are OperationOutcomes with the right 4xx', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ MAX_BODY_BYTES: '4096' });
  });
  after(async () => {
    await t.close();
  });

  const cases: Array<{ name: string; status: number; send: () => request.Test }> = [
    { name: 'malformed JSON', status: 400, send: () => request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send('{"resourceType": "Patient",') },
    { name: 'body type differs from URL', status: 400, send: () => request(t.app).post('/fhir/Patient').send({ resourceType: 'Observation' }) },
    { name: 'body is not an object', status: 400, send: () => request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send('[1,2]') },
    { name: 'id differs from URL', status: 400, send: () => request(t.app).put('/fhir/Patient/abc').send(patient('X', { id: 'xyz' })) },
    { name: 'PUT without id in body', status: 400, send: () => request(t.app).put('/fhir/Patient/abc').send(patient('X')) },
    { name: 'unknown resource type', status: 404, send: () => request(t.app).get('/fhir/Spaceship/1') },
    { name: 'unknown type on create', status: 404, send: () => request(t.app).post('/fhir/Spaceship').send({ resourceType: 'Spaceship' }) },
    { name: 'invalid id', status: 400, send: () => request(t.app).get('/fhir/Patient/' + 'x'.repeat(65)) },
    { name: 'unsupported media type', status: 415, send: () => request(t.app).post('/fhir/Patient').set('Content-Type', 'text/plain').send('hello') },
    { name: 'XML requested', status: 406, send: () => request(t.app).get('/fhir/Patient').set('Accept', 'application/fhir+xml') },
    { name: '_format=xml', status: 406, send: () => request(t.app).get('/fhir/Patient?_format=xml') },
    { name: 'oversized body', status: 413, send: () => request(t.app).post('/fhir/Patient').send(patient('Big', { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'a'.repeat(8000)}</div>` } })) },
    { name: 'negative _count', status: 400, send: () => request(t.app).get('/fhir/Patient?_count=-1') },
    { name: 'non-numeric _count', status: 400, send: () => request(t.app).get('/fhir/Patient?_count=ten') },
    { name: 'unknown parameter under handling=strict', status: 400, send: () => request(t.app).get('/fhir/Patient?colour=blue').set('Prefer', 'handling=strict') },
    { name: 'malformed date', status: 400, send: () => request(t.app).get('/fhir/Patient?birthdate=1999-13-45') },
    { name: 'malformed If-Match', status: 400, send: () => request(t.app).put('/fhir/Patient/abc').set('If-Match', 'nope').send(patient('X', { id: 'abc' })) },
    { name: 'invalid resource', status: 400, send: () => request(t.app).post('/fhir/Patient').send(patient('X', { birthDate: 'yesterday' })) },
    { name: 'unknown element', status: 400, send: () => request(t.app).post('/fhir/Patient').send(patient('X', { colour: 'blue' })) },
    { name: 'AuditEvent create', status: 405, send: () => request(t.app).post('/fhir/AuditEvent').send({ resourceType: 'AuditEvent' }) },
    { name: 'AuditEvent update', status: 405, send: () => request(t.app).put('/fhir/AuditEvent/a1').send({ resourceType: 'AuditEvent', id: 'a1' }) },
    { name: 'AuditEvent delete', status: 405, send: () => request(t.app).delete('/fhir/AuditEvent/a1') },
    { name: 'AuditEvent patch', status: 405, send: () => request(t.app).patch('/fhir/AuditEvent/a1').set('Content-Type', 'application/json-patch+json').send('[]') },
    { name: 'read of a missing resource', status: 404, send: () => request(t.app).get('/fhir/Patient/does-not-exist') },
    { name: 'method not allowed on a path', status: 405, send: () => request(t.app).post('/fhir/Patient/abc').send(patient('X')) },
    { name: 'nothing at path', status: 404, send: () => request(t.app).get('/fhir/Patient/abc/def/ghi/jkl') },
    { name: 'a bundle that is not batch/transaction', status: 400, send: () => request(t.app).post('/fhir').send({ resourceType: 'Bundle', type: 'collection' }) },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const res = await c.send();
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.ok(res.body.issue.length > 0);
      assert.doesNotMatch(res.text, /\bat .+\.(ts|js):\d+/, 'no stack traces');
    });
  }

  it('an invalid resource names the failing element as a FHIRPath expression', async () => {
    const res = await request(t.app).post('/fhir/Patient').send(patient('X', { birthDate: 'yesterday' }));
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.issue[0].expression, ['Patient.birthDate']);
  });

  it('a code outside its required value set is refused (the binding check medplum leaves out)', async () => {
    const res = await request(t.app).post('/fhir/Patient').send(patient('X', { gender: 'nope' }));
    assert.equal(res.status, 400);
    assert.equal(res.body.issue[0].code, 'code-invalid');
    assert.deepEqual(res.body.issue[0].expression, ['Patient.gender']);
    const obs = await request(t.app)
      .post('/fhir/Observation')
      .send({ resourceType: 'Observation', status: 'done', code: { text: 'x' } });
    assert.equal(obs.status, 400);
    assert.deepEqual(obs.body.issue[0].expression, ['Observation.status']);
  });

  it('unknown parameters are ignored by default and reported in the Bundle', async () => {
    const res = await request(t.app).get('/fhir/Patient?colour=blue');
    assert.equal(res.status, 200);
    const outcome = res.body.entry?.find((e: { search?: { mode: string } }) => e.search?.mode === 'outcome');
    assert.ok(outcome, 'an OperationOutcome entry reports the ignored parameter');
    assert.match(outcome.resource.issue[0].details.text, /colour/);
  });

  it('operator injection through values is only ever a value', async () => {
    await request(t.app).post('/fhir/Patient').send(patient('Injection'));
    for (const value of ['{"$where":"1"}', '.*', '$ne', '^', 'a|{"$gt":""}']) {
      const res = await request(t.app).get(`/fhir/Patient?family=${encodeURIComponent(value)}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.total, 0, `family=${value} must match nothing`);
    }
  });
});
