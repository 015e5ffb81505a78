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
import { fetchBundle, matchCount, RequestTimeout, runClosedLoop, type LoopResult } from './closed-loop.js';
import { QUERIES, WALK_RESULTS, requestPaths, type QueryDef } from './queries.js';
import { formatSearchReport, TARGETS, type CheckResult, type QueryRow, type SearchBenchReport, type StoreInfo, type TargetName } from './search-report.js';
import { patientsFor, readSettings, type SearchBenchSettings } from './settings.js';
import { LAYOUT, cacheEntry, cacheKey, pruneStale, readManifest, writeManifest, type StoreManifest } from './store-cache.js';
import type { PatientSummary } from './patient-summary.js';
import { startCustodian, type CustodianProcess } from '../servers/custodian.js';
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
    layout: LAYOUT,
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

type Answer = Awaited<ReturnType<typeof fetchBundle>>;

/** Custodian's bearer token; the peer takes none. */
function headersOf(server: ServerProcess): Readonly<Record<string, string>> {
  return (server as Partial<CustodianProcess>).requestHeaders ?? {};
}

/** The first requests of a query, parsed; a Custodian answer other than 200 stops the run. */
async function firstAnswers(t: TargetName, server: ServerProcess, query: QueryDef, paths: readonly string[], timeoutMs: number): Promise<Answer[]> {
  const base = new URL(server.baseUrl);
  const out: Answer[] = [];
  for (const path of paths.slice(0, CHECK_REQUESTS)) {
    const res = await fetchBundle(base.origin, base.pathname + path, timeoutMs, headersOf(server));
    if (res.status !== 200 || !res.bundle) throw new Error(`${t}: ${query.name} pre-flight ${path} answered ${res.status}: ${res.body.slice(0, 400)}`);
    out.push(res);
  }
  return out;
}

const meanMatches = (answers: readonly Answer[]): number => answers.reduce((n, r) => n + matchCount(r.bundle ?? {}), 0) / Math.max(1, answers.length);

/**
 * Custodian and the peer hold the same resources with the same ids, so on the same request
 * they must agree on the total and the peer's answer must contain Custodian's first page.
 */
function compareAnswers(query: QueryDef, paths: readonly string[], c: readonly Answer[], m: readonly Answer[]): CheckResult {
  const check: CheckResult = { compared: 0, agreed: 0, mismatches: [] };
  c.forEach((cr, i) => {
    const mr = m[i];
    if (!mr) return;
    check.compared++;
    const cIds = idsOf(cr.bundle);
    const mIds = new Set(idsOf(mr.bundle));
    if (query.walk) {
      // Orders differ (Custodian by id, the peer by insertion): compare how full the page is.
      if (cIds.length === mIds.size) check.agreed++;
      else check.mismatches.push(`${paths[i]}: custodian page ${cIds.length}, peer page ${mIds.size}`);
      return;
    }
    const ct = cr.bundle?.total;
    const mt = mr.bundle?.total;
    const missing = cIds.filter((id) => !mIds.has(id)).length;
    if ((ct === undefined || ct === mt) && missing === 0) check.agreed++;
    else check.mismatches.push(`${paths[i]}: custodian total ${ct} page ${cIds.length}, peer total ${mt}; ${missing} custodian ids missing from the peer's answer`);
  });
  return check;
}

/** A peer figure for a query whose first request did not answer in time. */
function timedOutResult(timeoutMs: number, message: string): LoopResult {
  return {
    ok: 0, failed: 1, requests: 1, p50Ms: NaN, p99Ms: NaN, meanMs: NaN, maxMs: NaN, opsPerSec: 0, durationS: timeoutMs / 1000,
    meanEntries: NaN, meanBytes: NaN, statusCodes: {}, errorSamples: [message], timedOut: true, timeoutMs,
  };
}

/** The peer process, restarted (and reloaded) when a runaway scan has to be abandoned. */
class Peer {
  private proc: ServerProcess | undefined;
  readonly loadLines: string[] = [];
  constructor(private readonly spawnIt: () => Promise<ServerProcess>) {}

