import type { KeyObject } from 'node:crypto';
import {
  computeEntryHash,
  EMBEDDED_PROOF_FORMAT,
  GENESIS_PREV,
  isObject,
  noteMatches,
  parseSignedEntry,
  toAnchorPublicKey,
  verifyEntrySignature,
  type EmbeddedAnchorProof,
  type SignedAnchorEntry,
} from './anchor-entry.js';
import type { AnchorReceipt } from './ledger-port.js';

/**
 * Checks of the embedded anchor chain and its receipts, pure: a third party runs them on a copy
 * of the chain, or on one receipt, with the anchor's public key alone (format: anchor-entry.ts).
 */

export type ChainProblemKind =
  /** An entry's sequence number is not its position (an entry was deleted, inserted or moved). */
  | 'sequence'
  /** The entry does not hash to its entryHash (the entry was edited). */
  | 'hash'
  /** The signature does not verify with the anchor key (re-hashed after an edit, or another key). */
  | 'signature'
  /** prevEntryHash is not the previous entry's hash (deleted, inserted or reordered entries). */
  | 'link'
  /** A size not above the previous anchored size of the same origin (never written by the anchor). */
  | 'order'
  /** The note's first lines disagree with the entry's origin, size or root. */
  | 'note'
  /** The chain is shorter than a head someone kept (entries cut off the end). */
  | 'truncated'
  /** The entry at the head's position is not the one the head names (rewritten since). */
  | 'head';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** Position in the chain the problem was found at. */
  index: number;
  message: string;
}

/** A position and hash someone kept (a receipt, a copy of the head): the chain must still hold it. */
export interface ChainHead {
  sequence: number;
  entryHash: string;
}

export interface ChainVerdict {
  ok: boolean;
  problems: ChainProblem[];
  length: number;
  /** The last entry's hash (GENESIS_PREV for an empty chain). */
  headHash: string;
}

export interface ChainCheckOptions {
  /** Positions and hashes the chain must still hold (kept receipts). */
  heads?: readonly ChainHead[];
  /**
   * `every` (default) checks each entry's signature. `last` checks only the last one: every
   * entry hash covers the previous one, so the last entry's signature commits to the whole
   * chain and any edit by someone without the key still shows (as a hash, link or last-signature
   * problem), at one signature check instead of one per entry. What `last` does not notice is a
   * garbled signature on an otherwise intact older entry; its receipt fails on its own check.
   */
  signatures?: 'every' | 'last';
}

/**
 * Checks a chain incrementally (so a large file can be streamed through it): feed entries in
 * file order with `push`, then `finish`. Pure apart from the state it carries.
 */
export class AnchorChainVerifier {
  private readonly key: KeyObject;
  private readonly problems: ChainProblem[] = [];
  private readonly lastSize = new Map<string, number>();
  private readonly hashes = new Map<number, string>();
  private index = 0;
  private prevHash = GENESIS_PREV;

  private readonly heads: readonly ChainHead[];
  private readonly everySignature: boolean;
  private last?: SignedAnchorEntry;

  constructor(publicKey: KeyObject | string | Uint8Array, options: ChainCheckOptions = {}) {
    this.key = toAnchorPublicKey(publicKey);
    this.heads = options.heads ?? [];
    this.everySignature = (options.signatures ?? 'every') === 'every';
    for (const h of this.heads) this.hashes.set(h.sequence, '');
  }

  push(s: SignedAnchorEntry): void {
    const i = this.index++;
    const e = s.entry;
    const problem = (kind: ChainProblemKind, message: string) => this.problems.push({ kind, index: i, message });
    if (e.sequence !== i) problem('sequence', `entry at position ${i} says sequence ${e.sequence}`);
    let hash: string | undefined;
    try {
      hash = computeEntryHash(e);
    } catch (err) {
      problem('hash', `entry cannot be canonicalized: ${(err as Error).message}`);
    }
    if (hash !== undefined && hash !== s.entryHash) problem('hash', `entry ${i} hashes to ${hash}, not to its entryHash ${s.entryHash}`);
    if (this.everySignature && !verifyEntrySignature(s, this.key)) problem('signature', `entry ${i}: signature does not verify with the anchor key`);
    if (e.prevEntryHash !== this.prevHash) problem('link', `entry ${i}: prevEntryHash ${e.prevEntryHash} is not the previous entry's hash ${this.prevHash}`);
    const last = this.lastSize.get(e.origin);
    if (last !== undefined && !(e.size > last)) problem('order', `entry ${i}: ${e.origin} size ${e.size} after size ${last}`);
    if (!noteMatches(e)) problem('note', `entry ${i}: the note does not carry origin ${e.origin}, size ${e.size} and root ${e.rootHash}`);
    this.lastSize.set(e.origin, Math.max(last ?? -1, e.size));
    // A kept head names an entry by its content: compare what the entry hashes to now.
    if (this.hashes.has(i)) this.hashes.set(i, hash ?? s.entryHash);
    this.prevHash = s.entryHash;
    this.last = s;
  }

