import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../../server/src/fhir/definitions.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { definitionsFingerprint, reindexAll } from '../../server/src/fhir/search/reindex.js';
import type { IndexValues, StoredDocument } from '../../server/src/store/resource-store.js';

const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const ms = (iso: string) => Date.parse(iso);
const index = (r: object) => computeIndex(defs, r as Resource);

describe('computeIndex: index values per SearchParameter type', () => {
  it('string: normalised text for matching, the text as written under <code>:exact', () => {
    const idx = index({ resourceType: 'Patient', name: [{ family: 'Ébert', given: ['Jo'], text: 'Jo Ébert' }] });
    assert.deepEqual(idx.family, ['ebert']);
    assert.deepEqual(idx['family:exact'], ['Ébert']);
    assert.deepEqual(idx.name, ['jo ebert', 'ebert', 'jo']);
    assert.deepEqual(idx['name:exact'], ['Jo Ébert', 'Ébert', 'Jo']);
  });

  it('token: codings with display text, CodeableConcept.text, identifiers with their type coding', () => {
    const obs = index({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }], text: 'Blood sugar' },
    });
    assert.deepEqual(obs.code, [{ s: 'http://loinc.org', c: '2339-0', t: 'glucose' }, { t: 'blood sugar' }]);
    assert.deepEqual(obs.status, [{ c: 'final' }]);
    const pat = index({
      resourceType: 'Patient',
      active: false,
      identifier: [
        { system: 'urn:mrn', value: '1', type: { coding: [{ system: 'v2', code: 'MR' }, { system: 'local', code: 'X' }], text: 'MRN' } },
        { system: 'urn:ssn', value: '2' },
      ],
    });
    assert.deepEqual(pat.identifier, [
      { s: 'urn:mrn', c: '1', t: 'mrn', ts: 'v2', tc: 'MR' },
      { s: 'urn:mrn', c: '1', t: 'mrn', ts: 'local', tc: 'X' },
      { s: 'urn:ssn', c: '2' },
    ]);
    assert.deepEqual(pat.active, [{ c: 'false' }]);
  });

  it('reference: as written, plus the unversioned form of a versioned reference', () => {
    const idx = index({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1/_history/2' }, performer: [{ reference: 'https://other.example/fhir/Practitioner/d' }] });
    assert.deepEqual(idx.subject, ['Patient/p1/_history/2', 'Patient/p1']);
    assert.deepEqual(idx.performer, ['https://other.example/fhir/Practitioner/d']);
  });

  it('date: precision ranges; Period open ends; Timing outer limits of events and bounds', () => {
    assert.deepEqual(index({ resourceType: 'Patient', birthDate: '1970' }).birthdate, [{ lo: ms('1970-01-01T00:00:00Z'), hi: ms('1970-12-31T23:59:59.999Z') }]);
    assert.deepEqual(index({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-01-01' } }).date, [{ lo: ms('2020-01-01T00:00:00Z'), hi: 8.64e15 }]);
    assert.deepEqual(index({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { end: '2020-01-01' } }).date, [{ lo: -8.64e15, hi: ms('2020-01-01T23:59:59.999Z') }]);
    const cp = (scheduledTiming: object) =>
      index({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/p' }, activity: [{ detail: { status: 'scheduled', scheduledTiming } }] })['activity-date'];
    assert.deepEqual(cp({ event: ['2020-03-10', '2020-03-05'] }), [{ lo: ms('2020-03-05T00:00:00Z'), hi: ms('2020-03-10T23:59:59.999Z') }]);
    assert.deepEqual(cp({ event: ['2020-03-05'], repeat: { boundsPeriod: { start: '2020-02-01', end: '2020-02-10' } } }), [
      { lo: ms('2020-02-01T00:00:00Z'), hi: ms('2020-03-05T23:59:59.999Z') },
    ]);
    assert.equal(cp({ repeat: { frequency: 1, period: 1, periodUnit: 'd' } }), undefined);
  });

  it('number and quantity: value, system, code, and the human unit when it differs', () => {
    assert.deepEqual(index({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/p' }, prediction: [{ probabilityDecimal: 0.5 }, { probabilityDecimal: 0.5 }] }).probability, [0.5]);
    const q = index({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } });
    assert.deepEqual(q['value-quantity'], [{ v: 120, s: 'http://unitsofmeasure.org', c: 'mm[Hg]', u: 'mmHg' }]);
    const unitOnly = index({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 3, unit: 'tablets' } });
    assert.deepEqual(unitOnly['value-quantity'], [{ v: 3, c: 'tablets' }]);
  });

  it('composite: one entry per base element, components kept together', () => {
    const idx = index({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '9999-9' }] }, valueString: 'not a quantity' },
      ],
    });
    assert.deepEqual(idx['component-code-value-quantity'], [
      { c0: [{ s: 'http://loinc.org', c: '8480-6' }], c1: [{ v: 120, s: 'http://unitsofmeasure.org', c: 'mm[Hg]' }] },
      { c0: [{ s: 'http://loinc.org', c: '8462-4' }], c1: [{ v: 80, s: 'http://unitsofmeasure.org', c: 'mm[Hg]' }] },
    ]);
    assert.equal(idx['code-value-quantity'], undefined, 'the Observation itself has no value');
    assert.deepEqual(idx['component-code-value-string'], undefined, 'value.as(string) selects no Quantity');
  });

  it('Resource-level parameters: _tag, _security, _profile, _source', () => {
    const idx = index({
      resourceType: 'Patient',
      meta: { tag: [{ system: 't', code: 'x' }], security: [{ system: 's', code: 'R' }], profile: ['http://p'], source: 'urn:src' },
    });
    assert.deepEqual([idx._tag, idx._security, idx._profile, idx._source], [[{ s: 't', c: 'x' }], [{ s: 's', c: 'R' }], ['http://p'], ['urn:src']]);
  });

  it("the project's Claim supporting-info parameter indexes supportingInfo references only", () => {
    const idx = index({
      resourceType: 'Claim',
      supportingInfo: [
        { sequence: 1, category: { text: 'info' }, valueReference: { reference: 'Observation/o1' } },
        { sequence: 2, category: { text: 'info' }, valueString: 'free text' },
      ],
    });
    assert.deepEqual(idx['supporting-info'], ['Observation/o1']);
  });
});

describe('reindexAll and definitionsFingerprint', () => {
  it('recomputes every document of every type and stores the values in batches', async () => {
    const patients: StoredDocument[] = Array.from({ length: 1203 }, (_, i) => ({
      resourceType: 'Patient',
      id: `p${i}`,
      versionId: '1',
      lastUpdated: '2024-01-01T00:00:00Z',
      lastUpdatedMs: 0,
      deleted: false,
      resource: { resourceType: 'Patient', id: `p${i}`, name: [{ family: `Family${i}` }] },
      idx: {},
    }));
    const calls: Array<{ type: string; entries: Array<{ id: string; index: IndexValues }> }> = [];
    const store = {
      async *scan(type: string) {
        if (type === 'Patient') yield* patients;
      },
      async updateIndex(type: string, entries: Array<{ id: string; index: IndexValues }>) {
        calls.push({ type, entries });
      },
    };
    const report = await reindexAll(store, defs);
    assert.deepEqual(report, { perType: { Patient: 1203 }, total: 1203 });
    assert.deepEqual(calls.map((c) => c.entries.length), [500, 500, 203]);
    assert.deepEqual(calls[2]?.entries[202], { id: 'p1202', index: computeIndex(defs, patients[1202]?.resource as Resource) });
    assert.deepEqual(calls[0]?.entries[0]?.index.family, ['family0']);
  });

  it('is stable, and changes when a SearchParameter in use changes', () => {
    const a = definitionsFingerprint(defs);
    assert.equal(definitionsFingerprint(defs), a);
    assert.match(a, /^[0-9a-f]{64}$/);
    const altered: Definitions = {
      ...defs,
      resourceTypes: defs.resourceTypes,
      searchParameters: (t: string) => {
        const params = defs.searchParameters(t);
        if (t !== 'Claim') return params;
        return { ...params, 'supporting-info': { ...(params['supporting-info'] as SearchParameter), expression: 'Claim.supportingInfo.value' } };
      },
    };
    assert.notEqual(definitionsFingerprint(altered), a);
  });
});
