import { ALL_OBSERVATIONS, allBut, OBS, PAT, type RowTable } from './row.js';

const CHEN_OBS = [OBS.hr1, OBS.glu1, OBS.bp2];

/** reference parameters (R4 §3.1.1.4.10): Type/id, bare id, absolute URL, :Type, :missing. */
export const referenceRows: RowTable = {
  name: 'reference',
  rows: [
    { query: 'Observation?subject=Patient/pat-chen', ids: CHEN_OBS },
    { query: 'Observation?subject=pat-chen', ids: CHEN_OBS, why: 'a bare id matches a reference to any target type with that id' },
    { query: 'Observation?subject:Patient=pat-chen', ids: CHEN_OBS },
    { query: 'Observation?subject:Group=pat-chen', ids: [], why: ':Group restricts the target type; pat-chen is a Patient' },
    { query: 'Observation?patient=pat-chen', ids: CHEN_OBS },
    { query: 'Observation?patient=Patient/pat-chen,Patient/pat-smith', ids: [...CHEN_OBS, OBS.weight, OBS.nosys] },
    { query: 'Observation?subject=http://other.example/fhir/Patient/ext-1', ids: [OBS.localSys], why: 'an absolute reference to another server matches by its URL' },
    { query: 'Observation?subject=Patient/ext-1', ids: [], why: 'a relative reference means this server; ext-1 lives on other.example' },
    { query: 'Observation?subject=http://localhost:8080/fhir/Patient/pat-chen', ids: CHEN_OBS, why: "an absolute URL on this server's own base is the same resource as the relative reference stored" },
    { query: 'Observation?performer=Practitioner/pr-smith', ids: [OBS.hr1] },
    { query: 'Observation?performer:missing=true', ids: allBut(ALL_OBSERVATIONS, OBS.hr1, OBS.hr2) },
    { query: 'Observation?encounter=enc-2', ids: [OBS.hr2] },
    { query: 'Patient?organization=Organization/org-acme', ids: [PAT.muller, PAT.chen] },
    { query: 'Patient?organization:missing=true', ids: [PAT.smith, PAT.nodata] },
    { query: 'Patient?general-practitioner=pr-smith', ids: [PAT.chen] },
    { query: 'Organization?partof=org-acme', ids: ['org-beta'] },
    { query: 'ImagingStudy?patient=pat-chen', ids: ['img-1'] },
    { query: 'Encounter?service-provider=org-beta', ids: ['enc-2'] },
    { query: 'List?item=Observation/obs-hr-1', ids: ['list-1'] },
  ],
};

/** Chained parameters (R4 §3.1.1.4.13) to any depth, and reverse chaining with _has (§3.1.1.4.14). */
export const chainRows: RowTable = {
  name: 'chain and _has',
  rows: [
    { query: 'Observation?subject:Patient.name=chen', ids: [...CHEN_OBS, OBS.hr3], why: 'Chen and Chenoweth both start with "chen"' },
    { query: 'Observation?subject:Patient.name:exact=Chen', ids: CHEN_OBS, why: 'the modifier applies to the last parameter of the chain' },
    { query: 'Observation?patient.name=müller', ids: [OBS.hr2, OBS.bp1], why: 'string rules apply inside the chain: Mueller is not Müller' },
    { query: 'Observation?patient.gender=female', ids: [...CHEN_OBS, OBS.hr3] },
    { query: 'Observation?patient.organization.name=acme', ids: [OBS.hr2, OBS.bp1, ...CHEN_OBS], why: 'depth 2: patients managed by Acme (Müller, Chen)' },
    { query: 'Observation?patient.organization.partof.name=acme', ids: [OBS.glu2], why: 'depth 3: Mueller is managed by Beta, part of Acme' },
    { query: 'Observation?patient.organization.partof=Organization/org-acme', ids: [OBS.glu2] },
    { query: 'Observation?encounter.service-provider.name=beta', ids: [OBS.hr2] },
    { query: 'Observation?patient.name=chen&code=2339-0', ids: [OBS.glu1] },
    { query: 'Observation?subject:Patient.identifier=http://hospital.example/mrn|MRN-001', ids: [OBS.hr2, OBS.bp1] },
    { query: 'Condition?subject:Patient.birthdate=1992', ids: ['cond-diab'] },
    { query: 'Patient?_has:Observation:patient:code=2339-0', ids: [PAT.chen, PAT.mueller] },
    { query: 'Patient?_has:Observation:subject:code=85354-9', ids: [PAT.muller, PAT.chen] },
    { query: 'Patient?_has:Condition:subject:code=44054006', ids: [PAT.chen] },
    { query: 'Patient?_has:Observation:patient:code=8867-4&gender=female', ids: [PAT.chen, PAT.chenoweth] },
    { query: 'Patient?_has:Observation:patient:code=8867-4&_has:Observation:patient:code=2339-0', ids: [PAT.chen], why: 'two _has are ANDed: only Chen has both a heart rate and a glucose' },
    { query: 'Patient?_has:Observation:patient:status=preliminary', ids: [PAT.nodata] },
    { query: 'Patient?_has:Observation:patient:code=9999-9', ids: [] },
    { query: 'Patient?_has:Observation:patient:code:not=8867-4', ids: [PAT.chen, PAT.muller, PAT.mueller, PAT.smith], why: 'the modifier applies inside: patients with some Observation that is not a heart rate (not: patients without heart rates)' },
    { query: 'Observation?patient.birthdate:missing=true', ids: [OBS.noval], why: ':missing at the end of a chain: the patient exists but has no birthDate' },
    { query: 'Observation?code=8867-4,2339-0&code:not=8867-4', ids: [OBS.glu1, OBS.glu2] },
    { query: 'Organization?_has:Patient:organization:_has:Observation:patient:code=2339-0', ids: ['org-acme', 'org-beta'], why: 'nested _has: organisations of patients with a glucose result' },
    { query: 'Practitioner?_has:Observation:performer:subject=Patient/pat-muller', ids: ['pr-jones'] },
  ],
};
