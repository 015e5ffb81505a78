import { conjunctsOf, isDoc } from '../fhir/search/query-doc.js';
import type { IndexValues, SearchQuery } from './resource-store.js';

/**
 * The exact values a query's `matchedOf` names: those of the filter's top-level conjunct (under
 * `$and`, at any depth) on `idx.<field>` that is a string, `$eq` of one, or `$in` of strings.
 * Throws when there is none, since `matched` would otherwise mean nothing.
 */
export function matchedValuesOf(query: SearchQuery): string[] {
  const field = query.matchedOf as string;
  const key = `idx.${field}`;
  for (const conjunct of conjunctsOf(query.filter)) {
    const values = Object.hasOwn(conjunct, key) ? exactStrings(conjunct[key]) : undefined;
    if (values) return values;
  }
  throw new Error(`matchedOf '${field}': the filter holds no top-level exact-value conjunct on idx.${field}`);
}

function exactStrings(cond: unknown): string[] | undefined {
  if (typeof cond === 'string') return [cond];
  if (!isDoc(cond)) return undefined;
  const ops = Object.keys(cond);
  if (ops.length !== 1) return undefined;
  const v = cond[ops[0] as string];
  if (ops[0] === '$eq' && typeof v === 'string') return [v];
  if (ops[0] === '$in' && Array.isArray(v) && v.every((x) => typeof x === 'string')) return [...new Set(v as string[])];
  return undefined;
}

/** The values among `values` that an index value (one string or an array) holds, in `values`' order. */
export function matchedFromIndex(values: readonly string[], idx: IndexValues | undefined, field: string): string[] {
  const v = idx?.[field];
  const held = new Set<unknown>(Array.isArray(v) ? v : v === undefined ? [] : [v]);
  return values.filter((x) => held.has(x));
}
