import { noteMatches } from '../src/anchor/anchor-entry.js';
import type { AnchorReceipt } from '../src/anchor/ledger-port.js';
import type { AnchorContract } from './anchor-contract.js';
import { FABRIC_PROOF_FORMAT, type FabricAnchorProof } from './fabric-receipt.js';

export type FabricReceiptVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Checks a Fabric anchor receipt against the channel: the anchor the chaincode holds for the
 * receipt's (origin, size) must have the receipt's root, transaction, note, time and position.
 * Whoever runs it needs read access to the channel (any member's peer); that the note is the
 * log's signature is the log verifier's check, with the log's key.
 *
 * Resolves to a verdict; rejects only when the ledger cannot be asked (then there is none).
 */
export async function checkFabricReceipt(receipt: AnchorReceipt, contract: Pick<AnchorContract, 'getAnchor'>): Promise<FabricReceiptVerdict> {
  const shape = receiptShape(receipt);
  if (shape) return { ok: false, reason: shape };
  const proof = receipt.proof as FabricAnchorProof;
  const record = await contract.getAnchor(receipt.origin, receipt.size);
  if (!record) return { ok: false, reason: `the ledger holds no anchor of ${receipt.origin} at size ${receipt.size}` };
  if (record.rootHash !== receipt.rootHash) return { ok: false, reason: `the ledger anchored root ${record.rootHash} at this size, not ${receipt.rootHash}` };
  if (record.txId !== receipt.txId) return { ok: false, reason: `the ledger anchored it in transaction ${record.txId}, not ${receipt.txId}` };
  if (record.note !== proof.note) return { ok: false, reason: 'the anchored note differs from the receipt note' };
  if (record.anchoredAt !== receipt.anchoredAt) return { ok: false, reason: `the ledger anchored it at ${record.anchoredAt}, not ${receipt.anchoredAt}` };
  if (record.sequence !== receipt.sequence) return { ok: false, reason: `the anchor is number ${record.sequence} of its log, not ${receipt.sequence}` };
  return { ok: true };
}

function receiptShape(r: AnchorReceipt): string | undefined {
  if (typeof r !== 'object' || r === null) return 'the receipt is not an object';
  if (r.ledger !== 'fabric') return `the receipt is from the ${String(r.ledger)} ledger, not fabric`;
  if (typeof r.origin !== 'string' || r.origin.length === 0) return 'origin is missing';
  if (!Number.isSafeInteger(r.size) || r.size < 0) return 'size is not a non-negative integer';
  if (typeof r.rootHash !== 'string') return 'rootHash is missing';
  if (typeof r.txId !== 'string' || r.txId.length === 0) return 'txId is missing';
  const p = r.proof as Partial<FabricAnchorProof> | undefined;
  if (typeof p !== 'object' || p === null || p.format !== FABRIC_PROOF_FORMAT) return `proof is not ${FABRIC_PROOF_FORMAT}`;
  if (p.txId !== r.txId) return 'the proof names another transaction than the receipt';
  if (r.blockNumber !== undefined && p.blockNumber !== r.blockNumber) return 'the proof names another block than the receipt';
  if (typeof p.note !== 'string' || !noteMatches({ origin: r.origin, size: r.size, rootHash: r.rootHash, note: p.note })) {
    return 'the proof note does not carry the receipt origin, size and root';
  }
  return undefined;
}
