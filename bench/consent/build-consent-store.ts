/**
 * Builds the consent benchmark's store (the directory a server opens as DATA_DIR) through the
 * server's real write path, consent decisions included:
 *
 * 1. `openDependencies` on an empty directory — exactly what the server does at first start:
 *    the store wrapped in the ConsentIndexingStore, the consent engine opened, conformance
 *    resources synced, fingerprints recorded — so a server started on the copy has nothing to
 *    recompute.
 * 2. The population (fixtures/population/): one transaction Bundle per patient, handled by a
 *    real FhirService in loader worker threads (bench/search/load-worker.ts: resolve ids,
 *    rewrite urn:uuid references, validate, index values), each commit served by this thread's
 *    ConsentIndexingStore (bench/search/remote-store.ts), which stores every resource's consent
 *    decisions before the fsync-acknowledged commit.
 * 3. The Consents (consent-population.ts): the research study and care team, then one
 *    transaction per consented patient, through the same server's FhirService in this thread.
 *    Each Consent commit re-materialises that patient's stored decisions before it returns,
 *    as any Consent write does.
 * 4. What the benchmark needs from the store: a sample of Observation ids, per-patient resource
 *    counts for the Consent-change measurement, and the size of the stored decisions.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Bundle } from '@medplum/fhirtypes';
import { pino } from 'pino';
import type { VisitRange } from '../../fixtures/population/index.js';
import { compartmentParamsOf, patientCompartmentClause } from '../../server/src/auth/compartment.js';
import { loadConfig } from '../../server/src/config/config.js';
import { CONSENT_FIELD } from '../../server/src/consent/consent-tokens.js';
import { openDependencies, type Dependencies } from '../../server/src/dependencies.js';
import type { LoadTask, LoadWorkerData, WorkerMessage } from '../search/load-worker.js';
import type { PatientSummary } from '../search/patient-summary.js';
import { serveStore } from '../search/remote-store.js';
import { consentDirectoryBundle, consentKindsOf, patientConsentBundle, type ConsentKind, type ConsentShares } from './consent-population.js';

/** The base URL the store is written with (references are stored relative, as sent). */
export const BUILD_BASE_URL = 'http://localhost:8080/fhir';

export interface ConsentBuildOptions {
  dataDir: string;
  seed: number;
  visits: VisitRange;
  patients: number;
  shares: ConsentShares;
  workers: number;
  log: (msg: string) => void;
}

export interface ConsentedPatient {
  id: string;
  index: number;
  /** Consent id by kind. */
  consents: Partial<Record<ConsentKind, string>>;
}

export interface DecisionSize {
  /** Stored documents (current versions) of every type. */
  documents: number;
  /** Documents carrying at least one `_consent` token. */
  withTokens: number;
  tokens: number;
  /** JSON bytes of the `_consent` arrays in the search documents. */
  tokenJsonBytes: number;
  /**
   * Estimated posting-key bytes of the tokens: one LMDB key [type, '_consent', token, id] per
   * token (ordered-binary; ≈ the strings' lengths plus a few bytes of framing), B-tree overhead excluded.
   */
  postingKeyBytes: number;
  /** data.mdb of the store (the LMDB file, including free pages). */
  storeFileBytes: number;
  tokensByValue: Record<string, number>;
}

export interface ConsentBuildStats {
  patients: number;
  resources: number;
  byType: Record<string, number>;
  workers: number;
  /** Opening an empty store (first start) and loader start-up, not in the rates. */
  setupSeconds: number;
  /** Population: first Bundle sent to the last commit acknowledged. */
  populationSeconds: number;
  resourcesPerSecond: number;
  consentedPatients: number;
  consents: Record<ConsentKind, number>;
  /** Consent transactions (and their re-materialisations). */
  consentSeconds: number;
  consentTransactionsPerSecond: number;
  /** Sampling ids, counting resources per patient, measuring the decisions. */
  finishSeconds: number;
  totalSeconds: number;
  path: string;
}

export interface BuiltConsentStore {
  stats: ConsentBuildStats;
  summaries: PatientSummary[];
  consented: ConsentedPatient[];
  /** Observation ids spread over all patients (ids are random UUIDs, sorted). */
  observationSample: string[];
  /** Resources in the compartment of a sample of research-consented patients. */
  patientSizes: Array<{ id: string; resources: number }>;
  size: DecisionSize;
}

export const CONSENT_IMPORT_PATH =
  'openDependencies on an empty store (ConsentIndexingStore + ConsentEngine, as at first start); population: FhirService transaction Bundle per patient in loader worker threads, ' +
  'committed by the ConsentIndexingStore in the main thread (decisions computed per resource, fsync-acknowledged); Consents: one transaction per consented patient through the same FhirService, ' +
  'each re-materialising that patient';

