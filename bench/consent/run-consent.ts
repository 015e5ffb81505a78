/**
 * `npm run bench -- consent` (issue 5 §9): what consent enforcement costs. The same server on
 * the same store copy, twice, side by side in one run — **enforced** (server/src/main.ts, the
 * real server) and **unenforced** (bench/servers/custodian-unenforced.ts: the same wiring with
 * `enforceConsent: false`) — loaded with the same tokens and the same requests in interleaved
 * rounds. The store (10,000 patients, Consents on most of them) is built through the real write
 * path and cached (build-consent-store.ts, consent-cache.ts). Also measured once: the time of a
 * Consent PUT (its patient's decisions re-materialised) and the size of the stored decisions.
 * See bench/README.md.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { settleCopy } from '../settle-copy.js';
import { LOINC, Prng } from '../../fixtures/population/index.js';
import { nowUs, summariseCpuProfiles, type ProfileWindow } from '../cpu-profile.js';
import { processCpuUs } from '../process-cpu.js';
import { fetchBundle, matchCount, runClosedLoop, type LoopResult } from '../search/closed-loop.js';
import type { PatientSummary } from '../search/patient-summary.js';
import { benchToken } from '../servers/bench-issuer.js';
import { startCustodian, type CustodianProcess } from '../servers/custodian.js';
import { killAllChildrenNow, type ServerProcess } from '../servers/spawn.js';
import { buildConsentStore, type BuiltConsentStore } from './build-consent-store.js';
import { consentCacheEntry, consentCacheKey, newestConsentManifest, pruneStaleConsentStores, readConsentManifest, writeConsentManifest, CONSENT_CACHE_LAYOUT } from './consent-cache.js';
import {
  formatConsentReport,
  median,
  P50_TARGET_MS,
  SERVERS,
  THROUGHPUT_TARGET,
  type ConsentBenchReport,
  type ConsentChange,
  type Figures,
  type Preflight,
  type ScenarioRow,
  type ServerName,
} from './consent-report.js';
import { ACTORS, SCENARIOS, WALK_RESULTS, codeSearchPath, patientSearchPath, readPath, walkPath, type ActorName } from './scenarios.js';
import { readSettings, type ConsentBenchSettings } from './settings.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = resolve(BENCH_DIR, '..');
const MAX_FAILURE_RATIO = 0.01;
/** Both servers verify tokens for this audience, so they receive byte-identical requests. */
const AUDIENCE = 'https://bench.custodian.invalid/fhir';
const PREFLIGHT_REQUESTS = 3;

const log = (msg: string): void => {
  process.stderr.write(`bench consent: ${msg}\n`);
};

interface Manifest extends BuiltConsentStore {
  key: string;
  layout: number;
  createdAt: string;
  /** The options the store was built with (absent in stores built before it was recorded). */
  params?: Record<string, unknown>;
}

async function store(s: ConsentBenchSettings): Promise<{ manifest: Manifest; cached: boolean; dataDir: string; dir: string; currentKey: string }> {
  const params = { seed: s.seed, visits: s.visits, patients: s.patients, shares: s.shares };
  const key = consentCacheKey(REPO_ROOT, params);
  const entry = consentCacheEntry(s.cacheDir, key, s.patients);
  const cached = s.rebuild ? undefined : readConsentManifest<Manifest>(entry);
  if (cached) {
    log(`REUSING cached consent store ${entry.dir} (${cached.stats.resources.toLocaleString('en-US')} resources, built ${cached.createdAt} in ${cached.stats.totalSeconds.toFixed(0)} s; key ${key})`);
    return { manifest: cached, cached: true, dataDir: entry.dataDir, dir: entry.dir, currentKey: key };
  }
  const stale = s.rebuild || !s.reuseStale ? undefined : newestConsentManifest<Manifest>(s.cacheDir, s.patients, params);
  if (stale) {
    log(
      `REUSING STALE cached consent store ${stale.entry.dir} (BENCH_CONSENT_REUSE_STALE: built ${stale.manifest.createdAt} by code with key ${stale.manifest.key}, ` +
        `the current code's key is ${key}; the server recomputes decisions at start if the consent rules' fingerprint changed)`,
    );
    return { manifest: stale.manifest, cached: true, dataDir: stale.entry.dataDir, dir: stale.entry.dir, currentKey: key };
  }
  log(
    `building the consent store: ${s.patients.toLocaleString('en-US')} patients, seed ${s.seed}, ${s.visits.min}-${s.visits.max} visits, ` +
      `Consents research ${s.shares.research} / employer ${s.shares.employer} / hiv ${s.shares.hiv}, ${s.workers} loader threads -> ${entry.dir}`,
  );
  rmSync(entry.dir, { recursive: true, force: true });
  mkdirSync(entry.dataDir, { recursive: true });
  const built = await buildConsentStore({ dataDir: entry.dataDir, seed: s.seed, visits: s.visits, patients: s.patients, shares: s.shares, workers: s.workers, log });
  const manifest: Manifest = { key, layout: CONSENT_CACHE_LAYOUT, createdAt: new Date().toISOString(), params, ...built };
  writeConsentManifest(entry, manifest);
  pruneStaleConsentStores(s.cacheDir, entry, s.patients, log);
  log(`consent store built in ${built.stats.totalSeconds.toFixed(1)} s`);
  return { manifest, cached: false, dataDir: entry.dataDir, dir: entry.dir, currentKey: key };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rng = new Prng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Laboratory LOINC codes of the population, most common first (by patients having one). */
function commonLabCodes(summaries: readonly PatientSummary[], n: number): string[] {
  const lab = new Set(Object.values(LOINC).filter((c) => c.category === 'laboratory').map((c) => c.code));
  const counts = new Map<string, number>();
  for (const p of summaries) for (const c of p.observationCodes) if (lab.has(c)) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([c]) => c);
}

