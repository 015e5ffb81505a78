/**
 * What de-identification removes, as data. Rules are by FHIR type wherever the type says
 * enough (every Identifier, HumanName … anywhere in any resource); the path list covers the
 * few identifiers R4 types as a plain string, and the elements Safe Harbor names by meaning
 * (photos, a patient's contacts and links) rather than by type.
 * Safe Harbor: 45 CFR 164.514(b)(2)(i), identifiers (A)-(R).
 */

/** Complex types dropped wherever they occur. */
export const DROPPED_TYPES: ReadonlySet<string> = new Set([
  'Identifier', // (D)-(M): SSN, MRN, health plan, account, licence, vehicle, device numbers
  'HumanName', // (A) names
  'ContactPoint', // (D)-(F) telephone, fax, email
  'ContactDetail', // a name plus ContactPoints
  'Narrative', // free text: the generated narrative repeats names and identifiers
  'Annotation', // free text notes (`note`), with an author reference or name
  'Signature', // who signed plus the signature bytes
]);

/** Primitive types dropped wherever they occur. */
export const DROPPED_PRIMITIVES: ReadonlySet<string> = new Set([
  'url', // (N) web addresses
  'base64Binary', // (Q) photographs and any other attached bytes, Attachment.hash
  'oid', // globally unique identifiers, e.g. in extensions
  'uuid',
  'xhtml',
]);

/** Primitive types holding a date element, shifted per patient. */
export const SHIFTED_PRIMITIVES: ReadonlySet<string> = new Set(['date', 'dateTime', 'instant']);

/** string/markdown elements with these names are free text written by people: dropped. */
export const FREE_TEXT_NAMES: ReadonlySet<string> = new Set(['comment']);

export type PathRule = 'drop' | 'reference' | 'dicomUid';

/** Rules by element path; they win over the type rules. */
export const PATH_RULES: ReadonlyMap<string, PathRule> = new Map<string, PathRule>([
  // (B) geographic subdivisions smaller than a state; postalCode is generalised separately.
  ['Address.text', 'drop'],
  ['Address.line', 'drop'],
  ['Address.city', 'drop'],
  ['Address.district', 'drop'],
  ['Address.extension', 'drop'], // geolocation, ADXP address parts
  // Attachment: the content and anything pointing at or naming it; contentType, language and creation stay.
  ['Attachment.title', 'drop'],
  ['Attachment.size', 'drop'],
  // References: the literal reference is pseudonymised; display text names people.
  ['Reference.reference', 'reference'],
  ['Reference.display', 'drop'],
  // Meta: version ids and sources link back to the source system; Medplum's extra Meta fields.
  ['Meta.versionId', 'drop'],
  ['Meta.source', 'drop'],
  ['Meta.extension', 'drop'],
  ['Meta.project', 'drop'],
  ['Meta.author', 'drop'],
  ['Meta.onBehalfOf', 'drop'],
  ['Meta.account', 'drop'],
  ['Meta.accounts', 'drop'],
  ['Meta.compartment', 'drop'],
  // (Q) full-face photographs.
  ['Patient.photo', 'drop'],
  ['Practitioner.photo', 'drop'],
  ['RelatedPerson.photo', 'drop'],
  ['Person.photo', 'drop'],
  // Relatives, employers and household members (names, addresses, telecom, links to other records).
  ['Patient.contact', 'drop'],
  ['Patient.link', 'drop'],
  ['Person.link', 'drop'],
  // (I)(J)(M) health plan beneficiary, account, device serial numbers typed as plain strings.
  ['Coverage.subscriberId', 'drop'],
  ['Claim.insurance.preAuthRef', 'drop'],
  ['ClaimResponse.preAuthRef', 'drop'],
  ['CoverageEligibilityResponse.preAuthRef', 'drop'],
  ['ExplanationOfBenefit.preAuthRef', 'drop'],
  ['ExplanationOfBenefit.insurance.preAuthRef', 'drop'],
  ['Device.serialNumber', 'drop'],
  ['Device.distinctIdentifier', 'drop'],
  ['Device.udiCarrier', 'drop'],
  // (O) IP addresses.
  ['AuditEvent.agent.network', 'drop'],
  // Bundles: entry URLs and request/response lines carry real ids.
  ['Bundle.entry.fullUrl', 'drop'],
  ['Bundle.entry.request', 'drop'],
  ['Bundle.entry.response', 'drop'],
  ['Bundle.link', 'drop'],
  // (R) DICOM UIDs are unique identifying numbers; they are required, so pseudonymised instead.
  ['ImagingStudy.series.uid', 'dicomUid'],
  ['ImagingStudy.series.instance.uid', 'dicomUid'],
]);

/** Extensions removed whatever their value type. */
export const DROPPED_EXTENSIONS: ReadonlySet<string> = new Set([
  'http://hl7.org/fhir/StructureDefinition/geolocation',
  'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
]);

/** The label every de-identified resource carries (HL7 v3 ObservationValue, "pseudonymized"). */
export const PSEUDONYMIZED_LABEL = Object.freeze({
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'PSEUDED',
  display: 'pseudonymized',
});

export const DATA_ABSENT_REASON_URL = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
/** Marks a birth date removed because the person is 90 or older. */
export const AGE_90_OR_OLDER_URL = 'https://custodian.example.org/fhir/StructureDefinition/deid-age-90-or-older';
export const UCUM = 'http://unitsofmeasure.org';
/** Safe Harbor (C): ages over 89 are aggregated into one category, "90 or older". */
export const AGE_CAP_YEARS = 90;
