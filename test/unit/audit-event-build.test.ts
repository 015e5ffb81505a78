import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { validateTypedValue } from '@medplum/core';
import type { AuditEvent, AuditEventEntity, Extension, StructureDefinition } from '@medplum/fhirtypes';
import {
  AUDIT_EVENT_PROFILE,
  BREAK_GLASS_LABEL,
  CONSENT_DECISION_EXTENSION,
  CONSENT_DECISIONS,
  CONSENT_MODES,
  OPERATION_SYSTEM,
  RESTFUL_INTERACTION_SYSTEM,
} from '../../server/src/audit/audit-codes.js';
import { type AuditedAccess, MAX_OUTCOME_DESC, buildAuditEvents } from '../../server/src/audit/build-audit-event.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { validate } from '../../server/src/fhir/validation.js';
import { AUDIT_TEST_BASE, sampleAccess } from '../helpers/audited-access.js';

/**
 * The BALP-shaped AuditEvent builder (issue 6, point 1) and the Custodian AuditEvent profile:
 * every event the builder produces validates against the profile, and the profile's invariants
 * catch the shapes the builder must never produce.
 */
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const errors = (e: AuditEvent) => validate(defs, e).filter((i) => i.severity === 'error' || i.severity === 'fatal');

const BASE = AUDIT_TEST_BASE;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

const access = sampleAccess;

const isPatient = (e: AuditEventEntity) => e.type?.code === '1' && e.role?.code === '1';
const isData = (e: AuditEventEntity) => e.type?.code === '2' && e.role?.code === '4';
const isQuery = (e: AuditEventEntity) => e.role?.code === '24';
const isRequestId = (e: AuditEventEntity) => e.type?.code === 'XrequestId';
const patientOf = (e: AuditEvent) => e.entity?.find(isPatient)?.what?.reference;
const dataOf = (e: AuditEvent) => (e.entity ?? []).filter(isData).map((x) => x.what?.reference as string);
const requestIdOf = (e: AuditEvent) => e.entity?.find(isRequestId)?.what?.identifier?.value;
const hasBtg = (codings: readonly { system?: string; code?: string }[] | undefined) => (codings ?? []).some((c) => c.system === ACT_CODE && c.code === 'BTG');
const consentPart = (e: AuditEvent, part: string) =>
  e.extension?.find((x) => x.url === CONSENT_DECISION_EXTENSION)?.extension?.filter((x) => x.url === part) ?? [];

function assertAllValid(events: readonly AuditEvent[]): void {
  for (const e of events) assert.deepEqual(errors(e), [], `${patientOf(e) ?? 'no patient'}: ${JSON.stringify(e)}`);
}

describe('the Custodian AuditEvent profiles', () => {
  it('load with snapshots, and the break-the-glass label is the one $break-glass-report searches', () => {
    const sd = defs.profile(AUDIT_EVENT_PROFILE);
    assert.equal(sd?.type, 'AuditEvent');
    assert.ok(sd?.snapshot?.element?.some((e) => e.path === 'AuditEvent.subtype' && e.min === 1));
    const ext = defs.profile(CONSENT_DECISION_EXTENSION);
    assert.equal(ext?.type, 'Extension');
    assert.ok(ext?.snapshot?.element?.some((e) => e.sliceName === 'decision' && e.min === 1));
  });
});

// ----------------------------------------------------------------------------------------------
// interactions × outcomes × consent modes
// ----------------------------------------------------------------------------------------------

