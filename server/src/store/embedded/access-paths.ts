import { deepFreeze } from '../../fhir/clone-json.js';
import { LAST_UPDATED_PATH, NUMBER_MAX, NUMBER_MIN, isPostedFor, isPostedPath, isTruncated, postedValue, truncate, type PostingValue } from './postings.js';

/**
 * Reads a compiled search (a MongoDB query document, FHIR R4 §3.1.1,
 * https://hl7.org/fhir/R4/search.html) and lists the ways the postings can narrow it: each
 * Candidate is a set of documents that contains every match of the filter. The engine picks the
 * smallest, then evaluates the whole filter on each document of it, so a clause not recognised
 * here costs speed, never correctness.
 *
 * Only paths whose values are posted are used (postings.ts: isPostedPath for the value's kind,
 * isPostedFor for the resource type): a candidate on a path that is not posted would be empty,
 * not a superset.
 *
 * Recognised (the shapes compile-search emits): `id` equality / `$in`; on `idx.<path>`: a scalar,
 * `$eq`, `$in` of scalars, an anchored literal `$regex` (prefix range), numeric comparisons,
 * `$elemMatch` over any of those (nested too); `lastUpdatedMs` comparisons; `$and`; `$or` whose
 * every branch is recognised (union). Not recognised (the engine falls back to a type scan when
 * nothing else is): `$nor`, `$not`, `$ne`, `$nin`, `$exists`, unanchored regexes, `null`.
 */

/** One contiguous key range of one posting path. */
export type PostingRange =
  | { kind: 'eq'; path: string; value: PostingValue }
  | { kind: 'prefix'; path: string; prefix: string }
  | { kind: 'between'; path: string; lo: number; hi: number };

export interface Candidate {
  /** The union of these ids and these ranges' documents holds every match. */
  ids?: string[];
  ranges: PostingRange[];
  /**
   * True when the union holds exactly the matches, so it can be counted instead of evaluated.
   * Relies on index values being arrays of scalars or of flat objects (index-values.ts shapes).
   */
  exact: boolean;
  /**
   * Its conjunct is answered per document by posting lookups anyway (posting-predicate.ts):
   * intersecting with it only narrows, so it may be dropped from an intersection unprobed.
   */
  checked?: boolean;
}

type Doc = Record<string, unknown>;

const COMPARISONS = new Set(['$gt', '$gte', '$lt', '$lte']);
/**
 * Sub-fields of the index shapes (date {lo, hi}, quantity {v}) that hold one number per array
 * element, so two bounds inside one `$elemMatch` constrain the same number and may form one
 * range. Elsewhere each bound is its own range: on a multi-valued path `{$gte: a, $lt: b}` is
 * met by one element >= a and another < b.
 */
const SCALAR_SUBFIELDS = new Set(['lo', 'hi', 'v']);

/** Every candidate the filter offers for documents of `type`; empty when only a type scan can answer it. */
export function candidatesOf(filter: Doc, type: string): readonly Candidate[] {
  if (!Object.isFrozen(filter)) return candidatesOfDoc(filter, type);
  // A frozen filter is shared by many searches (a consent clause): read once per type, and
  // handed out frozen, since every search gets the same objects.
  let byType = shared.get(filter);
  if (!byType) shared.set(filter, (byType = new Map()));
  let out = byType.get(type);
  if (!out) byType.set(type, (out = deepFreeze(candidatesOfDoc(filter, type))));
  return out;
}

const shared = new WeakMap<Doc, Map<string, readonly Candidate[]>>();

function candidatesOfDoc(filter: Doc, type: string): Candidate[] {
  const keys = Object.keys(filter);
  const out: Candidate[] = [];
  for (const key of keys) {
    const found = clauseCandidates(key, filter[key], type);
    // A candidate of one clause is exact for the filter only when it is the filter's only clause.
    for (const c of found) out.push(keys.length === 1 ? c : { ...c, exact: false });
  }
  return out;
}

