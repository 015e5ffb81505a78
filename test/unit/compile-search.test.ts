import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { Query } from 'mingo';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { compileSearch } from '../../server/src/fhir/search/compile-search.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { parseSearchQuery } from '../../server/src/fhir/search/parse-search-query.js';

const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const V2 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const cat = (code: string) => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] }];
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });

/** A small record covering every parameter type; each query below is checked against all of it. */
const fixtures: Array<Resource & { id: string }> = [
  {
    resourceType: 'Patient',
    id: 'p1',
    meta: {
      tag: [{ system: 'urn:tags', code: 'vip' }],
      profile: ['http://example.org/StructureDefinition/special'],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
      source: 'urn:source:clinic-a',
    },
    identifier: [
      { system: 'urn:mrn', value: '123', type: { coding: [{ system: V2, code: 'MR' }], text: 'Medical record number' } },
      { system: 'urn:ssn', value: '999' },
    ],
    active: true,
    name: [{ family: 'Ébert', given: ['Jo', 'Anne'] }],
    gender: 'female',
    birthDate: '1970-05-12',
    telecom: [{ system: 'email', value: 'jo@example.org' }],
    managingOrganization: { reference: 'Organization/org1' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jo &amp; Anne <b>Ébert</b>, Boston</div>' },
  },
  {
    resourceType: 'Patient',
    id: 'p2',
    identifier: [{ system: 'urn:mrn', value: '456' }],
    name: [{ family: 'Smith', given: ['John'] }],
    gender: 'male',
    birthDate: '1985',
    managingOrganization: { reference: 'Organization/org2' },
    generalPractitioner: [{ reference: 'http://other.example/fhir/Practitioner/pr9' }],
  },
  { resourceType: 'Patient', id: 'p3', name: [{ family: 'Smithson', text: 'Ann Smithson' }], address: [{ city: 'Zürich' }] },
  {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    category: cat('laboratory'),
    code: { coding: [{ system: LOINC, code: '2339-0', display: 'Glucose' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2023-06-15T08:30:00Z',
    valueQuantity: { value: 5.4, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
    performer: [{ reference: 'Organization/org1' }],
  },
  {
    resourceType: 'Observation',
    id: 'o2',
    status: 'final',
    category: cat('vital-signs'),
    code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }] },
    subject: { reference: 'Patient/p2' },
    effectivePeriod: { start: '2023-01-01', end: '2023-01-31' },
    component: [
      { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: mmHg(120) },
      { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: mmHg(80) },
    ],
  },
  {
    resourceType: 'Observation',
    id: 'o3',
    status: 'amended',
    code: { coding: [{ system: LOINC, code: '8480-6' }], text: 'Systolic BP' },
    subject: { reference: 'Patient/p1' },
    effectivePeriod: { start: '2022-06-01' },
    valueQuantity: mmHg(150),
  },
  {
    resourceType: 'Observation',
    id: 'o4',
    status: 'final',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '229819007', display: 'Smoking status' }] },
    subject: { reference: 'Patient/p3' },
    effectiveDateTime: '2021',
    valueString: 'Never smoked',
  },
  // Encounters: periods around 2013-01-14 for the date prefixes (e5 has none).
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, period: { start: '2013-01-14T00:00:00Z', end: '2013-01-14T10:00:00Z' } },
  { resourceType: 'Encounter', id: 'e2', status: 'in-progress', class: { code: 'AMB' }, period: { start: '2013-01-21' } },
  { resourceType: 'Encounter', id: 'e3', status: 'finished', class: { code: 'AMB' }, period: { start: '2012-12-01', end: '2013-01-14T12:00:00Z' } },
  { resourceType: 'Encounter', id: 'e4', status: 'finished', class: { code: 'AMB' }, period: { start: '2013-01-15T00:00:00Z', end: '2013-01-16' } },
  { resourceType: 'Encounter', id: 'e5', status: 'planned', class: { code: 'AMB' } },
  { resourceType: 'Encounter', id: 'e6', status: 'finished', class: { code: 'AMB' }, period: { start: '2013-01-14', end: '2013-01-14' } },
  // CarePlans: Timing (events; repeat.boundsPeriod) and an open Period.
  {
    resourceType: 'CarePlan',
    id: 'cp1',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p1' },
    activity: [{ detail: { status: 'scheduled', scheduledTiming: { event: ['2020-03-05T10:00:00Z', '2020-03-10T10:00:00Z'] } } }],
  },
  {
    resourceType: 'CarePlan',
    id: 'cp2',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p1' },
    activity: [{ detail: { status: 'scheduled', scheduledTiming: { repeat: { boundsPeriod: { start: '2020-04-01', end: '2020-04-30' }, frequency: 1, period: 1, periodUnit: 'd' } } } }],
  },
  {
    resourceType: 'CarePlan',
    id: 'cp3',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p1' },
    activity: [{ detail: { status: 'scheduled', scheduledPeriod: { start: '2019-01-01' } } }],
  },
  // RiskAssessments: numbers (ra3 has two predictions, so range checks must hold per value).
  { resourceType: 'RiskAssessment', id: 'ra1', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.25 }] },
  { resourceType: 'RiskAssessment', id: 'ra2', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 100 }] },
  { resourceType: 'RiskAssessment', id: 'ra3', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 99.6 }, { probabilityDecimal: 3 }] },
] as never;

