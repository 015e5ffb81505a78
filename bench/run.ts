/**
 * `npm run bench -- search`: the search benchmark instead (bench/search/run-search.ts).
 * `npm run bench -- consent`: the consent benchmark, enforced vs unenforced (bench/consent/run-consent.ts).
 * `npm run bench -- audit`: the audit benchmark, log appends, proofs, reads audited vs not (bench/audit/run-audit.ts).
 *
 * `npm run bench`: Custodian vs a peer (@medplum/fhir-router + MemoryRepository) vs the limit
 * (raw node:http serving the same bytes), side by side in one run, plus the disk's fsync rate
 * for durable creates. See bench/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureFsyncRate, type FsyncRate } from './fsync-rate.js';
import { runLoad, type LoadResult, type LoadSpec } from './load.js';
import { checkTargets, formatReport, SERVERS, type BenchReport, type Cell, type Scenario, type ServerName } from './report.js';
import { capture, CREATE_BODY, seedPatients } from './seed.js';
import { startCustodian } from './servers/custodian.js';
import { killAllChildrenNow, spawnServer, type ServerProcess } from './servers/spawn.js';
import { nowUs, summariseCpuProfiles, type ProfileWindow } from './cpu-profile.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(BENCH_DIR, '..');
const MAX_FAILURE_RATIO = 0.01;

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got '${raw}')`);
  return n;
}

function envList(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const log = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};

async function main(): Promise<number> {
  const seconds = envNumber('BENCH_SECONDS', 5, 1);
  const warmupSeconds = envNumber('BENCH_WARMUP_SECONDS', 1, 0);
  const patients = Math.floor(envNumber('BENCH_PATIENTS', 1000, 1));
  const roundsPerCell = Math.floor(envNumber('BENCH_ROUNDS', 1, 1));
  const fsyncSeconds = envNumber('BENCH_FSYNC_SECONDS', 2, 0.5);
  const connections = envList('BENCH_CONNECTIONS', ['1', '32']).map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONNECTIONS: '${c}' is not a positive integer`);
    return n;
  });
  const scenarios = envList('BENCH_SCENARIOS', ['read-by-id', 'create']).map((s) => {
    if (s !== 'read-by-id' && s !== 'create') throw new Error(`BENCH_SCENARIOS: unknown scenario '${s}' (read-by-id, create)`);
    return s as Scenario;
  });
  const cpuProf = process.env.BENCH_CPU_PROF;

  const parentDir = resolve(process.env.BENCH_DATA_DIR || tmpdir());
  mkdirSync(parentDir, { recursive: true });
  const workDir = mkdtempSync(join(parentDir, 'custodian-bench-'));
  const removeWorkDir = (): void => {
    if (!process.env.BENCH_KEEP_DATA) rmSync(workDir, { recursive: true, force: true });
  };
  // Also on Ctrl-C / SIGTERM, which exit from the signal handler without reaching `finally`.
  process.on('exit', removeWorkDir);
  const servers: Partial<Record<ServerName, ServerProcess>> = {};
  const cpuProfDir = cpuProf ? resolve(cpuProf === '1' || cpuProf === 'true' ? join(BENCH_DIR, 'results', 'cpu-profiles') : cpuProf) : undefined;

  try {
    // 1. The disk, measured before anything else runs.
    log(`measuring fsync rate in ${workDir} for ${fsyncSeconds}s ...`);
    const fsync = measureFsyncRate(workDir, fsyncSeconds);
    log(`fsync rate: ${Math.round(fsync.perSecond)}/s`);

    // 2. Custodian first: its responses are what the raw limit replays.
    log('starting custodian (server/src/main.ts) ...');
    if (cpuProfDir) {
      for (const name of SERVERS) {
        rmSync(join(cpuProfDir, name), { recursive: true, force: true });
        mkdirSync(join(cpuProfDir, name), { recursive: true });
      }
    }
    const profDir = (name: ServerName): string | undefined => (cpuProfDir ? join(cpuProfDir, name) : undefined);
    const profArgs = (name: ServerName): string[] => (cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir(name)}`] : []);
    const custodian = await startCustodian({ repoRoot: REPO_ROOT, dataDir: join(workDir, 'custodian-data'), ...(cpuProfDir ? { cpuProfDir: profDir('custodian') } : {}) });
    servers.custodian = custodian;
    log(`custodian at ${custodian.baseUrl} (pid ${custodian.pid}); seeding ${patients} Patients ...`);
    const ids: Partial<Record<ServerName, string[]>> = {};
    // Custodian's bearer token goes to every server, so each receives the same request bytes.
    const headers = custodian.requestHeaders;
    ids.custodian = await seedPatients(custodian.baseUrl, patients, headers);

    const readSample = await capture(`${custodian.baseUrl}/Patient/${ids.custodian[0]}`, { headers });
    if (readSample.status !== 200) throw new Error(`custodian: GET a seeded Patient answered ${readSample.status}: ${readSample.body.slice(0, 300)}`);
    const createSample = await capture(`${custodian.baseUrl}/Patient`, { method: 'POST', body: CREATE_BODY, headers });
    if (createSample.status !== 201) throw new Error(`custodian: POST Patient answered ${createSample.status}: ${createSample.body.slice(0, 300)}`);
    const fixturePath = join(workDir, 'limit-fixture.json');
    writeFileSync(fixturePath, JSON.stringify({ read: readSample, create: createSample }));

    log('starting peer (@medplum/fhir-router + MemoryRepository) and limit (raw node:http) ...');
    const [peer, limit] = await Promise.all([
      spawnServer({ name: 'peer', nodeArgs: [...profArgs('peer'), '--import', 'tsx', join(BENCH_DIR, 'servers', 'medplum-peer.ts')], cwd: REPO_ROOT, env: { PORT: '0' } }),
      spawnServer({
        name: 'limit',
        nodeArgs: [...profArgs('limit'), '--import', 'tsx', join(BENCH_DIR, 'servers', 'raw-limit.ts')],
        cwd: REPO_ROOT,
        env: { PORT: '0', BENCH_LIMIT_FIXTURE: fixturePath },
      }),
    ]);
    servers.peer = peer;
    servers.limit = limit;
    log(`peer at ${peer.baseUrl}, limit at ${limit.baseUrl}; seeding them ...`);
    ids.peer = await seedPatients(peer.baseUrl, patients, headers);
    ids.limit = await seedPatients(limit.baseUrl, patients, headers);

    // Every server must answer a read of its own seeded ids before we measure anything.
    const readBodyBytes = {} as Record<ServerName, number>;
    for (const name of SERVERS) {
      const s = servers[name] as ServerProcess;
      const got = await capture(`${s.baseUrl}/Patient/${(ids[name] as string[])[patients - 1]}`, { headers });
      if (got.status !== 200 || !got.body.includes('"Patient"')) throw new Error(`${name}: read of a seeded Patient answered ${got.status}: ${got.body.slice(0, 300)}`);
      readBodyBytes[name] = Buffer.byteLength(got.body);
    }

    // 3. Load: for each scenario and concurrency, the three servers back to back.
    const cells: Cell[] = [];
    const failures: string[] = [];
    const windows: Record<ServerName, ProfileWindow[]> = { custodian: [], peer: [], limit: [] };
    for (const scenario of scenarios) {
      for (const c of connections) {
        const results = {} as Record<ServerName, LoadResult>;
        // The disk is shared and its fsync rate drifts: measure it again right next to the creates.
        let cellFsync: FsyncRate | undefined;
        if (scenario === 'create') {
          cellFsync = measureFsyncRate(workDir, fsyncSeconds);
          log(`fsync rate before create c=${c}: ${Math.round(cellFsync.perSecond)}/s`);
        }
        const rounds: Record<ServerName, LoadResult[]> = { custodian: [], peer: [], limit: [] };
        for (let round = 1; round <= roundsPerCell; round++) {
          for (const name of SERVERS) {
            const s = servers[name] as ServerProcess;
            const origin = new URL(s.baseUrl).origin;
            const basePath = new URL(s.baseUrl).pathname;
            const request: LoadSpec['request'] =
              scenario === 'read-by-id'
                ? { kind: 'cycle-get', paths: (ids[name] as string[]).map((id) => `${basePath}/Patient/${id}`) }
                : { kind: 'post', path: `${basePath}/Patient`, body: CREATE_BODY };
            if (round === 1 && warmupSeconds > 0) await runLoad({ origin, connections: c, seconds: warmupSeconds, request, headers });
            const label = `${scenario} c=${c}${roundsPerCell > 1 ? ` round ${round}` : ''}`;
            log(`${label} ${name} ...`);
            const startUs = nowUs();
            const r = await runLoad({ origin, connections: c, seconds, request, headers });
            windows[name].push({ label, startUs, endUs: nowUs(), requests: r.ok });
            rounds[name].push(r);
            const exited = s.exited();
            if (exited) throw new Error(`${name} exited during ${label} (code ${exited.code}, signal ${exited.signal})\n${s.output()}`);
            if (r.failureRatio > MAX_FAILURE_RATIO || r.ok === 0) {
              failures.push(
                `${label} ${name}: ${(r.failureRatio * 100).toFixed(2)}% failed (ok=${r.ok} non2xx=${r.non2xx} errors=${r.errors} timeouts=${r.timeouts}; ` +
                  `status ${JSON.stringify(r.statusCodes)}${r.errorSamples.length ? `; e.g. ${r.errorSamples.join(' | ')}` : ''})`,
              );
            }
            log(`  ${Math.round(r.reqPerSec)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, non2xx ${r.non2xx}, errors ${r.errors}`);
          }
        }
        // With several rounds, each server's figure is its median-throughput round.
        for (const name of SERVERS) {
          const sorted = [...rounds[name]].sort((a, b) => a.reqPerSec - b.reqPerSec);
          results[name] = sorted[Math.floor((sorted.length - 1) / 2)] as LoadResult;
        }
        cells.push({ scenario, connections: c, results, ...(roundsPerCell > 1 ? { rounds } : {}), ...(cellFsync ? { fsync: cellFsync } : {}) });
      }
    }

    // 4. Report.
    const report: BenchReport = {
      startedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
      settings: { seconds, warmupSeconds, rounds: roundsPerCell, patients, connections, dataDir: parentDir },
      fsync,
      readBodyBytes,
      cells,
      targets: checkTargets(cells, fsync.perSecond),
      failures,
    };
    process.stdout.write(formatReport(report));
    const resultsDir = join(BENCH_DIR, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
    log(`results written to ${join(resultsDir, 'latest.json')}`);

    if (cpuProfDir) {
      log('stopping the servers to flush their CPU profiles ...');
      for (const name of SERVERS) {
        await (servers[name] as ServerProcess).stop(15_000);
        process.stdout.write(summariseCpuProfiles(name, profDir(name) as string, REPO_ROOT, windows[name]));
      }
    }
    return failures.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(
      Object.values(servers).map((s) =>
        s.stop().catch((err: unknown) => {
          log(`stopping ${s.name}: ${(err as Error).message}`);
        }),
      ),
    );
    killAllChildrenNow();
    removeWorkDir();
    if (process.env.BENCH_KEEP_DATA) log(`kept ${workDir}`);
  }
}

const scenarioArg = process.argv[2];
if (scenarioArg === 'search') {
  // Loaded only when asked for: it pulls in the server's write path and worker threads.
  const { runSearchBench } = await import('./search/run-search.js');
  runSearchBench();
} else if (scenarioArg === 'consent') {
  const { runConsentBench } = await import('./consent/run-consent.js');
  runConsentBench();
} else if (scenarioArg === 'audit') {
  const { runAuditBench } = await import('./audit/run-audit.js');
  runAuditBench();
} else if (scenarioArg === 'export') {
  // Bulk Data export with the consent gate on vs off (bench/export/run-export-bench.ts).
  const { runExportBench } = await import('./export/run-export-bench.js');
  runExportBench().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`\nbench export FAILED: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
} else if (scenarioArg !== undefined) {
  process.stderr.write(`bench: unknown scenario '${scenarioArg}'. Usage: npm run bench [-- search|consent|audit]\n`);
  process.exit(2);
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`\nbench FAILED: ${(err as Error)?.stack ?? String(err)}\n`);
      killAllChildrenNow();
      process.exit(1);
    },
  );
}
