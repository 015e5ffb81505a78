/**
 * `npm run bench -- search` (issue 3, item 8): FHIR search (R4 §3.1.1,
 * https://hl7.org/fhir/R4/search.html) on a large store (~1M resources, ~10k patients) and a
 * small one (~10k resources), side by side in one run, plus @medplum/fhir-router's
 * MemoryRepository holding the large store's very resources. The large store is cached on
 * disk between runs (store-cache.ts); the small one is rebuilt every run. See bench/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStore, type BuiltStore } from './build-store.js';
import { fetchBundle, matchCount, runClosedLoop, type LoopResult } from './closed-loop.js';
import { QUERIES, WALK_RESULTS, requestPaths, type QueryDef } from './queries.js';
import { formatSearchReport, TARGETS, type CheckResult, type QueryRow, type SearchBenchReport, type StoreInfo, type TargetName } from './search-report.js';
import { patientsFor, readSettings, type SearchBenchSettings } from './settings.js';
import { cacheEntry, cacheKey, pruneStale, readManifest, writeManifest, type StoreManifest } from './store-cache.js';
import type { PatientSummary } from './patient-summary.js';
import { startCustodian } from '../servers/custodian.js';
import { killAllChildrenNow, spawnServer, type ServerProcess } from '../servers/spawn.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = resolve(BENCH_DIR, '..');
const MAX_FAILURE_RATIO = 0.01;
/** Requests per query compared between Custodian and the peer before measuring. */
const CHECK_REQUESTS = 3;

const log = (msg: string): void => {
  process.stderr.write(`bench search: ${msg}\n`);
};

interface Store {
  info: StoreInfo;
  summaries: PatientSummary[];
  dataDir: string;
  ndjsonDir?: string;
}

async function largeStore(s: SearchBenchSettings): Promise<Store> {
  const patients = patientsFor(s.resources, s.visits);
  const key = cacheKey(REPO_ROOT, { seed: s.seed, visits: s.visits, patients });
  const entry = cacheEntry(s.cacheDir, key, patients);
  const cached = s.rebuild ? undefined : readManifest(entry);
  if (cached) {
    log(`REUSING cached large store ${entry.dir} (${cached.stats.resources.toLocaleString('en-US')} resources, built ${cached.createdAt}; key ${key})`);
    return { info: info(cached.stats, true, cached.createdAt, entry.dir, key), summaries: cached.summaries, dataDir: entry.dataDir, ndjsonDir: entry.ndjsonDir };
  }
  log(`building the large store: ${patients.toLocaleString('en-US')} patients (~${s.resources.toLocaleString('en-US')} resources), seed ${s.seed}, ${s.visits.min}-${s.visits.max} visits, ${s.workers} worker threads -> ${entry.dir}`);
  rmSync(entry.dir, { recursive: true, force: true });
  mkdirSync(entry.ndjsonDir, { recursive: true });
  const built: BuiltStore = await buildStore({ dataDir: entry.dataDir, seed: s.seed, visits: s.visits, patients, workers: s.workers, ndjsonDir: entry.ndjsonDir, log });
  const manifest: StoreManifest = {
    key,
    layout: 1,
    createdAt: new Date().toISOString(),
    seed: s.seed,
    visits: s.visits,
    patients,
    stats: built.stats,
    ndjsonFiles: built.ndjsonFiles,
    summaries: built.summaries,
  };
  writeManifest(entry, manifest);
  pruneStale(s.cacheDir, entry, patients, log);
  log(`large store: ${built.stats.resources.toLocaleString('en-US')} resources in ${built.stats.seconds.toFixed(1)} s = ${Math.round(built.stats.resourcesPerSecond).toLocaleString('en-US')} resources/s`);
  return { info: info(built.stats, false, manifest.createdAt, entry.dir, key), summaries: built.summaries, dataDir: entry.dataDir, ndjsonDir: entry.ndjsonDir };
}

async function smallStore(s: SearchBenchSettings, workDir: string): Promise<Store> {
  const patients = patientsFor(s.smallResources, s.visits);
  const dataDir = join(workDir, 'small-data');
  log(`building the small store: ${patients} patients (~${s.smallResources.toLocaleString('en-US')} resources) in ${dataDir}`);
  // Same seed: the small store is the first patients of the large one.
  const built = await buildStore({ dataDir, seed: s.seed, visits: s.visits, patients, workers: s.workers, log });
  log(`small store: ${built.stats.resources.toLocaleString('en-US')} resources in ${built.stats.seconds.toFixed(1)} s = ${Math.round(built.stats.resourcesPerSecond).toLocaleString('en-US')} resources/s`);
  return { info: info(built.stats, false, new Date().toISOString(), dataDir), summaries: built.summaries, dataDir };
}

