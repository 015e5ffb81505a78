import { MongoClient, type ClientSession, type Db, type Filter, type TransactionOptions } from 'mongodb';
import type {
  IndexValues,
  CommitRequest,
  CurrentMatch,
  HistoryQuery,
  HistoryResult,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredDocument,
  StoredVersion,
  UpdateIndexEntry,
} from '../resource-store.js';
import { planCommit } from '../plan-commit.js';
import { relabelTarget } from '../relabel-entry.js';
import { transactionSupport } from './mongo-capabilities.js';
import {
  HISTORY_SORT,
  collectionNames,
  currentToStoredDocument,
  currentToStoredVersion,
  historyId,
  historyToStoredVersion,
  lastWritePerId,
  resourceTypeOfCollection,
  toSearchMatch,
  toCurrentDoc,
  toHistoryDoc,
  type CurrentDoc,
  type HistoryDoc,
} from './mongo-documents.js';
import { classifyDriverError, toStoreError } from './mongo-errors.js';
import { IndexEnsurer } from './mongo-indexes.js';
import { mongoSearchPlan } from './mongo-search.js';
import { matchedValuesOf } from '../matched-values.js';

export interface MongoStoreOptions {
  uri: string;
  dbName: string;
  logger?: { info(msg: string): void; warn(msg: string): void };
}

/**
 * The MongoDB engine. Every commit is one multi-document transaction (snapshot reads, majority
 * writes), so preconditions are checked against the same snapshot the writes conflict with:
 * two commits racing on one resource cannot both succeed: the loser hits a write conflict, the
 * driver retries it, and the retry sees the winner's version.
 */
export function createMongoStore(opts: MongoStoreOptions): ResourceStore {
  return new MongoStore(opts);
}

const TRANSACTION: TransactionOptions = {
  readConcern: { level: 'snapshot' },
  writeConcern: { w: 'majority' },
  readPreference: 'primary',
};

/**
 * A duplicate key inside a commit means another commit inserted the same resource after our
 * snapshot; retrying re-reads and turns it into the port's conflict/precondition error. Bounded
 * so a genuinely inconsistent collection cannot make a commit spin until the driver's timeout.
 */
const DUPLICATE_KEY_RETRIES = 3;

class MongoStore implements ResourceStore {
  readonly engine = 'mongodb' as const;
  private client: MongoClient | undefined;
  private database: Db | undefined;
  private indexes: IndexEnsurer | undefined;

  constructor(private readonly opts: MongoStoreOptions) {}

  async init(): Promise<void> {
    // ignoreUndefined: an absent optional field must stay absent, not become null.
    const client = new MongoClient(this.opts.uri, { ignoreUndefined: true, writeConcern: { w: 'majority' }, appName: 'custodian' });
    try {
      await client.connect();
    } catch (err) {
      await client.close().catch(() => undefined);
      // The URI may carry credentials, so only the driver's reason is repeated.
      throw new Error(`Cannot connect to MongoDB (database ${this.opts.dbName}): ${(err as Error).message}`, { cause: err });
    }
    try {
      const support = transactionSupport(await client.db('admin').command({ hello: 1 }));
      if (!support.supported) throw new Error(support.reason);
      const db = client.db(this.opts.dbName);
      const indexes = new IndexEnsurer(db);
      const existing = await db.listCollections({}, { nameOnly: true }).toArray();
      const types = new Set(existing.map((c) => resourceTypeOfCollection(c.name)).filter((t): t is string => t !== undefined));
      for (const type of types) await indexes.ensure(type);
      this.client = client;
      this.database = db;
      this.indexes = indexes;
      this.opts.logger?.info(`MongoDB store ready: database ${this.opts.dbName} on a ${support.topology}, ${types.size} resource types indexed`);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.guard('readCurrent', async () => {
      const doc = await this.currentCollection(resourceType).findOne({ _id: id });
      return doc ? currentToStoredVersion(doc) : undefined;
    });
  }

  readCurrentMatching(resourceType: string, id: string, filter: Record<string, unknown>): Promise<CurrentMatch | undefined> {
    return this.guard('readCurrentMatching', async () => {
      const current = this.currentCollection(resourceType);
      const doc = await current.findOne({ _id: id });
      if (!doc) return undefined;
      const version = currentToStoredVersion(doc);
      if (version.deleted) return { version, matches: false };
      // Two reads: the second is pinned to the version the first returned, so a version
      // replaced in between reads as not matching (withheld), never as its successor.
      const hit = await current.findOne({ $and: [{ _id: id }, { versionId: version.versionId }, { deleted: false }, filter] }, { projection: { _id: 1 } });
      return { version, matches: hit !== null };
    });
  }

  readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return this.guard('readVersion', async () => {
      const doc = await this.historyCollection(resourceType).findOne({ _id: historyId(id, versionId) });
      return doc ? historyToStoredVersion(resourceType, doc) : undefined;
    });
  }

