/**
 * The storage port across a thread boundary, for the bulk loader: worker threads run the
 * server's whole write path (transaction → validate → index) on their own cores and hand each
 * commit to the one real store, which lives in the main thread. One store instance means the
 * engine's own invariants (group commit, any in-memory state it keeps) hold exactly as they
 * do in the server process; only the CPU-bound work before the commit runs in parallel.
 */
import type { MessagePort } from 'node:worker_threads';
import { FhirError, type ErrorCode } from '../../server/src/fhir/outcomes.js';
import type {
  CommitRequest,
  HistoryQuery,
  HistoryResult,
  IndexValues,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredDocument,
  StoredVersion,
} from '../../server/src/store/resource-store.js';

/** The port methods that can cross: everything except `scan` (an iterator) and the lifecycle. */
const FORWARDED = ['readCurrent', 'readVersion', 'commit', 'search', 'history', 'updateIndex', 'readSetting', 'writeSetting'] as const;
type Forwarded = (typeof FORWARDED)[number];

interface Call {
  id: number;
  method: Forwarded;
  args: unknown[];
}

type Reply = { id: number; result: unknown } | { id: number; error: { message: string; code?: ErrorCode; issues?: FhirError['issues'] } };

/**
 * Main-thread side: answers calls from one worker's port with the real store. Results are
 * structured-cloned, which reads the embedded engine's lazy `resource` getter and drops its
 * non-enumerable `json`, so the worker sees the port's plain shape.
 */
export function serveStore(store: ResourceStore, port: MessagePort): void {
  port.on('message', (call: Call) => {
    if (!FORWARDED.includes(call.method)) {
      port.postMessage({ id: call.id, error: { message: `store method ${String(call.method)} cannot be called across threads` } } satisfies Reply);
      return;
    }
    const fn = store[call.method] as (...args: unknown[]) => Promise<unknown>;
    fn.apply(store, call.args).then(
      (result) => port.postMessage({ id: call.id, result } satisfies Reply),
      (err: unknown) =>
        port.postMessage({
          id: call.id,
          error: err instanceof FhirError ? { message: err.message, code: err.code, issues: err.issues } : { message: (err as Error)?.stack ?? String(err) },
        } satisfies Reply),
    );
  });
}

/** Worker side: a ResourceStore whose every call runs in the main thread's store. */
export class RemoteStore implements ResourceStore {
  readonly engine = 'embedded' as const;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('error' in reply) {
        // A FhirError keeps its code, so a precondition failure stays a 412 and not a 500.
        const e = reply.error;
        p.reject(e.code ? new FhirError(e.code, e.message, undefined, e.issues) : new Error(`store (main thread): ${e.message}`));
      } else p.resolve(reply.result);
    });
  }

  private call<T>(method: Forwarded, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ id, method, args } satisfies Call);
    });
  }

  async init(): Promise<void> {}
  readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.call('readCurrent', resourceType, id);
  }
  readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return this.call('readVersion', resourceType, id, versionId);
  }
  commit(req: CommitRequest): Promise<StoredVersion[]> {
    return this.call('commit', req);
  }
  search(query: SearchQuery): Promise<SearchResult> {
    return this.call('search', query);
  }
  history(query: HistoryQuery): Promise<HistoryResult> {
    return this.call('history', query);
  }
  scan(_resourceType: string): AsyncIterable<StoredDocument> {
    throw new Error('RemoteStore.scan is not available in a loader worker');
  }
  updateIndex(resourceType: string, entries: Array<{ id: string; index: IndexValues }>): Promise<void> {
    return this.call('updateIndex', resourceType, entries);
  }
  readSetting(key: string): Promise<string | undefined> {
    return this.call('readSetting', key);
  }
  writeSetting(key: string, value: string): Promise<void> {
    return this.call('writeSetting', key, value);
  }
  async close(): Promise<void> {
    this.port.close();
  }
}
