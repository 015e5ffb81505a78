import type { Database } from 'lmdb';
import { Query } from 'mingo';
import type { SearchQuery, SortKey, StoredDocument } from '../resource-store.js';
import { checkPosition, compareSortValues, effectiveSort, sortValuesOf } from '../keyset.js';
import { candidatesOf, type Candidate, type PostingRange } from './access-paths.js';
import { candidateCursor, intersect, postedIds, readWhole, streamable, type CursorSource } from './id-cursors.js';
import { matchedValuesOf } from '../matched-values.js';
import { conjunctsOf } from '../../fhir/search/query-doc.js';
import { splitFilter, type FilterSplit, type Has, type PostingPredicate } from './posting-predicate.js';
import type { PostingLookup } from './posting-memory.js';
import { STRING_END, type PostingKey, type PostingValue } from './postings.js';

/**
 * Index-driven search for the embedded engine (FHIR R4 §3.1.1,
 * https://hl7.org/fhir/R4/search.html). The postings (postings.ts) pick which documents to
 * examine; mingo then evaluates the complete query document on each, so results equal a plain
 * evaluation of the filter whatever the plan:
 *
 * 1. List the candidate sets the filter offers (access-paths.ts).
 * 2. Exact-value candidates (`patient=X`, `code=Y`, `_id`) are intersected in id order by
 *    leapfrogging (id-cursors.ts): the work follows the shortest list. In the default order
 *    (`id`) that stream starts at the keyset position and stops after the page, so a page walk
 *    costs one page; in any other order its documents are evaluated, sorted and cut.
 * 3. A range candidate (prefix, date, number) drives instead when it is small (a date `eq`),
 *    and always when there are no exact values; the smallest is found by counting postings
 *    under a cap that grows only until one is known to be smallest.
 * 4. Without any candidate, the type's documents are scanned (in id order: streamed as in 2).
 * `total` is counted from the postings when the filter is exactly one candidate set, otherwise
 * by evaluating the driver's documents (never decoding resources).
 *
 * Conjuncts the postings alone decide (posting-predicate.ts: the consent clause, scalar
 * `$ne`/`$nin`/`$in` on top-level paths) are answered per document by key lookups before the
 * document is decoded, so a document they exclude is never read, and a count whose other
 * conjuncts are each one exact candidate reads no document at all.
 */

/** The search document: a StoredDocument without its resource. */
export type SearchDoc = Omit<StoredDocument, 'resource'>;

export interface SearchSources {
  searchDocs: Database<SearchDoc, [string, string]>;
  postings: Database<null, PostingKey>;
  /** Whether a document carries a posting (posting-memory.ts: from memory for the hot paths). */
  has: PostingLookup;
  /** How many documents carry a posting, when it is held in memory (a hash lookup); else undefined. */
  memoryCount?: (type: string, path: string, value: string | number) => number | undefined;
  /** A path's postings of a type when held in memory (posting-memory.ts valuesOf), else undefined. */
  memoryValues?: (type: string, path: string) => ReadonlyMap<PostingValue, ReadonlySet<string>> | undefined;
  /** Whether memory must not answer for a document (a commit of it is in flight). */
  memoryPending?: (type: string, id: string) => boolean;
}

/** What one search did; reported to an observer so tests can tell index use from a scan. */
export interface SearchStats {
  resourceType: string;
  /** `scan`, `scan-stream`, `postings <paths>`, `postings-stream <paths>` or `ids`. */
  plan: string;
  /** Posting keys read, sizing included. */
  postingsRead: number;
  /** Search documents the filter was evaluated on (page and total together). */
  documentsExamined: number;
  /** With `matchedOf`: whether `matched` came from the postings the search read whole (else the store reads them for the page). */
  matchedFromPostings?: boolean;
}

export interface SearchOutcome {
  matches: Array<{ doc: SearchDoc; sortValues: unknown[] }>;
  total?: number;
  /**
   * With `matchedOf`, when the driver read that conjunct's postings whole: the values each id
   * carries (an id absent carries none). Otherwise the store reads them itself.
   */
  matched?: Map<string, string[]>;
}

