import { compareValues, effectiveSort, keysetFilter } from '../../store/keyset.js';
import type { ResourceStore, SearchMatch, SortKey } from '../../store/resource-store.js';
import type { PageCursor } from './cursor.js';

/**
 * Keyset paging over one or several resource types (R4 §3.1.1.6, https://hl7.org/fhir/R4/search.html#count).
 *
 * A page is read from a position (the sort values of a row), never from an offset, so rows
 * written or deleted elsewhere in the result set do not shift it. Several types (system search)
 * are read with the same sort and merged in the order (sort values, type): each type is asked
 * for the rows after the position translated to that type, so one position is exact for all.
 */
export interface PageSource {
  type: string;
  filter: Record<string, unknown>;
  /** Ends with its `id` key (see pagingSort). */
  sort: SortKey[];
  /** idx fields to return with each row (reference values for `_include`). */
  indexFields?: string[];
}

/** Where a page starts: a cursor's content. */
export type PagePosition = PageCursor;

export interface Page {
  rows: SearchMatch[];
  /** More rows follow the last one. */
  hasNext: boolean;
  /** Rows precede the first one (this is not the first page). */
  hasPrevious: boolean;
  total?: number;
}

/** Fields holding one value per document: reversing their sort reverses the order exactly. */
const SCALAR_FIELDS = new Set(['id', 'lastUpdatedMs', 'lastUpdated', 'versionId']);

type Store = Pick<ResourceStore, 'search'>;

export async function readPage(store: Store, sources: readonly PageSource[], position: PagePosition | undefined, count: number, withTotal: boolean): Promise<Page> {
  if (position?.direction === 'previous') {
    const lists = await Promise.all(sources.map((s) => rowsBefore(store, s, positionFor(s, position, 'previous'), count + 1)));
    const merged = merge(sources, lists);
    // Fewer rows than a page before the position: that is the start, served as the first page
    // so it is full and its links are those of a first page.
    if (merged.length <= count) return readPage(store, sources, undefined, count, withTotal);
    const rows = merged.slice(merged.length - count);
    return { rows, hasNext: true, hasPrevious: true, ...(withTotal ? { total: await countAll(store, sources) } : {}) };
  }
  const results = await Promise.all(
    sources.map((s) =>
      store.search({
        resourceType: s.type,
        filter: s.filter,
        sort: s.sort,
        ...(position ? { after: positionFor(s, position, 'next') } : {}),
        limit: count + 1,
        total: withTotal,
        ...(s.indexFields && s.indexFields.length > 0 ? { indexFields: s.indexFields } : {}),
      }),
    ),
  );
  const merged = merge(
    sources,
    results.map((r) => r.resources),
  );
  const total = withTotal ? results.reduce((n, r) => n + (r.total ?? 0), 0) : undefined;
  return { rows: merged.slice(0, count), hasNext: merged.length > count, hasPrevious: position !== undefined, ...(total !== undefined ? { total } : {}) };
}

/** Number of matches over every source, ignoring any position. */
export async function countAll(store: Store, sources: readonly PageSource[]): Promise<number> {
  const results = await Promise.all(sources.map((s) => store.search({ resourceType: s.type, filter: s.filter, limit: 0, total: true })));
  return results.reduce((n, r) => n + (r.total ?? 0), 0);
}

/**
 * The sort paging uses: the compiled keys up to and including the first `id` key, `['id', 1]`
 * appended when there is none. Keys after an id never decide anything (ids are unique within a
 * type), and with the id last, "just before" or "just after" a position is a matter of the id
 * alone (see nextTo).
 */
export function pagingSort(sort: readonly SortKey[]): SortKey[] {
  const eff = effectiveSort(sort);
  const at = eff.findIndex(([f]) => f === 'id');
  return eff.slice(0, at + 1);
}

/**
 * The position, in a source's own order, equivalent to `p` in the merged order (sort values,
 * then type). Rows of another type with sort values equal to p's come after p when their type
 * sorts after p's, and before it otherwise; so for those types the position moves to just
 * before p (reading on) or just after it (reading back).
 */
function positionFor(s: PageSource, p: PagePosition, reading: 'next' | 'previous'): unknown[] {
  if (reading === 'next' && s.type > p.type) return nextTo(s.sort, p.values, 'before');
  if (reading === 'previous' && s.type < p.type) return nextTo(s.sort, p.values, 'after');
  return p.values;
}

/**
 * A position no row can hold, immediately before or after `values`: only the trailing id
 * changes. Ids are [A-Za-z0-9\-.]{1,64}, every character between '-' and 'z', so
 * `x + ' '` is the next string after x that matters, and x with its last character lowered
 * by one and '~' appended is the one before it.
 */
function nextTo(sort: readonly SortKey[], values: readonly unknown[], side: 'before' | 'after'): unknown[] {
  const last = values.length - 1;
  const id = values[last];
  if (typeof id !== 'string' || id === '') return [...values];
  const dir = sort[last]?.[1] ?? 1;
  const up = (side === 'after') === (dir === 1);
  const moved = up ? `${id} ` : `${id.slice(0, -1)}${String.fromCharCode(id.charCodeAt(id.length - 1) - 1)}~`;
  return [...values.slice(0, last), moved];
}

/** The `limit` rows immediately before `at` in the source's order, in that order. */
async function rowsBefore(store: Store, s: PageSource, at: unknown[], limit: number): Promise<SearchMatch[]> {
  const indexFields = s.indexFields && s.indexFields.length > 0 ? { indexFields: s.indexFields } : {};
  if (s.sort.every(([f]) => SCALAR_FIELDS.has(f))) {
    const reversed = s.sort.map(([f, d]): SortKey => [f, d === 1 ? -1 : 1]);
    const r = await store.search({ resourceType: s.type, filter: s.filter, sort: reversed, after: at, limit, ...indexFields });
    return r.resources.reverse();
  }
  // A multi-valued field sorts by its smallest value ascending but by its largest descending,
  // so the reversed sort is not the reverse order. Read what is not after the position just
  // before `at`, in the forward order, and take its tail.
  const before = { $and: [s.filter, { $nor: [keysetFilter(s.sort, nextTo(s.sort, at, 'before'))] }] };
  const n = (await store.search({ resourceType: s.type, filter: before, sort: s.sort, limit: 0, total: true })).total ?? 0;
  const r = await store.search({ resourceType: s.type, filter: before, sort: s.sort, skip: Math.max(0, n - limit), limit, ...indexFields });
  return r.resources;
}

/** Merges per-source lists (each already in its source's order) into the order (sort values, type). */
function merge(sources: readonly PageSource[], lists: SearchMatch[][]): SearchMatch[] {
  if (lists.length === 1) return lists[0] as SearchMatch[];
  const sort = sources[0]?.sort ?? [];
  const all = lists.flat();
  all.sort((a, b) => {
    for (let i = 0; i < sort.length; i++) {
      const c = compareValues(a.sortValues[i] ?? null, b.sortValues[i] ?? null);
      if (c !== 0) return c * (sort[i] as SortKey)[1];
    }
    return a.resourceType < b.resourceType ? -1 : a.resourceType > b.resourceType ? 1 : 0;
  });
  return all;
}
