import type { Database } from 'lmdb';
import type { Candidate, PostingRange } from './access-paths.js';
import type { PostingLookup } from './posting-memory.js';
import { groupedIds, groupedPostings } from './grouped-postings.js';
import { STRING_END, type PostingKey } from './postings.js';

/**
 * Ids in order (ascending or descending) from postings, with seeking, so that several posting
 * lists can be intersected by leapfrogging: each list jumps to the furthest id any other list
 * has reached, and the work grows with the shortest list, not the longest.
 */
export interface IdCursor {
  /** The first id at or beyond `id` (strictly beyond when `inclusive` is false); from the start when `id` is undefined. */
  seek(id: string | undefined, inclusive: boolean): string | undefined;
  /** The id after the last one returned. */
  next(): string | undefined;
  /** Whether `id` is in the list, by point lookups (the cursor's position is not used). */
  contains(id: string): boolean;
  /** How many seeks had to re-position (open a new range) instead of stepping forward. */
  readonly reseeks: number;
  close(): void;
}

export interface CursorSource {
  postings: Database<null, PostingKey>;
  has: PostingLookup;
  type: string;
  /** Counts every posting key read. */
  onRead(): void;
}

/** Whether a candidate's documents can be listed in id order: explicit ids and exact values. */
export function streamable(c: Candidate): boolean {
  return c.ranges.every((r) => r.kind === 'eq');
}

/**
 * Above this many values a union is read once into a sorted list: merging hundreds of cursors
 * (a Bulk Data export's `$in` over a batch of patients) costs a scan of every head per id and
 * a range opened per value at every seek, where one read of the postings and a binary search
 * per seek cost little.
 */
const LIST_ABOVE_VALUES = 32;

/** Whether a candidate's cursor reads all its ids at once (postedIds) rather than walking each value. */
export function readWhole(c: Candidate): boolean {
  return c.ranges.length > LIST_ABOVE_VALUES;
}

/**
 * A cursor over a streamable candidate: the union of its ids and its values' postings.
 * `listed`: the candidate's ids already read whole (postedIds), for one that readWhole.
 */
export function candidateCursor(src: CursorSource, c: Candidate, dir: 1 | -1, listed?: string[]): IdCursor {
  if (readWhole(c)) return new ListCursor(listed ?? postedIds(src, c), dir);
  const parts: IdCursor[] = [];
  if (c.ids) parts.push(new ListCursor(c.ids, dir));
  for (const r of c.ranges) parts.push(new ValueCursor(src, r as Extract<PostingRange, { kind: 'eq' }>, dir));
  return parts.length === 1 ? parts[0]! : new UnionCursor(parts, dir);
}

/**
 * A cursor whose seeks keep re-positioning is dense next to the others: the ids it is asked to
 * reach are each further than a few steps ahead, and opening a range per id costs more than
 * looking the id up. After this many re-positionings it stops leading and is probed instead.
 */
const PROBE_AFTER_RESEEKS = 8;

/**
 * Ids present in every cursor, in order, strictly beyond `afterId`. Closes the cursors when
 * the iteration ends or is abandoned.
 *
 * Leapfrogging makes the work follow the sparsest list only while each list is sparse next to
 * the others; a list much denser than the one leading (a consent token most documents carry,
 * next to one code) would re-open a range for nearly every id. Such a list is switched to
 * point lookups for the ids the others agree on, which keeps the cost per id constant, or
 * simply dropped when `checkedElsewhere` says the caller tests each id against it anyway.
 */
export function* intersect(cursors: IdCursor[], dir: 1 | -1, afterId: string | undefined, checkedElsewhere: readonly boolean[] = []): Generator<string> {
  const leading = [...cursors];
  const checked = cursors.map((_, i) => checkedElsewhere[i] === true);
  const probed: IdCursor[] = [];
  try {
    const heads = leading.map((c) => c.seek(afterId, false));
    if (heads.some((h) => h === undefined)) return;
    for (;;) {
      let target = heads[0]!;
      for (const h of heads) if (beyond(h!, target, dir)) target = h!;
      let aligned = true;
      for (let i = 0; i < leading.length; i++) {
        if (heads[i] === target) continue;
        const h = leading[i]!.seek(target, true);
        if (h === undefined) return;
        heads[i] = h;
        if (h !== target) aligned = false;
      }
      for (let i = leading.length - 1; i >= 0 && leading.length > 1; i--) {
        const c = leading[i]!;
        if (c.reseeks < PROBE_AFTER_RESEEKS) continue;
        c.close();
        // A list the caller checks for each id itself is dropped, not probed twice.
        if (!checked[i]) probed.push(c);
        leading.splice(i, 1);
        heads.splice(i, 1);
        checked.splice(i, 1);
      }
      if (!aligned) {
        // Dropping a list may have left the rest agreeing already.
        if (!heads.every((h) => h === heads[0])) continue;
        target = heads[0]!;
      }
      if (probed.every((c) => c.contains(target))) yield target;
      const h = leading[0]!.next();
      if (h === undefined) return;
      heads[0] = h;
    }
  } finally {
    for (const c of cursors) c.close();
  }
}

function beyond(a: string, b: string, dir: 1 | -1): boolean {
  return dir === 1 ? a > b : a < b;
}

/** Steps tried forward before a seek re-positions: cheap when the target is near. */
const GALLOP = 8;

class ValueCursor implements IdCursor {
  private it: Iterator<PostingKey> | undefined;
  private head: string | undefined;
  reseeks = 0;

