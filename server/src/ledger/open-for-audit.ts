import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ANCHOR_KEY_FILE } from '../../../ledger-adapter/src/anchor/anchor-key.js';
import { ANCHOR_CHAIN_FILE, EmbeddedAnchor } from '../../../ledger-adapter/src/anchor/embedded-anchor.js';
import { AnchorChainCorruptError } from '../../../ledger-adapter/src/anchor/ledger-port.js';
import { verifierKeyOf } from '../../../ledger-adapter/src/checkpoint/note.js';
import { logKeyFile } from '../../../ledger-adapter/src/checkpoint/log-key.js';
import { MerkleLog } from '../../../ledger-adapter/src/log/merkle-log.js';
import { LOG_FILE, openLogEnv } from '../../../ledger-adapter/src/log/schema.js';
import type { Config } from '../config/config.js';
import { PROFILES_DIR, openStore } from '../dependencies.js';
import { loadDefinitions } from '../fhir/definitions.js';
import type { ResourceStore } from '../store/resource-store.js';
import { runFullAudit, type AuditFinding, type FullAuditDeps, type FullAuditOptions, type FullAuditReport } from './full-audit.js';

/**
 * Opens a data directory for the full audit, reading only: the store, the Merkle log
 * (DATA_DIR/ledger/log, with the key in ledger/keys) and the embedded anchor chain
 * (ledger/anchor). Unlike openDependencies it appends nothing, signs nothing and anchors
 * nothing: no recovery of unlogged versions (the audit reports them), no relabelling or
 * reindexing, no conformance resources, no periodic checkpoints, no outbox. A chain that does
 * not verify is not refused as the server refuses it: the audit reports its problems and
 * audits the rest.
 */

/** DATA_DIR is not a data directory of this server: a configuration error (CLI exit 2). */
export class AuditSetupError extends Error {}

export interface AuditDependencies extends FullAuditDeps {
  close(): Promise<void>;
}

export async function openForAudit(config: Config): Promise<AuditDependencies> {
  const ledgerDir = join(config.dataDir, 'ledger');
  const logDir = join(ledgerDir, 'log');
  if (!existsSync(join(logDir, LOG_FILE))) {
    throw new AuditSetupError(`no Merkle log in ${logDir}: DATA_DIR is not a data directory of this server, or the server never ran on it`);
  }
  if (config.storage.engine === 'embedded' && !existsSync(join(config.dataDir, 'store'))) {
    throw new AuditSetupError(`no store in ${join(config.dataDir, 'store')}: DATA_DIR is not a data directory of this server`);
  }
  const defs = loadDefinitions(PROFILES_DIR);
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const store = await openEngineStore(config);
    closers.push(() => store.close());

    // The log's own origin (its key is named after it), whatever the configuration says now.
    const env = openLogEnv(logDir);
    const origin = env.meta.get('origin');
    await env.root.close();
    if (typeof origin !== 'string') throw new Error(`the log in ${logDir} records no origin`);
    const keyFile = logKeyFile(join(ledgerDir, 'keys'), origin);
    const pem = await readFile(keyFile, 'utf8').catch((err: Error) => {
      throw new Error(`the log key ${keyFile} cannot be read: ${err.message}`);
    });
    const privateKey = createPrivateKey({ key: pem, format: 'pem' });
    // The key index in memory: the audit never writes to a log directory the server may be using.
    const log = await MerkleLog.open({ dir: logDir, origin, privateKey, keyIndex: 'memory' });
    closers.push(() => log.close());

    const openFindings: AuditFinding[] = [];
    const anchorDir = join(ledgerDir, 'anchor');
    const chainFile = join(anchorDir, ANCHOR_CHAIN_FILE);
    const anchorKeyFile = join(anchorDir, ANCHOR_KEY_FILE);
    let anchor: EmbeddedAnchor | undefined;
    let anchorChain: FullAuditDeps['anchorChain'];
    if (!existsSync(anchorKeyFile) || !existsSync(chainFile)) {
      if (log.size > 0) {
        openFindings.push({ kind: 'anchor-chain', detail: `no anchor ${existsSync(anchorKeyFile) ? 'chain' : 'key'} in ${anchorDir}: the log cannot be checked against an anchored checkpoint` });
      }
    } else {
      try {
        anchor = await EmbeddedAnchor.open({ dir: anchorDir });
        const opened = anchor;
        closers.push(() => opened.close());
      } catch (err) {
        if (!(err instanceof AnchorChainCorruptError)) throw err;
        openFindings.push({ kind: 'anchor-chain', detail: 'the anchor chain does not verify, so the log was not checked against an anchored checkpoint (problems below)' });
      }
      const publicKey = anchor?.publicKeyPem ?? (createPublicKey(createPrivateKey({ key: await readFile(anchorKeyFile, 'utf8'), format: 'pem' })).export({ format: 'pem', type: 'spki' }) as string);
      anchorChain = { file: chainFile, publicKey };
    }
    return {
      store,
      defs,
      ledger: { log, ...(anchor ? { ledger: anchor } : {}), verifierKey: verifierKeyOf(origin, createPublicKey(privateKey)) },
      ...(anchorChain ? { anchorChain } : {}),
      openFindings,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function openEngineStore(config: Config): Promise<ResourceStore> {
  const quiet = { info: () => undefined, warn: () => undefined };
  const store = await openStore(config, quiet);
  await store.init();
  return store;
}

/**
 * Opens, audits and closes. A ledger that does not even open (a log whose stored size or
 * checkpoints disagree with its leaves, a missing log key) is reported as an `unreadable`
 * finding; AuditSetupError (not a data directory) is thrown.
 */
export async function auditDataDir(config: Config, opts: FullAuditOptions = {}): Promise<FullAuditReport> {
  let deps: AuditDependencies;
  try {
    deps = await openForAudit(config);
  } catch (err) {
    if (err instanceof AuditSetupError) throw err;
    return {
      ok: false,
      checkedVersions: 0,
      checkedLeaves: 0,
      anchoredSize: 0,
      anchoredCheckpoints: 0,
      logSize: 0,
      origin: '',
      findings: [{ kind: 'unreadable', detail: `the ledger does not open: ${(err as Error).message}` }],
    };
  }
  try {
    return await runFullAudit(deps, opts);
  } finally {
    await deps.close();
  }
}
