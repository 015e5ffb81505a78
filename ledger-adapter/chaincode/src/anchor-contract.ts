import { Contract, type Context } from 'fabric-contract-api';
import type { ChaincodeStub } from 'fabric-shim-api';
import { openCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { parseVerifierKey } from '../../src/checkpoint/note.js';
import { fromBase64Strict, toBase64 } from '../../src/merkle/base64.js';
import { verifyConsistency } from '../../src/merkle/proofs.js';
import {
  originOfNote,
  parseLimit,
  parseOptionalSize,
  parseOrigin,
  parseProof,
  parseSize,
} from './arguments.js';
import { chaincodeError } from './chaincode-error.js';
import {
  decodeRecord,
  encodeRecord,
  recordJson,
  recordListJson,
  type AnchorRecord,
  type EquivocationRecord,
  type LatestPointer,
  type LogRecord,
} from './records.js';
import { anchorKey, anchorRange, equivocationKey, latestKey, logKey } from './state-keys.js';
import { txTimeIso } from './tx-time.js';

export const CONTRACT_NAME = 'anchor';
export const ANCHORED_EVENT = 'Anchored';
export const EQUIVOCATION_EVENT = 'Equivocation';

/**
 * Anchors signed checkpoints of Custodian's Merkle logs on a Fabric channel.
 *
 * A log is registered once with its C2SP verifier key; from then on the peers accept a
 * checkpoint of it only when the log's key signed it, and only when it extends the latest
 * anchored one (an RFC 9162 consistency proof from that anchor, checked here), so the channel
 * holds one append-only history per log that its operator cannot rewrite alone. The rules are
 * those of the embedded anchor (anchor-rules.ts), restated where the peers can enforce them.
 *
 * Every public method of this class is a transaction (the contract runtime exposes each one
 * without decorators); arguments arrive as strings and results leave as canonical JSON.
 * Nothing here reads a clock or iterates a Map: every endorser computes the same write set.
 */
export class AnchorContract extends Contract {
  constructor() {
    super(CONTRACT_NAME);
  }

  /**
   * Registers a log: write-once. The identical key again returns the existing registration
   * (whoever asks); another key for the origin is refused, so a log's key cannot be swapped
   * for one that would sign a different history.
   */
  async RegisterLog(ctx: Context, origin: string, verifierKey: string): Promise<string> {
    const o = parseOrigin(origin);
    const key = parseVerifierKey(verifierKey);
    if (!key.ok) throw chaincodeError('INVALID_ARGUMENT', `verifier key: ${key.reason}`);
    if (key.value.name !== o) {
      throw chaincodeError('INVALID_ARGUMENT', `the verifier key is named ${JSON.stringify(key.value.name)}, not the origin ${JSON.stringify(o)}`);
    }
    const existing = await readLog(ctx.stub, o);
    if (existing) {
      if (existing.verifierKey !== verifierKey) throw chaincodeError('KEY_MISMATCH', `${o} is registered with another verifier key`);
      return recordJson(existing);
    }
    const record: LogRecord = {
      origin: o,
      verifierKey,
      mspId: ctx.clientIdentity.getMSPID(),
      registeredAt: txTimeIso(ctx.stub),
    };
    await ctx.stub.putState(logKey(o), encodeRecord(record));
    return recordJson(record);
  }

  /**
   * Anchors a signed checkpoint note. `previousSize` is the size the client believes is the
   * latest anchor (0 for none) and `consistencyProof` (JSON array of base64 hashes) proves the
   * note's tree extends that one; a client that guessed wrong is told the latest size and
   * retries. The latest pointer is read on every path that appends, so two anchors of one log
   * endorsed concurrently conflict at commit (MVCC) instead of both extending the same anchor.
   */
  async AnchorCheckpoint(ctx: Context, note: string, previousSize: string, consistencyProof: string): Promise<string> {
    const stub = ctx.stub;
    const origin = originOfNote(note);
    const claimedPrevious = parseSize(previousSize, 'previousSize');
    const proof = parseProof(consistencyProof);

    const log = await readLog(stub, origin);
    if (!log) throw chaincodeError('UNKNOWN_LOG', `${origin} is not registered`);
    const mspId = ctx.clientIdentity.getMSPID();
    if (mspId !== log.mspId) throw chaincodeError('FORBIDDEN', `${origin} was registered by ${log.mspId}, not ${mspId}`);

    const opened = openCheckpoint(note, log.verifierKey);
    if (!opened.ok) throw chaincodeError('BAD_SIGNATURE', opened.reason);
    const { size, rootHash } = opened.value;
    if (size === 0) throw chaincodeError('INVALID_ARGUMENT', 'a checkpoint of size 0 commits to nothing');
    const root = toBase64(rootHash);

    const anchored = await readAnchor(stub, origin, size);
    if (anchored) {
      if (anchored.rootHash === root) return recordJson({ status: 'anchored', ...anchored });
      return recordEquivocation(ctx, anchored, note, rootHash);
    }

    const latest = await readLatest(stub, origin);
    const latestSize = latest?.size ?? 0;
    if (size < latestSize) throw chaincodeError('OUT_OF_ORDER', `latest=${latestSize}`);
    if (claimedPrevious !== latestSize) throw chaincodeError('STALE_PREVIOUS', `latest=${latestSize}`);
    if (!latest) {
      if (proof.length > 0) throw chaincodeError('BAD_CONSISTENCY_PROOF', 'nothing of this log is anchored yet, so the proof must be empty');
    } else {
      const latestRoot = fromBase64Strict(latest.rootHash);
      if (!latestRoot) throw new Error(`corrupt world state at ${latestKey(origin)}: rootHash is not base64`);
      const verdict = verifyConsistency(latest.size, size, latestRoot, rootHash, proof);
      if (!verdict.ok) throw chaincodeError('BAD_CONSISTENCY_PROOF', verdict.reason);
    }

    const record: AnchorRecord = {
      origin,
      size,
      rootHash: root,
      note,
      sequence: latest ? latest.sequence + 1 : 0,
      txId: stub.getTxID(),
      anchoredAt: txTimeIso(stub),
      mspId,
    };
    const pointer: LatestPointer = { size, rootHash: root, sequence: record.sequence };
    await stub.putState(anchorKey(origin, size), encodeRecord(record));
    await stub.putState(latestKey(origin), encodeRecord(pointer));
    stub.setEvent(ANCHORED_EVENT, Buffer.from(recordJson(record), 'utf8'));
    return recordJson({ status: 'anchored', ...record });
  }

  /** The anchor of exactly this size, or null. */
  async GetAnchor(ctx: Context, origin: string, size: string): Promise<string> {
    const record = await readAnchor(ctx.stub, parseOrigin(origin), parseSize(size, 'size'));
    return record ? recordJson(record) : 'null';
  }

  /** The anchor of the largest anchored size, or null. */
  async GetLatest(ctx: Context, origin: string): Promise<string> {
    const o = parseOrigin(origin);
    const latest = await readLatest(ctx.stub, o);
    if (!latest) return 'null';
    const record = await readAnchor(ctx.stub, o, latest.size);
    if (!record) throw new Error(`corrupt world state: ${latestKey(o)} names size ${latest.size}, which has no anchor`);
    return recordJson(record);
  }

  /** Anchors with fromSize ≤ size ≤ toSize ('' = no upper bound), ascending, at most `limit` (capped at 1000). */
  async GetRange(ctx: Context, origin: string, fromSize: string, toSize: string, limit: string): Promise<string> {
    const o = parseOrigin(origin);
    const from = parseSize(fromSize, 'fromSize');
    const to = parseOptionalSize(toSize, 'toSize');
    const max = parseLimit(limit);
    if (to !== undefined && to < from) throw chaincodeError('INVALID_ARGUMENT', `toSize ${to} is below fromSize ${from}`);
    const { startKey, endKey } = anchorRange(o, from, to);
    const records: AnchorRecord[] = [];
    for await (const kv of ctx.stub.getStateByRange(startKey, endKey)) {
      const record = decodeRecord('anchor', kv.key, kv.value);
      if (record) records.push(record);
      if (records.length >= max) break;
    }
    return recordListJson(records);
  }

  /** The registration of a log, or null. */
  async GetLog(ctx: Context, origin: string): Promise<string> {
    const record = await readLog(ctx.stub, parseOrigin(origin));
    return record ? recordJson(record) : 'null';
  }
}

/**
 * A validly signed note for an anchored size with another root. The transaction succeeds so
 * that its evidence is committed and its event reaches listeners; the anchor stays as it was.
 * The evidence key is per (origin, size, offered root) and write-once: reporting the same
 * conflict again returns the first evidence and writes nothing.
 */
async function recordEquivocation(ctx: Context, anchored: AnchorRecord, note: string, offeredRoot: Uint8Array): Promise<string> {
  const stub = ctx.stub;
  const key = equivocationKey(anchored.origin, anchored.size, offeredRoot);
  let evidence = decodeRecord('equivocation', key, await stub.getState(key));
  if (!evidence) {
    evidence = {
      origin: anchored.origin,
      size: anchored.size,
      anchoredRoot: anchored.rootHash,
      anchoredNote: anchored.note,
      anchoredTxId: anchored.txId,
      offeredRoot: toBase64(offeredRoot),
      offeredNote: note,
      reportedTxId: stub.getTxID(),
      reportedAt: txTimeIso(stub),
      mspId: ctx.clientIdentity.getMSPID(),
    } satisfies EquivocationRecord;
    await stub.putState(key, encodeRecord(evidence));
  }
  stub.setEvent(EQUIVOCATION_EVENT, Buffer.from(recordJson(evidence), 'utf8'));
  return recordJson({ status: 'equivocation', ...evidence });
}

async function readLog(stub: ChaincodeStub, origin: string): Promise<LogRecord | undefined> {
  const key = logKey(origin);
  return decodeRecord('log', key, await stub.getState(key));
}

async function readAnchor(stub: ChaincodeStub, origin: string, size: number): Promise<AnchorRecord | undefined> {
  const key = anchorKey(origin, size);
  return decodeRecord('anchor', key, await stub.getState(key));
}

async function readLatest(stub: ChaincodeStub, origin: string): Promise<LatestPointer | undefined> {
  const key = latestKey(origin);
  return decodeRecord('latest', key, await stub.getState(key));
}
