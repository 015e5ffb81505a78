import type { PostingRange } from './access-paths.js';
import type { CursorSource } from './id-cursors.js';
import { STRING_END, type PostingKey, type PostingValue } from './postings.js';

type EqRange = Extract<PostingRange, { kind: 'eq' }>;

/**
 * Each group read's path and, for each value it answered, the ids posted under it. A group's
 * range may hold values of another group of its path ('Patient/a/1' lies among 'Patient/…'),
 * so each keeps its own map and takes only its own values.
 */
export type GroupedPostings = Array<{ path: string; found: ReadonlyMap<PostingValue, readonly string[]> }>;

/** The ids a group read found for (path, value), or undefined when no group read answered it. */
export function groupedIds(grouped: GroupedPostings, path: string, value: PostingValue): readonly string[] | undefined {
  for (const g of grouped) {
    if (g.path !== path) continue;
    const ids = g.found.get(value);
    if (ids) return ids;
  }
  return undefined;
}

/**
 * Values sharing a path and a prefix, at least this many distinct ones, are read as a group.
 * A Bulk Data export asks for a batch's references on each compartment path, in relative and
 * absolute form: hundreds of values, where one range opened per value costs ~5 µs each, much
 * of it for values with no posting at all.
 */
const GROUP_MIN = 8;

/**
 * Unwanted keys read in a row before a group read re-opens its range at the next value it
 * wants. On the 10k-patient store opening a range costs about as much as reading five keys
 * (~5 µs against ~1 µs): a gap shorter than this is cheaper walked than skipped, and a longer
 * one wastes at most this many key reads before it is skipped.
 */
const GAP_KEYS = 4;
const OPEN_COST_IN_KEYS = 5;

/**
 * Values a group read passes before it may give up: once past them, a group read that has cost
 * more than opening a range per value would have (its values are few and far between among
 * other values' postings: a cohort scattered over a dense path) leaves its remaining values to
 * be read one by one. So a group read never costs much more than reading value by value: at
 * most the gaps met among these first values, a few dozen keys.
 */
const SAMPLE_VALUES = 16;
/** (path, prefix) groups per candidate; values of further prefixes are read one by one. */
const MAX_GROUPS = 8;

/**
 * Characters whose order is the same in JavaScript (UTF-16 code units) and in LMDB keys
 * (ordered-binary writes UTF-8, escaping a leading control character and characters below 5):
 * a group's values are sorted and compared with keys, so a value outside them is read alone.
 */
const PLAIN = /^[\x20-\ud7ff]*$/;

/** A group's value read without postings (so not read again one by one). */
const NONE: readonly string[] = Object.freeze([]);

interface Group {
  path: string;
  prefix: string;
  values: string[];
}

/**
 * Reads the postings of the (path, prefix) groups of many values, each by walking its values'
 * key range in order (from the lowest value to the highest) and keeping the keys of wanted
 * values: one range opened for a batch of consecutive patients instead of one per value, and
 * one for a group without any posting. A gap of other values' postings longer than GAP_KEYS is
 * skipped by re-opening the range at the next wanted value. Values the answer leaves out (not
 * in a large group, or left by a group read that gave up) are for the caller to read one by one.
 */
export function groupedPostings(src: CursorSource, ranges: readonly EqRange[]): GroupedPostings | undefined {
  if (ranges.length < GROUP_MIN) return undefined;
  // A short list of groups scanned per value rather than a map: a key string built and hashed
  // per value cost more than the groups' reads.
  const groups: Group[] = [];
  for (const { path, value } of ranges) {
    if (typeof value !== 'string' || !PLAIN.test(value)) continue;
    let g: Group | undefined;
    for (const x of groups) {
      // Its prefix, with no '/' after it.
      if (x.path !== path || !value.startsWith(x.prefix) || value.indexOf('/', x.prefix.length) >= 0) continue;
      g = x;
      break;
    }
    if (!g) {
      const cut = value.lastIndexOf('/') + 1;
      if (cut === 0 || groups.length === MAX_GROUPS) continue;
      groups.push((g = { path, prefix: value.slice(0, cut), values: [] }));
    }
    g.values.push(value);
  }
  let out: GroupedPostings | undefined;
  for (const { path, values } of groups) {
    const sorted = sortedDistinct(values);
    if (sorted.length < GROUP_MIN) continue;
    (out ??= []).push({ path, found: readGroup(src, path, sorted) });
  }
  return out;
}

/**
 * The values sorted as LMDB orders them (the default sort compares UTF-16 code units, which
 * for PLAIN strings is the same order), each once. A batch usually comes sorted already.
 */
function sortedDistinct(values: string[]): string[] {
  let sorted = true;
  for (let i = 1; i < values.length && sorted; i++) sorted = values[i - 1]! < values[i]!;
  if (sorted) return values;
  return [...new Set(values)].sort();
}

/**
 * The postings of `values` (sorted, distinct), each value read present even without postings;
 * values left once the read gave up are absent.
 */
function readGroup(src: CursorSource, path: string, values: readonly string[]): Map<PostingValue, readonly string[]> {
  const found = new Map<PostingValue, readonly string[]>();
  for (const v of values) found.set(v, NONE);
  const { type } = src;
  const end = [type, path, values[values.length - 1], STRING_END] as unknown as PostingKey;
  let opens = 0;
  let unwanted = 0;
  for (let i = 0; i < values.length; ) {
    opens++;
    let run = 0;
    let stoppedAt: string | undefined;
    for (const key of src.postings.getKeys({ start: [type, path, values[i]] as unknown as PostingKey, end })) {
      src.onRead();
      const ids = found.get(key[2]);
      if (ids === undefined) {
        unwanted++;
        if (++run < GAP_KEYS) continue;
        stoppedAt = key[2] as string;
        break;
      }
      run = 0;
      if (ids === NONE) found.set(key[2], [key[3]]);
      else (ids as string[]).push(key[3]);
    }
    if (stoppedAt === undefined) return found;
    i = firstAbove(values, stoppedAt, i);
    if (i >= SAMPLE_VALUES && opens * OPEN_COST_IN_KEYS + unwanted > i * OPEN_COST_IN_KEYS) {
      // Nothing beyond stoppedAt was read: those values are the caller's to read one by one.
      for (let j = i; j < values.length; j++) found.delete(values[j]!);
      return found;
    }
  }
  return found;
}

/** The index of the first of `values` (sorted) beyond `v`, searching from `from`. */
function firstAbove(values: readonly string[], v: string, from: number): number {
  let lo = from;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! > v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
