/**
 * Part 1 of `npm run bench -- audit`: durable leaf appends with group commit, in process, on a
 * real MerkleLog (ledger-adapter/src/log/merkle-log.ts) in a temp directory with real fsync.
 *
 * A run is `callers` closed loops, each awaiting one `append` after another for a fixed time;
 * an append resolves only once its transaction is flushed to disk, so every counted leaf is
 * durable. Concurrent appends share transactions (group commit): the log's commits/s, next to
 * the disk's fsync rate, shows how many leaves each fsync carried.
 *
 * - **1-leaf**: each call appends one leaf (hash and salt pre-generated): the log alone.
 * - **pipeline**: the audit pipeline's shape — each call appends the few leaves one request
 *   makes (one AuditEvent per patient the request concerned; the pattern of leaves per call is
 *   cycled, 1,1,2,3 by default) through the server's own VersionLog
 *   (server/src/ledger/version-log.ts), as the LedgeredStore does after a commit: per leaf the
 *   leaf record of a stored AuditEvent version (a real BALP event from buildAuditEvents),
 *   its RFC 8785 canonical JSON, a fresh 32-byte salt and the leaf hash, then one append.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@medplum/fhirtypes';
import { MerkleLog, type LeafEntry } from '../../ledger-adapter/src/log/merkle-log.js';
import { buildAuditEvents } from '../../server/src/audit/build-audit-event.js';
import { VersionLog } from '../../server/src/ledger/version-log.js';
import type { StoredVersion } from '../../server/src/store/resource-store.js';
import { measureFsyncRate, percentile, type FsyncRate } from '../fsync-rate.js';

export const BENCH_LOG_ORIGIN = 'bench.custodian.invalid/audit-log';

export interface AppendRun {
  /** '1-leaf' or 'pipeline'. */
  shape: '1-leaf' | 'pipeline';
  callers: number;
  /** Leaves per call, cycled (1-leaf: [1]). */
  leavesPerCall: number[];
  seconds: number;
  calls: number;
  leaves: number;
  leavesPerSecond: number;
  callsPerSecond: number;
  /** Latency of one append call (until durable), ms. */
  p50Ms: number;
  p99Ms: number;
  /** Log transactions (each one fsync) committed during the measured window. */
  transactions: number;
  commitsPerSecond: number;
  leavesPerTransaction: number;
  /** CPU time of this process (all threads, LMDB's included) per leaf, and per second of the run (1 = one core busy). */
  cpuUsPerLeaf: number;
  cpuCores: number;
  /** Mean JSON bytes of one AuditEvent whose version becomes a leaf (pipeline only). */
  meanEventBytes?: number;
  /** The disk's fsync rate, measured right before this run in the same directory. */
  fsync: FsyncRate;
}

