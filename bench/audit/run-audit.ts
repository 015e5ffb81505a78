/**
 * `npm run bench -- audit` (issue 6 §7): what the audit trail costs and how fast its proofs are,
 * in one run:
 *
 * 1. durable Merkle log leaf appends with group commit (appends.ts), beside the disk's fsync rate;
 * 2. proof generation and verification on a large log (proofs.ts);
 * 3. read-by-id throughput with auditing on (server/src/main.ts) vs off
 *    (bench/servers/custodian-unaudited.ts), each on its own copy of one seeded store, in
 *    interleaved rounds.
 *
 * One table on stdout (progress on stderr), bench/results/audit-latest.json and
 * bench/results/audit-<time>.json. See bench/README.md.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { settleCopy } from '../settle-copy.js';
import { ACTORS } from '../consent/scenarios.js';
import { nowUs, summariseCpuProfiles, type ProfileWindow } from '../cpu-profile.js';
import { measureFsyncRate } from '../fsync-rate.js';
import { runLoad, type LoadResult } from '../load.js';
import { benchToken } from '../servers/bench-issuer.js';
import { startCustodian, type CustodianProcess } from '../servers/custodian.js';
import { killAllChildrenNow } from '../servers/spawn.js';
import { oneLeafRun, pipelineRun, type AppendRun } from './appends.js';
import {
  checkTargets,
  formatAuditReport,
  median,
  READ_RATIO_TARGET,
  READ_SERVERS,
  type AuditBenchReport,
  type ReadFigures,
  type ReadRow,
  type ReadServer,
  type ReadSide,
} from './audit-report.js';
import { buildReadStore } from './build-read-store.js';
import { proofBench, type ProofFigures } from './proofs.js';
import { readAuditSettings, type AuditBenchSettings } from './settings.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = resolve(BENCH_DIR, '..');
const MAX_FAILURE_RATIO = 0.01;
/** Both servers verify tokens for this audience, so they receive byte-identical requests. */
const AUDIENCE = 'https://bench.custodian.invalid/fhir';

const log = (msg: string): void => {
  process.stderr.write(`bench audit: ${msg}\n`);
};

/** Fisher–Yates with a fixed seed (xorshift32), so every run reads the ids in the same order. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

async function appendsPart(s: AuditBenchSettings, workDir: string): Promise<AppendRun[]> {
  const runs: AppendRun[] = [];
  const show = (r: AppendRun): void =>
    log(
      `  ${Math.round(r.leavesPerSecond)} leaves/s (${r.calls} calls, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms), ` +
        `${r.transactions} transactions = ${Math.round(r.commitsPerSecond)} commits/s, ${r.leavesPerTransaction.toFixed(1)} leaves each; CPU ${r.cpuUsPerLeaf.toFixed(1)} µs/leaf (${r.cpuCores.toFixed(2)} cores); fsync ${Math.round(r.fsync.perSecond)}/s`,
    );
  for (const callers of s.appendCallers) {
    log(`appends: ${callers} callers × 1-leaf appends for ${s.appendSeconds} s (fsync rate first) ...`);
    const r = await oneLeafRun(workDir, callers, s.appendSeconds, s.fsyncSeconds);
    show(r);
    runs.push(r);
  }
  log(`appends: pipeline shape, ${s.pipelineCallers} callers × ${s.pipelineLeaves.join(',')} AuditEvent leaves per call for ${s.appendSeconds} s ...`);
  const p = await pipelineRun(workDir, s.pipelineCallers, s.pipelineLeaves, s.appendSeconds, s.fsyncSeconds);
  show(p);
  runs.push(p);
  return runs;
}

async function proofsPart(s: AuditBenchSettings, workDir: string): Promise<ProofFigures> {
  const p = await proofBench(workDir, { leaves: s.proofLeaves, batch: s.proofBatch, samples: s.proofSamples, warmup: s.proofWarmup }, log);
  const t = (name: string, x: { p50Us: number; p99Us: number }): void => log(`  ${name}: p50 ${x.p50Us.toFixed(1)} µs, p99 ${x.p99Us.toFixed(1)} µs`);
  t('inclusionProof', p.inclusionGenerate);
  t('verifyInclusion', p.inclusionVerify);
  t('consistencyProof', p.consistencyGenerate);
  t('verifyConsistency', p.consistencyVerify);
  return p;
}

interface Target {
  server: CustodianProcess;
  origin: string;
  basePath: string;
}

async function logSize(t: Target): Promise<number> {
  const res = await fetch(`${t.origin}/ledger/status`);
  const body = (await res.json()) as { logSize?: unknown };
  if (res.status !== 200 || typeof body.logSize !== 'number') throw new Error(`${t.server.name}: GET /ledger/status answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return body.logSize;
}

/** Where each server's CPU profile goes with BENCH_CPU_PROF, and the measured windows to summarise. */
interface Profiling {
  dir: (name: ReadServer) => string;
  windows: Record<ReadServer, ProfileWindow[]>;
}

