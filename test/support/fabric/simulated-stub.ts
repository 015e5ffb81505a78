import type { ChaincodeStub, Iterators, SerializedIdentity, Timestamp } from 'fabric-shim-api';
import type { KeyVersion, WorldState } from './world-state.js';

/**
 * A ChaincodeStub that simulates one transaction against a WorldState the way an endorsing
 * peer does: reads come from the committed state and are recorded with their versions, writes
 * are only collected, and the result is the read/write set the peer would sign. The state is
 * never changed here; whoever plays the committer applies `result().writes` if the read set is
 * still current.
 *
 * Faithful to Fabric where the chaincode could tell the difference:
 *  - getState returns an empty value for an absent key, and reads only committed state: it
 *    does not see this transaction's own putState/deleteState (Fabric's GetState "doesn't read
 *    data from the writeset"). A chaincode that relied on reading its own writes would break on
 *    a real peer, so the double does not hide it;
 *  - getStateByRange also reads committed state only, skips composite keys, refuses a
 *    composite start or end key, and is both a promise of an iterator and an async iterable;
 *  - setEvent keeps only the last event of the transaction;
 *  - getTxTimestamp returns `{ seconds: Long, nanos }` (the Long is imitated: low/high/
 *    toNumber/toString).
 */

export interface SimulatedStubOptions {
  state: WorldState;
  txId: string;
  timestamp: Date;
  channel: string;
  /** MSP of the submitting client (what getCreator reports). */
  mspId: string;
  /** The creator's serialized identity bytes (a PEM certificate on a real network). */
  creatorId?: Uint8Array;
  fcn: string;
  args: readonly string[];
  /** Reported as the namespace of range-query results; Fabric uses the chaincode's name. */
  chaincodeName?: string;
}

/** What a range query saw, as Fabric's RangeQueryInfo records it for phantom-read checks. */
export interface RangeQueryRead {
  startKey: string;
  endKey: string;
  /** The keys the chaincode consumed, with their committed versions. */
  reads: Array<{ key: string; version: KeyVersion }>;
  /** Whether the iterator was read to its end. */
  exhausted: boolean;
}

export interface SimulationResult {
  reads: Map<string, KeyVersion | null>;
  writes: Map<string, Uint8Array | null>;
  event?: { name: string; payload: Uint8Array };
  rangeQueries: RangeQueryRead[];
}

type SimulatedPart =
  | 'getArgs'
  | 'getStringArgs'
  | 'getFunctionAndParameters'
  | 'getTxID'
  | 'getChannelID'
  | 'getCreator'
  | 'getTxTimestamp'
  | 'getDateTimestamp'
  | 'getState'
  | 'putState'
  | 'deleteState'
  | 'getStateByRange'
  | 'setEvent';

const COMPOSITE_KEY_NS = '\u0000';
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) throw new Error('key must not be an empty string');
  if (LONE_SURROGATE.test(key)) throw new Error(`invalid key ${JSON.stringify(key)}: not valid UTF-8`);
  return key;
}

/** The parts of a `long` Long that callers read; fabric-shim builds one with Long.fromNumber(seconds, true). */
function longOf(n: number): Timestamp['seconds'] {
  const low = n % 2 ** 32;
  return {
    low: low | 0,
    high: Math.floor(n / 2 ** 32) | 0,
    unsigned: true,
    toNumber: () => n,
    toString: (radix = 10) => n.toString(radix),
  } as unknown as Timestamp['seconds'];
}

export class SimulatedStub implements Pick<ChaincodeStub, SimulatedPart> {
  private readonly state: WorldState;
  private readonly txId: string;
  private readonly timestampMs: number;
  private readonly channel: string;
  private readonly creator: SerializedIdentity;
  private readonly fcn: string;
  private readonly params: string[];
  private readonly namespace: string;
  private readonly reads = new Map<string, KeyVersion | null>();
  private readonly writes = new Map<string, Uint8Array | null>();
  private readonly rangeQueries: RangeQueryRead[] = [];
  private event: { name: string; payload: Uint8Array } | undefined;

  constructor(options: SimulatedStubOptions) {
    const ms = options.timestamp.getTime();
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('timestamp must be a valid date after 1970');
    this.state = options.state;
    this.txId = options.txId;
    this.timestampMs = ms;
    this.channel = options.channel;
    this.creator = { mspid: options.mspId, idBytes: Uint8Array.from(options.creatorId ?? []) };
    this.fcn = options.fcn;
    this.params = [...options.args];
    this.namespace = options.chaincodeName ?? 'custodian-anchor';
  }