/** Written out here rather than imported, so a wrong mapping in audit-codes.ts fails. */
const INTERACTIONS: ReadonlyArray<{ interaction: string; method: AuditedAccess['method']; raw: string; action: string; query: boolean; operation?: string }> = [
  { interaction: 'read', method: 'GET', raw: 'Observation/o1', action: 'R', query: false },
  { interaction: 'vread', method: 'GET', raw: 'Observation/o1/_history/2', action: 'R', query: false },
  { interaction: 'history-instance', method: 'GET', raw: 'Observation/o1/_history', action: 'R', query: true },
  { interaction: 'history-type', method: 'GET', raw: 'Observation/_history?_since=2025-01-01', action: 'R', query: true },
  { interaction: 'history-system', method: 'GET', raw: '_history', action: 'R', query: true },
  { interaction: 'search-type', method: 'GET', raw: 'Observation?patient=p1', action: 'E', query: true },
  { interaction: 'search-system', method: 'GET', raw: '?_type=Observation', action: 'E', query: true },
  { interaction: 'create', method: 'POST', raw: 'Observation', action: 'C', query: false },
  { interaction: 'update', method: 'PUT', raw: 'Observation/o1', action: 'U', query: false },
  { interaction: 'patch', method: 'PATCH', raw: 'Observation/o1', action: 'U', query: false },
  { interaction: 'delete', method: 'DELETE', raw: 'Observation/o1', action: 'D', query: false },
  { interaction: 'batch', method: 'POST', raw: '', action: 'E', query: false },
  { interaction: 'transaction', method: 'POST', raw: '', action: 'E', query: false },
  { interaction: 'capabilities', method: 'GET', raw: 'metadata', action: 'R', query: false },
  { interaction: 'operation', method: 'GET', raw: 'Patient/p1/$consent-decision?category=genetic', action: 'E', query: true, operation: 'consent-decision' },
];
const STATUSES: ReadonlyArray<[number, string]> = [[200, '0'], [304, '0'], [401, '4'], [403, '4'], [422, '4'], [500, '8']];
const CONSENTS: ReadonlyArray<AuditedAccess['consent']> = [
  undefined,
  { mode: 'exempt', decision: 'not-applicable' },
  { mode: 'enforce', decision: 'permit', deciding: ['Consent/c1/_history/3'], purposeGroup: 'treatment' },
  { mode: 'enforce', decision: 'partial', deciding: ['Consent/c2/_history/1', 'Consent/c1/_history/3'], purposeGroup: 'research' },
  { mode: 'enforce', decision: 'deny', deciding: ['Consent/c1/_history/3'] },
  { mode: 'break-glass', decision: 'permit', purposeGroup: 'emergency' },
];