async function readsPart(s: AuditBenchSettings, workDir: string, failures: string[], servers: CustodianProcess[], prof: Profiling | undefined): Promise<ReadFigures> {
  const onDir = join(workDir, 'store-on');
  const offDir = join(workDir, 'store-off');
  log(`reads: seeding ${s.patients} patients × ${s.observationsPerPatient} Observations in process into ${onDir} ...`);
  const built = await buildReadStore({ dataDir: onDir, patients: s.patients, observationsPerPatient: s.observationsPerPatient, log });
  log(`  ${built.resources} resources in ${built.seconds.toFixed(1)} s (${Math.round(built.resourcesPerSecond)}/s); copying it for the unaudited server ...`);
  const c0 = performance.now();
  cpSync(onDir, offDir, { recursive: true });
  const copySeconds = (performance.now() - c0) / 1000;
  settleCopy(workDir);

  const env = { AUTH_AUDIENCE: AUDIENCE };
  const on = await startCustodian({ repoRoot: REPO_ROOT, dataDir: onDir, name: 'audit-on', env, ...(prof ? { cpuProfDir: prof.dir('on') } : {}) });
  servers.push(on);
  log(`custodian, auditing on (server/src/main.ts) at ${on.baseUrl}`);
  const off = await startCustodian({
    repoRoot: REPO_ROOT,
    dataDir: offDir,
    name: 'audit-off',
    env,
    entry: 'bench/servers/custodian-unaudited.ts',
    ...(prof ? { cpuProfDir: prof.dir('off') } : {}),
  });
  servers.push(off);
  log(`custodian-unaudited (bench/servers/custodian-unaudited.ts) at ${off.baseUrl}`);
  const targetOf = (server: CustodianProcess): Target => {
    const u = new URL(server.baseUrl);
    return { server, origin: u.origin, basePath: u.pathname };
  };
  const targets: Record<ReadServer, Target> = { on: targetOf(on), off: targetOf(off) };
  const headers = { authorization: await benchToken(AUDIENCE, ACTORS.clinician, 'bench-clinician') };

  const ids = shuffled(built.observationIds, 20260101).slice(0, s.paths);
  const answered: Record<ReadServer, number> = { on: 0, off: 0 };
  const before: Record<ReadServer, number> = { on: await logSize(targets.on), off: await logSize(targets.off) };

  // Pre-flight: both servers answer 200 with the same resource for a few ids.
  for (const id of ids.slice(0, 5)) {
    const bodies: Partial<Record<ReadServer, string>> = {};
    for (const name of READ_SERVERS) {
      const t = targets[name];
      const res = await fetch(`${t.origin}${t.basePath}/Observation/${id}`, { headers: { accept: 'application/fhir+json', ...headers } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${t.server.name}: pre-flight GET Observation/${id} answered ${res.status}: ${text.slice(0, 400)}`);
      bodies[name] = text;
      answered[name]++;
    }
    if (bodies.on !== bodies.off) throw new Error(`pre-flight: the two servers answer Observation/${id} differently:\n${bodies.on?.slice(0, 300)}\n${bodies.off?.slice(0, 300)}`);
  }

  const rows: ReadRow[] = [];
  for (const c of s.connections) {
    const rounds: Record<ReadServer, LoadResult[]> = { on: [], off: [] };
    const run = (name: ReadServer, seconds: number): Promise<LoadResult> => {
      const t = targets[name];
      return runLoad({ origin: t.origin, connections: c, seconds, request: { kind: 'cycle-get', paths: ids.map((id) => `${t.basePath}/Observation/${id}`) }, headers });
    };
    if (s.warmupSeconds > 0) {
      for (const name of READ_SERVERS) {
        log(`read c=${c} ${name}: warm-up ${s.warmupSeconds} s ...`);
        answered[name] += (await run(name, s.warmupSeconds)).ok;
      }
    }
    for (let round = 1; round <= s.rounds; round++) {
      for (const name of READ_SERVERS) {
        const label = `read c=${c} round ${round} ${name}`;
        log(`${label} ...`);
        const startUs = nowUs();
        const r = await run(name, s.seconds);
        prof?.windows[name].push({ label, startUs, endUs: nowUs(), requests: r.ok });
        answered[name] += r.ok;
        rounds[name].push(r);
        const t = targets[name];
        const exited = t.server.exited();
        if (exited) throw new Error(`${t.server.name} exited during ${label} (code ${exited.code}, signal ${exited.signal})\n${t.server.output()}`);
        if (r.failureRatio > MAX_FAILURE_RATIO || r.ok === 0) {
          failures.push(
            `${label}: ${(r.failureRatio * 100).toFixed(2)}% failed (ok=${r.ok} non2xx=${r.non2xx} errors=${r.errors} timeouts=${r.timeouts}; status ${JSON.stringify(r.statusCodes)}` +
              `${r.errorSamples.length ? `; e.g. ${r.errorSamples.join(' | ')}` : ''})`,
          );
        }
        log(`  ${Math.round(r.reqPerSec)} ops/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, non2xx ${r.non2xx}, errors ${r.errors}`);
      }
    }
    const side = (name: ReadServer): ReadSide => ({
      opsPerSec: median(rounds[name].map((r) => r.reqPerSec)),
      p50Ms: median(rounds[name].map((r) => r.p50Ms)),
      p99Ms: median(rounds[name].map((r) => r.p99Ms)),
      rounds: rounds[name],
    });
    const onSide = side('on');
    const offSide = side('off');
    const ratio = onSide.opsPerSec / offSide.opsPerSec;
    rows.push({ connections: c, on: onSide, off: offSide, ratio, p50AddedMs: onSide.p50Ms - offSide.p50Ms, meets: ratio >= READ_RATIO_TARGET });
    log(`read c=${c}: on/off ${ratio.toFixed(3)}`);
  }

  const after: Record<ReadServer, number> = { on: await logSize(targets.on), off: await logSize(targets.off) };
  const leavesAppended = { on: after.on - before.on, off: after.off - before.off };
  // Auditing on: one leaf per read (its AuditEvent); off: none. Anything else means the
  // comparison is not what it claims to be.
  if (leavesAppended.on < answered.on) failures.push(`audit-on appended ${leavesAppended.on} leaves for ${answered.on} reads: some reads were not audited`);
  if (leavesAppended.off !== 0) failures.push(`audit-off appended ${leavesAppended.off} leaves while only reading: it audits`);
  const { observationIds: _ids, ...store } = built;
  return {
    store: { ...store, copySeconds },
    paths: ids.length,
    rounds: s.rounds,
    order: s.rounds > 1 ? 'on, off in every round' : 'on, off',
    secondsPerRun: s.seconds,
    leavesAppended,
    readsAnswered: answered,
    rows,
  };
}

async function main(): Promise<number> {
  const s = readAuditSettings(process.env);
  const startedAt = new Date().toISOString();
  const loadAvgStart = loadavg();
  mkdirSync(s.dataDir, { recursive: true });
  const workDir = mkdtempSync(join(s.dataDir, 'custodian-audit-bench-'));
  const removeWorkDir = (): void => {
    if (!s.keepData) rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', removeWorkDir);
  const servers: CustodianProcess[] = [];
  const failures: string[] = [];
  const cpuProfDir = s.cpuProf ? resolve(s.cpuProf === '1' || s.cpuProf === 'true' ? join(BENCH_DIR, 'results', 'cpu-profiles', 'audit') : s.cpuProf) : undefined;
  const prof: Profiling | undefined = cpuProfDir ? { dir: (name) => join(cpuProfDir, name), windows: { on: [], off: [] } } : undefined;
  if (prof) {
    for (const name of READ_SERVERS) {
      rmSync(prof.dir(name), { recursive: true, force: true });
      mkdirSync(prof.dir(name), { recursive: true });
    }
  }
  try {
    log(`measuring fsync rate in ${workDir} for ${s.fsyncSeconds} s ...`);
    const fsync = measureFsyncRate(workDir, s.fsyncSeconds);
    log(`fsync rate: ${Math.round(fsync.perSecond)}/s`);
    const appends = s.parts.includes('appends') ? await appendsPart(s, workDir) : undefined;
    const proofs = s.parts.includes('proofs') ? await proofsPart(s, workDir) : undefined;
    const reads = s.parts.includes('reads') ? await readsPart(s, workDir, failures, servers, prof) : undefined;

    const cpu = cpus();
    const report: AuditBenchReport = {
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: { cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}`, loadAvgStart, loadAvgEnd: loadavg() },
      settings: { ...s },
      fsync,
      ...(appends ? { appends } : {}),
      ...(proofs ? { proofs } : {}),
      ...(reads ? { reads } : {}),
      targets: checkTargets({ appends, proofs, reads }),
      failures,
    };
    process.stdout.write(formatAuditReport(report));
    const resultsDir = join(BENCH_DIR, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const json = JSON.stringify(report, null, 2) + '\n';
    writeFileSync(join(resultsDir, 'audit-latest.json'), json);
    writeFileSync(join(resultsDir, `audit-${startedAt.replace(/[:.]/g, '-')}.json`), json);
    log(`results written to ${join(resultsDir, 'audit-latest.json')}`);
    if (prof && reads) {
      log('stopping the servers to flush their CPU profiles ...');
      for (const [i, name] of READ_SERVERS.entries()) {
        await (servers[i] as CustodianProcess).stop(30_000);
        process.stdout.write(summariseCpuProfiles(name === 'on' ? 'custodian (auditing on)' : 'custodian-unaudited', prof.dir(name), REPO_ROOT, prof.windows[name]));
      }
    }
    return failures.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(servers.map((srv) => srv.stop().catch((err: unknown) => log(`stopping ${srv.name}: ${(err as Error).message}`))));
    killAllChildrenNow();
    removeWorkDir();
    if (s.keepData) log(`kept ${workDir}`);
  }
}

/** Entry point used by bench/run.ts for `npm run bench -- audit`. */
export function runAuditBench(): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`\nbench audit FAILED: ${(err as Error)?.stack ?? String(err)}\n`);
      killAllChildrenNow();
      process.exit(1);
    },
  );
}
