import type { CodeableConcept, Coding, GroupCharacteristic, Range } from '@medplum/fhirtypes';
import { FhirError } from '../../fhir/outcomes.js';
import { dateConditions } from '../../fhir/search/compile-date.js';
import { tokenConditions } from '../../fhir/search/compile-token.js';
import { andOf, idxField, orOf, type Doc } from '../../fhir/search/query-doc.js';

/**
 * The characteristics a descriptive Group (`actual=false`) may use, each compiled into query
 * documents over the store's index fields with the search compiler's own token and date
 * pieces, so a cohort is evaluated exactly as the equivalent FHIR searches would be:
 *
 * | characteristic.code | value | means |
 * |---|---|---|
 * | SNOMED 263495000 *Gender*, LOINC 46098-0 *Sex* | valueCodeableConcept, administrative-gender codes | `Patient?gender=` |
 * | SNOMED 397669002 *Age*, LOINC 30525-0 *Age* | valueRange in years (UCUM `a`), either end open | age in whole years at evaluation time, from `birthDate` |
 * | SNOMED 404684003 *Clinical finding*, 439401001 *Diagnosis* | valueCodeableConcept, SNOMED CT or ICD-10(-CM) codings | has a Condition with one of the codes |
 * | SNOMED 363787002 *Observable entity* | valueCodeableConcept, codings with a system (LOINC …) | has an Observation with one of the codes |
 *
 * `exclude: true` negates one characteristic (patients lacking the element count as not
 * matching it, so they are kept). Characteristics are ANDed (R4 Group). Anything else —
 * another code, another value type, `period`, `valueBoolean`, `valueReference` — is refused
 * with 400 naming `Group.characteristic[i]`, never ignored.
 */
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const ICD10 = ['http://hl7.org/fhir/sid/icd-10-cm', 'http://hl7.org/fhir/sid/icd-10'] as const;
export const GENDER_SYSTEM = 'http://hl7.org/fhir/administrative-gender';
const UCUM = 'http://unitsofmeasure.org';

type Kind = 'gender' | 'age' | 'condition' | 'observation';
const KINDS: ReadonlyArray<{ kind: Kind; system: string; code: string }> = [
  { kind: 'gender', system: SNOMED, code: '263495000' },
  { kind: 'gender', system: LOINC, code: '46098-0' },
  { kind: 'age', system: SNOMED, code: '397669002' },
  { kind: 'age', system: LOINC, code: '30525-0' },
  { kind: 'condition', system: SNOMED, code: '404684003' },
  { kind: 'condition', system: SNOMED, code: '439401001' },
  { kind: 'observation', system: SNOMED, code: '363787002' },
];
const GENDERS: ReadonlySet<string> = new Set(['male', 'female', 'other', 'unknown']);

/** A criterion on other resources of the patient: "has a `type` whose code is one of these". */
export interface HasCriterion {
  readonly type: 'Condition' | 'Observation';
  /** Clause on the related resource's own index fields (its code). */
  readonly filter: Doc;
  readonly exclude: boolean;
}

export interface CompiledCharacteristics {
  /** Clause on Patient documents (gender, age): evaluated inside the Patient search. */
  readonly patient: Doc;
  /** Evaluated per batch of patients, with one search per criterion. */
  readonly has: readonly HasCriterion[];
}

