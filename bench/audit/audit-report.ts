/** The audit benchmark's result shape, its targets and its printed table. */
import type { FsyncRate } from '../fsync-rate.js';
import type { LoadResult } from '../load.js';
import type { AppendRun } from './appends.js';
import type { ReadStore } from './build-read-store.js';
import type { ProofFigures, Timing } from './proofs.js';

/** Issue 6 §7 targets. */
export const APPEND_TARGET_PER_S = 20_000;
export const GENERATE_TARGET_US = 100;
export const VERIFY_TARGET_US = 200;
/** Auditing may cost at most 10 % of read-by-id throughput. */
export const READ_RATIO_TARGET = 0.9;

export const READ_SERVERS = ['on', 'off'] as const;
export type ReadServer = (typeof READ_SERVERS)[number];

export interface ReadSide {
  /** Median over rounds of each figure. */
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rounds: LoadResult[];
}

export interface ReadRow {
  connections: number;
  on: ReadSide;
  off: ReadSide;
  /** on / off throughput. */
  ratio: number;
  p50AddedMs: number;
  meets: boolean;
}

export interface ReadFigures {
  store: Omit<ReadStore, 'observationIds'> & { copySeconds: number };
  paths: number;
  rounds: number;
  order: string;
  secondsPerRun: number;
  /** Merkle log leaves each server appended while it was read (GET /ledger/status before and after). */
  leavesAppended: Record<ReadServer, number>;
  /** Successful reads each server answered in that time (warm-ups and pre-flight included). */
  readsAnswered: Record<ReadServer, number>;
  rows: ReadRow[];
}

export interface TargetCheck {
  measure: string;
  figure: string;
  target: string;
  ok: boolean;
}

export interface AuditBenchReport {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAvgStart: number[]; loadAvgEnd: number[] };
  settings: Record<string, unknown>;
  /** Measured first, in the run's temp dir; each append run also measures it right before. */
  fsync: FsyncRate;
  appends?: AppendRun[];
  proofs?: ProofFigures;
  reads?: ReadFigures;
  targets: TargetCheck[];
  failures: string[];
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number): string => (!Number.isFinite(n) ? 'n/a' : n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(1)} ms` : `${int(n)} ms`);
const us = (n: number): string => (!Number.isFinite(n) ? 'n/a' : n < 10 ? `${n.toFixed(2)} µs` : `${n.toFixed(1)} µs`);
const signedMs = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)} ms` : 'n/a');
const ok = (b: boolean): string => (b ? 'ok' : 'MISS');
const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function appendLabel(r: AppendRun): string {
  return r.shape === '1-leaf' ? `${r.callers} callers × 1-leaf appends` : `pipeline: ${r.callers} callers × ${r.leavesPerCall.join(',')} AuditEvent leaves (VersionLog)`;
}

export function checkTargets(r: Pick<AuditBenchReport, 'appends' | 'proofs' | 'reads'>): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const a of r.appends ?? []) {
    out.push({ measure: `appends: ${appendLabel(a)}`, figure: `${int(a.leavesPerSecond)} leaves/s`, target: `>= ${int(APPEND_TARGET_PER_S)}/s`, ok: a.leavesPerSecond >= APPEND_TARGET_PER_S });
  }
  if (r.proofs) {
    const p = r.proofs;
    const gen = (name: string, t: Timing): void => void out.push({ measure: `proofs: ${name} p50`, figure: us(t.p50Us), target: `<= ${GENERATE_TARGET_US} µs`, ok: t.p50Us <= GENERATE_TARGET_US });
    const ver = (name: string, t: Timing): void => void out.push({ measure: `proofs: ${name} p50`, figure: us(t.p50Us), target: `<= ${VERIFY_TARGET_US} µs`, ok: t.p50Us <= VERIFY_TARGET_US });
    gen('inclusionProof generation', p.inclusionGenerate);
    ver('verifyInclusion', p.inclusionVerify);
    gen('consistencyProof generation', p.consistencyGenerate);
    ver('verifyConsistency', p.consistencyVerify);
  }
  for (const row of r.reads?.rows ?? []) {
    out.push({ measure: `read-by-id c=${row.connections}: audit on / off throughput`, figure: row.ratio.toFixed(3), target: `>= ${READ_RATIO_TARGET.toFixed(2)}`, ok: row.meets });
  }
  return out;
}

/** Fixed-width table; the first row is the header. */
function table(rows: string[][]): string {
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0] as string[]), rule, ...rows.slice(1).map(line)].join('\n');
}

