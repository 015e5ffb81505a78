import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { generatePopulation } from '../../fixtures/population/index.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { Deidentifier } from '../../server/src/ops/deidentify/deidentifier.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const defs = loadDefinitions(resolve(ROOT, 'fhir-profiles'));
const KEY = new Uint8Array(32).fill(42);
const AS_OF = new Date('2025-01-01T00:00:00Z');
const SYNTHEA = '/work/shared/data/synthea-r4';
const DAY_MS = 86_400_000;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DATE_LIKE = /^\d{4}(-\d{2}(-\d{2}(T.*)?)?)?$/;

type Json = Record<string, unknown>;

const deid = (scope = 'study-1', extra: { baseUrl?: string } = {}) => new Deidentifier(defs, { key: KEY, scope, asOf: AS_OF, ...extra });
const deidJson = (r: object, pid: string | undefined): Json => deid().resource(r as Resource, pid) as unknown as Json;

/**
 * A transaction bundle as the server stores it: every entry gets an id (the uuid of its
 * `urn:uuid:` fullUrl when it has none) and every `urn:uuid:` reference becomes `Type/id`.
 */
function stored(bundles: Bundle[]): Resource[] {
  const byFullUrl = new Map<string, string>();
  const resources: Resource[] = [];
  for (const b of bundles) {
    for (const e of b.entry ?? []) {
      const r = structuredClone(e.resource as Resource);
      if (!r.id) r.id = (e.fullUrl as string).replace(/^urn:uuid:/, '');
      if (e.fullUrl) byFullUrl.set(e.fullUrl, `${r.resourceType}/${r.id}`);
      resources.push(r);
    }
  }
  const fix = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(fix);
    else if (v && typeof v === 'object') {
      const o = v as Json;
      if (typeof o.reference === 'string' && byFullUrl.has(o.reference)) o.reference = byFullUrl.get(o.reference);
      Object.values(o).forEach(fix);
    }
  };
  resources.forEach(fix);
  return resources;
}

/** The Patient a resource belongs to, the way an export knows it (its compartment). */
function patientOf(r: Resource): string | undefined {
  if (r.resourceType === 'Patient') return r.id;
  const refs = [...JSON.stringify(r).matchAll(/"reference":"Patient\/([^"]+)"/g)].map((m) => m[1] as string);
  return refs[0];
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    Object.values(v).forEach(deepFreeze);
    Object.freeze(v);
  }
  return v;
}

/** Every [path, value] leaf of a JSON value. */
function leaves(v: unknown, path = '', out: Array<[string, unknown]> = []): Array<[string, unknown]> {
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, `${path}[${i}]`, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  else out.push([path, v]);
  return out;
}

function objects(v: unknown, out: Json[] = []): Json[] {
  if (Array.isArray(v)) v.forEach((x) => objects(x, out));
  else if (v && typeof v === 'object') {
    out.push(v as Json);
    Object.values(v).forEach((x) => objects(x, out));
  }
  return out;
}

/** Strings of the Patient that identify the person: none may appear anywhere in the output. */
function identifyingStrings(resources: Resource[]): string[] {
  const out: string[] = [];
  for (const r of resources) {
    if (r.resourceType !== 'Patient') continue;
    for (const i of r.identifier ?? []) if (i.value) out.push(i.value);
    for (const n of r.name ?? []) out.push(...(n.given ?? []), ...(n.family ? [n.family] : []));
    for (const t of r.telecom ?? []) if (t.value) out.push(t.value);
    // The city is checked as an element only: provider names such as "… Brockton Campus" may hold it.
    for (const a of r.address ?? []) out.push(...(a.line ?? []), ...(a.postalCode ? [a.postalCode] : []));
  }
  return out.filter((s) => s.length >= 4);
}

/**
 * The properties every de-identified patient record must have; returns how many dates were
 * checked. `input` is the stored record (one patient plus the directory it references).
 */
