import { mkdirSync } from 'node:fs';
import { open, type Database, type DatabaseOptions, type RootDatabase } from 'lmdb';
import type { Resource } from '@medplum/fhirtypes';
import type {
  CommitRequest,
  CurrentMatch,
  HistoryQuery,
  HistoryResult,
  IndexValues,
  ResourceStore,
  SearchQuery,
  SearchMatch,
  SearchResult,
  StoredDocument,
  StoredVersion,
  UpdateIndexEntry,
} from '../resource-store.js';
import { planCommit, type CurrentLookup } from '../plan-commit.js';
import { relabelTarget } from '../relabel-entry.js';
import { matchedFromIndex, matchedValuesOf } from '../matched-values.js';
import { matchesLiveById, runSearch, type SearchDoc, type SearchSources, type SearchStats } from './embedded-search.js';
import { PostingMemory, postingLookup, type PostingLookup, type StagedChanges } from './posting-memory.js';
import { postedIds, type CursorSource } from './id-cursors.js';
import { STRING_END, isPostedFor, isTruncated, updatePostings, type PostingKey } from './postings.js';

/**
 * The zero-setup engine: LMDB (copy-on-write B+tree, crash-safe: a kill -9 can only lose
 * commits that were never acknowledged) with mingo evaluating the very MongoDB query documents
 * the MongoDB engine receives.
 *
 * Group commit comes from lmdb-js: every write callback queued in one event turn shares a
 * single LMDB transaction and a single fsync, so durability does not cost one fsync per request.
 *
 * Layout (keys are ordered-binary arrays):
 *   current   [type, id]                  → StoredRecord (latest version or tombstone), the
 *                                           resource kept as its JSON text: a read sends it as
 *                                           is, and the object is parsed only when asked for
 *   search    [type, id]                  → the StoredDocument minus `resource`, live resources
 *                                           only: searches evaluate their filter on these
 *                                           and decode resources only for the page they
 *                                           return; reads decode no index values. Encoded
 *                                           with msgpackr structures shared in the db (under
 *                                           SEARCH_STRUCTURES): a document no longer repeats
 *                                           its objects' keys, and decodes ~3× faster
 *   postings  [type, path, value, id]     → null: the index values of every search document
 *                                           (postings.ts says which), written in the same
 *                                           transaction as the search document; searches pick the documents
 *                                           they examine from it (embedded-search.ts)
 *   versions  [type, id, versionNumber]   → StoredRecord
 *   typeLog   [type, lastUpdatedMs, seq]  → [id, versionNumber]   (type history, newest first)
 *   settings  key                         → string (readSetting/writeSetting)
 *   meta      'seq'                       → last sequence number
 *             'postings'                  → format of the postings db; when it differs from
 *                                           POSTINGS_FORMAT (a store written before postings
 *                                           existed, or by another version) init() rebuilds
 *                                           them from the search docs
 *             'searchEncoding'            → SEARCH_ENCODING (1) once every search document is
 *                                           encoded with the shared structures (init()
 *                                           re-encodes those of an older store, once)
 */
export interface EmbeddedStoreOptions {
  path: string;
  logger?: { info(msg: string): void };
  /**
   * Called after every search with what it examined. Not part of the port: for tests and
   * diagnostics that need to tell an index-driven search from a scan.
   */
  onSearch?: (stats: SearchStats) => void;
  /**
   * Index paths whose postings are also held in memory (posting-memory.ts): those searches ask
   * about for every document they examine (the consent tokens).
   */
  memoryPaths?: readonly string[];
}

export function createEmbeddedStore(opts: EmbeddedStoreOptions): ResourceStore {
  return new EmbeddedStore(opts);
}

/**
 * Bump when postingsOf changes what it posts: init() then rebuilds the postings (a process of
 * an older format opening the store rebuilds them too, since its number differs).
 * 2: AuditEvents are no longer posted under the values every event shares (postings.ts UNPOSTED).
 */
const POSTINGS_FORMAT = 2;
/**
 * Per earlier format, the resource types whose postings changed since: only theirs are rebuilt.
 * A format not listed (none, or unknown) rebuilds every posting.
 */
const CHANGED_SINCE: Readonly<Record<number, readonly string[]>> = { 1: ['AuditEvent'] };
/** Documents per transaction while rebuilding postings, so one rebuild never holds a huge transaction. */
const REBUILD_BATCH = 2000;

const MAX_KEY = '\uffff';

