import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { runSearch } from '../search-results/run-search.js';

/**
 * search-type: `GET [base]/[type]?…` and `POST [base]/[type]/_search` with form-encoded
 * parameters (R4 §3.1.1, https://hl7.org/fhir/R4/search.html; the edge merges body and URL
 * parameters). Parsing is @medplum/core's; the parsed request compiles to one MongoDB query
 * document the store executes; pages are keyset cursors. `Prefer: handling=strict` turns
 * ignored parameters into a 400 (R4 §3.1.1.5.8).
 */
export async function search(ctx: FhirContext, req: FhirRequest, type: string): Promise<FhirResponse> {
  return runSearch(ctx, req, { path: type, types: [type], system: false, defaultTotal: 'accurate' });
}
