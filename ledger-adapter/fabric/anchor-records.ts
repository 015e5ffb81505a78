import type { AnchorRecord, LogRecord } from '../src/anchor/chaincode-records.js';
import { noteMatches } from '../src/anchor/anchor-entry.js';
import { fromBase64Strict } from '../src/merkle/base64.js';
import { HASH_SIZE } from '../src/merkle/hash.js';

/**
 * The JSON the anchor chaincode returns, parsed and checked field by field. The peers are
 * another organization's machines: what they answer is input, and a value of the wrong shape
 * is refused here (MalformedResponseError) instead of reaching a receipt.
 */

export type { AnchorRecord } from '../src/anchor/chaincode-records.js';
/** A log's registration, as the chaincode stores it. */
export type LogRegistration = LogRecord;

/** Two signed checkpoints of one size with different roots, as the chaincode records them. */
export interface EquivocationEvidence {
  origin: string;
  size: number;
  anchoredRoot: string;
  anchoredNote: string;
  anchoredTxId: string;
  offeredRoot: string;
  offeredNote: string;
  /** The transaction that first reported the conflict. */
  reportedTxId: string;
  reportedAt: string;
  mspId: string;
}

/** What AnchorCheckpoint answers: the anchor (new, or the existing one on a replay), or evidence of equivocation. */
export type AnchorOutcome = { status: 'anchored'; record: AnchorRecord } | { status: 'equivocation'; evidence: EquivocationEvidence };

/** The chaincode answered something that is not what its interface promises. */
export class MalformedResponseError extends Error {
  constructor(what: string, problem: string) {
    super(`the anchor chaincode returned a malformed ${what}: ${problem}`);
    this.name = 'MalformedResponseError';
  }
}

const TX_ID = /^[0-9A-Za-z_-]{1,128}$/;
const MAX_TEXT = 64 * 1024;

type Obj = Record<string, unknown>;

/** Decodes a chaincode payload as JSON (strict UTF-8). */
export function decodeJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new MalformedResponseError(what, 'not UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedResponseError(what, `not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/** A payload that is a record or `null` (a query for something absent). */
export function decodeOptional<T>(bytes: Uint8Array, what: string, parse: (value: unknown, what: string) => T): T | undefined {
  // A contract function returning nothing reaches the client as an empty payload: absent, as null.
  if (bytes.length === 0) return undefined;
  const value = decodeJson(bytes, what);
  return value === null ? undefined : parse(value, what);
}

export function parseAnchorRecord(value: unknown, what = 'anchor record'): AnchorRecord {
  const o = object(value, what);
  const record: AnchorRecord = {
    origin: text(o, 'origin', what),
    size: count(o, 'size', what),
    rootHash: rootHash(o, 'rootHash', what),
    note: text(o, 'note', what),
    sequence: count(o, 'sequence', what),
    txId: txId(o, 'txId', what),
    anchoredAt: isoDate(o, 'anchoredAt', what),
    mspId: text(o, 'mspId', what),
  };
  if (!noteMatches(record)) throw new MalformedResponseError(what, 'the note does not carry its origin, size and root');
  return record;
}

export function parseLogRegistration(value: unknown, what = 'log registration'): LogRegistration {
  const o = object(value, what);
  return {
    origin: text(o, 'origin', what),
    verifierKey: text(o, 'verifierKey', what),
    mspId: text(o, 'mspId', what),
    registeredAt: isoDate(o, 'registeredAt', what),
  };
}

export function parseEquivocationEvidence(value: unknown, what = 'equivocation evidence'): EquivocationEvidence {
  const o = object(value, what);
  const evidence: EquivocationEvidence = {
    origin: text(o, 'origin', what),
    size: count(o, 'size', what),
    anchoredRoot: rootHash(o, 'anchoredRoot', what),
    anchoredNote: text(o, 'anchoredNote', what),
    anchoredTxId: txId(o, 'anchoredTxId', what),
    offeredRoot: rootHash(o, 'offeredRoot', what),
    offeredNote: text(o, 'offeredNote', what),
    reportedTxId: txId(o, 'reportedTxId', what),
    reportedAt: isoDate(o, 'reportedAt', what),
    mspId: text(o, 'mspId', what),
  };
  if (evidence.anchoredRoot === evidence.offeredRoot) throw new MalformedResponseError(what, 'the two roots are the same');
  return evidence;
}

export function parseAnchorOutcome(value: unknown, what = 'AnchorCheckpoint result'): AnchorOutcome {
  const o = object(value, what);
  const { status, ...rest } = o;
  if (status === 'anchored') return { status, record: parseAnchorRecord(rest, what) };
  if (status === 'equivocation') return { status, evidence: parseEquivocationEvidence(rest, what) };
  throw new MalformedResponseError(what, `status is ${JSON.stringify(status)}, not anchored or equivocation`);
}

export function parseAnchorList(value: unknown, what = 'GetRange result'): AnchorRecord[] {
  if (!Array.isArray(value)) throw new MalformedResponseError(what, 'not an array');
  return value.map((v, i) => parseAnchorRecord(v, `${what} [${i}]`));
}

function object(value: unknown, what: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedResponseError(what, 'not a JSON object');
  return value as Obj;
}

function text(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) throw new MalformedResponseError(what, `${key} is not a non-empty string`);
  return v;
}

function count(o: Obj, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new MalformedResponseError(what, `${key} is not a non-negative integer`);
  return v;
}

function rootHash(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (fromBase64Strict(v)?.length !== HASH_SIZE) throw new MalformedResponseError(what, `${key} is not base64 of ${HASH_SIZE} bytes`);
  return v as string;
}

function txId(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !TX_ID.test(v)) throw new MalformedResponseError(what, `${key} is not a transaction id`);
  return v;
}

function isoDate(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(Date.parse(v))) throw new MalformedResponseError(what, `${key} is not an ISO date`);
  return v;
}
