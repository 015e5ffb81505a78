import type { FixtureFacts } from '../../helpers/search-conformance-app.js';

/**
 * One conformance expectation over the fixture in fixtures/search-conformance. Expectations are
 * derived from FHIR R4 §3.1.1 (https://hl7.org/fhir/R4/search.html), not from what the server
 * returns; `why` explains every row whose answer is not obvious from the query.
 */
export interface SearchRow {
  /** "Type?params", values written unencoded; a function when it needs load-time facts. */
  query: string | ((facts: FixtureFacts) => string);
  /** Test name for function queries. */
  label?: string;
  /** Expected match ids, in any order. */
  ids?: string[];
  /** Expected match ids in exactly this order. */
  ordered?: string[];
  /** Where the spec leaves the answer to the server (e.g. `ap`): ids that must be present … */
  includes?: string[];
  /** … and ids that must be absent. */
  excludes?: string[];
  /** Expected `include` entries as "Type/id", in any order. */
  included?: string[];
  why?: string;
}

export interface RowTable {
  name: string;
  rows: SearchRow[];
}

/** Fixture id groups, so tables read as sets rather than lists of typos. */
export const PAT = {
  muller: 'pat-muller',
  mueller: 'pat-mueller',
  chen: 'pat-chen',
  chenoweth: 'pat-chenoweth',
  smith: 'pat-smith',
  nodata: 'pat-nodata',
} as const;
export const ALL_PATIENTS = Object.values(PAT);

export const OBS = {
  hr1: 'obs-hr-1',
  hr2: 'obs-hr-2',
  hr3: 'obs-hr-3',
  noval: 'obs-noval',
  weight: 'obs-weight',
  glu1: 'obs-glu-1',
  glu2: 'obs-glu-2',
  bp1: 'obs-bp-1',
  bp2: 'obs-bp-2',
  nosys: 'obs-nosys',
  localSys: 'obs-local-sys',
} as const;
export const ALL_OBSERVATIONS = Object.values(OBS);

/** Every id of `all` except those listed. */
export function allBut(all: readonly string[], ...except: string[]): string[] {
  return all.filter((id) => !except.includes(id));
}
