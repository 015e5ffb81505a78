import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { Metadata, status as grpcStatus, type Client } from '@grpc/grpc-js';
import { gateway as gatewayProtos } from '@hyperledger/fabric-protos';
import { connectFabric } from '../../ledger-adapter/fabric/fabric-connection.js';
import type { FabricConfig } from '../../ledger-adapter/fabric/fabric-config.js';

/**
 * connectFabric with a stand-in gRPC client that records each unary call and fails it: which
 * deadline each call kind gets, and that requests are signed the way the key type needs
 * (P-256 over a SHA-256 digest, Ed25519 over the message itself). No network.
 */

const NOW = 1_750_000_000_000;

function config(privateKey: KeyObject, keyType: FabricConfig['keyType']): FabricConfig {
  return {
    peerEndpoint: '127.0.0.1:7051',
    tls: { enabled: false },
    mspId: 'Org1MSP',
    certFile: 'cert.pem',
    certificatePem: Buffer.from('-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n'),
    keyFile: 'key.pem',
    privateKey,
    keyType,
    channel: 'custodian',
    chaincode: 'custodian-anchor',
    timeouts: { evaluateMs: 1000, endorseMs: 2000, submitMs: 3000, commitStatusMs: 4000 },
    maxAttempts: 5,
    maxReruns: 5,
  };
}

interface Call {
  method: string;
  deadline: unknown;
  request: unknown;
}

function recordingClient(): { client: Client; calls: Call[]; closed: () => number } {
  const calls: Call[] = [];
  let closes = 0;
  const fake = {
    makeUnaryRequest(method: string, _ser: unknown, _de: unknown, request: unknown, options: { deadline?: unknown }, callback: (err: Error) => void) {
      calls.push({ method, deadline: options.deadline, request });
      const err = Object.assign(new Error('14 UNAVAILABLE: recorded'), { code: grpcStatus.UNAVAILABLE, details: 'recorded', metadata: new Metadata() });
      queueMicrotask(() => callback(err));
      return {};
    },
    close() {
      closes++;
    },
  };
  return { client: fake as unknown as Client, calls, closed: () => closes };
}

function commitBytes(): Uint8Array {
  const request = new gatewayProtos.CommitStatusRequest();
  request.setChannelId('custodian');
  request.setTransactionId('f'.repeat(64));
  const signed = new gatewayProtos.SignedCommitStatusRequest();
  signed.setRequest(request.serializeBinary());
  return signed.serializeBinary();
}

describe('connectFabric', () => {
  it('gives each call kind its own deadline, fresh at each call', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { client, calls } = recordingClient();
    let now = NOW;
    const connection = connectFabric(config(privateKey, 'p256'), { client, now: () => now });
    assert.equal(connection.contract.getChaincodeName(), 'custodian-anchor');
    assert.equal(connection.contract.getContractName(), 'anchor');
    assert.equal(connection.network.getName(), 'custodian');
    assert.deepEqual(connection.gateway.getIdentity().mspId, 'Org1MSP');

    await assert.rejects(connection.contract.evaluate('GetLatest', { arguments: ['x'] }));
    now += 10;
    await assert.rejects(connection.contract.evaluate('GetLatest', { arguments: ['x'] }));
    await assert.rejects(connection.contract.newProposal('AnchorCheckpoint', { arguments: ['n', '0', '[]'] }).endorse(), (e: Error) => e.name === 'EndorseError');
    await assert.rejects(connection.gateway.newCommit(commitBytes()).getStatus(), (e: Error) => e.name === 'CommitStatusError');
    assert.deepEqual(
      calls.map((c) => [c.method, c.deadline]),
      [
        ['/gateway.Gateway/Evaluate', NOW + 1000],
        ['/gateway.Gateway/Evaluate', NOW + 10 + 1000],
        ['/gateway.Gateway/Endorse', NOW + 10 + 2000],
        ['/gateway.Gateway/CommitStatus', NOW + 10 + 4000],
      ],
    );
    connection.close();
  });

  it('signs a SHA-256 digest with a P-256 key and the whole message with an Ed25519 key', async () => {
    for (const keyType of ['p256', 'ed25519'] as const) {
      const { privateKey } = keyType === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      const { client, calls } = recordingClient();
      const connection = connectFabric(config(privateKey, keyType), { client });
      await assert.rejects(connection.contract.evaluate('GetLog', { arguments: ['x'] }));
      const signed = (calls[0].request as InstanceType<typeof gatewayProtos.EvaluateRequest>).getProposedTransaction()!;
      const message = signed.getProposalBytes_asU8();
      const signature = signed.getSignature_asU8();
      const publicKey = createPublicKey(privateKey);
      const ok = keyType === 'p256' ? verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signature) : verify(null, message, publicKey, signature);
      assert.equal(ok, true, `${keyType} signature verifies over the proposal`);
      connection.close();
    }
  });

  it('closes the gRPC client once, however often it is closed', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const { client, closed } = recordingClient();
    const connection = connectFabric(config(privateKey, 'ed25519'), { client });
    connection.close();
    connection.close();
    assert.equal(closed(), 1);
  });
});
