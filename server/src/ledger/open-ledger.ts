import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnchorOutbox } from '../../../ledger-adapter/src/anchor/anchor-outbox.js';
import { EmbeddedAnchor } from '../../../ledger-adapter/src/anchor/embedded-anchor.js';
import { LedgerUnavailableError, type AnchorReceipt, type LedgerPort } from '../../../ledger-adapter/src/anchor/ledger-port.js';
import { openFabric } from '../../../ledger-adapter/fabric/open-fabric.js';
import { loadOrCreateLogKey } from '../../../ledger-adapter/src/checkpoint/log-key.js';
import { MerkleLog, type SignedCheckpoint } from '../../../ledger-adapter/src/log/merkle-log.js';
import { fromBase64Strict } from '../../../ledger-adapter/src/merkle/base64.js';
import { verifyConsistency } from '../../../ledger-adapter/src/merkle/proofs.js';
import type { LedgerConfig } from '../config/config.js';
import type { LedgerServices } from './ledger-services.js';
import { VersionLog } from './version-log.js';

export interface OpenLedger extends LedgerServices {
  /** Signs a checkpoint now if the log grew, and queues it for anchoring. */
  checkpointNow(): Promise<SignedCheckpoint | undefined>;
  /** Starts the periodic checkpoints and the anchoring worker. */
  start(onTick?: () => Promise<void>): void;
  close(): Promise<void>;
}

interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The ledger side of the server, in DATA_DIR/ledger: the Merkle log (log/, its Ed25519 key in
 * keys/), the embedded anchor chain (anchor/, its own key) and the anchoring outbox (outbox/).
 * A checkpoint is signed every CHECKPOINT_INTERVAL_MS when the log grew, durably queued, and
 * anchored in order by the outbox's worker; `$verify` signs one on demand.
 */
/**
 * The log's origin is fixed when the log is created (recorded in ledger/origin): a log keeps
 * its name whatever port or host the server later runs on. LEDGER_ORIGIN names a new log, and
 * must agree with an existing one.
 */
function logOrigin(dir: string, cfg: LedgerConfig): string {
  const file = join(dir, 'origin');
  if (existsSync(file)) {
    const recorded = readFileSync(file, 'utf8').trim();
    if (cfg.originSet && recorded !== cfg.origin) {
      throw new Error(`LEDGER_ORIGIN is '${cfg.origin}' but the log in ${dir} is '${recorded}': a log cannot be renamed`);
    }
    return recorded;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${cfg.origin}\n`, { mode: 0o600, flush: true });
  return cfg.origin;
}

export async function openLedger(dataDir: string, cfg: LedgerConfig, logger: Logger): Promise<OpenLedger> {
  const dir = join(dataDir, 'ledger');
  const origin = logOrigin(dir, cfg);
  const key = await loadOrCreateLogKey(join(dir, 'keys'), origin);
  const log = await MerkleLog.open({ dir: join(dir, 'log'), origin, privateKey: key.privateKey });
  let anchor: LedgerPort | undefined;
  let anchorPublicKey: string | undefined;
  let outbox: AnchorOutbox | undefined;
  try {
    if (cfg.fabric) {
      // Fabric: the peers of several organisations hold the anchors (issue 7). The listener's
      // checkpoint and confirmed anchors live beside the log.
      const fabric = await openFabric(cfg.fabric, {
        log,
        verifierKey: key.verifierKey,
        logger,
        listenerDir: join(dir, 'fabric'),
        onEquivocation: (alarm) => logger.error({ alarm }, 'Fabric reports an equivocation of this log: two signed checkpoints disagree'),
      });
      anchor = fabric.ledger;
    } else {
      const embedded = await EmbeddedAnchor.open({ dir: join(dir, 'anchor') });
      anchor = embedded;
      anchorPublicKey = embedded.publicKeyBase64;
    }
    outbox = await AnchorOutbox.open({
      dir: join(dir, 'outbox'),
      port: anchor,
      minIntervalMs: cfg.anchorMinIntervalMs,
      onAlarm: (alarm) => logger.error({ alarm }, 'anchoring stopped: the ledger refused a checkpoint'),
    });
  } catch (err) {
    await anchor?.close().catch(() => undefined);
    await log.close().catch(() => undefined);
    throw err;
  }
  const ledger = anchor;
  const box = outbox;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;

  const checkpointNow = async (): Promise<SignedCheckpoint | undefined> => {
    if (log.size === 0) return undefined;
    const latest = log.latestCheckpoint();
    const cp = latest && latest.size === log.size ? latest : await log.checkpoint();
    // The anchor is the outside record: a log that no longer extends what was anchored (files
    // truncated or rewritten, then re-grown) must not get its new history anchored over it.
    // An unreachable ledger (Fabric down) does not stop checkpoints: they wait in the outbox,
    // and the ledger checks consistency with its latest anchor before anchoring them.
    let anchored: AnchorReceipt | undefined;
    try {
      anchored = await ledger.latest(log.origin);
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      logger.warn({ err: err.message }, 'the ledger cannot be reached: the checkpoint waits in the outbox');
    }
    if (anchored && anchored.size > 0) {
      const root = fromBase64Strict(anchored.rootHash);
      const ok =
        anchored.size <= cp.size && root !== undefined && verifyConsistency(anchored.size, cp.size, root, cp.rootHash, log.consistencyProof(anchored.size, cp.size)).ok;
      if (!ok) {
        logger.error({ anchoredSize: anchored.size, size: cp.size }, 'the log is not consistent with its last anchored checkpoint: anchoring stopped; run npm run audit-log');
        throw new Error(`the log (size ${cp.size}) is not consistent with the checkpoint anchored at size ${anchored.size}`);
      }
    }
    await box.enqueue({ origin: log.origin, size: cp.size, rootHash: cp.rootHash, note: cp.note, signedAt: cp.signedAt });
    return cp;
  };

  return {
    log,
    versions: new VersionLog(log),
    ledger,
    outbox: box,
    verifierKey: key.verifierKey,
    ...(anchorPublicKey ? { anchorPublicKey } : {}),
    checkpointNow,
    start(onTick) {
      box.start();
      timer = setInterval(() => {
        if (ticking) return;
        ticking = (async () => {
          try {
            await checkpointNow();
            await onTick?.();
          } catch (err) {
            logger.warn({ err }, 'periodic checkpoint failed; retrying at the next interval');
          } finally {
            ticking = undefined;
          }
        })();
      }, cfg.checkpointIntervalMs);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      await ticking;
      await box.close().catch(() => undefined);
      await ledger.close().catch(() => undefined);
      await log.close();
    },
  };
}
