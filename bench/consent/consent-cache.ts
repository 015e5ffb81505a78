/**
 * The consent benchmark's store takes minutes to build, so it is kept under
 * bench/results/consent-stores/ (gitignored) and reused while nothing that decides its bytes has
 * changed: the population and Consent options, the write path (store, FHIR core, validation,
 * search index values), the consent engine (server/src/consent/**: stored decisions), the
 * wiring, the profiles and label mappings, the generator, the loader, the locked dependencies.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Paths (relative to the repository) whose contents key the cached store. */
export const CONSENT_CACHE_INPUTS = [
  'server/src/store',
  'server/src/fhir',
  'server/src/consent',
  'server/src/auth/compartment.ts',
  'server/src/dependencies.ts',
  'server/src/config',
  'fhir-profiles',
  'fixtures/population',
  'bench/consent/build-consent-store.ts',
  'bench/consent/consent-population.ts',
  'bench/consent/consent-cache.ts',
  'bench/search/load-worker.ts',
  'bench/search/remote-store.ts',
  'bench/search/patient-summary.ts',
  'bench/search/worker-boot.mjs',
  'package-lock.json',
];

/** Bumped when the manifest's shape changes. */
export const CONSENT_CACHE_LAYOUT = 1;

function filesUnder(root: string, path: string): string[] {
  const abs = join(root, path);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [abs];
  return readdirSync(abs, { withFileTypes: true })
    .flatMap((d) => filesUnder(root, join(path, d.name)))
    .sort();
}

export function consentCacheKey(repoRoot: string, params: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ layout: CONSENT_CACHE_LAYOUT, ...params }));
  for (const input of CONSENT_CACHE_INPUTS) {
    for (const file of filesUnder(repoRoot, input)) {
      h.update(relative(repoRoot, file));
      h.update(readFileSync(file));
    }
  }
  return h.digest('hex').slice(0, 16);
}

export interface ConsentCacheEntry {
  dir: string;
  /** The servers' DATA_DIR (copied for each run; the cached one is never served). */
  dataDir: string;
  manifestPath: string;
}

export function consentCacheEntry(cacheRoot: string, key: string, patients: number): ConsentCacheEntry {
  const dir = join(cacheRoot, `p${patients}-${key}`);
  return { dir, dataDir: join(dir, 'data'), manifestPath: join(dir, 'manifest.json') };
}

/** The manifest is written last, so an interrupted build is never taken for complete. */
export function readConsentManifest<T extends { layout: number }>(entry: ConsentCacheEntry): T | undefined {
  if (!existsSync(entry.manifestPath)) return undefined;
  try {
    const m = JSON.parse(readFileSync(entry.manifestPath, 'utf8')) as T;
    return m.layout === CONSENT_CACHE_LAYOUT ? m : undefined;
  } catch {
    return undefined;
  }
}

export function writeConsentManifest(entry: ConsentCacheEntry, manifest: object): void {
  writeFileSync(entry.manifestPath, JSON.stringify(manifest) + '\n');
}

/**
 * The newest complete cached store of this size built with these options, whatever code built
 * it (for BENCH_CONSENT_REUSE_STALE: the server recomputes stored decisions at start when the
 * consent rules' fingerprint changed, but a change to the write path is not caught).
 */
export function newestConsentManifest<T extends { layout: number; createdAt: string; params?: unknown }>(
  cacheRoot: string,
  patients: number,
  params: unknown,
): { entry: ConsentCacheEntry; manifest: T } | undefined {
  if (!existsSync(cacheRoot)) return undefined;
  let best: { entry: ConsentCacheEntry; manifest: T } | undefined;
  for (const name of readdirSync(cacheRoot)) {
    const m = /^p(\d+)-([0-9a-f]+)$/.exec(name);
    if (!m || Number(m[1]) !== patients) continue;
    const entry = consentCacheEntry(cacheRoot, m[2] as string, patients);
    const manifest = readConsentManifest<T>(entry);
    if (!manifest || (manifest.params !== undefined && JSON.stringify(manifest.params) !== JSON.stringify(params))) continue;
    if (!best || manifest.createdAt > best.manifest.createdAt) best = { entry, manifest };
  }
  return best;
}

/** Removes other cached stores with the same patient count: outdated and large. */
export function pruneStaleConsentStores(cacheRoot: string, keep: ConsentCacheEntry, patients: number, log: (m: string) => void): void {
  if (!existsSync(cacheRoot)) return;
  for (const name of readdirSync(cacheRoot)) {
    const dir = join(cacheRoot, name);
    if (dir === keep.dir || !name.startsWith(`p${patients}-`)) continue;
    log(`removing outdated cached consent store ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  }
}