const WORKER_BOOT = new URL('../search/worker-boot.mjs', import.meta.url);
const WORKER_ENTRY = new URL('../search/load-worker.ts', import.meta.url).href;
/** Consent transactions in flight at once (different patients; the engine locks per patient). */
const CONSENT_CONCURRENCY = 4;
const OBSERVATION_SAMPLE = 5000;
const SIZED_PATIENTS = 40;

export async function buildConsentStore(opts: ConsentBuildOptions): Promise<BuiltConsentStore> {
  const t0 = performance.now();
  const config = loadConfig({ DATA_DIR: opts.dataDir, LOG_LEVEL: 'silent', BASE_URL: BUILD_BASE_URL });
  const deps = await openDependencies(config, pino({ level: 'silent' }));
  try {
    const population = await loadPopulation(deps, opts, t0);
    opts.log(
      `  population: ${population.resources.toLocaleString('en-US')} resources in ${population.seconds.toFixed(1)} s = ` +
        `${Math.round(population.resources / population.seconds).toLocaleString('en-US')} resources/s (decisions stored per resource)`,
    );

    const t2 = performance.now();
    await submit(deps, 'consent directory', consentDirectoryBundle());
    const consented: ConsentedPatient[] = [];
    const consents: Record<ConsentKind, number> = { research: 0, employer: 0, hiv: 0 };
    const queue = population.summaries.map((s) => ({ s, kinds: consentKindsOf(opts.seed, s.index, opts.shares) })).filter((q) => q.kinds.length > 0);
    let next = 0;
    let done = 0;
    const lane = async (): Promise<void> => {
      while (next < queue.length) {
        const { s, kinds } = queue[next++] as (typeof queue)[number];
        const bundle = await submit(deps, `consents of patient ${s.index}`, patientConsentBundle(s.id, kinds));
        const ids: Partial<Record<ConsentKind, string>> = {};
        kinds.forEach((k, i) => {
          const r = bundle.entry?.[i]?.resource;
          if (r?.resourceType !== 'Consent' || !r.id) throw new Error(`consents of patient ${s.index}: entry ${i} is not a Consent`);
          ids[k] = r.id;
          consents[k]++;
        });
        consented.push({ id: s.id, index: s.index, consents: ids });
        done++;
        if (done % Math.max(1, Math.floor(queue.length / 10)) === 0) {
          const sec = (performance.now() - t2) / 1000;
          opts.log(`  consents: ${done}/${queue.length} patients, ${(done / sec).toFixed(1)} transactions/s`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONSENT_CONCURRENCY }, lane));
    consented.sort((a, b) => a.index - b.index);
    const consentSeconds = (performance.now() - t2) / 1000;
    opts.log(`  consents: ${queue.length} transactions (${JSON.stringify(consents)}) in ${consentSeconds.toFixed(1)} s`);

    const t3 = performance.now();
    const sample = await deps.store.search({ resourceType: 'Observation', filter: {}, limit: OBSERVATION_SAMPLE, idsOnly: true });
    const observationSample = sample.resources.map((r) => r.id);
    const patientSizes: Array<{ id: string; resources: number }> = [];
    const research = consented.filter((c) => c.consents.research);
    for (let i = 0; i < Math.min(SIZED_PATIENTS, research.length); i++) {
      const p = research[Math.floor((i * research.length) / Math.min(SIZED_PATIENTS, research.length))] as ConsentedPatient;
      patientSizes.push({ id: p.id, resources: await compartmentSize(deps, p.id) });
    }
    patientSizes.sort((a, b) => a.resources - b.resources);
    opts.log('  measuring the stored decisions ...');
    const size = await decisionSize(deps, join(opts.dataDir, 'store', 'data.mdb'));
    const finishSeconds = (performance.now() - t3) / 1000;

    return {
      stats: {
        patients: opts.patients,
        resources: population.resources,
        byType: population.byType,
        workers: opts.workers,
        setupSeconds: population.setupSeconds,
        populationSeconds: population.seconds,
        resourcesPerSecond: population.resources / population.seconds,
        consentedPatients: consented.length,
        consents,
        consentSeconds,
        consentTransactionsPerSecond: queue.length / consentSeconds,
        finishSeconds,
        totalSeconds: (performance.now() - t0) / 1000,
        path: CONSENT_IMPORT_PATH,
      },
      summaries: population.summaries,
      consented,
      observationSample,
      patientSizes,
      size,
    };
  } finally {
    await deps.close();
  }
}

/** One transaction through the server's own FhirService, acting as the server (like seeding). */
async function submit(deps: Dependencies, label: string, bundle: Bundle): Promise<Bundle> {
  const res = await deps.fhir.handle({ method: 'POST', path: '', query: {}, body: bundle, headers: { 'content-type': 'application/fhir+json' }, baseUrl: BUILD_BASE_URL });
  const body = res.body as Bundle | undefined;
  if (res.status !== 200 || body?.resourceType !== 'Bundle') throw new Error(`${label}: transaction answered ${res.status}: ${JSON.stringify(res.body ?? res.json).slice(0, 800)}`);
  for (const e of body.entry ?? []) if (!/^20[01]/.test(e.response?.status ?? '')) throw new Error(`${label}: entry answered ${e.response?.status}`);
  return body;
}

/**
 * The population through loader workers (bench/search/load-worker.ts, unchanged), each commit
 * served by `deps.store`: the ConsentIndexingStore the server itself writes through.
 */
async function loadPopulation(
  deps: Dependencies,
  opts: ConsentBuildOptions,
  t0: number,
): Promise<{ resources: number; byType: Record<string, number>; summaries: PatientSummary[]; seconds: number; setupSeconds: number }> {
  const workers: Worker[] = [];
  let failure: Error | undefined;
  const waiters = new Map<number, { resolve: (m: WorkerMessage & { kind: 'done' }) => void; reject: (e: Error) => void }>();
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiters.values()) w.reject(failure);
    waiters.clear();
  };
  try {
    const ready: Promise<void>[] = [];
    for (let w = 0; w < Math.max(1, opts.workers); w++) {
      const channel = new MessageChannel();
      serveStore(deps.store, channel.port1);
      const data: LoadWorkerData = { storePort: channel.port2, seed: opts.seed, visits: opts.visits, baseUrl: BUILD_BASE_URL, ndjsonPath: null, inFlight: 3 };
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
    const setupSeconds = (performance.now() - t0) / 1000;

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
    const absorb = (m: WorkerMessage & { kind: 'done' }): void => {
      resources += m.resources;
      summaries.push(...m.summaries);
      for (const [t, n] of Object.entries(m.byType)) byType[t] = (byType[t] ?? 0) + n;
    };
    const t1 = performance.now();
    absorb(await runTask(0, { kind: 'directory' }));
    const chunk = 20;
    let nextPatient = 0;
    let lastReport = 0;
    const feed = async (w: number): Promise<void> => {
      while (nextPatient < opts.patients) {
        const start = nextPatient;
        const count = Math.min(chunk, opts.patients - start);
        nextPatient += count;
        absorb(await runTask(w, { kind: 'patients', start, count }));
        if (summaries.length - lastReport >= Math.max(chunk, opts.patients / 10)) {
          lastReport = summaries.length;
          const s = (performance.now() - t1) / 1000;
          opts.log(`  ${summaries.length}/${opts.patients} patients, ${resources.toLocaleString('en-US')} resources, ${Math.round(resources / s).toLocaleString('en-US')} resources/s`);
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
    return { resources, byType, summaries, seconds, setupSeconds };
  } finally {
    await Promise.all(workers.map((w) => w.terminate().catch(() => 0)));
  }
}

/** Resources in a patient's compartment: what a Consent change for them re-materialises. */
async function compartmentSize(deps: Dependencies, patientId: string): Promise<number> {
  let n = 0;
  for (const type of deps.defs.resourceTypes) {
    if (type !== 'Patient' && compartmentParamsOf(type).length === 0) continue;
    const filter = patientCompartmentClause(deps.defs, type, patientId, BUILD_BASE_URL);
    if (!filter) continue;
    const r = await deps.store.search({ resourceType: type, filter, limit: 0, total: true, idsOnly: true });
    n += r.total ?? 0;
  }
  return n;
}

async function decisionSize(deps: Dependencies, storeFile: string): Promise<DecisionSize> {
  const out: DecisionSize = { documents: 0, withTokens: 0, tokens: 0, tokenJsonBytes: 0, postingKeyBytes: 0, storeFileBytes: statSync(storeFile).size, tokensByValue: {} };
  for (const type of deps.defs.resourceTypes) {
    for await (const doc of deps.store.scan(type)) {
      if (doc.deleted) continue;
      out.documents++;
      const tokens = doc.idx[CONSENT_FIELD];
      if (!Array.isArray(tokens) || tokens.length === 0) continue;
      out.withTokens++;
      out.tokens += tokens.length;
      out.tokenJsonBytes += Buffer.byteLength(JSON.stringify(tokens));
      for (const t of tokens) {
        const s = String(t);
        out.postingKeyBytes += Buffer.byteLength(type) + CONSENT_FIELD.length + Buffer.byteLength(s) + Buffer.byteLength(doc.id) + 8;
        out.tokensByValue[s] = (out.tokensByValue[s] ?? 0) + 1;
      }
    }
  }
  return out;
}
