import type { FsyncRate } from './fsync-rate.js';
import type { LoadResult } from './load.js';

export const SERVERS = ['custodian', 'peer', 'limit'] as const;
export type ServerName = (typeof SERVERS)[number];
export type Scenario = 'read-by-id' | 'create';

export interface Cell {
  scenario: Scenario;
  connections: number;
  results: Record<ServerName, LoadResult>;
  /** Every round when BENCH_ROUNDS > 1 (`results` holds each server's median round). */
  rounds?: Record<ServerName, LoadResult[]>;
  /** For creates: the fsync rate measured right before this cell's runs. */
  fsync?: FsyncRate;
}

export interface TargetCheck {
  scenario: Scenario;
  connections: number;
  target: string;
  ratio: number;
  threshold: number;
  /** null: shown for reference only, the target does not apply to this row. */
  met: boolean | null;
  note?: string;
}

export interface BenchReport {
  startedAt: string;
  machine: { cpus: number; node: string; platform: string };
  settings: { seconds: number; warmupSeconds: number; rounds: number; patients: number; connections: number[]; dataDir: string };
  fsync: FsyncRate;
  /** Bytes of one read-by-id response body from each server. */
  readBodyBytes: Record<ServerName, number>;
  cells: Cell[];
  targets: TargetCheck[];
  failures: string[];
}

export const READ_TARGET = 1.0;
export const CREATE_FSYNC_TARGET = 5;
/** The durable-create target is about group commit, so it applies once requests overlap. */
export const CREATE_TARGET_MIN_CONNECTIONS = 32;

export function checkTargets(cells: readonly Cell[], fsyncPerSecond: number): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const cell of cells) {
    const cust = cell.results.custodian.reqPerSec;
    if (cell.scenario === 'read-by-id') {
      const ratio = cust / cell.results.peer.reqPerSec;
      out.push({ scenario: cell.scenario, connections: cell.connections, target: `>= ${READ_TARGET.toFixed(1)}x peer`, ratio, threshold: READ_TARGET, met: ratio >= READ_TARGET });
    } else {
      const ratio = cust / (cell.fsync?.perSecond ?? fsyncPerSecond);
      const applies = cell.connections >= CREATE_TARGET_MIN_CONNECTIONS;
      out.push({
        scenario: cell.scenario,
        connections: cell.connections,
        target: `>= ${CREATE_FSYNC_TARGET}x fsync rate`,
        ratio,
        threshold: CREATE_FSYNC_TARGET,
        met: applies ? ratio >= CREATE_FSYNC_TARGET : null,
        ...(applies ? {} : { note: 'reference only: one create in flight cannot share an fsync' }),
      });
    }
  }
  return out;
}

const num = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const ms = (n: number): string => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : 'n/a');

function pad(s: string, w: number, right = true): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