  commit(req: CommitRequest): Promise<StoredVersion[]> {
    return this.guard('commit', async () => {
      if (req.ops.length === 0) return [];
      const types = [...new Set(req.ops.map((op) => op.resourceType))];
      for (const type of types) await this.ensureIndexes(type);
      let duplicateKeyRetries = 0;
      const session = this.mongo().startSession();
      try {
        return await session.withTransaction(async () => {
          try {
            return await this.commitInSession(req, types, session);
          } catch (err) {
            if (classifyDriverError(err) === 'duplicate-key' && duplicateKeyRetries++ < DUPLICATE_KEY_RETRIES) {
              (err as { addErrorLabel(label: string): void }).addErrorLabel('TransientTransactionError');
            }
            throw err;
          }
        }, TRANSACTION);
      } finally {
        await session.endSession();
      }
    });
  }

  /** Reads every touched resource once, plans the commit, then writes; called again on retry. */
  private async commitInSession(req: CommitRequest, types: string[], session: ClientSession): Promise<StoredVersion[]> {
    const before = new Map<string, StoredDocument>();
    for (const type of types) {
      const ids = [...new Set(req.ops.filter((op) => op.resourceType === type).map((op) => op.id))];
      const docs = await this.currentCollection(type).find({ _id: { $in: ids } }, { session }).toArray();
      for (const doc of docs) before.set(`${type}/${doc.id}`, currentToStoredDocument(doc));
    }
    const plan = planCommit(req, (type, id) => before.get(`${type}/${id}`));
    for (const type of types) {
      const written = plan.writes.map((w) => w.doc).filter((d) => d.resourceType === type);
      if (written.length === 0) continue;
      await this.currentCollection(type).bulkWrite(
        lastWritePerId(written).map((d) => ({
          replaceOne: { filter: { _id: d.id }, replacement: toCurrentDoc(d), upsert: true },
        })),
        { session },
      );
      await this.historyCollection(type).insertMany(written.map(toHistoryDoc), { session });
    }
    return plan.results;
  }

  search(query: SearchQuery): Promise<SearchResult> {
    return this.guard('search', async () => {
      const collection = this.currentCollection(query.resourceType);
      const plan = mongoSearchPlan(query);
      const matched = query.matchedOf ? matchedValuesOf(query) : undefined;
      const page =
        query.limit > 0
          ? collection
              .find(plan.filter as Filter<CurrentDoc>, { projection: plan.projection })
              .sort(plan.sort)
              .skip(query.skip ?? 0)
              .limit(query.limit)
              .toArray()
          : Promise.resolve([]);
      const [docs, total] = await Promise.all([page, query.total ? collection.countDocuments(plan.countFilter as Filter<CurrentDoc>) : undefined]);
      return {
        resources: docs.map((d) => toSearchMatch(d, query, matched)),
        ...(total !== undefined ? { total } : {}),
      };
    });
  }

