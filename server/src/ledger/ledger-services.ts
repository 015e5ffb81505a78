import type { AnchorOutbox } from '../../../ledger-adapter/src/anchor/anchor-outbox.js';
import type { LedgerPort } from '../../../ledger-adapter/src/anchor/ledger-port.js';
import type { MerkleLog } from '../../../ledger-adapter/src/log/merkle-log.js';
import type { FullAuditReport } from './full-audit.js';
import type { VersionLog } from './version-log.js';

/**
 * What the FHIR operations need of the ledger side ($verify, the status endpoint): the Merkle
 * log, the version leaves, the ledger the checkpoints are anchored in, and its outbox.
 */
export interface LedgerServices {
  readonly log: MerkleLog;
  readonly versions: VersionLog;
  readonly ledger: LedgerPort;
  readonly outbox: AnchorOutbox;
  /** The log's public key as a C2SP verifier key (what a third party verifies receipts with). */
  readonly verifierKey: string;
  /** The embedded anchor chain's public key (base64 raw Ed25519), when that ledger is in use. */
  readonly anchorPublicKey?: string;
  /** The full audit (full-audit.ts) of the live store and log, for `$full-audit`; absent where no root store is at hand. */
  readonly fullAudit?: () => Promise<FullAuditReport>;
}