export function compileCharacteristics(characteristics: readonly GroupCharacteristic[], now: string): CompiledCharacteristics {
  if (characteristics.length === 0) throw new FhirError('bad-request', 'A Group with actual=false needs at least one characteristic to evaluate', 'Group.characteristic');
  const patient: Doc[] = [];
  const has: HasCriterion[] = [];
  characteristics.forEach((c, i) => {
    const where = `Group.characteristic[${i}]`;
    const refuse = (why: string): FhirError => new FhirError('bad-request', `${where} cannot be evaluated: ${why}`, where);
    if (c.period) throw refuse('a characteristic limited by period is not supported');
    const kind = kindOf(c.code);
    if (!kind) throw refuse(`code ${describe(c.code)} is not one this server evaluates (gender, age, has Condition, has Observation; README "Cohorts")`);
    const exclude = c.exclude === true;
    switch (kind) {
      case 'gender': {
        const codes = codesOf(c.valueCodeableConcept, refuse).filter((x) => (x.system === undefined || x.system === GENDER_SYSTEM) && GENDERS.has(x.code as string));
        if (codes.length === 0) throw refuse(`gender needs valueCodeableConcept with a code of ${GENDER_SYSTEM}`);
        // Patient.gender is a plain code: indexed without a system, so it is matched on the code alone.
        patient.push(orOf(codes.flatMap((x) => tokenConditions(x.code as string)).map((cond) => ({ [idxField('gender')]: cond })), exclude));
        return;
      }
      case 'age':
        patient.push(orOf([ageClause(c.valueRange, now, refuse)], exclude));
        return;
      case 'condition': {
        const codes = codesOf(c.valueCodeableConcept, refuse).filter((x) => x.system === SNOMED || (ICD10 as readonly string[]).includes(x.system ?? ''));
        if (codes.length === 0) throw refuse('has-Condition needs valueCodeableConcept with SNOMED CT or ICD-10(-CM) codings');
        has.push({ type: 'Condition', filter: codeClause(codes), exclude });
        return;
      }
      case 'observation': {
        const codes = codesOf(c.valueCodeableConcept, refuse).filter((x) => x.system !== undefined);
        if (codes.length === 0) throw refuse('has-Observation needs valueCodeableConcept with codings that name their system');
        has.push({ type: 'Observation', filter: codeClause(codes), exclude });
        return;
      }
    }
  });
  return { patient: andOf(patient), has };
}

function kindOf(code: CodeableConcept | undefined): Kind | undefined {
  for (const coding of code?.coding ?? []) {
    const hit = KINDS.find((k) => k.system === coding.system && k.code === coding.code);
    if (hit) return hit.kind;
  }
  return undefined;
}

function describe(code: CodeableConcept | undefined): string {
  const c = code?.coding?.[0];
  return c ? `${c.system ?? ''}|${c.code ?? ''}`.slice(0, 120) : `'${(code?.text ?? '').slice(0, 60)}'`;
}

function codesOf(value: CodeableConcept | undefined, refuse: (why: string) => FhirError): Coding[] {
  if (!value) throw refuse('it needs valueCodeableConcept');
  const codes = (value.coding ?? []).filter((x) => typeof x.code === 'string' && x.code !== '');
  if (codes.length > 100) throw refuse('more than 100 codings');
  return codes;
}

function codeClause(codes: readonly Coding[]): Doc {
  const escape = (s: string): string => s.replace(/[\\|,$]/g, (m) => `\\${m}`);
  return orOf(codes.flatMap((x) => tokenConditions(`${escape(x.system as string)}|${escape(x.code as string)}`)).map((cond) => ({ [idxField('code')]: cond })));
}

/**
 * Age in whole years within [low, high] on the day of `now`: born on or before the day `low`
 * years ago, and after the day `high + 1` years ago (R4 search's date prefixes on `birthdate`).
 */
function ageClause(range: Range | undefined, now: string, refuse: (why: string) => FhirError): Doc {
  if (!range || (range.low === undefined && range.high === undefined)) throw refuse('age needs valueRange with a low or a high');
  const years = (q: Range['low'], end: string): number | undefined => {
    if (q === undefined) return undefined;
    const unitOk = (q.system === undefined || q.system === UCUM) && ['a', 'yr', 'year', 'years', undefined].includes(q.code ?? q.unit);
    if (!unitOk) throw refuse(`age ${end} must be in years (UCUM 'a')`);
    if (!Number.isSafeInteger(q.value) || (q.value as number) < 0 || (q.value as number) > 200) throw refuse(`age ${end} must be a whole number of years between 0 and 200`);
    return q.value as number;
  };
  const low = years(range.low, 'low');
  const high = years(range.high, 'high');
  if (low !== undefined && high !== undefined && low > high) throw refuse('age low is above age high');
  const today = new Date(now);
  if (Number.isNaN(today.getTime())) throw new FhirError('internal', `resolveCohort: '${now}' is not an instant`);
  const yearsAgo = (n: number): string => {
    const d = new Date(Date.UTC(today.getUTCFullYear() - n, today.getUTCMonth(), today.getUTCDate()));
    return d.toISOString().slice(0, 10);
  };
  const field = idxField('birthdate');
  const clauses: Doc[] = [];
  if (low !== undefined) clauses.push(orOf(dateConditions(`le${yearsAgo(low)}`).map((cond) => ({ [field]: cond }))));
  if (high !== undefined) clauses.push(orOf(dateConditions(`gt${yearsAgo(high + 1)}`).map((cond) => ({ [field]: cond }))));
  return andOf(clauses);
}