function checkRecord(input: Resource[], d: Deidentifier): number {
  const output = input.map((r) => d.resource(r, patientOf(r)));
  const text = JSON.stringify(output);

  // Nothing that names or locates the person, nor any real id, is left.
  for (const s of identifyingStrings(input)) assert.ok(!text.includes(s), `identifying value ${s} leaked`);
  for (const r of input) assert.ok(!text.includes(r.id as string), `real id ${r.resourceType}/${r.id} leaked`);
  for (const o of objects(output)) {
    for (const k of ['identifier', 'telecom', 'line', 'city', 'district', 'photo', 'note', 'contact', 'link', 'div', 'display'] as const) {
      if (k === 'display' && !('reference' in o)) continue;
      assert.equal(o[k], undefined, `${k} left in ${JSON.stringify(o).slice(0, 200)}`);
    }
    if (Array.isArray(o.name)) assert.fail(`HumanName left: ${JSON.stringify(o.name)}`);
  }

  // Ids are pseudonyms, and every reference points at a resource of the same de-identified set.
  const ids = new Set(output.map((r) => `${r.resourceType}/${r.id}`));
  for (const r of output) {
    assert.match(r.id as string, FHIR_ID);
    const local = new Set(((r as unknown as Json).contained as Json[] | undefined)?.map((c) => `#${c.id as string}`));
    for (const o of objects(r)) {
      if (typeof o.reference !== 'string') continue;
      assert.ok(ids.has(o.reference) || local.has(o.reference), `dangling reference ${o.reference}`);
    }
  }

  // Every date moved by exactly the patient's offset; time of day and zone unchanged.
  let checked = 0;
  input.forEach((r, i) => {
    const pid = patientOf(r);
    const offset = pid === undefined ? 0 : d.shiftDays(pid);
    if (pid !== undefined) assert.ok(offset !== 0 && Math.abs(offset) <= 365);
    const before = new Map(leaves(r));
    for (const [path, value] of leaves(output[i])) {
      const old = before.get(path);
      if (typeof value !== 'string' || typeof old !== 'string' || !DATE_LIKE.test(old) || !DATE_LIKE.test(value)) continue;
      if (old.length >= 10) {
        assert.equal(Date.parse(value.slice(0, 10)) - Date.parse(old.slice(0, 10)), offset * DAY_MS, `${r.resourceType}.${path}: ${old} → ${value}`);
        assert.equal(value.slice(10), old.slice(10), `${path}: time or zone changed`);
      } else {
        assert.equal(value.length, old.length, `${path}: precision changed`);
      }
      checked++;
    }
  });
  return checked;
}

