import { createHash } from 'node:crypto';
import type { IndexValues, ResourceStore } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { computeIndex } from './index-values.js';

/**
 * Version of the index entry shapes (index-entries.ts, composite.ts, the `:exact` fields).
 * Bump it whenever computeIndex would store something different for the same resource, so the
 * fingerprint changes and stores built with the old shapes are reindexed.
 */
export const INDEX_FORMAT = 2;

const BATCH = 500;

export interface ReindexLogger {
  info(obj: object, msg?: string): void;
}

export interface ReindexReport {
  /** Documents reindexed, per resource type (types without documents are left out). */
  perType: Record<string, number>;
  total: number;
}

/**
 * Recomputes the search index values (FHIR R4 search, https://hl7.org/fhir/R4/search.html) of
 * every current document of every resource type, from the definitions now loaded (base R4 and
 * this project's SearchParameters), and stores them without creating versions. Run when
 * `definitionsFingerprint` differs from the one the store was indexed with.
 */
export async function reindexAll(store: Pick<ResourceStore, 'scan' | 'updateIndex'>, defs: Definitions, logger?: ReindexLogger): Promise<ReindexReport> {
  const perType: Record<string, number> = {};
  let total = 0;
  for (const type of defs.resourceTypes) {
    let batch: Array<{ id: string; index: IndexValues }> = [];
    let count = 0;
    for await (const doc of store.scan(type)) {
      if (doc.deleted || !doc.resource) continue;
      batch.push({ id: doc.id, index: computeIndex(defs, doc.resource) });
      if (batch.length >= BATCH) {
        await store.updateIndex(type, batch);
        count += batch.length;
        batch = [];
      }
    }
    if (batch.length > 0) {
      await store.updateIndex(type, batch);
      count += batch.length;
    }
    if (count > 0) {
      perType[type] = count;
      total += count;
      logger?.info({ resourceType: type, count }, 'reindexed');
    }
  }
  logger?.info({ total }, 'reindex complete');
  return { perType, total };
}

/**
 * A stable hash of what index values depend on: INDEX_FORMAT and, for every resource type, the
 * SearchParameters in use (code, type, expression, targets, components), base R4 and project
 * ones alike. Equal fingerprints mean computeIndex would store the same values.
 */
export function definitionsFingerprint(defs: Definitions): string {
  const hash = createHash('sha256');
  hash.update(`custodian/search-index/v${INDEX_FORMAT}\n`);
  for (const type of [...defs.resourceTypes].sort()) {
    const params = defs.searchParameters(type);
    for (const code of Object.keys(params).sort()) {
      const p = params[code];
      if (!p) continue;
      const line = [
        type,
        code,
        p.type ?? '',
        p.expression ?? '',
        [...((p.target ?? []) as string[])].sort().join(','),
        (p.component ?? []).map((c) => `${c.definition}=${c.expression}`).join(';'),
      ];
      hash.update(`${JSON.stringify(line)}\n`);
    }
  }
  return hash.digest('hex');
}

/** The store setting holding the fingerprint its index values were computed with. */
export const INDEX_FINGERPRINT_SETTING = 'search-index-fingerprint';

type IndexedStore = Pick<ResourceStore, 'scan' | 'updateIndex' | 'readSetting' | 'writeSetting'>;

/** Reindexes everything and records the fingerprint the values now correspond to. */
export async function reindexStore(store: IndexedStore, defs: Definitions, logger?: ReindexLogger): Promise<ReindexReport> {
  const fingerprint = definitionsFingerprint(defs);
  const report = await reindexAll(store, defs, logger);
  await store.writeSetting(INDEX_FINGERPRINT_SETTING, fingerprint);
  return report;
}

/**
 * Start-up check: when the SearchParameters (base R4, project ones in fhir-profiles/) or the
 * index shapes changed since the store was indexed — or the store predates fingerprints —
 * every document is reindexed before the server takes requests, so no search runs on stale
 * values. Returns undefined when the index was already current.
 */
export async function reindexIfDefinitionsChanged(store: IndexedStore, defs: Definitions, logger?: ReindexLogger): Promise<ReindexReport | undefined> {
  const recorded = await store.readSetting(INDEX_FINGERPRINT_SETTING);
  if (recorded === definitionsFingerprint(defs)) return undefined;
  logger?.info({ recorded: recorded ?? null }, 'search definitions changed since the store was indexed: reindexing');
  return reindexStore(store, defs, logger);
}
