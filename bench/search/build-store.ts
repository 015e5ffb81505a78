/**
 * Bulk loader for the search benchmark: fills an embedded store (the directory the server
 * opens as DATA_DIR) with the synthetic population, as fast as honestly possible.
 *
 * Honest means each resource goes through what a client's transaction Bundle goes through in
 * the server — FhirService.handle → transaction → resolve ids → rewrite urn:uuid references →
 * validate (@medplum/core + required bindings) → compute index values → one atomic,
 * fsync-acknowledged store.commit per Bundle. Only the HTTP edge is skipped (as `npm run seed`
 * skips it). Fast means that CPU-bound part runs in worker threads, one FhirService each,
 * while the single real store lives in this thread and serves every commit (remote-store.ts).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { VisitRange } from '../../fixtures/population/index.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { reindexIfDefinitionsChanged } from '../../server/src/fhir/search/reindex.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import type { LoadTask, LoadWorkerData, WorkerMessage } from './load-worker.js';
import type { PatientSummary } from './patient-summary.js';
import { serveStore } from './remote-store.js';

export interface BuildOptions {
  /** The server's DATA_DIR; the engine's files go to `<dataDir>/store`, as the server expects. */
  dataDir: string;
  seed: number;
  visits: VisitRange;
  patients: number;
  workers: number;
  /** Transactions each worker keeps in progress. */
  inFlight?: number;
  /** Patients per task handed to a worker. */
  chunk?: number;
  /** When set, every committed resource is also written here as NDJSON (one file per worker). */
  ndjsonDir?: string;
  baseUrl?: string;
  log: (msg: string) => void;
}

export interface ImportStats {
  patients: number;
  resources: number;
  byType: Record<string, number>;
  workers: number;
  /** Worker start-up (loading the R4 definitions), not counted in the rate. */
  startupSeconds: number;
  /** From the first transaction sent to the last commit acknowledged durable. */
  seconds: number;
  resourcesPerSecond: number;
  path: string;
}

export interface BuiltStore {
  stats: ImportStats;
  summaries: PatientSummary[];
  ndjsonFiles: string[];
}

export const IMPORT_PATH =
  'in-process FhirService transaction Bundle per patient (resolve ids, rewrite urn:uuid refs, validate, index values) in worker threads; ' +
  'one embedded store in the main thread commits each Bundle atomically and acknowledges after fsync';

const WORKER_BOOT = new URL('./worker-boot.mjs', import.meta.url);
const WORKER_ENTRY = new URL('./load-worker.ts', import.meta.url).href;

