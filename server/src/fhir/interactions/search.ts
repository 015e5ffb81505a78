import { parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { compileSearch } from '../search/compile-search.js';
import { pageLinks, pageOffset, pageSize } from './paging.js';

/** Result parameters this handler implements; anything else beginning with `_` is reported. */
const RESULT_PARAMS = new Set(['_count', '_offset', '_sort', '_total', '_summary', '_elements', '_format', '_pretty']);
const UNSUPPORTED_RESULT_PARAMS = new Set(['_include', '_revinclude', '_contained', '_containedType']);

/**
 * search-type (R4 §3.1.1, https://hl7.org/fhir/R4/search.html). Parsing is @medplum/core's;
 * the parsed request is compiled into one MongoDB query document that the store executes.
 * `Prefer: handling=strict` turns ignored parameters into a 400 (R4 §3.1.1.5.8).
 */
export async function search(ctx: FhirContext, req: FhirRequest, type: string): Promise<FhirResponse> {
  const strict = /handling=strict/.test(req.headers.prefer ?? '');
  const count = pageSize(req.query, ctx.options);
  const offset = pageOffset(req.query);
  const warnings: string[] = [];
  const query = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of Object.entries(req.query)) {
    if (UNSUPPORTED_RESULT_PARAMS.has(k.split(':')[0] as string)) {
      if (strict) throw new FhirError('unknown-parameter', `Parameter '${k}' is not supported yet`, k);
      warnings.push(`Parameter '${k}' is not supported yet and was ignored`);
      continue;
    }
    query[k] = v;
  }
  let parsed: SearchRequest;
  try {
    parsed = parseSearchRequest(type, query);
  } catch (err) {
    throw new FhirError('bad-request', `Invalid search: ${(err as Error).message}`);
  }
  const summary = req.query._summary?.[0];
  if (summary !== undefined && !['true', 'false', 'text', 'data', 'count'].includes(summary)) {
    throw new FhirError('bad-request', `_summary must be one of true, false, text, data, count`, '_summary');
  }
  const totalMode = req.query._total?.[0] ?? 'accurate';
  if (!['none', 'estimate', 'accurate'].includes(totalMode)) throw new FhirError('bad-request', `_total must be none, estimate or accurate`, '_total');

  const compiled = await compileSearch(ctx.defs, { ...parsed, filters: parsed.filters?.filter((f) => !RESULT_PARAMS.has(f.code)) }, { strict, store: ctx.store });
  warnings.push(...compiled.ignored);

  const countOnly = summary === 'count';
  const result = await ctx.store.search({
    resourceType: type,
    filter: compiled.filter,
    sort: compiled.sort,
    skip: offset,
    limit: countOnly ? 0 : count,
    total: countOnly || totalMode !== 'none',
  });

  const entries: BundleEntry[] = result.resources.map((v) => ({
    fullUrl: `${req.baseUrl}/${v.resourceType}/${v.id}`,
    resource: shape(v.resource as Resource, parsed.fields, summary, ctx.defs.summaryElements(type)),
    search: { mode: 'match' },
  }));
  if (warnings.length > 0) {
    entries.push({
      resource: {
        resourceType: 'OperationOutcome',
        issue: warnings.map((text) => ({ severity: 'warning', code: 'not-supported', details: { text } })),
      },
      search: { mode: 'outcome' },
    });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total !== undefined ? { total: result.total } : {}),
    link: countOnly
      ? pageLinks(`${req.baseUrl}/${type}`, req.query, 0, 0, 0, 0)
      : pageLinks(`${req.baseUrl}/${type}`, req.query, offset, count, result.total, result.resources.length),
    ...(countOnly ? {} : { entry: entries }),
  };
  return { status: 200, body: bundle };
}

const MANDATORY = new Set(['resourceType', 'id', 'meta']);

/**
 * `_elements` and `_summary` (R4 §3.1.1.5.9–10): true keeps the base definition's summary
 * elements, text keeps text, data drops text. Subsetted results are tagged SUBSETTED.
 */
function shape(resource: Resource, fields: string[] | undefined, summary: string | undefined, summaryElements: ReadonlySet<string>): Resource {
  const hasFields = fields !== undefined && fields.length > 0;
  if (!hasFields && (summary === undefined || summary === 'false')) return resource;
  const keep = (k: string): boolean => {
    if (MANDATORY.has(k)) return true;
    if (hasFields) return fields.includes(k);
    if (summary === 'data') return k !== 'text';
    if (summary === 'text') return k === 'text';
    // _summary=true: choice elements are stored as e.g. deceasedBoolean; match the stem.
    return summaryElements.has(k) || [...summaryElements].some((stem) => k.startsWith(stem) && /^[A-Z]/.test(k.slice(stem.length)));
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource as unknown as Record<string, unknown>)) if (keep(k)) out[k] = v;
  const meta = (out.meta as Record<string, unknown> | undefined) ?? {};
  out.meta = { ...meta, tag: [...((meta.tag as unknown[]) ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }] };
  return out as unknown as Resource;
}
