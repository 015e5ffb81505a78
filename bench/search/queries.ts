/**
 * The measured searches (issue 3, item 8) and the one rule that picks their values from a
 * store's own patients, applied identically to every store: shuffle the store's patients with
 * a fixed seed, keep those the query can match, and draw each request's values from the next
 * one. Requests cycle through many patients so no cache sees the same query twice in a row.
 * FHIR R4 search: https://hl7.org/fhir/R4/search.html
 */
import { Prng } from '../../fixtures/population/index.js';
import { LAB_SINCE, type PatientSummary } from './patient-summary.js';

export type QueryName = 'obs-patient-code' | 'obs-patient-lab-sorted' | 'patient-name-birthdate' | 'imaging-patient' | 'page-walk';

export interface QueryDef {
  name: QueryName;
  /** How the query reads in the report. */
  label: string;
  /** A page walk follows `next` links until WALK_RESULTS entries have been read; it needs no patient. */
  walk?: { paths: readonly string[] };
  eligible?(p: PatientSummary): boolean;
  /** The request path below the FHIR base, e.g. `/Observation?...`. */
  path?(p: PatientSummary, rng: Prng): string;
}

/** Entries a page walk reads, and its page size. */
export const WALK_RESULTS = 1000;
export const WALK_PAGE = 100;
/** Walked in turn; each has thousands of Observations even in the 10k store. */
const WALK_CATEGORIES = ['vital-signs', 'laboratory'];

const q = encodeURIComponent;

export const QUERIES: readonly QueryDef[] = [
  {
    name: 'obs-patient-code',
    label: 'Observation?patient=X&code=Y',
    eligible: (p) => p.observationCodes.length > 0,
    path: (p, rng) => `/Observation?patient=${q(`Patient/${p.id}`)}&code=${q(rng.pick(p.observationCodes))}`,
  },
  {
    name: 'obs-patient-lab-sorted',
    label: `Observation?patient=X&category=laboratory&date=ge${LAB_SINCE}&_sort=-date`,
    eligible: (p) => p.recentLabs > 0,
    path: (p) => `/Observation?patient=${q(`Patient/${p.id}`)}&category=laboratory&date=ge${LAB_SINCE}&_sort=-date`,
  },
  {
    name: 'patient-name-birthdate',
    label: 'Patient?name=<3-letter prefix of family>&birthdate=<date>',
    eligible: (p) => p.family.length >= 3 && p.birthDate !== '',
    path: (p) => `/Patient?name=${q(p.family.slice(0, 3))}&birthdate=${p.birthDate}`,
  },
  {
    name: 'imaging-patient',
    label: 'ImagingStudy?patient=X',
    eligible: (p) => p.imagingStudies > 0,
    path: (p) => `/ImagingStudy?patient=${q(`Patient/${p.id}`)}`,
  },
  {
    name: 'page-walk',
    label: `walk ${WALK_RESULTS} results: Observation?category=<vital-signs|laboratory>&_count=${WALK_PAGE}&_total=none`,
    walk: { paths: WALK_CATEGORIES.map((c) => `/Observation?category=${c}&_count=${WALK_PAGE}&_total=none`) },
  },
];

/** Deterministic request paths for one query over one store's patients (at most `max`). */
export function requestPaths(query: QueryDef, patients: readonly PatientSummary[], max: number, seed = 20250101): string[] {
  if (query.walk) return [...query.walk.paths];
  const { eligible, path } = query;
  if (!eligible || !path) throw new Error(`query ${query.name} has neither walk paths nor a path rule`);
  const order = [...patients];
  const shuffle = new Prng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = shuffle.int(0, i);
    [order[i], order[j]] = [order[j] as PatientSummary, order[i] as PatientSummary];
  }
  const values = new Prng(seed + 1);
  const paths: string[] = [];
  for (const p of order) {
    if (paths.length >= max) break;
    if (eligible(p)) paths.push(path(p, values));
  }
  return paths;
}