const lastUpdated: Record<string, string> = { p1: '2024-01-01T00:00:00Z', p2: '2024-06-01T00:00:00Z', p3: '2025-01-01T00:00:00Z' };
const docs = fixtures.map((r) => ({
  resourceType: r.resourceType,
  id: r.id,
  deleted: false,
  lastUpdatedMs: Date.parse(lastUpdated[r.id] ?? '2024-01-01T00:00:00Z'),
  idx: computeIndex(defs, r),
}));

const noStore = { search: async () => ({ resources: [] }), readCurrent: async () => undefined };

function queryParams(qs: string): Record<string, string[]> {
  const params = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of new URLSearchParams(qs)) (params[k] ??= []).push(v);
  return params;
}

async function compile(query: string, strict = true) {
  const [type, qs = ''] = query.split('?');
  return compileSearch(defs, parseSearchQuery(type as string, queryParams(qs)), { strict, store: noStore });
}

/** Ids of the fixtures of the query's type that the compiled document matches (mingo, like the embedded engine). */
async function ids(query: string): Promise<string[]> {
  const type = query.split('?')[0] as string;
  const { filter } = await compile(query);
  const q = new Query(filter);
  return docs
    .filter((d) => d.resourceType === type && q.test(d))
    .map((d) => d.id)
    .sort();
}

function rejects400(query: string, strict = true): Promise<void> {
  return assert.rejects(compile(query, strict), (e: unknown) => e instanceof FhirError && e.status === 400);
}

