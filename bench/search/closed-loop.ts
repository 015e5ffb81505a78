/**
 * A closed-loop HTTP client for searches whose cost spans four orders of magnitude (a
 * millisecond on an index, seconds on a scan): `connections` loops each send the next request
 * as soon as the previous answered, until a time cap — but always at least `minOps`, so a
 * slow server still gets a figure. autocannon's fixed duration and timeout suit neither end.
 * An operation is one GET, or a page walk: follow `next` links until N entries were read.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface WalkSpec {
  /** Entries to read per walk. */
  results: number;
  /**
   * When a page has no `next` link but was full, continue with `_offset` (for servers without
   * paging links, like the MemoryRepository peer). Off for Custodian: a missing link ends the walk.
   */
  offsetFallback: boolean;
}

export interface LoopSpec {
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  /** e.g. /fhir */
  basePath: string;
  connections: number;
  /** Request paths below basePath, used in turn. */
  paths: readonly string[];
  walk?: WalkSpec;
  /** No new operation starts after this many seconds (once minOps have completed). */
  seconds: number;
  minOps: number;
  maxOps: number;
  /** Unmeasured operations first (on the first paths: the measured ones continue the cycle). */
  warmupOps: number;
  /** Per HTTP request. */
  timeoutMs: number;
  /**
   * Stop starting operations once a request has timed out (for the peer, whose scans cannot be
   * interrupted: the caller restarts it rather than queue more work behind a runaway scan).
   */
  stopOnTimeout?: boolean;
  /** Sent with every request (Custodian's bearer token). */
  headers?: Readonly<Record<string, string>>;
}

export interface LoopResult {
  /** Operations that completed with every request 200. */
  ok: number;
  failed: number;
  /** HTTP requests sent (a walk sends several), warm-up excluded. */
  requests: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Successful operations per second of the measured window. */
  opsPerSec: number;
  durationS: number;
  /** Mean entries (search matches) per operation; for a walk, entries read per walk. */
  meanEntries: number;
  meanBytes: number;
  statusCodes: Record<string, number>;
  errorSamples: string[];
  /** A request ran past timeoutMs: the figures are a lower bound (or absent when ok is 0). */
  timedOut: boolean;
  timeoutMs: number;
}

/** A request that did not answer within its time limit. */
export class RequestTimeout extends Error {}

interface Response {
  status: number;
  body: string;
}

function get(agent: Agent, origin: string, path: string, timeoutMs: number, headers: Readonly<Record<string, string>> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, origin), { agent, method: 'GET', headers: { accept: 'application/fhir+json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new RequestTimeout(`timed out after ${timeoutMs} ms: ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

interface BundleLike {
  entry?: Array<{ resource?: unknown; search?: { mode?: string } }>;
  link?: Array<{ relation?: string; url?: string }>;
}

/** Entries that are search matches (not an OperationOutcome with warnings). */
export function matchCount(bundle: BundleLike): number {
  return (bundle.entry ?? []).filter((e) => e.resource && e.search?.mode !== 'outcome' && e.search?.mode !== 'include').length;
}

/** One operation; throws on a non-200 answer. */
async function operation(agent: Agent, spec: LoopSpec, path: string, onRequest: (status: number) => void): Promise<{ entries: number; bytes: number }> {
  const first = spec.basePath + path;
  if (!spec.walk) {
    const res = await get(agent, spec.origin, first, spec.timeoutMs, spec.headers);
    onRequest(res.status);
    if (res.status !== 200) throw new Error(`${res.status} for ${first}: ${res.body.slice(0, 200)}`);
    return { entries: -1, bytes: Buffer.byteLength(res.body) };
  }
  let url: string | undefined = first;
  let entries = 0;
  let bytes = 0;
  while (url !== undefined && entries < spec.walk.results) {
    const res = await get(agent, spec.origin, url, spec.timeoutMs, spec.headers);
    onRequest(res.status);
    if (res.status !== 200) throw new Error(`${res.status} for ${url}: ${res.body.slice(0, 200)}`);
    bytes += Buffer.byteLength(res.body);
    const bundle = JSON.parse(res.body) as BundleLike;
    const n = matchCount(bundle);
    entries += n;
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (next) {
      // Links are absolute (the server's BASE_URL); send them to the origin under test.
      const u = new URL(next);
      url = u.pathname + u.search;
    } else if (spec.walk.offsetFallback && n > 0) {
      const u = new URL(first, spec.origin);
      u.searchParams.set('_offset', String(entries));
      url = u.pathname + u.search;
    } else url = undefined;
  }
  return { entries, bytes };
}

export function percentileOf(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export async function runClosedLoop(spec: LoopSpec): Promise<LoopResult> {
  if (spec.paths.length === 0) throw new Error('no request paths');
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  let cursor = 0;
  const nextPath = (): string => spec.paths[cursor++ % spec.paths.length] as string;
  try {
    for (let i = 0; i < spec.warmupOps; i++) await operation(agent, spec, nextPath(), () => undefined).catch(() => undefined);

    const latencies: number[] = [];
    const statusCodes: Record<string, number> = {};
    const errorSamples: string[] = [];
    let failed = 0;
    let requests = 0;
    let entries = 0;
    let bytes = 0;
    let started = 0;
    let timedOut = false;
    const t0 = performance.now();
    const deadline = t0 + spec.seconds * 1000;
    const onRequest = (status: number): void => {
      requests++;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    };
    const loop = async (): Promise<void> => {
      for (;;) {
        if (started >= spec.maxOps || (timedOut && spec.stopOnTimeout)) return;
        // Past the deadline, start only what minOps still needs.
        if (performance.now() >= deadline && started >= spec.minOps) return;
        started++;
        const path = nextPath();
        const s = performance.now();
        try {
          const r = await operation(agent, spec, path, onRequest);
          latencies.push(performance.now() - s);
          entries += r.entries;
          bytes += r.bytes;
        } catch (err) {
          if (err instanceof RequestTimeout) timedOut = true;
          failed++;
          if (errorSamples.length < 5) errorSamples.push((err as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: spec.connections }, loop));
    const durationS = (performance.now() - t0) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    const sum = latencies.reduce((a, b) => a + b, 0);
    return {
      ok: latencies.length,
      failed,
      requests,
      p50Ms: percentileOf(sorted, 50),
      p99Ms: percentileOf(sorted, 99),
      meanMs: latencies.length ? sum / latencies.length : NaN,
      maxMs: sorted.length ? (sorted[sorted.length - 1] as number) : NaN,
      opsPerSec: durationS > 0 ? latencies.length / durationS : 0,
      durationS,
      meanEntries: spec.walk && latencies.length ? entries / latencies.length : NaN,
      meanBytes: latencies.length ? bytes / latencies.length : NaN,
      statusCodes,
      errorSamples,
      timedOut,
      timeoutMs: spec.timeoutMs,
    };
  } finally {
    agent.destroy();
  }
}

/** One GET, parsed: for the pre-flight checks that compare servers' answers. */
export async function fetchBundle(
  origin: string,
  path: string,
  timeoutMs: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; bundle?: BundleLike & { total?: number }; body: string }> {
  const agent = new Agent({ keepAlive: false });
  try {
    const res = await get(agent, origin, path, timeoutMs, headers);
    let bundle: (BundleLike & { total?: number }) | undefined;
    try {
      bundle = JSON.parse(res.body) as BundleLike & { total?: number };
    } catch {
      bundle = undefined;
    }
    return { status: res.status, ...(bundle ? { bundle } : {}), body: res.body };
  } finally {
    agent.destroy();
  }
}