describe('buildAuditEvents: interactions × outcomes × consent modes', () => {
  for (const row of INTERACTIONS) {
    it(`${row.interaction}: type, subtype, action, outcome, agents, query entity, and every event valid`, () => {
      for (const [status, outcome] of STATUSES) {
        for (const consent of CONSENTS) {
          const ok = status < 400;
          const a = access({
            interaction: row.interaction,
            method: row.method,
            rawRequest: row.raw,
            ...(row.operation ? { operation: row.operation } : {}),
            status,
            ...(ok ? {} : { outcomeText: `failed with ${status}` }),
            resources: ok ? [{ type: 'Observation', id: 'o1', versionId: '2', patients: ['p1'], breakGlass: consent?.mode === 'break-glass' }] : [],
            patients: ['p1'],
            ...(consent ? { consent } : {}),
          });
          const events = buildAuditEvents(a);
          const where = `${row.interaction} ${status} ${consent?.mode ?? 'no consent'}/${consent?.decision ?? ''}`;
          assert.equal(events.length, 1, where);
          const e = events[0] as AuditEvent;
          assert.deepEqual(errors(e), [], where);
          assert.deepEqual(e.meta?.profile, [AUDIT_EVENT_PROFILE]);
          assert.deepEqual([e.type.system, e.type.code], ['http://terminology.hl7.org/CodeSystem/audit-event-type', 'rest']);
          assert.deepEqual(
            e.subtype?.map((s) => [s.system, s.code]),
            [[RESTFUL_INTERACTION_SYSTEM, row.interaction], ...(row.operation ? [[OPERATION_SYSTEM, row.operation]] : [])],
            where,
          );
          assert.equal(e.action, row.action, where);
          assert.equal(e.outcome, outcome, where);
          assert.equal(e.outcomeDesc, ok ? undefined : `failed with ${status}`);
          assert.equal(e.recorded, a.recorded);
          assert.deepEqual(e.purposeOfEvent, [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] }]);
          assert.equal(e.source.site, BASE);

          const requestors = e.agent.filter((g) => g.requestor);
          assert.equal(requestors.length, 1);
          assert.deepEqual(requestors[0]?.who, { reference: 'Practitioner/d1' });
          assert.equal(requestors[0]?.altId, 'user-1');
          const client = e.agent.find((g) => g.who?.identifier?.system === 'urn:ietf:rfc:6749:client_id');
          assert.equal(client?.who?.identifier?.value, 'clinician-app');
          assert.deepEqual(client?.network, { address: '10.0.0.7', type: '2' });

          assert.equal(patientOf(e), 'Patient/p1');
          assert.deepEqual(dataOf(e), ok ? ['Observation/o1/_history/2'] : []);
          const query = e.entity?.filter(isQuery) ?? [];
          const wantQuery = (row.query || !ok) && row.raw !== '';
          assert.equal(query.length, wantQuery ? 1 : 0, where);
          if (wantQuery) {
            assert.equal(Buffer.from(query[0]?.query as string, 'base64').toString('utf8'), row.raw);
            assert.equal(query[0]?.description, row.raw);
          }

          const breakGlass = ok && consent?.mode === 'break-glass';
          assert.equal(hasBtg(e.meta?.security), breakGlass, where);
          assert.equal(consentPart(e, 'decision')[0]?.valueCode, consent?.decision);
          assert.equal(consentPart(e, 'mode')[0]?.valueCode, consent?.mode);
          assert.deepEqual(consentPart(e, 'deciding').map((x) => x.valueReference?.reference), [...(consent?.deciding ?? [])].sort());
        }
      }
    });
  }

  it('every consent decision × mode the codes name is accepted by the profile', () => {
    for (const decision of CONSENT_DECISIONS) {
      for (const mode of CONSENT_MODES) {
        const events = buildAuditEvents(access({ resources: [{ type: 'Observation', id: 'o1', versionId: '1', patients: ['p1'], breakGlass: true }], consent: { decision, mode } }));
        assertAllValid(events);
      }
    }
  });

  it('refuses an interaction routes.ts does not have', () => {
    assert.throws(() => buildAuditEvents(access({ interaction: 'search' })), RangeError);
  });

  it('an operation without a name records the interaction only', () => {
    const [e] = buildAuditEvents(access({ interaction: 'operation', rawRequest: 'Patient/$x' }));
    assert.deepEqual(e?.subtype?.map((s) => s.code), ['operation']);
    assert.deepEqual(errors(e as AuditEvent), []);
  });
});

// ----------------------------------------------------------------------------------------------
// one event per patient
// ----------------------------------------------------------------------------------------------