describe('compileSearch → MongoDB query documents (evaluated with mingo over computeIndex)', () => {
  const table: Record<string, Array<[string, string[]]>> = {
    string: [
      ['Patient?name=smith', ['p2', 'p3']],
      ['Patient?name=SMITH', ['p2', 'p3']],
      ['Patient?name=ebert', ['p1']],
      ['Patient?name=Ébert', ['p1']],
      ['Patient?name=jo', ['p1', 'p2']],
      ['Patient?name=jo&given=anne', ['p1']],
      ['Patient?name=ann', ['p1', 'p3']],
      ['Patient?name=mith', []],
      ['Patient?name:contains=mith', ['p2', 'p3']],
      ['Patient?name:contains=MITH', ['p2', 'p3']],
      ['Patient?name:exact=Smith', ['p2']],
      ['Patient?name:exact=smith', []],
      ['Patient?name:exact=Ebert', []],
      ['Patient?name:exact=Ébert', ['p1']],
      ['Patient?family=smith,ebert', ['p1', 'p2', 'p3']],
      ['Patient?family=smith&given=john', ['p2']],
      ['Patient?address=zurich', ['p3']],
      ['Patient?address-city:exact=Zürich', ['p3']],
      ['Patient?name=.*', []],
      ['Patient?name=sm.th', []],
    ],
    token: [
      ['Observation?code=2339-0', ['o1']],
      ['Observation?code=http://loinc.org|2339-0', ['o1']],
      ['Observation?code=http://snomed.info/sct|2339-0', []],
      ['Observation?code=|2339-0', []],
      ['Observation?code=http://loinc.org|', ['o1', 'o2', 'o3']],
      ['Observation?code=2339-0,8480-6', ['o1', 'o3']],
      ['Observation?code:not=2339-0', ['o2', 'o3', 'o4']],
      ['Observation?code:not=http://loinc.org|', ['o4']],
      ['Observation?code:text=gluc', ['o1']],
      ['Observation?code:text=SYSTOLIC', ['o3']],
      ['Observation?code:text=pressure', []],
      ['Observation?category=laboratory,vital-signs', ['o1', 'o2']],
      ['Observation?status=final&category=vital-signs', ['o2']],
      ['Observation?status=final&status=amended', []],
      ['Patient?identifier=urn:mrn|123', ['p1']],
      ['Patient?identifier=123', ['p1']],
      ['Patient?identifier=urn:mrn|', ['p1', 'p2']],
      ['Patient?identifier=urn:ssn|123', []],
      [`Patient?identifier:of-type=${V2}|MR|123`, ['p1']],
      [`Patient?identifier:of-type=${V2}|MR|999`, []],
      [`Patient?identifier:of-type=${V2}|MR|456`, []],
      ['Patient?identifier:text=medical', ['p1']],
      ['Patient?gender=female', ['p1']],
      ['Patient?gender:not=female', ['p2', 'p3']],
      ['Patient?email=jo@example.org', ['p1']],
      ['Patient?active=true', ['p1']],
      ['Patient?_tag=urn:tags|vip', ['p1']],
      ['Patient?_tag:not=urn:tags|vip', ['p2', 'p3']],
      ['Patient?_security=R', ['p1']],
      ['Patient?_id=p1,p2', ['p1', 'p2']],
      ['Patient?_id:not=p1', ['p2', 'p3']],
    ],
    reference: [
      ['Observation?subject=Patient/p1', ['o1', 'o3']],
      ['Observation?subject=p1', ['o1', 'o3']],
      ['Observation?patient=p1', ['o1', 'o3']],
      ['Observation?subject:Patient=p1', ['o1', 'o3']],
      ['Observation?subject:Group=p1', []],
      ['Observation?subject=http://this.example/fhir/Patient/p1', ['o1', 'o3']],
      ['Observation?subject=Patient/p1/_history/3', ['o1', 'o3']],
      ['Observation?subject=Patient/p1,Patient/p3', ['o1', 'o3', 'o4']],
      ['Observation?performer=Organization/org1', ['o1']],
      ['Patient?general-practitioner=http://other.example/fhir/Practitioner/pr9', ['p2']],
      ['Patient?general-practitioner=Practitioner/pr9', []],
      ['Patient?organization:missing=true', ['p3']],
    ],
    'date (R4 prefix table over ranges)': [
      ['Encounter?date=2013-01-14', ['e1', 'e6']],
      ['Encounter?date=eq2013-01-14', ['e1', 'e6']],
      ['Encounter?date=ne2013-01-14', ['e2', 'e3', 'e4']],
      ['Encounter?date=gt2013-01-14', ['e2', 'e4']],
      ['Encounter?date=lt2013-01-14', ['e3']],
      ['Encounter?date=ge2013-01-14', ['e1', 'e2', 'e4', 'e6']],
      ['Encounter?date=le2013-01-14', ['e1', 'e3', 'e6']],
      ['Encounter?date=sa2013-01-14', ['e2', 'e4']],
      ['Encounter?date=eb2013-01-14', []],
      ['Encounter?date=eb2013-01-15', ['e1', 'e3', 'e6']],
      ['Encounter?date=ap2013-01-14', ['e1', 'e2', 'e3', 'e4', 'e6']],
      ['Encounter?date=lt2013-01-14T10:00', ['e1', 'e3', 'e6']],
      ['Encounter?date=gt2013-01-14T10:00', ['e2', 'e3', 'e4', 'e6']],
      ['Encounter?date=ge2013-03-14', ['e2']],
      ['Encounter?date=lt2013-01-14T02:00:00%2B02:00', ['e3']],
      ['Encounter?date=lt2013-01-14T02:00:01%2B02:00', ['e1', 'e3', 'e6']],
      ['Encounter?date=lt2013-01-14T00:00:01', ['e1', 'e3', 'e6']],
      ['Encounter?date=ge2013-01-01&date=lt2013-01-15', ['e1', 'e3', 'e6']],
      ['Encounter?date:missing=true', ['e5']],
      ['Observation?date=2023', ['o1', 'o2']],
      ['Observation?date=2023-06-15', ['o1']],
      ['Observation?date=2023-06-16', []],
      ['Observation?date=ge2023-06-15', ['o1', 'o3']],
      ['Observation?date=2021', ['o4']],
      ['Observation?date=2021-05', []],
      ['Patient?birthdate=1970', ['p1']],
      ['Patient?birthdate=1985-06', []],
      ['Patient?birthdate=ge1985-06', ['p2']],
      ['Patient?birthdate=lt1980', ['p1']],
      ['CarePlan?activity-date=2020-03', ['cp1']],
      ['CarePlan?activity-date=2020-03-07', []],
      ['CarePlan?activity-date=ge2020-04-15', ['cp2', 'cp3']],
      ['CarePlan?activity-date=lt2020-03-06', ['cp1', 'cp3']],
      ['CarePlan?activity-date=sa2020-03-31', ['cp2']],
      ['Patient?_lastUpdated=2024', ['p1', 'p2']],
      ['Patient?_lastUpdated=ge2024-06-01', ['p2', 'p3']],
      ['Patient?_lastUpdated=lt2024-06-01', ['p1']],
      ['Patient?_lastUpdated=ne2024', ['p3']],
      ['Patient?_lastUpdated=sa2024', ['p3']],
      ['Patient?_lastUpdated=eb2025', ['p1', 'p2']],
      ['Patient?_lastUpdated=le2024-01-01T00:00:00Z', ['p1']],
    ],
    number: [
      ['RiskAssessment?probability=0.25', ['ra1']],
      ['RiskAssessment?probability=0.2', []],
      ['RiskAssessment?probability=0.3', ['ra1']],
      ['RiskAssessment?probability=100', ['ra2', 'ra3']],
      ['RiskAssessment?probability=100.0', ['ra2']],
      ['RiskAssessment?probability=1e2', ['ra2', 'ra3']],
      ['RiskAssessment?probability=50', []],
      ['RiskAssessment?probability=gt99.6', ['ra2']],
      ['RiskAssessment?probability=ge99.6', ['ra2', 'ra3']],
      ['RiskAssessment?probability=lt1', ['ra1']],
      ['RiskAssessment?probability=le0.25', ['ra1']],
      ['RiskAssessment?probability=ne100', ['ra1', 'ra3']],
      ['RiskAssessment?probability=sa100', []],
      ['RiskAssessment?probability=eb100', ['ra1', 'ra3']],
      ['RiskAssessment?probability=ap100', ['ra2', 'ra3']],
    ],
    quantity: [
      ['Observation?value-quantity=5.4', ['o1']],
      ['Observation?value-quantity=5.4|http://unitsofmeasure.org|mmol/L', ['o1']],
      ['Observation?value-quantity=5.4|http://unitsofmeasure.org|mg/dL', []],
      ['Observation?value-quantity=150||mm[Hg]', ['o3']],
      ['Observation?value-quantity=150||mmHg', ['o3']],
      ['Observation?value-quantity=150|http://snomed.info/sct|mm[Hg]', []],
      ['Observation?value-quantity=gt100', ['o3']],
      ['Observation?value-quantity=lt100', ['o1']],
      ['Observation?value-quantity=ne5.4', ['o3']],
      ['Observation?value-quantity=ap150', ['o3']],
      ['Observation?value-quantity=ge5.4|http://unitsofmeasure.org|mmol/L', ['o1']],
      ['Observation?value-quantity=5.4,150', ['o1', 'o3']],
    ],
    composite: [
      ['Observation?code-value-quantity=http://loinc.org|8480-6$gt100', ['o3']],
      ['Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100', ['o2']],
      ['Observation?component-code-value-quantity=http://loinc.org|8480-6$gt130', []],
      ['Observation?component-code-value-quantity=http://loinc.org|8462-4$120', []],
      ['Observation?component-code-value-quantity=8462-4$80||mm[Hg]', ['o2']],
      ['Observation?combo-code-value-quantity=http://loinc.org|8480-6$gt100', ['o2', 'o3']],
      ['Observation?code-value-quantity=http://loinc.org|2339-0$5.4|http://unitsofmeasure.org|mmol/L', ['o1']],
      ['Observation?code-value-quantity=8480-6$lt100,2339-0$lt10', ['o1']],
      ['Observation?code-value-string=http://snomed.info/sct|229819007$never', ['o4']],
      ['Observation?code-value-string=http://snomed.info/sct|229819007$always', []],
      ['Observation?code-value-quantity:missing=true', ['o2', 'o4']],
    ],
    uri: [
      ['Patient?_profile=http://example.org/StructureDefinition/special', ['p1']],
      ['Patient?_profile=http://example.org', []],
      ['Patient?_profile:below=http://example.org/StructureDefinition', ['p1']],
      ['Patient?_profile:above=http://example.org/StructureDefinition/special/v2', ['p1']],
      ['Patient?_source=urn:source:clinic-a', ['p1']],
    ],
    '_text (narrative)': [
      ['Patient?_text=boston', ['p1']],
      ['Patient?_text=jo %26 anne ebert', ['p1']],
      ['Patient?_text=chicago,BOSTON', ['p1']],
      ['Patient?_text=xhtml', []],
      ['Patient?_text=chicago', []],
    ],
    missing: [
      ['Patient?gender:missing=true', ['p3']],
      ['Patient?birthdate:missing=false', ['p1', 'p2']],
      ['Patient?name:missing=false', ['p1', 'p2', 'p3']],
      ['Observation?value-quantity:missing=true', ['o2', 'o4']],
      ['Observation?performer:missing=true', ['o2', 'o3', 'o4']],
      ['Observation?component-code:missing=false', ['o2']],
    ],
  };
  for (const [type, rows] of Object.entries(table)) {
    describe(type, () => {
      for (const [query, expected] of rows) {
        it(`${decodeURIComponent(query)} → [${expected.join(', ')}]`, async () => assert.deepEqual(await ids(query), expected));
      }
    });
  }

  it('also compiles requests parsed by @medplum/core (modifiers and prefixes are put back)', async () => {
    const run = async (qs: string) => {
      const { filter } = await compileSearch(defs, parseSearchRequest('Encounter', queryParams(qs)), { strict: true, store: noStore });
      const q = new Query(filter);
      return docs.filter((d) => d.resourceType === 'Encounter' && q.test(d)).map((d) => d.id).sort();
    };
    assert.deepEqual(await run('date=sa2013-01-14'), ['e2', 'e4']);
    assert.deepEqual(await run('date:missing=true'), ['e5']);
    assert.deepEqual(await run('status:not=finished'), ['e2', 'e5']);
  });
});

