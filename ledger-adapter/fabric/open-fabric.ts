import { AnchorListener, GatewayAnchorEventSource, type EquivocationAlarm } from './anchor-listener.js';
import { connectFabric, type ConnectFabricDeps, type FabricConnection } from './fabric-connection.js';
import type { FabricConfig } from './fabric-config.js';
import { FabricLedger, type ConsistencySource, type FabricLedgerLogger } from './fabric-ledger.js';

export interface OpenFabricOptions {
  /** The Merkle log (its consistency proofs). */
  log: ConsistencySource;
  /** The log's C2SP verifier key, registered with the chaincode. */
  verifierKey: string;
  logger?: FabricLedgerLogger;
  /** Where the event listener keeps its checkpoint and confirmed anchors; no listener without it. */
  listenerDir?: string;
  onEquivocation?: (alarm: EquivocationAlarm) => void;
  connection?: ConnectFabricDeps;
}

export interface OpenFabric {
  ledger: FabricLedger;
  listener?: AnchorListener;
  connection: FabricConnection;
}

/**
 * Wires the pieces for a server: the connection, the ledger (closing it closes the listener
 * and the connection) and, given a directory, the event listener, which tells the ledger the
 * blocks of anchors committed by other processes.
 */
export async function openFabric(config: FabricConfig, options: OpenFabricOptions): Promise<OpenFabric> {
  const connection = connectFabric(config, options.connection);
  let listener: AnchorListener | undefined;
  try {
    let ledger: FabricLedger | undefined;
    if (options.listenerDir !== undefined) {
      listener = await AnchorListener.open({
        dir: options.listenerDir,
        source: new GatewayAnchorEventSource(connection.network, config.chaincode),
        logger: options.logger,
        onAnchored: (a) => ledger?.rememberBlock(a.txId, a.blockNumber),
        onEquivocation: options.onEquivocation,
      });
    }
    ledger = await FabricLedger.open({
      contract: connection.anchorContract,
      network: { channel: config.channel, chaincode: config.chaincode, mspId: config.mspId },
      log: options.log,
      verifierKey: options.verifierKey,
      maxAttempts: config.maxAttempts,
      maxReruns: config.maxReruns,
      statusTimeoutMs: config.timeouts.evaluateMs,
      logger: options.logger,
      onClose: async () => {
        await listener?.close();
        connection.close();
      },
    });
    listener?.start();
    return { ledger, connection, ...(listener ? { listener } : {}) };
  } catch (err) {
    await listener?.close();
    connection.close();
    throw err;
  }
}
