import { conjunctsOf, isDoc, type Doc } from '../../fhir/search/query-doc.js';
import { isPostedFor, isPostedPath, isTruncated } from './postings.js';

/**
 * The part of a filter the postings alone can decide for one document, without decoding it.
 *
 * A clause on a top-level index path compares the path's values with scalars: `{p: v}`,
 * `$eq`, `$ne`, `$in`, `$nin` (and `$and`/`$or` of such clauses). For index values that are
 * arrays of scalars (index-values.ts shapes) MongoDB's rule "an array matches when one element
 * does" makes each of them a question about which values the document has, and the postings
 * key [type, path, value, id] answers exactly that — provided the value is posted whole
 * (not truncated) and the path is posted at all. Such clauses (the consent clause of
 * consent-tokens.ts is one) are then answered with a few key lookups per document instead of a
 * decode and a query evaluation, and a count over them reads no document at all.
 *
 * Everything else stays in `rest`, for the query evaluator; the split is only ever of the
 * top-level conjunction, so `decidable AND rest` is the original filter.
 */
export type Has = (path: string, value: string | number) => boolean;
export type PostingPredicate = (has: Has) => boolean;

export interface FilterSplit {
  /** Conjuncts decided by posting lookups (empty when none). */
  readonly decidable: readonly PostingPredicate[];
  /** The remaining conjuncts as one query document (`{}` when nothing is left). */
  readonly rest: Record<string, unknown>;
  /** Every top-level conjunct, and whether `decidable` answers it (with the predicate that does). */
  readonly conjuncts: readonly { readonly doc: Record<string, unknown>; readonly decided: boolean; readonly predicate?: PostingPredicate }[];
}

/**
 * A list longer than this costs a key lookup per value for every document (a Bulk Data
 * export's `$in` over a batch of patients: a thousand per document), where evaluating it on
 * the decoded document costs a set test: such a clause stays in `rest`.
 */
const MAX_LOOKED_UP_VALUES = 16;

/** Splits `filter` for documents of `type`: a conjunct reading a path the type is not posted under stays in `rest`. */
export function splitFilter(filter: Doc, type: string): FilterSplit {
  const decidable: PostingPredicate[] = [];
  const rest: Doc[] = [];
  const conjuncts: { doc: Doc; decided: boolean; predicate?: PostingPredicate }[] = [];
  for (const conjunct of conjunctsOf(filter)) {
    const p = compileShared(conjunct, type);
    if (p) decidable.push(p);
    else rest.push(conjunct);
    conjuncts.push(p ? { doc: conjunct, decided: true, predicate: p } : { doc: conjunct, decided: false });
  }
  return { decidable, rest: rest.length === 0 ? {} : rest.length === 1 ? (rest[0] as Doc) : { $and: rest }, conjuncts };
}

/**
 * Predicates of frozen conjuncts, per type. A frozen conjunct is a clause shared by many
 * searches (the consent clause of consent-tokens.ts, one object per kind of requester), which
 * would otherwise be compiled again for every search; freezing is what makes keeping the
 * compiled form by identity safe.
 */
const shared = new WeakMap<Doc, Map<string, PostingPredicate | null>>();

function compileShared(doc: Doc, type: string): PostingPredicate | undefined {
  if (!Object.isFrozen(doc)) return compile(doc, type);
  let byType = shared.get(doc);
  if (!byType) shared.set(doc, (byType = new Map()));
  let p = byType.get(type);
  if (p === undefined) byType.set(type, (p = compile(doc, type) ?? null));
  return p ?? undefined;
}

function compile(doc: Doc, type: string): PostingPredicate | undefined {
  const parts: PostingPredicate[] = [];
  for (const [key, cond] of Object.entries(doc)) {
    const p = key === '$and' || key === '$or' ? compileLogical(key, cond, type) : compileField(key, cond, type);
    if (!p) return undefined;
    parts.push(p);
  }
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? (parts[0] as PostingPredicate) : every(parts);
}

function compileLogical(op: '$and' | '$or', cond: unknown, type: string): PostingPredicate | undefined {
  if (!Array.isArray(cond) || cond.length === 0) return undefined;
  const subs: PostingPredicate[] = [];
  for (const branch of cond) {
    const p = isDoc(branch) ? compile(branch, type) : undefined;
    if (!p) return undefined;
    subs.push(p);
  }
  return op === '$and' ? every(subs) : some(subs);
}

function compileField(key: string, cond: unknown, type: string): PostingPredicate | undefined {
  if (!key.startsWith('idx.')) return undefined;
  const path = key.slice(4);
  // Only top-level paths: below an object the index shapes hold flat objects, not scalars.
  if (path.includes('.') || path.includes('$') || path === '') return undefined;
  // A path the type is not posted under would answer "absent" for every document.
  if (!isPostedFor(type, path)) return undefined;
  const exact = (v: unknown): v is string => typeof v === 'string' && !isTruncated(v) && isPostedPath(path, v);
  const all = (vs: unknown): vs is string[] => Array.isArray(vs) && vs.every(exact);
  if (exact(cond)) return (has) => has(path, cond);
  if (!isDoc(cond)) return undefined;
  const ops = Object.keys(cond);
  if (ops.length !== 1) return undefined;
  const op = ops[0] as string;
  const arg = cond[op];
  switch (op) {
    case '$eq':
      return exact(arg) ? (has) => has(path, arg) : undefined;
    case '$ne':
      return exact(arg) ? (has) => !has(path, arg) : undefined;
    case '$in':
      return all(arg) && arg.length <= MAX_LOOKED_UP_VALUES ? (has) => hasAny(has, path, arg) : undefined;
    case '$nin':
      return all(arg) && arg.length <= MAX_LOOKED_UP_VALUES ? (has) => !hasAny(has, path, arg) : undefined;
    default:
      return undefined;
  }
}

// Loops rather than every/some with an arrow: these run several times for every document a
// consent-filtered search examines, and an arrow per call is measurable there.
function hasAny(has: Has, path: string, values: readonly string[]): boolean {
  for (const v of values) if (has(path, v)) return true;
  return false;
}

function every(ps: readonly PostingPredicate[]): PostingPredicate {
  return (has) => {
    for (const p of ps) if (!p(has)) return false;
    return true;
  };
}

function some(ps: readonly PostingPredicate[]): PostingPredicate {
  return (has) => {
    for (const p of ps) if (p(has)) return true;
    return false;
  };
}
