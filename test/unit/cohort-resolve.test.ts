import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Group, GroupCharacteristic, Resource } from '@medplum/fhirtypes';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { resolveCohort, type Cohort } from '../../server/src/ops/cohort/resolve-cohort.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import type { ResourceStore, SearchQuery } from '../../server/src/store/resource-store.js';

/**
 * resolveCohort on the embedded store: enumerated Groups (inactive members, member periods),
 * descriptive Groups (gender, age, has-Condition, has-Observation, exclude) checked against a
 * plain reference evaluator over the same population, refusals naming the characteristic, and
 * streaming in keyset pages of the batch size.
 */
const defs = loadDefinitions(PROFILES_DIR);
const NOW = '2025-06-15T12:00:00Z';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const PHQ9 = '44261-6';

interface Person {
  id: string;
  gender?: 'male' | 'female' | 'other';
  birthDate?: string;
  conditions?: Array<{ system: string; code: string }>;
  phq9?: number;
}
const PEOPLE: Person[] = [
  { id: 'p01', gender: 'female', birthDate: '1990-06-15', conditions: [{ system: SNOMED, code: '44054006' }, { system: SNOMED, code: '38341003' }, { system: SNOMED, code: '44054006' }], phq9: 1 },
  { id: 'p02', gender: 'male', birthDate: '1990-06-16', conditions: [{ system: ICD10CM, code: 'E11.9' }] },
  { id: 'p03', gender: 'female', birthDate: '2007-06-16', conditions: [{ system: SNOMED, code: '38341003' }] },
  { id: 'p04', gender: 'female', birthDate: '2007-06-15', phq9: 2 },
  { id: 'p05', gender: 'female', birthDate: '1960-06-16', phq9: 1 },
  { id: 'p06', gender: 'female', birthDate: '1960-06-15' },
  { id: 'p07', gender: 'other' },
  { id: 'p08', gender: 'male', birthDate: '1975-01-01', phq9: 1 },
  { id: 'p09', gender: 'female', birthDate: '1999-12-31', conditions: [{ system: ICD10CM, code: 'E11.9' }] },
  { id: 'p10', birthDate: '1985-03-03' },
  { id: 'p11', gender: 'female', birthDate: '1980-02-29', phq9: 3 },
  { id: 'p12', gender: 'male', birthDate: '2001-07-01' },
];

/** Age in whole years on NOW's date: the reference the compiled clause must agree with. */
function ageOf(birthDate: string): number {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  const now = new Date(NOW);
  const birthdayPassed = now.getUTCMonth() + 1 > m || (now.getUTCMonth() + 1 === m && now.getUTCDate() >= d);
  return now.getUTCFullYear() - y - (birthdayPassed ? 0 : 1);
}

function resources(): Resource[] {
  const out: Resource[] = [];
  for (const p of PEOPLE) {
    out.push({ resourceType: 'Patient', id: p.id, ...(p.gender ? { gender: p.gender } : {}), ...(p.birthDate ? { birthDate: p.birthDate } : {}) } as Resource);
    (p.conditions ?? []).forEach((c, i) =>
      out.push({ resourceType: 'Condition', id: `${p.id}-c${i}`, subject: { reference: `Patient/${p.id}` }, code: { coding: [c] } } as Resource),
    );
    for (let i = 0; i < (p.phq9 ?? 0); i++) {
      out.push({ resourceType: 'Observation', id: `${p.id}-phq9-${i}`, status: 'final', subject: { reference: `Patient/${p.id}` }, code: { coding: [{ system: LOINC, code: PHQ9 }] }, valueInteger: 5 } as Resource);
    }
    out.push({ resourceType: 'Observation', id: `${p.id}-hr`, status: 'final', subject: { reference: `Patient/${p.id}` }, code: { coding: [{ system: LOINC, code: '8867-4' }] } } as Resource);
  }
  return out;
}