  /** The read set, write set and event of the simulation so far (copies). */
  result(): SimulationResult {
    const writes = new Map<string, Uint8Array | null>();
    for (const [k, v] of this.writes) writes.set(k, v === null ? null : Uint8Array.from(v));
    return {
      reads: new Map([...this.reads].map(([k, v]) => [k, v && { ...v }])),
      writes,
      ...(this.event ? { event: { name: this.event.name, payload: Uint8Array.from(this.event.payload) } } : {}),
      rangeQueries: this.rangeQueries.map((q) => ({ ...q, reads: q.reads.map((r) => ({ key: r.key, version: { ...r.version } })) })),
    };
  }

  getArgs(): string[] {
    return [this.fcn, ...this.params];
  }

  getStringArgs(): string[] {
    return this.getArgs();
  }

  /** What the contract runtime reads the function name and arguments from. */
  getBufferArgs(): Buffer[] {
    return this.getArgs().map((a) => Buffer.from(a, 'utf8'));
  }

  getFunctionAndParameters(): { params: string[]; fcn: string } {
    return { fcn: this.fcn, params: [...this.params] };
  }

  getTxID(): string {
    return this.txId;
  }

  getChannelID(): string {
    return this.channel;
  }

  getCreator(): SerializedIdentity {
    return { mspid: this.creator.mspid, idBytes: Uint8Array.from(this.creator.idBytes) };
  }

  getTxTimestamp(): Timestamp {
    const seconds = Math.floor(this.timestampMs / 1000);
    return { seconds: longOf(seconds), nanos: (this.timestampMs - seconds * 1000) * 1_000_000 };
  }

  getDateTimestamp(): Date {
    return new Date(this.timestampMs);
  }

  async getState(key: string): Promise<Uint8Array> {
    checkKey(key);
    const committed = this.state.get(key);
    if (!this.reads.has(key)) this.reads.set(key, committed ? committed.version : null);
    return committed ? Buffer.from(committed.value) : Buffer.alloc(0);
  }

  async putState(key: string, value: Uint8Array): Promise<void> {
    checkKey(key);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (!(bytes instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array or a string');
    // An empty value reaches the peer as no value (proto3), and a write without a value is a delete.
    this.writes.set(key, bytes.length === 0 ? null : Uint8Array.from(bytes));
  }

  async deleteState(key: string): Promise<void> {
    checkKey(key);
    this.writes.set(key, null);
  }

  getStateByRange(startKey: string, endKey: string): Promise<Iterators.StateQueryIterator> & AsyncIterable<Iterators.KV> {
    if (startKey.startsWith(COMPOSITE_KEY_NS) || endKey.startsWith(COMPOSITE_KEY_NS)) {
      const refused = Promise.reject(new Error('first character of the key contains a null character which is not allowed'));
      // Marked handled so that a caller who only iterates does not also get an unhandled rejection.
      refused.catch(() => undefined);
      return Object.assign(refused, { [Symbol.asyncIterator]: () => ({ next: () => refused }) }) as never;
    }
    // The peer holds the state still for the whole simulation, so a snapshot now is what the iterator would see.
    const rows = this.state.range(startKey, endKey);
    const record: RangeQueryRead = { startKey, endKey, reads: [], exhausted: false };
    this.rangeQueries.push(record);
    let position = 0;
    let closed = false;
    const namespace = this.namespace;
    const iterator: Iterators.StateQueryIterator = {
      async next() {
        if (closed || position >= rows.length) {
          if (!closed) record.exhausted = true;
          return { value: undefined as unknown as Iterators.KV, done: true };
        }
        const row = rows[position++];
        record.reads.push({ key: row.key, version: row.version });
        return { value: { namespace, key: row.key, value: Buffer.from(row.value) }, done: false };
      },
      async close() {
        closed = true;
      },
    };
    const promise = Promise.resolve(iterator);
    return Object.assign(promise, {
      [Symbol.asyncIterator]: () => ({
        async next() {
          const n = await iterator.next();
          if (n.done) await iterator.close();
          return n;
        },
        async return() {
          await iterator.close();
          return { done: true as const, value: undefined };
        },
      }),
    });
  }

  setEvent(name: string, payload: Uint8Array): void {
    if (typeof name !== 'string' || name.length === 0) throw new Error('event name must be a non-empty string');
    this.event = { name, payload: Uint8Array.from(payload) };
  }
}