export async function buildStore(opts: BuildOptions): Promise<BuiltStore> {
  const store = createEmbeddedStore({ path: join(opts.dataDir, 'store') });
  await store.init();
  // As the server's start-up does on an empty store: record the definitions fingerprint the
  // index values are computed with, so the server does not reindex everything on first start.
  await reindexIfDefinitionsChanged(store, loadDefinitions(PROFILES_DIR));
  const nWorkers = Math.max(1, opts.workers);
  const chunk = Math.max(1, opts.chunk ?? 20);
  const ndjsonFiles: string[] = [];
  const workers: Worker[] = [];
  let failure: Error | undefined;
  const waiters = new Map<number, { resolve: (m: WorkerMessage & { kind: 'done' }) => void; reject: (e: Error) => void }>();
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiters.values()) w.reject(failure);
    waiters.clear();
  };

  try {
    const t0 = performance.now();
    const ready: Promise<void>[] = [];
    for (let w = 0; w < nWorkers; w++) {
      const channel = new MessageChannel();
      serveStore(store, channel.port1);
      const ndjsonPath = opts.ndjsonDir ? join(opts.ndjsonDir, `resources-${w}.ndjson`) : null;
      if (ndjsonPath) ndjsonFiles.push(ndjsonPath);
      const data: LoadWorkerData = {
        storePort: channel.port2,
        seed: opts.seed,
        visits: opts.visits,
        baseUrl: opts.baseUrl ?? 'http://localhost:8080/fhir',
        ndjsonPath,
        inFlight: opts.inFlight ?? 3,
      };
      const worker = new Worker(WORKER_BOOT, { workerData: { ...data, entry: WORKER_ENTRY }, transferList: [channel.port2] });
      workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: WorkerMessage) => {
            if (m.kind === 'ready') resolve();
            else if (m.kind === 'failed') {
              const err = new Error(`loader worker ${w}: ${m.message}`);
              reject(err);
              fail(err);
            } else {
              const waiter = waiters.get(m.taskId);
              waiters.delete(m.taskId);
              waiter?.resolve(m);
            }
          });
          worker.on('error', (err) => {
            reject(err);
            fail(err);
          });
          worker.on('exit', (code) => {
            if (code !== 0) fail(new Error(`loader worker ${w} exited with code ${code}`));
          });
        }),
      );
    }
    await Promise.all(ready);
    const startupSeconds = (performance.now() - t0) / 1000;

    let nextTaskId = 1;
    type Task = { kind: 'directory' } | { kind: 'patients'; start: number; count: number };
    const runTask = (w: number, task: Task): Promise<WorkerMessage & { kind: 'done' }> => {
      if (failure) return Promise.reject(failure);
      const taskId = nextTaskId++;
      return new Promise((resolve, reject) => {
        waiters.set(taskId, { resolve, reject });
        (workers[w] as Worker).postMessage({ ...task, taskId } as LoadTask);
      });
    };

    const byType: Record<string, number> = {};
    const summaries: PatientSummary[] = [];
    let resources = 0;
    const workerHeap = new Map<number, number>();
    const absorb = (m: WorkerMessage & { kind: 'done' }, w = 0): void => {
      workerHeap.set(w, m.heapBytes);
      resources += m.resources;
      summaries.push(...m.summaries);
      for (const [t, n] of Object.entries(m.byType)) byType[t] = (byType[t] ?? 0) + n;
    };

    const t1 = performance.now();
    // The directory (organisations, practitioners) first: patients refer to it.
    absorb(await runTask(0, { kind: 'directory' }));
    let nextPatient = 0;
    let lastReport = 0;
    // Two tasks per worker in flight, so a worker never waits for the next one.
    const feed = async (w: number): Promise<void> => {
      while (nextPatient < opts.patients) {
        const start = nextPatient;
        const count = Math.min(chunk, opts.patients - start);
        nextPatient += count;
        absorb(await runTask(w, { kind: 'patients', start, count }), w);
        if (summaries.length - lastReport >= Math.max(chunk, opts.patients / 10)) {
          lastReport = summaries.length;
          const s = (performance.now() - t1) / 1000;
          // rss includes the store's mapped pages that are resident; heap is what the loader holds.
          const mem = process.memoryUsage();
          opts.log(
            `  ${summaries.length}/${opts.patients} patients, ${resources.toLocaleString('en-US')} resources, ${Math.round(resources / s).toLocaleString('en-US')} resources/s ` +
              `(heap: main ${Math.round(mem.heapUsed / 2 ** 20)} MiB, workers ${[...workerHeap.values()].map((b) => Math.round(b / 2 ** 20)).join('/')} MiB; rss ${Math.round(mem.rss / 2 ** 20)} MiB)`,
          );
        }
      }
    };
    await Promise.all(workers.flatMap((_w, i) => [feed(i), feed(i)]));
    const seconds = (performance.now() - t1) / 1000;
    summaries.sort((a, b) => a.index - b.index);

    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.postMessage({ kind: 'close' });
          }),
      ),
    );
    if (failure) throw failure;
    return {
      stats: { patients: opts.patients, resources, byType, workers: nWorkers, startupSeconds, seconds, resourcesPerSecond: resources / seconds, path: IMPORT_PATH },
      summaries,
      ndjsonFiles,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate().catch(() => 0)));
    await store.close();
  }
}
