/** The Hyperledger Fabric ledger adapter (issue 7): configuration, connection, typed chaincode calls, the LedgerPort, events, receipts. */
export { FABRIC_ENV_VARS, FabricConfigError, fabricConfigFromEnv, isLoopbackEndpoint, type FabricConfig, type FabricConfigDeps, type FabricEnvVar } from './fabric-config.js';
export { connectFabric, newGrpcClient, type ConnectFabricDeps, type FabricConnection, type FabricEndpoint } from './fabric-connection.js';
export {
  ANCHOR_CONTRACT_NAME,
  GatewayAnchorContract,
  statusName,
  type AnchorContract,
  type AnchorTransaction,
  type CommitOutcome,
} from './anchor-contract.js';
export {
  MalformedResponseError,
  type AnchorOutcome,
  type AnchorRecord,
  type EquivocationEvidence,
  type LogRegistration,
} from './anchor-records.js';
export { FabricLedger, type ConsistencySource, type FabricLedgerLogger, type FabricLedgerOptions } from './fabric-ledger.js';
export { FABRIC_PROOF_FORMAT, type FabricAnchorProof } from './fabric-receipt.js';
export { checkFabricReceipt, type FabricReceiptVerdict } from './verify-fabric-receipt.js';
export {
  ANCHORED_EVENT,
  AnchorListener,
  CONFIRMED_FILE,
  EQUIVOCATION_EVENT,
  EVENTS_CHECKPOINT_FILE,
  GatewayAnchorEventSource,
  type AnchorEventSource,
  type AnchorListenerOptions,
  type AnchorListenerStatus,
  type EquivocationAlarm,
} from './anchor-listener.js';
export type { ConfirmedAnchor } from './confirmed-anchors.js';
export { openFabric, type OpenFabric, type OpenFabricOptions } from './open-fabric.js';