describe('buildAuditEvents: one event per patient (BALP), bounded', () => {
  const search = access({
    rawRequest: 'Observation?code=1234-5&_include=Observation:subject',
    resources: [
      { type: 'Observation', id: 'o1', versionId: '1', patients: ['p1'] },
      { type: 'Observation', id: 'o2', versionId: '4', patients: ['p2'] },
      { type: 'Observation', id: 'o3', versionId: '1', patients: ['p1'] },
      { type: 'Patient', id: 'p2', versionId: '2', patients: ['p2'] },
      { type: 'Group', id: 'g1', versionId: '7', patients: ['p1', 'p2', 'p3'] },
      { type: 'Organization', id: 'org1', versionId: '1', patients: [] },
      { type: 'Practitioner', id: 'd9', patients: [] },
    ],
    patients: ['p4'],
    consent: { mode: 'enforce', decision: 'partial', deciding: ['Consent/c4/_history/1'] },
  });
  const events = buildAuditEvents(search);

  it('writes one event per distinct patient plus one for data in no compartment, all valid', () => {
    assert.deepEqual(events.map(patientOf), ['Patient/p1', 'Patient/p2', 'Patient/p3', 'Patient/p4', undefined]);
    assertAllValid(events);
  });

  it("each patient's event holds only that patient's resources; a Group appears in each member's", () => {
    assert.deepEqual(events.map(dataOf), [
      ['Group/g1/_history/7', 'Observation/o1/_history/1', 'Observation/o3/_history/1'],
      ['Group/g1/_history/7', 'Observation/o2/_history/4', 'Patient/p2/_history/2'],
      ['Group/g1/_history/7'],
      [],
      ['Organization/org1/_history/1', 'Practitioner/d9'],
    ]);
    for (const e of events) assert.ok((e.entity ?? []).filter(isPatient).length <= 1);
  });

  it('every event carries the query and the same request id', () => {
    for (const e of events) {
      const q = e.entity?.filter(isQuery) ?? [];
      assert.equal(q.length, 1);
      assert.equal(q[0]?.description, search.rawRequest);
    }
    const ids = new Set(events.map(requestIdOf));
    assert.equal(ids.size, 1);
    assert.match([...ids][0] as string, /^[0-9a-f]{32}$/);
  });

  it('requests differ in their request ids', () => {
    const other = buildAuditEvents({ ...search, recorded: '2025-03-01T12:00:00.001Z' });
    assert.notEqual(requestIdOf(other[0] as AuditEvent), requestIdOf(events[0] as AuditEvent));
  });

  it('a request whose data all lies in patient compartments writes no patient-less event', () => {
    const out = buildAuditEvents(access({ resources: [{ type: 'Observation', id: 'o1', versionId: '1', patients: ['p1'] }], patients: ['p1', 'p2'] }));
    assert.deepEqual(out.map(patientOf), ['Patient/p1', 'Patient/p2']);
    assertAllValid(out);
  });

  it('is deterministic: the same access, in any order, gives the same events', () => {
    assert.deepEqual(buildAuditEvents(search), events);
    const shuffled: AuditedAccess = {
      ...search,
      resources: [...search.resources].reverse().map((r) => ({ ...r, patients: [...r.patients].reverse() })),
      patients: [...search.patients, 'p1'],
    };
    assert.deepEqual(buildAuditEvents(shuffled), events);
  });

  it('events share no objects: changing one changes no other', () => {
    const out = buildAuditEvents(search);
    (out[0] as AuditEvent).agent[0]!.altId = 'changed';
    (out[0] as AuditEvent).type.code = 'changed';
    assert.equal((out[1] as AuditEvent).agent[0]?.altId, 'user-1');
    assert.deepEqual(buildAuditEvents(search), events);
  });

  const idArb = fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6');
  const resourceArb = fc.record({
    type: fc.constantFrom('Observation', 'Condition', 'Group', 'Organization'),
    id: fc.constantFrom('a', 'b', 'c', 'd'),
    versionId: fc.constantFrom('1', '2'),
    patients: fc.array(idArb, { maxLength: 3 }),
    breakGlass: fc.boolean(),
  });
  const accessArb = fc.record({
    resources: fc.array(resourceArb, { maxLength: 12 }),
    patients: fc.array(idArb, { maxLength: 3 }),
    mode: fc.constantFrom<'exempt' | 'enforce' | 'break-glass'>('exempt', 'enforce', 'break-glass'),
  });

  it('property: at most 1 + distinct patients events, every resource in exactly the events of its patients (or the patient-less one), all valid', () => {
    fc.assert(
      fc.property(accessArb, ({ resources, patients, mode }) => {
        const a = access({ resources, patients, consent: { mode, decision: 'permit' } });
        const out = buildAuditEvents(a);
        const distinct = new Set([...patients, ...resources.flatMap((r) => r.patients)]);
        assert.ok(out.length <= 1 + distinct.size);
        assert.ok(out.length >= Math.max(1, distinct.size));
        for (const r of resources) {
          const ref = `${r.type}/${r.id}/_history/${r.versionId}`;
          const holders = out.filter((e) => dataOf(e).includes(ref)).map((e) => patientOf(e) ?? '-');
          // The same version may be listed twice with different patients: it then belongs to all of them.
          const owners = new Set(resources.filter((x) => `${x.type}/${x.id}/_history/${x.versionId}` === ref).flatMap((x) => x.patients));
          assert.deepEqual(holders.sort(), owners.size > 0 ? [...owners].map((p) => `Patient/${p}`).sort() : ['-']);
        }
        for (const e of out) {
          assert.deepEqual(errors(e), []);
          assert.equal(hasBtg(e.meta?.security), (e.entity ?? []).some((x) => hasBtg(x.securityLabel)));
        }
        assert.equal(new Set(out.map(requestIdOf)).size, 1);
      }),
      // Each run validates every event it builds (about 10 ms an event): 60 runs keep the file quick.
      { numRuns: 60 },
    );
  });
});