const FIRST_CAP = 64;
const CAP_GROWTH = 8;
/** Beyond this many postings every range counts as "large"; the first such one drives. */
const LAST_CAP = 1 << 16;
/** A range candidate under this size drives even when exact values could be intersected. */
const SMALL_SET = 128;
/** A list held in memory leads an intersection only when this many times sparser than the others. */
const SPARSE_FACTOR = 8;
/** Postings counted at most to find out whether it is (8 × 512 documents). */
const SPARSE_LOOK = 4096;

export function runSearch(src: SearchSources, query: SearchQuery, observe?: (s: SearchStats) => void): SearchOutcome {
  const sort = effectiveSort(query.sort);
  if (query.after) checkPosition(sort, query.after);
  const run = new SearchRun(src, query, sort);
  const outcome = run.execute();
  observe?.({
    resourceType: query.resourceType,
    plan: run.plan,
    postingsRead: run.postingsRead,
    documentsExamined: run.examined,
    ...(query.matchedOf ? { matchedFromPostings: outcome.matched !== undefined } : {}),
  });
  return outcome;
}

/** One posting question about the document passes() is deciding, and its answer from memory. */
interface Asked {
  path: string | undefined;
  value: PostingValue | undefined;
  answer: boolean;
}

/** Per filter object, per resource type (what is posted differs by type: postings.ts isPostedFor). */
const splits = new WeakMap<Record<string, unknown>, Map<string, { split: FilterSplit; rest: Query }>>();

/**
 * `has` for the one document matchesLiveById is deciding, made once per source: it runs on every
 * consent-gated read by id, where a named closure per call showed in profiles (under tsx each
 * also pays a `__name` call, ~8 % of the gate's cost). Safe to reuse because matchesLiveById is
 * synchronous.
 */
class DocProbe {
  type = '';
  id = '';
  constructor(private readonly src: SearchSources) {}
  readonly has: Has = (path, value) => this.src.has(this.type, path, value, this.id);
}
const probes = new WeakMap<SearchSources, DocProbe>();

/**
 * Whether the live document (type, id) matches `filter`: posting lookups for what they decide,
 * the document decoded only when something else is left. Callers reuse filter objects (the
 * consent clause), so the split and the compiled rest are cached per object.
 *
 * Only for a document the caller has just read as live in the same synchronous section (same
 * snapshot): its existence is not checked again, and postings alone would let a negated clause
 * pass an absent document.
 */
export function matchesLiveById(src: SearchSources, type: string, id: string, filter: Record<string, unknown>): boolean {
  let byType = splits.get(filter);
  if (!byType) splits.set(filter, (byType = new Map()));
  let c = byType.get(type);
  if (!c) {
    const split = splitFilter(filter, type);
    c = { split, rest: new Query(split.rest) };
    byType.set(type, c);
  }
  let probe = probes.get(src);
  if (!probe) probes.set(src, (probe = new DocProbe(src)));
  probe.type = type;
  probe.id = id;
  for (const p of c.split.decidable) if (!p(probe.has)) return false;
  if (Object.keys(c.split.rest).length === 0) return true;
  const doc = src.searchDocs.get([type, id]);
  return doc !== undefined && c.rest.test(doc as unknown as Record<string, unknown>);
}

/**
 * How the documents to examine are found: the intersection of every exact-value candidate,
 * streamed in id order (`streams`), or the smallest range candidate (`set`), or a type scan.
 */
type Driver = { kind: 'streams'; candidates: PlannedCandidate[] } | { kind: 'set'; candidate: PlannedCandidate } | undefined;

/** A candidate with the top-level conjunct it came from, and whether it holds exactly that conjunct's matches. */
type PlannedCandidate = Candidate & { conjunct: number; covers: boolean };

