import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { SUBQUERY_LIMIT } from '../../server/src/fhir/search/chain.js';
import { compileSearch } from '../../server/src/fhir/search/compile-search.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { parseSearchQuery } from '../../server/src/fhir/search/parse-search-query.js';
import type { ResourceStore, SearchQuery } from '../../server/src/store/resource-store.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';

/**
 * Parameters that need other resources first (chains, _has, _list, :in/:not-in), compiled
 * against the real embedded store and executed by it.
 */
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const LOINC = 'http://loinc.org';

const fixtures = [
  { resourceType: 'Organization', id: 'org1', name: 'Acme Hospital' },
  { resourceType: 'Organization', id: 'org2', name: 'Beta Clinic', partOf: { reference: 'Organization/org1' } },
  { resourceType: 'Organization', id: 'org3', name: 'Gamma Insurance' },
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ebert' }], birthDate: '1970', managingOrganization: { reference: 'Organization/org1' } },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Smith' }], birthDate: '1985', managingOrganization: { reference: 'Organization/org2' } },
  { resourceType: 'Patient', id: 'p3', name: [{ family: 'Smithson' }] },
  { resourceType: 'Location', id: 'loc1', name: 'Smithfield Lab' },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ system: LOINC, code: '2339-0' }] }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { coding: [{ system: LOINC, code: '85354-9' }] }, subject: { reference: 'Patient/p2' } },
  { resourceType: 'Observation', id: 'o3', status: 'final', code: { coding: [{ system: LOINC, code: '8480-6' }] }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Observation', id: 'o4', status: 'final', code: { coding: [{ system: 'http://snomed.info/sct', code: '229819007' }] }, subject: { reference: 'Patient/p3' } },
  { resourceType: 'Observation', id: 'o5', status: 'final', code: { coding: [{ system: 'http://example.org/cs', code: 'c' }] }, subject: { reference: 'Location/loc1' } },
  {
    resourceType: 'List',
    id: 'l1',
    status: 'current',
    mode: 'working',
    entry: [{ item: { reference: 'Patient/p1' } }, { item: { reference: 'Observation/o2' } }, { item: { reference: 'Patient/p3' }, deleted: true }],
  },
  {
    resourceType: 'Claim',
    id: 'c1',
    status: 'active',
    type: { coding: [{ code: 'professional' }] },
    use: 'claim',
    patient: { reference: 'Patient/p2' },
    created: '2023-02-01',
    provider: { reference: 'Organization/org2' },
    priority: { coding: [{ code: 'normal' }] },
    insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/cov1' } }],
    supportingInfo: [{ sequence: 1, category: { coding: [{ code: 'info' }] }, valueReference: { reference: 'Observation/o2' } }],
  },
  {
    resourceType: 'ValueSet',
    id: 'vs-labs',
    url: 'http://example.org/vs/labs',
    version: '1',
    status: 'active',
    compose: { include: [{ system: LOINC, concept: [{ code: '2339-0' }, { code: '8480-6' }] }] },
  },
  {
    resourceType: 'ValueSet',
    id: 'vs-all',
    url: 'http://example.org/vs/all',
    status: 'active',
    compose: {
      include: [{ valueSet: ['http://example.org/vs/labs'] }, { system: 'http://snomed.info/sct', concept: [{ code: '229819007' }] }],
      exclude: [{ system: LOINC, concept: [{ code: '8480-6' }] }],
    },
  },
  { resourceType: 'ValueSet', id: 'vs-expanded', url: 'http://example.org/vs/expanded', status: 'active', expansion: { timestamp: '2024-01-01T00:00:00Z', contains: [{ system: LOINC, code: '85354-9' }] } },
  { resourceType: 'ValueSet', id: 'vs-filter', url: 'http://example.org/vs/filter', status: 'active', compose: { include: [{ system: LOINC, filter: [{ property: 'CLASS', op: '=', value: 'CHEM' }] }] } },
  { resourceType: 'ValueSet', id: 'vs-cs', url: 'http://example.org/vs/cs', status: 'active', compose: { include: [{ system: 'http://example.org/cs' }] } },
  { resourceType: 'ValueSet', id: 'vs-unknown-cs', url: 'http://example.org/vs/unknown-cs', status: 'active', compose: { include: [{ system: 'http://example.org/nowhere' }] } },
  {
    resourceType: 'ValueSet',
    id: 'vs-loinc-but-systolic',
    url: 'http://example.org/vs/loinc-but-systolic',
    status: 'active',
    compose: { include: [{ system: LOINC }], exclude: [{ system: LOINC, concept: [{ code: '8480-6' }] }] },
  },
] as Array<Resource & { id: string }>;