function clauseCandidates(key: string, cond: unknown, type: string): Candidate[] {
  if (key === '$and') {
    if (!Array.isArray(cond)) return [];
    const subs = cond.filter(isDoc).map((sub) => candidatesOf(sub, type));
    return subs.flatMap((list) => (cond.length === 1 ? list : list.map((c) => ({ ...c, exact: false }))));
  }
  if (key === '$or') return orCandidates(cond, type);
  if (key.startsWith('$')) return [];
  if (key === 'id') return idCandidates(cond);
  if (key === 'lastUpdatedMs') return valueCandidates(type, LAST_UPDATED_PATH, cond, true);
  if (key.startsWith('idx.')) return valueCandidates(type, key.slice(4), cond, false);
  return [];
}

/** A union of one candidate per branch; every branch must offer one. */
function orCandidates(cond: unknown, type: string): Candidate[] {
  if (!Array.isArray(cond) || cond.length === 0) return [];
  const union: Candidate = { ranges: [], exact: true };
  for (const branch of cond) {
    if (!isDoc(branch)) return [];
    const best = pickStatic(candidatesOf(branch, type));
    if (!best) return [];
    if (best.ids) union.ids = [...(union.ids ?? []), ...best.ids];
    union.ranges.push(...best.ranges);
    union.exact &&= best.exact;
  }
  return [union];
}

/** Without estimates (inside `$or`), prefer what is usually narrowest: ids, then equalities. */
function pickStatic(list: readonly Candidate[]): Candidate | undefined {
  const rank = (c: Candidate): number =>
    c.ranges.reduce((worst, r) => Math.max(worst, r.kind === 'eq' ? 1 : r.kind === 'prefix' ? 2 : 3), 0) + (c.exact ? 0 : 0.5);
  return [...list].sort((a, b) => rank(a) - rank(b))[0];
}

function idCandidates(cond: unknown): Candidate[] {
  if (typeof cond === 'string') return [{ ids: [cond], ranges: [], exact: true }];
  if (!isDoc(cond)) return [];
  const out: Candidate[] = [];
  const ops = Object.keys(cond);
  if (typeof cond.$eq === 'string') out.push({ ids: [cond.$eq], ranges: [], exact: ops.length === 1 });
  if (Array.isArray(cond.$in) && cond.$in.every((v) => typeof v === 'string')) {
    out.push({ ids: [...new Set(cond.$in as string[])], ranges: [], exact: ops.length === 1 });
  }
  return out;
}

/**
 * Candidates of a condition on one posting path. `scalar`: the path holds one value per
 * document (or per `$elemMatch` element), so its bounds combine into one range.
 */
function valueCandidates(type: string, path: string, cond: unknown, scalar: boolean): Candidate[] {
  if (!isPostedFor(type, path)) return [];
  const v = postedValue(cond);
  if (v !== undefined) return isPostedPath(path, v) ? [eq(path, v, typeof cond === 'string' ? !isTruncated(cond) : true)] : [];
  if (!isDoc(cond)) return [];
  const ops = Object.keys(cond);
  if (ops.length === 0 || !ops.every((op) => op.startsWith('$'))) return []; // whole-object equality
  const only = ops.length === 1;
  const out: Candidate[] = [];
  for (const op of ops) {
    const arg = cond[op];
    if (op === '$eq') {
      const ev = postedValue(arg);
      if (ev !== undefined && isPostedPath(path, ev)) out.push(eq(path, ev, only && (typeof arg !== 'string' || !isTruncated(arg))));
    } else if (op === '$in' && Array.isArray(arg)) {
      // An empty list matches nothing (e.g. a chain that found no target): an empty candidate.
      const values = arg.map(postedValue);
      if (values.every((x) => x !== undefined && isPostedPath(path, x))) {
        const exact = only && arg.every((x) => typeof x !== 'string' || !isTruncated(x));
        out.push({ ranges: dedupe(values as PostingValue[]).map((value) => ({ kind: 'eq', path, value })), exact });
      }
    } else if (op === '$regex') {
      const prefix = literalPrefix(arg, cond.$options);
      if (prefix !== undefined && isPostedPath(path, prefix)) out.push({ ranges: [{ kind: 'prefix', path, prefix: truncate(prefix) }], exact: false });
    } else if (op === '$elemMatch' && isDoc(arg)) {
      out.push(...elemMatchCandidates(type, path, arg).map((c) => (only ? c : { ...c, exact: false })));
    }
  }
  out.push(...numericRanges(path, cond, scalar));
  return out;
}