/** Opens a fresh log in a temp dir under `parent`, hands it to `fn`, then closes and removes it. */
export async function withTempLog<T>(parent: string, fn: (log: MerkleLog, dir: string) => Promise<T>, keep = false): Promise<T> {
  const dir = mkdtempSync(join(parent, 'merkle-log-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const log = await MerkleLog.open({ dir, origin: BENCH_LOG_ORIGIN, privateKey, maxPending: 1_000_000 });
  try {
    return await fn(log, dir);
  } finally {
    await log.close();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

interface Driven {
  calls: number;
  leaves: number;
  seconds: number;
  latenciesMs: Float64Array;
  transactions: number;
  cpuUs: number;
}

/** `callers` closed loops calling `call` until `seconds` have passed; returns what completed. */
async function drive(log: MerkleLog, callers: number, seconds: number, call: (caller: number, n: number) => Promise<number>): Promise<Driven> {
  const latencies: number[] = [];
  let calls = 0;
  let leaves = 0;
  const tx0 = log.stats().transactions;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const loop = async (caller: number): Promise<void> => {
    for (let n = 0; performance.now() < deadline; n++) {
      const s = performance.now();
      const appended = await call(caller, n);
      leaves += appended;
      latencies.push(performance.now() - s);
      calls++;
    }
  };
  await Promise.all(Array.from({ length: callers }, (_, i) => loop(i)));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { calls, leaves, seconds: elapsed, latenciesMs: Float64Array.from(latencies).sort(), transactions: log.stats().transactions - tx0, cpuUs: cpu.user + cpu.system };
}

function runOf(shape: AppendRun['shape'], callers: number, leavesPerCall: number[], d: Driven, fsync: FsyncRate, meanEventBytes?: number): AppendRun {
  return {
    shape,
    callers,
    leavesPerCall,
    seconds: d.seconds,
    calls: d.calls,
    leaves: d.leaves,
    leavesPerSecond: d.leaves / d.seconds,
    callsPerSecond: d.calls / d.seconds,
    p50Ms: percentile(d.latenciesMs, 50),
    p99Ms: percentile(d.latenciesMs, 99),
    transactions: d.transactions,
    commitsPerSecond: d.transactions / d.seconds,
    leavesPerTransaction: d.transactions > 0 ? d.leaves / d.transactions : NaN,
    cpuUsPerLeaf: d.leaves > 0 ? d.cpuUs / d.leaves : NaN,
    cpuCores: d.cpuUs / 1e6 / d.seconds,
    ...(meanEventBytes !== undefined ? { meanEventBytes } : {}),
    fsync,
  };
}

/** N concurrent callers × 1-leaf appends, on a fresh log. */
export async function oneLeafRun(parent: string, callers: number, seconds: number, fsyncSeconds: number): Promise<AppendRun> {
  const fsync = measureFsyncRate(parent, fsyncSeconds);
  // A pool of leaf hashes and salts (the log copies what it is given); keys are unique.
  const POOL = 4096;
  const pool = randomBytes(POOL * 64);
  const entry = (caller: number, n: number): LeafEntry => {
    const j = ((caller * 7919 + n) % POOL) * 64;
    return { key: `AuditEvent/c${caller}-${n}/_history/1`, leafHash: pool.subarray(j, j + 32), salt: pool.subarray(j + 32, j + 64) };
  };
  return withTempLog(parent, async (log) => {
    // Warm-up: the first transactions allocate the file and its first pages.
    await drive(log, callers, Math.min(1, seconds / 4), async (c, n) => (await log.append([entry(c, 1e9 + n)])).length);
    const d = await drive(log, callers, seconds, async (c, n) => (await log.append([entry(c, n)])).length);
    return runOf('1-leaf', callers, [1], d, fsync);
  });
}

const CLINICIAN = {
  subject: 'bench-clinician',
  clientId: 'demo-clinician-app',
  who: 'Practitioner/pract-1',
  roles: ['clinician'],
  purposeOfUse: ['TREAT'],
  sourceAddress: '127.0.0.1',
} as const;

/**
 * The AuditEvents of one request concerning `patients` patients: a read of one Observation
 * (1 patient), or a search whose page held one Observation of each of `patients` patients
 * (BALP: one event per patient).
 */
function requestEvents(patients: number, variant: number): AuditEvent[] {
  const pids = Array.from({ length: patients }, () => randomUUID());
  const resources = pids.map((p) => ({ type: 'Observation', id: randomUUID(), versionId: '1', patients: [p] }));
  const read = patients === 1;
  const obs = resources[0]?.id as string;
  return buildAuditEvents({
    recorded: new Date(Date.UTC(2026, 0, 1, 0, 0, variant)).toISOString(),
    interaction: read ? 'read' : 'search-type',
    method: 'GET',
    rawRequest: read ? `Observation/${obs}` : `Observation?code=http%3A%2F%2Floinc.org%7C2339-0&_count=${patients}`,
    resourceType: 'Observation',
    status: 200,
    principal: CLINICIAN,
    server: { baseUrl: 'http://localhost:8080/fhir', name: 'Custodian FHIR server' },
    resources,
    patients: [],
    consent: { mode: 'enforce', decision: 'permit', purposeGroup: 'treatment' },
  });
}

/** The audit pipeline's shape: callers each appending one request's AuditEvent versions through VersionLog. */
export async function pipelineRun(parent: string, callers: number, leavesPattern: number[], seconds: number, fsyncSeconds: number): Promise<AppendRun> {
  const fsync = measureFsyncRate(parent, fsyncSeconds);
  // Pre-built events (building them is the auditor's work, not the log's); ids are fresh per call.
  const VARIANTS = 32;
  const byCount = new Map<number, AuditEvent[][]>();
  for (const k of new Set(leavesPattern)) byCount.set(k, Array.from({ length: VARIANTS }, (_, v) => requestEvents(k, v)));
  let recordBytes = 0;
  let records = 0;
  for (const sets of byCount.values()) {
    for (const events of sets) {
      for (const e of events) {
        recordBytes += Buffer.byteLength(JSON.stringify(e));
        records++;
      }
    }
  }
  const versionsOf = (events: AuditEvent[]): StoredVersion[] => {
    const lastUpdated = new Date().toISOString();
    return events.map((e) => {
      const id = randomUUID();
      return { resourceType: 'AuditEvent', id, versionId: '1', lastUpdated, deleted: false, resource: { ...e, id, meta: { ...e.meta, versionId: '1', lastUpdated } } };
    });
  };
  return withTempLog(parent, async (log) => {
    const versions = new VersionLog(log);
    const call = async (c: number, n: number): Promise<number> => {
      const k = leavesPattern[(c + n) % leavesPattern.length] as number;
      const sets = byCount.get(k) as AuditEvent[][];
      return (await versions.appendVersions(versionsOf(sets[(c * 31 + n) % VARIANTS] as AuditEvent[]))).length;
    };
    await drive(log, callers, Math.min(1, seconds / 4), call);
    const d = await drive(log, callers, seconds, call);
    return runOf('pipeline', callers, leavesPattern, d, fsync, recordBytes / records);
  });
}
