import fc from 'fast-check';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';

/*
 * fast-check generators for the property test comparing compiled queries with @medplum/core's
 * matchesSearchRequest. Values come from small pools so that random queries hit random resources
 * often. The pools and query forms are restricted to what both sides define the same way; every
 * restriction names the R4 rule on which @medplum/core's in-memory matcher differs:
 *
 * - string: medplum matches "contains" (R4 §3.1.1.4.8 says starts-with) → default-modifier query
 *   values are prefixes that occur nowhere else inside any pool word, so contains = starts-with.
 * - string: medplum folds case but not accents (R4: accent-insensitive) → ASCII pools only.
 * - string :exact: medplum does a case-insensitive contains (R4: exact, case-sensitive) → not generated.
 * - token: medplum compares case-insensitively (R4: as the code system says) → pools are
 *   distinct when lower-cased; no Coding.display / CodeableConcept.text / Identifier.type.text,
 *   which medplum indexes as extra system-less tokens.
 * - token :text, :in, :not-in, :of-type, :above, :below: not implemented by medplum's matcher.
 * - reference: medplum compares the whole reference string (R4 also allows a bare id, :Type) →
 *   only "Type/id" values.
 * - number, quantity, composite, uri: medplum's matcher returns false for these types → not generated.
 * - date: medplum's parser rejects comma-separated date values (R4 §3.1.1.5.5 allows them) →
 *   one date per parameter; medplum's month precision ends on day 31 of every month ("2021-02" ends 2021-03-03) →
 *   month values only for 31-day months; medplum ignores Timing → no effectiveTiming;
 *   `ap` is server-defined → not generated. eq/ne/ge/le over partially overlapping ranges are
 *   filtered out by the test itself (see dateDivergence there).
 */

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const MRN = 'http://hospital.example/mrn';
const SSN = 'http://hl7.org/fhir/sid/us-ssn';

export const FAMILIES = ['Chalmers', 'Windsor', 'Baxter', 'Nguyen', 'Okafor', 'Lindqvist', 'Moreau', 'Kowalski'];
export const GIVENS = ['Peter', 'Anna', 'Omar', 'Grace', 'Ivan', 'Mei', 'Tomas', 'Ruth'];
const WORDS = [...FAMILIES, ...GIVENS].map((w) => w.toLowerCase());

/** Prefixes of pool words that appear in no pool word except at its start. */
export const STRING_PREFIXES = [...new Set(WORDS.flatMap((w) => Array.from({ length: w.length }, (_, i) => w.slice(0, i + 1))))].filter((q) =>
  WORDS.every((w) => w.includes(q) === w.startsWith(q)),
);
/** Substrings of pool words (for :contains, which both sides define as contains). */
export const SUBSTRINGS = [...new Set(WORDS.flatMap((w) => [w.slice(1, 3), w.slice(2, 5), w.slice(-3)]))].filter((s) => s.length > 0);

const CODES = ['8867-4', '2339-0', '29463-7', 'abc', 'x9'];
const CODE_SYSTEMS = [LOINC, SNOMED, undefined];
const IDENTIFIER_VALUES = ['MRN-1', 'MRN-2', '111-22-3333', 'z-7'];
const IDENTIFIER_SYSTEMS = [MRN, SSN, undefined];
const GENDERS = ['male', 'female', 'other', 'unknown'];
const STATUSES = ['final', 'preliminary', 'amended'];
const CATEGORIES = ['vital-signs', 'laboratory', 'survey'];
export const PATIENT_IDS = ['p1', 'p2', 'p3', 'p4'];
export const OBSERVATION_IDS = ['o1', 'o2', 'o3', 'o4'];
const SUBJECTS = ['Patient/p1', 'Patient/p2', 'Patient/p3', 'Group/g1'];

