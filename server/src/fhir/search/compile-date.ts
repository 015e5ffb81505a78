import { FhirError } from '../outcomes.js';
import { dateRange } from './date-range.js';
import { alternatives, orOf, splitPrefix, type Doc } from './query-doc.js';

const DAY = 86_400_000;

/**
 * A date parameter (R4 search, https://hl7.org/fhir/R4/search.html#date) over index entries
 * `{lo, hi}`: the inclusive instants a date, dateTime, instant, Period (open ends are ±∞) or
 * Timing (its outer limits) covers. The search value covers [L, H] at its precision, and each
 * prefix follows the Range column of the R4 prefix table (#prefix) literally:
 *   eq  [L,H] fully contains the target         lo ≥ L and hi ≤ H
 *   ne  it does not                              lo < L or hi > H
 *   gt  the range above H overlaps the target    hi > H
 *   lt  the range below L overlaps the target    lo < L
 *   ge  gt, or eq                                hi > H or lo ≥ L
 *   le  lt, or eq                                lo < L or hi ≤ H
 *   sa  no overlap, target above                 lo > H
 *   eb  no overlap, target below                 hi < L
 *   ap  overlaps [L,H] widened by 10% of the distance from now (at least a day)
 * Like every other prefix, `ne` asks whether some value of the resource qualifies, so a
 * resource without the element does not match it (`:missing=true` finds those).
 * Dates without a timezone, in the search and in resources, are taken as UTC.
 * Returns the alternatives (ORed) a `{lo, hi}[]` field must satisfy for one search value.
 */
export function dateConditions(raw: string): Doc[] {
  const { op, value } = splitPrefix(raw, 'date');
  const { lo: L, hi: H } = parseDate(value);
  const em = (cond: Doc): Doc => ({ $elemMatch: cond });
  switch (op) {
    case 'eq':
      return [em({ lo: { $gte: L }, hi: { $lte: H } })];
    case 'ne':
      return [em({ lo: { $lt: L } }), em({ hi: { $gt: H } })];
    case 'gt':
      return [em({ hi: { $gt: H } })];
    case 'lt':
      return [em({ lo: { $lt: L } })];
    case 'ge':
      return [em({ lo: { $gte: L } }), em({ hi: { $gt: H } })];
    case 'le':
      return [em({ hi: { $lte: H } }), em({ lo: { $lt: L } })];
    case 'sa':
      return [em({ lo: { $gt: H } })];
    case 'eb':
      return [em({ hi: { $lt: L } })];
    default: {
      const w = approximation(L, H);
      return [em({ lo: { $lte: H + w }, hi: { $gte: L - w } })];
    }
  }
}

/**
 * `_lastUpdated` over `lastUpdatedMs`, a single instant t (its range is the point [t, t]), so
 * the table above reduces to plain comparisons.
 */
export function compileInstant(field: string, value: string): Doc {
  return orOf(
    alternatives(value).map((raw) => {
      const { op, value: v } = splitPrefix(raw, 'date');
      const { lo: L, hi: H } = parseDate(v);
      const inside = { $gte: L, $lte: H };
      switch (op) {
        case 'eq':
          return { [field]: inside };
        case 'ne':
          return { $or: [{ [field]: { $lt: L } }, { [field]: { $gt: H } }] };
        case 'gt':
        case 'sa':
          return { [field]: { $gt: H } };
        case 'lt':
        case 'eb':
          return { [field]: { $lt: L } };
        case 'ge':
          return { [field]: { $gte: L } };
        case 'le':
          return { [field]: { $lte: H } };
        default: {
          const w = approximation(L, H);
          return { [field]: { $gte: L - w, $lte: H + w } };
        }
      }
    }),
  );
}

export function parseDate(value: string): { lo: number; hi: number } {
  const r = dateRange(value);
  if (!r) throw new FhirError('bad-request', `Invalid date '${value}' (expected yyyy, yyyy-mm, yyyy-mm-dd or yyyy-mm-ddThh:mm[:ss[.sss]][Z|±hh:mm])`);
  return r;
}

/** "ap": R4 recommends 10% of the gap between now and the date; a day at least, so ap is never stricter than eq. */
function approximation(lo: number, hi: number): number {
  const mid = lo + (hi - lo) / 2;
  return Math.max(DAY, Math.abs(Date.now() - mid) * 0.1);
}
