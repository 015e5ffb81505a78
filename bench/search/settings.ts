/** Environment knobs of `npm run bench -- search` (documented in bench/README.md). */
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { VisitRange } from '../../fixtures/population/index.js';
import { QUERIES, type QueryName } from './queries.js';

export interface SearchBenchSettings {
  /** Target size of the large store (resources); its patient count follows from `perPatient`. */
  resources: number;
  smallResources: number;
  seed: number;
  visits: VisitRange;
  workers: number;
  /**
   * Connections of the throughput run against Custodian. Latency is always measured with one
   * client; the peer, single-threaded and CPU-bound, gets one connection for both (more would
   * only queue behind its scans).
   */
  connections: number;
  /** Time cap per query per Custodian store. */
  seconds: number;
  /** Time cap per query for the peer, whose scans take seconds at 1M. */
  peerSeconds: number;
  /** Per peer request; past it the query's peer figure is a lower bound and the peer is restarted. */
  peerTimeoutMs: number;
  minOps: number;
  maxOps: number;
  warmupOps: number;
  /** Distinct request paths per query (values drawn from that many patients). */
  paths: number;
  timeoutMs: number;
  peer: boolean;
  peerHeapMb: number;
  rebuild: boolean;
  queries: QueryName[];
  cacheDir: string;
  /** Parent of the temp dir holding the small store. */
  dataDir: string;
  keepData: boolean;
}

/**
 * Mean resources per patient for the default visit range below (measured over 2,000 patients
 * of seed 42), used to turn a resource target into a patient count.
 */
export const RESOURCES_PER_PATIENT_4_10 = 97.6;
/** The generator's own default (2..6 visits) yields ~59.4 per patient; 4..10 gives ~10k patients per 1M. */
export const DEFAULT_VISITS: VisitRange = { min: 4, max: 10 };

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got '${raw}')`);
  return n;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be 1 or 0 (got '${raw}')`);
}

function visits(raw: string | undefined): VisitRange {
  if (!raw) return DEFAULT_VISITS;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m) throw new Error(`BENCH_SEARCH_VISITS must look like 4-10 (got '${raw}')`);
  return { min: Number(m[1]), max: Number(m[2]) };
}

export function readSettings(env: NodeJS.ProcessEnv, benchDir: string): SearchBenchSettings {
  const names = QUERIES.map((q) => q.name);
  const queries = (env.BENCH_SEARCH_QUERIES ? env.BENCH_SEARCH_QUERIES.split(',').map((s) => s.trim()).filter(Boolean) : names) as QueryName[];
  for (const q of queries) if (!names.includes(q)) throw new Error(`BENCH_SEARCH_QUERIES: unknown query '${q}' (${names.join(', ')})`);
  const v = visits(env.BENCH_SEARCH_VISITS);
  if (v.min < 1 || v.max < v.min) throw new Error('BENCH_SEARCH_VISITS: need 1 <= min <= max');
  return {
    resources: Math.floor(num(env, 'BENCH_SEARCH_RESOURCES', 1_000_000, 100)),
    smallResources: Math.floor(num(env, 'BENCH_SEARCH_SMALL_RESOURCES', 10_000, 100)),
    seed: Math.floor(num(env, 'BENCH_SEARCH_SEED', 42, 0)),
    visits: v,
    workers: Math.floor(num(env, 'BENCH_SEARCH_WORKERS', 2, 1)),
    connections: Math.floor(num(env, 'BENCH_SEARCH_CONNECTIONS', 4, 1)),
    seconds: num(env, 'BENCH_SEARCH_SECONDS', 10, 0.5),
    peerSeconds: num(env, 'BENCH_SEARCH_PEER_SECONDS', 20, 0.5),
    peerTimeoutMs: num(env, 'BENCH_SEARCH_PEER_TIMEOUT_SECONDS', 60, 1) * 1000,
    minOps: Math.floor(num(env, 'BENCH_SEARCH_MIN_OPS', 3, 1)),
    maxOps: Math.floor(num(env, 'BENCH_SEARCH_MAX_OPS', 1_000_000, 1)),
    warmupOps: Math.floor(num(env, 'BENCH_SEARCH_WARMUP', 20, 0)),
    paths: Math.floor(num(env, 'BENCH_SEARCH_PATHS', 1000, 1)),
    timeoutMs: num(env, 'BENCH_SEARCH_TIMEOUT_SECONDS', 300, 1) * 1000,
    peer: flag(env, 'BENCH_SEARCH_PEER', true),
    peerHeapMb: Math.floor(num(env, 'BENCH_SEARCH_PEER_HEAP_MB', 16384, 512)),
    rebuild: flag(env, 'BENCH_SEARCH_REBUILD', false),
    queries,
    cacheDir: resolve(env.BENCH_SEARCH_CACHE_DIR || resolve(benchDir, 'results', 'search-stores')),
    dataDir: resolve(env.BENCH_DATA_DIR || tmpdir()),
    keepData: flag(env, 'BENCH_KEEP_DATA', false),
  };
}

/** Patients needed for about `resources` resources (one more than the estimate never hurts). */
export function patientsFor(resources: number, v: VisitRange): number {
  // Resources per patient grow ~14.5 per visit on top of ~2 (Patient, Coverage).
  const perPatient = v.min === DEFAULT_VISITS.min && v.max === DEFAULT_VISITS.max ? RESOURCES_PER_PATIENT_4_10 : 2 + 14.5 * ((v.min + v.max) / 2) + 0.1;
  return Math.max(1, Math.round(resources / perPatient));
}
