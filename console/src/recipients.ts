import { CATEGORY_SYSTEM } from './categories';

/**
 * The grid's columns: who may see a category, and for what. Each column is one Consent the
 * console keeps for the patient (found again by its identifier), so a change rewrites that
 * Consent instead of piling up new ones.
 *
 * - Treatment, payment: anyone acting for that purpose (the provision's `purpose`, a purpose
 *   group root). Open by default (the server's base policy), so the Consent lists what is denied.
 * - The employer: the organisations on record as businesses (Organization?type=bus), for
 *   whatever purpose (the provision's `actor`). Also a list of denials.
 * - Research: closed by default, and only a `research` Consent can open it (README "Consent
 *   rules" 2), so that Consent lists what is permitted.
 */
export interface Recipient {
  readonly key: 'care-team' | 'insurers' | 'employer' | 'research';
  readonly label: string;
  /** The purpose the question is asked for ($consent-decision `purpose`). */
  readonly purpose: string;
  readonly purposeLabel: string;
  /** The provision names this purpose (a group root); otherwise it names the actors. */
  readonly byPurpose: boolean;
  /** 'deny': the Consent lists denied categories; 'permit': permitted ones. */
  readonly lists: 'deny' | 'permit';
}

export const RECIPIENTS: readonly Recipient[] = [
  { key: 'care-team', label: 'My care team', purpose: 'TREAT', purposeLabel: 'treatment', byPurpose: true, lists: 'deny' },
  { key: 'insurers', label: 'Insurers', purpose: 'HPAYMT', purposeLabel: 'payment', byPurpose: true, lists: 'deny' },
  { key: 'employer', label: 'My employer', purpose: 'HPRGRP', purposeLabel: 'occupational health', byPurpose: false, lists: 'deny' },
  { key: 'research', label: 'Researchers', purpose: 'HRESCH', purposeLabel: 'research', byPurpose: true, lists: 'permit' },
];

export const CONSOLE_CONSENT_SYSTEM = 'https://custodian.example.org/fhir/sid/console-consent';
const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const LOINC = 'http://loinc.org';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

export interface ConsentResource {
  resourceType: 'Consent';
  id?: string;
  meta?: { versionId?: string };
  identifier?: { system?: string; value?: string }[];
  status: string;
  provision?: { type?: string; class?: { system?: string; code?: string }[] };
  [k: string]: unknown;
}

/** The categories a console Consent lists (none when it is not active). */
export function listedCategories(consent: ConsentResource | undefined): string[] {
  if (!consent || consent.status !== 'active') return [];
  return (consent.provision?.class ?? []).filter((c) => c.system === CATEGORY_SYSTEM && c.code).map((c) => c.code as string);
}

/**
 * The column's Consent listing `categories` (active), or, with none, the same Consent made
 * inactive (a Consent that lists nothing would otherwise deny or permit every category). The
 * id is kept, so the caller updates rather than creates.
 */
export function columnConsent(recipient: Recipient, patientId: string, categories: readonly string[], actors: readonly string[], now: Date, previous?: ConsentResource): ConsentResource {
  const research = recipient.lists === 'permit';
  const sorted = [...new Set(categories)].sort();
  return {
    resourceType: 'Consent',
    ...(previous?.id ? { id: previous.id } : {}),
    identifier: [{ system: CONSOLE_CONSENT_SYSTEM, value: recipient.key }],
    status: sorted.length > 0 ? 'active' : 'inactive',
    scope: { coding: [{ system: CONSENT_SCOPE, code: research ? 'research' : 'patient-privacy' }] },
    category: [{ coding: [{ system: LOINC, code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: now.toISOString(),
    policyRule: { coding: [{ system: ACT_CODE, code: research ? 'OPTIN' : 'OPTOUT' }] },
    provision: {
      type: recipient.lists,
      ...(recipient.byPurpose ? { purpose: [{ system: ACT_REASON, code: recipient.purpose }] } : {}),
      ...(!recipient.byPurpose ? { actor: actors.map((reference) => ({ role: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] }, reference: { reference } })) } : {}),
      ...(sorted.length > 0 ? { class: sorted.map((code) => ({ system: CATEGORY_SYSTEM, code })) } : {}),
    },
  };
}
