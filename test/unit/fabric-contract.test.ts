import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { StatusCode, type Contract, type ProposalOptions, type Status } from '@hyperledger/fabric-gateway';
import { GatewayAnchorContract } from '../../ledger-adapter/fabric/anchor-contract.js';
import { MalformedResponseError, type AnchorRecord } from '../../ledger-adapter/fabric/anchor-records.js';

/**
 * GatewayAnchorContract over a stand-in for fabric-gateway's Contract (no gRPC): what it sends
 * to the chaincode, how it parses every answer, and that the stages of one anchoring reuse
 * the same proposal and transaction objects (so retries resend the same signed bytes).
 */

const ORIGIN = 'custodian.test/log';
const root = (size: number) => createHash('sha256').update(String(size)).digest('base64');
const TX = 'a'.repeat(64);

function record(size: number, overrides: Partial<AnchorRecord> = {}): AnchorRecord {
  return {
    origin: ORIGIN,
    size,
    rootHash: root(size),
    note: `${ORIGIN}\n${size}\n${root(size)}\n\n\u2014 ${ORIGIN} AAAA\n`,
    sequence: 0,
    txId: TX,
    anchoredAt: '2025-06-01T00:00:00.000Z',
    mspId: 'Org1MSP',
    ...overrides,
  };
}

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

class FakeGatewayContract {
  readonly sent: { kind: string; name: string; args: string[] }[] = [];
  answers = new Map<string, Uint8Array>();
  readonly transactions: FakeTransaction[] = [];
  endorseResult: Uint8Array = bytes({ status: 'anchored', ...record(5) });
  status: Status = { blockNumber: 42n, code: StatusCode.VALID, successful: true, transactionId: TX };
  constructor(private readonly name = 'anchor') {}
  getContractName() {
    return this.name;
  }
  async evaluate(name: string, options: ProposalOptions) {
    this.sent.push({ kind: 'evaluate', name, args: options.arguments as string[] });
    return this.answers.get(name) ?? new Uint8Array();
  }
  async submit(name: string, options: ProposalOptions) {
    this.sent.push({ kind: 'submit', name, args: options.arguments as string[] });
    return this.answers.get(name) ?? new Uint8Array();
  }
  newProposal(name: string, options: ProposalOptions) {
    this.sent.push({ kind: 'propose', name, args: options.arguments as string[] });
    let endorsements = 0;
    return {
      getTransactionId: () => TX,
      endorse: async () => {
        endorsements++;
        const tx = new FakeTransaction(this, endorsements);
        this.transactions.push(tx);
        return tx;
      },
    };
  }
  asContract(): Contract {
    return this as unknown as Contract;
  }
}

class FakeTransaction {
  submissions = 0;
  statusChecks = 0;
  constructor(
    private readonly contract: FakeGatewayContract,
    readonly endorsement: number,
  ) {}
  getResult() {
    return this.contract.endorseResult;
  }
  async submit() {
    this.submissions++;
    return {
      getResult: () => this.contract.endorseResult,
      getStatus: async () => {
        this.statusChecks++;
        return this.contract.status;
      },
    };
  }
}

