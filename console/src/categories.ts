import codeSystem from '../../fhir-profiles/CodeSystem-custodian-data-category.json';

/**
 * The data categories, from the CodeSystem the server labels with (fhir-profiles/), bundled at
 * build time: the grid's rows are exactly the categories the server decides on.
 */
export interface Category {
  readonly code: string;
  readonly display: string;
  readonly definition: string;
}

export const CATEGORY_SYSTEM: string = codeSystem.url;

export const CATEGORIES: readonly Category[] = codeSystem.concept.map((c) => ({ code: c.code, display: c.display, definition: c.definition ?? '' }));

const BY_CODE = new Map(CATEGORIES.map((c) => [c.code, c]));

export function categoryDisplay(code: string): string {
  return BY_CODE.get(code)?.display ?? code;
}

/** HL7 v3 PurposeOfUse codes the console names, in words. */
export const PURPOSES: Readonly<Record<string, string>> = {
  TREAT: 'Treatment',
  ETREAT: 'Emergency treatment',
  COC: 'Coordination of care',
  HPAYMT: 'Payment',
  CLMATTCH: 'Claim attachment',
  COVAUTH: 'Coverage authorization',
  HOPERAT: 'Healthcare operations',
  HPRGRP: 'Health program reporting (employer)',
  HSYSADMIN: 'System administration',
  HRESCH: 'Research',
  PATRQT: 'Patient request',
  PUBHLTH: 'Public health',
  HMARKT: 'Marketing',
};

export function purposeDisplay(code: string): string {
  return PURPOSES[code] ?? code;
}
