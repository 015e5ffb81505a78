import autocannon, { type AutocannonRequest } from 'autocannon';
import { percentile } from './fsync-rate.js';

export interface LoadResult {
  /** Successful (2xx) responses per second over the measured window. */
  reqPerSec: number;
  /** Latency of 2xx responses in ms (exact, from every response's own timing). */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  ok: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** Of which timeouts. */
  timeouts: number;
  /** (non2xx + errors) / attempts; errors include timeouts. */
  failureRatio: number;
  statusCodes: Record<string, number>;
  errorSamples: string[];
  durationS: number;
}

export interface LoadSpec {
  /** Origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  connections: number;
  seconds: number;
  request: { kind: 'cycle-get'; paths: readonly string[] } | { kind: 'post'; path: string; body: string };
  /** Sent with every request (Custodian's bearer token; the same bytes go to every server). */
  headers?: Readonly<Record<string, string>>;
}

const FHIR_HEADERS = { accept: 'application/fhir+json' };

/** One autocannon run against one server; the parent process generates load, the server is a child. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const headers = { ...FHIR_HEADERS, ...spec.headers };
  let requests: AutocannonRequest[];
  if (spec.request.kind === 'cycle-get') {
    const paths = spec.request.paths;
    if (paths.length === 0) throw new Error('no ids to read');
    let next = 0;
    requests = [
      {
        method: 'GET',
        headers,
        setupRequest: (req) => {
          const path = paths[next % paths.length] as string;
          next++;
          return { ...req, path };
        },
      },
    ];
  } else {
    requests = [
      {
        method: 'POST',
        path: spec.request.path,
        headers: { ...headers, 'content-type': 'application/fhir+json' },
        body: spec.request.body,
      },
    ];
  }

  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const errorSamples: string[] = [];
  const instance = autocannon({
    url: spec.origin,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: 10,
    requests,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode >= 300) return;
    if (n === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[n++] = responseTime;
  });
  instance.on('reqError', (err: Error) => {
    if (errorSamples.length < 5) errorSamples.push(err?.message ?? String(err));
  });
  const result = await instance;

  const sorted = latencies.subarray(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] as number;
  const ok = result['2xx'];
  // autocannon counts a timeout as an error too.
  const attempts = ok + result.non2xx + result.errors;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats)) statusCodes[code] = s.count;
  return {
    reqPerSec: result.duration > 0 ? ok / result.duration : 0,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: n > 0 ? sum / n : NaN,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    failureRatio: attempts > 0 ? (result.non2xx + result.errors) / attempts : 1,
    statusCodes,
    errorSamples,
    durationS: result.duration,
  };
}
