import type { Database } from 'lmdb';
import { STRING_END, type PostingKey, type PostingValue } from './postings.js';

/**
 * The postings of a few paths (the consent tokens) held in memory as well as in LMDB, so that
 * the per-document question "does this document carry value V at path P" costs a hash lookup
 * instead of an LMDB key encode and lookup (about 3-5 µs each). Consent clauses ask it several
 * times for every document a search examines; nothing else is asked that often.
 *
 * LMDB stays the truth. Memory follows it commit by commit, and never answers for a document
 * whose change is still in flight:
 * - a commit's posting changes are staged while its write callback runs (in commit order), and
 *   its documents are marked pending: questions about them go to LMDB, which answers from the
 *   reader's snapshot (old until the commit lands, new after), consistently with the document
 *   the search decodes;
 * - once the commit has landed, staged changes are applied in commit order and the marks
 *   dropped; a failed commit's changes are discarded.
 * So memory never runs ahead of what a reader can see, and never lags behind it.
 *
 * Memory cost: one Set entry per (document, hot value) — about 100 bytes each; the consent
 * benchmark's 10k patients (865k consent tokens) hold ~80 MB.
 */
export type PostingLookup = (type: string, path: string, value: PostingValue, id: string) => boolean;

interface Change {
  type: string;
  id: string;
  path: string;
  value: PostingValue;
  added: boolean;
}

/** One commit's staged changes, and whether it is still open, landed or failed. */
export interface StagedChanges {
  readonly changes: Change[];
  state: 'open' | 'landed' | 'failed';
}

export class PostingMemory {
  // type → path → value → ids: nested maps, so a lookup builds no key string.
  private readonly sets = new Map<string, Map<string, Map<PostingValue, Set<string>>>>();
  private readonly pending = new Map<string, number>();
  private readonly queue: StagedChanges[] = [];
  private entries = 0;

  constructor(private readonly paths: ReadonlySet<string>) {}

  isHot(path: string): boolean {
    return this.paths.has(path);
  }

  get size(): number {
    return this.entries;
  }

  /** Reads the hot paths' postings of every type from LMDB (at open, before any commit). */
  load(postings: Database<null, PostingKey>): void {
    this.sets.clear();
    this.entries = 0;
    for (const type of typesOf(postings)) {
      for (const path of this.paths) {
        const range = { start: [type, path] as unknown as PostingKey, end: [type, path, STRING_END] as unknown as PostingKey };
        for (const key of postings.getKeys(range)) this.add(type, path, key[2], key[3]);
      }
    }
  }

  /**
   * The answer from memory, or undefined when the document has a commit in flight (ask LMDB).
   * Only for hot paths.
   */
  has(type: string, path: string, value: PostingValue, id: string): boolean | undefined {
    if (this.isPending(type, id)) return undefined;
    return this.sets.get(type)?.get(path)?.get(value)?.has(id) ?? false;
  }

  /**
   * A hot path's postings of one type, value → ids (empty when it has none), or undefined when
   * the path is not hot. Live: read it within one synchronous search, and ask isPending first.
   */
  valuesOf(type: string, path: string): ReadonlyMap<PostingValue, ReadonlySet<string>> | undefined {
    if (!this.paths.has(path)) return undefined;
    return this.sets.get(type)?.get(path) ?? EMPTY;
  }

  /** Whether the document has a commit in flight, so that memory must not answer for it. */
  isPending(type: string, id: string): boolean {
    return this.pending.size > 0 && this.pending.has(docKey(type, id));
  }

  /** How many documents of the type carry the value (for planning), or undefined when the path is not hot. */
  count(type: string, path: string, value: PostingValue): number | undefined {
    if (!this.paths.has(path)) return undefined;
    return this.sets.get(type)?.get(path)?.get(value)?.size ?? 0;
  }

  /** Opens the staging of one commit; call from inside its write callback. */
  stage(): StagedChanges {
    const s: StagedChanges = { changes: [], state: 'open' };
    this.queue.push(s);
    return s;
  }

  /** Records one posting change of a staged commit (hot paths only are kept). */
  record(s: StagedChanges, type: string, id: string, path: string, value: PostingValue, added: boolean): void {
    if (!this.paths.has(path)) return;
    s.changes.push({ type, id, path, value, added });
    const k = docKey(type, id);
    this.pending.set(k, (this.pending.get(k) ?? 0) + 1);
  }

  /** The commit landed (`true`) or failed: applies what can be applied, in commit order. */
  settle(s: StagedChanges, landed: boolean): void {
    if (s.state !== 'open') return;
    s.state = landed ? 'landed' : 'failed';
    while (this.queue.length > 0 && this.queue[0]!.state !== 'open') {
      const head = this.queue.shift()!;
      for (const c of head.changes) {
        if (head.state === 'landed') {
          if (c.added) this.add(c.type, c.path, c.value, c.id);
          else this.remove(c.type, c.path, c.value, c.id);
        }
        const k = docKey(c.type, c.id);
        const n = (this.pending.get(k) ?? 1) - 1;
        if (n <= 0) this.pending.delete(k);
        else this.pending.set(k, n);
      }
    }
  }

  private add(type: string, path: string, value: PostingValue, id: string): void {
    let paths = this.sets.get(type);
    if (!paths) this.sets.set(type, (paths = new Map()));
    let values = paths.get(path);
    if (!values) paths.set(path, (values = new Map()));
    let set = values.get(value);
    if (!set) values.set(value, (set = new Set()));
    if (!set.has(id)) {
      set.add(id);
      this.entries++;
    }
  }

  private remove(type: string, path: string, value: PostingValue, id: string): void {
    const values = this.sets.get(type)?.get(path);
    const set = values?.get(value);
    if (!set?.delete(id)) return;
    this.entries--;
    if (set.size === 0) values!.delete(value);
  }
}

/**
 * A lookup that answers hot paths from memory (LMDB for documents in flight) and every other
 * path from LMDB.
 */
export function postingLookup(postings: Database<null, PostingKey>, memory: PostingMemory | undefined): PostingLookup {
  const fromDb: PostingLookup = (type, path, value, id) => postings.doesExist([type, path, value, id] as PostingKey);
  if (!memory) return fromDb;
  return (type, path, value, id) => {
    if (!memory.isHot(path)) return fromDb(type, path, value, id);
    return memory.has(type, path, value, id) ?? fromDb(type, path, value, id);
  };
}

const EMPTY: ReadonlyMap<PostingValue, ReadonlySet<string>> = new Map();

const docKey = (type: string, id: string): string => `${type}\u0000${id}`;

/** The distinct resource types that have postings, by skipping from one type to the next. */
function* typesOf(postings: Database<null, PostingKey>): Generator<string> {
  let start: PostingKey | undefined;
  for (;;) {
    let found: string | undefined;
    for (const key of postings.getKeys({ ...(start ? { start } : {}), limit: 1 })) found = key[0];
    if (found === undefined) return;
    yield found;
    // Every key of this type sorts before [type, STRING_END]: paths are ordinary strings.
    start = [found, STRING_END] as unknown as PostingKey;
  }
}
