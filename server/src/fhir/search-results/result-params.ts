import type { Definitions } from '../definitions.js';
import type { ServiceOptions } from '../fhir-context.js';
import { FhirError } from '../outcomes.js';
import { pageSize } from '../interactions/paging.js';
import { CURSOR_PARAM } from './cursor.js';
import { parseIncludes, type IncludeParam } from './include-params.js';

/**
 * The result parameters of a search (R4 §3.1.1.5, https://hl7.org/fhir/R4/search.html#return),
 * read and checked before anything runs, and the rest of the query: what the compiler filters
 * and sorts on.
 */
export interface ResultParams {
  count: number;
  summary?: 'true' | 'false' | 'text' | 'data' | 'count';
  /** Every `_elements` value joined with commas. */
  elements?: string;
  total?: 'none' | 'estimate' | 'accurate';
  includes: IncludeParam[];
  cursor?: string;
  /** Filter parameters and `_sort`, for parseSearchRequest + compileSearch. */
  searchQuery: Record<string, string[]>;
}

/** Consumed here (and by the handler); never passed to the search parser. */
const RESULT = new Set([CURSOR_PARAM, '_count', '_offset', '_summary', '_elements', '_total', '_format', '_pretty', '_include', '_revinclude', '_type']);
/** Parameters from the spec this server does not implement. */
const NOT_IMPLEMENTED = new Set(['_contained', '_containedType', '_fields', '_score', '_graph']);
const SUMMARY = new Set(['true', 'false', 'text', 'data', 'count']);
const TOTAL = new Set(['none', 'estimate', 'accurate']);

export function readResultParams(
  defs: Definitions,
  options: ServiceOptions,
  query: Readonly<Record<string, readonly string[]>>,
  opts: { allowType: boolean; unsupported: (message: string, param: string) => void },
): ResultParams {
  const searchQuery = Object.create(null) as Record<string, string[]>;
  for (const [key, values] of Object.entries(query)) {
    const base = key.split(':')[0] as string;
    if (NOT_IMPLEMENTED.has(base) || (base === '_type' && !opts.allowType)) {
      opts.unsupported(`Parameter '${key}' is not supported${base === '_type' ? ' on a type-level search; search the base URL instead' : ''}`, key);
      continue;
    }
    if (RESULT.has(base)) {
      // The medplum parser would silently read `_count:x` as `_count`.
      if (key !== base && base !== '_include' && base !== '_revinclude') opts.unsupported(`Parameter '${base}' takes no modifier ('${key}')`, key);
      continue;
    }
    searchQuery[key] = [...values];
  }

  if (query._offset !== undefined) {
    // Offsets shift under concurrent writes and cost O(offset); pages are reached through the
    // opaque cursors in the Bundle's links instead. Silently ignoring `_offset` would make a
    // client loop over the first page forever, so it is refused.
    throw new FhirError('bad-request', `_offset is not supported: follow the Bundle's next/previous links (keyset cursors)`, '_offset');
  }
  const summary = one(query, '_summary');
  if (summary !== undefined && !SUMMARY.has(summary)) throw new FhirError('bad-request', `_summary must be one of true, false, text, data, count; got '${summary}'`, '_summary');
  const total = one(query, '_total');
  if (total !== undefined && !TOTAL.has(total)) throw new FhirError('bad-request', `_total must be one of none, estimate, accurate; got '${total}'`, '_total');
  const cursor = one(query, CURSOR_PARAM);
  const elements = query._elements?.join(',');
  return {
    count: pageSize(query as Record<string, string[]>, options),
    ...(summary !== undefined ? { summary: summary as ResultParams['summary'] } : {}),
    ...(elements !== undefined ? { elements } : {}),
    ...(total !== undefined ? { total: total as ResultParams['total'] } : {}),
    includes: parseIncludes(defs, query, opts.unsupported),
    ...(cursor !== undefined ? { cursor } : {}),
    searchQuery,
  };
}

/** A parameter that may appear once; repeating it is ambiguous, so it is a 400. */
function one(query: Readonly<Record<string, readonly string[]>>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (v.length > 1) throw new FhirError('bad-request', `${name} may be given only once`, name);
  return v[0];
}

/** `Prefer: handling=strict` (R4 §3.1.1.5.8, https://hl7.org/fhir/R4/search.html#errors). */
export function isStrict(prefer: string | undefined): boolean {
  return /(?:^|[\s;,])handling\s*=\s*"?strict"?(?:$|[\s;,])/i.test(prefer ?? '');
}
