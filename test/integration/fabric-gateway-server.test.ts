import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import {
  checkpointers,
  CommitError,
  CommitStatusError,
  EndorseError,
  GatewayError,
  signers,
  StatusCode,
  type ChaincodeEvent,
  type ChaincodeEventsOptions,
  type CloseableAsyncIterable,
  type Contract,
  type Gateway,
} from '@hyperledger/fabric-gateway';
import { common, gateway as gatewayProtos, msp, peer } from '@hyperledger/fabric-protos';
import { AnchorContract } from '../../ledger-adapter/chaincode/src/index.js';
import { formatCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';
import { toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { leafHash } from '../../ledger-adapter/src/merkle/hash.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { consistencyProof } from '../../ledger-adapter/src/merkle/proofs.js';
import { connectTestClient, type TestClient, type TestClientOptions } from '../support/fabric-gateway/client.js';
import { fixtureIdentity, fixtureMsps } from '../support/fabric-gateway/fixtures.js';
import { decodeTxReadWriteSet, encodeTxReadWriteSet } from '../support/fabric-gateway/rwset.js';
import { startGatewayServer, type GatewayServer, type GatewayServerOptions } from '../support/fabric-gateway/server.js';

const CHANNEL = 'custodian';
const CHAINCODE = 'custodian-anchor';
const org1 = fixtureIdentity('org1-user1');
const org2 = fixtureIdentity('org2-user1');

function start(options: Partial<GatewayServerOptions> = {}): Promise<GatewayServer> {
  return startGatewayServer({ channel: CHANNEL, chaincodeName: CHAINCODE, contract: () => new AnchorContract(), msps: fixtureMsps(), ...options });
}

/** A Merkle log with its Ed25519 key, producing real signed checkpoints and consistency proofs. */
class TestLog {
  readonly tree = new MemoryTree();
  readonly #key: KeyObject;

  constructor(readonly origin: string) {
    this.#key = generateKeyPairSync('ed25519').privateKey;
  }

  get verifierKey(): string {
    return verifierKeyOf(this.origin, this.#key);
  }

  /** Grows the tree to `size` leaves and signs a checkpoint of it. */
  checkpoint(size: number): string {
    while (this.tree.size < size) this.tree.append(leafHash(Buffer.from(`${this.origin}#${this.tree.size}`)));
    return signNote(formatCheckpoint({ origin: this.origin, size, rootHash: this.tree.root() }), this.origin, this.#key);
  }

  proof(from: number, to: number): string {
    return JSON.stringify(from === 0 ? [] : consistencyProof(this.tree, from, to).map(toBase64));
  }
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const json = (bytes: Uint8Array): Record<string, unknown> => JSON.parse(text(bytes)) as Record<string, unknown>;

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  assert.fail('expected the call to fail');
}

function detailMessages(err: unknown): string[] {
  assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
  return err.details.map((d) => d.message);
}

/** The next chaincode event, or a failure after `ms` (a stream must never hang a test). */
async function nextEvent(iterator: AsyncIterator<ChaincodeEvent>, ms = 2000): Promise<ChaincodeEvent> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const next = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no chaincode event within ${ms} ms`)), ms);
      }),
    ]);
    assert.equal(next.done, false, 'the event stream ended');
    return next.value as ChaincodeEvent;
  } finally {
    clearTimeout(timer);
  }
}

/** An unsigned commit-status request from Org1 for any tx id, as a client that never got a SubmittedTransaction builds one. */
function commitStatusRequest(txId: string): Uint8Array {
  const request = new gatewayProtos.CommitStatusRequest();
  request.setChannelId(CHANNEL);
  request.setTransactionId(txId);
  const creator = new msp.SerializedIdentity();
  creator.setMspid(org1.mspId);
  creator.setIdBytes(Buffer.from(org1.certPem));
  request.setIdentity(creator.serializeBinary());
  const signed = new gatewayProtos.SignedCommitStatusRequest();
  signed.setRequest(request.serializeBinary());
  return signed.serializeBinary();
}

/**
 * Anchors checkpoints of the given sizes one after the other, each its own transaction (and block),
 * registering the log first when it starts from nothing; returns the tx ids.
 */
async function anchorChain(contract: Contract, log: TestLog, sizes: number[], from = 0, register = from === 0): Promise<string[]> {
  const txIds: string[] = [];
  let previous = from;
  if (register) await contract.submitTransaction('RegisterLog', log.origin, log.verifierKey);
  for (const size of sizes) {
    const proposal = contract.newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(size), String(previous), log.proof(previous, size)] });
    const submitted = await (await proposal.endorse()).submit();
    const status = await submitted.getStatus();
    assert.equal(status.code, StatusCode.VALID);
    txIds.push(submitted.getTransactionId());
    previous = size;
  }
  return txIds;
}

describe('fabric gateway simulation: evaluate, endorse, submit, commit status', () => {
  let server: GatewayServer;
  let client: TestClient;
  let contract: Contract;
  before(async () => {
    server = await start();
    client = connectTestClient({ address: server.address, identity: org1 });
    contract = client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE, 'anchor');
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('endorses, orders and commits a transaction; its result, tx id and block come back to the client', async () => {
    const log = new TestLog('example.org/round-trip');
    const proposal = contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] });
    const txId = proposal.getTransactionId();
    const transaction = await proposal.endorse();
    // The client parses the prepared envelope itself: the chaincode's payload must be where it looks.
    const record = json(transaction.getResult());
    assert.equal(record.origin, log.origin);
    assert.equal(record.mspId, 'Org1MSP');
    const heightBefore = server.blocks.length;

    const submitted = await transaction.submit();
    const status = await submitted.getStatus();
    assert.equal(status.transactionId, txId);
    assert.equal(status.code, StatusCode.VALID);
    assert.equal(status.successful, true);
    assert.equal(status.blockNumber, BigInt(heightBefore));
    const block = server.blocks[heightBefore]!;
    assert.deepEqual(
      block.transactions.map((t) => [t.txId, t.validationCodeName]),
      [[txId, 'VALID']],
    );

    const stored = json(await contract.evaluateTransaction('GetLog', log.origin));
    assert.deepEqual(stored, record);
  });

  it('evaluates without writing: no block, no state change', async () => {
    const log = new TestLog('example.org/evaluate-only');
    const height = server.blocks.length;
    // Evaluating a write transaction returns its result but commits nothing.
    const result = json(await contract.evaluateTransaction('RegisterLog', log.origin, log.verifierKey));
    assert.equal(result.origin, log.origin);
    assert.equal(text(await contract.evaluateTransaction('GetLog', log.origin)), 'null');
    assert.equal(server.blocks.length, height);
  });

  it('commits the versions MVCC checks later: (block, tx) of the write', async () => {
    const log = new TestLog('example.org/versions');
    const submitted = await contract.submitAsync('RegisterLog', { arguments: [log.origin, log.verifierKey] });
    const status = await submitted.getStatus();
    const written = server.blocks[Number(status.blockNumber)]!;
    assert.equal(written.transactions.length, 1);
    const key = `log/${Buffer.from(log.origin).toString('hex')}`;
    assert.deepEqual(server.state.get(key)?.version, { blockNum: Number(status.blockNumber), txNum: 0 });
  });

  it('returns the chaincode error as an EndorseError whose details carry the chaincode message', async () => {
    const log = new TestLog('example.org/unregistered');
    const height = server.blocks.length;
    const err = await rejection(contract.newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(1), '0', '[]'] }).endorse());
    assert.ok(err instanceof EndorseError, String(err));
    assert.equal(err.code, grpcStatus.ABORTED);
    assert.match(err.message, /failed to endorse transaction, see attached details/);
    const [detail] = err.details;
    assert.match(detail!.message, /^chaincode response 500, \[UNKNOWN_LOG\]/);
    assert.equal(detail!.mspId, 'Org1MSP');
    assert.equal(detail!.address, server.address);

    const evaluated = await rejection(contract.evaluateTransaction('AnchorCheckpoint', log.checkpoint(1), '0', '[]'));
    assert.ok(evaluated instanceof GatewayError);
    assert.equal(evaluated.code, grpcStatus.UNKNOWN);
    assert.match(detailMessages(evaluated)[0]!, /\[UNKNOWN_LOG\]/);
    assert.equal(server.blocks.length, height);
  });

  it('refuses to endorse a transaction id the ledger already holds', async () => {
    const log = new TestLog('example.org/duplicate');
    const proposal = contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] });
    await (await (await proposal.endorse()).submit()).getStatus();
    const again = await rejection(proposal.endorse());
    assert.ok(again instanceof EndorseError);
    assert.match(again.details[0]!.message, new RegExp(`duplicate transaction found \\[${proposal.getTransactionId()}\\]`));
  });

  it('commits a resubmitted envelope as DUPLICATE_TXID and keeps the first status for the tx id', async () => {
    const log = new TestLog('example.org/resubmitted');
    const transaction = await contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }).endorse();
    const first = await (await transaction.submit()).getStatus();
    const second = await (await transaction.submit()).getStatus();
    assert.deepEqual([second.code, second.blockNumber], [StatusCode.VALID, first.blockNumber]);
    await server.ledger.settled();
    const occurrences = server.blocks.flatMap((b) => b.transactions.filter((t) => t.txId === transaction.getTransactionId()).map((t) => t.validationCodeName));
    assert.deepEqual(occurrences, ['VALID', 'DUPLICATE_TXID']);
  });

  it('routes like a gateway: unknown chaincode → FAILED_PRECONDITION, unknown channel → UNAVAILABLE', async () => {
    const otherChaincode = client.gateway.getNetwork(CHANNEL).getContract('not-installed');
    const noChaincode = await rejection(otherChaincode.evaluateTransaction('GetLog', 'x'));
    assert.ok(noChaincode instanceof GatewayError);
    assert.equal(noChaincode.code, grpcStatus.FAILED_PRECONDITION);
    assert.match(noChaincode.message, /no peers available to evaluate chaincode not-installed in channel custodian/);
    const endorseElsewhere = await rejection(otherChaincode.newProposal('GetLog', { arguments: ['x'] }).endorse());
    assert.ok(endorseElsewhere instanceof EndorseError);
    assert.equal(endorseElsewhere.code, grpcStatus.FAILED_PRECONDITION);

    const log = new TestLog('example.org/other-org');
    const org2Only = await rejection(contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey], endorsingOrganizations: ['Org2MSP'] }).endorse());
    assert.ok(org2Only instanceof EndorseError);
    assert.equal(org2Only.code, grpcStatus.UNAVAILABLE);
    assert.match(org2Only.message, /failed to find any endorsing peers for org\(s\): Org2MSP/);

    const otherChannel = client.gateway.getNetwork('no-such-channel').getContract(CHAINCODE);
    const noChannel = await rejection(otherChannel.evaluateTransaction('GetLog', 'x'));
    assert.ok(noChannel instanceof GatewayError);
    assert.equal(noChannel.code, grpcStatus.UNAVAILABLE);
    assert.match(noChannel.message, /channel \[no-such-channel\]/);
  });

  it('checks the transaction id is SHA-256(nonce ‖ creator)', async () => {
    const genuine = contract.newProposal('GetLog', { arguments: ['x'] });
    const proposed = gatewayProtos.ProposedTransaction.deserializeBinary(genuine.getBytes());
    const signed = proposed.getProposal()!;
    const proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
    const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
    const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    const forged = 'f'.repeat(64);
    channelHeader.setTxId(forged);
    header.setChannelHeader(channelHeader.serializeBinary());
    proposal.setHeader(header.serializeBinary());
    signed.setProposalBytes(proposal.serializeBinary());
    proposed.setTransactionId(forged);

    // The client signs the forged bytes with the genuine key: only the tx id check can catch it.
    const err = await rejection(client.gateway.newProposal(proposed.serializeBinary()).evaluate());
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, grpcStatus.FAILED_PRECONDITION);
    assert.match(detailMessages(err)[0]!, /incorrectly computed txid 'f{64}' -- expected '[0-9a-f]{64}'/);
  });
});

describe('fabric gateway simulation: identities and signatures', () => {
  let server: GatewayServer;
  const clients: TestClient[] = [];
  const contractFor = (options: Omit<TestClientOptions, 'address'>): Contract => {
    const client = connectTestClient({ address: server.address, ...options });
    clients.push(client);
    return client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE);
  };
  before(async () => {
    server = await start();
  });
  after(async () => {
    for (const client of clients) client.close();
    await server.close();
  });

  it('accepts a second organisation and reports its MSP to the chaincode', async () => {
    const log = new TestLog('example.org/org2');
    const record = json(await contractFor({ identity: org2 }).submitTransaction('RegisterLog', log.origin, log.verifierKey));
    assert.equal(record.mspId, 'Org2MSP');
  });

  it('refuses a proposal signed with a key that does not match the certificate', async () => {
    const contract = contractFor({ identity: org1, signingKeyPem: org2.keyPem });
    const height = server.blocks.length;
    const evaluated = await rejection(contract.evaluateTransaction('GetLog', 'x'));
    assert.ok(evaluated instanceof GatewayError);
    assert.equal(evaluated.code, grpcStatus.FAILED_PRECONDITION);
    assert.deepEqual(detailMessages(evaluated), ['error validating proposal: access denied: channel [custodian] creator org [Org1MSP]']);

    const log = new TestLog('example.org/bad-signature');
    const endorsed = await rejection(contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }).endorse());
    assert.ok(endorsed instanceof EndorseError);
    assert.equal(endorsed.code, grpcStatus.ABORTED);
    assert.deepEqual(detailMessages(endorsed), ['error validating proposal: access denied: channel [custodian] creator org [Org1MSP]']);
    assert.equal(server.blocks.length, height);
  });

  it('refuses an MSP the channel does not know', async () => {
    const contract = contractFor({ identity: { ...org1, mspId: 'Org3MSP' } });
    const err = await rejection(contract.evaluateTransaction('GetLog', 'x'));
    assert.ok(err instanceof GatewayError);
    assert.deepEqual(detailMessages(err), ['error validating proposal: access denied: channel [custodian] creator org unknown, creator is malformed']);
  });

  it('refuses a certificate that names Org1 but was not issued by its CA', async () => {
    const rogue = fixtureIdentity('rogue-user1');
    const err = await rejection(contractFor({ identity: rogue }).evaluateTransaction('GetLog', 'x'));
    assert.ok(err instanceof GatewayError);
    assert.deepEqual(detailMessages(err), ['error validating proposal: access denied: channel [custodian] creator org [Org1MSP]']);
  });

  it('lets the orderer refuse a transaction envelope the creator did not sign', async () => {
    const contract = contractFor({ identity: org1 });
    const client = clients.at(-1)!;
    const log = new TestLog('example.org/forged-envelope');
    const unsigned = await contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }).endorse();
    const wrongSigner = signers.newPrivateKeySigner(createPrivateKey(org2.keyPem));
    const forged = client.gateway.newSignedTransaction(unsigned.getBytes(), await wrongSigner(unsigned.getDigest()));
    const err = await rejection(forged.submit());
    assert.equal(err.name, 'SubmitError');
    assert.equal(err.code, grpcStatus.ABORTED);
    assert.match(err.message, /received unsuccessful response from orderer: FORBIDDEN/);
    await server.ledger.settled();
    assert.equal(server.ledger.status(unsigned.getTransactionId()), undefined);

    // The same endorsed transaction, signed by its creator, goes through.
    const status = await (await unsigned.submit()).getStatus();
    assert.equal(status.code, StatusCode.VALID);
  });

  it('invalidates a transaction whose endorsed write set was altered after endorsement', async () => {
    const contract = contractFor({ identity: org1 });
    const client = clients.at(-1)!;
    const log = new TestLog('example.org/tampered');
    const endorsed = await contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }).endorse();

    const prepared = gatewayProtos.PreparedTransaction.deserializeBinary(endorsed.getBytes());
    const envelope = prepared.getEnvelope()!;
    const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
    const transaction = peer.Transaction.deserializeBinary(payload.getData_asU8());
    const action = transaction.getActionsList()[0]!;
    const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
    const endorsedAction = actionPayload.getAction()!;
    const responsePayload = peer.ProposalResponsePayload.deserializeBinary(endorsedAction.getProposalResponsePayload_asU8());
    const chaincodeAction = peer.ChaincodeAction.deserializeBinary(responsePayload.getExtension_asU8());
    const rwset = decodeTxReadWriteSet(chaincodeAction.getResults_asU8(), CHAINCODE);
    assert.equal(rwset.writes.size, 1);
    const writes = new Map([...rwset.writes].map(([key, value]) => [key, Buffer.from(text(value!).replace('Org1MSP', 'Org2MSP'))]));
    chaincodeAction.setResults(encodeTxReadWriteSet(CHAINCODE, { ...rwset, writes }));
    responsePayload.setExtension$(chaincodeAction.serializeBinary());
    endorsedAction.setProposalResponsePayload(responsePayload.serializeBinary());
    actionPayload.setAction(endorsedAction);
    action.setPayload(actionPayload.serializeBinary());
    transaction.setActionsList([action]);
    payload.setData(transaction.serializeBinary());
    envelope.setPayload(payload.serializeBinary());
    prepared.setEnvelope(envelope);

    // The creator signs the altered envelope, so only the peer's endorsement signature can expose it.
    const status = await (await client.gateway.newTransaction(prepared.serializeBinary()).submit()).getStatus();
    assert.equal(status.code, StatusCode.ENDORSEMENT_POLICY_FAILURE);
    assert.equal(text(await contract.evaluateTransaction('GetLog', log.origin)), 'null');
  });

  it('answers commit status only to a channel member who signed the request', async () => {
    const contract = contractFor({ identity: org1 });
    const log = new TestLog('example.org/status-acl');
    const submitted = await contract.submitAsync('RegisterLog', { arguments: [log.origin, log.verifierKey] });
    const stranger = connectTestClient({ address: server.address, identity: fixtureIdentity('rogue-user1') });
    clients.push(stranger);
    const err = await rejection(stranger.gateway.newCommit(submitted.getBytes()).getStatus());
    assert.ok(err instanceof CommitStatusError, String(err));
    assert.equal(err.code, grpcStatus.PERMISSION_DENIED);
    assert.equal((await submitted.getStatus()).code, StatusCode.VALID);
  });
});

describe('fabric gateway simulation: MVCC', () => {
  let server: GatewayServer;
  let clientA: TestClient;
  let clientB: TestClient;
  before(async () => {
    // Submits within 150 ms share a block, which lets one test put two conflicting writers in one block.
    server = await start({ batchTimeoutMs: 150 });
    clientA = connectTestClient({ address: server.address, identity: org1 });
    clientB = connectTestClient({ address: server.address, identity: org1 });
  });
  after(async () => {
    clientA.close();
    clientB.close();
    await server.close();
  });

  const contractOf = (client: TestClient): Contract => client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE);

  it('invalidates the second of two transactions endorsed on the same state (another client committed in between)', async () => {
    const log = new TestLog('example.org/mvcc-sequential');
    await anchorChain(contractOf(clientA), log, [2]);
    const first = await contractOf(clientA).newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(3), '2', log.proof(2, 3)] }).endorse();
    const second = await contractOf(clientB).newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(4), '2', log.proof(2, 4)] }).endorse();
    assert.equal(json(second.getResult()).status, 'anchored', 'both endorsements succeeded on the same state');

    const firstStatus = await (await first.submit()).getStatus();
    const secondStatus = await (await second.submit()).getStatus();
    assert.equal(firstStatus.code, StatusCode.VALID);
    assert.equal(secondStatus.code, StatusCode.MVCC_READ_CONFLICT);
    assert.equal(secondStatus.successful, false);
    assert.ok(secondStatus.blockNumber > firstStatus.blockNumber);
    const latest = json(await contractOf(clientA).evaluateTransaction('GetLatest', log.origin));
    assert.equal(latest.size, 3);
    assert.equal(text(await contractOf(clientA).evaluateTransaction('GetAnchor', log.origin, '4')), 'null');
  });

  it('invalidates the later of two conflicting transactions inside one block', async () => {
    const log = new TestLog('example.org/mvcc-same-block');
    await anchorChain(contractOf(clientA), log, [1]);
    const a = await contractOf(clientA).newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(2), '1', log.proof(1, 2)] }).endorse();
    const b = await contractOf(clientB).newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(5), '1', log.proof(1, 5)] }).endorse();
    const [submittedA, submittedB] = await Promise.all([a.submit(), b.submit()]);
    const [statusA, statusB] = await Promise.all([submittedA.getStatus(), submittedB.getStatus()]);
    assert.equal(statusA.blockNumber, statusB.blockNumber, 'both were cut into one block');
    const block = server.blocks[Number(statusA.blockNumber)]!;
    const codes = new Map(block.transactions.map((t) => [t.txId, t.validationCodeName]));
    const [firstInBlock, secondInBlock] = block.transactions.map((t) => t.txId);
    assert.equal(codes.get(firstInBlock!), 'VALID');
    assert.equal(codes.get(secondInBlock!), 'MVCC_READ_CONFLICT');
  });

  it('invalidates a range read that a later commit changed (phantom read), but not past the last key it consumed', async () => {
    const log = new TestLog('example.org/phantom');
    await anchorChain(contractOf(clientA), log, [1, 2]);
    // GetRange submitted as a transaction records the range it read, as any chaincode range query does.
    const whole = await contractOf(clientB).newProposal('GetRange', { arguments: [log.origin, '1', '', '10'] }).endorse();
    const firstOnly = await contractOf(clientB).newProposal('GetRange', { arguments: [log.origin, '1', '', '1'] }).endorse();
    assert.equal((JSON.parse(text(whole.getResult())) as unknown[]).length, 2);
    await anchorChain(contractOf(clientA), log, [3], 2);

    const wholeStatus = await (await whole.submit()).getStatus();
    assert.equal(wholeStatus.code, StatusCode.PHANTOM_READ_CONFLICT);
    // It stopped after the first anchor: a key appearing after that one is no phantom for it.
    const firstOnlyStatus = await (await firstOnly.submit()).getStatus();
    assert.equal(firstOnlyStatus.code, StatusCode.VALID);
  });
});

describe('fabric gateway simulation: injected faults', () => {
  let server: GatewayServer;
  let client: TestClient;
  let contract: Contract;
  before(async () => {
    server = await start();
    client = connectTestClient({ address: server.address, identity: org1, deadlines: { submit: 300, commitStatus: 300 } });
    contract = client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE);
  });
  after(async () => {
    client.close();
    await server.close();
  });
  const register = (name: string) => {
    const log = new TestLog(`example.org/${name}`);
    return { log, proposal: contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }) };
  };

  it('fails the next endorsements with UNAVAILABLE, then endorses again', async () => {
    server.faults.failEndorsements(2);
    const { proposal } = register('endorse-unavailable');
    for (let i = 0; i < 2; i++) {
      const err = await rejection(proposal.endorse());
      assert.ok(err instanceof EndorseError);
      assert.equal(err.code, grpcStatus.UNAVAILABLE);
      assert.equal(err.transactionId, proposal.getTransactionId());
    }
    assert.equal((await (await (await proposal.endorse()).submit()).getStatus()).code, StatusCode.VALID);
  });

  it('fails the next evaluations with UNAVAILABLE', async () => {
    server.faults.failEvaluations(1);
    const err = await rejection(contract.evaluateTransaction('GetLog', 'x'));
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, grpcStatus.UNAVAILABLE);
    assert.equal(text(await contract.evaluateTransaction('GetLog', 'x')), 'null');
  });

  it('fails a submit with UNAVAILABLE without ordering it', async () => {
    server.faults.failSubmits(1);
    const { proposal } = register('submit-unavailable');
    const transaction = await proposal.endorse();
    const err = await rejection(transaction.submit());
    assert.equal(err.name, 'SubmitError');
    assert.equal(err.code, grpcStatus.UNAVAILABLE);
    await server.ledger.settled();
    assert.equal(server.ledger.status(transaction.getTransactionId()), undefined);
    assert.equal((await (await transaction.submit()).getStatus()).code, StatusCode.VALID);
  });

  it('hangs a submit past the deadline without ordering it', async () => {
    server.faults.hangSubmits(1);
    const { proposal } = register('submit-hang');
    const transaction = await proposal.endorse();
    const err = await rejection(transaction.submit());
    assert.equal(err.name, 'SubmitError');
    assert.equal(err.code, grpcStatus.DEADLINE_EXCEEDED);
    await server.ledger.settled();
    assert.equal(server.ledger.status(transaction.getTransactionId()), undefined);
  });

  it('hangs a submit past the deadline but still commits it; resubmitting the same envelope reports the first commit', async () => {
    server.faults.hangSubmits(1, { order: true });
    const { log, proposal } = register('submit-hang-committed');
    const transaction = await proposal.endorse();
    const err = await rejection(transaction.submit());
    assert.equal(err.name, 'SubmitError');
    assert.equal(err.code, grpcStatus.DEADLINE_EXCEEDED);
    const committed = server.ledger.status(transaction.getTransactionId());
    assert.equal(committed?.code, StatusCode.VALID, 'the ledger committed what the client saw fail');
    assert.notEqual(text(await contract.evaluateTransaction('GetLog', log.origin)), 'null');

    const status = await (await transaction.submit()).getStatus();
    assert.deepEqual([status.code, status.blockNumber], [StatusCode.VALID, BigInt(committed!.blockNumber)]);
  });

  it('fails the next commit-status calls with UNAVAILABLE; the transaction is unaffected', async () => {
    const { proposal } = register('status-unavailable');
    const submitted = await (await proposal.endorse()).submit();
    server.faults.failCommitStatus(1);
    const err = await rejection(submitted.getStatus());
    assert.ok(err instanceof CommitStatusError);
    assert.equal(err.code, grpcStatus.UNAVAILABLE);
    assert.equal(err.transactionId, submitted.getTransactionId());
    assert.equal((await submitted.getStatus()).code, StatusCode.VALID);
  });

  it('keeps a commit-status call for an unknown transaction waiting until the client deadline', async () => {
    const started = Date.now();
    const err = await rejection(client.gateway.newCommit(commitStatusRequest(randomBytes(32).toString('hex'))).getStatus());
    assert.ok(err instanceof CommitStatusError);
    assert.equal(err.code, grpcStatus.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started >= 250, 'the call waited for the deadline');
  });

  it('forces MVCC_READ_CONFLICT: CommitError, nothing written', async () => {
    server.faults.forceMvccConflicts(1);
    const log = new TestLog('example.org/forced-mvcc');
    const err = await rejection(contract.submitTransaction('RegisterLog', log.origin, log.verifierKey));
    assert.ok(err instanceof CommitError, String(err));
    assert.equal(err.code, StatusCode.MVCC_READ_CONFLICT);
    assert.equal(text(await contract.evaluateTransaction('GetLog', log.origin)), 'null');
  });

  it('forces a chosen validation code for the next commit only', async () => {
    server.faults.forceValidationCode('ENDORSEMENT_POLICY_FAILURE');
    const first = new TestLog('example.org/forced-policy');
    const err = await rejection(contract.submitTransaction('RegisterLog', first.origin, first.verifierKey));
    assert.ok(err instanceof CommitError);
    assert.equal(err.code, StatusCode.ENDORSEMENT_POLICY_FAILURE);
    const second = new TestLog('example.org/after-forced-policy');
    await contract.submitTransaction('RegisterLog', second.origin, second.verifierKey);
  });
});

describe('fabric gateway simulation: chaincode events', () => {
  let server: GatewayServer;
  let client: TestClient;
  let contract: Contract;
  let gw: Gateway;
  const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-events-'));
  const streams: Array<CloseableAsyncIterable<ChaincodeEvent>> = [];
  const events = async (options: ChaincodeEventsOptions = {}) => {
    const stream = await gw.getNetwork(CHANNEL).getChaincodeEvents(CHAINCODE, options);
    streams.push(stream);
    return stream;
  };
  before(async () => {
    server = await start({ batchTimeoutMs: 100 });
    client = connectTestClient({ address: server.address, identity: org1 });
    gw = client.gateway;
    contract = gw.getNetwork(CHANNEL).getContract(CHAINCODE);
  });
  after(async () => {
    for (const stream of streams) stream.close();
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams each valid transaction\'s event once, in block order, then keeps streaming new blocks', async () => {
    const log = new TestLog('example.org/events');
    const stream = await events({ startBlock: 0n });
    const iterator = stream[Symbol.asyncIterator]();
    const txIds = await anchorChain(contract, log, [1, 3]);

    // An invalidated transaction's event must not be delivered.
    server.faults.forceMvccConflicts(1);
    await rejection(contract.submitTransaction('AnchorCheckpoint', log.checkpoint(4), '3', log.proof(3, 4)));
    txIds.push(...(await anchorChain(contract, log, [6], 3)));

    const received: ChaincodeEvent[] = [];
    for (let i = 0; i < 3; i++) received.push(await nextEvent(iterator));
    assert.deepEqual(
      received.map((e) => [e.transactionId, e.eventName, e.chaincodeName]),
      txIds.map((id) => [id, 'Anchored', CHAINCODE]),
    );
    assert.deepEqual(
      received.map((e) => json(e.payload).size),
      [1, 3, 6],
    );
    const blocks = received.map((e) => e.blockNumber);
    assert.deepEqual(blocks, [...blocks].sort((a, b) => (a < b ? -1 : 1)));
    for (const event of received) {
      assert.equal(server.blocks[Number(event.blockNumber)]!.transactions.some((t) => t.txId === event.transactionId), true);
    }

    // Live: a block committed after the stream caught up.
    const [live] = await anchorChain(contract, log, [7], 6);
    assert.equal((await nextEvent(iterator)).transactionId, live);
  });

  it('starts at the next commit when no start block is given', async () => {
    const log = new TestLog('example.org/events-next-commit');
    await anchorChain(contract, log, [1]);
    const iterator = (await events())[Symbol.asyncIterator]();
    const [later] = await anchorChain(contract, log, [2], 1);
    assert.equal((await nextEvent(iterator)).transactionId, later);
  });

  it('resumes after a file checkpointer restart without duplicates, even inside one block', async () => {
    const a = new TestLog('example.org/resume-a');
    const b = new TestLog('example.org/resume-b');
    await contract.submitTransaction('RegisterLog', b.origin, b.verifierKey);
    const startBlock = BigInt(server.blocks.length);
    const [a1] = await anchorChain(contract, a, [1]);
    // Two anchors submitted together share a block, so a checkpoint can fall between them.
    const together = await Promise.all([
      contract.newProposal('AnchorCheckpoint', { arguments: [a.checkpoint(2), '1', a.proof(1, 2)] }).endorse(),
      contract.newProposal('AnchorCheckpoint', { arguments: [b.checkpoint(1), '0', '[]'] }).endorse(),
    ]);
    const statuses = await Promise.all((await Promise.all(together.map((t) => t.submit()))).map((s) => s.getStatus()));
    assert.equal(statuses[0]!.blockNumber, statuses[1]!.blockNumber, 'both anchors are in one block');
    const sharedBlock = server.blocks[Number(statuses[0]!.blockNumber)]!.transactions.map((t) => t.txId);
    const [a3] = await anchorChain(contract, a, [3], 2);
    const expected = [a1!, ...sharedBlock, a3!];

    const file = join(dir, 'events-checkpoint.json');
    const before = await checkpointers.file(file);
    const firstRun = await events({ startBlock, checkpoint: before });
    const firstIterator = firstRun[Symbol.asyncIterator]();
    const seen: string[] = [];
    for (let i = 0; i < 2; i++) {
      const event = await nextEvent(firstIterator);
      seen.push(event.transactionId);
      await before.checkpointChaincodeEvent(event);
    }
    firstRun.close();

    // A new process: the checkpoint comes back from the file alone.
    const after = await checkpointers.file(file);
    assert.equal(after.getTransactionId(), seen[1]);
    const secondIterator = (await events({ startBlock, checkpoint: after }))[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) seen.push((await nextEvent(secondIterator)).transactionId);
    assert.deepEqual(seen, expected);
  });
});

describe('fabric gateway simulation: the peer goes away and comes back', () => {
  let server: GatewayServer;
  let client: TestClient;
  let contract: Contract;
  before(async () => {
    server = await start();
    client = connectTestClient({ address: server.address, identity: org1, deadlines: { evaluate: 500, endorse: 500, commitStatus: 1000 } });
    contract = client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE);
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('fails calls while stopped, in-flight ones included, and serves the same ledger after restart', async () => {
    const log = new TestLog('example.org/restart');
    await anchorChain(contract, log, [1]);
    const height = server.blocks.length;

    const stream = await client.gateway.getNetwork(CHANNEL).getChaincodeEvents(CHAINCODE);
    const pending = rejection(stream[Symbol.asyncIterator]().next());
    // Let the stream reach the server before it goes away.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop();
    const streamErr = await pending;
    stream.close();
    assert.ok(streamErr instanceof GatewayError, String(streamErr));
    assert.equal(streamErr.code, grpcStatus.UNAVAILABLE);

    const whileDown = await rejection(contract.evaluateTransaction('GetLatest', log.origin));
    assert.ok(whileDown instanceof GatewayError);
    assert.equal(whileDown.code, grpcStatus.UNAVAILABLE);
    const endorseDown = await rejection(contract.newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(2), '1', log.proof(1, 2)] }).endorse());
    assert.ok(endorseDown instanceof EndorseError);
    assert.equal(endorseDown.code, grpcStatus.UNAVAILABLE);

    await server.restart();
    await client.ready();
    const latest = json(await contract.evaluateTransaction('GetLatest', log.origin));
    assert.equal(latest.size, 1);
    assert.equal(server.blocks.length, height);
    const status = await (await (await contract.newProposal('AnchorCheckpoint', { arguments: [log.checkpoint(2), '1', log.proof(1, 2)] }).endorse()).submit()).getStatus();
    assert.deepEqual([status.code, status.blockNumber], [StatusCode.VALID, BigInt(height)]);
  });

  it('fails a commit-status call that is waiting when the peer stops', async () => {
    const log = new TestLog('example.org/restart-status');
    server.faults.hangSubmits(1);
    const transaction = await contract.newProposal('RegisterLog', { arguments: [log.origin, log.verifierKey] }).endorse();
    await rejection(transaction.submit({ deadline: Date.now() + 100 }));
    // The transaction was never ordered, so its status call waits until the peer goes away.
    const waiting = rejection(client.gateway.newCommit(commitStatusRequest(transaction.getTransactionId())).getStatus());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop();
    const err = await waiting;
    assert.ok(err instanceof CommitStatusError);
    assert.equal(err.code, grpcStatus.UNAVAILABLE);
    await server.restart();
    await client.ready();
    assert.equal(text(await contract.evaluateTransaction('GetLog', log.origin)), 'null');
  });
});

describe('fabric gateway simulation: TLS', () => {
  let server: GatewayServer;
  const clients: TestClient[] = [];
  before(async () => {
    server = await start({ tls: true });
  });
  after(async () => {
    for (const client of clients) client.close();
    await server.close();
  });
  const contractWith = (tlsCaPem: string | undefined): Contract => {
    const client = connectTestClient({ address: server.address, identity: org1, ...(tlsCaPem === undefined ? {} : { tlsCaPem }), deadlines: { evaluate: 1000 } });
    clients.push(client);
    return client.gateway.getNetwork(CHANNEL).getContract(CHAINCODE);
  };

  it('serves a client that trusts the fixture TLS CA', async () => {
    assert.ok(server.tlsCaPem);
    const contract = contractWith(server.tlsCaPem);
    const log = new TestLog('example.org/tls');
    await contract.submitTransaction('RegisterLog', log.origin, log.verifierKey);
    assert.equal(json(await contract.evaluateTransaction('GetLog', log.origin)).origin, log.origin);
  });

  it('is unreachable for a client without the CA, and for a plaintext client', async () => {
    const untrusted = await rejection(contractWith(fixtureMsps().Org1MSP).evaluateTransaction('GetLog', 'x'));
    assert.ok(untrusted instanceof GatewayError);
    assert.equal(untrusted.code, grpcStatus.UNAVAILABLE);
    const plaintext = await rejection(contractWith(undefined).evaluateTransaction('GetLog', 'x'));
    assert.ok(plaintext instanceof GatewayError);
    assert.equal(plaintext.code, grpcStatus.UNAVAILABLE);
  });
});