/**
 * Where the search db keeps its shared msgpackr structures (lmdb-js `sharedStructuresKey`). A
 * value written without them (an older store) still decodes: every value carries what it needs
 * to be read.
 */
const SEARCH_STRUCTURES = Symbol.for('custodian.search-structures');
/**
 * Object shapes shared: a search document's own, one per resource type and set of parameters
 * with values, and the index values' (token, date, quantity). Shapes beyond the limit are still
 * encoded, only not shared.
 */
const MAX_SHARED_STRUCTURES = 4000;
/** Version of the search documents' encoding (1: shared structures). */
const SEARCH_ENCODING = 1;

class EmbeddedStore implements ResourceStore {
  readonly engine = 'embedded' as const;
  private root!: RootDatabase;
  private current!: Database<StoredRecord, [string, string]>;
  private searchDocs!: Database<SearchDoc, [string, string]>;
  private versions!: Database<StoredRecord, [string, string, number]>;
  private typeLog!: Database<[string, number], [string, number, number]>;
  private meta!: Database<number, string>;
  private settings!: Database<string, string>;
  private postings!: Database<null, PostingKey>;
  private memory: PostingMemory | undefined;
  private has!: PostingLookup;

  constructor(private readonly opts: EmbeddedStoreOptions) {}

  async init(): Promise<void> {
    mkdirSync(this.opts.path, { recursive: true });
    // overlappingSync stays on (the default): the fsync happens outside the write lock, and
    // commit() below awaits `flushed` before acknowledging, so acknowledged means durable.
    this.root = open({ path: this.opts.path, compression: false, maxDbs: 8 });
    this.current = this.root.openDB({ name: 'current' });
    this.searchDocs = this.root.openDB({ name: 'search', sharedStructuresKey: SEARCH_STRUCTURES, maxSharedStructures: MAX_SHARED_STRUCTURES } as DatabaseOptions & { name: string });
    this.versions = this.root.openDB({ name: 'versions' });
    this.typeLog = this.root.openDB({ name: 'type-log' });
    this.meta = this.root.openDB({ name: 'meta' });
    this.postings = this.root.openDB({ name: 'postings' });
    this.settings = this.root.openDB({ name: 'settings' });
    await this.ensurePostings();
    await this.ensureSearchEncoding();
    if (this.opts.memoryPaths?.length) {
      const started = Date.now();
      this.memory = new PostingMemory(new Set(this.opts.memoryPaths));
      this.memory.load(this.postings);
      this.opts.logger?.info(`Embedded store: ${this.memory.size} postings of ${this.opts.memoryPaths.join(', ')} held in memory (loaded in ${Date.now() - started} ms)`);
    }
    this.has = postingLookup(this.postings, this.memory);
  }

  /**
   * Runs a write transaction whose posting changes are staged for the memory copy, and applies
   * them once it has landed (or discards them if it failed).
   */
  private async writeWithPostings<T>(body: (onPosting: (type: string, id: string) => ((path: string, value: string | number, added: boolean) => void) | undefined) => T): Promise<T> {
    const memory = this.memory;
    let staged: StagedChanges | undefined;
    const onPosting = (type: string, id: string) => {
      if (!memory) return undefined;
      staged ??= memory.stage();
      const s = staged;
      return (path: string, value: string | number, added: boolean) => memory.record(s, type, id, path, value, added);
    };
    let landed = false;
    try {
      const result = (await this.root.childTransaction(() => body(onPosting))) as T;
      landed = true;
      return result;
    } finally {
      if (staged) memory?.settle(staged, landed);
    }
  }

  /** Builds the postings of a store written before they existed, or in another format. */
  private async ensurePostings(): Promise<void> {
    const format = this.meta.get('postings');
    if (format === POSTINGS_FORMAT) return;
    if (this.searchDocs.getKeysCount() > 0) {
      const types = format === undefined ? undefined : CHANGED_SINCE[format];
      this.opts.logger?.info(`Embedded store: building the search postings of ${types ? types.join(', ') : 'existing data'} in ${this.opts.path}`);
      const docs = types ? await this.rebuildPostingsOf(types) : await this.rebuildAllPostings();
      this.opts.logger?.info(`Embedded store: search postings built for ${docs} documents`);
    }
    await this.meta.put('postings', POSTINGS_FORMAT);
    await this.root.flushed;
  }

