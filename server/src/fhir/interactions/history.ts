import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { StoredVersion } from '../../store/resource-store.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { etag } from '../resource-response.js';
import { dateRange } from '../search/date-range.js';
import { pageLinks, pageOffset, pageSize } from './paging.js';

/** history-instance and history-type (R4 §3.1.0.11): newest first, `_count`, `_since`. */
export async function history(ctx: FhirContext, req: FhirRequest, type: string, id: string | undefined): Promise<FhirResponse> {
  const count = pageSize(req.query, ctx.options);
  const offset = pageOffset(req.query);
  const sinceRaw = req.query._since?.[0];
  let sinceMs: number | undefined;
  if (sinceRaw !== undefined) {
    const r = dateRange(sinceRaw);
    if (!r || !/T/.test(sinceRaw)) throw new FhirError('bad-request', `_since must be an instant (e.g. 2024-01-01T00:00:00Z), got '${sinceRaw}'`, '_since');
    sinceMs = r.lo;
  }
  const result = await ctx.store.history({ resourceType: type, ...(id ? { id } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}), skip: offset, limit: count });
  if (id !== undefined && result.total === 0) {
    // Absent, or no version of it visible to this request (scopes, consent): the same 404. When
    // only older versions are visible (a later one is denied), those are listed, as vread and
    // type history would show them.
    const current = await ctx.store.readCurrent(type, id);
    if (!current && (sinceMs === undefined || (await ctx.store.history({ resourceType: type, id, limit: 1 })).total === 0)) {
      throw new FhirError('not-found', `${type}/${id} not found`);
    }
  }
  const url = `${req.baseUrl}/${type}${id ? `/${id}` : ''}/_history`;
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    total: result.total,
    link: pageLinks(url, req.query, offset, count, result.total, result.entries.length),
    entry: result.entries.map((v) => historyEntry(req.baseUrl, v)),
  };
  return { status: 200, body: bundle };
}

function historyEntry(baseUrl: string, v: StoredVersion): BundleEntry {
  const fullUrl = `${baseUrl}/${v.resourceType}/${v.id}`;
  const response = { status: v.deleted ? '204' : v.versionId === '1' ? '201' : '200', etag: etag(v.versionId), lastModified: v.lastUpdated };
  if (v.deleted) {
    return { fullUrl, request: { method: 'DELETE', url: `${v.resourceType}/${v.id}` }, response };
  }
  return {
    fullUrl,
    resource: v.resource,
    request: v.versionId === '1' ? { method: 'POST', url: v.resourceType } : { method: 'PUT', url: `${v.resourceType}/${v.id}` },
    response,
  };
}
