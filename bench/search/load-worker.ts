/**
 * One bulk-loader thread. It generates its share of the population and submits each patient
 * as one transaction Bundle to a real FhirService — the server's own path: intent resolution,
 * urn:uuid rewriting, validation against the R4 definitions, index values — whose store is the
 * main thread's (RemoteStore), so every commit lands in the one real engine.
 *
 * Started by build-store.ts through worker-boot.mjs (which registers tsx in the thread).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { DEFAULT_AS_OF, directoryBundle, generatePatientBundle, type VisitRange } from '../../fixtures/population/index.js';
import { loadConfig } from '../../server/src/config/config.js';
import { loadLabeler } from '../../server/src/consent/load-labeler.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import type { FhirContext } from '../../server/src/fhir/fhir-context.js';
import { actingAsServer, FhirService } from '../../server/src/fhir/fhir-service.js';
import { SERVER_PRINCIPAL } from '../../server/src/auth/principal.js';
import { KeyedLock } from '../../server/src/fhir/keyed-lock.js';
import { CursorCodec } from '../../server/src/fhir/search-results/cursor.js';
import { summarisePatient, type PatientSummary } from './patient-summary.js';
import { RemoteStore } from './remote-store.js';

export interface LoadWorkerData {
  storePort: MessagePort;
  seed: number;
  visits: VisitRange;
  baseUrl: string;
  /** Where to append every committed resource as NDJSON (the peer loads the same data), or null. */
  ndjsonPath: string | null;
  /** Transactions this thread keeps in progress at once (validation overlaps the commits). */
  inFlight: number;
}

export type LoadTask = { taskId: number; kind: 'directory' } | { taskId: number; kind: 'patients'; start: number; count: number };

export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'done'; taskId: number; summaries: PatientSummary[]; resources: number; byType: Record<string, number>; heapBytes: number }
  | { kind: 'failed'; taskId: number; message: string };

const data = workerData as LoadWorkerData;
const port = parentPort as NonNullable<typeof parentPort>;
const asOfMs = Date.parse(DEFAULT_AS_OF);

// The same wiring as server/src/dependencies.ts (default configuration), with the store across
// the thread boundary. Loading never pages through search results, so any cursor key will do.
const config = loadConfig({});
const ctx: FhirContext = {
  principal: SERVER_PRINCIPAL,
  store: new RemoteStore(data.storePort),
  defs: loadDefinitions(PROFILES_DIR),
  options: { defaultPageSize: config.defaultPageSize, maxPageSize: config.maxPageSize, updateCreate: config.updateCreate, maxIncludes: config.maxIncludes },
  now: () => new Date().toISOString(),
  newId: () => randomUUID(),
  conditionalLocks: new KeyedLock(),
  cursors: new CursorCodec(randomBytes(32)),
  labeler: loadLabeler(PROFILES_DIR),
};
// Loading is the server writing its own data, as seeding on first start does.
const fhir = actingAsServer(
  new FhirService({
    ctx,
    onInternalError: (err) => port.postMessage({ kind: 'failed', taskId: -1, message: `internal error: ${(err as Error)?.stack ?? String(err)}` } satisfies WorkerMessage),
  }),
);
const out: WriteStream | null = data.ndjsonPath ? createWriteStream(data.ndjsonPath, { flags: 'a' }) : null;

async function writeLines(resources: readonly Resource[]): Promise<void> {
  if (!out || resources.length === 0) return;
  const text = resources.map((r) => JSON.stringify(r)).join('\n') + '\n';
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

/** Submits one transaction and returns the committed resources, in entry order. */
async function submit(label: string, bundle: Bundle): Promise<Resource[]> {
  const res = await fhir.handle({ method: 'POST', path: '', query: {}, body: bundle, headers: { 'content-type': 'application/fhir+json' }, baseUrl: data.baseUrl });
  const body = res.body as Bundle | undefined;
  if (res.status !== 200 || body?.resourceType !== 'Bundle') {
    throw new Error(`${label}: transaction answered ${res.status}: ${JSON.stringify(res.body ?? res.json).slice(0, 800)}`);
  }
  const resources: Resource[] = [];
  for (const e of body.entry ?? []) {
    if (!/^20[01]/.test(e.response?.status ?? '')) throw new Error(`${label}: entry answered ${e.response?.status}`);
    if (e.resource) resources.push(e.resource);
  }
  if (resources.length !== (bundle.entry?.length ?? 0)) throw new Error(`${label}: ${bundle.entry?.length} entries sent, ${resources.length} resources returned`);
  return resources;
}

async function run(task: LoadTask): Promise<WorkerMessage> {
  const byType: Record<string, number> = {};
  const count = (rs: readonly Resource[]): void => {
    for (const r of rs) byType[r.resourceType] = (byType[r.resourceType] ?? 0) + 1;
  };
  if (task.kind === 'directory') {
    const rs = await submit('directory', directoryBundle());
    count(rs);
    await writeLines(rs);
    return { kind: 'done', taskId: task.taskId, summaries: [], resources: rs.length, byType, heapBytes: getHeapStatistics().used_heap_size };
  }
  const summaries: PatientSummary[] = [];
  let resources = 0;
  let next = task.start;
  const end = task.start + task.count;
  const lane = async (): Promise<void> => {
    while (next < end) {
      const i = next++;
      const rs = await submit(`patient ${i}`, generatePatientBundle(data.seed, i, asOfMs, data.visits));
      summaries.push(summarisePatient(i, rs));
      resources += rs.length;
      count(rs);
      await writeLines(rs);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, data.inFlight) }, lane));
  summaries.sort((a, b) => a.index - b.index);
  return { kind: 'done', taskId: task.taskId, summaries, resources, byType, heapBytes: getHeapStatistics().used_heap_size };
}

port.on('message', (msg: LoadTask | { kind: 'close' }) => {
  if (msg.kind === 'close') {
    const finish = (): void => {
      data.storePort.close();
      port.close();
    };
    if (out) out.end(finish);
    else finish();
    return;
  }
  run(msg).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ kind: 'failed', taskId: msg.taskId, message: (err as Error)?.message ?? String(err) } satisfies WorkerMessage),
  );
});
port.postMessage({ kind: 'ready' } satisfies WorkerMessage);
