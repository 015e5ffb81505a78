/** Environment knobs of `npm run bench -- audit` (documented in bench/README.md). */
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';

export interface AuditBenchSettings {
  /** Parent of the run's temp dir (logs, fsync probe, the two store copies): the disk measured. */
  dataDir: string;
  keepData: boolean;
  /** Which of the three parts run. */
  parts: AuditPart[];
  fsyncSeconds: number;
  /** 1. Concurrent callers of the 1-leaf append runs. */
  appendCallers: number[];
  /** 1. Measured seconds per append run (after a short warm-up). */
  appendSeconds: number;
  /** 1. The pipeline-shaped run: concurrent callers, and the leaves each call appends (cycled). */
  pipelineCallers: number;
  pipelineLeaves: number[];
  /** 2. Leaves of the proof log, and the batch it is built with. */
  proofLeaves: number;
  proofBatch: number;
  /** 2. Timed samples per proof measure (after proofWarmup unmeasured ones). */
  proofSamples: number;
  proofWarmup: number;
  /** 3. Store: patients, and Observations per patient. */
  patients: number;
  observationsPerPatient: number;
  connections: number[];
  rounds: number;
  /** 3. Measured seconds per server per round. */
  seconds: number;
  warmupSeconds: number;
  /** 3. Distinct Observation ids read (cycled). */
  paths: number;
  /** BENCH_CPU_PROF: run both servers under --cpu-prof (`1`: bench/results/cpu-profiles/audit). */
  cpuProf: string | undefined;
}

export const PARTS = ['appends', 'proofs', 'reads'] as const;
export type AuditPart = (typeof PARTS)[number];

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Infinity): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}] (got '${raw}')`);
  return n;
}

function ints(env: NodeJS.ProcessEnv, name: string, fallback: number[], min: number): number[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const out = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const n = Number(s.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < min) throw new Error(`${name}: '${s}' is not an integer >= ${min}`);
      return n;
    });
  if (out.length === 0) throw new Error(`${name} is empty`);
  return out;
}

export function readAuditSettings(env: NodeJS.ProcessEnv): AuditBenchSettings {
  const parts = (env.BENCH_AUDIT_PARTS ? env.BENCH_AUDIT_PARTS.split(',').map((s) => s.trim()).filter(Boolean) : [...PARTS]) as AuditPart[];
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`BENCH_AUDIT_PARTS: unknown part '${p}' (${PARTS.join(', ')})`);
  return {
    dataDir: resolve(env.BENCH_DATA_DIR || tmpdir()),
    keepData: Boolean(env.BENCH_KEEP_DATA),
    parts,
    fsyncSeconds: num(env, 'BENCH_FSYNC_SECONDS', 2, 0.5),
    appendCallers: ints(env, 'BENCH_AUDIT_APPEND_CALLERS', [64, 256], 1),
    appendSeconds: num(env, 'BENCH_AUDIT_APPEND_SECONDS', 5, 0.5),
    pipelineCallers: Math.floor(num(env, 'BENCH_AUDIT_PIPELINE_CALLERS', 256, 1)),
    pipelineLeaves: ints(env, 'BENCH_AUDIT_PIPELINE_LEAVES', [1, 1, 2, 3], 1),
    proofLeaves: Math.floor(num(env, 'BENCH_AUDIT_LEAVES', 1_000_000, 2)),
    proofBatch: Math.floor(num(env, 'BENCH_AUDIT_BATCH', 1000, 1)),
    proofSamples: Math.floor(num(env, 'BENCH_AUDIT_PROOF_SAMPLES', 5000, 10)),
    proofWarmup: Math.floor(num(env, 'BENCH_AUDIT_PROOF_WARMUP', 500, 0)),
    patients: Math.floor(num(env, 'BENCH_AUDIT_PATIENTS', 1000, 1)),
    observationsPerPatient: Math.floor(num(env, 'BENCH_AUDIT_OBSERVATIONS', 3, 1)),
    connections: ints(env, 'BENCH_AUDIT_CONNECTIONS', [1, 32], 1),
    rounds: Math.floor(num(env, 'BENCH_AUDIT_ROUNDS', 4, 1)),
    seconds: num(env, 'BENCH_AUDIT_SECONDS', 5, 0.5),
    warmupSeconds: num(env, 'BENCH_AUDIT_WARMUP_SECONDS', 1, 0),
    paths: Math.floor(num(env, 'BENCH_AUDIT_PATHS', 3000, 1)),
    cpuProf: env.BENCH_CPU_PROF || undefined,
  };
}
