/**
 * The data categories Custodian enforces consent on, and the HL7 security labels each implies.
 * The codes are those of the CodeSystem in fhir-profiles/CodeSystem-custodian-data-category.json
 * (a unit test keeps the two equal); which codes and resource types fall in a category is data,
 * in the ValueSets of fhir-profiles/ (labels/), not code.
 *
 * Labels: HL7 v3 ActCode sensitivity codes (http://terminology.hl7.org/CodeSystem/v3-ActCode,
 * https://terminology.hl7.org/ValueSet-v3-InformationSensitivityPolicy.html) and the v3
 * Confidentiality code (N normal, R restricted, V very restricted).
 */
export const CATEGORY_SYSTEM = 'https://custodian.example.org/fhir/CodeSystem/data-category';
export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONFIDENTIALITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';

export const DATA_CATEGORIES = [
  'demographics',
  'vital-signs',
  'laboratory',
  'imaging',
  'social-history',
  'mental-health',
  'substance-use',
  'sexual-and-reproductive-health',
  'hiv-and-infectious-disease',
  'genetic',
  'medications',
  'encounters',
  'conditions',
  'financial',
  'administrative',
  'clinical-other',
] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

const CATEGORY_SET: ReadonlySet<string> = new Set(DATA_CATEGORIES);
export function isDataCategory(code: string): code is DataCategory {
  return CATEGORY_SET.has(code);
}

/** Categories whose data is sensitive: each implies a v3 ActCode label and confidentiality R. */
export const SENSITIVE_LABEL: Readonly<Partial<Record<DataCategory, string>>> = Object.freeze({
  'mental-health': 'PSY',
  'substance-use': 'ETH',
  'sexual-and-reproductive-health': 'SEX',
  'hiv-and-infectious-disease': 'HIV',
  genetic: 'GDIS',
});

/** A coding written `system|code`, the form labels and codes are compared in. */
export type CodingKey = string;
export const codingKey = (system: string | undefined, code: string): CodingKey => `${system ?? ''}|${code}`;