const characteristic = (system: string, code: string, value: Partial<GroupCharacteristic>, exclude = false): GroupCharacteristic => ({ code: { coding: [{ system, code }] }, exclude, ...value });
const gender = (g: string, exclude = false) => characteristic(SNOMED, '263495000', { valueCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/administrative-gender', code: g }] } }, exclude);
const age = (low?: number, high?: number, exclude = false) =>
  characteristic(SNOMED, '397669002', { valueRange: { ...(low !== undefined ? { low: { value: low, system: 'http://unitsofmeasure.org', code: 'a' } } : {}), ...(high !== undefined ? { high: { value: high, system: 'http://unitsofmeasure.org', code: 'a' } } : {}) } }, exclude);
const hasCondition = (codings: Array<{ system: string; code: string }>, exclude = false) => characteristic(SNOMED, '439401001', { valueCodeableConcept: { coding: codings } }, exclude);
const hasObservation = (code: string, exclude = false) => characteristic(SNOMED, '363787002', { valueCodeableConcept: { coding: [{ system: LOINC, code }] } }, exclude);
const descriptive = (id: string, characteristics: GroupCharacteristic[]): Group => ({ resourceType: 'Group', id, type: 'person', actual: false, characteristic: characteristics });

async function all(cohort: Cohort, batchSize: number): Promise<string[][]> {
  const batches: string[][] = [];
  for await (const b of cohort.patientBatches(batchSize)) batches.push([...b]);
  return batches;
}

describe('resolveCohort', () => {
  let dir: string;
  let store: ResourceStore;
  const put = async (...rs: Resource[]): Promise<void> => {
    await store.commit({ now: '2025-01-01T00:00:00Z', ops: rs.map((r) => ({ kind: 'update' as const, resourceType: r.resourceType, id: r.id as string, resource: r, index: computeIndex(defs, r) })) });
  };
  const rejects = async (groupId: string, expression: RegExp, status = 400): Promise<void> => {
    await assert.rejects(resolveCohort(store, groupId, NOW), (err: unknown) => {
      assert.ok(err instanceof FhirError, String(err));
      assert.equal(err.status, status, err.message);
      assert.match(err.message, expression);
      return true;
    });
  };
  /** The cohort's patients, and every batch no larger than asked. */
  const members = async (groupId: string, batchSize = 2): Promise<string[]> => {
    const batches = await all(await resolveCohort(store, groupId, NOW), batchSize);
    for (const b of batches) assert.ok(b.length > 0 && b.length <= batchSize, `batch of ${b.length}`);
    return batches.flat();
  };
  const expected = (keep: (p: Person) => boolean): string[] => PEOPLE.filter(keep).map((p) => p.id);
  const hasCode = (p: Person, codes: string[]): boolean => (p.conditions ?? []).some((c) => codes.includes(c.code));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-cohort-'));
    store = createEmbeddedStore({ path: dir });
    await store.init();
    await put(...resources());
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('enumerated Groups (actual=true)', () => {
    it('keeps members that are active and whose period contains now, once each, in the Group’s order', async () => {
      await put({
        resourceType: 'Group',
        id: 'enrolled',
        type: 'person',
        actual: true,
        member: [
          { entity: { reference: 'Patient/p04' }, period: { start: '2025-01-01', end: '2025-06-15' } },
          { entity: { reference: 'Patient/p01' } },
          { entity: { reference: 'Patient/p02' }, inactive: true },
          { entity: { reference: 'Patient/p03' }, period: { end: '2025-06-14' } },
          { entity: { reference: 'Patient/p05' }, period: { start: '2025-07-01' } },
          { entity: { reference: 'Patient/p04' } },
          { entity: { reference: 'Patient/p06/_history/1' }, period: { start: '2025-06-15T11:00:00Z', end: '2025-06-15T13:00:00Z' } },
          { entity: { reference: 'Patient/p07' }, period: { start: '2025-06-15T12:00:01Z' } },
        ],
      } as Resource);
      const cohort = await resolveCohort(store, 'enrolled', NOW);
      assert.equal(cohort.group, 'Group/enrolled');
      assert.equal(cohort.study, undefined);
      assert.deepEqual(await all(cohort, 2), [['p04', 'p01'], ['p06']]);
      assert.deepEqual(await all(cohort, 10), [['p04', 'p01', 'p06']], 'iterable again, with another batch size');
    });

    it('names the ResearchStudy whose enrollment is the Group', async () => {
      await put(
        { resourceType: 'Group', id: 'study-group', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/p01' } }] } as Resource,
        { resourceType: 'ResearchStudy', id: 'a-other', status: 'active', enrollment: [{ reference: 'Group/enrolled-elsewhere' }] } as Resource,
        { resourceType: 'ResearchStudy', id: 'b-study', status: 'active', enrollment: [{ reference: 'Group/study-group' }] } as Resource,
      );
      assert.equal((await resolveCohort(store, 'study-group', NOW)).study, 'ResearchStudy/b-study');
    });

    it('refuses a member that is not a Patient, a Group that is not of persons, and reads an unknown or deleted Group as not found', async () => {
      await put(
        { resourceType: 'Group', id: 'with-practitioner', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/p01' } }, { entity: { reference: 'Practitioner/x' } }] } as Resource,
        { resourceType: 'Group', id: 'animals', type: 'animal', actual: true, member: [] } as Resource,
        { resourceType: 'Group', id: 'gone', type: 'person', actual: true } as Resource,
      );
      await store.commit({ now: '2025-01-02T00:00:00Z', ops: [{ kind: 'delete', resourceType: 'Group', id: 'gone' }] });
      await rejects('with-practitioner', /Group\.member\[1\]\.entity/);
      await rejects('animals', /only person Groups/);
      await rejects('no-such-group', /not found/, 404);
      await rejects('gone', /not found/, 404);
    });
  });

  describe('descriptive Groups (actual=false)', () => {
    const cases: Array<{ id: string; characteristics: GroupCharacteristic[]; expect: (p: Person) => boolean }> = [
      { id: 'women', characteristics: [gender('female')], expect: (p) => p.gender === 'female' },
      { id: 'not-women', characteristics: [gender('female', true)], expect: (p) => p.gender !== 'female' },
      { id: 'adults-18-64', characteristics: [age(18, 64)], expect: (p) => p.birthDate !== undefined && ageOf(p.birthDate) >= 18 && ageOf(p.birthDate) <= 64 },
      { id: 'over-35', characteristics: [age(35)], expect: (p) => p.birthDate !== undefined && ageOf(p.birthDate) >= 35 },
      { id: 'under-35', characteristics: [age(undefined, 34)], expect: (p) => p.birthDate !== undefined && ageOf(p.birthDate) <= 34 },
      { id: 'women-18-64', characteristics: [gender('female'), age(18, 64)], expect: (p) => p.gender === 'female' && p.birthDate !== undefined && ageOf(p.birthDate) >= 18 && ageOf(p.birthDate) <= 64 },
      { id: 'diabetes', characteristics: [hasCondition([{ system: SNOMED, code: '44054006' }, { system: ICD10CM, code: 'E11.9' }])], expect: (p) => hasCode(p, ['44054006', 'E11.9']) },
      { id: 'no-diabetes', characteristics: [hasCondition([{ system: SNOMED, code: '44054006' }, { system: ICD10CM, code: 'E11.9' }], true)], expect: (p) => !hasCode(p, ['44054006', 'E11.9']) },
      { id: 'icd-only', characteristics: [hasCondition([{ system: ICD10CM, code: 'E11.9' }])], expect: (p) => hasCode(p, ['E11.9']) },
      { id: 'women-phq9', characteristics: [gender('female'), hasObservation(PHQ9)], expect: (p) => p.gender === 'female' && (p.phq9 ?? 0) > 0 },
      { id: 'phq9-no-hypertension', characteristics: [hasObservation(PHQ9), hasCondition([{ system: SNOMED, code: '38341003' }], true)], expect: (p) => (p.phq9 ?? 0) > 0 && !hasCode(p, ['38341003']) },
    ];
    for (const c of cases) {
      it(`${c.id}: the same patients as the reference evaluator, in id order`, async () => {
        await put(descriptive(c.id, c.characteristics));
        const want = expected(c.expect);
        assert.ok(want.length > 0 && want.length < PEOPLE.length, 'the case discriminates');
        assert.deepEqual(await members(c.id), want);
      });
    }

    it('streams: Patient documents are read in keyset pages of the batch size, never all at once', async () => {
      await put(descriptive('everyone-but-diabetics', [hasCondition([{ system: SNOMED, code: '44054006' }], true)]));
      const searches: SearchQuery[] = [];
      const spy: ResourceStore = Object.create(store, { search: { value: (q: SearchQuery) => (searches.push(q), store.search(q)) } });
      const batches = await all(await resolveCohort(spy, 'everyone-but-diabetics', NOW), 3);
      assert.deepEqual(batches.flat(), expected((p) => !hasCode(p, ['44054006'])));
      const patientPages = searches.filter((q) => q.resourceType === 'Patient');
      assert.ok(patientPages.length >= PEOPLE.length / 3, `${patientPages.length} pages`);
      for (const q of patientPages) {
        assert.equal(q.limit, 3);
        assert.equal(q.idsOnly, true);
      }
      assert.ok(patientPages.slice(1).every((q) => Array.isArray(q.after)), 'every page after the first starts at a keyset position');
      for (const q of searches.filter((x) => x.resourceType === 'Condition')) {
        const ins = JSON.stringify(q.filter).match(/Patient\//g) ?? [];
        assert.ok(ins.length <= 3, 'a has-search names only the patients of one page');
      }
    });

    it('refuses what it cannot evaluate with 400 naming the characteristic, before any batch', async () => {
      const refusals: Array<[string, GroupCharacteristic[], RegExp]> = [
        ['unknown-code', [gender('female'), characteristic(LOINC, '72166-2', { valueCodeableConcept: { text: 'smoker' } })], /Group\.characteristic\[1\].*code http:\/\/loinc\.org\|72166-2/],
        ['with-period', [{ ...gender('male'), period: { start: '2020-01-01' } }], /Group\.characteristic\[0\].*period/],
        ['gender-boolean', [characteristic(SNOMED, '263495000', { valueBoolean: true })], /Group\.characteristic\[0\].*valueCodeableConcept/],
        ['age-in-months', [characteristic(SNOMED, '397669002', { valueRange: { low: { value: 6, system: 'http://unitsofmeasure.org', code: 'mo' } } })], /Group\.characteristic\[0\].*years/],
        ['age-fraction', [characteristic(SNOMED, '397669002', { valueRange: { low: { value: 6.5, code: 'a' } } })], /whole number/],
        ['age-inverted', [age(60, 20)], /low is above/],
        ['condition-local-code', [hasCondition([{ system: 'http://example.org/local', code: 'x' }])], /SNOMED CT or ICD-10/],
        ['nothing', [], /at least one characteristic/],
      ];
      for (const [id, characteristics, why] of refusals) {
        await put(descriptive(id, characteristics));
        await rejects(id, why);
      }
    });
  });
});
