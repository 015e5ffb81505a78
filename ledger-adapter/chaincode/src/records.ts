import { canonicalJson } from '../../src/anchor/anchor-entry.js';
import type { AnchorRecord, LogRecord } from '../../src/anchor/chaincode-records.js';

/**
 * What the contract stores and returns, and its JSON. Every value is serialised as RFC 8785
 * canonical JSON so that all endorsing peers produce byte-identical write sets and payloads.
 *
 * The serialiser is the one of the embedded anchor chain (anchor-entry.ts): RFC 8785 for
 * objects of strings and non-negative safe integers, which is all these records hold, and it
 * throws on anything else. `merkle/canonical-json.ts` is not usable here: it wraps the
 * `canonicalize` package, which is published as an ES module only (no `require` export), and
 * Fabric's Node runtime loads a chaincode with `require`.
 */

export type { AnchorRecord, LogRecord } from '../../src/anchor/chaincode-records.js';

/** The per-origin pointer to the latest anchor: what the next anchor's consistency proof starts from. */
export type LatestPointer = {
  size: number;
  rootHash: string;
  sequence: number;
};

/**
 * Two checkpoints signed by the log's key for one size with different roots: the log (or its
 * key) misbehaved, and these two notes prove it to anyone holding the verifier key.
 */
export type EquivocationRecord = {
  origin: string;
  size: number;
  anchoredRoot: string;
  anchoredNote: string;
  anchoredTxId: string;
  offeredRoot: string;
  offeredNote: string;
  /** The transaction that brought the conflicting note. */
  reportedTxId: string;
  reportedAt: string;
  mspId: string;
};

type Json = string | number | { [key: string]: Json };

export function recordJson(record: { [key: string]: Json }): string {
  return canonicalJson(record);
}

/** The JSON of a list of records: RFC 8785 writes arrays as their elements, comma-separated. */
export function recordListJson(records: ReadonlyArray<{ [key: string]: Json }>): string {
  return `[${records.map((r) => canonicalJson(r)).join(',')}]`;
}

export function encodeRecord(record: { [key: string]: Json }): Uint8Array {
  return Buffer.from(canonicalJson(record), 'utf8');
}

const SHAPES = {
  log: { origin: 'string', verifierKey: 'string', mspId: 'string', registeredAt: 'string' },
  anchor: {
    origin: 'string',
    size: 'number',
    rootHash: 'string',
    note: 'string',
    sequence: 'number',
    txId: 'string',
    anchoredAt: 'string',
    mspId: 'string',
  },
  latest: { size: 'number', rootHash: 'string', sequence: 'number' },
  equivocation: {
    origin: 'string',
    size: 'number',
    anchoredRoot: 'string',
    anchoredNote: 'string',
    anchoredTxId: 'string',
    offeredRoot: 'string',
    offeredNote: 'string',
    reportedTxId: 'string',
    reportedAt: 'string',
    mspId: 'string',
  },
} as const;

type Kinds = {
  log: LogRecord;
  anchor: AnchorRecord;
  latest: LatestPointer;
  equivocation: EquivocationRecord;
};

/**
 * Parses a stored value; undefined when the key is absent (Fabric returns an empty value for
 * a missing key). Only this contract writes its namespace, so a value of another shape means
 * the state was written by something else: that is thrown, never interpreted.
 */
export function decodeRecord<K extends keyof Kinds>(kind: K, key: string, value: Uint8Array | undefined): Kinds[K] | undefined {
  if (!value || value.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    throw new Error(`corrupt world state at ${key}: not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`corrupt world state at ${key}: not an object`);
  const shape: Record<string, string> = SHAPES[kind];
  const fields = parsed as Record<string, unknown>;
  for (const [name, type] of Object.entries(shape)) {
    const v = fields[name];
    if (typeof v !== type || (type === 'number' && !(Number.isSafeInteger(v) && (v as number) >= 0))) {
      throw new Error(`corrupt world state at ${key}: ${name} is not a ${type}`);
    }
  }
  if (Object.keys(fields).length !== Object.keys(shape).length) throw new Error(`corrupt world state at ${key}: unexpected fields`);
  return fields as Kinds[K];
}
