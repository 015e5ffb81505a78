import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { runSearch } from '../search-results/run-search.js';

/**
 * search-system: `GET [base]?_type=A,B&…` and `POST [base]/_search` (R4 §3.1.1,
 * https://hl7.org/fhir/R4/search.html and §3.1.0.10 https://hl7.org/fhir/R4/http.html#search).
 * Every type is searched with the same sort and the rows are merged into one order, so one
 * keyset cursor pages through all of them. Parameters must be common to every type searched.
 *
 * Without `_type` every resource type is searched. That stays bounded: each page reads at most
 * `_count + 1` rows per type, and `_total` defaults to `none` there, since counting would visit
 * every stored resource (ask for `_total=accurate` explicitly).
 */
export async function systemSearch(ctx: FhirContext, req: FhirRequest): Promise<FhirResponse> {
  const given = req.query._type;
  let types: string[];
  if (given === undefined) {
    types = [...ctx.defs.resourceTypes];
  } else {
    types = [...new Set(given.flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t !== ''))].sort();
    const unknown = types.filter((t) => !ctx.defs.isResourceType(t));
    if (unknown.length > 0) throw new FhirError('bad-request', `_type: unknown resource type(s) ${unknown.join(', ')}`, '_type');
    if (types.length === 0) throw new FhirError('bad-request', '_type names no resource type', '_type');
  }
  return runSearch(ctx, req, { path: '', types, system: true, defaultTotal: given === undefined ? 'none' : 'accurate' });
}