  constructor(
    private readonly src: CursorSource,
    private readonly range: Extract<PostingRange, { kind: 'eq' }>,
    private readonly dir: 1 | -1,
  ) {}

  seek(id: string | undefined, inclusive: boolean): string | undefined {
    if (this.it && id !== undefined) {
      // Seeks only move forward: a head already there is the answer.
      if (this.head !== undefined && reached(this.head, id, inclusive, this.dir)) return this.head;
      for (let i = 0; i < GALLOP; i++) {
        const h = this.next();
        if (h === undefined) return undefined;
        if (reached(h, id, inclusive, this.dir)) return h;
      }
    }
    if (this.it || id !== undefined) this.reseeks++;
    this.close();
    const { type } = this.src;
    const { path, value } = this.range;
    const at = (...rest: unknown[]) => [type, path, value, ...rest] as unknown as PostingKey;
    const from = id ?? (this.dir === 1 ? undefined : STRING_END);
    const options =
      this.dir === 1
        ? { start: from === undefined ? at() : at(from), end: at(STRING_END) }
        : { start: at(from), end: at(), reverse: true };
    this.it = this.src.postings.getKeys(options)[Symbol.iterator]();
    for (;;) {
      const h = this.next();
      if (h === undefined || id === undefined || reached(h, id, inclusive, this.dir)) return h;
    }
  }

  next(): string | undefined {
    if (!this.it) return undefined;
    const r = this.it.next();
    if (r.done) {
      this.it = undefined;
      this.head = undefined;
      return undefined;
    }
    this.src.onRead();
    this.head = r.value[3];
    return this.head;
  }

  contains(id: string): boolean {
    this.src.onRead();
    return this.src.has(this.src.type, this.range.path, this.range.value, id);
  }

  close(): void {
    this.it?.return?.();
    this.it = undefined;
    this.head = undefined;
  }
}

/**
 * Every id of a streamable candidate: its explicit ids, then each value's postings in the
 * candidate's order (an id may repeat; a value asked twice gives its ids twice). `onPosting`
 * sees each (value, id) so given. Values of a large group are read together (groupedPostings),
 * the rest one range each.
 */
export function postedIds(src: CursorSource, c: Candidate, onPosting?: (path: string, value: string | number, id: string) => void): string[] {
  const ids = [...(c.ids ?? [])];
  const { type } = src;
  const ranges = c.ranges as Array<Extract<PostingRange, { kind: 'eq' }>>;
  const grouped = groupedPostings(src, ranges);
  for (const { path, value } of ranges) {
    const read = grouped && groupedIds(grouped, path, value);
    if (read) {
      for (const id of read) {
        ids.push(id);
        onPosting?.(path, value, id);
      }
      continue;
    }
    for (const key of src.postings.getKeys({ start: [type, path, value] as unknown as PostingKey, end: [type, path, value, STRING_END] as unknown as PostingKey })) {
      src.onRead();
      ids.push(key[3]);
      onPosting?.(path, value, key[3]);
    }
  }
  return ids;
}

function reached(h: string, id: string, inclusive: boolean, dir: 1 | -1): boolean {
  return h === id ? inclusive : beyond(h, id, dir);
}

class ListCursor implements IdCursor {
  private readonly ids: string[];
  private pos = 0;
  // Binary search repositions at no real cost: never worth probing instead.
  readonly reseeks = 0;
  private members: Set<string> | undefined;

  constructor(ids: string[], private readonly dir: 1 | -1) {
    // The default sort orders strings by UTF-16 code units, as `<` does, without a call per comparison.
    const sorted = [...new Set(ids)].sort();
    this.ids = dir === 1 ? sorted : sorted.reverse();
  }

  seek(id: string | undefined, inclusive: boolean): string | undefined {
    this.pos = 0;
    if (id !== undefined) {
      // Binary search for the first id reaching `id`.
      let lo = 0;
      let hi = this.ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (reached(this.ids[mid]!, id, inclusive, this.dir)) hi = mid;
        else lo = mid + 1;
      }
      this.pos = lo;
    }
    return this.ids[this.pos++];
  }

  next(): string | undefined {
    return this.ids[this.pos++];
  }

  contains(id: string): boolean {
    this.members ??= new Set(this.ids);
    return this.members.has(id);
  }

  close(): void {}
}

/** The union of several cursors, each id once. */
class UnionCursor implements IdCursor {
  private heads: Array<string | undefined> = [];
  private current: string | undefined;

  constructor(private readonly parts: IdCursor[], private readonly dir: 1 | -1) {}

  seek(id: string | undefined, inclusive: boolean): string | undefined {
    this.heads = this.parts.map((p) => p.seek(id, inclusive));
    return this.pick();
  }

  next(): string | undefined {
    const cur = this.current;
    if (cur === undefined) return undefined;
    for (let i = 0; i < this.parts.length; i++) if (this.heads[i] === cur) this.heads[i] = this.parts[i]!.next();
    return this.pick();
  }

  get reseeks(): number {
    let n = 0;
    for (const p of this.parts) n += p.reseeks;
    return n;
  }

  contains(id: string): boolean {
    return this.parts.some((p) => p.contains(id));
  }

  close(): void {
    for (const p of this.parts) p.close();
  }

  private pick(): string | undefined {
    let best: string | undefined;
    for (const h of this.heads) if (h !== undefined && (best === undefined || beyond(best, h, this.dir))) best = h;
    this.current = best;
    return best;
  }
}
