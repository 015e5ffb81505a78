/** The consent benchmark's result shape, its targets and its printed table. */
import type { LoopResult } from '../search/closed-loop.js';
import type { ConsentBuildStats, DecisionSize } from './build-consent-store.js';
import type { ScenarioName } from './scenarios.js';

export const SERVERS = ['enforced', 'unenforced'] as const;
export type ServerName = (typeof SERVERS)[number];

/** Enforced throughput must be at least this share of unenforced. */
export const THROUGHPUT_TARGET = 0.85;
/** Enforcement may add at most this much to the median latency of one request. */
export const P50_TARGET_MS = 1;

/** One server's figures for one scenario: the median over rounds of each metric. */
export interface Figures {
  p50Ms: number;
  p99Ms: number;
  /** Operations per second with `connections` clients. */
  opsPerSec: number;
  /** Every round's latency run (1 connection) and throughput run. */
  latencyRounds: LoopResult[];
  throughputRounds: LoopResult[];
  /** Server process CPU time (all threads) per request in each throughput run, µs; empty without /proc. */
  cpuUsPerRequest: number[];
}

export interface Preflight {
  /** Mean search matches per first page (reads: the share answered 200). */
  meanEntries: number;
  /** Mean Bundle.total, when the search reports one. */
  meanTotal?: number;
}

export interface ScenarioRow {
  name: ScenarioName;
  label: string;
  paths: number;
  /** Reads: ids the enforced server denies this requester (404), left out so both servers get the same 200 requests. */
  deniedIdsLeftOut?: number;
  /** Walks: HTTP requests per operation (pages). */
  requestsPerOp: number;
  preflight: Record<ServerName, Preflight>;
  results: Record<ServerName, Figures>;
  throughputRatio: number;
  /** Added median latency per operation, and per request (a walk is several). */
  p50AddedMs: number;
  p50AddedPerRequestMs: number;
  meetsThroughput: boolean;
  meetsLatency: boolean;
}

export interface ConsentChange {
  patient: string;
  resources: number;
  /** PUT of the patient's research Consent (new version; its decisions re-materialised). */
  consentPutMs: number[];
  /** PUT of the same patient's Patient resource, for comparison (an ordinary write). */
  plainPutMs: number[];
}

export interface ConsentBenchReport {
  startedAt: string;
  machine: { cpus: number; node: string; platform: string; loadAvg: number[] };
  settings: Record<string, unknown>;
  store: { key: string; /** The key the current code would build; differs when a stale store was reused. */ currentKey: string; cached: boolean; builtAt: string; dir: string; build: ConsentBuildStats; size: DecisionSize; copySeconds: number };
  rows: ScenarioRow[];
  consentChange: ConsentChange[];
  failures: string[];
}