export function formatAuditReport(r: AuditBenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push('');
  out.push(`Audit benchmark (npm run bench -- audit, issue 6 §7) — ${r.startedAt}`);
  out.push(`machine: ${m.cpus} cpus (${m.cpuModel}), ${m.platform}, node ${m.node}; load average (1/5/15 min) ${load(m.loadAvgStart)} at start, ${load(m.loadAvgEnd)} at end`);
  out.push(`disk: fsync rate ${int(r.fsync.perSecond)}/s (4 KiB write + fsync, one at a time; p50 ${ms(r.fsync.p50Ms)}, p99 ${ms(r.fsync.p99Ms)}) in ${r.fsync.dir}`);
  out.push('');
  const targetOf = new Map(r.targets.map((t) => [t.measure, t]));
  const res = (measure: string): [string, string] => {
    const t = targetOf.get(measure);
    return t ? [t.target, ok(t.ok)] : ['', ''];
  };
  const rows: string[][] = [['part', 'measure', 'figure', 'p50', 'p99', 'beside it', 'target', 'result']];
  for (const a of r.appends ?? []) {
    const beside =
      `fsync ${int(a.fsync.perSecond)}/s; log ${int(a.commitsPerSecond)} durable commits/s ` +
      `(${int(a.transactions)} transactions, ${a.leavesPerTransaction.toFixed(1)} leaves each)` +
      `; CPU ${a.cpuUsPerLeaf.toFixed(1)} µs/leaf, ${a.cpuCores.toFixed(2)} cores` +
      (a.shape === 'pipeline' ? `; ${int(a.callsPerSecond)} calls/s` : '');
    rows.push(['1 appends', appendLabel(a), `${int(a.leavesPerSecond)} leaves/s`, ms(a.p50Ms), ms(a.p99Ms), beside, ...res(`appends: ${appendLabel(a)}`)]);
  }
  if (r.proofs) {
    const p = r.proofs;
    rows.push([
      '2 proofs',
      `build: ${int(p.leaves)} leaves in ${int(p.batch)}-leaf batches`,
      `${int(p.build.leavesPerSecond)} leaves/s`,
      '',
      '',
      `${p.build.seconds.toFixed(1)} s, ${int(p.build.transactions)} transactions${p.build.storeBytes ? `, log file ${(p.build.storeBytes / 2 ** 20).toFixed(0)} MiB` : ''}`,
      '',
      '',
    ]);
    const add = (name: string, t: Timing, beside: string): void => {
      rows.push(['2 proofs', name, '', us(t.p50Us), us(t.p99Us), `${int(t.samples)} samples, mean ${us(t.meanUs)}${beside}`, ...res(`proofs: ${name} p50`)]);
    };
    add('inclusionProof generation', p.inclusionGenerate, `; ${p.inclusionProofLength.toFixed(1)} hashes per proof`);
    add('verifyInclusion', p.inclusionVerify, '');
    add('consistencyProof generation', p.consistencyGenerate, `; ${p.consistencyProofLength.toFixed(1)} hashes per proof`);
    add('verifyConsistency', p.consistencyVerify, '');
  }
  if (r.reads) {
    const rd = r.reads;
    for (const row of rd.rows) {
      const c = row.connections;
      const side = (name: ReadServer, s: ReadSide): void => {
        rows.push([
          `3 read c=${c}`,
          name === 'on' ? 'custodian (auditing on)' : 'custodian-unaudited (off)',
          `${int(s.opsPerSec)} ops/s`,
          ms(s.p50Ms),
          ms(s.p99Ms),
          `rounds ${s.rounds.map((x) => int(x.reqPerSec)).join(', ')} ops/s`,
          '',
          '',
        ]);
      };
      side('on', row.on);
      side('off', row.off);
      rows.push([`3 read c=${c}`, 'on / off', row.ratio.toFixed(3), signedMs(row.p50AddedMs), signedMs(row.on.p99Ms - row.off.p99Ms), `auditing costs ${((1 - row.ratio) * 100).toFixed(1)} % of throughput`, ...res(`read-by-id c=${c}: audit on / off throughput`)]);
    }
  }
  out.push(table(rows));
  out.push('');
  if (r.appends?.length) {
    out.push('1. In process, one MerkleLog per run in a temp dir on the measured disk; every counted leaf was acknowledged after its transaction was fsync\'d.');
    out.push('   p50/p99: one append call until durable. The fsync rate beside each run was measured right before it.');
  }
  if (r.proofs) {
    out.push(`2. Random indices / sizes over the ${int(r.proofs.leaves)}-leaf log (fixed seed); each call timed alone; every verification succeeded.`);
  }
  if (r.reads) {
    const rd = r.reads;
    out.push(
      `3. GET Observation/<id> by a clinician token (Practitioner/pract-1, TREAT), ${int(rd.paths)} ids cycled; store: ${int(rd.store.patients)} patients × ${rd.store.observationsPerPatient} Observations ` +
        `(${int(rd.store.resources)} resources, seeded in ${rd.store.seconds.toFixed(1)} s, copied in ${rd.store.copySeconds.toFixed(1)} s).`,
    );
    out.push(`   ${rd.rounds} interleaved rounds per concurrency (${rd.order}), ${rd.secondsPerRun} s each; each figure is the median over rounds.`);
    out.push(
      `   Merkle log leaves appended while reading: on ${int(rd.leavesAppended.on)} for ${int(rd.readsAnswered.on)} reads, off ${int(rd.leavesAppended.off)} for ${int(rd.readsAnswered.off)} reads ` +
        `(auditing on: one AuditEvent stored and one leaf appended per read, before its response).`,
    );
  }
  const missed = r.targets.filter((t) => !t.ok);
  out.push('');
  out.push(missed.length === 0 ? `All ${r.targets.length} targets met.` : `${r.targets.length - missed.length} of ${r.targets.length} targets met; MISS: ${missed.map((t) => `${t.measure} (${t.figure}, target ${t.target})`).join('; ')}`);
  if (r.failures.length > 0) {
    out.push('');
    out.push('MEASUREMENT FAILURES (figures above are not trustworthy):');
    for (const f of r.failures) out.push(`  - ${f}`);
  }
  out.push('');
  return out.join('\n');
}
