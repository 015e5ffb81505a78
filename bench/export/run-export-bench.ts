/**
 * `npm run bench -- export` (options and output: bench/README.md): a Bulk Data Patient-level export of the consent benchmark's
 * population (bench/consent/: the same cached store, built once through the server's real
 * write path, research opt-ins for 60 % of the patients), run by the real export job
 * (ops/export) as the demo research backend (purpose HRESCH), side by side:
 *
 * - **filtered**: the server as it runs, every read through the research client's consent gate;
 * - **unfiltered**: the same server built with `enforceConsent: false` (no gate), the same job.
 *
 * Each side runs on its own copy of the store (a job writes its integrity DocumentReference),
 * rounds interleaved. Printed per job: peak RSS and anonymous memory sampled every 20 ms against
 * the values before it, CPU seconds, steal time, major page faults and GC pauses; per side:
 * resources/s, MB/s, candidates examined/s; then the ratio of resources/s and the elapsed-time
 * ratio. With BENCH_EXPORT_COHORTS, Group-level exports of those sizes follow on the same store. Job AuditEvents are off on both sides (like
 * BENCH_CONSENT_AUDIT's default), so the ratios isolate the gate.
 *
 * Candidates: the resources of the cohort's compartments that the job's queries reach before
 * consent decides, i.e. what the same export writes with the gate off (the unfiltered side's
 * count; same store, batches and scopes). The filtered side examines all of them and writes
 * those the gate permits, so resources/s alone mixes the gate's cost with its selectivity:
 * candidates/s and the elapsed-time ratio (unfiltered s / filtered s) show the cost alone.
 *
 * BENCH_EXPORT_PATIENTS (default 10000), BENCH_EXPORT_ROUNDS (default 2),
 * BENCH_EXPORT_BATCH (patients per batch, default 500); for diagnosis, BENCH_EXPORT_ONLY
 * (`filtered` or `unfiltered`: that side alone, no comparison) and BENCH_EXPORT_CPU_PROF (a
 * directory: a CPU profile of each job, the store's opening left out), BENCH_EXPORT_COHORTS
 * (comma-separated cohort sizes); the store cache and its variables are
 * the consent benchmark's (BENCH_CONSENT_CACHE_DIR, BENCH_CONSENT_REBUILD, BENCH_CONSENT_WORKERS).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { settleCopy } from '../settle-copy.js';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies, type Dependencies } from '../../server/src/dependencies.js';
import { ORG } from '../../fixtures/population/organizations.js';
import { buildConsentStore, BUILD_BASE_URL } from '../consent/build-consent-store.js';
import { consentCacheEntry, consentCacheKey, newestConsentManifest, readConsentManifest, writeConsentManifest, CONSENT_CACHE_LAYOUT } from '../consent/consent-cache.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = resolve(BENCH_DIR, '..');
const log = (msg: string): void => {
  process.stderr.write(`bench export: ${msg}\n`);
};

function num(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got '${raw}')`);
  return n;
}

interface Side {
  readonly name: 'filtered' | 'unfiltered';
  readonly enforceConsent: boolean;
}

interface Measure {
  resources: number;
  bytes: number;
  seconds: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  /** Anonymous memory (heap, buffers): RSS without the store's memory-mapped file pages. */
  anonBeforeMb: number;
  anonPeakMb: number;
  /** After a full collection at the end of the job (only when run with --expose-gc). */
  anonAfterGcMb?: number;
  /** V8 heap in use before the job and after that collection: objects the job left behind. */
  heapBeforeMb: number;
  heapAfterGcMb?: number;
  /** Garbage collection pauses during the job: how many, their total and longest (ms). */
  gc: { count: number; totalMs: number; maxMs: number };
  /** This process's CPU seconds during the job, and the machine's steal time (a VM's neighbours; CPU-seconds summed over all CPUs) when /proc/stat tells. */
  cpuSeconds: number;
  stealSeconds?: number;
  /** Page faults that had to read the disk during the job (the store's pages not in the page cache). */
  majorFaults: number;
}