const ms = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const rate = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const signed = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)}` : 'n/a');
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
export { median };

function pad(s: string, n: number, right = false): string {
  return right ? s.padEnd(n) : s.padStart(n);
}

export function formatConsentReport(r: ConsentBenchReport): string {
  const out: string[] = [];
  const b = r.store.build;
  const conns = r.settings.connections;
  out.push('');
  out.push(`Consent benchmark — ${r.startedAt} — ${r.machine.cpus} CPUs, node ${r.machine.node}, load ${r.machine.loadAvg.map((l) => l.toFixed(2)).join(' ')}`);
  out.push(
    `Store: ${int(b.patients)} patients, ${int(b.resources)} resources, ${int(b.consentedPatients)} patients with Consents ` +
      `(research ${int(b.consents.research)}, employer ${int(b.consents.employer)}, hiv ${int(b.consents.hiv)}); ${r.store.cached ? `REUSED cache built ${r.store.builtAt}` : 'built in this run'} (key ${r.store.key}${r.store.currentKey !== r.store.key ? `; STALE: the current code's key is ${r.store.currentKey}` : ''})`,
  );
  out.push(
    `  build: ${ms(b.totalSeconds)} s total = setup ${ms(b.setupSeconds)} s + population ${ms(b.populationSeconds)} s (${int(b.resourcesPerSecond)} resources/s) + ` +
      `Consents ${ms(b.consentSeconds)} s (${b.consentTransactionsPerSecond.toFixed(1)} transactions/s) + sampling/sizing ${ms(b.finishSeconds)} s; copy for this run ${ms(r.store.copySeconds)} s`,
  );
  const sz = r.store.size;
  out.push(
    `  stored decisions: ${int(sz.tokens)} _consent tokens on ${int(sz.withTokens)} of ${int(sz.documents)} documents; ≈ ${mib(sz.tokenJsonBytes)} in search documents + ` +
      `≈ ${mib(sz.postingKeyBytes)} of posting keys, against a ${mib(sz.storeFileBytes)} store file (≈ ${((100 * (sz.tokenJsonBytes + sz.postingKeyBytes)) / sz.storeFileBytes).toFixed(1)} %)`,
  );
  out.push('');
  out.push(`Auditing (AuditEvent per request) is ${r.settings.audit ? 'ON' : 'OFF'} in both servers (BENCH_CONSENT_AUDIT), so the ratio ${r.settings.audit ? 'includes the shared audit cost' : 'isolates the consent gate'}.`);
  out.push(`Latency: 1 connection, median of ${r.settings.rounds} interleaved rounds; throughput: ${conns} connections. Targets: enforced ≥ ${THROUGHPUT_TARGET}× unenforced throughput, ≤ ${P50_TARGET_MS} ms added at p50 (per request).`);
  const head = [pad('scenario', 24, true), pad('enf p50', 9), pad('enf p99', 9), pad('unenf p50', 10), pad('unenf p99', 10), pad('enf ops/s', 10), pad('unenf ops/s', 12), pad('ratio', 7), pad('+p50 ms', 9), '  targets'];
  out.push(head.join(' '));
  out.push('-'.repeat(head.join(' ').length + 6));
  for (const row of r.rows) {
    const e = row.results.enforced;
    const u = row.results.unenforced;
    const perReq = row.requestsPerOp > 1 ? ` (${signed(row.p50AddedPerRequestMs)}/req)` : '';
    out.push(
      [
        pad(row.name, 24, true),
        pad(ms(e.p50Ms), 9),
        pad(ms(e.p99Ms), 9),
        pad(ms(u.p50Ms), 10),
        pad(ms(u.p99Ms), 10),
        pad(rate(e.opsPerSec), 10),
        pad(rate(u.opsPerSec), 12),
        pad(`${row.throughputRatio.toFixed(2)}x`, 7),
        pad(signed(row.p50AddedMs), 9),
        `  ${row.meetsThroughput ? 'ok' : 'MISS'} / ${row.meetsLatency ? 'ok' : 'MISS'}${perReq}`,
      ].join(' '),
    );
  }
  if (r.rows.some((row) => row.results.enforced.cpuUsPerRequest.length > 0 && row.results.unenforced.cpuUsPerRequest.length > 0)) {
    out.push('');
    out.push(`Server CPU per request in the throughput runs (user + system, all threads, from /proc; steadier than ops/s on shared cores), by round, and unenforced/enforced of the medians:`);
    for (const row of r.rows) {
      const e = row.results.enforced.cpuUsPerRequest;
      const u = row.results.unenforced.cpuUsPerRequest;
      if (e.length === 0 || u.length === 0) continue;
      const list = (xs: number[]): string => xs.map((x) => ms(x)).join(', ');
      out.push(`  ${pad(row.name, 24, true)} enforced ${list(e)} µs; unenforced ${list(u)} µs; ${(median(u) / median(e)).toFixed(2)}x`);
    }
  }
  out.push('');
  out.push('What each requester saw (pre-flight, first requests):');
  for (const row of r.rows) {
    const e = row.preflight.enforced;
    const u = row.preflight.unenforced;
    const total = e.meanTotal !== undefined || u.meanTotal !== undefined ? `; mean total ${ms(e.meanTotal)} vs ${ms(u.meanTotal)}` : '';
    const denied = row.deniedIdsLeftOut !== undefined ? `; ${row.deniedIdsLeftOut} sampled ids denied by consent were left out` : '';
    const walk = row.requestsPerOp > 1 ? `; ${row.requestsPerOp.toFixed(1)} requests per walk` : '';
    out.push(`  ${pad(row.name, 24, true)} ${row.label}: ${row.paths} paths; mean entries ${ms(e.meanEntries)} enforced vs ${ms(u.meanEntries)} unenforced${total}${denied}${walk}`);
  }
  if (r.consentChange.length > 0) {
    out.push('');
    out.push('Cost of a Consent change (enforced server, PUT of the research Consent: a new version, the patient\'s decisions re-materialised before the response):');
    for (const c of r.consentChange) {
      out.push(
        `  Patient/${c.patient} with ${c.resources} resources: Consent PUT median ${ms(median(c.consentPutMs))} ms (${c.consentPutMs.map(ms).join(', ')}); ` +
          `Patient PUT median ${ms(median(c.plainPutMs))} ms`,
      );
    }
  }
  if (r.failures.length > 0) {
    out.push('');
    out.push('FAILURES (the measurement is not valid):');
    for (const f of r.failures) out.push(`  ${f}`);
  }
  out.push('');
  return out.join('\n');
}
