import type { FhirContext } from '../../fhir/fhir-context.js';
import { FhirError } from '../../fhir/outcomes.js';
import { queryParams } from '../../fhir/query-params.js';
import { compileSearch } from '../../fhir/search/compile-search.js';
import { parseSearchQuery } from '../../fhir/search/parse-search-query.js';
import { orOf, type Doc } from '../../fhir/search/query-doc.js';
import type { ExportSpec } from './export-parameters.js';

/** Result parameters have no meaning inside a `_typeFilter` (it selects, it does not shape or page). */
const RESULT_PARAMS = new Set(['_sort', '_count', '_offset', '_cursor', '_total', '_summary', '_elements', '_include', '_revinclude', '_contained', '_containedType', '_format', '_pretty', '_type']);

export interface CompiledTypeFilters {
  /** Per type: the OR of its `_typeFilter` queries (Bulk Data IG: several for one type are OR-ed). */
  readonly filters: ReadonlyMap<string, Doc>;
  /** Parameters left out under `Prefer: handling=lenient`: what the job's error file reports. */
  readonly warnings: readonly string[];
}

/**
 * `_typeFilter` queries through the server's own search parsing and compilation
 * (https://hl7.org/fhir/uv/bulkdata/export.html#_typefilter-experimental-query-parameter),
 * against the requester's store, so chains and `_has` see only what the requester may. A
 * parameter the compiler does not support is a 400 (strict, the default) or, under
 * `Prefer: handling=lenient`, left out and reported; a malformed value is a 400 either way.
 */
export async function compileTypeFilters(ctx: Pick<FhirContext, 'defs' | 'store'>, spec: ExportSpec): Promise<CompiledTypeFilters> {
  const byType = new Map<string, Doc[]>();
  const warnings: string[] = [];
  for (const { type, query } of spec.typeFilters) {
    const params = queryParams(new URLSearchParams(query));
    for (const key of Object.keys(params)) {
      if (RESULT_PARAMS.has(key.split(':')[0] as string)) throw new FhirError('bad-request', `_typeFilter '${type}?${query}': ${key} is a result parameter, not a filter`, '_typeFilter');
    }
    let compiled;
    try {
      compiled = await compileSearch(ctx.defs, parseSearchQuery(type, params), { strict: !spec.lenient, store: ctx.store });
    } catch (err) {
      if (err instanceof FhirError) throw new FhirError(err.code === 'unknown-parameter' ? 'unknown-parameter' : 'bad-request', `_typeFilter '${type}?${query}': ${err.message}`, '_typeFilter');
      throw new FhirError('bad-request', `_typeFilter '${type}?${query}': ${(err as Error).message}`, '_typeFilter');
    }
    for (const m of compiled.ignored) warnings.push(`_typeFilter '${type}?${query}': ${m}; the filter was applied without it`);
    const list = byType.get(type) ?? [];
    list.push(compiled.filter);
    byType.set(type, list);
  }
  const filters = new Map<string, Doc>();
  for (const [type, docs] of byType) {
    // A query that kept no condition selects everything of its type, and so does the OR.
    filters.set(type, docs.some((d) => Object.keys(d).length === 0) ? {} : orOf(docs));
  }
  return { filters, warnings };
}
