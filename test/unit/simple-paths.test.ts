import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { AuditEvent, Bundle, Resource } from '@medplum/fhirtypes';
import { buildAuditEvents, type AuditedAccess } from '../../server/src/audit/build-audit-event.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { compileSimpleExpression, evaluateSimple } from '../../server/src/fhir/search/simple-paths.js';
import { generatePopulation } from '../../fixtures/population/index.js';
import { sampleAccess } from '../helpers/audited-access.js';

/**
 * Index values computed by walking plain path expressions (simple-paths.ts) must equal FHIRPath
 * evaluation's, parameter by parameter, on whole populations: the generator's, Synthea's real
 * bundles when ../shared/data is present, and the AuditEvents the audit trail writes.
 */
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const SYNTHEA = resolve(fileURLToPath(new URL('../../../shared/data/synthea-r4', import.meta.url)));

function resourcesOf(bundles: readonly Bundle[]): Resource[] {
  return bundles.flatMap((b) => (b.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined));
}

function assertSameIndex(resources: readonly Resource[]): number {
  let compared = 0;
  for (const r of resources) {
    const fast = computeIndex(defs, r, true, true);
    const slow = computeIndex(defs, r, true, false);
    assert.deepEqual(fast, slow, `${r.resourceType}/${r.id}`);
    compared++;
  }
  return compared;
}

const auditEvents = (): AuditEvent[] => {
  const base: AuditedAccess = sampleAccess({
    resources: [
      { type: 'Observation', id: 'o1', versionId: '2', patients: ['p1'] },
      { type: 'Observation', id: 'o2', versionId: '1', patients: ['p2'], breakGlass: true },
    ],
    patients: ['p1', 'p2'],
    consent: { mode: 'enforce', decision: 'partial', deciding: ['Consent/c1/_history/3'], purposeGroup: 'treatment' },
  });
  return [
    ...buildAuditEvents(base),
    ...buildAuditEvents({ ...base, interaction: 'read', rawRequest: 'Observation/o1', resources: [base.resources[0]!], patients: ['p1'] }),
    ...buildAuditEvents({ ...base, status: 403, resources: [], patients: [], consent: { mode: 'enforce', decision: 'deny', deciding: ['Consent/c1/_history/3'] } }),
  ];
};

describe('simple path expressions: same index values as FHIRPath', () => {
  it('compiles plain paths, unions and where(resolve() is T); leaves choices and functions to FHIRPath', () => {
    assert.ok(compileSimpleExpression('AuditEvent', 'AuditEvent.agent.who'));
    assert.ok(compileSimpleExpression('Observation', 'AllergyIntolerance.patient | Observation.subject.where(resolve() is Patient)'));
    assert.equal(compileSimpleExpression('Observation', '(Observation.value as Quantity)'), undefined);
    assert.equal(compileSimpleExpression('Observation', 'Observation.value'), undefined);
    assert.equal(compileSimpleExpression('Patient', 'Patient.deceased.exists() and Patient.deceased != false'), undefined);
    assert.equal(compileSimpleExpression('Bundle', 'Bundle.entry.resource'), undefined);
    const where = compileSimpleExpression('Observation', 'Observation.subject.where(resolve() is Patient)')!;
    const values = (subject: object) => evaluateSimple(where, { resourceType: 'Observation', subject }).map((t) => t.value);
    assert.deepEqual(values({ reference: 'Patient/1' }), [{ reference: 'Patient/1' }]);
    assert.deepEqual(values({ reference: 'Group/1' }), []);
    assert.deepEqual(values({ reference: 'urn:uuid:1' }), []);
    assert.deepEqual(values({ type: 'Patient', identifier: { value: 'x' } }), [{ type: 'Patient', identifier: { value: 'x' } }]);
  });

  it('on the generated population (every resource type it writes)', () => {
    const n = assertSameIndex(resourcesOf(generatePopulation({ seed: 7, patients: 12 })));
    assert.ok(n > 300, `compared ${n}`);
  });

  it('on the AuditEvents the audit trail writes', () => {
    assert.ok(assertSameIndex(auditEvents()) >= 4);
  });

  it('on edge shapes: empty arrays, nulls, primitive extensions, contained resources, other roots', () => {
    assertSameIndex([
      { resourceType: 'Patient', id: 'e1', name: [], identifier: [{ system: 'urn:x' }], _birthDate: { extension: [{ url: 'urn:e', valueString: 'x' }] } } as Resource,
      { resourceType: 'Patient', id: 'e2', name: [{ given: ['A', 'B'], _given: [null, { extension: [{ url: 'urn:e', valueString: 'y' }] }] }] } as unknown as Resource,
      { resourceType: 'Observation', id: 'e3', status: 'final', code: { text: 'x' }, subject: { reference: 'http://other/fhir/Patient/1' }, performer: [{ reference: '#p' }], contained: [{ resourceType: 'Practitioner', id: 'p' }] } as Resource,
      { resourceType: 'Observation', id: 'e4', status: 'final', code: { text: 'x' }, subject: { reference: '' }, encounter: { display: 'no reference' } } as Resource,
      { resourceType: 'AuditEvent', id: 'e5', type: { code: 'rest' }, recorded: '2025-01-01T00:00:00Z', agent: [{ requestor: true, who: { type: 'Patient', identifier: { system: 'urn:s', value: '1' } } }], source: { observer: { display: 'x' } } } as Resource,
    ]);
  });

  it('on Synthea bundles when ../shared/data is present', (t) => {
    if (!existsSync(SYNTHEA)) return t.skip('no ../shared/data/synthea-r4');
    const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).slice(0, 6);
    const n = assertSameIndex(resourcesOf(files.map((f) => JSON.parse(readFileSync(join(SYNTHEA, f), 'utf8')) as Bundle)));
    assert.ok(n > 1000, `compared ${n}`);
  });
});