function info(stats: BuiltStore['stats'], cached: boolean, builtAt: string, dir: string, key?: string): StoreInfo {
  return { resources: stats.resources, patients: stats.patients, byType: stats.byType, import: stats, cached, builtAt, dir, ...(key ? { key } : {}) };
}

function idsOf(bundle: { entry?: Array<{ resource?: unknown; search?: { mode?: string } }> } | undefined): string[] {
  return (bundle?.entry ?? [])
    .filter((e) => e.resource && e.search?.mode !== 'outcome')
    .map((e) => {
      const r = e.resource as { resourceType?: string; id?: string };
      return `${r.resourceType}/${r.id}`;
    });
}

/**
 * Before measuring: every server answers the first requests with 200 and matches, and
 * Custodian and the peer (same resources, same ids) agree on totals and on the ids of
 * Custodian's first page, so the comparison is between equal answers.
 */
async function preflight(
  query: QueryDef,
  servers: Partial<Record<TargetName, ServerProcess>>,
  paths: Partial<Record<TargetName, string[]>>,
  timeoutMs: number,
): Promise<{ firstPageEntries: Partial<Record<TargetName, number>>; check?: CheckResult }> {
  const firstPageEntries: Partial<Record<TargetName, number>> = {};
  const answers: Partial<Record<TargetName, Array<Awaited<ReturnType<typeof fetchBundle>>>>> = {};
  for (const t of TARGETS) {
    const server = servers[t];
    if (!server) continue;
    const base = new URL(server.baseUrl);
    const got = [];
    for (const path of (paths[t] ?? []).slice(0, CHECK_REQUESTS)) {
      const res = await fetchBundle(base.origin, base.pathname + path, timeoutMs);
      if (res.status !== 200 || !res.bundle) throw new Error(`${t}: ${query.name} pre-flight ${path} answered ${res.status}: ${res.body.slice(0, 400)}`);
      got.push(res);
    }
    answers[t] = got;
    firstPageEntries[t] = got.reduce((n, r) => n + matchCount(r.bundle ?? {}), 0) / Math.max(1, got.length);
    if (firstPageEntries[t] === 0) log(`  warning: ${t} ${query.name}: the pre-flight requests matched nothing`);
  }
  const c = answers['custodian-large'];
  const m = answers['medplum-large'];
  if (!c || !m) return { firstPageEntries };
  const check: CheckResult = { compared: 0, agreed: 0, mismatches: [] };
  c.forEach((cr, i) => {
    const mr = m[i];
    if (!mr) return;
    check.compared++;
    const cIds = idsOf(cr.bundle);
    const mIds = new Set(idsOf(mr.bundle));
    const path = (paths['custodian-large'] ?? [])[i];
    if (query.walk) {
      // Orders differ (Custodian by id, the peer by insertion): compare page fill only.
      if (cIds.length === mIds.size) check.agreed++;
      else check.mismatches.push(`${path}: custodian page ${cIds.length}, peer page ${mIds.size}`);
      return;
    }
    const ct = cr.bundle?.total;
    const mt = mr.bundle?.total;
    const missing = cIds.filter((id) => !mIds.has(id));
    if ((ct === undefined || ct === mt) && missing.length === 0 && (mt === undefined || cIds.length === Math.min(mt, cIds.length))) check.agreed++;
    else check.mismatches.push(`${path}: custodian total ${ct} page ${cIds.length}, peer total ${mt}; ${missing.length} custodian ids not in the peer's answer`);
  });
  return { firstPageEntries, check };
}