  async get(): Promise<ServerProcess> {
    if (this.proc && !this.proc.exited()) return this.proc;
    const p = await this.spawnIt();
    this.proc = p;
    const line = /peer loaded [^\n]*/.exec(p.output())?.[0] ?? 'peer loaded';
    this.loadLines.push(line);
    log(line);
    return p;
  }

  /** SIGKILL is the only way out of a synchronous scan; the next get() reloads the data. */
  async abandon(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) await p.stop(1000);
  }

  current(): ServerProcess | undefined {
    return this.proc;
  }
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
  const servers: Partial<Record<'custodian-large' | 'custodian-small', ServerProcess>> = {};
  let peer: Peer | undefined;
  try {
    const large = await largeStore(s);
    const small = await smallStore(s, workDir);

    const startTimeout = 60 * 60_000;
    const ndjsonDir = large.ndjsonDir;
    if (s.peer && ndjsonDir) {
      peer = new Peer(() =>
        spawnServer({
          name: 'medplum-large',
          nodeArgs: [`--max-old-space-size=${s.peerHeapMb}`, '--import', 'tsx', join(BENCH_DIR, 'servers', 'medplum-peer.ts')],
          cwd: REPO_ROOT,
          env: { PORT: '0', BENCH_PEER_NDJSON: ndjsonDir },
          timeoutMs: startTimeout,
        }),
      );
    }
    log('starting custodian on both stores' + (peer ? ' and the medplum peer (loading the large store into memory) ...' : ' ...'));
    const [cl, cs] = await Promise.all([
      startCustodian({ repoRoot: REPO_ROOT, dataDir: large.dataDir, name: 'custodian-large', timeoutMs: startTimeout }),
      startCustodian({ repoRoot: REPO_ROOT, dataDir: small.dataDir, name: 'custodian-small', timeoutMs: startTimeout }),
      peer?.get(),
    ]);
    servers['custodian-large'] = cl;
    servers['custodian-small'] = cs;

    const rows: QueryRow[] = [];
    const failures: string[] = [];
    const check = (t: TargetName, server: ServerProcess, query: QueryDef, r: LoopResult): void => {
      log(`  ${r.ok} ops in ${r.durationS.toFixed(1)} s: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.opsPerSec.toFixed(2)} ops/s, failed ${r.failed}${r.timedOut ? ' (timed out)' : ''}`);
      const exited = server.exited();
      if (exited && t !== 'medplum-large') throw new Error(`${t} exited during ${query.name} (code ${exited.code}, signal ${exited.signal})\n${server.output()}`);
      // A peer request past its limit is a result (a lower bound), not a broken measurement.
      const failed = r.timedOut ? r.failed - 1 : r.failed;
      if ((r.ok === 0 && !r.timedOut) || failed / Math.max(1, r.ok + failed) > MAX_FAILURE_RATIO) {
        failures.push(`${query.name} on ${t}: ok=${r.ok} failed=${r.failed} ${JSON.stringify(r.statusCodes)} ${r.errorSamples.join(' | ')}`);
      }
      if (query.walk && r.ok > 0 && r.meanEntries < WALK_RESULTS) log(`  note: walks read ${r.meanEntries.toFixed(0)} entries, fewer than ${WALK_RESULTS}`);
    };

    for (const query of QUERIES.filter((q) => s.queries.includes(q.name))) {
      const paths: Partial<Record<TargetName, string[]>> = {
        'custodian-large': requestPaths(query, large.summaries, s.paths),
        'custodian-small': requestPaths(query, small.summaries, s.paths),
        ...(peer ? { 'medplum-large': requestPaths(query, large.summaries, s.paths) } : {}),
      };
      const results: Partial<Record<TargetName, LoopResult>> = {};
      const throughput: Partial<Record<TargetName, LoopResult>> = {};
      const firstPageEntries: Partial<Record<TargetName, number>> = {};
      const answers: Partial<Record<TargetName, Answer[]>> = {};

      for (const t of ['custodian-large', 'custodian-small'] as const) {
        const server = servers[t] as ServerProcess;
        const tPaths = paths[t] as string[];
        log(`${query.name} on ${t}: pre-flight, then load ...`);
        answers[t] = await firstAnswers(t, server, query, tPaths, s.timeoutMs);
        firstPageEntries[t] = meanMatches(answers[t]);
        if (firstPageEntries[t] === 0) log(`  warning: the pre-flight requests matched nothing`);
        const base = new URL(server.baseUrl);
        const run = (connections: number, warmupOps: number): Promise<LoopResult> =>
          runClosedLoop({
            origin: base.origin,
            basePath: base.pathname,
            connections,
            paths: tPaths,
            ...(query.walk ? { walk: { results: WALK_RESULTS, offsetFallback: false } } : {}),
            seconds: s.seconds,
            minOps: s.minOps,
            maxOps: s.maxOps,
            warmupOps,
            timeoutMs: s.timeoutMs,
            headers: headersOf(server),
          });
        // Latency from one client (no queueing inside the server), throughput from several.
        const r = await run(1, s.warmupOps);
        results[t] = r;
        check(t, server, query, r);
        if (s.connections > 1) {
          log(`  throughput with ${s.connections} connections ...`);
          const tr = await run(s.connections, 0);
          throughput[t] = tr;
          check(t, server, query, tr);
        }
      }

      let checked: CheckResult | undefined;
      if (peer) {
        const t = 'medplum-large';
        const tPaths = paths[t] as string[];
        // Any reload happens here, while the Custodian servers are idle.
        const server = await peer.get();
        log(`${query.name} on ${t}: pre-flight (limit ${s.peerTimeoutMs / 1000} s per request), then load ...`);
        let pre: Answer[] | undefined;
        try {
          pre = await firstAnswers(t, server, query, tPaths, s.peerTimeoutMs);
        } catch (err) {
          if (!(err instanceof RequestTimeout)) throw err;
          results[t] = timedOutResult(s.peerTimeoutMs, err.message);
          log(`  no answer within ${s.peerTimeoutMs / 1000} s; restarting the peer`);
          await peer.abandon();
        }
        if (pre) {
          answers[t] = pre;
          firstPageEntries[t] = meanMatches(pre);
          checked = compareAnswers(query, tPaths, answers['custodian-large'] ?? [], pre);
          if (checked.mismatches.length > 0) log(`  custodian and the peer disagree: ${checked.mismatches.join(' | ')}`);
          const base = new URL(server.baseUrl);
          const r = await runClosedLoop({
            origin: base.origin,
            basePath: base.pathname,
            connections: 1,
            // The pre-flight requests were its warm-up; measure from the next path on.
            paths: [...tPaths.slice(CHECK_REQUESTS), ...tPaths.slice(0, CHECK_REQUESTS)],
            ...(query.walk ? { walk: { results: WALK_RESULTS, offsetFallback: true } } : {}),
            seconds: s.peerSeconds,
            minOps: s.minOps,
            maxOps: s.maxOps,
            warmupOps: 0,
            timeoutMs: s.peerTimeoutMs,
            stopOnTimeout: true,
          });
          results[t] = r;
          check(t, server, query, r);
          if (r.timedOut) {
            log(`  a request ran past ${s.peerTimeoutMs / 1000} s; restarting the peer`);
            await peer.abandon();
          }
        }
      }
      rows.push({
        name: query.name,
        label: query.label,
        paths: Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, v.length])),
        results,
        throughput,
        firstPageEntries,
        ...(checked ? { check: checked } : {}),
      });
    }

    const report: SearchBenchReport = {
      startedAt,
      machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, loadAvg: loadAtStart },
      settings: { ...s, visits: `${s.visits.min}-${s.visits.max}` },
      stores: { large: large.info, small: small.info },
      ...(peer ? { peer: { loadLines: peer.loadLines } } : {}),
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
    const all = [...Object.values(servers), ...(peer?.current() ? [peer.current() as ServerProcess] : [])];
    await Promise.all(all.map((srv) => srv.stop().catch((err: unknown) => log(`stopping ${srv.name}: ${(err as Error).message}`))));
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