interface Target {
  server: ServerProcess;
  origin: string;
  basePath: string;
}

const targetOf = (server: ServerProcess): Target => {
  const u = new URL(server.baseUrl);
  return { server, origin: u.origin, basePath: u.pathname };
};

async function httpJson(t: Target, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: unknown; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(t.origin + t.basePath + path, {
    method,
    headers: { accept: 'application/fhir+json', ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, ms };
}

async function main(): Promise<number> {
  const s = readSettings(process.env, BENCH_DIR);
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg();
  const built = await store(s);
  const m = built.manifest;

  mkdirSync(s.dataDir, { recursive: true });
  const workDir = mkdtempSync(join(s.dataDir, 'custodian-consent-bench-'));
  const removeWorkDir = (): void => {
    if (!s.keepData) rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', removeWorkDir);
  const servers: Partial<Record<ServerName, CustodianProcess>> = {};
  const cpuProfDir = s.cpuProf ? resolve(s.cpuProf === '1' || s.cpuProf === 'true' ? join(BENCH_DIR, 'results', 'cpu-profiles', 'consent') : s.cpuProf) : undefined;
  const profDir = (name: ServerName): string | undefined => (cpuProfDir ? join(cpuProfDir, name) : undefined);
  try {
    // One copy for both servers: the cached store stays as built (the Consent PUTs write).
    const dataDir = join(workDir, 'data');
    log(`copying the store to ${dataDir} ...`);
    const c0 = performance.now();
    cpSync(built.dataDir, dataDir, { recursive: true });
    const copySeconds = (performance.now() - c0) / 1000;
    const settleSeconds = settleCopy(dataDir);
    log(`  copied in ${copySeconds.toFixed(1)} s, ${settleSeconds !== undefined ? `written back in ${settleSeconds.toFixed(1)} s` : 'not written back (sync -f unavailable)'}`);

    if (cpuProfDir) {
      for (const name of SERVERS) {
        rmSync(join(cpuProfDir, name), { recursive: true, force: true });
        mkdirSync(join(cpuProfDir, name), { recursive: true });
      }
    }
    // One after the other, so only one process ever does first-start work on the shared store.
    const env = { AUTH_AUDIENCE: AUDIENCE, ...(s.audit ? {} : { BENCH_TWIN_AUDIT: 'off' }) };
    log(`auditing ${s.audit ? 'ON' : 'OFF'} in both servers (BENCH_CONSENT_AUDIT)`);
    const startTimeout = 30 * 60_000;
    const enforcedEntry = s.audit ? 'server/src/main.ts' : 'bench/servers/custodian-unaudited.ts';
    servers.enforced = await startCustodian({
      repoRoot: REPO_ROOT,
      dataDir,
      name: 'enforced',
      env,
      timeoutMs: startTimeout,
      entry: enforcedEntry,
      ...(cpuProfDir ? { cpuProfDir: profDir('enforced') } : {}),
    });
    log(`enforced (${enforcedEntry}) at ${servers.enforced.baseUrl}`);
    servers.unenforced = await startCustodian({
      repoRoot: REPO_ROOT,
      dataDir,
      name: 'unenforced',
      env,
      timeoutMs: startTimeout,
      entry: 'bench/servers/custodian-unenforced.ts',
      ...(cpuProfDir ? { cpuProfDir: profDir('unenforced') } : {}),
    });
    log(`unenforced (bench/servers/custodian-unenforced.ts) at ${servers.unenforced.baseUrl}`);
    const targets = { enforced: targetOf(servers.enforced), unenforced: targetOf(servers.unenforced) } as Record<ServerName, Target>;
    const admin = { authorization: servers.enforced.requestHeaders.authorization as string };

    const tokens = {} as Record<ActorName, Record<string, string>>;
    for (const a of Object.keys(ACTORS) as ActorName[]) tokens[a] = { authorization: await benchToken(AUDIENCE, ACTORS[a], `bench-${a}`) };

    const patients = shuffled(m.summaries, 20250101);
    const labCodes = commonLabCodes(m.summaries, 3);
    log(`lab codes for the researcher: ${labCodes.join(', ')}`);

    const rows: ScenarioRow[] = [];
    const failures: string[] = [];
    const windows: Record<ServerName, ProfileWindow[]> = { enforced: [], unenforced: [] };
    const check = (name: ServerName, label: string, r: LoopResult): void => {
      log(`  ${name}: ${r.ok} ops in ${r.durationS.toFixed(1)} s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.opsPerSec.toFixed(1)} ops/s, failed ${r.failed}`);
      const exited = targets[name].server.exited();
      if (exited) throw new Error(`${name} exited during ${label} (code ${exited.code}, signal ${exited.signal})\n${targets[name].server.output()}`);
      if (r.ok === 0 || r.failed / Math.max(1, r.ok + r.failed) > MAX_FAILURE_RATIO) {
        failures.push(`${label} on ${name}: ok=${r.ok} failed=${r.failed} ${JSON.stringify(r.statusCodes)} ${r.errorSamples.join(' | ')}`);
      }
    };

    for (const sc of SCENARIOS.filter((x) => s.scenarios.includes(x.name))) {
      const headers = tokens[sc.actor];
      let paths: string[];
      let deniedIdsLeftOut: number | undefined;
      const preflight = {} as Record<ServerName, Preflight>;
      if (sc.kind === 'read') {
        // Every sampled id is read by both servers; the ones consent denies this requester
        // (404 on the enforced server) are counted and left out, so both get the same 200s.
        const candidates = m.observationSample.slice(0, s.paths).map(readPath);
        const ok: string[] = [];
        let deniedHere = 0;
        for (const p of candidates) {
          const e = await fetchBundle(targets.enforced.origin, targets.enforced.basePath + p, s.timeoutMs, headers);
          const u = await fetchBundle(targets.unenforced.origin, targets.unenforced.basePath + p, s.timeoutMs, headers);
          if (u.status !== 200) throw new Error(`unenforced: ${sc.name} pre-flight ${p} answered ${u.status}: ${u.body.slice(0, 300)}`);
          if (e.status === 200) ok.push(p);
          else if (e.status === 404) deniedHere++;
          else throw new Error(`enforced: ${sc.name} pre-flight ${p} answered ${e.status}: ${e.body.slice(0, 300)}`);
        }
        paths = ok;
        deniedIdsLeftOut = deniedHere;
        preflight.enforced = { meanEntries: ok.length / candidates.length };
        preflight.unenforced = { meanEntries: 1 };
      } else {
        paths =
          sc.kind === 'patient-search'
            ? patients.slice(0, s.paths).map((p) => patientSearchPath(p.id))
            : sc.kind === 'code-search'
              ? labCodes.map(codeSearchPath)
              : labCodes.map(walkPath);
        for (const name of SERVERS) {
          let entries = 0;
          let totals = 0;
          let withTotal = 0;
          const n = Math.min(PREFLIGHT_REQUESTS, paths.length);
          for (const p of paths.slice(0, n)) {
            const res = await fetchBundle(targets[name].origin, targets[name].basePath + p, s.timeoutMs, headers);
            if (res.status !== 200 || !res.bundle) throw new Error(`${name}: ${sc.name} pre-flight ${p} answered ${res.status}: ${res.body.slice(0, 400)}`);
            entries += matchCount(res.bundle);
            if (typeof res.bundle.total === 'number') {
              totals += res.bundle.total;
              withTotal++;
            }
          }
          preflight[name] = { meanEntries: entries / n, ...(withTotal > 0 ? { meanTotal: totals / withTotal } : {}) };
        }
      }
      log(`${sc.name}: ${sc.label} — ${paths.length} paths; pre-flight entries enforced ${preflight.enforced.meanEntries.toFixed(2)}, unenforced ${preflight.unenforced.meanEntries.toFixed(2)}`);
      if (paths.length === 0) {
        failures.push(`${sc.name}: no request path`);
        continue;
      }

      const rounds: Record<ServerName, { latency: LoopResult[]; throughput: LoopResult[]; cpuUsPerRequest: number[] }> = {
        enforced: { latency: [], throughput: [], cpuUsPerRequest: [] },
        unenforced: { latency: [], throughput: [], cpuUsPerRequest: [] },
      };
      for (let round = 1; round <= s.rounds; round++) {
        const order: ServerName[] = round % 2 === 1 ? ['enforced', 'unenforced'] : ['unenforced', 'enforced'];
        for (const name of order) {
          const t = targets[name];
          const run = (connections: number, seconds: number, minOps: number, maxOps: number): Promise<LoopResult> =>
            runClosedLoop({
              origin: t.origin,
              basePath: t.basePath,
              connections,
              paths,
              ...(sc.kind === 'walk' ? { walk: { results: WALK_RESULTS, offsetFallback: false } } : {}),
              seconds,
              minOps,
              maxOps,
              warmupOps: 0,
              timeoutMs: s.timeoutMs,
              headers,
            });
          const label = `${sc.name} round ${round}`;
          // Warm-up as its own run, so profile windows hold measured requests only; the slow
          // scenarios (a search counting thousands of matches, a 10-page walk) need few.
          const warmup = sc.kind === 'read' || sc.kind === 'patient-search' ? s.warmupOps : Math.min(s.warmupOps, 3);
          if (warmup > 0) await run(1, 0, warmup, warmup);
          log(`${label} ${name}: latency (1 connection) ...`);
          let t0 = nowUs();
          const lat = await run(1, s.seconds, s.minOps, 10_000_000);
          windows[name].push({ label: `${label} latency`, startUs: t0, endUs: nowUs(), requests: lat.requests });
          check(name, `${label} latency`, lat);
          rounds[name].latency.push(lat);
          log(`${label} ${name}: throughput (${s.connections} connections) ...`);
          t0 = nowUs();
          const cpu0 = processCpuUs(t.server.pid);
          const thr = await run(s.connections, s.seconds, s.minOps, 10_000_000);
          const cpu1 = processCpuUs(t.server.pid);
          windows[name].push({ label: `${label} throughput`, startUs: t0, endUs: nowUs(), requests: thr.requests });
          check(name, `${label} throughput`, thr);
          rounds[name].throughput.push(thr);
          if (cpu0 !== undefined && cpu1 !== undefined && thr.requests > 0) rounds[name].cpuUsPerRequest.push((cpu1 - cpu0) / thr.requests);
        }
      }
      const figures = (name: ServerName): Figures => ({
        p50Ms: median(rounds[name].latency.map((r) => r.p50Ms)),
        p99Ms: median(rounds[name].latency.map((r) => r.p99Ms)),
        opsPerSec: median(rounds[name].throughput.map((r) => r.opsPerSec)),
        latencyRounds: rounds[name].latency,
        throughputRounds: rounds[name].throughput,
        cpuUsPerRequest: rounds[name].cpuUsPerRequest,
      });
      const e = figures('enforced');
      const u = figures('unenforced');
      const lat0 = rounds.unenforced.latency[0] as LoopResult;
      const requestsPerOp = lat0.ok > 0 ? lat0.requests / (lat0.ok + lat0.failed) : 1;
      const throughputRatio = e.opsPerSec / u.opsPerSec;
      const p50AddedMs = e.p50Ms - u.p50Ms;
      const p50AddedPerRequestMs = p50AddedMs / Math.max(1, requestsPerOp);
      rows.push({
        name: sc.name,
        label: sc.label,
        paths: paths.length,
        ...(deniedIdsLeftOut !== undefined ? { deniedIdsLeftOut } : {}),
        requestsPerOp,
        preflight,
        results: { enforced: e, unenforced: u },
        throughputRatio,
        p50AddedMs,
        p50AddedPerRequestMs,
        meetsThroughput: throughputRatio >= THROUGHPUT_TARGET,
        meetsLatency: p50AddedPerRequestMs <= P50_TARGET_MS,
      });
    }

    // The cost of a Consent change, on the enforced server, after the load: small, median and
    // large patients among those whose research Consent the build recorded sizes for.
    const consentChange: ConsentChange[] = [];
    const sizes = m.patientSizes;
    const picks = sizes.length === 0 ? [] : [...new Set([0, Math.floor((sizes.length - 1) / 2), sizes.length - 1])].map((i) => sizes[i] as (typeof sizes)[number]);
    for (const pick of picks) {
      const consentId = m.consented.find((c) => c.id === pick.id)?.consents.research;
      if (!consentId) continue;
      const t = targets.enforced;
      const cur = await httpJson(t, 'GET', `/Consent/${consentId}`, admin);
      const pat = await httpJson(t, 'GET', `/Patient/${pick.id}`, admin);
      if (cur.status !== 200 || pat.status !== 200) {
        failures.push(`consent change: GET Consent/${consentId} ${cur.status}, Patient/${pick.id} ${pat.status}`);
        continue;
      }
      const change: ConsentChange = { patient: pick.id, resources: pick.resources, consentPutMs: [], plainPutMs: [] };
      // The Consent PUTs back to back (one profile window), then the Patient PUTs.
      const c0 = nowUs();
      for (let i = 0; i < s.consentPuts; i++) {
        const consent: Record<string, unknown> = { ...(cur.json as Record<string, unknown>), dateTime: `2024-06-${String(2 + i).padStart(2, '0')}T09:00:00Z` };
        delete consent.meta;
        const r = await httpJson(t, 'PUT', `/Consent/${consentId}`, admin, consent);
        if (r.status !== 200) failures.push(`consent change: PUT Consent/${consentId} answered ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
        else change.consentPutMs.push(r.ms);
      }
      windows.enforced.push({ label: `Consent PUT of a patient with ${pick.resources} resources`, startUs: c0, endUs: nowUs(), requests: s.consentPuts });
      for (let i = 0; i < s.consentPuts; i++) {
        const patient: Record<string, unknown> = { ...(pat.json as Record<string, unknown>), active: i % 2 === 1 };
        delete patient.meta;
        const p = await httpJson(t, 'PUT', `/Patient/${pick.id}`, admin, patient);
        if (p.status !== 200) failures.push(`consent change: PUT Patient/${pick.id} answered ${p.status}: ${JSON.stringify(p.json).slice(0, 300)}`);
        else change.plainPutMs.push(p.ms);
      }
      log(`consent change: Patient/${pick.id} (${pick.resources} resources): Consent PUT median ${median(change.consentPutMs).toFixed(1)} ms, Patient PUT ${median(change.plainPutMs).toFixed(1)} ms`);
      consentChange.push(change);
    }

    const report: ConsentBenchReport = {
      startedAt,
      machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, loadAvg: loadAtStart },
      settings: { ...s, visits: `${s.visits.min}-${s.visits.max}`, audience: AUDIENCE, labCodes },
      store: { key: m.key, currentKey: built.currentKey, cached: built.cached, builtAt: m.createdAt, dir: built.dir, build: m.stats, size: m.size, copySeconds },
      rows,
      consentChange,
      failures,
    };
    process.stdout.write(formatConsentReport(report));
    const resultsDir = join(BENCH_DIR, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const json = JSON.stringify(report, null, 2) + '\n';
    writeFileSync(join(resultsDir, 'consent-latest.json'), json);
    writeFileSync(join(resultsDir, `consent-${startedAt.replace(/[:.]/g, '-')}.json`), json);
    log(`results written to ${join(resultsDir, 'consent-latest.json')}`);

    if (cpuProfDir) {
      log('stopping the servers to flush their CPU profiles ...');
      for (const name of SERVERS) {
        await (servers[name] as ServerProcess).stop(30_000);
        process.stdout.write(summariseCpuProfiles(name, profDir(name) as string, REPO_ROOT, windows[name]));
      }
    }
    return failures.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(Object.values(servers).map((srv) => srv.stop().catch((err: unknown) => log(`stopping ${srv.name}: ${(err as Error).message}`))));
    killAllChildrenNow();
    removeWorkDir();
    if (s.keepData) log(`kept ${workDir}`);
  }
}

/** Entry point used by bench/run.ts for `npm run bench -- consent`. */
export function runConsentBench(): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`\nbench consent FAILED: ${(err as Error)?.stack ?? String(err)}\n`);
      killAllChildrenNow();
      process.exit(1);
    },
  );
}