class SearchRun {
  plan = 'scan';
  postingsRead = 0;
  examined = 0;
  private readonly type: string;
  private readonly split: FilterSplit;
  // What is left to check per document once the driver is chosen (narrowTo): the driver's
  // own conjuncts hold for every id it yields and are not checked again.
  private preds: readonly PostingPredicate[] = [];
  private guaranteedBy: PlannedCandidate[] = [];
  private rest: Record<string, unknown> = {};
  private matcher: Query | undefined;
  private valueSets: readonly ValueSetTest[] = [];
  /** The rest needs the decoded search document (else `test` passes every document). */
  private testsDocs = true;
  private readonly skip: number;
  private readonly limit: number;
  private readonly cursorSource: CursorSource;
  /** The document passes() decides, and the LMDB answers remembered for it. */
  private readonly doc: { id: string; seen: Map<string, boolean> | undefined; pending: boolean; asked: [Asked, Asked]; next: 0 | 1 } = {
    id: '',
    seen: undefined,
    pending: false,
    asked: [{ path: undefined, value: undefined, answer: false }, { path: undefined, value: undefined, answer: false }],
    next: 0,
  };
  /** Hot paths' postings for this run's type (undefined: the path is not held in memory). */
  private readonly hotValues = new Map<string, ReadonlyMap<PostingValue, ReadonlySet<string>> | undefined>();
  /** Candidates whose ids were read whole (readWhole), kept for sizing and streaming alike. */
  private readonly whole = new Map<Candidate, string[]>();
  /** `matchedOf`: the field, its values, and what the whole reads found. */
  private readonly matched: { field: string; values: Set<string>; byId: Map<string, string[]>; complete: boolean } | undefined;

  constructor(
    private readonly src: SearchSources,
    private readonly query: SearchQuery,
    private readonly sort: SortKey[],
  ) {
    this.type = query.resourceType;
    this.split = splitFilter(query.filter, this.type);
    this.skip = Math.max(0, query.skip ?? 0);
    this.limit = Math.max(0, query.limit);
    this.cursorSource = { postings: src.postings, has: src.has, type: this.type, onRead: () => this.postingsRead++ };
    if (query.matchedOf) this.matched = { field: query.matchedOf, values: new Set(matchedValuesOf(query)), byId: new Map(), complete: false };
  }

  /**
   * A readWhole candidate's ids, read once per search however often it is sized or streamed.
   * The read also notes, for `matchedOf`, which of its values each id carries: when the
   * candidate holds every value of that conjunct, the notes are complete.
   */
  private wholeIds(c: Candidate): string[] {
    let ids = this.whole.get(c);
    if (ids) return ids;
    const m = this.matched;
    ids = postedIds(this.cursorSource, c, m ? (path, value, id) => {
      if (path !== m.field || typeof value !== 'string' || !m.values.has(value)) return;
      const held = m.byId.get(id);
      if (!held) m.byId.set(id, [value]);
      else if (!held.includes(value)) held.push(value);
    } : undefined);
    if (m && !m.complete) {
      const read = new Set<unknown>();
      for (const r of c.ranges) if (r.kind === 'eq' && r.path === m.field) read.add(r.value);
      m.complete = [...m.values].every((v) => read.has(v));
    }
    this.whole.set(c, ids);
    return ids;
  }

  execute(): SearchOutcome {
    const candidates = this.candidates();
    const exact = candidates.length === 1 && candidates[0]!.exact ? candidates[0] : undefined;
    const driver = this.chooseDriver(candidates);
    this.narrowTo(driver);
    const byId = this.sort.length === 1 && this.sort[0]![0] === 'id';
    const streaming = byId && driver?.kind !== 'set';
    this.plan = describePlan(driver, streaming);
    // Counting in the page's own walk: when the count would walk the same id stream through the
    // same posting predicates (no exact count to read, nothing to decode, no `after` cursor
    // starting the walk midway), the page and the total share one pass instead of two.
    const countInWalk = this.query.total === true && streaming && driver !== undefined && !exact && !this.testsDocs && this.query.after === undefined;
    const outcome = streaming ? this.streamById(driver as Exclude<Driver, { kind: 'set' }>, this.sort[0]![1], countInWalk) : this.collect(driver);
    if (this.query.total && outcome.total === undefined) outcome.total = this.count(driver, exact);
    if (this.matched?.complete) outcome.matched = this.matched.byId;
    return outcome;
  }

  /**
   * The filter's candidates (as candidatesOf gives them), each marked when the posting
   * predicates check its conjunct for every document anyway.
   */
  private candidates(): PlannedCandidate[] {
    const { conjuncts } = this.split;
    return conjuncts.flatMap(({ doc, decided }, conjunct) =>
      candidatesOf(doc, this.type).map((c) => ({ ...c, exact: c.exact && conjuncts.length === 1, conjunct, covers: c.exact, ...(decided ? { checked: true } : {}) })),
    );
  }