  finish(): ChainVerdict {
    const problems = [...this.problems];
    if (!this.everySignature && this.last && !verifyEntrySignature(this.last, this.key)) {
      problems.push({ kind: 'signature', index: this.index - 1, message: `entry ${this.index - 1} (the last): signature does not verify with the anchor key` });
    }
    for (const h of this.heads) {
      if (h.sequence >= this.index) {
        problems.push({ kind: 'truncated', index: this.index, message: `chain has ${this.index} entries; a kept head names entry ${h.sequence}` });
      } else if (this.hashes.get(h.sequence) !== h.entryHash) {
        problems.push({ kind: 'head', index: h.sequence, message: `entry ${h.sequence} is not the one a kept head names (${h.entryHash})` });
      }
    }
    problems.sort((a, b) => a.index - b.index);
    return { ok: problems.length === 0, problems, length: this.index, headHash: this.prevHash };
  }
}

/**
 * Checks a whole chain with the anchor's public key: hashes, links, sequence numbers,
 * signatures, per-origin order, notes; and, given kept heads (receipts), that the chain still
 * reaches and holds them (truncation, rewrites after a receipt was handed out).
 */
export function verifyAnchorChain(
  entries: readonly SignedAnchorEntry[],
  publicKey: KeyObject | string | Uint8Array,
  options: ChainCheckOptions = {},
): ChainVerdict {
  const v = new AnchorChainVerifier(publicKey, options);
  for (const e of entries) v.push(e);
  return v.finish();
}

/** The head a receipt of the embedded anchor names (undefined when it carries no embedded proof). */
export function receiptHead(receipt: AnchorReceipt): ChainHead | undefined {
  const p = receipt.proof as Partial<EmbeddedAnchorProof> | undefined;
  if (!p || p.format !== EMBEDDED_PROOF_FORMAT || typeof p.entryHash !== 'string') return undefined;
  return { sequence: receipt.sequence, entryHash: p.entryHash };
}

export type ReceiptVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Checks an embedded anchor receipt offline: the proof's entry is the one the receipt
 * describes, hashes to the proof's entryHash, and that hash is signed by the anchor key.
 * (That the note itself is the log's signature is the log verifier's job, with the log key.)
 */
export function verifyAnchorReceipt(receipt: AnchorReceipt, anchorPublicKey: KeyObject | string | Uint8Array): ReceiptVerdict {
  const p = receipt.proof as Partial<EmbeddedAnchorProof> | undefined;
  if (!isObject(p) || p.format !== EMBEDDED_PROOF_FORMAT) return { ok: false, reason: `proof is not ${EMBEDDED_PROOF_FORMAT}` };
  const parsed = parseSignedEntry(JSON.stringify({ entry: p.entry, entryHash: p.entryHash, signature: p.signature }));
  if (typeof parsed === 'string') return { ok: false, reason: `proof: ${parsed}` };
  const e = parsed.entry;
  const mismatch = (['origin', 'size', 'rootHash', 'anchoredAt', 'sequence'] as const).find((k) => receipt[k] !== e[k]);
  if (mismatch) return { ok: false, reason: `receipt ${mismatch} differs from the anchored entry` };
  if (receipt.txId !== undefined && receipt.txId !== parsed.entryHash) return { ok: false, reason: 'receipt txId is not the entry hash' };
  if (computeEntryHash(e) !== parsed.entryHash) return { ok: false, reason: 'entry does not hash to entryHash' };
  let key: KeyObject;
  try {
    key = toAnchorPublicKey(anchorPublicKey);
  } catch (err) {
    return { ok: false, reason: `anchor public key: ${(err as Error).message}` };
  }
  if (!verifyEntrySignature(parsed, key)) return { ok: false, reason: 'signature does not verify with the anchor key' };
  if (!noteMatches(e)) return { ok: false, reason: 'the note does not carry the receipt origin, size and root' };
  return { ok: true };
}