export function formatReport(r: BenchReport): string {
  const lines: string[] = [];
  lines.push('');
  lines.push(`Custodian benchmark — ${r.startedAt} — node ${r.machine.node}, ${r.machine.cpus} CPUs, ${r.settings.seconds}s per run (+${r.settings.warmupSeconds}s warm-up)${r.settings.rounds > 1 ? `, median of ${r.settings.rounds} interleaved rounds` : ''}, ${num(r.settings.patients)} seeded Patients`);
  lines.push(`Each server runs in its own process; autocannon runs in the bench process. Latencies in ms (2xx only).`);
  lines.push('');
  lines.push(
    `fsync rate (4 KiB append + fsync, 1 in flight, ${r.fsync.seconds.toFixed(1)}s in ${r.fsync.dir}): ` +
      `${num(r.fsync.perSecond)} fsyncs/s (p50 ${ms(r.fsync.p50Ms)} ms, p99 ${ms(r.fsync.p99Ms)} ms)` +
      (r.cells.some((c) => c.fsync) ? `; again before each create run: ${r.cells.filter((c) => c.fsync).map((c) => `${num(c.fsync?.perSecond ?? NaN)}/s`).join(', ')}` : ''),
  );
  lines.push('');

  const group = (a: string, b: string, c: string): string => `${pad(a, 8)} ${pad(b, 6)} ${pad(c, 7)}`;
  const GROUP_W = 23;
  const head1 = [pad('', 10, false), pad('', 4), '│', pad('custodian', GROUP_W, false), '│', pad('peer (medplum)', GROUP_W, false), '│', pad('limit (raw http)', GROUP_W, false), '│', pad('custodian /', 18, false), '│'];
  const head2 = [pad('scenario', 10, false), pad('conc', 4), '│', group('req/s', 'p50', 'p99'), '│', group('req/s', 'p50', 'p99'), '│', group('req/s', 'p50', 'p99'), '│', pad('peer', 8), pad('limit', 9), '│', 'target'];
  lines.push(head1.join(' '));
  lines.push(head2.join(' '));
  const sep = '─'.repeat(head2.join(' ').length + 34);
  lines.push(sep);
  for (const cell of r.cells) {
    const c = cell.results.custodian;
    const p = cell.results.peer;
    const l = cell.results.limit;
    const check = r.targets.find((t) => t.scenario === cell.scenario && t.connections === cell.connections);
    let target = '';
    if (check) {
      const verdict = check.met === null ? 'reference' : check.met ? 'MET' : 'NOT MET';
      target = `${check.target}: ${ratio(check.ratio)} ${verdict}`;
    }
    const row = [
      pad(cell.scenario, 10, false),
      pad(String(cell.connections), 4),
      '│',
      group(num(c.reqPerSec), ms(c.p50Ms), ms(c.p99Ms)),
      '│',
      group(num(p.reqPerSec), ms(p.p50Ms), ms(p.p99Ms)),
      '│',
      group(num(l.reqPerSec), ms(l.p50Ms), ms(l.p99Ms)),
      '│',
      pad(ratio(c.reqPerSec / p.reqPerSec), 8),
      pad(ratio(c.reqPerSec / l.reqPerSec), 9),
      '│',
      target,
    ];
    lines.push(row.join(' '));
  }
  lines.push(sep);
  lines.push('');
  lines.push('Durable creates vs the disk:');
  for (const t of r.targets.filter((x) => x.scenario === 'create')) {
    const cell = r.cells.find((c) => c.scenario === 'create' && c.connections === t.connections);
    if (!cell) continue;
    const verdict = t.met === null ? `reference (${t.note})` : t.met ? 'MET' : 'NOT MET';
    lines.push(
      `  c=${String(t.connections).padEnd(3)} custodian ${num(cell.results.custodian.reqPerSec)} creates/s ÷ ${num((cell.fsync ?? r.fsync).perSecond)} fsyncs/s (measured just before) = ${ratio(t.ratio)}   target ${t.target}: ${verdict}`,
    );
  }
  lines.push('');
  lines.push('Targets: read-by-id >= 1.0x peer (every concurrency); durable creates >= 5x the fsync rate (with requests in flight together, c=32).');
  const all = r.targets.filter((t) => t.met !== null);
  const missed = all.filter((t) => t.met === false);
  lines.push(missed.length === 0 ? `All ${all.length} targets met.` : `${missed.length} of ${all.length} targets NOT met: ${missed.map((t) => `${t.scenario} c=${t.connections}`).join(', ')}.`);
  lines.push('');
  lines.push('Notes:');
  lines.push('  - peer = @medplum/fhir-router FhirRouter + MemoryRepository over node:http: in memory, NOT durable (a create is a Map.set),');
  lines.push('    and it does not validate resources. Custodian validates every create and acknowledges it only after LMDB has fsynced it.');
  lines.push('  - limit = raw node:http answering pre-captured Custodian response bytes (read) and a fixed 201 (create): no parsing, no storage.');
  lines.push(
    `  - read-by-id response body bytes: custodian ${num(r.readBodyBytes.custodian)}, peer ${num(r.readBodyBytes.peer)}, limit ${num(r.readBodyBytes.limit)}.`,
  );
  lines.push('  - Request counts and failures per run:');
  for (const cell of r.cells) {
    const parts = SERVERS.map((s) => {
      const x = cell.results[s];
      const codes = Object.entries(x.statusCodes)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      return `${s} ok=${x.ok} non2xx=${x.non2xx} errors=${x.errors} (timeouts ${x.timeouts}) [${codes}]`;
    });
    lines.push(`      ${cell.scenario} c=${cell.connections}: ${parts.join('; ')}`);
  }
  if (r.failures.length > 0) {
    lines.push('');
    lines.push('FAILED — more than 1% of requests were non-2xx or errors; these figures are not trustworthy:');
    for (const f of r.failures) lines.push(`  ! ${f}`);
  }
  lines.push('');
  return lines.join('\n');
}