describe('Deidentifier on the synthetic population (fixtures/population)', () => {
  const [directory, ...patients] = generatePopulation({ patients: 2, seed: 11 });
  const records = patients.map((p) => stored([directory as Bundle, p]));

  it('removes identifiers, names, telecom, address lines, narrative; keeps referential integrity; shifts dates by the patient offset', () => {
    const d = deid();
    for (const record of records) assert.ok(checkRecord(record, d) > 100);
  });

  it('two patients get different offsets, and intervals inside a record are preserved', () => {
    const d = deid();
    const [a, b] = records.map((r) => r.find((x) => x.resourceType === 'Patient')?.id as string);
    assert.notEqual(d.shiftDays(a as string), d.shiftDays(b as string));
    const encounters = (records[0] as Resource[]).filter((r) => r.resourceType === 'Encounter');
    const pid = a as string;
    const span = (rs: Resource[]) => rs.map((r) => Date.parse((r as { period: { start: string } }).period.start));
    const before = span(encounters);
    const after = span(encounters.map((r) => d.resource(r, pid)));
    for (let i = 1; i < before.length; i++) assert.equal((after[i] as number) - (after[0] as number), (before[i] as number) - (before[0] as number));
  });

  it('same scope → same output; another scope → other pseudonyms', () => {
    const record = records[0] as Resource[];
    const one = record.map((r) => deid('study-1').resource(r, patientOf(r)));
    const again = record.map((r) => deid('study-1').resource(r, patientOf(r)));
    const other = record.map((r) => deid('study-2').resource(r, patientOf(r)));
    assert.deepEqual(again, one);
    one.forEach((r, i) => assert.notEqual(r.id, other[i]?.id));
  });

  it('never mutates its input', () => {
    const record = structuredClone(records[1] as Resource[]);
    const copy = structuredClone(record);
    deepFreeze(record);
    const d = deid();
    for (const r of record) d.resource(r, patientOf(r));
    assert.deepEqual(record, copy);
  });

  it('generalises the ZIP code and keeps the state', () => {
    const patient = (records[0] as Resource[]).find((r) => r.resourceType === 'Patient') as Resource & { address: Json[] };
    const out = deid().resource(patient, patient.id) as Resource & { address: Json[] };
    const zip = patient.address[0]?.postalCode as string;
    assert.deepEqual(out.address, [{ use: 'home', type: 'physical', state: patient.address[0]?.state, postalCode: zip.slice(0, 3), country: 'US' }]);
  });

  it('labels every resource PSEUDED and keeps data-category tags and other labels', () => {
    const obs = (records[0] as Resource[]).find((r) => r.resourceType === 'Observation') as Resource;
    const labelled = {
      ...obs,
      meta: {
        versionId: '7',
        source: 'https://ehr.example.org/feed#42',
        lastUpdated: '2024-03-01T10:00:00.000Z',
        tag: [{ system: 'https://custodian.example.org/fhir/CodeSystem/data-category', code: 'vital-signs' }],
        security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }],
      },
    } as Resource;
    const d = deid();
    const out = d.resource(labelled, patientOf(labelled));
    const shifted = new Date(Date.parse('2024-03-01T10:00:00.000Z') + d.shiftDays(patientOf(labelled) as string) * DAY_MS).toISOString();
    assert.deepEqual(out.meta, {
      lastUpdated: shifted,
      tag: [{ system: 'https://custodian.example.org/fhir/CodeSystem/data-category', code: 'vital-signs' }],
      security: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' },
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'PSEUDED', display: 'pseudonymized' },
      ],
    });
  });
});

