import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AuditEvent, Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import { buildAuditEvents, type AuditedAccess } from '../../server/src/audit/build-audit-event.js';
import { buildExportAuditEvent } from '../../server/src/audit/build-export-audit-event.js';
import type { Definitions } from '../../server/src/fhir/definitions.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { indexPlan } from '../../server/src/fhir/search/index-plan.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { scenarioResources } from '../../fixtures/consent-scenarios/scenarios.js';
import { generatePopulation } from '../../fixtures/population/index.js';
import { sampleAccess } from '../helpers/audited-access.js';
import { referenceIndex } from '../helpers/index-reference.js';

/**
 * computeIndex's fast path (a per-type plan, skipping absent elements, walking plain paths, entry
 * fast paths) must give exactly what the plain way gives: same keys in the same order, same
 * arrays in the same order. The plain way is referenceIndex (test/helpers/index-reference.ts, every parameter
 * as FHIRPath, a frozen copy of the code before the plan), and `computeIndex(defs, r, false, false)`
 * must agree with it too. Compared on the AuditEvents the audit trail writes, on generated
 * AuditEvent shapes the builder does not produce, and on the repository's fixtures (and
 * Synthea's bundles when ../shared/data is present).
 */
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const FIXTURES = resolve(fileURLToPath(new URL('../../fixtures', import.meta.url)));
const SYNTHEA = resolve(fileURLToPath(new URL('../../../shared/data/synthea-r4', import.meta.url)));

/** deepStrictEqual ignores key order; the stored document does not, so the JSON is compared too. */
function assertSame(r: Resource, d: Definitions = defs): void {
  const expected = referenceIndex(d, r);
  const where = `${r.resourceType}/${r.id ?? ''}: ${JSON.stringify(r)}`;
  for (const [label, actual] of [['fast', computeIndex(d, r)], ['FHIRPath only', computeIndex(d, r, false, false)]] as const) {
    assert.deepStrictEqual(actual, expected, `${label} ${where}`);
    assert.equal(JSON.stringify(actual), JSON.stringify(expected), `${label}, key order: ${where}`);
  }
}

const resourcesOf = (bundles: readonly Bundle[]): Resource[] =>
  bundles.flatMap((b) => (b.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined));

// ----------------------------------------------------------------------------------------------
// (a) AuditEvents from the real builders
// ----------------------------------------------------------------------------------------------

const access = sampleAccess;

const INTERACTIONS: ReadonlyArray<{ interaction: string; method: AuditedAccess['method']; raw: string; operation?: string }> = [
  { interaction: 'read', method: 'GET', raw: 'Observation/o1' },
  { interaction: 'vread', method: 'GET', raw: 'Observation/o1/_history/2' },
  { interaction: 'history-instance', method: 'GET', raw: 'Observation/o1/_history' },
  { interaction: 'history-system', method: 'GET', raw: '_history' },
  { interaction: 'search-type', method: 'GET', raw: 'Observation?patient=p1' },
  { interaction: 'search-system', method: 'GET', raw: '?_type=Observation' },
  { interaction: 'create', method: 'POST', raw: 'Observation' },
  { interaction: 'update', method: 'PUT', raw: 'Observation/o1' },
  { interaction: 'patch', method: 'PATCH', raw: 'Observation/o1' },
  { interaction: 'delete', method: 'DELETE', raw: 'Observation/o1' },
  { interaction: 'transaction', method: 'POST', raw: '' },
  { interaction: 'capabilities', method: 'GET', raw: 'metadata' },
  { interaction: 'operation', method: 'GET', raw: 'Patient/p1/$consent-decision?category=genetic', operation: 'consent-decision' },
];
const STATUSES = [200, 304, 401, 403, 500] as const;
const CONSENTS: ReadonlyArray<AuditedAccess['consent']> = [
  undefined,
  { mode: 'exempt', decision: 'not-applicable' },
  { mode: 'enforce', decision: 'partial', deciding: ['Consent/c2/_history/1', 'Consent/c1/_history/3'], purposeGroup: 'research' },
  { mode: 'enforce', decision: 'deny', deciding: ['Consent/c1/_history/3'] },
  { mode: 'break-glass', decision: 'permit', purposeGroup: 'emergency' },
];
const PRINCIPALS: ReadonlyArray<AuditedAccess['principal']> = [
  { subject: 'user-1', clientId: 'clinician-app', who: 'Practitioner/d1', roles: ['clinician'], purposeOfUse: ['TREAT'], sourceAddress: '10.0.0.7' },
  { subject: 'pat-7', clientId: 'patient-app', who: 'Patient/p7', roles: ['patient', 'patient'], purposeOfUse: ['PATRQT', 'TREAT'] },
  { subject: 'anonymous', clientId: 'anonymous', roles: [], purposeOfUse: [] },
  { subject: 'er-doc', clientId: 'er-app', who: 'Practitioner/er', roles: ['clinician', 'emergency'], purposeOfUse: ['ETREAT', 'BTG'], sourceAddress: '2001:db8::1' },
];

