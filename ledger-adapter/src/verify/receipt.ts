import { parseCheckpoint } from '../checkpoint/checkpoint.js';
import { openNote, parseVerifierKey } from '../checkpoint/note.js';
import { fromBase64Strict, toBase64 } from '../merkle/base64.js';
import { bytesEqual, HASH_SIZE } from '../merkle/hash.js';
import { leafHashOf, SALT_SIZE } from '../merkle/leaf.js';
import { verifyInclusion } from '../merkle/proofs.js';

/**
 * Receipts: everything needed to check, offline and with only the log's public key, that a
 * record is leaf `leafIndex` of the log whose signed checkpoint is enclosed.
 *
 *   {
 *     "format": "custodian-receipt/v1",
 *     "origin": "<checkpoint origin>",
 *     "key": "<the leaf's index key, e.g. AuditEvent/123>",
 *     "leafIndex": <0-based index>,
 *     "leafHash": "<base64 of SHA-256(0x00 || salt || UTF-8(JCS(record)))>",
 *     "salt": "<base64 of the 32-byte salt>",
 *     "treeSize": <size of the checkpoint's tree>,
 *     "inclusionProof": ["<base64 hash>", ...],   RFC 9162 §2.1.3 path, leaf upwards
 *     "checkpoint": "<C2SP signed note of the checkpoint at treeSize>",
 *     "anchor": <optional, where the checkpoint was anchored; not checked here>
 *   }
 *
 * This module imports no storage and no server code: the CLI runs it anywhere.
 */
export const RECEIPT_FORMAT = 'custodian-receipt/v1';

export interface Receipt {
  format: typeof RECEIPT_FORMAT;
  origin: string;
  key: string;
  leafIndex: number;
  leafHash: string;
  salt: string;
  treeSize: number;
  inclusionProof: string[];
  checkpoint: string;
  anchor?: unknown;
}

/** What buildReceipt needs from a log (MerkleLog has it). */
export interface ReceiptSource {
  readonly origin: string;
  leaf(index: number): { key: string; leafHash: Uint8Array; salt: Uint8Array } | undefined;
  inclusionProof(index: number, size: number): Uint8Array[];
}

export interface SignedCheckpointLike {
  size: number;
  rootHash: Uint8Array;
  note: string;
}

/** Builds the receipt of leaf `leafIndex` under `checkpoint`, and checks it before handing it out. */
export function buildReceipt(log: ReceiptSource, leafIndex: number, checkpoint: SignedCheckpointLike, anchor?: unknown): Receipt {
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= checkpoint.size) {
    throw new RangeError(`leaf ${leafIndex} is not in the checkpoint of size ${checkpoint.size}`);
  }
  const leaf = log.leaf(leafIndex);
  if (!leaf) throw new RangeError(`no leaf ${leafIndex}`);
  const proof = log.inclusionProof(leafIndex, checkpoint.size);
  const self = verifyInclusion(leaf.leafHash, leafIndex, checkpoint.size, proof, checkpoint.rootHash);
  if (!self.ok) throw new Error(`receipt for leaf ${leafIndex} does not verify against its checkpoint: ${self.reason}`);
  return {
    format: RECEIPT_FORMAT,
    origin: log.origin,
    key: leaf.key,
    leafIndex,
    leafHash: toBase64(leaf.leafHash),
    salt: toBase64(leaf.salt),
    treeSize: checkpoint.size,
    inclusionProof: proof.map(toBase64),
    checkpoint: checkpoint.note,
    ...(anchor !== undefined ? { anchor } : {}),
  };
}

export interface ReceiptCheck {
  check: 'format' | 'signature' | 'checkpoint' | 'inclusion' | 'record';
  ok: boolean;
  detail: string;
}

export interface ReceiptVerdict {
  verdict: 'verified' | 'mismatch';
  checks: ReceiptCheck[];
}

export interface VerifyReceiptOptions {
  /** The log's verifier key, `<name>+<key ID>+<base64 key>`, obtained out of band. */
  verifierKey: string;
  /** The JSON record the receipt is for; when given, its salted hash must be the leaf hash. */
  record?: unknown;
}

interface ReceiptFields {
  origin: string;
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  salt: Uint8Array;
  proof: Uint8Array[];
  checkpoint: string;
}

