/**
 * The large store takes minutes to build, so it is kept under bench/results/search-stores/
 * (gitignored) and reused while nothing that decides its bytes has changed: the generator's
 * options and the code that turns a Bundle into stored documents (engine, index values,
 * validation, definitions, profiles, fixtures, this loader, the locked dependencies).
 * Changes elsewhere (the search handler, the HTTP edge) do not invalidate it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { VisitRange } from '../../fixtures/population/index.js';
import type { ImportStats } from './build-store.js';
import type { PatientSummary } from './patient-summary.js';

/** Paths (relative to the repository) whose contents key the cached store. */
export const CACHE_INPUTS = [
  'server/src/store',
  'server/src/fhir/search',
  'server/src/fhir/interactions/apply-writes.ts',
  'server/src/fhir/validation.ts',
  'server/src/fhir/required-bindings.ts',
  'server/src/fhir/definitions.ts',
  'fhir-profiles',
  'fixtures/population',
  'bench/search/build-store.ts',
  'bench/search/load-worker.ts',
  'bench/search/remote-store.ts',
  'bench/search/patient-summary.ts',
  'package-lock.json',
];

/** Bumped when the cache layout itself changes. */
export const LAYOUT = 1;

export interface StoreManifest {
  key: string;
  layout: number;
  createdAt: string;
  seed: number;
  visits: VisitRange;
  patients: number;
  stats: ImportStats;
  ndjsonFiles: string[];
  summaries: PatientSummary[];
}

function filesUnder(root: string, path: string): string[] {
  const abs = join(root, path);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [abs];
  return readdirSync(abs, { withFileTypes: true })
    .flatMap((d) => filesUnder(root, join(path, d.name)))
    .sort();
}

export function cacheKey(repoRoot: string, params: { seed: number; visits: VisitRange; patients: number }): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ layout: LAYOUT, ...params }));
  for (const input of CACHE_INPUTS) {
    for (const file of filesUnder(repoRoot, input)) {
      h.update(relative(repoRoot, file));
      h.update(readFileSync(file));
    }
  }
  return h.digest('hex').slice(0, 16);
}

export interface CacheEntry {
  dir: string;
  /** The server's DATA_DIR. */
  dataDir: string;
  ndjsonDir: string;
  manifestPath: string;
}

export function cacheEntry(cacheRoot: string, key: string, patients: number): CacheEntry {
  const dir = join(cacheRoot, `p${patients}-${key}`);
  return { dir, dataDir: join(dir, 'data'), ndjsonDir: join(dir, 'ndjson'), manifestPath: join(dir, 'manifest.json') };
}

/** The manifest is written last, so a build that was interrupted is never taken for complete. */
export function readManifest(entry: CacheEntry): StoreManifest | undefined {
  if (!existsSync(entry.manifestPath)) return undefined;
  try {
    const m = JSON.parse(readFileSync(entry.manifestPath, 'utf8')) as StoreManifest;
    return m.layout === LAYOUT ? m : undefined;
  } catch {
    return undefined;
  }
}

export function writeManifest(entry: CacheEntry, manifest: StoreManifest): void {
  writeFileSync(entry.manifestPath, JSON.stringify(manifest) + '\n');
}

/** Removes other cached stores with the same patient count: they are outdated and large. */
export function pruneStale(cacheRoot: string, keep: CacheEntry, patients: number, log: (m: string) => void): void {
  if (!existsSync(cacheRoot)) return;
  for (const name of readdirSync(cacheRoot)) {
    const dir = join(cacheRoot, name);
    if (dir === keep.dir || !name.startsWith(`p${patients}-`)) continue;
    log(`removing outdated cached store ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  }
}