// ----------------------------------------------------------------------------------------------
// break-the-glass, no-patient and failed requests
// ----------------------------------------------------------------------------------------------

describe('buildAuditEvents: break-the-glass', () => {
  const a = access({
    principal: { subject: 'er-doc', clientId: 'er-app', who: 'Practitioner/er', roles: ['clinician'], purposeOfUse: ['ETREAT', 'BTG'] },
    resources: [
      { type: 'Observation', id: 'hiv', versionId: '1', patients: ['p1'], breakGlass: true },
      { type: 'Observation', id: 'bp', versionId: '3', patients: ['p1'] },
      { type: 'Observation', id: 'bp2', versionId: '1', patients: ['p2'] },
    ],
    patients: ['p1', 'p2'],
    consent: { mode: 'break-glass', decision: 'permit', deciding: ['Consent/c1/_history/2'], purposeGroup: 'emergency' },
  });
  const events = buildAuditEvents(a);

  it("labels the event and the resources shown by breaking the glass, in that patient's event only", () => {
    assert.deepEqual(events.map((e) => [patientOf(e), hasBtg(e.meta?.security)]), [['Patient/p1', true], ['Patient/p2', false]]);
    const labelled = (events[0]?.entity ?? []).filter((x) => hasBtg(x.securityLabel)).map((x) => x.what?.reference);
    assert.deepEqual(labelled, ['Observation/hiv/_history/1']);
    assertAllValid(events);
  });

  it('records the purposes, the mode and the purpose group', () => {
    const e = events[0] as AuditEvent;
    assert.deepEqual(e.purposeOfEvent?.map((c) => c.coding?.[0]?.code), ['ETREAT', 'BTG']);
    assert.equal(consentPart(e, 'mode')[0]?.valueCode, 'break-glass');
    assert.equal(consentPart(e, 'purposeGroup')[0]?.valueCode, 'emergency');
  });

  it('a breakGlass flag outside break-glass mode labels nothing', () => {
    const out = buildAuditEvents({ ...a, consent: { mode: 'enforce', decision: 'permit' } });
    for (const e of out) {
      assert.equal(hasBtg(e.meta?.security), false);
      assert.ok((e.entity ?? []).every((x) => !hasBtg(x.securityLabel)));
    }
    assertAllValid(out);
  });
});

describe('buildAuditEvents: requests about no patient', () => {
  it('a search over non-patient data writes one event without a patient', () => {
    const out = buildAuditEvents(access({ rawRequest: 'Organization?name=Acme', resources: [{ type: 'Organization', id: 'o', versionId: '1', patients: [] }] }));
    assert.equal(out.length, 1);
    assert.equal(patientOf(out[0] as AuditEvent), undefined);
    assert.deepEqual(dataOf(out[0] as AuditEvent), ['Organization/o/_history/1']);
    assertAllValid(out);
  });

  it('an anonymous CapabilityStatement read: no purposes, roles or address, still one requestor', () => {
    const out = buildAuditEvents(access({
      interaction: 'capabilities',
      rawRequest: 'metadata',
      principal: { subject: 'anonymous', clientId: 'anonymous', roles: [], purposeOfUse: [] },
    }));
    assert.equal(out.length, 1);
    const e = out[0] as AuditEvent;
    assert.equal(e.purposeOfEvent, undefined);
    const user = e.agent.find((g) => g.requestor);
    assert.deepEqual(user?.who, { display: 'anonymous' });
    assert.equal(user?.role, undefined);
    assert.ok(e.agent.every((g) => g.network?.type !== '2'));
    assertAllValid(out);
  });
});

