/** The search benchmark's result shape, its targets and its one printed table. */
import type { LoopResult } from './closed-loop.js';
import type { ImportStats } from './build-store.js';
import type { QueryName } from './queries.js';

export const TARGETS = ['custodian-large', 'custodian-small', 'medplum-large'] as const;
export type TargetName = (typeof TARGETS)[number];

/** 1M-store latency over 10k-store latency must stay at or under this (index-driven, not scan-driven). */
export const SCALE_TARGET = 2;
/** The peer's latency at 1M over Custodian's must be at least this. */
export const PEER_TARGET = 5;

export interface CheckResult {
  /** Requests compared between Custodian and the peer (same store content, same ids). */
  compared: number;
  agreed: number;
  mismatches: string[];
}

export interface QueryRow {
  name: QueryName;
  label: string;
  paths: Partial<Record<TargetName, number>>;
  /** The latency run: one connection. */
  results: Partial<Record<TargetName, LoopResult>>;
  /** The throughput run (BENCH_SEARCH_CONNECTIONS > 1; Custodian only); else ops/s come from `results`. */
  throughput: Partial<Record<TargetName, LoopResult>>;
  /** Mean matches in the first page of the pre-flight requests. */
  firstPageEntries: Partial<Record<TargetName, number>>;
  check?: CheckResult;
}

export interface StoreInfo {
  resources: number;
  patients: number;
  byType: Record<string, number>;
  import: ImportStats;
  /** True when the large store came from the cache instead of being built in this run. */
  cached: boolean;
  builtAt: string;
  key?: string;
  dir: string;
}

export interface SearchBenchReport {
  startedAt: string;
  machine: { cpus: number; node: string; platform: string; loadAvg: number[] };
  settings: Record<string, unknown>;
  stores: { large: StoreInfo; small: StoreInfo };
  /** One line per (re)load of the peer: resources, seconds, memory. */
  peer?: { loadLines: string[] };
  rows: QueryRow[];
  failures: string[];
}

