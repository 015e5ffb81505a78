import type { Database } from 'lmdb';
import type { StoredDocument } from '../resource-store.js';

/**
 * The embedded engine's secondary index: one LMDB key per (resource type, value path, value,
 * id), an inverted index shaped like MongoDB's wildcard index on `idx.$**`. Scalar leaves of a
 * document's index values are posted under their dotted path below `idx` (`subject`, `code.c`,
 * `date.lo`, `value-quantity.v` …) whatever the SearchParameter type, so shapes added later
 * (composites) are indexed without changes here; `lastUpdatedMs` is posted under
 * `@lastUpdatedMs`.
 *
 *   key [type, path, value, id] → null      values sort numbers < strings (ordered-binary)
 *
 * Which leaves are posted (isPostedPath): every number, every string directly in a parameter's
 * array (string, reference, uri values), and inside objects only strings under `c` (codes,
 * identifier values). Systems, display texts and units are left out: they rarely narrow a
 * search (one system covers most codes) yet would double the write cost; clauses on them are
 * answered through the other clauses or a scan.
 *
 * Keys with equal (type, path, value) are ordered by id, so one value's postings stream in the
 * search's default order. Postings only ever narrow the documents a search examines: the full
 * query document is evaluated on each candidate, so a posting set may be a superset (long
 * strings are posted truncated) but must never miss a document.
 */
export type PostingValue = string | number;
export type PostingKey = [type: string, path: string, value: PostingValue, id: string];

/** Longer strings are posted as their first MAX_POSTED_CHARS characters; keys stay far below LMDB's 1978-byte limit. */
export const MAX_POSTED_CHARS = 128;
export const LAST_UPDATED_PATH = '@lastUpdatedMs';

/** Sorts after every string a posting can hold (a noncharacter; normalised text never has it). */
export const STRING_END = '\u{10FFFF}';
/** Number bounds: ordered-binary cannot encode ±Infinity. */
export const NUMBER_MIN = -Number.MAX_VALUE;
export const NUMBER_MAX = Number.MAX_VALUE;

type IndexedDocument = Pick<StoredDocument, 'idx' | 'lastUpdatedMs'>;

/**
 * Index values a type's documents nearly all share, left out of its postings. Every audited
 * read stores an AuditEvent whose profile, entity type and role codes, agent role, action,
 * event type, source site and the `:exact` twins of its network addresses repeat from one
 * event to the next: a posting of them never narrows a search, yet each is a key written on
 * the audited request's path (12 of an event's 26). Searches on them still answer exactly: the
 * planner does not use these paths for the type (isPostedFor), so the documents are found
 * through the other clauses or a scan and evaluated whole. Changing this list changes what is
 * posted: bump POSTINGS_FORMAT in embedded-store.ts (and name the types in CHANGED_SINCE), so
 * a store written under the old list has those types' postings rebuilt.
 */
const UNPOSTED: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['AuditEvent', new Set(['_profile', 'action', 'address:exact', 'agent-role', 'entity-role', 'entity-type', 'site', 'type'])],
]);

/** Whether `type`'s documents are posted under `path` (a dotted posting path) at all. */
export function isPostedFor(type: string, path: string): boolean {
  const unposted = UNPOSTED.get(type);
  if (!unposted) return true;
  const dot = path.indexOf('.');
  return !unposted.has(dot < 0 ? path : path.slice(0, dot));
}

/** Whether values of this type at this path are posted; the planner asks before relying on a path. */
export function isPostedPath(path: string, value: PostingValue): boolean {
  if (typeof value === 'number') return true;
  const dot = path.lastIndexOf('.');
  return dot < 0 || path.slice(dot + 1) === 'c';
}

/** The (path, value) pairs a document of `type` is posted under, deduplicated by a string key. */
export function postingsOf(type: string, doc: IndexedDocument): Map<string, [string, PostingValue]> {
  const out = new Map<string, [string, PostingValue]>();
  const unposted = UNPOSTED.get(type);
  const add = (path: string, value: unknown): void => {
    const v = postedValue(value);
    if (v === undefined || !isPostedPath(path, v)) return;
    // The type tag keeps 1 and "1" apart.
    out.set(`${path}\u0000${typeof v === 'number' ? 'n' : 's'}${v}`, [path, v]);
  };
  const walk = (path: string, value: unknown, depth: number): void => {
    if (depth > 8) return;
    if (Array.isArray(value)) {
      for (const v of value) walk(path, v, depth + 1);
    } else if (value !== null && typeof value === 'object') {
      for (const k in value) walk(`${path}.${k}`, (value as Record<string, unknown>)[k], depth + 1);
    } else {
      add(path, value);
    }
  };
  const idx = doc.idx ?? {};
  for (const code in idx) if (!unposted?.has(code)) walk(code, idx[code], 0);
  add(LAST_UPDATED_PATH, doc.lastUpdatedMs);
  return out;
}

/** The key form of a value: finite numbers and strings (truncated); anything else is not posted. */
export function postedValue(value: unknown): PostingValue | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return truncate(value);
  return undefined;
}

export function truncate(s: string): string {
  if (s.length <= MAX_POSTED_CHARS) return s;
  let cut = s.slice(0, MAX_POSTED_CHARS);
  // Never keep half of a surrogate pair: it would encode as U+FFFD.
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

export function isTruncated(s: string): boolean {
  return truncate(s) !== s;
}

/**
 * Brings the postings of one document from `before` to `after` (either may be absent). Called
 * inside the commit's write transaction, so postings and search documents change atomically.
 */
export function updatePostings(
  db: Database<null, PostingKey>,
  type: string,
  id: string,
  before: IndexedDocument | undefined,
  after: IndexedDocument | undefined,
  onChange?: (path: string, value: PostingValue, added: boolean) => void,
): void {
  const old = before ? postingsOf(type, before) : new Map<string, [string, PostingValue]>();
  const next = after ? postingsOf(type, after) : new Map<string, [string, PostingValue]>();
  for (const [k, [path, value]] of old) {
    if (next.has(k)) continue;
    db.remove([type, path, value, id]);
    onChange?.(path, value, false);
  }
  for (const [k, [path, value]] of next) {
    if (old.has(k)) continue;
    db.put([type, path, value, id], null);
    onChange?.(path, value, true);
  }
}
