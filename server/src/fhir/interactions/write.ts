import type { Resource } from '@medplum/fhirtypes';
import type { Operation } from 'rfc6902';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError, okOutcome } from '../outcomes.js';
import { parseETag, writeResponse } from '../resource-response.js';
import { applyWrites } from './apply-writes.js';
import { resolveIntent } from './resolve-intent.js';
import type { WriteIntent } from './write-intent.js';

/**
 * create, update, patch and delete (R4 §3.1.0.4–7), including their conditional forms.
 * Each is a one-entry run of the same pipeline a transaction uses.
 */
export async function write(ctx: FhirContext, req: FhirRequest, type: string, id: string | undefined): Promise<FhirResponse> {
  const intent = intentFromRequest(req, type, id);
  const run = async () => {
    const r = await resolveIntent(ctx, intent);
    return { resolved: r, results: await applyWrites(ctx, [r]) };
  };
  const { resolved, results } = intent.condition ? await ctx.conditionalLocks.run([type], run) : await run();
  const [result] = results;
  if (!result) throw new Error('write produced no result');
  if (resolved.kind === 'noop') {
    if (resolved.status === 404) throw new FhirError('not-found', `${type}/${resolved.id ?? ''} not found`);
    if (intent.method === 'POST' && resolved.id) {
      // Conditional create matched: 200 with the existing resource (R4 §3.1.0.8).
      const existing = await ctx.store.readCurrent(type, resolved.id);
      if (existing) return writeResponse(200, existing, req.baseUrl, req.headers.prefer);
    }
    return { status: 200, body: okOutcome(`Nothing to delete (${resolved.reason})`) };
  }
  const v = result.version;
  if (!v) throw new Error('write committed no version');
  if (resolved.op === 'delete') {
    return { status: 200, body: okOutcome(`Deleted ${type}/${v.id}`), headers: { ETag: `W/"${v.versionId}"` } };
  }
  return writeResponse(resolved.status, v, req.baseUrl, req.headers.prefer);
}

export function intentFromRequest(req: FhirRequest, type: string, id: string | undefined): WriteIntent {
  const method = req.method as WriteIntent['method'];
  const ifMatch = req.headers['if-match'] ? parseETag(req.headers['if-match']) : undefined;
  const condition = conditionOf(req);
  const base: WriteIntent = { method, resourceType: type, ...(id ? { id } : {}), ...(ifMatch !== undefined ? { ifMatch } : {}) };
  switch (method) {
    case 'POST': {
      const resource = bodyResource(req.body, type, undefined);
      const ifNoneExist = req.headers['if-none-exist'];
      return { ...base, resource, ...(ifNoneExist ? { condition: ifNoneExist } : {}) };
    }
    case 'PUT': {
      if (!id && !condition) throw new FhirError('method-not-allowed', 'PUT needs an id in the URL or search parameters (conditional update)');
      const resource = bodyResource(req.body, type, id);
      return { ...base, resource, ...(id ? {} : { condition }) };
    }
    case 'PATCH': {
      if (!id && !condition) throw new FhirError('method-not-allowed', 'PATCH needs an id in the URL or search parameters');
      return { ...base, patch: jsonPatch(req.body, req.headers['content-type']), ...(id ? {} : { condition }) };
    }
    case 'DELETE': {
      if (!id && !condition) throw new FhirError('method-not-allowed', 'DELETE needs an id in the URL or search parameters (conditional delete)');
      return { ...base, ...(id ? {} : { condition }) };
    }
    default:
      throw new FhirError('method-not-allowed', `${req.method} is not a write interaction`);
  }
}

function conditionOf(req: FhirRequest): string | undefined {
  const pairs: string[] = [];
  for (const [k, vs] of Object.entries(req.query)) {
    if (k === '_format' || k === '_pretty') continue;
    for (const v of vs) pairs.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return pairs.length > 0 ? pairs.join('&') : undefined;
}

/** The body must be a resource of the URL's type; for PUT by id its id must equal the URL id (R4 §3.1.0.4). */
export function bodyResource(body: unknown, type: string, id: string | undefined): Resource {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new FhirError('bad-request', 'The request body must be a FHIR resource (a JSON object)');
  }
  const r = body as Resource;
  if (r.resourceType !== type) {
    throw new FhirError('type-mismatch', `Body resourceType '${String(r.resourceType)}' does not match the URL type '${type}'`, 'resourceType');
  }
  if (id !== undefined) {
    if (r.id === undefined) throw new FhirError('id-mismatch', 'The resource in a PUT must carry the id from the URL', 'id');
    if (r.id !== id) throw new FhirError('id-mismatch', `Body id '${r.id}' does not match the URL id '${id}'`, 'id');
  }
  return r;
}

const PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** JSON Patch (RFC 6902) is the one patch format accepted (R4 §3.1.0.7). */
export function jsonPatch(body: unknown, contentType: string | undefined): Operation[] {
  if (contentType && !contentType.startsWith('application/json-patch+json')) {
    throw new FhirError('unsupported-media-type', 'PATCH accepts application/json-patch+json (RFC 6902 JSON Patch)');
  }
  if (!Array.isArray(body)) throw new FhirError('bad-request', 'A JSON Patch document is an array of operations');
  body.forEach((op, i) => {
    if (!op || typeof op !== 'object' || !PATCH_OPS.has((op as { op?: string }).op ?? '') || typeof (op as { path?: unknown }).path !== 'string') {
      throw new FhirError('bad-request', `JSON Patch operation ${i} needs a valid 'op' and a string 'path'`);
    }
  });
  return body as Operation[];
}