const ms = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const rate = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US'));
const x = (n: number): string => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(0)}x` : 'n/a');
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function scaleRatio(row: QueryRow): number {
  return (row.results['custodian-large']?.p50Ms ?? NaN) / (row.results['custodian-small']?.p50Ms ?? NaN);
}
/**
 * The peer's p50 over Custodian's. When a peer request ran past its limit the true p50 is at
 * least what was measured (or at least the limit, when nothing completed): a lower bound.
 */
export function peerRatio(row: QueryRow): { value: number; lowerBound: boolean } {
  const m = row.results['medplum-large'];
  const c = row.results['custodian-large']?.p50Ms ?? NaN;
  if (!m) return { value: NaN, lowerBound: false };
  if (m.timedOut) return { value: (m.ok > 0 ? Math.max(m.p50Ms, 0) : m.timeoutMs) / c, lowerBound: true };
  return { value: m.p50Ms / c, lowerBound: false };
}

export function formatSearchReport(r: SearchBenchReport): string {
  const L = r.stores.large;
  const S = r.stores.small;
  const size = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : 2)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n));
  const lines: string[] = [];
  lines.push('');
  lines.push(`Custodian search benchmark — ${r.startedAt} — node ${r.machine.node}, ${r.machine.cpus} CPUs, load avg at start ${r.machine.loadAvg.map((n) => n.toFixed(2)).join(' ')}`);
  lines.push(
    `Closed loop per query per server: ${String(r.settings.warmupOps)} warm-up ops, then until ${String(r.settings.seconds)} s (peer ${String(r.settings.peerSeconds)} s) but at least ` +
      `${String(r.settings.minOps)} ops. p50/p99: latency of an op in ms with 1 connection (a walk = all its pages); ops/s: Custodian with ` +
      `${String(r.settings.connections)} connections, the peer with 1. Each server in its own process.`,
  );
  lines.push('');
  for (const [name, s] of [[`large (${size(L.resources)})`, L] as const, [`small (${size(S.resources)})`, S] as const]) {
    lines.push(
      `store ${name}: ${int(s.resources)} resources, ${int(s.patients)} patients` +
        (s.cached
          ? `, REUSED from cache (built ${s.builtAt}; import then: ${int(s.import.resourcesPerSecond)} resources/s)`
          : `, imported at ${int(s.import.resourcesPerSecond)} resources/s (${s.import.seconds.toFixed(1)} s, ${s.import.workers} worker threads + ${s.import.startupSeconds.toFixed(1)} s start-up)`),
    );
  }
  lines.push(`import path: ${L.import.path}`);
  if (r.peer) lines.push(`peer: ${r.peer.loadLines[0] ?? 'not loaded'}${r.peer.loadLines.length > 1 ? ` (loaded ${r.peer.loadLines.length} times: restarted after requests past its time limit)` : ''}`);
  lines.push('');

  const big = size(L.resources);
  const small = size(S.resources);
  const group = (a: string, b: string, c: string): string => `${a.padStart(7)} ${b.padStart(7)} ${c.padStart(7)}`;
  const W = 23;
  const head1 = ['query'.padEnd(24), '│', `custodian@${big}`.padEnd(W), '│', `custodian@${small}`.padEnd(W), '│', `medplum-memory@${big}`.padEnd(W), '│', `${big}/${small} p50`.padEnd(14), '│', `medplum/cust @${big}`];
  const head2 = [''.padEnd(24), '│', group('p50', 'p99', 'ops/s'), '│', group('p50', 'p99', 'ops/s'), '│', group('p50', 'p99', 'ops/s'), '│', `(≤ ${SCALE_TARGET}x)`.padEnd(14), '│', `p50 (≥ ${PEER_TARGET}x)`];
  lines.push(head1.join(' '));
  lines.push(head2.join(' '));
  const sep = '─'.repeat(head1.join(' ').length + 8);
  lines.push(sep);
  for (const row of r.rows) {
    const cell = (t: TargetName): string => {
      const res = row.results[t];
      if (!res) return group('-', '-', '-');
      const ops = (row.throughput[t] ?? res).opsPerSec;
      if (res.timedOut && res.ok === 0) return group(`>${res.timeoutMs / 1000}s`, '-', `<${rate(1000 / res.timeoutMs)}`);
      if (res.timedOut) return group(`≥${ms(res.p50Ms)}`, `>${res.timeoutMs / 1000}s`, rate(ops));
      return group(ms(res.p50Ms), ms(res.p99Ms), rate(ops));
    };
    const sr = scaleRatio(row);
    const pr = peerRatio(row);
    lines.push(
      [
        row.name.padEnd(24),
        '│',
        cell('custodian-large'),
        '│',
        cell('custodian-small'),
        '│',
        cell('medplum-large'),
        '│',
        `${x(sr)} ${Number.isFinite(sr) ? (sr <= SCALE_TARGET ? 'MET' : 'NOT MET') : ''}`.padEnd(14),
        '│',
        Number.isFinite(pr.value) ? `${pr.lowerBound ? '≥' : ''}${x(pr.value)} ${pr.value >= PEER_TARGET ? 'MET' : pr.lowerBound ? 'unknown' : 'NOT MET'}` : 'n/a',
      ].join(' '),
    );
  }
  lines.push(sep);
  lines.push('');
  lines.push('Queries:');
  for (const row of r.rows) lines.push(`  ${row.name.padEnd(24)} ${row.label}`);
  lines.push('');
  lines.push('Per query and server: distinct request paths, mean matches on the first page (pre-flight), ops ok/failed, requests:');
  for (const row of r.rows) {
    const parts = TARGETS.filter((t) => row.results[t]).map((t) => {
      const res = row.results[t] as LoopResult;
      const tr = row.throughput[t];
      const entries = row.firstPageEntries[t];
      const walked = Number.isFinite(res.meanEntries) ? `, ${res.meanEntries.toFixed(0)} entries/walk` : '';
      const more = tr ? `; c=${String(r.settings.connections)}: ok=${tr.ok} failed=${tr.failed} p50 ${ms(tr.p50Ms)}` : '';
      return `${t} ${row.paths[t]} paths, ${entries === undefined ? '?' : entries.toFixed(1)} matches${walked}, c=1: ok=${res.ok} failed=${res.failed} req=${res.requests}${more}`;
    });
    lines.push(`  ${row.name}: ${parts.join('; ')}`);
    if (row.check) {
      lines.push(`      custodian@${big} vs medplum@${big} on the same requests: ${row.check.agreed}/${row.check.compared} agree${row.check.mismatches.length ? ` — e.g. ${row.check.mismatches.slice(0, 2).join(' | ')}` : ''}`);
    }
  }
  lines.push('');
  lines.push(`Targets: custodian@${big} p50 ≤ ${SCALE_TARGET}x custodian@${small} p50 (index-driven); medplum-memory@${big} p50 ≥ ${PEER_TARGET}x custodian@${big} p50.`);
  const scaleMissed = r.rows.filter((row) => !(scaleRatio(row) <= SCALE_TARGET)).map((row) => row.name);
  const peerMissed = r.rows.filter((row) => Number.isFinite(peerRatio(row).value) && !(peerRatio(row).value >= PEER_TARGET)).map((row) => row.name);
  lines.push(`  scale: ${scaleMissed.length === 0 ? 'all met' : `NOT met for ${scaleMissed.join(', ')}`}; peer: ${r.rows.some((row) => row.results['medplum-large']) ? (peerMissed.length === 0 ? 'all met' : `NOT met for ${peerMissed.join(', ')}`) : 'not measured'}.`);
  lines.push('Notes: the peer is @medplum/fhir-router FhirRouter + MemoryRepository (in memory, scans every resource of the type per search, no paging links:');
  lines.push('       its walks page with _offset); it holds the same resources with the same ids, loaded from the NDJSON the import wrote.');
  lines.push(`       It gets one connection: it is single-threaded and CPU-bound, so more would only queue. A peer request past`);
  lines.push(`       ${Number(r.settings.peerTimeoutMs) / 1000} s is abandoned (the peer is killed and reloaded): ">N s" and "≥" mark lower bounds.`);
  if (r.failures.length > 0) {
    lines.push('');
    lines.push('FAILED — these figures are not trustworthy:');
    for (const f of r.failures) lines.push(`  ! ${f}`);
  }
  lines.push('');
  return lines.join('\n');
}
