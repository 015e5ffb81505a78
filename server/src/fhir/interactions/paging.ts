import type { BundleLink } from '@medplum/fhirtypes';
import type { ServiceOptions } from '../fhir-context.js';
import { FhirError } from '../outcomes.js';

/** Reads and checks `_count` (R4 §3.1.1.5.4): a non-negative integer, capped at the maximum. */
export function pageSize(query: Record<string, string[]>, options: ServiceOptions): number {
  const raw = query._count?.[0];
  if (raw === undefined) return options.defaultPageSize;
  if (!/^\d+$/.test(raw)) throw new FhirError('bad-request', `_count must be a non-negative integer, got '${raw}'`, '_count');
  return Math.min(Number(raw), options.maxPageSize);
}

/**
 * Offset paging, for history only (R4 §3.1.0.11): a version list is append-only and newest
 * first, so offsets there do not skip or repeat rows the way they would in a search.
 */
export function pageOffset(query: Record<string, string[]>): number {
  const raw = query._offset?.[0];
  if (raw === undefined) return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > 1_000_000) throw new FhirError('bad-request', `_offset must be an integer between 0 and 1000000, got '${raw}'`, '_offset');
  return Number(raw);
}

/** self/next/previous links for offset-paged history that keep the caller's parameters. */
export function pageLinks(url: string, query: Record<string, string[]>, offset: number, count: number, total: number | undefined, pageLength: number): BundleLink[] {
  const build = (o: number): string => {
    const params = new URLSearchParams();
    for (const [k, vs] of Object.entries(query)) {
      if (k === '_offset' || k === '_count') continue;
      for (const v of vs) params.append(k, v);
    }
    params.set('_count', String(count));
    if (o > 0) params.set('_offset', String(o));
    return `${url}?${params.toString()}`;
  };
  const links: BundleLink[] = [{ relation: 'self', url: build(offset) }];
  const more = total !== undefined ? offset + pageLength < total : pageLength === count && count > 0;
  if (more) links.push({ relation: 'next', url: build(offset + count) });
  if (offset > 0) links.push({ relation: 'previous', url: build(Math.max(0, offset - count)) });
  return links;
}