describe('_sort keys follow the index shapes', () => {
  const sortOf = async (query: string) => (await compile(query)).sort;
  it('date ascending by range start, descending by range end', async () => {
    assert.deepEqual(await sortOf('Observation?_sort=date'), [['idx.date.lo', 1]]);
    assert.deepEqual(await sortOf('Observation?_sort=-date'), [['idx.date.hi', -1]]);
  });
  it('token by code, quantity by value, string by normalised text, several keys in order', async () => {
    assert.deepEqual(await sortOf('Observation?_sort=code,-value-quantity,_id'), [
      ['idx.code.c', 1],
      ['idx.value-quantity.v', -1],
      ['id', 1],
    ]);
    assert.deepEqual(await sortOf('Patient?_sort=-_lastUpdated,family'), [
      ['lastUpdatedMs', -1],
      ['idx.family', 1],
    ]);
  });
  it('refuses unknown and composite sort keys under strict handling, reports them otherwise', async () => {
    await rejects400('Observation?_sort=colour');
    await rejects400('Observation?_sort=code-value-quantity');
    const lenient = await compile('Observation?_sort=colour,date', false);
    assert.deepEqual(lenient.sort, [['idx.date.lo', 1]]);
    assert.equal(lenient.ignored.length, 1);
  });
});