function builtAuditEvents(): AuditEvent[] {
  const out: AuditEvent[] = [];
  let i = 0;
  for (const row of INTERACTIONS) {
    for (const status of STATUSES) {
      for (const consent of CONSENTS) {
        const ok = status < 400;
        const principal = PRINCIPALS[i++ % PRINCIPALS.length] as AuditedAccess['principal'];
        out.push(
          ...buildAuditEvents(
            access({
              interaction: row.interaction,
              method: row.method,
              rawRequest: row.raw,
              ...(row.operation ? { operation: row.operation } : {}),
              status,
              principal,
              ...(ok ? {} : { outcomeText: `Échec: failed with ${status}` }),
              resources: ok
                ? [
                    { type: 'Observation', id: 'o1', versionId: '2', patients: ['p1'], breakGlass: consent?.mode === 'break-glass' },
                    { type: 'Group', id: 'g1', versionId: '7', patients: ['p1', 'p2'] },
                    { type: 'Organization', id: 'org1', patients: [] },
                  ]
                : [],
              patients: ok ? ['p1'] : ['p1', 'p3'],
              ...(consent ? { consent } : {}),
            }),
          ),
        );
      }
    }
  }
  const job = { recorded: '2025-03-02T00:00:00Z', method: 'GET' as const, rawRequest: 'Group/g1/$export?_type=Observation', status: 200, principal: PRINCIPALS[0]!, server: { baseUrl: 'https://custodian.test/fhir', name: 'Custodian test' } };
  out.push(buildExportAuditEvent({ ...job, integrity: 'DocumentReference/d1/_history/1' }, 'p1'), buildExportAuditEvent(job, undefined));
  // As the audit sink stores them: with an id.
  return out.map((e, n) => ({ ...e, id: `ae-${n}` }));
}

// ----------------------------------------------------------------------------------------------
// (b) generated AuditEvent shapes
// ----------------------------------------------------------------------------------------------