async function main(): Promise<number> {
  const s = readSettings(process.env, BENCH_DIR);
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg();
  mkdirSync(s.dataDir, { recursive: true });
  const workDir = mkdtempSync(join(s.dataDir, 'custodian-search-bench-'));
  const removeWorkDir = (): void => {
    if (!s.keepData) rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', removeWorkDir);
  const servers: Partial<Record<TargetName, ServerProcess>> = {};
  try {
    const large = await largeStore(s);
    const small = await smallStore(s, workDir);

    log('starting custodian on both stores' + (s.peer ? ' and the medplum peer (loading the large store into memory) ...' : ' ...'));
    const startTimeout = 60 * 60_000;
    const [cl, cs, peer] = await Promise.all([
      startCustodian({ repoRoot: REPO_ROOT, dataDir: large.dataDir, name: 'custodian-large', timeoutMs: startTimeout }),
      startCustodian({ repoRoot: REPO_ROOT, dataDir: small.dataDir, name: 'custodian-small', timeoutMs: startTimeout }),
      s.peer && large.ndjsonDir
        ? spawnServer({
            name: 'medplum-large',
            nodeArgs: [`--max-old-space-size=${s.peerHeapMb}`, '--import', 'tsx', join(BENCH_DIR, 'servers', 'medplum-peer.ts')],
            cwd: REPO_ROOT,
            env: { PORT: '0', BENCH_PEER_NDJSON: large.ndjsonDir },
            timeoutMs: startTimeout,
          })
        : Promise.resolve(undefined),
    ]);
    servers['custodian-large'] = cl;
    servers['custodian-small'] = cs;
    if (peer) servers['medplum-large'] = peer;
    const peerLine = peer ? (/peer loaded [^\n]*/.exec(peer.output())?.[0] ?? 'loaded') : undefined;
    if (peerLine) log(peerLine);

    const rows: QueryRow[] = [];
    const failures: string[] = [];
    for (const query of QUERIES.filter((q) => s.queries.includes(q.name))) {
      const paths: Partial<Record<TargetName, string[]>> = {
        'custodian-large': requestPaths(query, large.summaries, s.paths),
        'custodian-small': requestPaths(query, small.summaries, s.paths),
        ...(peer ? { 'medplum-large': requestPaths(query, large.summaries, s.paths) } : {}),
      };
      log(`${query.name}: pre-flight ...`);
      const pre = await preflight(query, servers, paths, s.timeoutMs);
      if (pre.check && pre.check.mismatches.length > 0) log(`  custodian and the peer disagree: ${pre.check.mismatches.join(' | ')}`);
      const results: Partial<Record<TargetName, LoopResult>> = {};
      for (const t of TARGETS) {
        const server = servers[t];
        if (!server) continue;
        const base = new URL(server.baseUrl);
        const isPeer = t === 'medplum-large';
        log(`${query.name} on ${t} ...`);
        const r = await runClosedLoop({
          origin: base.origin,
          basePath: base.pathname,
          connections: s.connections,
          paths: paths[t] as string[],
          ...(query.walk ? { walk: { results: WALK_RESULTS, offsetFallback: isPeer } } : {}),
          seconds: isPeer ? s.peerSeconds : s.seconds,
          minOps: s.minOps,
          maxOps: s.maxOps,
          // The pre-flight already warmed the peer; its scans take seconds each.
          warmupOps: isPeer ? 0 : s.warmupOps,
          timeoutMs: s.timeoutMs,
        });
        results[t] = r;
        log(`  ${r.ok} ops in ${r.durationS.toFixed(1)} s: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.opsPerSec.toFixed(1)} ops/s, failed ${r.failed}`);
        const exited = server.exited();
        if (exited) throw new Error(`${t} exited during ${query.name} (code ${exited.code}, signal ${exited.signal})\n${server.output()}`);
        if (r.ok === 0 || r.failed / (r.ok + r.failed) > MAX_FAILURE_RATIO) {
          failures.push(`${query.name} on ${t}: ok=${r.ok} failed=${r.failed} ${JSON.stringify(r.statusCodes)} ${r.errorSamples.join(' | ')}`);
        }
        if (query.walk && r.ok > 0 && r.meanEntries < WALK_RESULTS) log(`  note: walks read ${r.meanEntries.toFixed(0)} entries, fewer than ${WALK_RESULTS}`);
      }
      rows.push({
        name: query.name,
        label: query.label,
        paths: Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, v.length])),
        results,
        ...pre,
      });
    }

    const report: SearchBenchReport = {
      startedAt,
      machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, loadAvg: loadAtStart },
      settings: { ...s, visits: `${s.visits.min}-${s.visits.max}` },
      stores: { large: large.info, small: small.info },
      ...(peerLine ? { peer: { loadLine: peerLine } } : {}),
      rows,
      failures,
    };
    process.stdout.write(formatSearchReport(report));
    const resultsDir = join(BENCH_DIR, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const json = JSON.stringify(report, null, 2) + '\n';
    writeFileSync(join(resultsDir, 'search-latest.json'), json);
    writeFileSync(join(resultsDir, `search-${startedAt.replace(/[:.]/g, '-')}.json`), json);
    log(`results written to ${join(resultsDir, 'search-latest.json')}`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(Object.values(servers).map((srv) => srv.stop().catch((err: unknown) => log(`stopping ${srv.name}: ${(err as Error).message}`))));
    killAllChildrenNow();
    removeWorkDir();
    if (s.keepData) log(`kept ${workDir}`);
  }
}

/** Entry point used by bench/run.ts for `npm run bench -- search`. */
export function runSearchBench(): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`\nbench search FAILED: ${(err as Error)?.stack ?? String(err)}\n`);
      killAllChildrenNow();
      process.exit(1);
    },
  );
}
