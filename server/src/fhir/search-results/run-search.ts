import type { SearchRequest } from '@medplum/core';
import type { SearchMatch } from '../../store/resource-store.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { compileSearch } from '../search/compile-search.js';
import { parseSearchQuery } from '../search/parse-search-query.js';
import { cursorBinding, CURSOR_PARAM, type PageCursor } from './cursor.js';
import { includeIndexFields, resolveIncludes } from './include.js';
import { countAll, pagingSort, readPage, type PageSource } from './keyset-page.js';
import { isStrict, readResultParams } from './result-params.js';
import { searchsetResponse, type SearchsetEntry } from './searchset-bundle.js';
import { buildShape } from './shape-resource.js';

/**
 * Where a search runs: one type (`GET [base]/[type]`) or several (`GET [base]?_type=…`,
 * R4 §3.1.1 "system" search, https://hl7.org/fhir/R4/search.html).
 */
export interface SearchScope {
  /** Path below the base the links point at: the type, or '' for the system. */
  path: string;
  types: readonly string[];
  system: boolean;
  /** `_total` when the client gives none. */
  defaultTotal: 'none' | 'accurate';
}

/**
 * Runs a search end to end: result parameters, compilation per type, one keyset page (merged
 * across types), includes for that page, shaping, links. Parameters the server cannot honour
 * are a 400 under `Prefer: handling=strict` and a warning in the Bundle otherwise.
 */
export async function runSearch(ctx: FhirContext, req: FhirRequest, scope: SearchScope): Promise<FhirResponse> {
  const strict = isStrict(req.headers.prefer);
  const warnings: string[] = [];
  const unsupported = (message: string, param: string): void => {
    if (strict) throw new FhirError('unknown-parameter', message, param);
    if (!warnings.includes(message)) warnings.push(message);
  };
  const rp = readResultParams(ctx.defs, ctx.options, req.query, { allowType: scope.system, unsupported });
  const shape = buildShape(rp.summary === 'count' ? undefined : rp.summary, rp.elements, scope.types, unsupported);
  if (scope.system) keepCommonParameters(ctx, scope.types, rp.searchQuery, unsupported);

  const sources: PageSource[] = [];
  for (const type of scope.types) {
    let parsed: SearchRequest;
    try {
      parsed = parseSearchQuery(type, rp.searchQuery);
    } catch (err) {
      throw new FhirError('bad-request', `Invalid search: ${(err as Error).message}`);
    }
    const compiled = await compileSearch(ctx.defs, parsed, { strict, store: ctx.store });
    for (const m of compiled.ignored) if (!warnings.includes(m)) warnings.push(m);
    sources.push({
      type,
      filter: compiled.filter,
      sort: pagingSort(compiled.sort),
      indexFields: includeIndexFields(ctx.defs, rp.includes, type, false),
    });
  }

  const binding = cursorBinding(scope.system ? 'system' : `type:${scope.path}`, req.query);
  let position: PageCursor | undefined;
  if (rp.cursor !== undefined) {
    position = ctx.cursors.decode(rp.cursor, binding);
    if (!scope.types.includes(position.type)) throw new FhirError('bad-request', 'Invalid paging cursor for this search', CURSOR_PARAM);
  }

  const totalMode = rp.total ?? scope.defaultTotal;
  const base = { req, path: scope.path, count: rp.count, warnings };
  if (rp.summary === 'count' || rp.count === 0) {
    const total = rp.summary === 'count' || totalMode !== 'none' ? await countAll(ctx.store, sources) : undefined;
    return searchsetResponse({ ...base, total, entries: [], self: rp.cursor, links: {} });
  }

  const page = await readPage(ctx.store, sources, position, rp.count, totalMode !== 'none');
  const entries: SearchsetEntry[] = page.rows.map((row) => ({ row, mode: 'match' }));
  if (rp.includes.length > 0 && page.rows.length > 0) {
    const inc = await resolveIncludes({ store: ctx.store, defs: ctx.defs, baseUrl: req.baseUrl, maxIncludes: ctx.options.maxIncludes }, rp.includes, page.rows);
    for (const row of inc.included) entries.push({ row, mode: 'include' });
    if (inc.truncated) warnings.push(`_include/_revinclude added at most ${ctx.options.maxIncludes} resources to this page; more qualified and were left out`);
  }

  const cursorOf = (row: SearchMatch, direction: PageCursor['direction']): string =>
    ctx.cursors.encode({ direction, type: row.resourceType, values: row.sortValues }, binding);
  const first = page.rows[0];
  const last = page.rows[page.rows.length - 1];
  return searchsetResponse({
    ...base,
    total: page.total,
    entries,
    shape,
    defs: ctx.defs,
    // A "previous" cursor that reached the start was served as the first page.
    self: position?.direction === 'previous' && !page.hasPrevious ? undefined : rp.cursor,
    links: {
      ...(page.hasNext && last ? { next: cursorOf(last, 'next') } : {}),
      ...(page.hasPrevious && first ? { previous: cursorOf(first, 'previous') } : {}),
    },
  });
}

/**
 * A system search may only use parameters every searched type defines (R4 §3.1.1, "If the
 * _type parameter is included, all other search parameters SHALL be common to all provided
 * types"). Anything else is removed from the query and reported.
 */
function keepCommonParameters(ctx: FhirContext, types: readonly string[], query: Record<string, string[]>, unsupported: (message: string, param: string) => void): void {
  // The compiler answers these for every type; they are not SearchParameters in the definitions.
  const everywhere = new Set(['_id', '_lastUpdated', '_text', '_list']);
  const common = (code: string): boolean => everywhere.has(code) || types.every((t) => Object.hasOwn(ctx.defs.searchParameters(t), code));
  for (const key of Object.keys(query)) {
    if (key === '_sort') {
      // Only the keys that are not common are dropped, as a type-level search drops only the
      // keys it cannot sort by: the remaining keys still order the results.
      const keys = (query[key] ?? []).flatMap((v) => v.split(','));
      const bad = keys.filter((k) => !common(k.replace(/^-/, '')));
      if (bad.length > 0) {
        unsupported(`_sort: '${bad.map((k) => k.replace(/^-/, '')).join(', ')}' is not a search parameter of every type searched`, '_sort');
        const good = keys.filter((k) => common(k.replace(/^-/, '')));
        if (good.length > 0) query[key] = [good.join(',')];
        else delete query[key];
      }
      continue;
    }
    const code = key.split(/[:.]/)[0] as string;
    if (code === '_has') continue;
    if (!common(code)) {
      unsupported(`Parameter '${key}' is not a search parameter of every type searched (${types.length > 5 ? `${types.length} types` : types.join(', ')})`, key);
      delete query[key];
    }
  }
}