  /**
   * Drops from the per-document checks the conjuncts the driver guarantees: a candidate that
   * holds exactly its conjunct's matches (`patient=X`, a batch of patients) and that yields
   * every id the search examines — the driver's only candidate, or one the intersection never
   * drops (it drops only lists whose conjunct is checked per document anyway).
   */
  private narrowTo(driver: Driver): void {
    const used = !driver ? [] : driver.kind === 'streams' ? driver.candidates : [driver.candidate];
    const guaranteed = new Set<number>();
    for (const c of used) if (c.covers && (used.length === 1 || !c.checked)) guaranteed.add(c.conjunct);
    this.guaranteedBy = used.filter((c) => guaranteed.has(c.conjunct));
    const preds: PostingPredicate[] = [];
    const rest: Record<string, unknown>[] = [];
    this.split.conjuncts.forEach(({ doc, predicate }, i) => {
      if (guaranteed.has(i)) return;
      if (predicate) preds.push(predicate);
      else rest.push(doc);
    });
    this.preds = preds;
    this.rest = rest.length === 0 ? {} : rest.length === 1 ? rest[0]! : { $and: rest };
    const { sets, rest: left } = splitValueSets(this.rest);
    this.valueSets = sets;
    this.testsDocs = sets.length > 0 || Object.keys(left).length > 0;
    this.matcher = this.testsDocs ? new Query({ $and: [{ deleted: false }, left] }) : undefined;
  }

  /**
   * Exact-value candidates are intersected (the work follows the shortest list, whatever the
   * others' sizes). Without any, the smallest range candidate drives, found by counting each
   * under a cap that grows only until one is known to be smallest.
   */
  private chooseDriver(candidates: PlannedCandidate[]): Driver {
    const streams = candidates.filter(streamable);
    if (streams.length > 0) {
      // A small range (a date `eq`, a rare prefix) beats a common code: a cheap look first.
      const small = candidates.filter((c) => !streamable(c)).find((c) => this.sizeOf(c, SMALL_SET) < SMALL_SET);
      if (small) return { kind: 'set', candidate: small };
      // One short list (a patient's) drives alone: every candidate is a superset of its own
      // conjunct's matches, and the others' conjuncts are still checked per document (posting
      // lookups or the evaluator), which costs less than seeking through long lists (a consent
      // clause's) for each id.
      if (streams.length > 1) {
        // A list held in memory is sized there (a hash lookup), not by reading its postings.
        const inMemory = streams.map((c) => this.memorySizeOf(c));
        const onDisk = streams.filter((_, i) => inMemory[i] === undefined);
        // One list on disk beside lists in memory too long ever to lead (a researcher's code
        // next to a consent clause): it drives whether short or not, so it is not sized. Sizing
        // it read up to SMALL_SET postings on every page of a walk (~250 µs a page).
        if (onDisk.length === 1 && inMemory.every((s) => s === undefined || !this.mayLead(s))) {
          return { kind: 'streams', candidates: onDisk };
        }
        const short = streams.find((c, i) => (inMemory[i] ?? this.sizeOf(c, SMALL_SET)) < SMALL_SET);
        if (short) return { kind: 'streams', candidates: [short] };
        return { kind: 'streams', candidates: this.withoutDenseInMemory(streams, inMemory) };
      }
      return { kind: 'streams', candidates: streams };
    }
    if (candidates.length === 0) return undefined;
    if (candidates.length === 1) return { kind: 'set', candidate: candidates[0]! };
    for (let cap = FIRST_CAP; ; cap *= CAP_GROWTH) {
      let best = 0;
      let bestSize = Infinity;
      for (let i = 0; i < candidates.length; i++) {
        const size = this.sizeOf(candidates[i]!, Math.min(cap, bestSize));
        if (size < bestSize) {
          best = i;
          bestSize = size;
        }
      }
      if (bestSize < cap || cap >= LAST_CAP) return { kind: 'set', candidate: candidates[best]! };
    }
  }