describe('buildAuditEvents: failed requests', () => {
  it('401 with a known identity: the patient asked about, the raw request, outcome 4', () => {
    const out = buildAuditEvents(access({ interaction: 'read', rawRequest: 'Patient/p1', resourceType: 'Patient', status: 401, outcomeText: 'The access token has expired', patients: ['p1'] }));
    assert.equal(out.length, 1);
    const e = out[0] as AuditEvent;
    assert.deepEqual([e.action, e.outcome, e.outcomeDesc], ['R', '4', 'The access token has expired']);
    assert.equal(patientOf(e), 'Patient/p1');
    assert.deepEqual(dataOf(e), []);
    assert.equal(e.entity?.find(isQuery)?.description, 'Patient/p1');
    assertAllValid(out);
  });

  it('403 refused by consent: decision deny with the deciding Consent, nothing shown', () => {
    const out = buildAuditEvents(access({
      interaction: 'read',
      rawRequest: 'Observation/hiv',
      status: 403,
      outcomeText: "Refused by the patient's consent",
      patients: ['p1'],
      consent: { mode: 'enforce', decision: 'deny', deciding: ['Consent/c1/_history/2'], purposeGroup: 'treatment' },
    }));
    const e = out[0] as AuditEvent;
    assert.equal(e.outcome, '4');
    assert.equal(consentPart(e, 'decision')[0]?.valueCode, 'deny');
    assert.deepEqual(consentPart(e, 'deciding').map((x) => x.valueReference?.reference), ['Consent/c1/_history/2']);
    assert.deepEqual(dataOf(e), []);
    assertAllValid(out);
  });

  it('422 on create: action C, outcome 4, the validation message clipped to a bounded length', () => {
    const long = `Observation.status: ${'x'.repeat(5000)}`;
    const out = buildAuditEvents(access({ interaction: 'create', method: 'POST', rawRequest: 'Observation', status: 422, outcomeText: long, patients: ['p1'] }));
    const e = out[0] as AuditEvent;
    assert.deepEqual([e.action, e.outcome], ['C', '4']);
    assert.equal(e.outcomeDesc?.length, MAX_OUTCOME_DESC);
    assert.ok(e.outcomeDesc?.startsWith('Observation.status: x'));
    assertAllValid(out);
  });

  it('the raw request is preserved exactly, malicious or not', () => {
    const raw = "Patient?name=%3Cscript%3E&name=<script>alert('x')</script>&given=Zoë&family=李";
    const [e] = buildAuditEvents(access({ rawRequest: raw, status: 400, outcomeText: 'Unknown parameter' }));
    const q = e?.entity?.find(isQuery);
    assert.equal(Buffer.from(q?.query as string, 'base64').toString('utf8'), raw);
    assert.equal(q?.description, raw);
    assert.deepEqual(errors(e as AuditEvent), []);
  });
});

describe('buildAuditEvents: only references, codes and the raw request', () => {
  it('entities and agents carry no other elements', () => {
    const events = buildAuditEvents(access({
      resources: [{ type: 'Observation', id: 'o1', versionId: '1', patients: ['p1'], breakGlass: true }],
      patients: ['p1'],
      consent: { mode: 'break-glass', decision: 'permit' },
    }));
    const allowedEntity = new Set(['what', 'type', 'role', 'securityLabel', 'description', 'query']);
    const allowedTop = new Set(['resourceType', 'meta', 'extension', 'type', 'subtype', 'action', 'recorded', 'outcome', 'outcomeDesc', 'purposeOfEvent', 'agent', 'source', 'entity']);
    for (const e of events) {
      for (const k of Object.keys(e)) assert.ok(allowedTop.has(k), k);
      for (const x of e.entity ?? []) for (const k of Object.keys(x)) assert.ok(allowedEntity.has(k), k);
      for (const x of e.entity ?? []) if (x.what?.reference) assert.match(x.what.reference, /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]+(\/_history\/[A-Za-z0-9\-.]+)?$/);
    }
  });
});