let dir: string;
let store: ResourceStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'custodian-chain-'));
  store = createEmbeddedStore({ path: dir });
  await store.init();
  await store.commit({
    now: '2024-01-01T00:00:00.000Z',
    ops: fixtures.map((resource) => ({ kind: 'create' as const, resourceType: resource.resourceType, id: resource.id, resource, index: computeIndex(defs, resource) })),
  });
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function params(qs: string): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of new URLSearchParams(qs)) (out[k] ??= []).push(v);
  return out;
}

async function compile(query: string, strict = true, via: Pick<ResourceStore, 'search' | 'readCurrent'> = store) {
  const [type, qs = ''] = query.split('?');
  return compileSearch(defs, parseSearchQuery(type as string, params(qs)), { strict, store: via });
}

async function ids(query: string, via: Pick<ResourceStore, 'search' | 'readCurrent'> = store): Promise<string[]> {
  const { filter } = await compile(query, true, via);
  const found = await store.search({ resourceType: query.split('?')[0] as string, filter, limit: 1000 });
  return found.resources.map((r) => r.id).sort();
}

function rejects(query: string, status: number, issue?: string, strict = true): Promise<void> {
  return assert.rejects(compile(query, strict), (e: unknown) => {
    assert.ok(e instanceof FhirError, String(e));
    assert.equal(e.status, status);
    if (issue) assert.equal(e.issues[0]?.code, issue);
    return true;
  });
}

describe('chained parameters (R4 search #chaining)', () => {
  const table: Array<[string, string[]]> = [
    ['Observation?subject:Patient.name=smith', ['o2', 'o4']],
    ['Observation?subject.name=smith', ['o2', 'o4', 'o5']],
    ['Observation?patient.name=smith', ['o2', 'o4']],
    ['Observation?patient.birthdate=lt1980', ['o1', 'o3']],
    ['Observation?patient.organization.name=acme', ['o1', 'o3']],
    ['Observation?patient.organization.partof.name=acme', ['o2']],
    ['Observation?patient:Patient.organization:Organization.partof:Organization.name=acme', ['o2']],
    ['Observation?patient.organization.name=gamma', []],
    ['Observation?patient.organization:missing=true', ['o4']],
    ['Observation?patient.name=smith&code=85354-9', ['o2']],
    ['Claim?supporting-info.code=85354-9', ['c1']],
    ['Claim?supporting-info:Observation.patient.name=smith', ['c1']],
  ];
  for (const [query, expected] of table) it(`${query} → [${expected.join(', ')}]`, async () => assert.deepEqual(await ids(query), expected));

  it('refuses a chain through a non-reference parameter or an unknown link', async () => {
    await rejects('Observation?code.name=x', 400);
    await rejects('Observation?patient.colour=x', 400);
    await rejects('Observation?subject:Medication.code=x', 400);
    await rejects('Observation?patient.organization.name.family=x', 400);
  });

  it('runs sub-searches through the store it is given, so a chain sees no more than its caller', async () => {
    const hidingP2: Pick<ResourceStore, 'search' | 'readCurrent'> = {
      search: (q: SearchQuery) => store.search({ ...q, filter: q.resourceType === 'Patient' ? { $and: [q.filter, { id: { $nin: ['p2'] } }] } : q.filter }),
      readCurrent: (t, id) => store.readCurrent(t, id),
    };
    assert.deepEqual(await ids('Observation?patient.name=smith', hidingP2), ['o4']);
  });

  it('refuses as too costly when an intermediate search matches more than the limit', async () => {
    const flood: Pick<ResourceStore, 'search' | 'readCurrent'> = {
      search: async (q: SearchQuery) => ({
        resources: Array.from({ length: Math.min(q.limit, SUBQUERY_LIMIT + 1) }, (_, i) => ({
          resourceType: q.resourceType,
          id: `x${i}`,
          versionId: '1',
          lastUpdated: '2024-01-01T00:00:00Z',
          deleted: false,
          sortValues: [`x${i}`],
          index: { patient: [`Patient/p${i}`] },
        })),
      }),
      readCurrent: async () => undefined,
    };
    for (const q of ['Observation?patient.name=a', 'Patient?_has:Observation:patient:code=x']) {
      await assert.rejects(compile(q, true, flood), (e: unknown) => e instanceof FhirError && e.status === 400 && e.issues[0]?.code === 'too-costly');
    }
  });
});