describe('bad input', () => {
  it('unknown parameters: 400 under strict handling, reported under lenient', async () => {
    await rejects400('Observation?colour=red');
    const lenient = await compile('Observation?colour=red&code=2339-0', false);
    assert.equal(lenient.ignored.length, 1);
    assert.match(lenient.ignored[0] as string, /colour/);
    assert.deepEqual(new Query(lenient.filter).test(docs.find((d) => d.id === 'o1') as never), true);
  });

  it('unsupported modifiers: 400 under strict handling, reported under lenient', async () => {
    for (const q of ['Patient?name:bogus=x', 'Observation?code:below=x', 'Observation?date:exact=2020', 'Observation?subject:Bogus=p1', 'Observation?subject:Medication=p1', 'Observation?value-quantity:not=5']) {
      await rejects400(q);
      assert.equal((await compile(q, false)).ignored.length, 1, q);
    }
  });

  it('a chain through a non-reference parameter: 400 under strict handling, reported under lenient', async () => {
    await rejects400('Observation?code.name=x');
    assert.equal((await compile('Observation?code.name=x', false)).ignored.length, 1);
  });

  it('parameter names that are Object members are unknown parameters, not crashes', async () => {
    for (const q of ['Patient?__proto__=x', 'Patient?constructor=x', 'Patient?toString.name=x', 'Patient?_sort=__proto__']) {
      await rejects400(q);
      const lenient = await compile(q, false);
      assert.equal(lenient.ignored.length, 1, q);
    }
  });

  it('malformed values are 400 even under lenient handling, and the message names the parameter', async () => {
    await assert.rejects(compile('Patient?birthdate=1999-13-45', false), (e: unknown) => e instanceof FhirError && /birthdate/.test(e.message) && e.issues[0]?.expression?.[0] === 'birthdate');
    for (const q of [
      'Observation?date=2013-13',
      'Observation?date=xx2013',
      'Observation?date=ge',
      'Observation?date=2013-01-14T25:00',
      'Observation?date=yesterday',
      'Patient?_lastUpdated=soon',
      'RiskAssessment?probability=abc',
      'RiskAssessment?probability=zz5',
      'Observation?value-quantity=5.4|mmol/L',
      'Observation?value-quantity={"$gt":0}',
      'Observation?code=|',
      'Observation?code-value-quantity=http://loinc.org|8480-6',
      `Patient?identifier:of-type=${V2}|MR`,
      'Patient?gender:missing=maybe',
    ]) {
      await rejects400(q, false);
    }
  });

  it('places client text only in value positions', async () => {
    const operators = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k.startsWith('$')) operators.add(k);
          else assert.ok(k === 'id' || k.startsWith('idx.') || /^(c\d|s|c|t|v|u|lo|hi|ts|tc)$/.test(k), `unexpected field ${k}`);
          walk(x);
        }
      }
    };
    const compiled = await compile('Patient?name={"$where":"sleep(1000)"}&_id=$gt&family:contains=$regex&identifier={"$ne":null}');
    walk(compiled.filter);
    assert.deepEqual([...operators].sort(), ['$and', '$elemMatch', '$regex']);
    assert.deepEqual(await ids('Patient?name={"$where":"sleep(1000)"}'), []);
    assert.deepEqual(await ids('Patient?_id={"$ne":null}'), []);
    await rejects400('Patient?$where=1');
    await rejects400('Patient?name[$ne]=x');
  });
});
