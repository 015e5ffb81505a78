import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { CONSENT, PATIENT, recordIds } from '../../fixtures/consent-scenarios/scenarios.js';
import { verifyReceipt } from '../../ledger-adapter/src/verify/receipt.js';
import { CONSENT_DECISION_EXTENSION, OPERATION_SYSTEM } from '../../server/src/audit/audit-codes.js';
import { evidenceMarkOf, evidenceRecord } from '../../server/src/ops/evidence/evidence-entry.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { validate } from '../../server/src/fhir/validation.js';
import { BASE } from './app-fixture.js';
import { EMPLOYER, INSURER, clinician, startConsentFixture, type Client, type ConsentFixture } from './consent-fixture.js';

/**
 * `Claim/[id]/$evidence` (issue 8 §6) over HTTP against the consent scenarios: an insurer gets
 * the claim's evidence as far as the patient's consent allows, each piece with a ledger receipt
 * that verifies offline; evidence withheld by consent is listed (reference, categories, no
 * content); missing or out-of-scope evidence is "unavailable", the same answer for both.
 */
const A = recordIds('alice');
const B = recordIds('bruno');
const obs = (id: string): string => `Observation/${id}`;

/** A claim of Bruno's naming, besides his evidence, things the insurer cannot get. */
const MIXED = 'evidence-mixed';
const MIXED_EOB = 'evidence-mixed-eob';
const info = (sequence: number, reference: string) => ({ sequence, category: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claiminformationcategory', code: 'info' }] }, valueReference: { reference } });
const mixedEvidence = [
  info(1, obs(B.glucose)),
  info(2, obs(B.hivTest)),
  info(3, 'Observation/no-such-observation'),
  info(4, `DiagnosticReport/${B.geneticReport}`),
  info(5, `${BASE}/Observation/${B.heartRate}`),
  info(6, obs(B.glucose)),
  info(7, `Observation/${B.weight}/_history/99`),
  info(8, 'https://elsewhere.example.org/fhir/Observation/1'),
];

function mixedClaim(): Resource {
  return {
    resourceType: 'Claim',
    id: MIXED,
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    use: 'claim',
    patient: { reference: `Patient/${PATIENT.bruno}` },
    created: '2024-02-21T09:00:00Z',
    insurer: { reference: 'Organization/org-insurer' },
    provider: { reference: 'Organization/org-hospital' },
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    supportingInfo: mixedEvidence,
    insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${B.coverage}` } }],
  } as Resource;
}

function mixedEob(): Resource {
  return {
    resourceType: 'ExplanationOfBenefit',
    id: MIXED_EOB,
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    use: 'claim',
    patient: { reference: `Patient/${PATIENT.bruno}` },
    created: '2024-03-01T09:00:00Z',
    insurer: { reference: 'Organization/org-insurer' },
    provider: { reference: 'Organization/org-hospital' },
    outcome: 'complete',
    supportingInfo: mixedEvidence.slice(0, 3),
    insurance: [{ focal: true, coverage: { reference: `Coverage/${B.coverage}` } }],
  } as Resource;
}

/** Entries after the claim, by their evidence status. */
function byStatus(bundle: Bundle): Record<string, BundleEntry[]> {
  const out: Record<string, BundleEntry[]> = {};
  for (const e of (bundle.entry ?? []).slice(1)) (out[evidenceMarkOf(e).status as string] ??= []).push(e);
  return out;
}
const refOf = (e: BundleEntry): string => evidenceMarkOf(e).reference as string;

describe('Claim/$evidence', () => {
  let f: ConsentFixture;
  let insurer: Client;
  let verifierKey: string;

  before(async () => {
    f = await startConsentFixture();
    insurer = await f.as(INSURER);
    verifierKey = f.t.deps.ledger.verifierKey;
    await f.put(mixedClaim() as unknown as Record<string, unknown>);
    await f.put(mixedEob() as unknown as Record<string, unknown>);
  });
  after(() => f.t.close());

  it('returns a collection Bundle, the claim first, then its evidence: disclosed, withheld by consent (no content), unavailable', async () => {
    const res = await insurer.get(`/fhir/Claim/${MIXED}/$evidence`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const bundle = res.body as Bundle;
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'collection');
    const first = bundle.entry?.[0] as BundleEntry;
    assert.equal(first.resource?.resourceType, 'Claim');
    assert.equal(first.resource?.id, MIXED);
    assert.equal(evidenceMarkOf(first).status, 'claim');
    const errors = validate(loadDefinitions(PROFILES_DIR), bundle).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    assert.deepEqual(errors, [], 'a valid R4 Bundle');

    const s = byStatus(bundle);
    assert.deepEqual(s.disclosed?.map(refOf), [obs(B.glucose), `DiagnosticReport/${B.geneticReport}`, obs(B.heartRate)], 'in order of first mention; the absolute URL made relative');
    assert.deepEqual(s.disclosed?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`), [obs(B.glucose), `DiagnosticReport/${B.geneticReport}`, obs(B.heartRate)]);
    assert.deepEqual(evidenceMarkOf(s.disclosed?.[0] as BundleEntry).sequences, [1, 6], 'one entry for a target named twice');

    assert.deepEqual(s.withheld?.map(refOf), [obs(B.hivTest)]);
    const withheld = s.withheld?.[0] as BundleEntry;
    assert.deepEqual(evidenceMarkOf(withheld).categories, ['hiv-and-infectious-disease', 'laboratory']);
    assert.equal(withheld.resource?.resourceType, 'OperationOutcome', 'an outcome stands in for the evidence');
    assert.equal((withheld.resource as { issue: Array<{ code: string }> }).issue[0]?.code, 'suppressed');
    assert.equal(evidenceMarkOf(withheld).receipt, undefined);
    const text = JSON.stringify(withheld);
    for (const leak of ['75622-1', 'Reactive', 'valueCodeableConcept', '2019-05-14', '_history']) assert.ok(!text.includes(leak), `the withheld entry carries none of its content (${leak})`);

    assert.deepEqual(s.unavailable?.map(refOf), ['Observation/no-such-observation', `Observation/${B.weight}/_history/99`, 'https://elsewhere.example.org/fhir/Observation/1']);
    for (const e of s.unavailable ?? []) {
      assert.equal((e.resource as { issue: Array<{ code: string }> }).issue[0]?.code, 'not-found');
      assert.deepEqual(evidenceMarkOf(e).categories, []);
    }
  });

  it('evidence outside the token’s scopes reads exactly like evidence that does not exist', async () => {
    // No scope on DiagnosticReport at all, and Observations of the laboratory category only.
    const narrow = await f.as({ ...INSURER, scope: 'system/Claim.rs system/Observation.rs?category=laboratory' });
    const res = await narrow.get(`/fhir/Claim/${MIXED}/$evidence`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = byStatus(res.body as Bundle);
    const report = s.unavailable?.find((e) => refOf(e) === `DiagnosticReport/${B.geneticReport}`);
    const missing = s.unavailable?.find((e) => refOf(e) === 'Observation/no-such-observation');
    assert.ok(report && missing, 'both unavailable');
    const shape = (e: BundleEntry) => JSON.stringify(e).split(refOf(e)).join('X').replace(/"valuePositiveInt":\d+/g, '').replace(/sequence = \d+/g, '');
    assert.equal(shape(report), shape(missing));
    const heartRate = s.unavailable?.find((e) => refOf(e) === obs(B.heartRate));
    assert.ok(heartRate, 'a vital sign is outside a laboratory-only scope');
    assert.equal(shape(heartRate), shape(missing));
    assert.deepEqual(s.disclosed?.map(refOf), [obs(B.glucose)]);
    assert.deepEqual(s.withheld?.map(refOf), [obs(B.hivTest)], 'inside the scope, withheld by consent');
  });

  it('a version-specific reference returns that version; the scenario claims carry the billed version of the blood pressure', async () => {
    const res = await insurer.get(`/fhir/Claim/${A.claim}/$evidence`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const bp = byStatus(res.body as Bundle).disclosed?.find((e) => refOf(e) === `Observation/${A.bloodPressure}/_history/1`);
    assert.equal(bp?.resource?.meta?.versionId, '1');
    assert.equal(byStatus(res.body as Bundle).withheld, undefined, 'Alice denies the employer, not the insurer');
  });

  it('every receipt verifies offline with the log’s public key, and fails once the resource bytes change', async () => {
    await f.t.deps.ledger.checkpointNow();
    await f.t.deps.ledger.outbox.drain();
    const res = await insurer.get(`/fhir/Claim/${MIXED}/$evidence`);
    const withResources = ((res.body as Bundle).entry ?? []).filter((e) => ['claim', 'disclosed'].includes(evidenceMarkOf(e).status as string));
    assert.equal(withResources.length, 4);
    for (const e of withResources) {
      const mark = evidenceMarkOf(e);
      assert.equal(mark.verdict, 'verified', `${refOf(e) ?? 'the claim'} is anchored`);
      const record = evidenceRecord(e.resource as Resource);
      const ok = verifyReceipt(mark.receipt, { verifierKey, record });
      assert.equal(ok.verdict, 'verified', JSON.stringify(ok.checks));
      const tampered = { ...(e.resource as Resource), id: e.resource?.id, language: 'x-altered' } as Resource;
      assert.equal(verifyReceipt(mark.receipt, { verifierKey, record: evidenceRecord(tampered) }).verdict, 'mismatch');
    }
    const glucose = withResources.find((e) => refOf(e) === obs(B.glucose)) as BundleEntry;
    const changed = { ...(glucose.resource as Resource), valueQuantity: { value: 55, unit: 'mg/dL' } } as Resource;
    assert.equal(verifyReceipt(evidenceMarkOf(glucose).receipt, { verifierKey, record: evidenceRecord(changed) }).verdict, 'mismatch');
  });

  it('works the same on ExplanationOfBenefit', async () => {
    const res = await insurer.get(`/fhir/ExplanationOfBenefit/${MIXED_EOB}/$evidence`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = byStatus(res.body as Bundle);
    assert.equal((res.body as Bundle).entry?.[0]?.resource?.resourceType, 'ExplanationOfBenefit');
    assert.deepEqual([s.disclosed?.map(refOf), s.withheld?.map(refOf), s.unavailable?.map(refOf)], [[obs(B.glucose)], [obs(B.hivTest)], ['Observation/no-such-observation']]);
  });

  it('is for insurers acting for payment: another purpose or role is a 403 that says why, before anything is read', async () => {
    const attachment = await (await f.as({ ...INSURER, purpose_of_use: ['CLMATTCH'] })).get(`/fhir/Claim/${MIXED}/$evidence`);
    assert.equal(attachment.status, 200, 'CLMATTCH is in the payment group');
    const operations = await f.as({ ...INSURER, purpose_of_use: ['HOPERAT'] });
    const wrongPurpose = await operations.get(`/fhir/Claim/${MIXED}/$evidence`);
    assert.equal(wrongPurpose.status, 403);
    assert.equal(wrongPurpose.body.resourceType, 'OperationOutcome');
    assert.match(JSON.stringify(wrongPurpose.body), /payment purpose/);
    assert.equal((await operations.get('/fhir/Claim/no-such-claim/$evidence')).status, 403, 'the same 403 whether or not the claim exists');

    for (const who of [EMPLOYER, clinician('pract-1'), { ...EMPLOYER, purpose_of_use: ['HPAYMT'] }]) {
      const res = await (await f.as(who)).get(`/fhir/Claim/${MIXED}/$evidence`);
      assert.equal(res.status, 403, JSON.stringify(who));
      assert.match(JSON.stringify(res.body), /insurers/);
    }
  });

  it('an unknown claim is a 404; bad targets and parameters are 4xx OperationOutcomes', async () => {
    const unknown = await insurer.get('/fhir/Claim/no-such-claim/$evidence');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.issue[0].code, 'not-found');
    assert.equal((await insurer.get(`/fhir/Patient/${PATIENT.bruno}/$evidence`)).status, 404);
    const param = await insurer.get(`/fhir/Claim/${MIXED}/$evidence?include=all`);
    assert.equal(param.status, 400);
    assert.equal(param.body.resourceType, 'OperationOutcome');
    const post = await insurer.post(`/fhir/Claim/${MIXED}/$evidence`, { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'y' }] });
    assert.equal(post.status, 400);
    const empty = await insurer.post(`/fhir/Claim/${MIXED}/$evidence`, { resourceType: 'Parameters' });
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    // A `parameter` that is an object, not an array, is malformed (as for $export), not an empty list.
    const notList = await insurer.post(`/fhir/Claim/${MIXED}/$evidence`, { resourceType: 'Parameters', parameter: { name: 'x', valueString: 'y' } });
    assert.equal(notList.status, 400, JSON.stringify(notList.body));
    assert.equal(notList.body.resourceType, 'OperationOutcome');
    assert.match(JSON.stringify(notList.body.issue), /Parameters\.parameter must be an array/);
    const notParameters = await insurer.post(`/fhir/Claim/${MIXED}/$evidence`, { resourceType: 'Basic' });
    assert.equal(notParameters.status, 400, JSON.stringify(notParameters.body));
    assert.match(JSON.stringify(notParameters.body.issue), /must be a Parameters resource/);
  });

  it('a deleted claim is a 404, like one that never existed (its tombstone has no content to read)', async () => {
    const gone = { ...(mixedClaim() as unknown as Record<string, unknown>), id: 'evidence-deleted' };
    await f.put(gone);
    assert.equal((await insurer.get('/fhir/Claim/evidence-deleted/$evidence')).status, 200);
    await f.remove('Claim', 'evidence-deleted');
    const res = await insurer.get('/fhir/Claim/evidence-deleted/$evidence');
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body.issue[0].code, 'not-found');
  });

  it('the AuditEvent lists the disclosed versions and the Consent that withheld the rest', async () => {
    const res = await insurer.get(`/fhir/Claim/${MIXED}/$evidence`);
    assert.equal(res.status, 200);
    const glucose = byStatus(res.body as Bundle).disclosed?.find((e) => refOf(e) === obs(B.glucose))?.resource as Resource;
    const events = await f.admin.get(`/fhir/AuditEvent?patient=Patient/${PATIENT.bruno}&_sort=-date&_count=50`);
    assert.equal(events.status, 200, JSON.stringify(events.body));
    const event = ((events.body as Bundle).entry ?? [])
      .map((e) => e.resource as AuditEvent)
      .find((e) => e.subtype?.some((c) => c.system === OPERATION_SYSTEM && c.code === 'evidence'));
    assert.ok(event, 'the request is in Bruno’s trail');
    const entities = (event.entity ?? []).map((x) => x.what?.reference);
    assert.ok(entities.includes(`${obs(B.glucose)}/_history/${glucose.meta?.versionId}`), `disclosed evidence listed: ${entities.join(', ')}`);
    assert.ok(entities.includes(`Claim/${MIXED}/_history/1`));
    assert.ok(!entities.some((r) => r?.startsWith(obs(B.hivTest))), 'withheld evidence is not listed as disclosed');
    const consent = event.extension?.find((x) => x.url === CONSENT_DECISION_EXTENSION)?.extension ?? [];
    assert.equal(consent.find((x) => x.url === 'decision')?.valueCode, 'partial');
    assert.ok(consent.some((x) => x.url === 'deciding' && x.valueReference?.reference?.startsWith(`Consent/${CONSENT.brunoHiv}/_history/`)), JSON.stringify(consent));
  });

  it('a Consent change decides the very next request: withheld while it is active, disclosed again once revoked', async () => {
    const phq9 = obs(A.phq9FollowUp);
    const statusOf = async (): Promise<string | undefined> => {
      const res = await insurer.get(`/fhir/Claim/${A.claim}/$evidence`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return ((res.body as Bundle).entry ?? []).map(evidenceMarkOf).find((m) => m.reference === phq9)?.status;
    };
    assert.equal(await statusOf(), 'disclosed');
    const consent = {
      resourceType: 'Consent',
      id: 'alice-insurer-phq9',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${PATIENT.alice}` },
      dateTime: '2024-06-01T09:00:00Z',
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
      provision: {
        type: 'deny',
        actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/org-insurer' } }],
        action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }],
        code: [{ coding: [{ system: 'http://loinc.org', code: '44261-6' }] }],
      },
    };
    await f.put(consent);
    assert.equal(await statusOf(), 'withheld');
    await f.put({ ...consent, status: 'inactive' });
    assert.equal(await statusOf(), 'disclosed');
  });
});