// ----------------------------------------------------------------------------------------------
// the profiles' invariants can fail
// ----------------------------------------------------------------------------------------------

describe('the AuditEvent profile refuses what the builder must never write', () => {
  const valid = buildAuditEvents(access({
    interaction: 'operation',
    operation: 'consent-decision',
    rawRequest: 'Patient/p1/$consent-decision',
    resources: [{ type: 'Observation', id: 'o1', versionId: '1', patients: ['p1'], breakGlass: true }],
    patients: ['p1'],
    consent: { mode: 'break-glass', decision: 'permit', deciding: ['Consent/c1/_history/1'], purposeGroup: 'emergency' },
  }))[0] as AuditEvent;

  it('the base event is valid', () => assert.deepEqual(errors(valid), []));

  const consentExt = (e: AuditEvent) => e.extension?.[0] as Extension;
  const part = (e: AuditEvent, url: string) => consentExt(e).extension?.find((x) => x.url === url) as Extension;
  const violations: Array<[string, (e: AuditEvent) => void, string]> = [
    ['type is not rest', (e) => { e.type = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110112' }; }, 'did not match expected pattern'],
    ['no subtype', (e) => { delete e.subtype; }, 'AuditEvent.subtype'],
    ['two interaction subtypes', (e) => { e.subtype?.push({ system: RESTFUL_INTERACTION_SYSTEM, code: 'read' }); }, 'cust-audit-1'],
    ['an operation code on a read', (e) => { e.subtype = [{ system: RESTFUL_INTERACTION_SYSTEM, code: 'read' }, { system: OPERATION_SYSTEM, code: 'x' }]; e.action = 'R'; }, 'cust-audit-2'],
    ['a subtype from elsewhere', (e) => { e.subtype?.push({ system: 'http://example.org/x', code: 'y' }); }, 'cust-audit-2'],
    ['search recorded as a read action', (e) => { e.action = 'R'; }, 'cust-audit-3'],
    ['two requestors', (e) => { e.agent[1]!.requestor = true; }, 'cust-audit-4'],
    ['no requestor', (e) => { e.agent[0]!.requestor = false; }, 'cust-audit-4'],
    ['requestor without who', (e) => { delete e.agent[0]!.who; }, 'cust-audit-4'],
    ['no source site', (e) => { delete e.source.site; }, 'cust-audit-5'],
    ['two patients in one event', (e) => { e.entity?.push({ ...(e.entity?.[0] as AuditEventEntity), what: { reference: 'Patient/p2' } }); }, 'cust-audit-6'],
    ['a patient entity that is not a Patient', (e) => { e.entity![0]!.what = { reference: 'Group/g1' }; }, 'cust-audit-6'],
    ['a query entity without the query', (e) => { delete e.entity?.find(isQuery)!.query; }, 'cust-audit-7'],
    ['no request id', (e) => { e.entity = e.entity?.filter((x) => !isRequestId(x)); }, 'cust-audit-8'],
    ['a foreign extension', (e) => { e.extension?.push({ url: 'https://example.org/x', valueString: 'y' }); }, 'cust-audit-9'],
    ['the consent extension twice', (e) => { e.extension?.push(structuredClone(consentExt(e))); }, 'cust-audit-9'],
    ['an unknown decision', (e) => { part(e, 'decision').valueCode = 'maybe'; }, 'cust-audit-10'],
    ['an unknown mode', (e) => { part(e, 'mode').valueCode = 'whatever'; }, 'cust-audit-10'],
    ['no mode', (e) => { consentExt(e).extension = consentExt(e).extension?.filter((x) => x.url !== 'mode'); }, 'cust-audit-10'],
    ['deciding is not a Consent', (e) => { part(e, 'deciding').valueReference = { reference: 'Patient/p1' }; }, 'cust-audit-10'],
    ['an unknown part', (e) => { consentExt(e).extension?.push({ url: 'reason', valueString: 'x' }); }, 'cust-audit-10'],
    ['BTG entity without the event label', (e) => { delete e.meta?.security; }, 'cust-audit-11'],
    ['event label without a BTG entity', (e) => { for (const x of e.entity ?? []) delete x.securityLabel; }, 'cust-audit-11'],
    ['BTG outside break-glass mode', (e) => { part(e, 'mode').valueCode = 'enforce'; }, 'cust-audit-12'],
  ];
  for (const [name, mutate, expected] of violations) {
    it(`refuses: ${name} (${expected})`, () => {
      const e = structuredClone(valid);
      mutate(e);
      const found = errors(e);
      assert.ok(
        found.some((i) => i.details?.text?.includes(expected) || i.expression?.some((x) => x.includes(expected))),
        JSON.stringify(found),
      );
    });
  }
});

describe('the consent-decision Extension profile', () => {
  const profile = defs.profile(CONSENT_DECISION_EXTENSION);
  const issues = (value: Extension) => {
    try {
      return validateTypedValue({ type: 'Extension', value }, { profile }).filter((i) => i.severity === 'error');
    } catch (err) {
      return ((err as { outcome?: { issue?: { severity?: string; details?: { text?: string } }[] } }).outcome?.issue ?? []).filter((i) => i.severity === 'error');
    }
  };
  const ext = (...parts: Extension[]): Extension => ({ url: CONSENT_DECISION_EXTENSION, extension: parts });
  const decision = (valueCode: string): Extension => ({ url: 'decision', valueCode });
  const mode = (valueCode: string): Extension => ({ url: 'mode', valueCode });

  it('its written-out snapshot carries every differential element unchanged', () => {
    const sd = profile as StructureDefinition;
    for (const diff of sd.differential?.element ?? []) {
      const snap = sd.snapshot?.element?.find((e) => e.id === diff.id);
      assert.ok(snap, `${diff.id} is in the snapshot`);
      for (const [key, value] of Object.entries(diff)) {
        if (key === 'constraint') for (const c of value as object[]) assert.ok(snap.constraint?.some((x) => JSON.stringify(x) === JSON.stringify(c)), `${diff.id} ${JSON.stringify(c)}`);
        else assert.deepEqual((snap as unknown as Record<string, unknown>)[key], value, `${diff.id}.${key}`);
      }
    }
  });

  it('accepts every extension the builder writes', () => {
    for (const consent of CONSENTS.filter((c) => c !== undefined)) {
      const [e] = buildAuditEvents(access({ consent }));
      assert.deepEqual(issues(e?.extension?.[0] as Extension), []);
    }
  });

  const cases: Array<[string, Extension, string]> = [
    ['unknown decision', ext(decision('maybe'), mode('enforce')), 'cust-acd-1'],
    ['unknown mode', ext(decision('permit'), mode('lenient')), 'cust-acd-2'],
    ['deciding not a Consent version', ext(decision('permit'), mode('enforce'), { url: 'deciding', valueReference: { reference: 'Consent/c1/x' } }), 'cust-acd-3'],
    ['an unknown part', ext(decision('permit'), mode('enforce'), { url: 'reason', valueString: 'x' }), 'cust-acd-4'],
    ['no decision', ext(mode('enforce')), "slice 'decision'"],
    ['a value on the extension itself', { url: CONSENT_DECISION_EXTENSION, valueCode: 'permit' }, 'Extension'],
  ];
  for (const [name, value, expected] of cases) {
    it(`refuses: ${name}`, () => {
      const found = issues(value);
      assert.ok(found.some((i) => JSON.stringify(i).includes(expected)), JSON.stringify(found));
    });
  }
});
