import { OBS, PAT, type RowTable } from './row.js';

const ORGS_MAIN = ['org-acme', 'org-beta', 'org-gamma', 'org-comma'];

/** Parameters for all resources (R4 §3.1.1.3 / §3.1.1.4.x): _lastUpdated, _tag, _security, _profile, _source, _list, _text. */
export const commonRows: RowTable = {
  name: 'common parameters',
  rows: [
    // org-acme/beta/gamma were committed in one transaction, org-delta in a later one.
    { label: 'Organization?_lastUpdated=gt<main>', query: (f) => `Organization?_lastUpdated=gt${f.mainLastUpdated}`, ids: ['org-delta'] },
    { label: 'Organization?_lastUpdated=le<main>', query: (f) => `Organization?_lastUpdated=le${f.mainLastUpdated}`, ids: ORGS_MAIN },
    { label: 'Organization?_lastUpdated=<main>', query: (f) => `Organization?_lastUpdated=${f.mainLastUpdated}`, ids: ORGS_MAIN, why: 'a millisecond search value contains the instant' },
    { label: 'Organization?_lastUpdated=ne<main>', query: (f) => `Organization?_lastUpdated=ne${f.mainLastUpdated}`, ids: ['org-delta'] },
    { label: 'Organization?_lastUpdated=sa<main>', query: (f) => `Organization?_lastUpdated=sa${f.mainLastUpdated}`, ids: ['org-delta'] },
    { label: 'Organization?_lastUpdated=eb<late>', query: (f) => `Organization?_lastUpdated=eb${f.lateLastUpdated}`, ids: ORGS_MAIN },
    { label: 'Organization?_lastUpdated=ge<late>', query: (f) => `Organization?_lastUpdated=ge${f.lateLastUpdated}`, ids: ['org-delta'] },
    { query: 'Organization?_lastUpdated=ge2000', ids: [...ORGS_MAIN, 'org-delta'] },
    { query: 'Patient?_tag=vip', ids: [PAT.muller] },
    { query: 'Patient?_tag=http://example.org/fhir/tags|research', ids: [PAT.chen] },
    { query: 'Patient?_tag:not=research', ids: [PAT.muller, PAT.mueller, PAT.chenoweth, PAT.smith, PAT.nodata], why: ':not includes the untagged' },
    { query: 'Patient?_tag:missing=true', ids: [], why: 'the server tags every Patient with its data category (demographics, issue 5)' },
    { query: 'Patient?_tag=https://custodian.example.org/fhir/CodeSystem/data-category|demographics&_tag:not=research', ids: [PAT.muller, PAT.mueller, PAT.chenoweth, PAT.smith, PAT.nodata] },
    { query: 'Patient?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R', ids: [PAT.muller] },
    { query: 'Patient?_profile=http://example.org/fhir/StructureDefinition/research-patient', ids: [PAT.muller] },
    { query: 'Patient?_source=http://example.org/fhir/source/ehr-b', ids: [PAT.chen] },
    { query: 'Patient?_source=http://example.org/fhir/source', ids: [], why: 'uri matching is exact unless :below is used' },
    { query: 'Patient?_source:missing=false', ids: [PAT.muller, PAT.chen] },
    { query: 'Patient?_profile:missing=true', ids: [PAT.mueller, PAT.chen, PAT.chenoweth, PAT.smith, PAT.nodata] },
    { query: 'ValueSet?url=http://example.org/fhir/ValueSet/vitals', ids: ['vs-vitals'] },
    { query: 'ValueSet?url=http://example.org/fhir/ValueSet', ids: [], why: 'uri matching is exact unless :below is used' },
    { query: 'Observation?_list=list-1', ids: [OBS.hr1, OBS.glu1] },
    { query: 'Observation?_list=list-1&code=2339-0', ids: [OBS.glu1] },
    { query: 'Patient?_text=boston', ids: [PAT.chen], why: "_text searches the narrative; Chenoweth's Boston is only in her address (optional in the issue)" },
  ],
};
