import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseSearchRequest } from '@medplum/core';
import { Query } from 'mingo';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { compileSearch } from '../../server/src/fhir/search/compile-search.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';

const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));

const obs = {
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2023-06-15T08:30:00Z',
  valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
} as const;

const noStore = { search: async () => ({ resources: [] }), readCurrent: async () => undefined };

async function matches(query: string): Promise<boolean> {
  const [type, qs = ''] = query.split('?');
  const params: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(qs)) (params[k] ??= []).push(v);
  const compiled = await compileSearch(defs, parseSearchRequest(type as string, params), { strict: true, store: noStore });
  const doc = { resourceType: obs.resourceType, id: 'o1', deleted: false, lastUpdatedMs: Date.parse('2024-01-01T00:00:00Z'), resource: obs, idx: computeIndex(defs, obs as never) };
  return new Query(compiled.filter).test(doc);
}

describe('compileSearch → MongoDB query documents (evaluated with mingo)', () => {
  const table: Array<[string, boolean]> = [
    ['Observation?patient=p1', true],
    ['Observation?patient=Patient/p1', true],
    ['Observation?patient=p2', false],
    ['Observation?subject=Patient/p1', true],
    ['Observation?code=2339-0', true],
    ['Observation?code=http://loinc.org|2339-0', true],
    ['Observation?code=http://snomed.info/sct|2339-0', false],
    ['Observation?code=|2339-0', false],
    ['Observation?code=http://loinc.org|', true],
    ['Observation?code:not=2339-0', false],
    ['Observation?code:text=gluc', true],
    ['Observation?category=laboratory,vital-signs', true],
    ['Observation?category=vital-signs', false],
    ['Observation?date=2023', true],
    ['Observation?date=2023-06-15', true],
    ['Observation?date=2023-06-16', false],
    ['Observation?date=ge2023-06-15', true],
    ['Observation?date=gt2023-06-15', false],
    ['Observation?date=lt2023-06-16', true],
    ['Observation?date=le2023-06-14', false],
    ['Observation?date=sa2023-06-14', true],
    ['Observation?date=eb2023-06-14', false],
    ['Observation?date=ne2023-06-15', false],
    ['Observation?date=ge2023-01-01&date=lt2024-01-01', true],
    ['Observation?value-quantity=5.4', true],
    ['Observation?value-quantity=5.4|http://unitsofmeasure.org|mmol/L', true],
    ['Observation?value-quantity=5.4|http://unitsofmeasure.org|mg/dL', false],
    ['Observation?value-quantity=gt5', true],
    ['Observation?value-quantity=lt5', false],
    ['Observation?_id=o1', true],
    ['Observation?_id=o2', false],
    ['Observation?_lastUpdated=2024-01-01', true],
    ['Observation?_lastUpdated=gt2024-01-02', false],
    ['Observation?performer:missing=true', true],
    ['Observation?subject:missing=true', false],
    ['Observation?patient=p1&code=9999-9', false],
  ];
  for (const [query, expected] of table) {
    it(`${query} → ${expected ? 'match' : 'no match'}`, async () => assert.equal(await matches(query), expected));
  }

  it('refuses unknown parameters under strict handling and reports them otherwise', async () => {
    const parsed = parseSearchRequest('Observation', { colour: ['red'] });
    await assert.rejects(compileSearch(defs, parsed, { strict: true, store: noStore }), (e: unknown) => e instanceof FhirError && e.status === 400);
    assert.deepEqual((await compileSearch(defs, parsed, { strict: false, store: noStore })).ignored.length, 1);
  });

  it('places client text only in value positions', async () => {
    const parsed = parseSearchRequest('Patient', { name: ['{"$where":"sleep(1000)"}'], _id: ['$gt'] });
    const compiled = await compileSearch(defs, parsed, { strict: true, store: noStore });
    const operators = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k.startsWith('$')) operators.add(k);
          walk(x);
        }
      }
    };
    walk(compiled.filter);
    assert.deepEqual([...operators].sort(), ['$and', '$regex']);
  });
});
