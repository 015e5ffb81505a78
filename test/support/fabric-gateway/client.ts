import { createPrivateKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type ConnectOptions, type Gateway } from '@hyperledger/fabric-gateway';
import type { FixtureIdentity } from './fixtures.js';

export interface TestClientOptions {
  address: string;
  identity: FixtureIdentity;
  /** Sign with this key instead of the identity's own (to exercise signature checks). */
  signingKeyPem?: string;
  /** Trust this CA and use TLS; absent: plaintext. */
  tlsCaPem?: string;
  /** Per-call deadlines in ms; short by default so that a test never waits long on a failure. */
  deadlines?: Partial<Record<'evaluate' | 'endorse' | 'submit' | 'commitStatus', number>>;
}

export interface TestClient {
  gateway: Gateway;
  grpcClient: grpc.Client;
  /** Resolves once the channel is connected: after a peer restart the channel first sits out its backoff. */
  ready(timeoutMs?: number): Promise<void>;
  close(): void;
}

const deadline = (ms: number) => () => ({ deadline: Date.now() + ms });

/**
 * A fabric-gateway client the way an application builds one (one gRPC client, an identity, a
 * P-256 signer over SHA-256), with reconnect backoff shortened: a restarted test peer comes back in
 * milliseconds and tests should not sit out grpc-js's default one-second backoff.
 */
export function connectTestClient(options: TestClientOptions): TestClient {
  const credentials = options.tlsCaPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(options.tlsCaPem));
  const grpcClient = new grpc.Client(options.address, credentials, {
    'grpc.initial_reconnect_backoff_ms': 50,
    'grpc.max_reconnect_backoff_ms': 200,
    // The certificate names localhost too; an IP as TLS server name draws a Node deprecation warning.
    ...(options.tlsCaPem === undefined ? {} : { 'grpc.ssl_target_name_override': 'localhost' }),
  });
  const d = { evaluate: 2000, endorse: 2000, submit: 2000, commitStatus: 2000, ...options.deadlines };
  const connectOptions: ConnectOptions = {
    client: grpcClient,
    identity: { mspId: options.identity.mspId, credentials: Buffer.from(options.identity.certPem) },
    signer: signers.newPrivateKeySigner(createPrivateKey(options.signingKeyPem ?? options.identity.keyPem)),
    hash: hash.sha256,
    evaluateOptions: deadline(d.evaluate),
    endorseOptions: deadline(d.endorse),
    submitOptions: deadline(d.submit),
    commitStatusOptions: deadline(d.commitStatus),
  };
  const gateway = connect(connectOptions);
  return {
    gateway,
    grpcClient,
    ready: (timeoutMs = 2000) =>
      new Promise((resolve, reject) => grpcClient.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()))),
    close() {
      gateway.close();
      grpcClient.close();
    },
  };
}
