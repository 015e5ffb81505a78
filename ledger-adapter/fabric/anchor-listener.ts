import { mkdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkpointers, type ChaincodeEvent, type Checkpoint, type Checkpointer, type CloseableAsyncIterable, type Network } from '@hyperledger/fabric-gateway';
import { decodeJson, parseAnchorRecord, parseEquivocationEvidence, type EquivocationEvidence } from './anchor-records.js';
import { backgroundSleep, backoff, type Backoff, type BackoffOptions } from './backoff.js';
import { loadConfirmed, saveConfirmed, type ConfirmedAnchor } from './confirmed-anchors.js';
import { describeError } from './fabric-errors.js';

/**
 * Follows the anchor chaincode's events: each `Anchored` event moves the origin's confirmed
 * anchor forward (durably, in `anchors-confirmed.json`), each `Equivocation` event raises an
 * alarm. fabric-gateway's file checkpointer (`events-checkpoint.json`) remembers the last event
 * processed, so a restart resumes after it. An event is recorded before it is checkpointed: a
 * crash between the two re-delivers it, and a size not above the confirmed one changes nothing.
 *
 * The stream is expected to fail (a peer restarts, the network drops): the listener reopens
 * it with backoff from its checkpoint, logs, and never lets an error escape into the process.
 */

export const ANCHORED_EVENT = 'Anchored';
export const EQUIVOCATION_EVENT = 'Equivocation';
export const EVENTS_CHECKPOINT_FILE = 'events-checkpoint.json';
export const CONFIRMED_FILE = 'anchors-confirmed.json';

/** Where events come from: Fabric (GatewayAnchorEventSource) or a test's own. */
export interface AnchorEventSource {
  /**
   * Opens the chaincode's event stream after what `checkpoint` names (its block, skipping its
   * transaction and those before it in that block), or from `startBlock` when it names none.
   */
  open(options: { checkpoint: Checkpoint; startBlock: bigint }): Promise<CloseableAsyncIterable<ChaincodeEvent>>;
}

export class GatewayAnchorEventSource implements AnchorEventSource {
  constructor(
    private readonly network: Network,
    private readonly chaincode: string,
  ) {}

  open(options: { checkpoint: Checkpoint; startBlock: bigint }): Promise<CloseableAsyncIterable<ChaincodeEvent>> {
    return this.network.getChaincodeEvents(this.chaincode, { checkpoint: options.checkpoint, startBlock: options.startBlock });
  }
}

export interface EquivocationAlarm {
  /** The chaincode's evidence, or undefined when the payload could not be read (then `payload` has it raw). */
  evidence?: EquivocationEvidence;
  payload: string;
  txId: string;
  blockNumber: number;
}

export interface AnchorListenerLogger {
  warn(obj: object, msg?: string): void;
}

export interface AnchorListenerOptions {
  /** Directory of the checkpoint and the confirmed-anchors file. */
  dir: string;
  source: AnchorEventSource;
  /** Block to start from when there is no checkpoint yet (default 0: the whole history of anchors). */
  startBlock?: bigint;
  onAnchored?: (anchor: ConfirmedAnchor) => void;
  onEquivocation?: (alarm: EquivocationAlarm) => void;
  /** Reconnection backoff (defaults 200 ms, ×2, at most 30 s). */
  retry?: BackoffOptions;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  logger?: AnchorListenerLogger;
}

export interface AnchorListenerStatus {
  running: boolean;
  connected: boolean;
  /** Events handled since open. */
  processed: number;
  lastError?: { message: string; consecutiveFailures: number };
}

const silentLogger: AnchorListenerLogger = { warn: () => undefined };

export class AnchorListener {
  private state: Map<string, ConfirmedAnchor>;
  private readonly delay: Backoff;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly logger: AnchorListenerLogger;
  private running = false;
  private closed = false;
  private connected = false;
  private processed = 0;
  private failures = 0;
  private lastError?: AnchorListenerStatus['lastError'];
  private stream?: CloseableAsyncIterable<ChaincodeEvent>;
  private loop?: Promise<void>;
  private wake?: () => void;

  private constructor(
    private readonly options: AnchorListenerOptions,
    private readonly confirmedFile: string,
    private readonly checkpointer: Checkpointer,
    state: Map<string, ConfirmedAnchor>,
  ) {
    this.state = state;
    this.delay = backoff({ initialMs: 200, maxMs: 30_000, factor: 2, ...options.retry }, options.random);
    this.sleep = options.sleep ?? backgroundSleep;
    this.logger = options.logger ?? silentLogger;
  }