  /**
   * A list held in memory whose conjunct is checked per document anyway (a consent clause's)
   * costs a hash lookup per document there, but LMDB steps when it is walked in the
   * intersection: where it is dense next to another list (a research opt-in most documents
   * carry, next to one code) it only adds steps, and it is left out. It stays only where it is
   * much sparser than every other list (few opt-ins): then leading with it saves reads.
   */
  private withoutDenseInMemory(streams: PlannedCandidate[], sizes: ReadonlyArray<number | undefined>): PlannedCandidate[] {
    const others = streams.filter((_, i) => sizes[i] === undefined);
    if (others.length === 0) return streams;
    return streams.filter((c, i) => {
      const size = sizes[i];
      if (size === undefined) return true;
      const sparse = SPARSE_FACTOR * size;
      return this.mayLead(size) && others.every((o) => this.sizeOf(o, sparse) >= sparse);
    });
  }

  /** Counting the other lists costs reads too: only a list held in memory this small is worth the look. */
  private mayLead(memorySize: number): boolean {
    return SPARSE_FACTOR * memorySize <= SPARSE_LOOK;
  }

  /** A checked candidate's size from memory, when all its values are held there. */
  private memorySizeOf(c: PlannedCandidate): number | undefined {
    if (!c.checked || c.ids || c.ranges.length === 0 || !this.src.memoryCount) return undefined;
    let n = 0;
    for (const r of c.ranges) {
      if (r.kind !== 'eq') return undefined;
      const k = this.src.memoryCount(this.type, r.path, r.value);
      if (k === undefined) return undefined;
      n += k;
    }
    return n;
  }

  /**
   * Postings (plus ids) of a candidate, counted up to `cap`; except that a streamable readWhole
   * candidate is read whole whatever `cap` says and kept for streaming (wholeIds), since
   * sizing it by part and streaming it later would read some of it twice. When the plan then
   * drives with another candidate, that whole read was spent on sizing alone.
   */
  private sizeOf(c: Candidate, cap: number): number {
    if (streamable(c) && readWhole(c)) return this.wholeIds(c).length;
    let n = c.ids?.length ?? 0;
    for (const r of c.ranges) {
      if (n >= cap) break;
      for (const _key of this.src.postings.getKeys({ ...bounds(this.type, r), limit: cap - n })) {
        this.postingsRead++;
        n++;
      }
    }
    return n;
  }

  /** Default order: walk ids from the position and stop once the page is full. */
  private streamById(driver: Exclude<Driver, { kind: 'set' }>, dir: 1 | -1, countAll = false): SearchOutcome {
    const wanted = this.skip + this.limit;
    const matches: SearchOutcome['matches'] = [];
    // checkPosition made an id position a string.
    const from = this.query.after?.[0] as string | undefined;
    if (wanted === 0) return { matches };
    // An intersection that includes a candidate of postings alone holds only live documents
    // (a deleted document keeps no postings), so docsOf need not check they exist. The
    // intersection may skip a `checked` postings candidate, but passes() still tests its
    // conjunct on each id, and a deleted document fails it for the same reason.
    const docs = driver ? this.docsOf(this.streamIds(driver.candidates, dir, from), driver.candidates.some((c) => !c.ids)) : this.typeInOrder(from, dir);
    let seen = 0;
    for (const doc of docs) {
      // Past the page, a walk that counts only counts: docsOf has applied the posting
      // predicates, and countAll means there is nothing else to test.
      if (seen >= wanted) {
        seen++;
        continue;
      }
      if (!this.test(doc)) continue;
      if (seen++ >= this.skip) matches.push({ doc, sortValues: [doc.id] });
      if (seen >= wanted && !countAll) break;
    }
    return countAll ? { matches, total: seen } : { matches };
  }

  /** Any order: evaluate every candidate document, sort the matches, cut the page. */
  private collect(driver: Driver): SearchOutcome {
    if (this.limit === 0 && !this.query.total) return { matches: [] };
    const after = this.query.after;
    const kept: SearchOutcome['matches'] = [];
    let total = 0;
    for (const doc of this.candidateDocs(driver)) {
      if (!this.test(doc)) continue;
      total++;
      const sortValues = sortValuesOf(doc, this.sort);
      if (after && compareSortValues(sortValues, after, this.sort) <= 0) continue;
      kept.push({ doc, sortValues });
    }
    kept.sort((a, b) => compareSortValues(a.sortValues, b.sortValues, this.sort));
    const matches = kept.slice(this.skip, this.skip + this.limit);
    return { matches, ...(this.query.total ? { total } : {}) };
  }