// No '' where an element holds one string: FHIRPath takes it for absent, the walked paths index
// it (invalid FHIR, which validation refuses; left as it was). Inside arrays both keep it.
const text = fc.constantFrom('Müller', 'SMITH', 'zoë', 'a b', ' ', 'Ünïcødé\u0301', 'x|y', 'plain');
const system = fc.constantFrom('http://dicom.nema.org/resources/ontology/DCM', 'http://terminology.hl7.org/CodeSystem/v3-ActReason', 'urn:s');
const code = fc.constantFrom('110153', 'TREAT', 'rest', 'read', '1', 'Ä');
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const coding = fc.record({ system: opt(system), code: opt(code), display: opt(text) });
const concept = fc.record({ coding: opt(fc.array(coding, { maxLength: 3 })), text: opt(text) });
const dateTime = fc.constantFrom('2025', '2025-03', '2025-03-01', '2025-03-01T12:00:00Z', '2025-03-01T12:00:00.5+02:00', '2025-02-30', 'not a date');
const reference = fc.oneof(
  fc.record({
    reference: fc.constantFrom(
      'Patient/p1', 'Patient/p1/_history/2', 'Practitioner/d1', 'urn:uuid:0c3151bd', 'https://other.example/fhir/Patient/p9', 'Patient?identifier=x', '#c1', '',
      'Patient/p1/_history/', 'Patient/p1/_history//x', 'https://h/fhir/Patient/p1/_history/1/_history/2', 'Patient/p1/_history/_history/3', 'Device/d|2',
    ),
  }),
  fc.record({ type: opt(fc.constantFrom('Patient', 'Device', '')), identifier: opt(fc.record({ system: opt(system), value: opt(code) })), display: opt(text) }),
  fc.record({ reference: fc.constantFrom('Patient/p2', 'Group/g1'), display: text }),
);
const agent = fc.record({
  type: opt(concept),
  role: opt(fc.array(concept, { maxLength: 2 })),
  who: opt(reference),
  altId: opt(code),
  name: opt(text),
  requestor: fc.boolean(),
  policy: opt(fc.array(fc.constantFrom('urn:policy:1', 'http://p/x|2', ''), { maxLength: 2 })),
  network: opt(fc.record({ address: opt(fc.constantFrom('10.0.0.7', 'Host.Example')), type: opt(fc.constantFrom('1', '2', '5')) })),
  purposeOfUse: opt(fc.array(concept, { maxLength: 2 })),
});
const entity = fc.record({
  what: opt(reference),
  type: opt(coding),
  role: opt(coding),
  lifecycle: opt(coding),
  securityLabel: opt(fc.array(coding, { maxLength: 2 })),
  name: opt(text),
  description: opt(text),
  query: opt(fc.constant('T2JzZXJ2YXRpb24=')),
});
const extension = fc.array(
  fc.oneof(
    fc.record({ url: fc.constant('urn:e'), valueCode: code }),
    fc.record({ url: fc.constant('urn:r'), valueReference: reference }),
    fc.record({ url: fc.constant('urn:n'), extension: fc.array(fc.record({ url: fc.constant('urn:n:x'), valueString: text }), { maxLength: 2 }) }),
  ),
  { maxLength: 3 },
);

const generatedAuditEvent = fc
  .record({
    id: opt(fc.constantFrom('a1', 'b2')),
    meta: opt(
      fc.record({
        profile: opt(fc.array(fc.constantFrom('https://custodian.example.org/fhir/StructureDefinition/custodian-audit-event', 'http://p|1'), { maxLength: 2 })),
        security: opt(fc.array(coding, { maxLength: 2 })),
        tag: opt(fc.array(coding, { maxLength: 2 })),
        source: opt(fc.constantFrom('urn:src', 'http://src.example/a b')),
        lastUpdated: opt(fc.constant('2025-03-01T12:00:00Z')),
      }),
    ),
    text: opt(fc.record({ status: fc.constant('generated'), div: fc.constantFrom('<div xmlns="http://www.w3.org/1999/xhtml">Read &amp; <b>Ünïcødé</b></div>', '<div/>') })),
    extension: opt(extension),
    type: opt(coding),
    subtype: opt(fc.array(coding, { maxLength: 3 })),
    action: opt(fc.constantFrom('C', 'R', 'U', 'D', 'E')),
    period: opt(fc.record({ start: opt(dateTime), end: opt(dateTime) })),
    recorded: opt(dateTime),
    outcome: opt(fc.constantFrom('0', '4', '8', '12')),
    outcomeDesc: opt(text),
    purposeOfEvent: opt(fc.array(concept, { maxLength: 3 })),
    agent: opt(fc.array(agent, { maxLength: 4 })),
    source: opt(fc.record({ site: opt(fc.constantFrom('https://custodian.test/fhir', 'Site')), observer: opt(reference), type: opt(fc.array(coding, { maxLength: 2 })) })),
    entity: opt(fc.array(entity, { maxLength: 5 })),
  })
  // Through JSON, as stored events are: plain objects (fast-check may build null-prototype ones).
  .map((r) => JSON.parse(JSON.stringify({ resourceType: 'AuditEvent', ...r })) as AuditEvent);