/** The machine's CPU steal time so far, CPU-seconds summed over all CPUs (Linux /proc/stat, USER_HZ 100), or undefined elsewhere. */
function stealSeconds(): number | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
    const steal = Number(fields[8]);
    return fields[0] === 'cpu' && Number.isFinite(steal) ? steal / 100 : undefined;
  } catch {
    return undefined;
  }
}

const RESEARCH = principalFromClaims({
  sub: 'demo-research-backend',
  client_id: 'demo-research-backend',
  scope: 'system/*.rs',
  fhirUser: `Organization/${ORG.research}`,
  purpose_of_use: ['HRESCH'],
  roles: ['research'],
});

async function storeDir(patients: number): Promise<string> {
  const params = { seed: 42, visits: { min: 2, max: 6 }, patients, shares: { research: 0.6, employer: 0.1, hiv: 0.05 } };
  const cacheDir = resolve(process.env.BENCH_CONSENT_CACHE_DIR || resolve(BENCH_DIR, 'results', 'consent-stores'));
  const key = consentCacheKey(REPO_ROOT, params);
  const entry = consentCacheEntry(cacheDir, key, patients);
  if (!process.env.BENCH_CONSENT_REBUILD && readConsentManifest<{ layout: number }>(entry)) {
    log(`REUSING cached consent store ${entry.dir} (key ${key})`);
    return entry.dataDir;
  }
  // As the consent bench: an older complete store (its decisions are recomputed at start if the
  // consent rules changed; a change to the write path is not caught), rather than a 30-minute build.
  const stale = process.env.BENCH_CONSENT_REUSE_STALE && !process.env.BENCH_CONSENT_REBUILD ? newestConsentManifest<{ layout: number; createdAt: string; params?: unknown }>(cacheDir, patients, params) : undefined;
  if (stale && stale.manifest.layout === CONSENT_CACHE_LAYOUT) {
    log(`REUSING the STALE cached consent store ${stale.entry.dir} built ${stale.manifest.createdAt} (current key ${key})`);
    return stale.entry.dataDir;
  }
  log(`building the consent store: ${patients} patients -> ${entry.dir}`);
  rmSync(entry.dir, { recursive: true, force: true });
  mkdirSync(entry.dataDir, { recursive: true });
  const built = await buildConsentStore({ dataDir: entry.dataDir, seed: params.seed, visits: params.visits, patients, shares: params.shares, workers: Math.floor(num('BENCH_CONSENT_WORKERS', 2, 1)), log });
  writeConsentManifest(entry, { key, layout: CONSENT_CACHE_LAYOUT, createdAt: new Date().toISOString(), params, ...built });
  return entry.dataDir;
}

/** RssAnon from /proc (Linux); elsewhere the V8 heap plus buffers, which is what it mostly holds. */
function anonymousBytes(): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  const u = process.memoryUsage();
  return u.heapUsed + u.external + u.arrayBuffers;
}

/**
 * One export on a fresh copy of the store: Patient-level (every patient), or with `cohort` a
 * Group-level export of a Group of that many patients (the first by id), created before the
 * job's measurement starts. The Group shows whether memory follows the cohort's size.
 */
