/** Environment knobs of `npm run bench -- consent` (documented in bench/README.md). */
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { VisitRange } from '../../fixtures/population/index.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';

export interface ConsentBenchSettings {
  patients: number;
  seed: number;
  /** Encounters per patient (generator option); the generator's default 2-6 gives ≈ 59 resources per patient. */
  visits: VisitRange;
  /** Share of patients with each Consent (drawn independently per patient). */
  shares: { research: number; employer: number; hiv: number };
  workers: number;
  rebuild: boolean;
  /** Reuse the newest cached store of the same options even when the code's key changed. */
  reuseStale: boolean;
  cacheDir: string;
  /** Parent of the temp dir holding the run's copy of the store. */
  dataDir: string;
  keepData: boolean;
  scenarios: ScenarioName[];
  rounds: number;
  /** Measured seconds per server per run. */
  seconds: number;
  warmupOps: number;
  minOps: number;
  /** Connections of the throughput run (latency is measured with one). */
  connections: number;
  /** Distinct request paths per scenario. */
  paths: number;
  timeoutMs: number;
  /** PUTs of a Consent timed per patient size. */
  consentPuts: number;
  cpuProf: string | undefined;
  /**
   * Whether both servers record AuditEvents. Off by default: auditing costs both servers the same
   * large amount per request (measured by `npm run bench -- audit`), which would flatter the ratio.
   */
  audit: boolean;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Infinity): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}] (got '${raw}')`);
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
  if (!raw) return { min: 2, max: 6 };
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m) throw new Error(`BENCH_CONSENT_VISITS must look like 2-6 (got '${raw}')`);
  const v = { min: Number(m[1]), max: Number(m[2]) };
  if (v.min < 1 || v.max < v.min) throw new Error('BENCH_CONSENT_VISITS: need 1 <= min <= max');
  return v;
}

export function readSettings(env: NodeJS.ProcessEnv, benchDir: string): ConsentBenchSettings {
  const names = SCENARIOS.map((s) => s.name);
  const scenarios = (env.BENCH_CONSENT_SCENARIOS ? env.BENCH_CONSENT_SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean) : names) as ScenarioName[];
  for (const s of scenarios) if (!names.includes(s)) throw new Error(`BENCH_CONSENT_SCENARIOS: unknown scenario '${s}' (${names.join(', ')})`);
  return {
    patients: Math.floor(num(env, 'BENCH_CONSENT_PATIENTS', 10_000, 20)),
    seed: Math.floor(num(env, 'BENCH_CONSENT_SEED', 42, 0)),
    visits: visits(env.BENCH_CONSENT_VISITS),
    shares: {
      research: num(env, 'BENCH_CONSENT_RESEARCH_SHARE', 0.6, 0, 1),
      employer: num(env, 'BENCH_CONSENT_EMPLOYER_SHARE', 0.1, 0, 1),
      hiv: num(env, 'BENCH_CONSENT_HIV_SHARE', 0.05, 0, 1),
    },
    workers: Math.floor(num(env, 'BENCH_CONSENT_WORKERS', 2, 1)),
    rebuild: flag(env, 'BENCH_CONSENT_REBUILD', false),
    reuseStale: flag(env, 'BENCH_CONSENT_REUSE_STALE', false),
    cacheDir: resolve(env.BENCH_CONSENT_CACHE_DIR || resolve(benchDir, 'results', 'consent-stores')),
    dataDir: resolve(env.BENCH_DATA_DIR || tmpdir()),
    keepData: flag(env, 'BENCH_KEEP_DATA', false),
    scenarios,
    rounds: Math.floor(num(env, 'BENCH_CONSENT_ROUNDS', 3, 1)),
    seconds: num(env, 'BENCH_CONSENT_SECONDS', 5, 0.5),
    warmupOps: Math.floor(num(env, 'BENCH_CONSENT_WARMUP', 50, 0)),
    minOps: Math.floor(num(env, 'BENCH_CONSENT_MIN_OPS', 5, 1)),
    connections: Math.floor(num(env, 'BENCH_CONSENT_CONNECTIONS', 4, 1)),
    paths: Math.floor(num(env, 'BENCH_CONSENT_PATHS', 1000, 1)),
    timeoutMs: num(env, 'BENCH_CONSENT_TIMEOUT_SECONDS', 120, 1) * 1000,
    consentPuts: Math.floor(num(env, 'BENCH_CONSENT_PUTS', 5, 1)),
    cpuProf: env.BENCH_CPU_PROF || undefined,
    audit: flag(env, 'BENCH_CONSENT_AUDIT', false),
  };
}
