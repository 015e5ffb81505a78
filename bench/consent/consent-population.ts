/**
 * What the consent benchmark adds to the synthetic population (fixtures/population/): the
 * parties Consents name, and which patients hold which Consent. Three kinds, drawn
 * independently per patient with a fixed seed (a patient may hold several):
 *
 * - research (default 60 %): a `research` Consent opting in to ResearchStudy/rs-bayview,
 *   sponsored by Organization/org-research (its principal investigator Practitioner/pract-8),
 *   with a nested deny of genetic data;
 * - employer (10 %): a `patient-privacy` Consent denying Organization/org-employer the
 *   patient's mental-health data (the generator's PHQ-9 / GAD-7 results, depression and anxiety);
 * - hiv (5 %): a `patient-privacy` Consent denying everyone the patient's HIV and infectious
 *   disease data except the members of CareTeam/ct-hiv (Practitioner/pract-1 and pract-3). The
 *   generator writes no such data, so these patients also get one HIV test result
 *   (LOINC 75622-1), in the same transaction as the Consent.
 *
 * Consents: https://hl7.org/fhir/R4/consent.html, in the shapes parse-consent.ts accepts.
 */
import type { Bundle, BundleEntry, CareTeam, Consent, ConsentProvision, Observation, ResearchStudy } from '@medplum/fhirtypes';
import { ORG, Prng, mixSeed } from '../../fixtures/population/index.js';
import { ACT_CODE_SYSTEM, CATEGORY_SYSTEM } from '../../server/src/consent/data-categories.js';
import { ACT_REASON_SYSTEM, CONSENT_ACTION_SYSTEM, CONSENT_SCOPE_SYSTEM } from '../../server/src/consent/parse-consent.js';

export const RESEARCH_STUDY = 'rs-bayview';
export const HIV_CARE_TEAM = 'ct-hiv';
/** Practitioners on the HIV care team; the benchmark's clinician is the first. */
export const HIV_CARE_TEAM_MEMBERS = ['pract-1', 'pract-3'] as const;

export type ConsentKind = 'research' | 'employer' | 'hiv';
export const CONSENT_KINDS: readonly ConsentKind[] = ['research', 'employer', 'hiv'];

export interface ConsentShares {
  research: number;
  employer: number;
  hiv: number;
}

/** The Consents patient `index` holds (independent draws, its own PRNG stream). */
export function consentKindsOf(seed: number, index: number, shares: ConsentShares): ConsentKind[] {
  const rng = new Prng(mixSeed(seed, 0xc0a5e17, index));
  return CONSENT_KINDS.filter((k) => rng.chance(shares[k]));
}

const put = (resource: ResearchStudy | CareTeam): BundleEntry => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } });

/** The research study and the care team, with stable ids (idempotent, like the directory). */
export function consentDirectoryBundle(): Bundle {
  const study: ResearchStudy = {
    resourceType: 'ResearchStudy',
    id: RESEARCH_STUDY,
    status: 'active',
    title: 'Bayview cardiometabolic cohort',
    sponsor: { reference: `Organization/${ORG.research}` },
    principalInvestigator: { reference: 'Practitioner/pract-8' },
  };
  const team: CareTeam = {
    resourceType: 'CareTeam',
    id: HIV_CARE_TEAM,
    status: 'active',
    name: 'HIV and infectious disease care team',
    participant: HIV_CARE_TEAM_MEMBERS.map((p) => ({ member: { reference: `Practitioner/${p}` } })),
    managingOrganization: [{ reference: `Organization/${ORG.hospital}` }],
  };
  return { resourceType: 'Bundle', type: 'transaction', entry: [put(study), put(team)] };
}

const action = (): ConsentProvision['action'] => [{ coding: [{ system: CONSENT_ACTION_SYSTEM, code: 'access' }] }];
const actor = (reference: string): NonNullable<ConsentProvision['actor']>[number] => ({
  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
  reference: { reference },
});
const category = (code: string): { system: string; code: string } => ({ system: CATEGORY_SYSTEM, code });

function consentOf(patientId: string, scope: 'research' | 'patient-privacy', rule: 'OPTIN' | 'OPTOUT', provision: ConsentProvision, dateTime: string): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: scope }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime,
    policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: rule }] },
    provision,
  };
}

/** The Consent of one kind for a patient. */
export function consentFor(kind: ConsentKind, patientId: string, dateTime = '2024-06-01T09:00:00Z'): Consent {
  switch (kind) {
    case 'research':
      return consentOf(
        patientId,
        'research',
        'OPTIN',
        {
          type: 'permit',
          actor: [actor(`ResearchStudy/${RESEARCH_STUDY}`)],
          action: action(),
          purpose: [{ system: ACT_REASON_SYSTEM, code: 'HRESCH' }],
          provision: [{ type: 'deny', class: [category('genetic')] }],
        },
        dateTime,
      );
    case 'employer':
      return consentOf(patientId, 'patient-privacy', 'OPTOUT', { type: 'deny', actor: [actor(`Organization/${ORG.employer}`)], action: action(), class: [category('mental-health')] }, dateTime);
    case 'hiv':
      return consentOf(
        patientId,
        'patient-privacy',
        'OPTOUT',
        {
          type: 'deny',
          action: action(),
          class: [category('hiv-and-infectious-disease')],
          provision: [{ type: 'permit', actor: [actor(`CareTeam/${HIV_CARE_TEAM}`)], action: action() }],
        },
        dateTime,
      );
  }
}

function hivTest(patientId: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests - Meaningful Use set' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-05-20T10:30:00Z',
    valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' }] },
  };
}

/** One transaction per patient: its Consents, and for an `hiv` Consent the HIV result it protects. */
export function patientConsentBundle(patientId: string, kinds: readonly ConsentKind[]): Bundle {
  const entry: BundleEntry[] = kinds.map((k) => ({ resource: consentFor(k, patientId), request: { method: 'POST', url: 'Consent' } }));
  if (kinds.includes('hiv')) entry.push({ resource: hivTest(patientId), request: { method: 'POST', url: 'Observation' } });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