describe('computeIndex: the planned fast path gives the FHIRPath reference, key for key', () => {
  it('(a) on AuditEvents built by the audit trail over interactions × outcomes × consent × principals', () => {
    const events = builtAuditEvents();
    assert.ok(events.length > 300, `compared ${events.length}`);
    for (const e of events) assertSame(e);
  });

  it('(b) on generated AuditEvent shapes', () => {
    fc.assert(
      fc.property(generatedAuditEvent, (e) => assertSame(e)),
      { numRuns: 300 },
    );
  });

  it('(b) on an AuditEvent with nothing but its type, and on every element alone', () => {
    assertSame({ resourceType: 'AuditEvent' } as AuditEvent);
    const [full] = builtAuditEvents();
    for (const [k, v] of Object.entries(full as AuditEvent)) {
      if (k !== 'resourceType') assertSame({ resourceType: 'AuditEvent', [k]: v } as unknown as AuditEvent);
    }
  });

  it('(c) on the generated population, the consent scenarios and the search-conformance bundles', () => {
    const conformance = ['bundle.json', 'late-bundle.json'].map((f) => JSON.parse(readFileSync(join(FIXTURES, 'search-conformance', f), 'utf8')) as Bundle);
    const resources = [...resourcesOf(generatePopulation({ seed: 11, patients: 6 })), ...scenarioResources(), ...resourcesOf(conformance)];
    for (const r of resources) assertSame(r);
    assert.ok(resources.length > 200, `compared ${resources.length}`);
    assert.ok(new Set(resources.map((r) => r.resourceType)).size > 15);
  });

  it('(c) on Synthea bundles when ../shared/data is present', (t) => {
    if (!existsSync(SYNTHEA)) return t.skip('no ../shared/data/synthea-r4');
    const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort().slice(0, 4);
    const resources = resourcesOf(files.map((f) => JSON.parse(readFileSync(join(SYNTHEA, f), 'utf8')) as Bundle));
    for (const r of resources) assertSame(r);
    assert.ok(resources.length > 500, `compared ${resources.length}`);
  });

  it('a different Definitions gets its own plan, never the plan of another', () => {
    const claim = { resourceType: 'Claim', id: 'c1', use: 'claim', patient: { reference: 'Patient/p1' }, supportingInfo: [{ sequence: 1, category: { text: 'x' }, valueReference: { reference: 'Observation/o1' } }] } as unknown as Resource;
    const fewer: Definitions = { ...defs, searchParameters: (t: string) => Object.fromEntries(Object.entries(defs.searchParameters(t)).filter(([c]) => c !== 'use')) };
    // medplum caches a parameter's parsed FHIRPath by type and code, so only the walked path can show a changed expression.
    const altered: Definitions = {
      ...defs,
      searchParameters: (t: string) => {
        const params = defs.searchParameters(t);
        return t === 'Claim' ? { ...params, 'supporting-info': { ...(params['supporting-info'] as SearchParameter), expression: 'Claim.patient' } } : params;
      },
    };
    assert.deepEqual(computeIndex(defs, claim).use, [{ c: 'claim' }]);
    assert.equal(computeIndex(fewer, claim).use, undefined);
    assert.deepEqual(computeIndex(defs, claim).use, [{ c: 'claim' }]);
    assert.deepEqual(computeIndex(defs, claim)['supporting-info'], ['Observation/o1']);
    assert.deepEqual(computeIndex(altered, claim)['supporting-info'], ['Patient/p1']);
    assert.deepEqual(computeIndex(defs, claim)['supporting-info'], ['Observation/o1']);
    assertSame(claim, fewer);
  });

  it('a plan is made once per type and Definitions, then reused', () => {
    assert.equal(indexPlan(defs, 'Patient'), indexPlan(defs, 'Patient'));
    assert.notEqual(indexPlan(defs, 'Patient'), indexPlan(defs, 'Observation'));
  });
});
