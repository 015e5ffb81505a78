import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type Contract, type Gateway, type Network } from '@hyperledger/fabric-gateway';
import { ANCHOR_CONTRACT_NAME, GatewayAnchorContract } from './anchor-contract.js';
import type { FabricConfig } from './fabric-config.js';

/**
 * One gRPC connection to the gateway peer, shared by every call (fabric-gateway multiplexes
 * them), and the Gateway over it with this client's identity and signer. Each call kind has
 * its own deadline from the configuration, set per call so a retry gets a fresh one.
 */

export interface FabricConnection {
  readonly gateway: Gateway;
  readonly network: Network;
  /** The anchor contract of the configured chaincode. */
  readonly contract: Contract;
  readonly anchorContract: GatewayAnchorContract;
  /** Closes the gateway, then the gRPC client. Idempotent. */
  close(): void;
}

export type FabricEndpoint = Pick<FabricConfig, 'peerEndpoint' | 'peerHostAlias' | 'tls'>;

/** The gRPC client for the peer: TLS with the configured CA (and server name), or plaintext on loopback. */
export function newGrpcClient(config: FabricEndpoint): grpc.Client {
  const credentials = config.tls.enabled ? grpc.credentials.createSsl(config.tls.caPem) : grpc.credentials.createInsecure();
  const options: grpc.ClientOptions = {
    // A peer that vanished without closing the connection is noticed on the event stream. Peers
    // refuse pings more often than every 60 s by default (peer.keepalive.minInterval).
    'grpc.keepalive_time_ms': 120_000,
    'grpc.keepalive_timeout_ms': 20_000,
  };
  if (config.peerHostAlias) options['grpc.ssl_target_name_override'] = config.peerHostAlias;
  return new grpc.Client(config.peerEndpoint, credentials, options);
}

export interface ConnectFabricDeps {
  /** A gRPC client to use instead of a new one (closed with the connection all the same). */
  client?: grpc.Client;
  /** Milliseconds clock for deadlines. */
  now?: () => number;
}

export function connectFabric(config: FabricConfig, deps: ConnectFabricDeps = {}): FabricConnection {
  const client = deps.client ?? newGrpcClient(config);
  const now = deps.now ?? Date.now;
  const within = (ms: number) => (): grpc.CallOptions => ({ deadline: now() + ms });
  let gateway: Gateway;
  try {
    gateway = connect({
      client,
      identity: { mspId: config.mspId, credentials: config.certificatePem },
      signer: signers.newPrivateKeySigner(config.privateKey),
      // P-256 signs a digest; Ed25519 signs the message itself, so it must not be hashed first.
      hash: config.keyType === 'ed25519' ? hash.none : hash.sha256,
      evaluateOptions: within(config.timeouts.evaluateMs),
      endorseOptions: within(config.timeouts.endorseMs),
      submitOptions: within(config.timeouts.submitMs),
      commitStatusOptions: within(config.timeouts.commitStatusMs),
      // No chaincodeEventsOptions: a deadline on the event stream would end it; the listener
      // notices a dead peer through keepalive and reconnects.
    });
  } catch (err) {
    client.close();
    throw err;
  }
  const network = gateway.getNetwork(config.channel);
  const contract = network.getContract(config.chaincode, ANCHOR_CONTRACT_NAME);
  let closed = false;
  return {
    gateway,
    network,
    contract,
    anchorContract: new GatewayAnchorContract(contract),
    close() {
      if (closed) return;
      closed = true;
      gateway.close();
      client.close();
    },
  };
}