const LONG_MONTHS = [1, 3, 5, 7, 8, 10, 12];
const ZONES = ['Z', '+02:00', '-05:00'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

type Precision = 'year' | 'month' | 'day' | 'second' | 'millisecond';

/** A FHIR date/dateTime/instant string at the given precisions, years 2019–2021. */
export function dateString(precisions: readonly Precision[], years: [number, number] = [2019, 2021]): fc.Arbitrary<string> {
  return fc
    .record({
      p: fc.constantFrom(...precisions),
      y: fc.integer({ min: years[0], max: years[1] }),
      m: fc.constantFrom(...LONG_MONTHS),
      d: fc.integer({ min: 1, max: 28 }),
      h: fc.integer({ min: 0, max: 23 }),
      mi: fc.constantFrom(0, 15, 30, 59),
      s: fc.constantFrom(0, 30, 59),
      ms: fc.integer({ min: 0, max: 999 }),
      z: fc.constantFrom(...ZONES),
    })
    .map(({ p, y, m, d, h, mi, s, ms, z }) => {
      if (p === 'year') return `${y}`;
      if (p === 'month') return `${y}-${pad(m)}`;
      if (p === 'day') return `${y}-${pad(m)}-${pad(d)}`;
      const time = `${y}-${pad(m)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`;
      return p === 'second' ? `${time}${z}` : `${time}.${pad(ms, 3)}Z`;
    });
}

const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const humanName = fc
  .record({ family: fc.constantFrom(...FAMILIES), given: opt(fc.subarray(GIVENS, { minLength: 1, maxLength: 2 })) })
  .map((n) => compact(n));

const identifier = fc.record({ system: fc.constantFrom(...IDENTIFIER_SYSTEMS), value: fc.constantFrom(...IDENTIFIER_VALUES) }).map((i) => compact(i));

const coding = fc.record({ system: fc.constantFrom(...CODE_SYSTEMS), code: fc.constantFrom(...CODES) }).map((c) => compact(c));

/** meta.lastUpdated: a millisecond instant in 2020. */
const lastUpdated = dateString(['millisecond'], [2020, 2020]);

export const patientArb: fc.Arbitrary<Patient> = fc
  .record({
    id: fc.constantFrom(...PATIENT_IDS),
    lastUpdated,
    name: opt(fc.array(humanName, { minLength: 1, maxLength: 2 })),
    gender: opt(fc.constantFrom(...GENDERS)),
    birthDate: opt(dateString(['year', 'month', 'day'])),
    active: opt(fc.boolean()),
    identifier: opt(fc.array(identifier, { minLength: 1, maxLength: 2 })),
  })
  .map(({ lastUpdated: lu, ...p }) => compact({ resourceType: 'Patient' as const, meta: { lastUpdated: lu }, ...p }) as Patient);

/** A Period with either bound possibly open; start never after end. */
const period = fc
  .tuple(opt(dateString(['year', 'month', 'day', 'second'])), opt(dateString(['year', 'month', 'day', 'second'])))
  .filter(([a, b]) => a !== undefined || b !== undefined)
  .map(([a, b]) => {
  if (a && b && Date.parse(normaliseForOrder(a)) > Date.parse(normaliseForOrder(b))) [a, b] = [b, a];
  return compact({ start: a, end: b });
});

/** Dates sort by their start instant; bare years/months/days are read in UTC. */
function normaliseForOrder(v: string): string {
  if (/^\d{4}$/.test(v)) return `${v}-01-01T00:00:00Z`;
  if (/^\d{4}-\d{2}$/.test(v)) return `${v}-01T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return `${v}T00:00:00Z`;
  return v;
}

const effective = fc.oneof(
  dateString(['year', 'month', 'day', 'second']).map((v) => ({ effectiveDateTime: v })),
  dateString(['millisecond']).map((v) => ({ effectiveInstant: v })),
  period.map((p) => ({ effectivePeriod: p })),
  fc.constant({}),
);

export const observationArb: fc.Arbitrary<Observation> = fc
  .record({
    id: fc.constantFrom(...OBSERVATION_IDS),
    lastUpdated,
    status: fc.constantFrom(...STATUSES),
    codings: fc.array(coding, { minLength: 1, maxLength: 2 }),
    category: opt(fc.constantFrom(...CATEGORIES)),
    subject: opt(fc.constantFrom(...SUBJECTS)),
    effective,
    value: opt(fc.integer({ min: 0, max: 200 })),
  })
  .map(({ id, lastUpdated: lu, status, codings, category, subject, effective: eff, value }) =>
    compact({
      resourceType: 'Observation' as const,
      id,
      meta: { lastUpdated: lu },
      status,
      code: { coding: codings },
      category: category ? [{ coding: [{ system: CATEGORY, code: category }] }] : undefined,
      subject: subject ? { reference: subject } : undefined,
      ...eff,
      // Indexed but never queried (quantity is outside medplum's matcher): it must not disturb other parameters.
      valueQuantity: value === undefined ? undefined : { value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    }) as Observation,
  );

/** One search parameter occurrence: `code[:modifier]=[prefix]value`. */
export interface QueryParam {
  key: string;
  value: string;
}

const commaList = (values: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.array(values, { minLength: 1, maxLength: 2 }).map((vs) => vs.join(','));

const missing = (code: string): fc.Arbitrary<QueryParam> => fc.boolean().map((b) => ({ key: `${code}:missing`, value: String(b) }));

function tokenParam(code: string, systems: ReadonlyArray<string | undefined>, values: readonly string[]): fc.Arbitrary<QueryParam> {
  const sys = systems.filter((s): s is string => s !== undefined);
  const forms: Array<fc.Arbitrary<string>> = [fc.constantFrom(...values), fc.constantFrom(...values).map((v) => `|${v}`)];
  if (sys.length > 0) {
    forms.push(fc.tuple(fc.constantFrom(...sys), fc.constantFrom(...values)).map(([s, v]) => `${s}|${v}`));
    forms.push(fc.constantFrom(...sys).map((s) => `${s}|`));
  }
  const form = fc.oneof(...forms);
  return fc.oneof(
    { weight: 3, arbitrary: commaList(form).map((value) => ({ key: code, value })) },
    { weight: 2, arbitrary: commaList(form).map((value) => ({ key: `${code}:not`, value })) },
    { weight: 1, arbitrary: missing(code) },
  );
}

function stringParam(code: string): fc.Arbitrary<QueryParam> {
  const prefixes = STRING_PREFIXES.filter((p) => p.length <= 4);
  return fc.oneof(
    { weight: 3, arbitrary: commaList(fc.constantFrom(...prefixes).chain((p) => fc.constantFrom(p, p.toUpperCase()))).map((value) => ({ key: code, value })) },
    { weight: 2, arbitrary: fc.constantFrom(...SUBSTRINGS).map((value) => ({ key: `${code}:contains`, value })) },
    { weight: 1, arbitrary: missing(code) },
  );
}

/** Date prefixes shared by both sides; `ap` is server-defined and left out. */
export const DATE_PREFIXES = ['', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'];

function dateParam(code: string, precisions: readonly Precision[]): fc.Arbitrary<QueryParam> {
  const one = fc.tuple(fc.constantFrom(...DATE_PREFIXES), dateString(precisions, [2018, 2022]));
  return fc.oneof(
    { weight: 4, arbitrary: one.map(([p, v]) => ({ key: code, value: `${p}${v}` })) },
    { weight: 1, arbitrary: missing(code) },
  );
}

const referenceParam = (code: string): fc.Arbitrary<QueryParam> =>
  fc.oneof(
    { weight: 3, arbitrary: commaList(fc.constantFrom(...SUBJECTS, 'Patient/p4')).map((value) => ({ key: code, value })) },
    { weight: 1, arbitrary: missing(code) },
  );

const idParam = (ids: readonly string[]): fc.Arbitrary<QueryParam> => commaList(fc.constantFrom(...ids, 'zz')).map((value) => ({ key: '_id', value }));

const lastUpdatedParam = fc
  .tuple(fc.constantFrom(...DATE_PREFIXES), dateString(['year', 'month', 'day', 'second', 'millisecond'], [2020, 2020]))
  .map(([p, v]) => ({ key: '_lastUpdated', value: `${p}${v}` }));

const patientParam: fc.Arbitrary<QueryParam> = fc.oneof(
  stringParam('name'),
  stringParam('family'),
  stringParam('given'),
  tokenParam('gender', [undefined], GENDERS),
  tokenParam('active', [undefined], ['true', 'false']),
  tokenParam('identifier', IDENTIFIER_SYSTEMS, IDENTIFIER_VALUES),
  dateParam('birthdate', ['year', 'month', 'day']),
  idParam(PATIENT_IDS),
  lastUpdatedParam,
);

const observationParam: fc.Arbitrary<QueryParam> = fc.oneof(
  tokenParam('code', CODE_SYSTEMS, CODES),
  tokenParam('category', [CATEGORY], CATEGORIES),
  tokenParam('status', [undefined], STATUSES),
  referenceParam('subject'),
  referenceParam('patient'),
  dateParam('date', ['year', 'month', 'day', 'second']),
  idParam(OBSERVATION_IDS),
  lastUpdatedParam,
);

export interface Case {
  resources: Resource[];
  params: QueryParam[];
}

/** A query of 1–3 parameters (repeated parameters are ANDed). */
export const patientQueryArb = fc.array(patientParam, { minLength: 1, maxLength: 3 });
export const observationQueryArb = fc.array(observationParam, { minLength: 1, maxLength: 3 });

/** A few resources of one type and a query over them. */
export const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ resources: fc.array(patientArb, { minLength: 1, maxLength: 4 }) as fc.Arbitrary<Resource[]>, params: patientQueryArb }),
  fc.record({ resources: fc.array(observationArb, { minLength: 1, maxLength: 4 }) as fc.Arbitrary<Resource[]>, params: observationQueryArb }),
);

/** A query with its resource type, for searching a stored population. */
export const typedQueryArb: fc.Arbitrary<{ type: 'Patient' | 'Observation'; params: QueryParam[] }> = fc.oneof(
  patientQueryArb.map((params) => ({ type: 'Patient' as const, params })),
  observationQueryArb.map((params) => ({ type: 'Observation' as const, params })),
);

/**
 * A population with unique ids: `patients` Patients p0… and `observations` Observations o0…
 * (their subjects still come from the small pool, so references hit and miss).
 */
export function population(seed: number, patients: number, observations: number): Resource[] {
  const ps = fc.sample(patientArb, { seed, numRuns: patients }).map((p, i) => ({ ...p, id: `p${i}` }));
  const os = fc.sample(observationArb, { seed: seed + 1, numRuns: observations }).map((o, i) => ({ ...o, id: `o${i}` }));
  return [...ps, ...os];
}
