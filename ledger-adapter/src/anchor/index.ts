/** The ledger port, the embedded anchor chain and the anchoring outbox (issue 6 §4). */
export * from './ledger-port.js';
export {
  anchorKeyId,
  EMBEDDED_PROOF_FORMAT,
  parseAnchorChain,
  rawAnchorPublicKey,
  type AnchorEntry,
  type EmbeddedAnchorProof,
  type SignedAnchorEntry,
} from './anchor-entry.js';
export * from './anchor-verify.js';
export { ANCHOR_CHAIN_FILE, EmbeddedAnchor, openEmbeddedAnchor, readAnchorChain, type EmbeddedAnchorOptions } from './embedded-anchor.js';
export { AnchorOutbox, openAnchorOutbox, type AnchorAlarm, type AnchorLag, type AnchorOutboxOptions } from './anchor-outbox.js';
export { MemoryLedger } from './memory-ledger.js';
