import type { AnchorReceipt } from '../src/anchor/ledger-port.js';
import type { AnchorRecord } from './anchor-records.js';

/**
 * The receipt of a Fabric anchor. Its proof names where the anchor is (channel, chaincode,
 * transaction, block) and carries the signed note, so that anyone with access to the channel
 * can look the transaction up, and anyone with the log's verifier key can check the note.
 */
export const FABRIC_PROOF_FORMAT = 'custodian-fabric-anchor/v1';

export interface FabricAnchorProof {
  format: typeof FABRIC_PROOF_FORMAT;
  channel: string;
  chaincode: string;
  /** MSP of the client that anchored it. */
  mspId: string;
  txId: string;
  /** Block holding the transaction, when known. */
  blockNumber?: number;
  note: string;
}

export interface FabricLocation {
  channel: string;
  chaincode: string;
}

export function fabricReceipt(record: AnchorRecord, where: FabricLocation, blockNumber: number | undefined): AnchorReceipt {
  // Absent rather than undefined when unknown: receipts are compared and serialised as they are.
  const block = blockNumber === undefined ? {} : { blockNumber };
  const proof: FabricAnchorProof = {
    format: FABRIC_PROOF_FORMAT,
    channel: where.channel,
    chaincode: where.chaincode,
    mspId: record.mspId,
    txId: record.txId,
    ...block,
    note: record.note,
  };
  return {
    ledger: 'fabric',
    origin: record.origin,
    size: record.size,
    rootHash: record.rootHash,
    anchoredAt: record.anchoredAt,
    sequence: record.sequence,
    txId: record.txId,
    ...block,
    proof,
  };
}