  /** Counts every match of the filter, ignoring position and page. */
  private count(driver: Driver, exact: Candidate | undefined): number {
    if (exact) return this.countExact(exact);
    if (!driver && Object.keys(this.query.filter).length === 0) {
      return this.src.searchDocs.getKeysCount({ start: [this.type, ''], end: [this.type, STRING_END] });
    }
    const counted = this.countDecidable(driver);
    if (counted !== undefined) return counted;
    let n = 0;
    for (const doc of this.candidateDocs(driver)) if (this.test(doc)) n++;
    return n;
  }

  /** The filter is exactly this candidate: count its postings, reading no document. */
  private countExact(c: Candidate): number {
    if (!c.ids && c.ranges.length === 1 && c.ranges[0]!.kind === 'eq') {
      const n = this.src.postings.getKeysCount(bounds(this.type, c.ranges[0]!));
      this.postingsRead += n;
      return n;
    }
    const ids = new Set<string>();
    for (const id of c.ids ?? []) if (this.src.searchDocs.doesExist([this.type, id])) ids.add(id);
    for (const r of c.ranges) {
      for (const key of this.src.postings.getKeys(bounds(this.type, r))) {
        this.postingsRead++;
        ids.add(key[3]);
      }
    }
    return ids.size;
  }

  /**
   * When the postings decide everything, or what they cannot decide is a conjunction of exact
   * candidates, the count is the candidate ids that pass the posting predicates: key lookups only.
   * With nothing left, the candidates are the driver's (the filter's narrowest sets).
   */
  private countDecidable(driver: Driver): number | undefined {
    const rest = this.rest;
    let ids: Iterable<string>;
    if (Object.keys(rest).length === 0) {
      ids = !driver
        ? this.src.searchDocs.getKeys({ start: [this.type, ''], end: [this.type, STRING_END] }).map((k) => k[1])
        : driver.kind === 'streams'
          ? this.existingOnly(driver.candidates, this.streamIds(driver.candidates, 1, undefined))
          : this.existingIdsOf(driver.candidate);
    } else {
      // Each remaining conjunct must be exactly one candidate set on its own (`code=X` and a
      // scope's `category=Y`): then their intersection is the rest's matches, no decode needed.
      // The conjuncts the driver guarantees were taken out of the rest: their sets join in.
      const exact: Candidate[] = [...this.guaranteedBy];
      for (const conjunct of conjunctsOf(rest)) {
        const cs = candidatesOf(conjunct, this.type);
        if (cs.length !== 1 || !cs[0]!.exact) return undefined;
        exact.push(cs[0]!);
      }
      if (exact.length === 1) ids = this.existingIdsOf(exact[0]!);
      else if (exact.every(streamable)) {
        ids = this.existingOnly(exact, this.streamIds(exact, 1, undefined));
      } else return undefined;
    }
    let n = 0;
    for (const id of ids) if (this.passes(id)) n++;
    return n;
  }

  /** Postings exist only for stored documents; `_id` values given in the query may not. */
  private existingOnly(candidates: Candidate[], ids: Iterable<string>): Iterable<string> {
    return candidates.some((c) => c.ids) ? filterIter(ids, (id) => this.src.searchDocs.doesExist([this.type, id])) : ids;
  }

  /** A candidate's ids, those given as `_id` values only when the document exists. */
  private existingIdsOf(c: Candidate): Set<string> {
    const known = new Set<string>();
    for (const id of c.ids ?? []) if (this.src.searchDocs.doesExist([this.type, id])) known.add(id);
    for (const r of c.ranges) {
      for (const key of this.src.postings.getKeys(bounds(this.type, r))) {
        this.postingsRead++;
        known.add(key[3]);
      }
    }
    return known;
  }

  /** The posting predicates for one document, by key lookups (each value looked up once). */
  private passes(id: string): boolean {
    const preds = this.preds;
    if (preds.length === 0) return true;
    this.doc.id = id;
    this.doc.seen = undefined;
    this.doc.asked[0].path = this.doc.asked[1].path = undefined;
    this.doc.pending = this.src.memoryPending?.(this.type, id) ?? false;
    for (const p of preds) if (!p(this.docHas)) return false;
    return true;
  }