  history(query: HistoryQuery): Promise<HistoryResult> {
    return this.guard('history', async () => {
      const collection = this.historyCollection(query.resourceType);
      const filter: Filter<HistoryDoc> = {
        ...(query.id !== undefined ? { id: query.id } : {}),
        ...(query.sinceMs !== undefined ? { lastUpdatedMs: { $gte: query.sinceMs } } : {}),
      };
      const page =
        query.limit > 0
          ? collection
              .find(filter)
              .sort(HISTORY_SORT)
              .skip(query.skip ?? 0)
              .limit(query.limit)
              .toArray()
          : Promise.resolve([]);
      const [docs, total] = await Promise.all([page, collection.countDocuments(filter)]);
      return { entries: docs.map((d) => historyToStoredVersion(query.resourceType, d)), total };
    });
  }

  async *scan(resourceType: string): AsyncIterable<StoredDocument> {
    const cursor = this.currentCollection(resourceType).find({ deleted: false }).sort({ _id: 1 });
    try {
      for await (const doc of cursor) yield currentToStoredDocument(doc);
    } catch (err) {
      throw this.mapError('scan', err);
    } finally {
      await cursor.close();
    }
  }

  updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void> {
    return this.guard('updateIndex', async () => {
      if (entries.length === 0) return;
      const relabels = entries.flatMap((e) => (e.resource ? [{ id: e.id, index: e.index, target: relabelTarget(resourceType, { ...e, resource: e.resource }) }] : []));
      const current = this.currentCollection(resourceType);
      const reindex = entries.filter((e) => !e.resource);
      if (reindex.length > 0) {
        await current.bulkWrite(
          reindex.map((e) => ({ updateOne: { filter: { _id: e.id, deleted: false }, update: { $set: { idx: e.index } } } })),
          { ordered: false },
        );
      }
      if (relabels.length === 0) return;
      // A new body for a stored version: its history document and, while it is still the
      // current version, the current document, together or not at all.
      const session = this.mongo().startSession();
      try {
        await session.withTransaction(async () => {
          await this.historyCollection(resourceType).bulkWrite(
            relabels.map(({ id, target }) => ({
              updateOne: {
                filter: { _id: historyId(id, target.versionId), deleted: false, lastUpdated: target.lastUpdated },
                update: { $set: { resource: target.resource } },
              },
            })),
            { ordered: false, session },
          );
          await current.bulkWrite(
            relabels.map(({ id, index, target }) => ({
              updateOne: {
                filter: { _id: id, deleted: false, versionId: target.versionId, lastUpdated: target.lastUpdated },
                update: { $set: { idx: index, resource: target.resource } },
              },
            })),
            { ordered: false, session },
          );
        }, TRANSACTION);
      } finally {
        await session.endSession();
      }
    });
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.guard('readSetting', async () => {
      const doc = await this.settingsCollection().findOne({ _id: key });
      return typeof doc?.value === 'string' ? doc.value : undefined;
    });
  }

  writeSetting(key: string, value: string): Promise<void> {
    return this.guard('writeSetting', async () => {
      await this.settingsCollection().updateOne({ _id: key }, { $set: { value } }, { upsert: true });
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.database = undefined;
    await client?.close();
  }

  private mongo(): MongoClient {
    if (!this.client) throw new Error('MongoDB store used before init() or after close()');
    return this.client;
  }

  private db(): Db {
    this.mongo();
    return this.database!;
  }

  /** Not a resource type name (they start with a capital letter), so never mistaken for one. */
  private settingsCollection() {
    return this.db().collection<{ _id: string; value: string }>('custodian_settings');
  }

  private currentCollection(resourceType: string) {
    return this.db().collection<CurrentDoc>(collectionNames(resourceType).current);
  }

  private historyCollection(resourceType: string) {
    return this.db().collection<HistoryDoc>(collectionNames(resourceType).history);
  }

  private ensureIndexes(resourceType: string): Promise<void> {
    this.mongo();
    return this.indexes!.ensure(resourceType);
  }

  private async guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.mapError(operation, err);
    }
  }

  private mapError(operation: string, err: unknown): unknown {
    const mapped = toStoreError(err);
    if (mapped !== err) this.opts.logger?.warn(`MongoDB ${operation} failed: ${(err as Error).name}: ${(err as Error).message}`);
    return mapped;
  }
}
