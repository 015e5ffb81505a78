import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { gateway } from '@hyperledger/fabric-protos';
import type { Contract } from 'fabric-contract-api';
import { WorldState } from '../fabric/world-state.js';
import { contractSimulator } from './contract-simulator.js';
import { GatewayFaults } from './faults.js';
import { GatewayStatusError } from './grpc-errors.js';
import { fixtureIdentity, fixtureTls } from './fixtures.js';
import { SimulatedLedger, type Block } from './ledger.js';
import { MspRegistry } from './msp.js';
import { peerIdentity } from './peer-identity.js';
import { GatewayService } from './service.js';
import type { ChaincodeSimulator } from './simulator.js';

export interface GatewayServerOptions {
  channel: string;
  chaincodeName: string;
  /** Root CA certificate (PEM) per MSP id of the channel. */
  msps: Readonly<Record<string, string>>;
  /** A new instance of the chaincode's contract, run through the shared ChaincodeStub double. */
  contract?: () => Contract;
  /** Instead of `contract`: any other way of running a chaincode on the state. */
  simulator?: (state: WorldState) => ChaincodeSimulator;
  /** The world state the chaincode runs on and commits to (default: empty); it survives stop()/restart(). */
  state?: WorldState;
  tls?: boolean;
  /** 0 or absent: any free port. */
  port?: number;
  /** The endorsing peer's identity; defaults to the fixture peer0 of Org1MSP. */
  peer?: { mspId: string; certPem: string; keyPem: string };
  chaincodeVersion?: string;
  /** MSPs one endorsement from which satisfies the policy; default: every channel MSP. */
  endorsementPolicyMsps?: readonly string[];
  batchTimeoutMs?: number;
  maxMessageCount?: number;
}

export interface GatewayServer {
  /** host:port to dial; with TLS the certificate is valid for 127.0.0.1 and localhost. */
  readonly address: string;
  readonly tlsCaPem: string | undefined;
  readonly faults: GatewayFaults;
  readonly state: WorldState;
  readonly blocks: readonly Block[];
  readonly ledger: SimulatedLedger;
  /** The peer went away: the port closes and calls in flight fail UNAVAILABLE. Ordering carries on. */
  stop(): Promise<void>;
  /** The peer came back on the same port with the same ledger. */
  restart(): Promise<void>;
  /** stop() and discard the ledger. */
  close(): Promise<void>;
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const state = options.state ?? new WorldState();
  let simulate: ChaincodeSimulator;
  if (options.simulator !== undefined) simulate = options.simulator(state);
  else if (options.contract !== undefined) simulate = contractSimulator(state, options.contract, options.chaincodeName);
  else throw new Error('startGatewayServer needs a contract (or a simulator) to run');
  const msps = new MspRegistry(options.msps);
  const peerFixture = options.peer ?? fixtureIdentity('org1-peer0');
  if (!msps.has(peerFixture.mspId)) throw new Error(`the peer's MSP ${peerFixture.mspId} is not a channel MSP`);
  const peer = peerIdentity(peerFixture.mspId, peerFixture.certPem, peerFixture.keyPem);
  const faults = new GatewayFaults();
  const ledger = new SimulatedLedger({
    state,
    channelId: options.channel,
    chaincodeName: options.chaincodeName,
    msps,
    faults,
    endorsementPolicyMsps: options.endorsementPolicyMsps ?? msps.mspIds,
    batchTimeoutMs: options.batchTimeoutMs ?? 0,
    maxMessageCount: options.maxMessageCount ?? 10,
  });
  const tls = options.tls === true ? fixtureTls() : undefined;
  const credentials =
    tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }], false);

  let address = '';
  const service = new GatewayService({
    channelId: options.channel,
    chaincodeName: options.chaincodeName,
    chaincodeVersion: options.chaincodeVersion ?? '1.0',
    msps,
    peer,
    ledger,
    simulate,
    faults,
    address: () => address,
  });

  const listen = async (port: number): Promise<{ server: Server; port: number }> => {
    const server = new Server();
    server.addService(gateway.GatewayService, service.implementation());
    // A port just released by forceShutdown can take a moment to be bindable again.
    for (let attempt = 0; ; attempt++) {
      try {
        return { server, port: await bind(server, `127.0.0.1:${port}`, credentials) };
      } catch (err) {
        if (port === 0 || attempt >= 20) throw err;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };

  let current: Server | undefined;
  const first = await listen(options.port ?? 0);
  current = first.server;
  const port = first.port;
  address = `127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    const server = current;
    if (server === undefined) return;
    current = undefined;
    service.failInflight(new GatewayStatusError(status.UNAVAILABLE, 'the peer is shutting down'));
    // Graceful first, so the statuses just sent reach the clients; then whatever is left is cut.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 200);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };

  return {
    address,
    tlsCaPem: tls?.caPem,
    faults,
    state,
    blocks: ledger.blocks,
    ledger,
    stop,
    async restart() {
      if (current !== undefined) throw new Error('the gateway is running: stop() it first');
      current = (await listen(port)).server;
    },
    async close() {
      await stop();
      ledger.close();
    },
  };
}