describe('GatewayAnchorContract', () => {
  it('only wraps the anchor contract', () => {
    assert.throws(() => new GatewayAnchorContract(new FakeGatewayContract('other').asContract()), /expected the 'anchor' contract/);
  });

  it('sends string arguments and parses the records it gets back', async () => {
    const fake = new FakeGatewayContract();
    const contract = new GatewayAnchorContract(fake.asContract());
    fake.answers.set('GetLatest', bytes(record(9)));
    fake.answers.set('GetAnchor', bytes(record(5)));
    fake.answers.set('GetRange', bytes([record(3), record(5)]));
    fake.answers.set('GetLog', bytes({ origin: ORIGIN, verifierKey: 'k', mspId: 'Org1MSP', registeredAt: '2025-06-01T00:00:00.000Z' }));
    fake.answers.set('RegisterLog', bytes({ origin: ORIGIN, verifierKey: 'k', mspId: 'Org1MSP', registeredAt: '2025-06-01T00:00:00.000Z' }));

    assert.deepEqual(await contract.getLatest(ORIGIN), record(9));
    assert.deepEqual(await contract.getAnchor(ORIGIN, 5), record(5));
    assert.deepEqual((await contract.getRange(ORIGIN, 3, undefined, 10)).map((r) => r.size), [3, 5]);
    assert.equal((await contract.getLog(ORIGIN))?.verifierKey, 'k');
    assert.equal((await contract.registerLog(ORIGIN, 'k')).mspId, 'Org1MSP');
    await contract.getRange(ORIGIN, 3, 8, 10);
    assert.deepEqual(fake.sent, [
      { kind: 'evaluate', name: 'GetLatest', args: [ORIGIN] },
      { kind: 'evaluate', name: 'GetAnchor', args: [ORIGIN, '5'] },
      { kind: 'evaluate', name: 'GetRange', args: [ORIGIN, '3', '', '10'] },
      { kind: 'evaluate', name: 'GetLog', args: [ORIGIN] },
      { kind: 'submit', name: 'RegisterLog', args: [ORIGIN, 'k'] },
      { kind: 'evaluate', name: 'GetRange', args: [ORIGIN, '3', '8', '10'] },
    ]);
  });

  it('reads null (or nothing) as absent', async () => {
    const fake = new FakeGatewayContract();
    const contract = new GatewayAnchorContract(fake.asContract());
    fake.answers.set('GetLatest', bytes('null'));
    assert.equal(await contract.getLatest(ORIGIN), undefined);
    fake.answers.delete('GetLatest');
    assert.equal(await contract.getLatest(ORIGIN), undefined);
    fake.answers.set('GetLog', bytes('null'));
    assert.equal(await contract.getLog(ORIGIN), undefined);
  });

  it('refuses answers that are not what the chaincode promises', async () => {
    const cases: [string, unknown, (c: GatewayAnchorContract) => Promise<unknown>][] = [
      ['not JSON', '{"origin"', (c) => c.getLatest(ORIGIN)],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), (c) => c.getLatest(ORIGIN)],
      ['an array for a record', [record(5)], (c) => c.getLatest(ORIGIN)],
      ['size as a string', { ...record(5), size: '5' }, (c) => c.getLatest(ORIGIN)],
      ['a fractional sequence', { ...record(5), sequence: 0.5 }, (c) => c.getLatest(ORIGIN)],
      ['a short root', { ...record(5), rootHash: 'AAAA' }, (c) => c.getLatest(ORIGIN)],
      ['a note for another size', { ...record(5), note: record(6).note }, (c) => c.getLatest(ORIGIN)],
      ['no date', { ...record(5), anchoredAt: 'yesterday' }, (c) => c.getLatest(ORIGIN)],
      ['a bad txId', { ...record(5), txId: 'a b' }, (c) => c.getLatest(ORIGIN)],
      ['another origin', record(5, { origin: 'x', note: `x\n5\n${root(5)}\n` }), (c) => c.getLatest(ORIGIN)],
      ['another size', record(6), (c) => c.getAnchor(ORIGIN, 5)],
      ['a range out of order', [record(5), record(3)], (c) => c.getRange(ORIGIN, 0, undefined, 10)],
      ['a range beyond its bounds', [record(9)], (c) => c.getRange(ORIGIN, 0, 8, 10)],
      ['a range over its limit', [record(3), record(5)], (c) => c.getRange(ORIGIN, 0, undefined, 1)],
    ];
    for (const [what, answer, call] of cases) {
      const fake = new FakeGatewayContract();
      for (const name of ['GetLatest', 'GetAnchor', 'GetRange']) fake.answers.set(name, answer instanceof Buffer ? answer : bytes(answer));
      await assert.rejects(call(new GatewayAnchorContract(fake.asContract())), MalformedResponseError, what);
    }
  });

  it('proposes AnchorCheckpoint with the note, the previous size and the proof as base64 JSON', async () => {
    const fake = new FakeGatewayContract();
    const contract = new GatewayAnchorContract(fake.asContract());
    const proof = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    const tx = contract.proposeAnchor(record(5).note, 3, proof);
    assert.equal(tx.txId, TX);
    assert.deepEqual(fake.sent, [
      { kind: 'propose', name: 'AnchorCheckpoint', args: [record(5).note, '3', JSON.stringify([Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 2).toString('base64')])] },
    ]);
  });

  it('runs the stages on the same transaction: endorse, submit again, status again', async () => {
    const fake = new FakeGatewayContract();
    const contract = new GatewayAnchorContract(fake.asContract());
    const tx = contract.proposeAnchor(record(5).note, 0, []);
    await assert.rejects(tx.submit(), /submit before endorse/);
    assert.deepEqual(await tx.endorse(), { status: 'anchored', record: record(5) });
    await assert.rejects(tx.status(), /status before submit/);
    await tx.submit();
    await tx.submit();
    assert.equal(fake.transactions.length, 1, 'endorsed once');
    assert.equal(fake.transactions[0].submissions, 2, 'the same endorsed transaction submitted twice');
    assert.deepEqual(await tx.status(), { blockNumber: 42, code: 0, codeName: 'VALID', successful: true });
    fake.status = { blockNumber: 43n, code: StatusCode.MVCC_READ_CONFLICT, successful: false, transactionId: TX };
    assert.deepEqual(await tx.status(), { blockNumber: 43, code: 11, codeName: 'MVCC_READ_CONFLICT', successful: false });
  });

  it('parses an equivocation result and refuses an unknown status', async () => {
    const fake = new FakeGatewayContract();
    const contract = new GatewayAnchorContract(fake.asContract());
    const evidence = {
      origin: ORIGIN,
      size: 5,
      anchoredRoot: root(5),
      anchoredNote: record(5).note,
      anchoredTxId: TX,
      offeredRoot: root(6),
      offeredNote: 'forged',
      reportedTxId: 'b'.repeat(64),
      reportedAt: '2025-06-02T00:00:00.000Z',
      mspId: 'Org1MSP',
    };
    fake.endorseResult = bytes({ status: 'equivocation', ...evidence });
    assert.deepEqual(await contract.proposeAnchor('n', 0, []).endorse(), { status: 'equivocation', evidence });
    fake.endorseResult = bytes({ status: 'equivocation', ...evidence, offeredRoot: root(5) });
    await assert.rejects(contract.proposeAnchor('n', 0, []).endorse(), /the two roots are the same/);
    fake.endorseResult = bytes({ status: 'pending', ...record(5) });
    await assert.rejects(contract.proposeAnchor('n', 0, []).endorse(), MalformedResponseError);
  });
});
