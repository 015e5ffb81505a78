import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle, Parameters } from '@medplum/fhirtypes';
import request from 'supertest';
import { CONSENT, PATIENT, recordIds } from '../../fixtures/consent-scenarios/scenarios.js';
import { verifyReceipt } from '../../ledger-adapter/src/verify/receipt.js';
import { CONSENT_DECISION_EXTENSION } from '../../server/src/audit/audit-codes.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { validate } from '../../server/src/fhir/validation.js';
import { EMPLOYER, clinician, startConsentFixture, type Client, type ConsentFixture } from './consent-fixture.js';

/**
 * Issue 6 §1, §2, §5: every request is recorded as AuditEvents before its response leaves,
 * consent denials included; the trail is read-only, searchable, readable by the patient it is
 * about, and every stored version and event can be verified against the Merkle log.
 */
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const A = recordIds('alice');
const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

describe('the audit trail', () => {
  let f: ConsentFixture;
  let employer: Client;
  let doctor: Client;

  /** Every AuditEvent about a patient, as the admin sees them, newest first. */
  const eventsAbout = async (patient: string, extra = ''): Promise<AuditEvent[]> => {
    const res = await f.admin.get(`/fhir/AuditEvent?patient=Patient/${patient}&_sort=-date&_count=200${extra}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
  };
  const consentPart = (e: AuditEvent, part: string) =>
    e.extension?.find((x) => x.url === CONSENT_DECISION_EXTENSION)?.extension?.filter((x) => x.url === part) ?? [];

  before(async () => {
    f = await startConsentFixture();
    [employer, doctor] = await Promise.all([f.as(EMPLOYER), f.as(clinician('pract-1'))]);
  });
  after(() => f.t.close());

  it('a read is recorded, durably, before the response: who, what version, why, and the consent decision', async () => {
    const res = await doctor.get(`/fhir/Observation/${A.heartRate}`);
    assert.equal(res.status, 200);
    const [event] = (await eventsAbout(PATIENT.alice)).filter((e) => e.subtype?.[0]?.code === 'read' && e.entity?.some((x) => x.what?.reference === `Observation/${A.heartRate}/_history/${res.body.meta.versionId}`));
    assert.ok(event, 'the read is in the patient’s trail');
    assert.equal(event.action, 'R');
    assert.equal(event.outcome, '0');
    const user = event.agent?.find((a) => a.requestor);
    assert.equal(user?.who?.reference, 'Practitioner/pract-1');
    assert.deepEqual(event.purposeOfEvent?.map((p) => p.coding?.[0]?.code), ['TREAT']);
    assert.equal(consentPart(event, 'decision')[0]?.valueCode, 'permit');
    assert.deepEqual(validate(defs, event).filter((i) => i.severity === 'error' || i.severity === 'fatal'), []);
  });

  it('a consent denial is recorded with the deciding Consent, though the client only saw a 404', async () => {
    const res = await employer.get(`/fhir/Observation/${A.phq9Checkup}`);
    assert.equal(res.status, 404);
    const denied = (await eventsAbout(PATIENT.alice)).find((e) => consentPart(e, 'decision')[0]?.valueCode === 'deny');
    assert.ok(denied, 'the denial is recorded');
    assert.equal(denied.outcome, '4');
    assert.equal(denied.agent?.find((a) => a.requestor)?.who?.reference, 'Organization/org-employer');
    assert.match(consentPart(denied, 'deciding')[0]?.valueReference?.reference ?? '', new RegExp(`^Consent/${CONSENT.aliceEmployer}/_history/\\d+$`));
  });

  it('a token that calls itself "custodian" is an ordinary client: consent applies and it is audited', async () => {
    const impostor = await f.as({ ...EMPLOYER, sub: 'custodian', client_id: 'custodian' });
    const res = await impostor.get(`/fhir/Observation/${A.phq9FollowUp}`);
    assert.equal(res.status, 404, 'denied like the employer it is');
    const seen = (await eventsAbout(PATIENT.alice)).some((e) => e.agent?.some((a) => a.altId === 'custodian' && a.requestor));
    assert.ok(seen, 'recorded');
  });

  it('a search concerning several patients gives each patient an event with only their resources', async () => {
    const res = await doctor.get('/fhir/Observation?code=http://loinc.org|8867-4&_count=50');
    assert.equal(res.status, 200);
    const shown = ((res.body as Bundle).entry ?? []).map((e) => e.resource);
    const patients = new Set(shown.map((r) => (r as { subject?: { reference?: string } }).subject?.reference));
    assert.ok(patients.size > 1);
    for (const ref of patients) {
      const id = (ref as string).split('/')[1] as string;
      const event = (await eventsAbout(id, '&subtype=search-type')).find((e) => e.entity?.some((x) => x.query));
      assert.ok(event, `${ref} finds the search`);
      const data = (event.entity ?? []).map((x) => x.what?.reference ?? '').filter((r) => r.startsWith('Observation/'));
      const own = shown.filter((r) => (r as { subject?: { reference?: string } }).subject?.reference === ref).map((r) => `Observation/${r?.id}/_history/${r?.meta?.versionId}`);
      assert.deepEqual(data.sort(), own.sort(), `${ref}'s event lists only ${ref}'s resources`);
    }
  });

  it('a request refused for scope (403) is recorded too', async () => {
    const narrow = await f.as({ ...EMPLOYER, scope: 'system/Patient.rs' });
    const res = await narrow.get('/fhir/Observation?patient=Patient/' + PATIENT.alice);
    assert.equal(res.status, 403);
    const refused = (await eventsAbout(PATIENT.alice)).find((e) => e.outcome === '4' && e.subtype?.[0]?.code === 'search-type');
    assert.ok(refused, 'the 403 is in the trail');
  });

  it('AuditEvents are read-only through the API', async () => {
    const [event] = await eventsAbout(PATIENT.alice);
    assert.ok(event);
    for (const res of [
      await request(f.t.app).post('/fhir/AuditEvent').set('Content-Type', 'application/fhir+json').send({ ...event, id: undefined }),
      await request(f.t.app).put(`/fhir/AuditEvent/${event.id}`).set('Content-Type', 'application/fhir+json').send(event),
      await request(f.t.app).delete(`/fhir/AuditEvent/${event.id}`),
    ]) {
      assert.equal(res.status, 405, JSON.stringify(res.body));
      assert.equal(res.body.resourceType, 'OperationOutcome');
    }
  });

  it('searches on agent, entity, date, type, subtype, purpose and outcome', async () => {
    const count = async (q: string): Promise<number> => {
      const res = await f.admin.get(`/fhir/AuditEvent?${q}&_summary=count`);
      assert.equal(res.status, 200, `${q}: ${JSON.stringify(res.body)}`);
      return res.body.total as number;
    };
    assert.ok((await count('agent=Organization/org-employer')) >= 1);
    assert.ok((await count(`entity=Observation/${A.heartRate}`)) >= 1, "the read of it in the first test");
    assert.ok((await count('date=ge2000-01-01')) >= 3);
    assert.ok((await count('type=rest')) >= 3);
    assert.ok((await count('subtype=read')) >= 2);
    assert.ok((await count('purpose=HPRGRP')) >= 1);
    assert.equal(await count('purpose=HPRGRP'), await count('agent=Organization/org-employer'));
    assert.ok((await count('outcome=4')) >= 2);
  });

  it('a patient reads the events about their own record (who saw it and why), and no one else’s', async () => {
    const alice = await f.as({ sub: PATIENT.alice, client_id: 'demo-patient-app', scope: 'patient/AuditEvent.rs patient/Patient.rs', fhirUser: `Patient/${PATIENT.alice}`, patient: PATIENT.alice, purpose_of_use: ['PATRQT'], roles: ['patient'] });
    const mine = await alice.get('/fhir/AuditEvent?_count=200');
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    const events = ((mine.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
    assert.ok(events.some((e) => e.agent?.some((a) => a.who?.reference === 'Organization/org-employer')), 'she sees the employer’s attempt');
    for (const e of events) assert.ok(e.entity?.some((x) => x.what?.reference === `Patient/${PATIENT.alice}`), 'only events about her');
    const bruno = await alice.get(`/fhir/AuditEvent?patient=Patient/${PATIENT.bruno}`);
    assert.ok(bruno.status === 200 ? (bruno.body.entry ?? []).length === 0 : bruno.status === 403 || bruno.status === 404);
  });

  it('$verify: a version and an AuditEvent verify against the log, pending until anchored, then verified; the receipt verifies offline', async () => {
    const v = await f.admin.get(`/fhir/Observation/${A.heartRate}/_history/1/$verify`);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.ok(['pending-anchor', 'verified'].includes(param(v.body, 'verdict')?.valueCode as string));
    await f.t.deps.ledger.checkpointNow();
    await f.t.deps.ledger.outbox.drain();
    const after = await f.admin.get(`/fhir/Observation/${A.heartRate}/_history/1/$verify`);
    assert.equal(param(after.body, 'verdict')?.valueCode, 'verified', JSON.stringify(after.body));
    const receipt = JSON.parse(param(after.body, 'receipt')?.valueString as string);
    const record = JSON.parse(param(after.body, 'record')?.valueString as string);
    const offline = verifyReceipt(receipt, { verifierKey: f.t.deps.ledger.verifierKey, record });
    assert.equal(offline.verdict, 'verified', JSON.stringify(offline.checks));
    assert.equal(verifyReceipt(receipt, { verifierKey: f.t.deps.ledger.verifierKey, record: { ...record, lastUpdated: '2000-01-01T00:00:00.000Z' } }).verdict, 'mismatch');

    const [event] = await eventsAbout(PATIENT.alice);
    const ev = await f.admin.get(`/fhir/AuditEvent/${event?.id}/$verify`);
    assert.equal(ev.status, 200, JSON.stringify(ev.body));
    assert.ok(['pending-anchor', 'verified'].includes(param(ev.body, 'verdict')?.valueCode as string));
  });

  it('$verify is a read: a version the caller may not read is a 404, and a bad target is a 4xx OperationOutcome', async () => {
    assert.equal((await employer.get(`/fhir/Observation/${A.phq9Checkup}/_history/1/$verify`)).status, 404);
    const noVersion = await f.admin.get(`/fhir/Observation/${A.heartRate}/$verify`);
    assert.equal(noVersion.status, 400);
    assert.equal(noVersion.body.resourceType, 'OperationOutcome');
    assert.equal((await f.admin.get('/fhir/Observation/nope/_history/1/$verify')).status, 404);
  });

  it('$verify reports a mismatch when a stored version was altered behind the server’s back', async () => {
    const target = `Observation/${A.weight}`;
    const before = await f.admin.get(`/fhir/${target}/_history/1/$verify`);
    assert.notEqual(param(before.body, 'verdict')?.valueCode, 'mismatch');
    // Straight into the engine, below the ledgered store: what an operator with database access could do.
    const engine = (f.t.deps.store as unknown as { base: { base: import('../../server/src/store/resource-store.js').ResourceStore } }).base.base;
    const v = await engine.readVersion('Observation', A.weight, '1');
    assert.ok(v?.resource);
    await engine.updateIndex('Observation', [{ id: A.weight, index: {}, resource: { ...v.resource, valueQuantity: { value: 1, unit: 'kg' } } as never }]);
    const afterTamper = await f.admin.get(`/fhir/${target}/_history/1/$verify`);
    assert.equal(param(afterTamper.body, 'verdict')?.valueCode, 'mismatch');
  });

  it('GET /ledger/status shows the log size, the latest checkpoint, the anchoring lag and the keys (public, no data)', async () => {
    await f.t.deps.ledger.checkpointNow();
    await f.t.deps.ledger.outbox.drain();
    const res = await request(f.t.rawApp).get('/ledger/status');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.logSize > 0);
    assert.ok(res.body.latestCheckpoint.size > 0);
    assert.equal(res.body.latestAnchor.size, res.body.latestCheckpoint.size);
    assert.equal(res.body.anchoring.pending, 0);
    assert.equal(typeof res.body.anchoring.lagSeconds, 'number');
    assert.equal(res.body.ledger.healthy, true);
    assert.equal(res.body.verifierKey, f.t.deps.ledger.verifierKey);
    assert.match(res.body.latestCheckpoint.note, /^[^\n]+\n\d+\n[A-Za-z0-9+/=]+\n\n— /);
  });

  it('fails closed: when the trail cannot be written the request gets a 503 and no data', async () => {
    const sink = f.t.deps.ledger.versions;
    const original = sink.appendVersions.bind(sink);
    sink.appendVersions = async () => {
      throw new Error('disk full');
    };
    try {
      const res = await doctor.get(`/fhir/Observation/${A.heartRate}`);
      assert.equal(res.status, 503);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.equal(JSON.stringify(res.body).includes('valueQuantity'), false, 'no data');
      assert.equal(res.body.issue?.[0]?.code, 'transient');
    } finally {
      sink.appendVersions = original;
    }
    assert.equal((await doctor.get(`/fhir/Observation/${A.heartRate}`)).status, 200);
  });
});
