import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { FHIR_JSON, patient, startTestApp, type TestApp } from './app-fixture.js';

interface Param {
  name: string;
  valueBoolean?: boolean;
  valueInteger?: number;
  valueString?: string;
  valueCode?: string;
  part?: Param[];
}

/** `POST [base]/$full-audit` (the console's steward view): the full audit of the live log, for data stewards only. */
describe('$full-audit', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    for (const family of ['Audit', 'Ledger', 'Anchor']) {
      assert.equal((await request(t.app).post('/fhir/Patient').set('content-type', FHIR_JSON).send(patient(family))).status, 201);
    }
  });
  after(() => t.close());

  const value = (body: { parameter?: Param[] }, name: string): Param | undefined => body.parameter?.find((p) => p.name === name);

  it('a steward (role admin) gets the report: every leaf and every stored version checked, nothing found', async () => {
    const res = await request(t.app).post('/fhir/$full-audit');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.resourceType, 'Parameters');
    assert.equal(value(res.body, 'ok')?.valueBoolean, true, JSON.stringify(res.body));
    const logSize = value(res.body, 'logSize')?.valueInteger ?? 0;
    assert.ok(logSize >= 3, `log size ${logSize}`);
    assert.equal(value(res.body, 'checkedLeaves')?.valueInteger, logSize);
    assert.ok((value(res.body, 'checkedVersions')?.valueInteger ?? 0) >= 3);
    assert.equal(value(res.body, 'origin')?.valueString, t.deps.ledger.log.origin);
    assert.deepEqual(
      (res.body.parameter as Param[]).filter((p) => p.name === 'finding').map((f) => f.part?.find((x) => x.name === 'kind')?.valueCode).filter((k) => k !== 'unanchored'),
      [],
    );
  });

  it('others are refused with 403: a patient, a clinician, a token without purpose of use', async () => {
    const tokens = [
      await t.auth.token({ scope: 'patient/*.rs', patient: 'p1', fhirUser: 'Patient/p1', roles: ['patient'], purpose_of_use: ['PATRQT'] }),
      await t.auth.token({ scope: 'user/*.cruds', fhirUser: 'Practitioner/x', roles: ['clinician'] }),
      await t.auth.token({ scope: 'system/*.cruds', roles: ['admin'], purpose_of_use: null }),
    ];
    for (const token of tokens) {
      const res = await request(t.rawApp).post('/fhir/$full-audit').set('authorization', `Bearer ${token}`);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.resourceType, 'OperationOutcome');
    }
  });

  it('is recorded as an AuditEvent like any operation', async () => {
    await request(t.app).post('/fhir/$full-audit');
    const events = await request(t.app).get('/fhir/AuditEvent?subtype=full-audit&_count=5');
    assert.equal(events.status, 200);
    assert.ok((events.body.total ?? events.body.entry?.length ?? 0) > 0, JSON.stringify(events.body).slice(0, 500));
  });
});
