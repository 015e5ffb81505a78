import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { patient, startTestApp, type TestApp } from './app-fixture.js';

const PATIENT_PROFILE = 'https://custodian.example.org/fhir/StructureDefinition/custodian-patient';
const CLAIM_PROFILE = 'https://custodian.example.org/fhir/StructureDefinition/custodian-claim-evidence';

describe('CapabilityStatement, profiles and $validate', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('GET /metadata is generated from the routes and definitions', async () => {
    const res = await request(t.app).get('/fhir/metadata');
    assert.equal(res.status, 200);
    assert.equal(res.body.resourceType, 'CapabilityStatement');
    assert.equal(res.body.fhirVersion, '4.0.1');
    const rest = res.body.rest[0];
    assert.deepEqual(rest.interaction.map((i: { code: string }) => i.code).sort(), ['batch', 'search-system', 'transaction']);
    const types = rest.resource.map((r: { type: string }) => r.type);
    assert.equal(types.length, t.deps.defs.resourceTypes.length);
    for (const type of ['Patient', 'Observation', 'ImagingStudy', 'Consent', 'Claim', 'Group', 'AuditEvent']) assert.ok(types.includes(type), type);

    const byType = (type: string) => rest.resource.find((r: { type: string }) => r.type === type);
    const codes = (type: string) => byType(type).interaction.map((i: { code: string }) => i.code).sort();
    assert.deepEqual(codes('Patient'), ['create', 'delete', 'history-instance', 'history-type', 'patch', 'read', 'search-type', 'update', 'vread']);
    assert.deepEqual(codes('AuditEvent'), ['history-instance', 'history-type', 'read', 'search-type', 'vread']);
    assert.equal(byType('AuditEvent').conditionalCreate, false);
    const params = byType('Observation').searchParam.map((p: { name: string }) => p.name);
    for (const p of ['patient', 'subject', 'code', 'date', 'category', 'value-quantity', '_id', '_lastUpdated']) assert.ok(params.includes(p), p);
    assert.ok(params.includes('code-value-quantity'), 'composite parameters are implemented and claimed');
    assert.deepEqual(byType('Patient').supportedProfile, [PATIENT_PROFILE]);
    assert.ok(byType('Patient').operation.some((o: { name: string }) => o.name === 'validate'));
  });

  it('project profiles are served as StructureDefinition resources and are read-only', async () => {
    const sd = await request(t.app).get('/fhir/StructureDefinition/custodian-patient');
    assert.equal(sd.status, 200);
    assert.equal(sd.body.url, PATIENT_PROFILE);
    const search = await request(t.app).get(`/fhir/StructureDefinition?url=${encodeURIComponent(CLAIM_PROFILE)}`);
    assert.equal(search.body.total, 1);
    const put = await request(t.app).put('/fhir/StructureDefinition/custodian-patient').send({ ...sd.body, status: 'retired' });
    assert.equal(put.status, 405);
  });

  it('a resource claiming a project profile is validated against it on write', async () => {
    const bad = await request(t.app)
      .post('/fhir/Patient')
      .send({ resourceType: 'Patient', meta: { profile: [PATIENT_PROFILE] }, name: [{ family: 'NoId' }] });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.issue[0].expression, ['Patient.identifier']);
    const good = await request(t.app).post('/fhir/Patient').send({ ...patient('WithId'), meta: { profile: [PATIENT_PROFILE] } });
    assert.equal(good.status, 201);
  });

  it('the claim-evidence profile requires every supportingInfo to reference evidence', async () => {
    const claim = (info: Record<string, unknown>) => ({
      resourceType: 'Claim',
      meta: { profile: [CLAIM_PROFILE] },
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: 'Patient/p1' },
      created: '2024-01-01',
      provider: { reference: 'Organization/o1' },
      priority: { coding: [{ code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { display: 'plan' } }],
      supportingInfo: [{ sequence: 1, category: { text: 'evidence' }, ...info }],
    });
    const bad = await request(t.app).post('/fhir/Claim').send(claim({ valueString: 'trust me' }));
    assert.equal(bad.status, 400);
    assert.match(bad.body.issue[0].details.text, /cust-claim-1/);
    assert.deepEqual(bad.body.issue[0].expression, ['Claim.supportingInfo[0]']);
    const good = await request(t.app).post('/fhir/Claim').send(claim({ valueReference: { reference: 'Observation/o1' } }));
    assert.equal(good.status, 201);
  });

  it('$validate reports findings with 200 and writes nothing', async () => {
    const before = (await request(t.app).get('/fhir/Patient?_summary=count')).body.total;
    const bad = await request(t.app).post('/fhir/Patient/$validate').send(patient('V', { birthDate: '31/12/1999' }));
    assert.equal(bad.status, 200);
    assert.equal(bad.body.issue[0].severity, 'error');
    assert.deepEqual(bad.body.issue[0].expression, ['Patient.birthDate']);
    const good = await request(t.app).post('/fhir/Patient/$validate').send(patient('V'));
    assert.equal(good.body.issue[0].severity, 'information');
    const withProfile = await request(t.app)
      .post('/fhir/Patient/$validate')
      .send({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient' } }, { name: 'profile', valueUri: PATIENT_PROFILE }] });
    assert.ok(withProfile.body.issue.some((i: { expression?: string[] }) => i.expression?.[0] === 'Patient.identifier'));
    assert.equal((await request(t.app).get('/fhir/Patient?_summary=count')).body.total, before);
  });

  it('an unknown claimed profile is a warning, not a failure', async () => {
    const res = await request(t.app).post('/fhir/Patient').send({ ...patient('Foreign'), meta: { profile: ['http://example.org/other-profile'] } });
    assert.equal(res.status, 201);
  });
});