function readReceipt(r: unknown): { fields?: ReceiptFields; problems: string[] } {
  const problems: string[] = [];
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return { problems: ['the receipt is not a JSON object'] };
  const o = r as Record<string, unknown>;
  if (o.format !== RECEIPT_FORMAT) problems.push(`format is not ${RECEIPT_FORMAT}`);
  if (typeof o.origin !== 'string' || o.origin.length === 0) problems.push('origin is missing');
  if (typeof o.key !== 'string') problems.push('key is missing');
  const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!isIndex(o.leafIndex)) problems.push('leafIndex is not a non-negative integer');
  if (!isIndex(o.treeSize)) problems.push('treeSize is not a non-negative integer');
  const leafHash = fromBase64Strict(o.leafHash);
  if (!leafHash || leafHash.length !== HASH_SIZE) problems.push('leafHash is not base64 of 32 bytes');
  const salt = fromBase64Strict(o.salt);
  if (!salt || salt.length !== SALT_SIZE) problems.push(`salt is not base64 of ${SALT_SIZE} bytes`);
  const proof: Uint8Array[] = [];
  if (!Array.isArray(o.inclusionProof)) problems.push('inclusionProof is not an array');
  else {
    for (const p of o.inclusionProof) {
      const h = fromBase64Strict(p);
      if (!h || h.length !== HASH_SIZE) {
        problems.push('an inclusionProof element is not base64 of 32 bytes');
        break;
      }
      proof.push(h);
    }
  }
  if (typeof o.checkpoint !== 'string') problems.push('checkpoint is not a string');
  if (problems.length > 0) return { problems };
  return {
    problems,
    fields: {
      origin: o.origin as string,
      leafIndex: o.leafIndex as number,
      treeSize: o.treeSize as number,
      leafHash: leafHash!,
      salt: salt!,
      proof,
      checkpoint: o.checkpoint as string,
    },
  };
}

/**
 * Verifies a receipt offline: the checkpoint's signature by the given key, that the signed
 * checkpoint is the receipt's (origin and size; its root is the one used), the inclusion proof,
 * and, when the record is given, that it hashes with the salt to the leaf hash. Never throws.
 */
export function verifyReceipt(receipt: unknown, opts: VerifyReceiptOptions): ReceiptVerdict {
  const checks: ReceiptCheck[] = [];
  const done = (): ReceiptVerdict => ({ verdict: checks.every((c) => c.ok) ? 'verified' : 'mismatch', checks });

  const { fields, problems } = readReceipt(receipt);
  if (!fields) {
    checks.push({ check: 'format', ok: false, detail: problems.join('; ') });
    return done();
  }
  checks.push({ check: 'format', ok: true, detail: `${RECEIPT_FORMAT}: leaf ${fields.leafIndex} of a tree of ${fields.treeSize}` });

  const key = parseVerifierKey(opts.verifierKey);
  if (!key.ok) {
    checks.push({ check: 'signature', ok: false, detail: `unusable verifier key: ${key.reason}` });
    return done();
  }
  const opened = openNote(fields.checkpoint, key.value);
  const keyLabel = `${key.value.name}+${Buffer.from(key.value.keyId).toString('hex')}`;
  checks.push(
    opened.ok
      ? { check: 'signature', ok: true, detail: `checkpoint signed by ${keyLabel}` }
      : { check: 'signature', ok: false, detail: opened.reason },
  );
  // Without a valid signature the checkpoint text is whatever the receipt says: not a root to check against.
  if (!opened.ok) return done();

  const cp = parseCheckpoint(opened.value.text);
  if (!cp.ok) {
    checks.push({ check: 'checkpoint', ok: false, detail: cp.reason });
    return done();
  }
  const cpProblems: string[] = [];
  if (cp.value.origin !== fields.origin) cpProblems.push(`signed origin ${JSON.stringify(cp.value.origin)} is not the receipt's ${JSON.stringify(fields.origin)}`);
  if (cp.value.size !== fields.treeSize) cpProblems.push(`signed size ${cp.value.size} is not the receipt's treeSize ${fields.treeSize}`);
  checks.push({
    check: 'checkpoint',
    ok: cpProblems.length === 0,
    detail: cpProblems.length === 0 ? `${cp.value.origin} at size ${cp.value.size}, root ${toBase64(cp.value.rootHash)}` : cpProblems.join('; '),
  });

  const inclusion = verifyInclusion(fields.leafHash, fields.leafIndex, cp.value.size, fields.proof, cp.value.rootHash);
  checks.push(
    inclusion.ok
      ? { check: 'inclusion', ok: true, detail: `leaf ${fields.leafIndex} is in the signed tree of ${cp.value.size}` }
      : { check: 'inclusion', ok: false, detail: inclusion.reason },
  );

  if (opts.record !== undefined) {
    let hash: Uint8Array | undefined;
    let error = '';
    try {
      hash = leafHashOf(fields.salt, opts.record);
    } catch (err) {
      error = (err as Error).message;
    }
    checks.push(
      hash && bytesEqual(hash, fields.leafHash)
        ? { check: 'record', ok: true, detail: 'the record, salted and canonicalized, hashes to the leaf hash' }
        : { check: 'record', ok: false, detail: hash ? 'the record does not hash to the leaf hash' : `the record cannot be canonicalized: ${error}` },
    );
  }
  return done();
}
