import type { Bundle, BundleEntry, BundleLink, OperationOutcome } from '@medplum/fhirtypes';
import type { SearchMatch } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { CURSOR_PARAM } from './cursor.js';
import { shapeResource, type Shape } from './shape-resource.js';

/**
 * The `searchset` Bundle (R4 §3.1.1.6–7, https://hl7.org/fhir/R4/search.html#count and
 * #outcome): matches and includes with their search mode, an OperationOutcome entry for
 * warnings, and self/first/next/previous links carrying opaque cursors.
 *
 * Resources the shape leaves whole are written as the store's JSON text, so a page is sent
 * without decoding and re-encoding every resource.
 */
export interface SearchsetEntry {
  row: SearchMatch;
  mode: 'match' | 'include';
}

export interface SearchsetInput {
  req: FhirRequest;
  /** Path below the base for links: a type, or '' for the system. */
  path: string;
  count: number;
  total: number | undefined;
  entries: SearchsetEntry[];
  warnings: string[];
  shape?: Shape;
  defs?: Definitions;
  /** The cursor this page was read with (undefined: the first page). */
  self: string | undefined;
  links: { next?: string; previous?: string };
}

export function searchsetResponse(input: SearchsetInput): FhirResponse {
  const url = (cursor: string | undefined): string => linkUrl(input.req, input.path, input.count, cursor);
  const link: BundleLink[] = [{ relation: 'self', url: url(input.self) }, { relation: 'first', url: url(undefined) }];
  if (input.links.next) link.push({ relation: 'next', url: url(input.links.next) });
  if (input.links.previous) link.push({ relation: 'previous', url: url(input.links.previous) });

  const entries: BundleEntry[] = [];
  const texts: string[] = [];
  for (const e of input.entries) {
    const fullUrl = `${input.req.baseUrl}/${e.row.resourceType}/${e.row.id}`;
    const whole = !input.shape || input.shape.kind === 'full';
    if (whole && e.row.json !== undefined) {
      const row = e.row;
      const entry = { fullUrl, search: { mode: e.mode } } as BundleEntry;
      // The object form (used by batch/transaction responses) parses only when read.
      Object.defineProperty(entry, 'resource', { enumerable: true, configurable: true, get: () => row.resource });
      entries.push(entry);
      texts.push(`{"fullUrl":${JSON.stringify(fullUrl)},"resource":${row.json},"search":{"mode":"${e.mode}"}}`);
    } else {
      const resource = whole || !input.defs ? e.row.resource : shapeResource(input.defs, e.row.resource as NonNullable<SearchMatch['resource']>, input.shape as Shape);
      const entry: BundleEntry = { fullUrl, resource, search: { mode: e.mode } };
      entries.push(entry);
      texts.push(JSON.stringify(entry));
    }
  }
  if (input.warnings.length > 0) {
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: input.warnings.map((text) => ({ severity: 'warning', code: 'not-supported', details: { text } })),
    };
    const entry: BundleEntry = { resource: outcome, search: { mode: 'outcome' } };
    entries.push(entry);
    texts.push(JSON.stringify(entry));
  }

  const head: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(input.total !== undefined ? { total: input.total } : {}),
    link,
  };
  const body: Bundle = entries.length > 0 ? { ...head, entry: entries } : head;
  const headJson = JSON.stringify(head);
  const json = texts.length > 0 ? `${headJson.slice(0, -1)},"entry":[${texts.join(',')}]}` : headJson;
  return { status: 200, body, json };
}

/**
 * A paging link: the caller's parameters in their order (form-encoded POST parameters too,
 * so a POST search pages with GET), the page size, and the cursor.
 */
function linkUrl(req: FhirRequest, path: string, count: number, cursor: string | undefined): string {
  const params = new URLSearchParams();
  for (const [k, vs] of Object.entries(req.query)) {
    if (k === CURSOR_PARAM || k === '_count') continue;
    for (const v of vs) params.append(k, v);
  }
  params.set('_count', String(count));
  if (cursor !== undefined) params.set(CURSOR_PARAM, cursor);
  return `${req.baseUrl}${path === '' ? '' : `/${path}`}?${params.toString()}`;
}