  private async rebuildAllPostings(): Promise<number> {
    await this.postings.clearAsync();
    return this.eachSearchDocBatch((batch) => {
      for (const { value: d } of batch) updatePostings(this.postings, d.resourceType, d.id, undefined, d);
    });
  }

  /** Drops and re-posts the postings of these types only, REBUILD_BATCH keys or documents per transaction. */
  private async rebuildPostingsOf(types: readonly string[]): Promise<number> {
    let docs = 0;
    for (const type of types) {
      const range = { start: [type] as unknown as PostingKey, end: [type, STRING_END] as unknown as PostingKey };
      for (;;) {
        const keys = [...this.postings.getKeys({ ...range, limit: REBUILD_BATCH })];
        if (keys.length === 0) break;
        await this.root.childTransaction(() => {
          for (const k of keys) this.postings.remove(k);
        });
      }
      docs += await this.eachSearchDocBatch((batch) => {
        for (const { value: d } of batch) updatePostings(this.postings, d.resourceType, d.id, undefined, d);
      }, type);
    }
    return docs;
  }

  /** Re-encodes the search documents of a store written before they shared structures (once). */
  private async ensureSearchEncoding(): Promise<void> {
    if (this.meta.get('searchEncoding') === SEARCH_ENCODING) return;
    if (this.searchDocs.getKeysCount() > 0) {
      const started = Date.now();
      this.opts.logger?.info(`Embedded store: re-encoding the search documents of ${this.opts.path} with shared structures (once)`);
      const docs = await this.eachSearchDocBatch((batch) => {
        // Rewritten only if unchanged since it was read: nothing in this process writes during
        // init, but another process may have the store open (LMDB is multi-process, and the
        // CLIs and the benchmarks' twin servers do), and a rewrite must never put back an older
        // document. The second read costs little beside the encode.
        for (const { key, value } of batch) if (this.searchDocs.get(key)?.versionId === value.versionId) this.searchDocs.put(key, value);
      });
      this.opts.logger?.info(`Embedded store: ${docs} search documents re-encoded in ${Date.now() - started} ms`);
    }
    await this.meta.put('searchEncoding', SEARCH_ENCODING);
    await this.root.flushed;
  }

  /**
   * Every search document (of `type`, when given), REBUILD_BATCH at a time, each batch handed to
   * `write` inside one write transaction, so a rebuild of a large store never holds a huge
   * transaction. Returns the count.
   */
  private async eachSearchDocBatch(write: (batch: ReadonlyArray<{ key: [string, string]; value: SearchDoc }>) => void, type?: string): Promise<number> {
    let docs = 0;
    let batch: Array<{ key: [string, string]; value: SearchDoc }> = [];
    const flush = async (): Promise<void> => {
      const pending = batch;
      batch = [];
      await this.root.childTransaction(() => write(pending));
    };
    for (const { key, value } of this.searchDocs.getRange(type === undefined ? {} : { start: [type], end: [type, MAX_KEY] })) {
      batch.push({ key, value });
      docs++;
      if (batch.length >= REBUILD_BATCH) await flush();
    }
    await flush();
    return docs;
  }