describe('reverse chaining with _has (R4 search #has)', () => {
  const table: Array<[string, string[]]> = [
    ['Patient?_has:Observation:patient:code=2339-0', ['p1']],
    ['Patient?_has:Observation:subject:code=http://loinc.org|', ['p1', 'p2']],
    ['Patient?_has:Observation:patient:code=9999-9', []],
    ['Organization?_has:Patient:organization:_has:Observation:patient:code=85354-9', ['org2']],
    ['Organization?_has:Patient:organization:name=ebert,smith', ['org1', 'org2']],
    ['Observation?_has:Claim:supporting-info:patient=p2', ['o2']],
    ['Patient?_has:Observation:patient:patient.organization.name=beta', ['p2']],
    ['Patient?_has:Observation:patient:code=2339-0&_has:Observation:patient:code=8480-6', ['p1']],
  ];
  for (const [query, expected] of table) it(`${query} → [${expected.join(', ')}]`, async () => assert.deepEqual(await ids(query), expected));

  it('refuses malformed or impossible reverse chains', async () => {
    await rejects('Patient?_has:Observation:code:status=final', 400);
    await rejects('Patient?_has:Nothing:patient:code=x', 400);
    await rejects('Patient?_has:Observation:patient=x', 400);
    await rejects('Organization?_has:Observation:patient:code=x', 400);
    const lenient = await compile('Patient?_has:Observation:patient:colour=red', false);
    assert.equal(lenient.ignored.length, 1);
  });
});

describe('_list (R4 search #list)', () => {
  it('matches the resources of this type a List points at (deleted entries excluded)', async () => {
    assert.deepEqual(await ids('Patient?_list=l1'), ['p1']);
    assert.deepEqual(await ids('Patient?_list=List/l1'), ['p1']);
    assert.deepEqual(await ids('Observation?_list=l1'), ['o2']);
    assert.deepEqual(await ids('Patient?_list=nope'), []);
  });
  it('refuses functional lists and malformed ids', async () => {
    await rejects('Patient?_list=$current-problems', 400, 'not-supported');
    await rejects('Patient?_list=a b', 400);
  });
});

describe('token :in / :not-in against ValueSets held by the server', () => {
  const table: Array<[string, string[]]> = [
    ['Observation?code:in=http://example.org/vs/labs', ['o1', 'o3']],
    ['Observation?code:in=http://example.org/vs/labs|1', ['o1', 'o3']],
    ['Observation?code:in=ValueSet/vs-labs', ['o1', 'o3']],
    ['Observation?code:not-in=http://example.org/vs/labs', ['o2', 'o4', 'o5']],
    ['Observation?code:in=http://example.org/vs/all', ['o1', 'o4']],
    ['Observation?code:in=http://example.org/vs/expanded', ['o2']],
    ['Observation?code:in=http://example.org/vs/cs', ['o5']],
    ['Observation?code:in=http://example.org/vs/unknown-cs', []],
    ['Observation?code:in=http://example.org/vs/loinc-but-systolic', ['o1', 'o2']],
    ['Observation?code:not-in=http://example.org/vs/loinc-but-systolic', ['o3', 'o4', 'o5']],
    ['Observation?code:in=http://example.org/vs/expanded,http://example.org/vs/labs', ['o1', 'o2', 'o3']],
  ];
  for (const [query, expected] of table) it(`${query} → [${expected.join(', ')}]`, async () => assert.deepEqual(await ids(query), expected));

  it('refuses ValueSets it cannot evaluate, and unknown ones, with a clear 400 naming the parameter', async () => {
    await rejects('Observation?code:in=http://example.org/vs/filter', 400, 'not-supported');
    await assert.rejects(compile('Observation?code:in=http://example.org/vs/missing'), (e: unknown) => e instanceof FhirError && /code:in/.test(e.message) && /not held/.test(e.message));
    await rejects('Observation?code:in=http://example.org/vs/missing', 400);
    await rejects('Observation?code:in=http://example.org/vs/labs|2', 400);
  });
});
