/**
 * Who asks what in the consent benchmark. The requesters are the demo actors'
 * (fixtures/actors/actors.ts) — same clients, scopes, purposes and fhirUser — so each request
 * goes through the consent path it would take in use:
 *
 * - clinician: Practitioner/pract-1, purpose TREAT. pract-1 is on CareTeam/ct-hiv, which the HIV
 *   Consents name, so its clause carries a named identity (consent-tokens.ts `asNamed`).
 * - employer: Organization/org-employer, purpose HPRGRP (operations), itself named by the
 *   employer Consents.
 * - insurer: Organization/org-insurer, purpose HPAYMT, named by no Consent ("anyone else").
 * - researcher: Organization/org-research, purpose HRESCH; sponsor of ResearchStudy/rs-bayview,
 *   which the research Consents name; research is opt-in, so it sees the consented patients only.
 *
 * FHIR R4 read (https://hl7.org/fhir/R4/http.html#read) and search
 * (https://hl7.org/fhir/R4/search.html); a walk follows `next` links (`_cursor`).
 */
import type { BenchClaims } from '../servers/bench-issuer.js';

export type ActorName = 'clinician' | 'employer' | 'insurer' | 'researcher';

export const ACTORS: Readonly<Record<ActorName, BenchClaims>> = {
  clinician: { client_id: 'demo-clinician-app', scope: 'fhirUser user/*.cruds', purpose_of_use: ['TREAT'], roles: ['clinician'], fhirUser: 'Practitioner/pract-1' },
  employer: { client_id: 'demo-employer-backend', scope: 'system/Patient.rs system/Observation.rs', purpose_of_use: ['HPRGRP'], roles: ['employer'], fhirUser: 'Organization/org-employer' },
  insurer: { client_id: 'demo-insurer-backend', scope: 'system/Patient.rs system/Observation.rs system/Claim.rs', purpose_of_use: ['HPAYMT'], roles: ['insurer'], fhirUser: 'Organization/org-insurer' },
  researcher: { client_id: 'demo-research-backend', scope: 'system/*.rs', purpose_of_use: ['HRESCH'], roles: ['research'], fhirUser: 'Organization/org-research' },
};

export type ScenarioName = 'read-clinician' | 'read-employer' | 'patient-obs-clinician' | 'patient-obs-insurer' | 'research-code' | 'research-walk';
export type ScenarioKind = 'read' | 'patient-search' | 'code-search' | 'walk';

export interface ScenarioDef {
  name: ScenarioName;
  kind: ScenarioKind;
  actor: ActorName;
  label: string;
}

/** Page size of the researcher's searches, and what a walk reads. */
export const RESEARCH_PAGE = 50;
export const WALK_RESULTS = 500;

export const SCENARIOS: readonly ScenarioDef[] = [
  { name: 'read-clinician', kind: 'read', actor: 'clinician', label: 'GET Observation/<id>, clinician TREAT' },
  { name: 'read-employer', kind: 'read', actor: 'employer', label: 'GET Observation/<id>, employer HPRGRP' },
  { name: 'patient-obs-clinician', kind: 'patient-search', actor: 'clinician', label: 'Observation?patient=<id>, clinician TREAT' },
  { name: 'patient-obs-insurer', kind: 'patient-search', actor: 'insurer', label: 'Observation?patient=<id>, insurer HPAYMT' },
  { name: 'research-code', kind: 'code-search', actor: 'researcher', label: `Observation?code=<lab LOINC>&_count=${RESEARCH_PAGE}, researcher HRESCH` },
  { name: 'research-walk', kind: 'walk', actor: 'researcher', label: `walk ${WALK_RESULTS}: Observation?code=<lab LOINC>&_count=${RESEARCH_PAGE}&_total=none via _cursor, researcher` },
];

const q = encodeURIComponent;

export const readPath = (observationId: string): string => `/Observation/${observationId}`;
export const patientSearchPath = (patientId: string): string => `/Observation?patient=${q(`Patient/${patientId}`)}`;
export const codeSearchPath = (loinc: string): string => `/Observation?code=${q(`http://loinc.org|${loinc}`)}&_count=${RESEARCH_PAGE}`;
export const walkPath = (loinc: string): string => `/Observation?code=${q(`http://loinc.org|${loinc}`)}&_count=${RESEARCH_PAGE}&_total=none`;