  async readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return fromRecord(this.current.get([resourceType, id]));
  }

  async readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    const n = Number(versionId);
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    return fromRecord(this.versions.get([resourceType, id, n]));
  }

  async commit(req: CommitRequest): Promise<StoredVersion[]> {
    const lookup: CurrentLookup = (type, id) => fromRecord(this.current.get([type, id]));
    const result = await this.writeWithPostings((onPosting) => {
      // Reads inside the callback see the write transaction, so the preconditions checked by
      // planCommit hold at commit time. planCommit throws before anything is written.
      const plan = planCommit(req, lookup);
      let seq = this.meta.get('seq') ?? 0;
      for (const w of plan.writes) {
        seq += 1;
        const n = Number(w.version.versionId);
        const key: [string, string] = [w.doc.resourceType, w.doc.id];
        const record = toRecord(w.version);
        this.current.put(key, record);
        const before = this.searchDocs.get(key);
        const after = w.doc.deleted ? undefined : searchDoc(w.doc);
        if (after) this.searchDocs.put(key, after);
        else this.searchDocs.remove(key);
        updatePostings(this.postings, w.doc.resourceType, w.doc.id, before, after, onPosting(w.doc.resourceType, w.doc.id));
        this.versions.put([w.doc.resourceType, w.doc.id, n], record);
        this.typeLog.put([w.doc.resourceType, w.doc.lastUpdatedMs, seq], [w.doc.id, n]);
      }
      this.meta.put('seq', seq);
      return plan.results;
    });
    await this.root.flushed;
    return result as StoredVersion[];
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    // Synchronous from here on: every read sees one snapshot of the store.
    const { matches, total, matched } = runSearch(this.sources(), query, this.opts.onSearch);
    const resources: SearchMatch[] = [];
    for (const m of matches) {
      const hit = this.toMatch(query, m.doc, m.sortValues);
      if (hit) resources.push(hit);
    }
    if (query.matchedOf) this.addMatched(query, resources, matched);
    return { resources, ...(total !== undefined ? { total } : {}) };
  }

  /**
   * `matched` from the postings of the conjunct's values, as the search read them (`found`) or
   * else one range read per value for the whole page; no search document is read (the page's
   * documents may be stubs). A value longer than a posting holds is ambiguous there, and a
   * path the type is not posted under holds nothing, so then the documents' index values answer.
   */
  private addMatched(query: SearchQuery, hits: SearchMatch[], found: Map<string, string[]> | undefined): void {
    if (found) {
      for (const h of hits) h.matched = found.get(h.id) ?? [];
      return;
    }
    const values = matchedValuesOf(query);
    const field = query.matchedOf as string;
    if (values.some(isTruncated) || !isPostedFor(query.resourceType, field)) {
      for (const h of hits) h.matched = matchedFromIndex(values, this.searchDocs.get([query.resourceType, h.id])?.idx, field);
      return;
    }
    const byId = new Map<string, SearchMatch>();
    for (const h of hits) {
      h.matched = [];
      byId.set(h.id, h);
    }
    if (byId.size === 0) return;
    const source: CursorSource = { postings: this.postings, has: this.has, type: query.resourceType, onRead: () => {} };
    const ranges = values.map((value) => ({ kind: 'eq' as const, path: field, value }));
    postedIds(source, { ranges, exact: true }, (_path, value, id) => byId.get(id)?.matched?.push(value as string));
  }

  private toMatch(query: SearchQuery, doc: SearchDoc, sortValues: unknown[]): SearchMatch | undefined {
    let hit: SearchMatch;
    if (query.idsOnly) {
      // The search document carries everything an ids-only match needs: no resource is read.
      hit = { resourceType: doc.resourceType, id: doc.id, versionId: doc.versionId, lastUpdated: doc.lastUpdated, deleted: false, sortValues };
    } else {
      const v = fromRecord(this.current.get([query.resourceType, doc.id]));
      if (!v) return undefined;
      hit = Object.assign(v, { sortValues });
    }
    if (query.indexFields) hit.index = pickIndex(doc.idx, query.indexFields);
    return hit;
  }

  private sourcesCache: SearchSources | undefined;

  private sources(): SearchSources {
    const memory = this.memory;
    return (this.sourcesCache ??= {
      searchDocs: this.searchDocs,
      postings: this.postings,
      has: this.has,
      ...(memory
        ? {
            memoryCount: (type: string, path: string, value: string | number) => memory.count(type, path, value),
            memoryValues: (type: string, path: string) => memory.valuesOf(type, path),
            memoryPending: (type: string, id: string) => memory.isPending(type, id),
          }
        : {}),
    });
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    const skip = query.skip ?? 0;
    const since = query.sinceMs ?? -Infinity;
    const entries: StoredVersion[] = [];
    let total = 0;
    if (query.id !== undefined) {
      const range = this.versions.getRange({
        start: [query.resourceType, query.id, Number.MAX_SAFE_INTEGER],
        end: [query.resourceType, query.id, 0],
        reverse: true,
      });
      for (const { value } of range) {
        if (Date.parse(value.lastUpdated) < since) continue;
        if (total >= skip && entries.length < query.limit) entries.push(fromRecord(value) as StoredVersion);
        total++;
      }
    } else {
      const range = this.typeLog.getRange({
        start: [query.resourceType, Number.MAX_SAFE_INTEGER],
        end: [query.resourceType, Number.isFinite(since) ? since : -Number.MAX_SAFE_INTEGER],
        reverse: true,
      });
      for (const { value } of range) {
        if (total >= skip && entries.length < query.limit) {
          const v = fromRecord(this.versions.get([query.resourceType, value[0], value[1]]));
          if (v) entries.push(v);
        }
        total++;
      }
    }
    return { entries, total };
  }

  async *scan(resourceType: string): AsyncIterable<StoredDocument> {
    for (const { value } of this.searchDocs.getRange({ start: [resourceType], end: [resourceType, MAX_KEY] })) {
      const v = fromRecord(this.current.get([resourceType, value.id]));
      if (v?.resource) yield { ...value, resource: v.resource };
    }
  }

  async updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void> {
    // Checked before the transaction: a bad entry writes nothing.
    const targets = entries.map((e) => (e.resource ? relabelTarget(resourceType, { ...e, resource: e.resource }) : undefined));
    await this.writeWithPostings((onPosting) => {
      entries.forEach((e, i) => {
        const key: [string, string] = [resourceType, e.id];
        const target = targets[i];
        if (target) {
          // The version's record gets the new body; the current one only while it is that version.
          const n = Number(target.versionId);
          const stored = Number.isSafeInteger(n) ? this.versions.get([resourceType, e.id, n]) : undefined;
          if (!stored || stored.deleted || stored.lastUpdated !== target.lastUpdated) return;
          const record: StoredRecord = { ...stored, json: JSON.stringify(target.resource) };
          this.versions.put([resourceType, e.id, n], record);
          const current = this.current.get(key);
          if (current?.versionId !== target.versionId || current.deleted) return;
          this.current.put(key, record);
        }
        const doc = this.searchDocs.get(key);
        if (!doc) return;
        const next = { ...doc, idx: e.index };
        this.searchDocs.put(key, next);
        updatePostings(this.postings, resourceType, e.id, doc, next, onPosting(resourceType, e.id));
      });
    });
    await this.root.flushed;
  }

  async readSetting(key: string): Promise<string | undefined> {
    return this.settings.get(key);
  }

  async readCurrentMatching(resourceType: string, id: string, filter: Record<string, unknown>): Promise<CurrentMatch | undefined> {
    // One synchronous section, so one read snapshot: the record read and the search document
    // and postings the clause is tested on belong to the same version.
    const version = fromRecord(this.current.get([resourceType, id]));
    if (!version) return undefined;
    return { version, matches: !version.deleted && matchesLiveById(this.sources(), resourceType, id, filter) };
  }

  async writeSetting(key: string, value: string): Promise<void> {
    await this.settings.put(key, value);
    await this.root.flushed;
  }

  async close(): Promise<void> {
    await this.root?.close();
  }
}

