import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { versionHeaders, versionResponse } from '../resource-response.js';

/** read (R4 §3.1.0.2, https://hl7.org/fhir/R4/http.html#read): 404 unknown, 410 deleted. */
export async function read(ctx: FhirContext, req: FhirRequest, type: string, id: string): Promise<FhirResponse> {
  const v = await ctx.store.readCurrent(type, id);
  if (!v) throw new FhirError('not-found', `${type}/${id} not found`);
  if (v.deleted) throw new FhirError('gone', `${type}/${id} was deleted`);
  const headers = versionHeaders(v);
  if (req.headers['if-none-match'] && req.headers['if-none-match'] === headers.ETag) {
    return { status: 304, headers };
  }
  return versionResponse(v, headers);
}

/** vread (R4 §3.1.0.3): a deleted version reads as 410 Gone. */
export async function vread(ctx: FhirContext, type: string, id: string, versionId: string): Promise<FhirResponse> {
  const v = await ctx.store.readVersion(type, id, versionId);
  if (!v) throw new FhirError('not-found', `${type}/${id}/_history/${versionId} not found`);
  if (v.deleted) throw new FhirError('gone', `${type}/${id} version ${versionId} is a deletion`);
  return versionResponse(v, versionHeaders(v));
}