  /**
   * `has` for the document passes() is deciding. One function for the whole run: a named
   * closure per document cost more than its lookups (under tsx every one also pays a `__name`
   * call). Memory answers hot paths, its postings looked up once per run: the memory and its
   * pending marks change only on the main thread (stage/record inside a commit's callback,
   * settle after it), and runSearch never yields to it, so they cannot change during a run.
   * The run must therefore stay synchronous. LMDB answers the rest and documents with a commit
   * in flight, remembered for the document since a clause may ask twice.
   */
  private readonly docHas: Has = (path, value) => {
    const d = this.doc;
    if (!d.pending) {
      // A consent clause asks about a marker in its "anyone else" branch and again in its
      // "named" branch, at most one other question in between: the last two answers are kept,
      // since the Set lookup is what costs.
      const a = d.asked[0];
      const b = d.asked[1];
      if (value === a.value && path === a.path) return a.answer;
      if (value === b.value && path === b.path) return b.answer;
      let values = this.hotValues.get(path);
      if (values === undefined && !this.hotValues.has(path)) this.hotValues.set(path, (values = this.src.memoryValues?.(this.type, path)));
      if (values) {
        const slot = d.asked[d.next];
        d.next = d.next === 0 ? 1 : 0;
        slot.path = path;
        slot.value = value;
        return (slot.answer = values.get(value)?.has(d.id) ?? false);
      }
    }
    const k = `${path}\u0000${value}`;
    let v = (d.seen ??= new Map()).get(k);
    if (v === undefined) {
      this.postingsRead++;
      v = this.src.has(this.type, path, value, d.id);
      d.seen.set(k, v);
    }
    return v;
  };

  private test(doc: SearchDoc): boolean {
    this.examined++;
    if (!this.matcher) return true;
    for (const t of this.valueSets) if (!t(doc)) return false;
    return this.matcher.test(doc as unknown as Record<string, unknown>);
  }

  private candidateDocs(driver: Driver): Iterable<SearchDoc> {
    if (!driver) return this.typeInOrder(undefined, 1);
    if (driver.kind === 'streams') return this.docsOf(this.streamIds(driver.candidates, 1, undefined));
    return this.docsOf(this.idsOf(driver.candidate));
  }

  /** Ids in every exact-value candidate, in id order, strictly after `afterId`. */
  private streamIds(candidates: Candidate[], dir: 1 | -1, afterId: string | undefined): Iterable<string> {
    // Every id the intersection yields goes through passes() (docsOf, countDecidable).
    const cursors = candidates.map((c) => candidateCursor(this.cursorSource, c, dir, readWhole(c) ? this.wholeIds(c) : undefined));
    return intersect(cursors, dir, afterId, candidates.map((c) => c.checked === true));
  }

  /** Distinct ids of a candidate, in no particular order. */
  private idsOf(c: Candidate): Iterable<string> {
    const ids = new Set<string>(c.ids ?? []);
    for (const r of c.ranges) {
      for (const key of this.src.postings.getKeys(bounds(this.type, r))) {
        this.postingsRead++;
        ids.add(key[3]);
      }
    }
    return ids;
  }

  /**
   * The search documents of `ids` that pass the posting predicates. `posted`: every id comes
   * from postings, which only live documents have (not from `_id` values a query names).
   */
  private *docsOf(ids: Iterable<string>, posted = false): Iterable<SearchDoc> {
    // Nothing left to evaluate and nothing the caller reads from the search document but its
    // id (the store reads the resource itself): the document is not decoded.
    const stub = !this.testsDocs && !this.query.idsOnly && !this.query.indexFields && this.sort.length === 1 && this.sort[0]![0] === 'id';
    for (const id of ids) {
      if (!this.passes(id)) continue;
      if (stub) {
        if (posted || this.src.searchDocs.doesExist([this.type, id])) yield { resourceType: this.type, id } as SearchDoc;
        continue;
      }
      const doc = this.src.searchDocs.get([this.type, id]);
      if (doc) yield doc;
    }
  }

