import {
  EquivocationError,
  InvalidCheckpointError,
  OutOfOrderError,
  type AnchorReceipt,
  type CheckpointToAnchor,
} from './ledger-port.js';
import { noteMatches } from './anchor-entry.js';

/**
 * The rules every ledger adapter applies to an offered checkpoint, kept in one place so the
 * embedded and in-memory ledgers (and the Fabric chaincode, which restates them on the peers)
 * cannot drift apart:
 *
 *   same (origin, size, root) as an anchored one → the first receipt (idempotent);
 *   same (origin, size), another root            → EquivocationError;
 *   size below the latest anchored size          → OutOfOrderError;
 *   otherwise                                    → append.
 */

export interface ValidCheckpoint {
  origin: string;
  size: number;
  /** Base64 of the 32-byte root. */
  rootHash: string;
  note: string;
}

const MAX_NOTE_LENGTH = 64 * 1024;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Checks the shape of an offered checkpoint, and that its note carries the same origin, size and root. */
export function validateCheckpoint(cp: CheckpointToAnchor): ValidCheckpoint {
  if (typeof cp !== 'object' || cp === null) throw new InvalidCheckpointError('not an object');
  const { origin, size, rootHash, note } = cp;
  if (typeof origin !== 'string' || origin.length === 0 || origin.includes('\n') || LONE_SURROGATE.test(origin)) {
    throw new InvalidCheckpointError('origin must be a non-empty single line');
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidCheckpointError('size must be a non-negative safe integer');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== 32) throw new InvalidCheckpointError('rootHash must be 32 bytes');
  if (typeof note !== 'string' || note.length > MAX_NOTE_LENGTH || LONE_SURROGATE.test(note)) {
    throw new InvalidCheckpointError(`note must be a string of at most ${MAX_NOTE_LENGTH} characters`);
  }
  const v = { origin, size, rootHash: Buffer.from(rootHash).toString('base64'), note };
  if (!noteMatches(v)) throw new InvalidCheckpointError(`the note does not open with origin ${origin}, size ${size} and its root`);
  return v;
}

/**
 * Anchored sizes per origin, in order, with their positions in the chain. Compact on purpose
 * (two numbers per anchor): receipts themselves stay wherever the ledger keeps them.
 */
export class AnchorIndex {
  private readonly origins = new Map<string, { sizes: number[]; seqs: number[] }>();

  add(origin: string, size: number, sequence: number): void {
    let o = this.origins.get(origin);
    if (!o) this.origins.set(origin, (o = { sizes: [], seqs: [] }));
    const last = o.sizes[o.sizes.length - 1];
    if (last !== undefined && size <= last) throw new Error(`anchor index: ${origin} size ${size} after ${last}`);
    o.sizes.push(size);
    o.seqs.push(sequence);
  }

  /** Position of the anchor of exactly this size. */
  exact(origin: string, size: number): number | undefined {
    const o = this.origins.get(origin);
    if (!o) return undefined;
    const i = lowerBound(o.sizes, size);
    return o.sizes[i] === size ? o.seqs[i] : undefined;
  }

  /** Position of the anchor of the smallest size >= size. */
  covering(origin: string, size: number): number | undefined {
    const o = this.origins.get(origin);
    if (!o) return undefined;
    const i = lowerBound(o.sizes, size);
    return i < o.sizes.length ? o.seqs[i] : undefined;
  }

  latest(origin: string): { size: number; sequence: number } | undefined {
    const o = this.origins.get(origin);
    if (!o || o.sizes.length === 0) return undefined;
    return { size: o.sizes[o.sizes.length - 1], sequence: o.seqs[o.seqs.length - 1] };
  }
}

function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Applies the rules: resolves to the existing receipt when the checkpoint is already anchored,
 * to undefined when it must be appended, and throws EquivocationError / OutOfOrderError.
 */
export async function existingOrAppend(
  index: AnchorIndex,
  v: ValidCheckpoint,
  receiptAt: (sequence: number) => Promise<AnchorReceipt>,
): Promise<AnchorReceipt | undefined> {
  const seq = index.exact(v.origin, v.size);
  if (seq !== undefined) {
    const first = await receiptAt(seq);
    if (first.rootHash === v.rootHash) return first;
    throw new EquivocationError(v.origin, v.size, first.rootHash, v.rootHash);
  }
  const latest = index.latest(v.origin);
  if (latest !== undefined && v.size < latest.size) throw new OutOfOrderError(v.origin, v.size, latest.size);
  return undefined;
}
