import { FhirError } from '../fhir/outcomes.js';
import type { SortKey } from './resource-store.js';

/**
 * Keyset paging shared by both engines (FHIR R4 §3.1.1.6 "Paging",
 * https://hl7.org/fhir/R4/search.html#count): a page starts strictly after the sort values of
 * the previous page's last row, so rows written or deleted between pages never shift the
 * window the way an offset would.
 *
 * Order follows MongoDB's sort rules, so the embedded engine sorts exactly as MongoDB does:
 * - a missing value (or null) sorts lowest; `[]` counts as missing (index values never hold
 *   empty arrays, so MongoDB's own special place for `[]` never arises);
 * - an array sorts by its smallest element ascending and its largest descending;
 * - on a dotted path through an array of objects, an element lacking the field contributes
 *   null (MongoDB builds its sort keys like index keys), so e.g. a token without a code sorts
 *   as missing ascending;
 * - values of different types compare in BSON order (null < numbers < strings < objects <
 *   arrays < booleans).
 */

type Doc = Record<string, unknown>;

/** The caller's keys plus `['id', 1]` unless `id` is already one of them: a total order. */
export function effectiveSort(sort: readonly SortKey[] = []): SortKey[] {
  return sort.some(([field]) => field === 'id') ? [...sort] : [...sort, ['id', 1]];
}

/** The effective sort's values of one document: its keyset position. */
export function sortValuesOf(doc: unknown, sort: readonly SortKey[] = []): unknown[] {
  return effectiveSort(sort).map(([field, dir]) => sortValueOf(doc, field, dir));
}

export function sortValueOf(doc: unknown, field: string, dir: 1 | -1): unknown {
  const values = pathValues(doc, field);
  if (values.length === 0) return null;
  let best = values[0];
  for (let i = 1; i < values.length; i++) {
    if (compareValues(values[i], best) * dir < 0) best = values[i];
  }
  return best;
}

/** Orders two keyset positions taken with the same effective sort. */
export function compareSortValues(a: readonly unknown[], b: readonly unknown[], sort: readonly SortKey[]): number {
  const keys = effectiveSort(sort);
  for (let i = 0; i < keys.length; i++) {
    const c = compareValues(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c * keys[i]![1];
  }
  return 0;
}

/** Sorts documents in place by the effective sort; stable and total thanks to the id tie-break. */
export function sortDocuments<T>(docs: T[], sort: readonly SortKey[] = []): void {
  const keyed = docs.map((d) => ({ d, k: sortValuesOf(d, sort) }));
  keyed.sort((x, y) => compareSortValues(x.k, y.k, sort));
  for (let i = 0; i < keyed.length; i++) docs[i] = keyed[i]!.d;
}

/** BSON comparison order for the value types index documents hold. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 1:
      return (a as number) - (b as number);
    case 2:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 3: {
      const sa = JSON.stringify(a);
      const sb = JSON.stringify(b);
      return sa < sb ? -1 : sa > sb ? 1 : 0;
    }
    case 5:
      return Number(a) - Number(b);
    default:
      return 0;
  }
}

function rank(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return 1;
  if (typeof v === 'string') return 2;
  if (Array.isArray(v)) return 4;
  if (typeof v === 'object') return 3;
  if (typeof v === 'boolean') return 5;
  return 6;
}

/** Every value at a dotted path, descending into arrays; see the module comment for nulls. */
function pathValues(doc: unknown, path: string): unknown[] {
  let values: unknown[] = [doc];
  for (const part of path.split('.')) {
    const next: unknown[] = [];
    for (const v of values) {
      if (Array.isArray(v)) {
        for (const el of v) {
          if (el !== null && typeof el === 'object' && !Array.isArray(el)) {
            const child = (el as Doc)[part];
            next.push(child === undefined ? null : child);
          }
        }
      } else if (v !== null && typeof v === 'object') {
        const child = (v as Doc)[part];
        if (child !== undefined) next.push(child);
      }
    }
    values = next;
  }
  // Arrays left at the end of the path are the multikey values themselves.
  return values.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

/**
 * A MongoDB query document selecting exactly the rows strictly after `after` in the effective
 * sort order: the lexicographic expansion
 *   k1 > a1  OR  (k1 = a1 AND k2 > a2)  OR  …
 * where "k > a" and "k = a" speak of the sort value (min ascending, max descending), not of any
 * element. Each condition is written so that it holds in MongoDB (where an array element lacking
 * the field counts as null) and in mingo (where it is skipped) alike, whenever the two agree on
 * the sort value. `field` renames a sort field for the engine (MongoDB: id → _id).
 */
export function keysetFilter(sort: readonly SortKey[], after: readonly unknown[], field: (name: string) => string = (f) => f): Doc {
  const keys = effectiveSort(sort);
  checkPosition(keys, after);
  const branches: Doc[] = [];
  const equalSoFar: Doc[] = [];
  for (let i = 0; i < keys.length; i++) {
    const [name, dir] = keys[i]!;
    const f = field(name);
    const a = after[i];
    const beyond = strictlyAfter(f, dir, a);
    if (beyond) branches.push(equalSoFar.length === 0 ? beyond : { $and: [...equalSoFar, beyond] });
    equalSoFar.push(equalTo(f, dir, a));
  }
  if (branches.length === 0) return NOTHING;
  return branches.length === 1 ? branches[0]! : { $or: branches };
}

/**
 * A keyset position must have one scalar per effective sort key (a string for `id`, a number
 * for `lastUpdatedMs`). Positions come back from clients inside cursors, so anything else is a
 * 400, and no object can reach an operator slot.
 */
export function checkPosition(sort: readonly SortKey[], after: readonly unknown[]): void {
  const keys = effectiveSort(sort);
  if (!Array.isArray(after) || after.length !== keys.length) {
    throw new FhirError('bad-request', 'Invalid paging position: it does not match the search sort order');
  }
  after.forEach((v, i) => {
    const field = keys[i]![0];
    // Fields of a known type must hold it: a keyset condition compares within one BSON type.
    const ok =
      field === 'id'
        ? typeof v === 'string'
        : field === 'lastUpdatedMs'
          ? typeof v === 'number' && Number.isFinite(v)
          : v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
    if (!ok) throw new FhirError('bad-request', 'Invalid paging position: unexpected value');
  });
}

/** Matches no document: both engines store `id` on every document. */
const NOTHING: Doc = { id: { $exists: false } };

function strictlyAfter(f: string, dir: 1 | -1, a: unknown): Doc | undefined {
  if (dir === 1) {
    // min > a: present, no element missing (MongoDB: $ne null), no element <= a.
    if (a === null) return { [f]: { $exists: true, $ne: null } };
    return { [f]: { $exists: true, $ne: null, $not: { $lte: a } } };
  }
  // max < a: no element >= a; missing (null) sorts last descending, so it is included.
  if (a === null) return undefined;
  return { [f]: { $not: { $gte: a } } };
}

function equalTo(f: string, dir: 1 | -1, a: unknown): Doc {
  if (dir === 1) {
    // min is null when the field is absent (both engines) or an element lacks it (MongoDB).
    if (a === null) return { $or: [{ [f]: null }, { [f]: { $exists: false } }] };
    return { [f]: { $eq: a, $ne: null, $not: { $lt: a } } };
  }
  // max is null only when no element has the field.
  if (a === null) return { [f]: { $exists: false } };
  return { [f]: { $eq: a, $not: { $gt: a } } };
}
