/**
 * The records the Fabric anchor chaincode stores and returns, shared by the chaincode (which
 * writes them) and the adapter (which checks every answer against them field by field).
 * Type aliases, not interfaces: the chaincode's canonical JSON writer takes plain records.
 */

/** A registered log: who registered it and the C2SP verifier key its checkpoints must verify with. */
export type LogRecord = {
  origin: string;
  verifierKey: string;
  /** MSP of the client that registered it: the only one that may anchor the log. */
  mspId: string;
  /** The transaction's timestamp, ISO 8601. */
  registeredAt: string;
};

/** One anchored checkpoint. */
export type AnchorRecord = {
  origin: string;
  size: number;
  /** Base64 of the 32-byte root hash. */
  rootHash: string;
  /** The signed note, as the log signed it. */
  note: string;
  /** Position among the anchors of this origin: 0, 1, 2, … */
  sequence: number;
  /** The transaction that anchored it. */
  txId: string;
  /** The transaction's timestamp, ISO 8601. */
  anchoredAt: string;
  /** MSP of the client that anchored it. */
  mspId: string;
};
