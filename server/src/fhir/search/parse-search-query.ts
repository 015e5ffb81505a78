import { parseSearchRequest, type Filter, type SearchRequest } from '@medplum/core';

/** Result parameters (R4 search, "Modifying Search Results") @medplum/core parses into SearchRequest fields. */
const RESULT_PARAMS = new Set(['_sort', '_cursor', '_count', '_offset', '_total', '_summary', '_include', '_revinclude', '_fields', '_elements', '_type', '_format', '_pretty']);

/**
 * Parses a search query (R4 search, https://hl7.org/fhir/R4/search.html) into a SearchRequest.
 * Result parameters are parsed by @medplum/core; every other parameter becomes a filter that
 * keeps the key and value exactly as written (`code` = `name[:modifier]` or a chain,
 * `operator` = eq, `value` with its prefix). parseSearchRequest would turn an unknown modifier
 * or a `:Type` modifier into plain equality, losing what compileSearch needs to check them.
 */
export function parseSearchQuery(resourceType: string, query: Record<string, string[] | string | undefined>): SearchRequest {
  const result: Record<string, string[]> = {};
  const filters: Filter[] = [];
  for (const [key, raw] of Object.entries(query)) {
    const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (RESULT_PARAMS.has(key.split(':')[0] as string)) result[key] = values;
    else if (key !== '' && key !== '_') for (const value of values) filters.push({ code: key, operator: 'eq', value } as Filter);
  }
  const parsed = parseSearchRequest(resourceType, result);
  return filters.length > 0 ? { ...parsed, filters } : parsed;
}