function elemMatchCandidates(type: string, path: string, match: Doc): Candidate[] {
  const keys = Object.keys(match);
  if (keys.length > 0 && keys.every((k) => k.startsWith('$'))) {
    // `{$elemMatch: {$gte: a, $lt: b}}` on an array of numbers: one element meets both.
    return valueCandidates(type, path, match, true).map((c) => ({ ...c, exact: false }));
  }
  const out: Candidate[] = [];
  for (const k of keys) {
    const cond = match[k];
    if (k === '$and' && Array.isArray(cond)) {
      for (const sub of cond) if (isDoc(sub)) out.push(...elemMatchCandidates(type, path, sub).map((c) => ({ ...c, exact: false })));
      continue;
    }
    if (k.startsWith('$')) continue;
    const sub = `${path}.${k}`;
    const scalar = SCALAR_SUBFIELDS.has(k);
    const found = valueCandidates(type, sub, scalar ? withImpliedBounds(k, match) : cond, scalar);
    out.push(...found.map((c) => (keys.length === 1 ? c : { ...c, exact: false })));
  }
  return out;
}

/**
 * A date entry satisfies lo <= hi, so `{lo: {$gte: a}, hi: {$lte: b}}` (the `eq` prefix) also
 * bounds lo above by b and hi below by a: a closed range instead of two half-open ones.
 */
function withImpliedBounds(k: string, match: Doc): unknown {
  const own = match[k];
  if (!isDoc(own) || !('lo' in match && 'hi' in match)) return own;
  const other = match[k === 'lo' ? 'hi' : 'lo'];
  if (!isDoc(other)) return own;
  const extra: Doc = {};
  if (k === 'lo') {
    if (typeof other.$lte === 'number') extra.$lte = other.$lte;
    if (typeof other.$lt === 'number') extra.$lte = other.$lt;
  } else {
    if (typeof other.$gte === 'number') extra.$gte = other.$gte;
    if (typeof other.$gt === 'number') extra.$gte = other.$gt;
  }
  const merged: Doc = { ...own };
  for (const [op, bound] of Object.entries(extra)) {
    const mine = merged[op];
    if (typeof mine !== 'number') merged[op] = bound;
    else merged[op] = op === '$lte' ? Math.min(mine, bound as number) : Math.max(mine, bound as number);
  }
  return merged;
}

function numericRanges(path: string, cond: Doc, scalar: boolean): Candidate[] {
  const bounds = Object.entries(cond).filter(([op, v]) => COMPARISONS.has(op) && typeof v === 'number' && Number.isFinite(v)) as Array<[string, number]>;
  if (bounds.length === 0) return [];
  const range = (lo: number, hi: number): Candidate => ({ ranges: [{ kind: 'between', path, lo, hi }], exact: false });
  const lower = (op: string) => op === '$gt' || op === '$gte';
  if (scalar) {
    let lo = NUMBER_MIN;
    let hi = NUMBER_MAX;
    for (const [op, v] of bounds) {
      if (lower(op)) lo = Math.max(lo, v);
      else hi = Math.min(hi, v);
    }
    return [range(lo, hi)];
  }
  return bounds.map(([op, v]) => (lower(op) ? range(v, NUMBER_MAX) : range(NUMBER_MIN, v)));
}

/**
 * The literal text a regex requires at the start, when the pattern is `^` followed by literal
 * characters (escaped metacharacters allowed) and nothing else; otherwise undefined.
 */
export function literalPrefix(pattern: unknown, options: unknown): string | undefined {
  if (options !== undefined && options !== '') return undefined;
  let source: string;
  if (typeof pattern === 'string') source = pattern;
  else if (pattern instanceof RegExp && pattern.flags === '') source = pattern.source;
  else return undefined;
  if (!source.startsWith('^')) return undefined;
  let out = '';
  for (let i = 1; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\\') {
      const next = source[i + 1];
      if (next === undefined || !/[.*+?^${}()|[\]\\/-]/.test(next)) return undefined;
      out += next;
      i++;
    } else if (/[.*+?^${}()|[\]]/.test(ch)) {
      return undefined;
    } else {
      out += ch;
    }
  }
  return out;
}

function eq(path: string, value: PostingValue, exact: boolean): Candidate {
  return { ranges: [{ kind: 'eq', path, value }], exact };
}

function dedupe<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function isDoc(v: unknown): v is Doc {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp);
}
