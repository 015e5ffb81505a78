import type { LedgerServices } from './ledger-services.js';

/**
 * What `GET /ledger/status` answers (public: sizes, times and keys, never data): the log's
 * size, its latest signed checkpoint, the ledger's health, the anchoring lag (the outbox's
 * pending checkpoints and how long the oldest has waited) and the keys a third party verifies
 * receipts and anchors with.
 */
export async function ledgerStatus(l: LedgerServices): Promise<Record<string, unknown>> {
  const latest = l.log.latestCheckpoint();
  // A ledger that cannot be reached (Fabric down) is reported, not a failure of the endpoint.
  const anchored = await l.ledger.latest(l.log.origin).catch(() => undefined);
  const lag = l.outbox.lag();
  return {
    origin: l.log.origin,
    logSize: l.log.size,
    latestCheckpoint: latest ? { size: latest.size, signedAt: latest.signedAt, note: latest.note } : null,
    ledger: await l.ledger.status(),
    latestAnchor: anchored ? { size: anchored.size, anchoredAt: anchored.anchoredAt, sequence: anchored.sequence, txId: anchored.txId ?? null } : null,
    unanchoredLeaves: l.log.size - (anchored?.size ?? 0),
    anchoring: lag,
    verifierKey: l.verifierKey,
    ...(l.anchorPublicKey ? { anchorPublicKey: l.anchorPublicKey } : {}),
  };
}
