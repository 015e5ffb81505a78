import { PURPOSE_OF_USE_CODES } from '../auth/purpose-of-use.js';

/**
 * Consent is decided per purpose *group*: the HL7 v3 PurposeOfUse hierarchy
 * (http://terminology.hl7.org/CodeSystem/v3-ActReason) cut at the codes below. Every one of the
 * 59 PurposeOfUse codes falls in exactly one group (its nearest listed ancestor), so a request's
 * purpose always has a group, and a Consent provision's `purpose` may name only a group root:
 * that keeps per-resource decisions a small, fixed set (consent-tokens.ts).
 *
 * ETREAT is a child of TREAT in v3; it is a group of its own because emergency access is where
 * break-the-glass applies. A provision naming TREAT covers both groups.
 */
export const PURPOSE_GROUPS = ['treatment', 'emergency', 'payment', 'operations', 'research', 'patient-request', 'public-health', 'marketing'] as const;
export type PurposeGroup = (typeof PURPOSE_GROUPS)[number];

/** The v3 code at the root of each group. */
export const GROUP_ROOT: Readonly<Record<PurposeGroup, string>> = Object.freeze({
  treatment: 'TREAT',
  emergency: 'ETREAT',
  payment: 'HPAYMT',
  operations: 'HOPERAT',
  research: 'HRESCH',
  'patient-request': 'PATRQT',
  'public-health': 'PUBHLTH',
  marketing: 'HMARKT',
});

/** v3 PurposeOfUse parent of each non-root code (ActReason's is-a hierarchy). */
const PARENT: Readonly<Record<string, string>> = Object.freeze({
  CAREMGT: 'HOPERAT', DONAT: 'HOPERAT', FRAUD: 'HOPERAT', GOV: 'HOPERAT', HACCRED: 'HOPERAT', HCOMPL: 'HOPERAT',
  HDECD: 'HOPERAT', HDIRECT: 'HOPERAT', HDM: 'HOPERAT', HLEGAL: 'HOPERAT', HOUTCOMS: 'HOPERAT', HPRGRP: 'HOPERAT',
  HQUALIMP: 'HOPERAT', HSYSADMIN: 'HOPERAT', LABELING: 'HOPERAT', METAMGT: 'HOPERAT', MEMADMIN: 'HOPERAT',
  MILCDM: 'HOPERAT', PATADMIN: 'HOPERAT', PATSFTY: 'HOPERAT', PERFMSR: 'HOPERAT', RECORDMGT: 'HOPERAT',
  SYSDEV: 'HOPERAT', HTEST: 'SYSDEV', TRAIN: 'HOPERAT',
  CLMATTCH: 'HPAYMT', COVAUTH: 'HPAYMT', COVERAGE: 'HPAYMT', ELIGDTRM: 'COVERAGE', ELIGVER: 'COVERAGE',
  ENROLLM: 'COVERAGE', MILDCRG: 'HPAYMT', REMITADV: 'HPAYMT',
  BIORCH: 'HRESCH', CLINTRCH: 'HRESCH', CLINTRCHNPC: 'CLINTRCH', CLINTRCHPC: 'CLINTRCH', PRECLINTRCH: 'HRESCH',
  DSRCH: 'HRESCH', POARCH: 'HRESCH', TRANSRCH: 'HRESCH',
  FAMRQT: 'PATRQT', PWATRNY: 'PATRQT', SUPNWK: 'PATRQT',
  DISASTER: 'PUBHLTH', THREAT: 'PUBHLTH',
  CLINTRL: 'TREAT', COC: 'TREAT', POPHLTH: 'TREAT', BTG: 'ETREAT', ERTREAT: 'ETREAT',
  ETREAT: 'TREAT',
});

const ROOT_GROUP = new Map<string, PurposeGroup>(Object.entries(GROUP_ROOT).map(([g, code]) => [code, g as PurposeGroup]));

/** The group a request's purpose of use falls in; undefined for a code that is not PurposeOfUse. */
export function purposeGroup(code: string): PurposeGroup | undefined {
  if (!PURPOSE_OF_USE_CODES.has(code)) return undefined;
  for (let c: string | undefined = code; c !== undefined; c = PARENT[c]) {
    const g = ROOT_GROUP.get(c);
    if (g) return g;
  }
  return undefined;
}

/**
 * The groups a provision's purpose code covers: its own group, plus the emergency group for
 * TREAT (ETREAT is-a TREAT). Undefined when the code is not a group root, which the Consent
 * profile refuses.
 */
export function groupsCoveredBy(code: string): readonly PurposeGroup[] | undefined {
  const g = ROOT_GROUP.get(code);
  if (!g) return undefined;
  return g === 'treatment' ? ['treatment', 'emergency'] : [g];
}