async function runSide(side: Side, source: string, work: string, batch: number, cohort?: number): Promise<Measure> {
  const dataDir = join(work, side.name);
  rmSync(dataDir, { recursive: true, force: true });
  cpSync(source, dataDir, { recursive: true });
  settleCopy(dataDir);
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', BASE_URL: BUILD_BASE_URL, EXPORT_PATIENT_BATCH: String(batch), SEED_ON_FIRST_START: 'false' });
  const deps = await openDependencies(config, pino({ level: 'silent' }), { enforceConsent: side.enforceConsent, audit: false });
  try {
    const groupId = cohort === undefined ? undefined : await createCohortGroup(deps, cohort);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const anonBefore = anonymousBytes();
    const heapBefore = process.memoryUsage().heapUsed;
    let anonPeak = anonBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
      anonPeak = Math.max(anonPeak, anonymousBytes());
    }, 20);
    const profiler = process.env.BENCH_EXPORT_CPU_PROF ? await startProfiler() : undefined;
    const gc = { count: 0, totalMs: 0, maxMs: 0 };
    const countGc = (entries: readonly { duration: number }[]): void => {
      for (const e of entries) {
        gc.count++;
        gc.totalMs += e.duration;
        gc.maxMs = Math.max(gc.maxMs, e.duration);
      }
    };
    const gcObserver = new PerformanceObserver((list) => countGc(list.getEntries()));
    gcObserver.observe({ entryTypes: ['gc'] });
    const steal0 = stealSeconds();
    const cpu0 = process.cpuUsage();
    const faults0 = process.resourceUsage().majorPageFault;
    const t0 = performance.now();
    const path = groupId === undefined ? 'Patient/$export' : `Group/${groupId}/$export`;
    const job = deps.exports.kickOff(RESEARCH, { level: groupId === undefined ? 'patient' : 'group', ...(groupId !== undefined ? { groupId } : {}), typeFilters: [], deidentify: false, lenient: false }, {
      request: `${BUILD_BASE_URL}/${path}`,
      rawRequest: path,
      method: 'GET',
      baseUrl: BUILD_BASE_URL,
    });
    if (!job) throw new Error('kick-off refused');
    deps.exports.start();
    await deps.exports.idle();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const majorFaults = process.resourceUsage().majorPageFault - faults0;
    const steal1 = stealSeconds();
    countGc(gcObserver.takeRecords());
    gcObserver.disconnect();
    if (profiler) log(`CPU profile of the ${side.name} job: ${await profiler.stop(join(resolve(process.env.BENCH_EXPORT_CPU_PROF as string), `export-${side.name}-${Date.now()}.cpuprofile`))}`);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    anonPeak = Math.max(anonPeak, anonymousBytes());
    let anonAfterGc: number | undefined;
    let heapAfterGc: number | undefined;
    if (global.gc) {
      global.gc();
      anonAfterGc = anonymousBytes();
      heapAfterGc = process.memoryUsage().heapUsed;
    }
    const view = deps.exports.view(RESEARCH, job.id);
    if (view.state !== 'completed') throw new Error(`the ${side.name} job ended ${view.state}`);
    const files = view.job.output ?? [];
    return {
      resources: files.reduce((n, f) => n + f.count, 0),
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      seconds,
      rssBeforeMb: rssBefore / 2 ** 20,
      rssPeakMb: peak / 2 ** 20,
      anonBeforeMb: anonBefore / 2 ** 20,
      anonPeakMb: anonPeak / 2 ** 20,
      heapBeforeMb: heapBefore / 2 ** 20,
      gc,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      majorFaults,
      ...(steal0 !== undefined && steal1 !== undefined ? { stealSeconds: steal1 - steal0 } : {}),
      ...(anonAfterGc !== undefined ? { anonAfterGcMb: anonAfterGc / 2 ** 20 } : {}),
      ...(heapAfterGc !== undefined ? { heapAfterGcMb: heapAfterGc / 2 ** 20 } : {}),
    };
  } finally {
    await deps.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * A Group (actual, person) of the first `size` patients by id, written through the server's own
 * write path (as the server itself: the export route's own Group checks are not what is measured).
 */
async function createCohortGroup(deps: Dependencies, size: number): Promise<string> {
  const ids: string[] = [];
  let after: unknown[] | undefined;
  while (ids.length < size) {
    const page = await deps.store.search({ resourceType: 'Patient', filter: {}, limit: Math.min(1000, size - ids.length), idsOnly: true, ...(after ? { after } : {}) });
    for (const m of page.resources) ids.push(m.id);
    const last = page.resources[page.resources.length - 1];
    if (!last || page.resources.length === 0) break;
    after = last.sortValues;
  }
  if (ids.length < size) throw new Error(`BENCH_EXPORT_COHORTS: the store holds ${ids.length} patients, fewer than ${size}`);
  const id = `bench-cohort-${size}`;
  const group = { resourceType: 'Group', id, type: 'person', actual: true, member: ids.map((p) => ({ entity: { reference: `Patient/${p}` } })) };
  const res = await deps.fhir.handle({ method: 'PUT', path: `Group/${id}`, query: {}, body: group, headers: { 'content-type': 'application/fhir+json' }, baseUrl: BUILD_BASE_URL });
  if (res.status >= 300) throw new Error(`creating Group/${id} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  return id;
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Profiles this process from now until stop() (the job only, not the store's opening). */
async function startProfiler(): Promise<{ stop(file: string): Promise<string> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((res, rej) => session.post(method, params ?? {}, (err, result) => (err ? rej(err) : res(result))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

export async function runExportBench(): Promise<void> {
  const patients = Math.floor(num('BENCH_EXPORT_PATIENTS', 10_000, 20));
  const rounds = Math.floor(num('BENCH_EXPORT_ROUNDS', 2, 1));
  const batch = Math.floor(num('BENCH_EXPORT_BATCH', 500, 1));
  const source = await storeDir(patients);
  const work = mkdtempSync(join(resolve(process.env.BENCH_DATA_DIR || tmpdir()), 'custodian-export-bench-'));
  const only = process.env.BENCH_EXPORT_ONLY;
  if (only !== undefined && only !== 'filtered' && only !== 'unfiltered') throw new Error(`BENCH_EXPORT_ONLY must be filtered or unfiltered (got '${only}')`);
  const sides: Side[] = (
    [
      { name: 'filtered', enforceConsent: true },
      { name: 'unfiltered', enforceConsent: false },
    ] as const
  ).filter((s) => only === undefined || s.name === only);
  const cohorts = (process.env.BENCH_EXPORT_COHORTS ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1 || n > patients) throw new Error(`BENCH_EXPORT_COHORTS: '${x}' is not a whole number of patients in [1, ${patients}]`);
      return n;
    });
  const results: Record<Side['name'], Measure[]> = { filtered: [], unfiltered: [] };
  const byCohort: { size: number; m: Measure }[] = [];
  const describe = (m: Measure): string =>
    `${fmt(m.resources)} resources, ${fmt(m.bytes / 2 ** 20, 1)} MB in ${fmt(m.seconds, 2)} s; RSS ${fmt(m.rssBeforeMb)} -> peak ${fmt(m.rssPeakMb)} MB; anonymous +${fmt(m.anonPeakMb - m.anonBeforeMb)} MB peak; CPU ${fmt(m.cpuSeconds, 1)} s${m.stealSeconds !== undefined ? `, machine steal ${fmt(m.stealSeconds, 1)} CPU-s` : ''}, ${fmt(m.majorFaults)} major page faults; GC ${m.gc.count} pauses, ${fmt(m.gc.totalMs)} ms (longest ${fmt(m.gc.maxMs, 1)})`;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const m = await runSide(side, source, work, batch);
        results[side.name].push(m);
        log(`round ${r + 1} ${side.name}: ${describe(m)}`);
      }
    }
    // Memory against cohort size: Group exports through the gate (whatever BENCH_EXPORT_ONLY says), one size after another.
    for (const size of cohorts) {
      const m = await runSide({ name: 'filtered', enforceConsent: true }, source, work, batch, size);
      byCohort.push({ size, m });
      log(`cohort of ${fmt(size)} (Group export, filtered): ${describe(m)}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const cohortLines = byCohort.length === 0 ? [] : [
    '',
    'Memory against cohort size (Group-level export through the gate, same store; the Patient-level rows above are every patient):',
    '',
    '| cohort (patients) | resources | seconds | anonymous memory growth, peak | after a full GC | V8 heap after a full GC |',
    '|---|---|---|---|---|---|',
    ...byCohort.map(({ size, m }) => `| ${fmt(size)} | ${fmt(m.resources)} | ${fmt(m.seconds, 2)} | ${fmt(m.anonPeakMb - m.anonBeforeMb)} MB | ${m.anonAfterGcMb !== undefined ? `${fmt(m.anonAfterGcMb - m.anonBeforeMb)} MB` : '–'} | ${m.heapAfterGcMb !== undefined ? `${fmt(m.heapAfterGcMb - m.heapBeforeMb)} MB` : '–'} |`),
  ];
  if (only !== undefined) {
    if (cohortLines.length > 0) process.stdout.write(`${cohortLines.join('\n')}\n`);
    return;
  }
  // Best round per side: the machine is shared, and the slower rounds measure the neighbours.
  const best = (ms: Measure[]): Measure => ms.reduce((a, b) => (b.resources / b.seconds > a.resources / a.seconds ? b : a));
  const f = best(results.filtered);
  const u = best(results.unfiltered);
  const rate = (m: Measure): number => m.resources / m.seconds;
  // Every round of both sides reads the same copy of the same store: one candidate count.
  const candidates = u.resources;
  if (results.unfiltered.some((m) => m.resources !== candidates) || results.filtered.some((m) => m.resources > candidates)) {
    throw new Error('the rounds disagree on what the export reaches: the candidate count is not defined');
  }
  const lines = [
    `Bulk Data export, Patient-level, ${fmt(patients)} patients (research backend, HRESCH; 60 % research opt-ins), batch ${batch}, best of ${rounds} round(s) per side`,
    '',
    '| side | resources | MB | seconds | resources/s | MB/s | candidates | candidates/s | RSS before → peak (MB) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...([['filtered (consent gate)', f], ['unfiltered (no gate)', u]] as const).map(
      ([name, m]) =>
        `| ${name} | ${fmt(m.resources)} | ${fmt(m.bytes / 2 ** 20, 1)} | ${fmt(m.seconds, 2)} | ${fmt(rate(m))} | ${fmt(m.bytes / 2 ** 20 / m.seconds, 1)} | ${fmt(candidates)} | ${fmt(candidates / m.seconds)} | ${fmt(m.rssBeforeMb)} → ${fmt(m.rssPeakMb)} |`,
    ),
    '',
    `candidates: the resources the export reaches before consent decides (what it writes with the gate off); the filtered side writes ${fmt((100 * f.resources) / candidates)} % of them`,
    `elapsed-time ratio, unfiltered s / filtered s: ${fmt(u.seconds / f.seconds, 2)}x (the gate's cost over the same candidates; 1.00x = free)`,
    `filtered / unfiltered resources/s: ${fmt(rate(f) / rate(u), 2)}x (target >= 0.85x: ${rate(f) / rate(u) >= 0.85 ? 'met' : 'MISSED'})`,
    `filtered resources/s: ${fmt(rate(f))} (target >= 20,000: ${rate(f) >= 20_000 ? 'met' : 'MISSED'})`,
    `peak growth during the filtered job: anonymous memory ${fmt(f.anonPeakMb - f.anonBeforeMb)} MB (${fmt(f.anonBeforeMb)} → ${fmt(f.anonPeakMb)}; unfiltered ${fmt(u.anonPeakMb - u.anonBeforeMb)} MB) — flat memory: it must not scale with the patients;`,
    `  RSS ${fmt(f.rssPeakMb - f.rssBeforeMb)} MB, which also counts the store's memory-mapped pages the job reads (file cache, reclaimable)`,
    f.anonAfterGcMb !== undefined
      ? `  after a full collection at the end: anonymous memory ${fmt(f.anonAfterGcMb - f.anonBeforeMb)} MB above the start (filtered), ${fmt((u.anonAfterGcMb ?? 0) - u.anonBeforeMb)} MB (unfiltered); V8 heap in use ${fmt((f.heapAfterGcMb ?? 0) - f.heapBeforeMb)} MB above the start (filtered), ${fmt((u.heapAfterGcMb ?? 0) - u.heapBeforeMb)} MB (unfiltered)`
      : '  (run with node --expose-gc to also see the memory left after a full collection)',
  ];
  process.stdout.write(`${[...lines, ...cohortLines].join('\n')}\n`);
}