  /** Loads the confirmed anchors and the checkpoint from `dir`; start() begins listening. */
  static async open(options: AnchorListenerOptions): Promise<AnchorListener> {
    const dir = resolve(options.dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const confirmedFile = join(dir, CONFIRMED_FILE);
    const state = await loadConfirmed(confirmedFile);
    const checkpointFile = join(dir, EVENTS_CHECKPOINT_FILE);
    let checkpointer: Checkpointer;
    try {
      checkpointer = await checkpointers.file(checkpointFile);
    } catch (err) {
      // fabric-gateway writes the checkpoint in place: a crash can tear it. Replaying from the
      // start is safe (events only ever move the confirmed sizes forward), so start over.
      (options.logger ?? silentLogger).warn({ file: checkpointFile, err: (err as Error).message }, 'fabric anchor listener: unreadable event checkpoint, replaying events from the start block');
      await unlink(checkpointFile);
      checkpointer = await checkpointers.file(checkpointFile);
    }
    return new AnchorListener(options, confirmedFile, checkpointer, state);
  }

  /** The latest anchor of `origin` seen committed. */
  confirmed(origin: string): ConfirmedAnchor | undefined {
    const c = this.state.get(origin);
    return c && { ...c };
  }

  status(): AnchorListenerStatus {
    return { running: this.running, connected: this.connected, processed: this.processed, ...(this.lastError ? { lastError: { ...this.lastError } } : {}) };
  }

  start(): void {
    if (this.closed) throw new Error('anchor listener is closed');
    if (this.running) return;
    this.running = true;
    this.loop = this.run().finally(() => {
      this.running = false;
      this.connected = false;
    });
  }

  /** Stops listening (closing the stream) and waits for the event in hand to be recorded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream?.close();
    this.wake?.();
    await this.loop;
  }

  // -------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const stream = await this.options.source.open({ checkpoint: this.checkpointer, startBlock: this.options.startBlock ?? 0n });
        this.stream = stream;
        if (this.closed) break;
        this.connected = true;
        for await (const event of stream) {
          await this.handle(event);
          this.failures = 0;
          this.lastError = undefined;
          if (this.closed) break;
        }
        if (!this.closed) throw new Error('the event stream ended');
      } catch (err) {
        if (this.closed) break;
        this.failures++;
        const message = describeError(err);
        this.lastError = { message, consecutiveFailures: this.failures };
        const delayMs = this.delay(this.failures);
        this.logger.warn({ err: message, attempt: this.failures, delayMs }, 'fabric anchor listener: event stream failed, reconnecting from the checkpoint');
        await this.pause(delayMs);
      } finally {
        this.connected = false;
        this.stream?.close();
        this.stream = undefined;
      }
    }
  }

  private async handle(event: ChaincodeEvent): Promise<void> {
    const blockNumber = Number(event.blockNumber);
    if (event.eventName === ANCHORED_EVENT) await this.anchored(event, blockNumber);
    else if (event.eventName === EQUIVOCATION_EVENT) this.equivocation(event, blockNumber);
    await this.checkpointer.checkpointChaincodeEvent(event);
    this.processed++;
  }

  private async anchored(event: ChaincodeEvent, blockNumber: number): Promise<void> {
    let anchor: ConfirmedAnchor;
    try {
      const record = parseAnchorRecord(decodeJson(event.payload, 'Anchored event'), 'Anchored event');
      if (record.txId !== event.transactionId) throw new Error(`the event of transaction ${event.transactionId} names transaction ${record.txId}`);
      anchor = { origin: record.origin, size: record.size, rootHash: record.rootHash, sequence: record.sequence, txId: record.txId, blockNumber, anchoredAt: record.anchoredAt };
    } catch (err) {
      // Retrying cannot make it readable; stopping here would stop every later event too.
      this.logger.warn({ txId: event.transactionId, blockNumber, err: (err as Error).message }, 'fabric anchor listener: skipping an unreadable Anchored event');
      return;
    }
    const current = this.state.get(anchor.origin);
    if (current && anchor.size <= current.size) return;
    const next = new Map(this.state).set(anchor.origin, anchor);
    await saveConfirmed(this.confirmedFile, next);
    this.state = next;
    this.notify(() => this.options.onAnchored?.({ ...anchor }));
  }

  private equivocation(event: ChaincodeEvent, blockNumber: number): void {
    const payload = Buffer.from(event.payload).toString('utf8');
    let evidence: EquivocationEvidence | undefined;
    try {
      evidence = parseEquivocationEvidence(decodeJson(event.payload, 'Equivocation event'), 'Equivocation event');
    } catch (err) {
      this.logger.warn({ txId: event.transactionId, blockNumber, err: (err as Error).message }, 'fabric anchor listener: unreadable Equivocation event, raising the alarm with its raw payload');
    }
    const alarm: EquivocationAlarm = { ...(evidence ? { evidence } : {}), payload, txId: event.transactionId, blockNumber };
    this.notify(() => this.options.onEquivocation?.(alarm));
  }

  /** Callbacks are the caller's code: their failure is logged, never allowed to stop the listener. */
  private notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.warn({ err: (err as Error)?.message ?? String(err) }, 'fabric anchor listener: a callback threw');
    }
  }

  /** Waits `ms`, or less if the listener is closed. */
  private async pause(ms: number): Promise<void> {
    await Promise.race([this.sleep(ms), new Promise<void>((resolve) => (this.wake = resolve))]);
    this.wake = undefined;
  }
}