  /** The type's search documents in id order, strictly after `afterId`. */
  private *typeInOrder(afterId: string | undefined, dir: 1 | -1): Iterable<SearchDoc> {
    if (this.preds.length > 0) {
      yield* this.docsOf(this.typeIdsInOrder(afterId, dir));
      return;
    }
    const range = this.typeRange(afterId, dir);
    for (const { value } of this.src.searchDocs.getRange(range)) {
      if (value.id === afterId) continue;
      yield value;
    }
  }

  private typeRange(afterId: string | undefined, dir: 1 | -1): { start: [string, string]; end: [string, string]; reverse?: boolean } {
    return dir === 1
      ? { start: [this.type, afterId ?? ''], end: [this.type, STRING_END] }
      : { start: [this.type, afterId ?? STRING_END], end: [this.type] as unknown as [string, string], reverse: true };
  }

  /** The type's ids in id order, strictly after `afterId` (keys only: nothing decoded). */
  private *typeIdsInOrder(afterId: string | undefined, dir: 1 | -1): Iterable<string> {
    const range = this.typeRange(afterId, dir);
    for (const key of this.src.searchDocs.getKeys(range)) {
      if (key[1] === afterId) continue;
      yield key[1];
    }
  }
}

type ValueSetTest = (doc: SearchDoc) => boolean;

/**
 * Long `$in` lists of strings on a top-level index path (a Bulk Data export's batch of patient
 * references) are tested against a Set built once per search: the query evaluator would build
 * one for every document. Same meaning: an index value array matches when one element is in
 * the list, a missing path never does (the list holds no null).
 */
function splitValueSets(rest: Record<string, unknown>): { sets: ValueSetTest[]; rest: Record<string, unknown> } {
  const sets: ValueSetTest[] = [];
  const others: Record<string, unknown>[] = [];
  for (const conjunct of conjunctsOf(rest)) {
    const test = valueSetTest(conjunct);
    if (test) sets.push(test);
    else others.push(conjunct);
  }
  if (sets.length === 0) return { sets, rest };
  return { sets, rest: others.length === 0 ? {} : others.length === 1 ? (others[0] as Record<string, unknown>) : { $and: others } };
}

const MIN_SET_VALUES = 16;

function valueSetTest(conjunct: Record<string, unknown>): ValueSetTest | undefined {
  const keys = Object.keys(conjunct);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  if (!key.startsWith('idx.') || key.slice(4).includes('.') || key.includes('$')) return undefined;
  const cond = conjunct[key];
  if (cond === null || typeof cond !== 'object' || Array.isArray(cond)) return undefined;
  const ops = Object.keys(cond);
  const list = (cond as Record<string, unknown>).$in;
  if (ops.length !== 1 || !Array.isArray(list) || list.length < MIN_SET_VALUES || !list.every((v) => typeof v === 'string')) return undefined;
  const values = new Set(list as string[]);
  const path = key.slice(4);
  return (doc) => {
    const v = (doc.idx as Record<string, unknown> | undefined)?.[path];
    if (Array.isArray(v)) return v.some((x) => typeof x === 'string' && values.has(x));
    return typeof v === 'string' && values.has(v);
  };
}

function describePlan(driver: Driver, streaming: boolean): string {
  const how = streaming ? '-stream' : '';
  if (!driver) return `scan${how}`;
  const list = driver.kind === 'streams' ? driver.candidates : [driver.candidate];
  const paths = [...new Set(list.flatMap((c) => [...(c.ids ? ['_id'] : []), ...c.ranges.map((r) => r.path)]))].join(',');
  return `postings${how} ${paths}`;
}

/** The key range of one posting range (end exclusive). */
function bounds(type: string, r: PostingRange): { start: PostingKey; end: PostingKey } {
  const k = (...parts: unknown[]) => [type, ...parts] as unknown as PostingKey;
  switch (r.kind) {
    case 'eq':
      return { start: k(r.path, r.value), end: k(r.path, r.value, STRING_END) };
    case 'prefix':
      return { start: k(r.path, r.prefix), end: k(r.path, r.prefix + STRING_END) };
    case 'between':
      return { start: k(r.path, r.lo), end: k(r.path, r.hi, STRING_END) };
  }
}

function* filterIter<T>(items: Iterable<T>, keep: (item: T) => boolean): Iterable<T> {
  for (const item of items) if (keep(item)) yield item;
}
