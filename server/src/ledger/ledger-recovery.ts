import type { Definitions } from '../fhir/definitions.js';
import type { StoredVersion, ResourceStore } from '../store/resource-store.js';
import type { VersionLog } from './version-log.js';

/** Store setting: the newest lastUpdated (ms) whose versions are known to be in the log. */
export const LEDGER_WATERMARK_SETTING = 'ledger.watermark';
/**
 * How far before the watermark recovery looks. Commits take their timestamp before they are
 * durable, so a version may be stored after one with a later timestamp; this bounds the gap
 * (far above any commit's duration).
 */
export const RECOVERY_MARGIN_MS = 5 * 60_000;
const PAGE = 1000;

/**
 * At start, before serving: versions the store holds but the log does not — a crash between a
 * store commit and its leaf append (ledgered-store.ts) — are appended, oldest first, so store
 * and log agree again. Only versions since the watermark can be missing; a store with no
 * watermark (first start with the ledger, or an older store) is covered whole.
 */
export async function recoverUnloggedVersions(store: ResourceStore, defs: Definitions, log: VersionLog): Promise<number> {
  const recorded = Number((await store.readSetting(LEDGER_WATERMARK_SETTING)) ?? 'NaN');
  const sinceMs = Number.isFinite(recorded) ? recorded - RECOVERY_MARGIN_MS : undefined;
  const missing: StoredVersion[] = [];
  for (const resourceType of defs.resourceTypes) {
    for (let skip = 0; ; ) {
      const page = await store.history({ resourceType, ...(sinceMs !== undefined ? { sinceMs } : {}), skip, limit: PAGE });
      for (const v of page.entries) if (!log.has(v)) missing.push(v);
      skip += page.entries.length;
      if (page.entries.length < PAGE) break;
    }
  }
  // Oldest first, versions of one resource in order: the log's order follows the store's.
  missing.sort((a, b) => a.lastUpdated.localeCompare(b.lastUpdated) || Number(a.versionId) - Number(b.versionId));
  for (let i = 0; i < missing.length; i += PAGE) await log.appendVersions(missing.slice(i, i + PAGE));
  await saveWatermark(store, log);
  return missing.length;
}

/** Records how far the log is known to cover the store (called after recovery and periodically). */
export async function saveWatermark(store: ResourceStore, log: VersionLog): Promise<void> {
  if (log.newestAppendedMs > 0) await store.writeSetting(LEDGER_WATERMARK_SETTING, String(log.newestAppendedMs));
}