describe('Deidentifier: elements found by type anywhere', () => {
  const d = deid('study-1', { baseUrl: 'https://fhir.example.org/r4' });
  const P = 'pat-1';
  /** The de-identified copy as plain JSON, for element-by-element assertions. */
  const dj = (r: object, pid: string | undefined): Json => d.resource(r as Resource, pid) as unknown as Json;
  const shift = (date: string) => new Date(Date.parse(date) + d.shiftDays(P) * DAY_MS).toISOString().slice(0, 10);

  it('rewrites every form of literal reference and drops what cannot be pseudonymised', () => {
    const out = dj(
      {
        resourceType: 'Observation',
        id: 'obs-1',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: 'Patient/pat-1', display: 'Ann Smith' },
        encounter: { reference: 'https://fhir.example.org/r4/Encounter/enc-1' },
        basedOn: [{ reference: 'ServiceRequest/sr-1/_history/3' }],
        partOf: [{ reference: 'https://elsewhere.example.com/fhir/Procedure/pr-1' }, { reference: 'Procedure?identifier=urn:x|123' }],
        focus: [{ reference: 'urn:uuid:62e03ae7-079c-4eda-9b5a-29440d3a015a' }],
        performer: [{ identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }, display: 'Dr Who' }],
        hasMember: [{ reference: 'Observation/obs-2', type: 'Observation' }],
      },
      P,
    );
    assert.equal(out.id, d.pseudonym('Observation', 'obs-1'));
    assert.deepEqual(out.subject, { reference: `Patient/${d.pseudonym('Patient', 'pat-1')}` });
    assert.deepEqual(out.encounter, { reference: `Encounter/${d.pseudonym('Encounter', 'enc-1')}` });
    assert.deepEqual(out.basedOn, [{ reference: `ServiceRequest/${d.pseudonym('ServiceRequest', 'sr-1')}` }]);
    assert.equal(out.partOf, undefined);
    assert.match((out.focus as Json[])[0]?.reference as string, /^urn:uuid:[0-9a-f-]{36}$/);
    assert.notEqual((out.focus as Json[])[0]?.reference, 'urn:uuid:62e03ae7-079c-4eda-9b5a-29440d3a015a');
    assert.equal(out.performer, undefined);
    assert.deepEqual(out.hasMember, [{ reference: `Observation/${d.pseudonym('Observation', 'obs-2')}`, type: 'Observation' }]);
    // Without a base URL, an absolute reference cannot be told from another server's: dropped.
    const noBase = deidJson({ resourceType: 'Observation', status: 'final', code: {}, encounter: { reference: 'https://fhir.example.org/r4/Encounter/enc-1' } }, P);
    assert.equal(noBase.encounter, undefined);
  });

  it('shifts choice elements, backbone elements, Periods, Timing, extensions and primitive extensions', () => {
    const out = dj(
      {
        resourceType: 'MedicationRequest',
        id: 'mr-1',
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/pat-1' },
        medicationReference: { reference: '#med' },
        authoredOn: '2021-03-04T05:06:07+02:00',
        extension: [{ url: 'http://example.org/fhir/StructureDefinition/recorded', valueDate: '2021-03-01' }],
        _authoredOn: { extension: [{ url: 'http://example.org/fhir/StructureDefinition/entered', valueDateTime: '2021-03-05' }] },
        dosageInstruction: [{ timing: { event: ['2021-03-10', '2021-03-11'], repeat: { boundsPeriod: { start: '2021-03-10', end: '2021-04-10' } } } }],
        dispenseRequest: { validityPeriod: { start: '2021-03-04' } },
        contained: [
          {
            resourceType: 'Medication',
            id: 'med',
            identifier: [{ value: 'LOT-SERIAL-1' }],
            batch: { lotNumber: 'L1', expirationDate: '2023-01-31' },
          },
        ],
      },
      P,
    );
    const authored = out.authoredOn as string;
    assert.equal(authored, `${shift('2021-03-04')}T05:06:07+02:00`);
    assert.deepEqual(out.extension, [{ url: 'http://example.org/fhir/StructureDefinition/recorded', valueDate: shift('2021-03-01') }]);
    assert.deepEqual(out._authoredOn, { extension: [{ url: 'http://example.org/fhir/StructureDefinition/entered', valueDateTime: shift('2021-03-05') }] });
    assert.deepEqual(out.dosageInstruction, [
      { timing: { event: [shift('2021-03-10'), shift('2021-03-11')], repeat: { boundsPeriod: { start: shift('2021-03-10'), end: shift('2021-04-10') } } } },
    ]);
    assert.deepEqual(out.dispenseRequest, { validityPeriod: { start: shift('2021-03-04') } });
    // Contained: id and `#` reference kept (local names), identifiers removed, dates shifted, no label of its own.
    assert.deepEqual(out.medicationReference, { reference: '#med' });
    assert.deepEqual(out.contained, [{ resourceType: 'Medication', id: 'med', batch: { lotNumber: 'L1', expirationDate: shift('2023-01-31') } }]);
  });

  it('removes free text, photos, contacts, links, attachments content, string extensions and unknown elements', () => {
    const patient = dj(
      {
        resourceType: 'Patient',
        id: 'pat-1',
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ann Smith, MRN 123</div>' },
        extension: [
          { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Jones' },
          { url: 'http://example.org/fhir/StructureDefinition/nickname', valueString: 'Annie' },
          { url: 'http://example.org/fhir/StructureDefinition/homepage', valueUrl: 'https://annsmith.example.com' },
          { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { city: 'Springfield', state: 'MA', country: 'US' } },
          { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
        ],
        name: [{ family: 'Smith', given: ['Ann'] }],
        gender: 'female',
        birthDate: '1980-02-03',
        _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1980-02-03T04:05:00-05:00' }] },
        address: [{ line: ['1 Main St'], city: 'Boston', district: 'Suffolk', state: 'MA', postalCode: '02118', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/geolocation', extension: [{ url: 'latitude', valueDecimal: 42.3 }] }] }],
        photo: [{ contentType: 'image/jpeg', data: 'AAAA' }],
        contact: [{ name: { family: 'Smith' }, telecom: [{ system: 'phone', value: '555-0100' }] }],
        link: [{ other: { reference: 'Patient/pat-2' }, type: 'seealso' }],
        favouriteColour: 'blue',
      },
      P,
    );
    assert.deepEqual(patient, {
      resourceType: 'Patient',
      id: d.pseudonym('Patient', 'pat-1'),
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'PSEUDED', display: 'pseudonymized' }] },
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { state: 'MA', country: 'US' } },
        { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
      ],
      gender: 'female',
      birthDate: shift('1980-02-03'),
      _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: `${shift('1980-02-03')}T04:05:00-05:00` }] },
      address: [{ state: 'MA', postalCode: '021' }],
    });

    const doc = dj(
      {
        resourceType: 'DiagnosticReport',
        id: 'dr-1',
        status: 'final',
        code: { text: 'CT chest' },
        subject: { reference: 'Patient/pat-1' },
        media: [{ comment: 'Ann at her 3rd visit', link: { reference: 'Media/m-1', display: 'photo of Ann' } }],
        presentedForm: [{ contentType: 'application/pdf', data: 'JVBERi0=', url: 'https://files.example.org/ann.pdf', title: 'Ann Smith report', hash: 'AAAA', size: 4, creation: '2022-01-02T03:04:05Z', language: 'en' }],
      },
      P,
    );
    assert.deepEqual(doc.media, [{ link: { reference: `Media/${d.pseudonym('Media', 'm-1')}` } }]);
    assert.deepEqual(doc.presentedForm, [{ contentType: 'application/pdf', creation: `${shift('2022-01-02')}T03:04:05Z`, language: 'en' }]);

    const obs = dj(
      { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, note: [{ authorString: 'Dr Who', text: 'Ann said her SSN is 123-45-6789' }] },
      P,
    );
    assert.equal(obs.note, undefined);
  });

  it('drops identifiers typed as plain strings and pseudonymises DICOM UIDs', () => {
    const coverage = dj(
      { resourceType: 'Coverage', id: 'c', status: 'active', subscriberId: 'AHI000000001', beneficiary: { reference: 'Patient/pat-1' }, payor: [{ reference: 'Organization/ins' }] },
      P,
    );
    assert.equal(coverage.subscriberId, undefined);
    const study = dj(
      {
        resourceType: 'ImagingStudy',
        id: 'is',
        status: 'available',
        subject: { reference: 'Patient/pat-1' },
        identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:1.2.3.4' }],
        series: [{ uid: '1.2.3.4.5', modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }, instance: [{ uid: '1.2.3.4.5.6', sopClass: { code: '1.2.840.10008.5.1.4.1.1.2' } }] }],
      },
      P,
    ) as unknown as { series: Array<{ uid: string; instance: Array<{ uid: string }> }> } & Json;
    assert.equal(study.identifier, undefined);
    assert.match(study.series[0]?.uid as string, /^2\.25\.\d+$/);
    assert.match(study.series[0]?.instance[0]?.uid as string, /^2\.25\.\d+$/);
    assert.notEqual(study.series[0]?.uid, study.series[0]?.instance[0]?.uid);
  });

  it('generalises a birth date of someone 90 or older, checking the real and the shifted date', () => {
    const old = dj({ resourceType: 'Patient', id: 'pat-1', birthDate: '1920-05-06' }, P);
    assert.equal(old.birthDate, undefined);
    assert.deepEqual(old._birthDate, {
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' },
        { url: 'https://custodian.example.org/fhir/StructureDefinition/deid-age-90-or-older', valueBoolean: true },
      ],
    });
    // Turned 90 on AS_OF: generalised whichever way the shift goes.
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const out = dj({ resourceType: 'Patient', id, birthDate: '1935-01-01' }, id);
      assert.equal(out.birthDate, undefined, `patient ${id} (shift ${d.shiftDays(id)})`);
    }
    // Any resource with a birth date, and any precision: a year-only 1921 is 90 or more.
    const relative = dj({ resourceType: 'RelatedPerson', id: 'rp', patient: { reference: 'Patient/pat-1' }, birthDate: '1921' }, P);
    assert.equal(relative.birthDate, undefined);
    assert.ok(relative._birthDate);
    // 88 today: even a year's shift cannot make 90, so the (shifted) date stays.
    const young = dj({ resourceType: 'Patient', id: 'pat-1', birthDate: '1936-06-01' }, P);
    assert.equal(young.birthDate, shift('1936-06-01'));
    assert.equal(young._birthDate, undefined);
  });

  it('caps Age and year quantities at 90 with comparator >=, and opens age ranges', () => {
    const condition = dj(
      { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/pat-1' }, onsetAge: { value: 1150, unit: 'months', system: 'http://unitsofmeasure.org', code: 'mo' } },
      P,
    );
    assert.deepEqual(condition.onsetAge, { value: 90, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a', comparator: '>=' });
    const young = dj(
      { resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/pat-1' }, onsetAge: { value: 89, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' } },
      P,
    );
    assert.deepEqual(young.onsetAge, { value: 89, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' });
    const range = dj(
      {
        resourceType: 'Condition',
        id: 'c3',
        subject: { reference: 'Patient/pat-1' },
        onsetRange: { low: { value: 92, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' }, high: { value: 95, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' } },
      },
      P,
    );
    assert.deepEqual(range.onsetRange, { low: { value: 90, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' } });
    const ageObs = dj(
      { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '30525-0' }] }, valueQuantity: { value: 97, unit: 'yr', system: 'http://unitsofmeasure.org', code: 'a' } },
      P,
    );
    assert.deepEqual(ageObs.valueQuantity, { value: 90, unit: 'yr', system: 'http://unitsofmeasure.org', code: 'a', comparator: '>=' });
    const weight = dj(
      { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'weight' }, valueQuantity: { value: 97, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } },
      P,
    );
    assert.deepEqual(weight.valueQuantity, { value: 97, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' });
  });

  it('leaves dates alone when the resource has no patient, and de-identifies Bundle entries', () => {
    const org = dj({ resourceType: 'Organization', id: 'org', name: 'Clinic', meta: { lastUpdated: '2024-01-01T00:00:00Z' } }, undefined);
    assert.equal((org.meta as Json).lastUpdated, '2024-01-01T00:00:00Z');
    const bundle = dj(
      {
        resourceType: 'Bundle',
        id: 'b',
        type: 'collection',
        entry: [{ fullUrl: 'https://fhir.example.org/r4/Patient/pat-1', resource: { resourceType: 'Patient', id: 'pat-1', name: [{ family: 'Smith' }], birthDate: '1980-02-03' } }],
      },
      P,
    );
    assert.deepEqual(bundle.entry, [
      {
        resource: {
          resourceType: 'Patient',
          id: d.pseudonym('Patient', 'pat-1'),
          meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'PSEUDED', display: 'pseudonymized' }] },
          birthDate: shift('1980-02-03'),
        },
      },
    ]);
  });

  it('refuses something that is not an R4 resource', () => {
    assert.throws(() => dj({ resourceType: 'NotAThing', id: 'x' }, P), TypeError);
  });
});

describe('Deidentifier on the Synthea records (/work/shared/data/synthea-r4)', () => {
  const present = existsSync(SYNTHEA);
  if (!present) {
    it.skip(`skipped: ${SYNTHEA} is absent (reference data outside the repository)`, () => {});
    return;
  }
  const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort();
  const directory = files.filter((f) => /^(hospital|practitioner)Information/.test(f)).map((f) => JSON.parse(readFileSync(`${SYNTHEA}/${f}`, 'utf8')) as Bundle);
  const patientFiles = files.filter((f) => !/^(hospital|practitioner)Information/.test(f)).slice(0, 4);

  for (const f of patientFiles) {
    it(`${f.split('_').slice(0, 2).join(' ')}: no identifier, name, telecom, address line, city, narrative; references resolve; dates shifted by the offset`, () => {
      const record = stored([JSON.parse(readFileSync(`${SYNTHEA}/${f}`, 'utf8')) as Bundle, ...directory]);
      assert.ok(checkRecord(record, deid(`synthea-${f}`)) > 200);
    });
  }
});