/** A version as persisted: the resource as JSON text. */
interface StoredRecord {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  json?: string;
}

function toRecord(v: StoredVersion): StoredRecord {
  return {
    resourceType: v.resourceType,
    id: v.id,
    versionId: v.versionId,
    lastUpdated: v.lastUpdated,
    deleted: v.deleted,
    ...(v.resource ? { json: JSON.stringify(v.resource) } : {}),
  };
}

/** Where a version read from the store keeps its parsed resource (non-enumerable, like `json`). */
const PARSED = Symbol('parsed resource');

/**
 * `resource` of a version read from the store: parsed from `json` on first access. One
 * getter/setter pair shared by every version (no closures per read), so versions also share
 * one hidden class.
 */
const LAZY_RESOURCE: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: { json: string; [PARSED]?: Resource }): Resource {
    return (this[PARSED] ??= JSON.parse(this.json) as Resource);
  },
  set(this: { [PARSED]?: Resource }, value: Resource) {
    this[PARSED] = value;
  },
};

/** The resource object is parsed on first access only; reads that send `json` never parse. */
function fromRecord(r: StoredRecord | undefined): StoredVersion | undefined {
  if (!r) return undefined;
  const v: StoredVersion = { resourceType: r.resourceType, id: r.id, versionId: r.versionId, lastUpdated: r.lastUpdated, deleted: r.deleted };
  if (r.json !== undefined) {
    // Non-enumerable: a version compares and serialises as the port's plain shape.
    Object.defineProperty(v, 'json', { value: r.json, enumerable: false, writable: true });
    Object.defineProperty(v, PARSED, { value: undefined, enumerable: false, writable: true });
    Object.defineProperty(v, 'resource', LAZY_RESOURCE);
  }
  return v;
}

function pickIndex(idx: IndexValues, fields: readonly string[]): IndexValues {
  const out: IndexValues = {};
  for (const f of fields) if (idx[f] !== undefined) out[f] = idx[f];
  return out;
}

function searchDoc(doc: StoredDocument): SearchDoc {
  const { resource: _resource, ...rest } = doc;
  return rest;
}
