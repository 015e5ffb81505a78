import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Contract, type Context } from 'fabric-contract-api';
import { AnchorContract } from '../../ledger-adapter/chaincode/src/anchor-contract.js';
import { runTransaction, transactionNames } from '../support/fabric/run-transaction.js';
import { SimulatedStub } from '../support/fabric/simulated-stub.js';
import { WorldState } from '../support/fabric/world-state.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function stubOn(state: WorldState, over: Partial<ConstructorParameters<typeof SimulatedStub>[0]> = {}): SimulatedStub {
  return new SimulatedStub({
    state,
    txId: 'tx-1',
    timestamp: new Date('2025-03-04T05:06:07.089Z'),
    channel: 'custodian',
    mspId: 'Org1MSP',
    fcn: 'Probe',
    args: [],
    ...over,
  });
}

function stateWith(entries: Record<string, string>, blockNum = 1): WorldState {
  const state = new WorldState();
  state.apply(new Map(Object.entries(entries).map(([k, v]) => [k, bytes(v)])), { blockNum, txNum: 0 });
  return state;
}

describe('WorldState', () => {
  it('keeps values with the version that wrote them; null deletes', () => {
    const state = stateWith({ a: '1', b: '2' });
    state.apply(new Map<string, Uint8Array | null>([['a', bytes('3')], ['b', null]]), { blockNum: 2, txNum: 4 });
    assert.deepEqual(state.get('a'), { value: bytes('3'), version: { blockNum: 2, txNum: 4 } });
    assert.equal(state.get('b'), undefined);
    assert.deepEqual(state.range('', ''), [{ key: 'a', value: bytes('3'), version: { blockNum: 2, txNum: 4 } }]);
  });

  it('ranges over [start, end) in UTF-8 byte order and leaves composite keys out', () => {
    // UTF-16 order would put U+10000 (a surrogate pair, 0xD800…) before U+FFFD; LevelDB's byte order does not.
    const state = stateWith({ 'k/\u{10000}': 'astral', 'k/\uFFFD': 'bmp', 'k/a': 'a', 'k/b': 'b', 'l': 'l', '\u0000k\u0000x\u0000': 'composite' });
    assert.deepEqual(state.range('k/', 'l').map((r) => r.key), ['k/a', 'k/b', 'k/\uFFFD', 'k/\u{10000}']);
    assert.deepEqual(state.range('k/b', '').map((r) => r.key), ['k/b', 'k/\uFFFD', 'k/\u{10000}', 'l']);
    assert.deepEqual(state.range('', 'k/b').map((r) => r.key), ['k/a']);
  });

  it('names the keys of a read set that a later commit made stale', () => {
    const state = stateWith({ a: '1', b: '2' });
    const reads = new Map([['a', { blockNum: 1, txNum: 0 }], ['b', { blockNum: 1, txNum: 0 }], ['c', null]]);
    assert.deepEqual(state.staleKeys(reads), []);
    state.apply(new Map([['b', bytes('x')], ['c', bytes('y')]]), { blockNum: 2, txNum: 0 });
    assert.deepEqual(state.staleKeys(reads), ['b', 'c']);
  });

  it('hands out copies: callers cannot change the committed state', () => {
    const state = stateWith({ a: '1' });
    (state.get('a') as { value: Uint8Array }).value[0] = 0x39;
    assert.equal(text((state.get('a') as { value: Uint8Array }).value), '1');
  });
});

describe('SimulatedStub', () => {
  it('reads committed state only, recording each read version (absent = null), and never writes the state', async () => {
    const state = stateWith({ a: '1' });
    const stub = stubOn(state);
    assert.equal(text(await stub.getState('a')), '1');
    const absent = await stub.getState('nope');
    assert.ok(absent instanceof Uint8Array);
    assert.equal(absent.length, 0, 'Fabric answers an absent key with an empty value');
    await stub.putState('a', bytes('2'));
    await stub.putState('new', bytes('n'));
    await stub.deleteState('gone');
    assert.equal(text(await stub.getState('a')), '1', 'GetState does not see the transaction\'s own writes');
    assert.equal((await stub.getState('new')).length, 0);
    assert.equal(text((state.get('a') as { value: Uint8Array }).value), '1');
    assert.equal(state.get('new'), undefined);
    const { reads, writes } = stub.result();
    assert.deepEqual(reads, new Map([['a', { blockNum: 1, txNum: 0 }], ['nope', null], ['new', null]]));
    assert.deepEqual(writes, new Map<string, Uint8Array | null>([['a', bytes('2')], ['new', bytes('n')], ['gone', null]]));
  });

  it('treats an empty value as a delete and refuses an empty key', async () => {
    const stub = stubOn(new WorldState());
    await stub.putState('k', new Uint8Array(0));
    assert.equal(stub.result().writes.get('k'), null);
    await assert.rejects(stub.putState('', bytes('x')), /empty/);
    await assert.rejects(stub.getState(''), /empty/);
  });

  it('keeps only the last event of the transaction', () => {
    const stub = stubOn(new WorldState());
    assert.equal(stub.result().event, undefined);
    stub.setEvent('First', bytes('1'));
    stub.setEvent('Second', bytes('2'));
    assert.deepEqual(stub.result().event, { name: 'Second', payload: bytes('2') });
    assert.throws(() => stub.setEvent('', bytes('x')));
  });

  it('iterates a range like fabric-shim (async iterable, or a promise of an iterator) and records what it read', async () => {
    const state = stateWith({ 'r/1': 'a', 'r/2': 'b', 'r/3': 'c', s: 'd' });
    const stub = stubOn(state, { chaincodeName: 'anchorcc' });
    const seen: string[] = [];
    for await (const kv of stub.getStateByRange('r/', 'r0')) {
      assert.equal(kv.namespace, 'anchorcc');
      seen.push(`${kv.key}=${text(kv.value)}`);
    }
    assert.deepEqual(seen, ['r/1=a', 'r/2=b', 'r/3=c']);
    for await (const kv of stub.getStateByRange('r/2', '')) {
      assert.equal(kv.key, 'r/2');
      break;
    }
    const iterator = await stub.getStateByRange('s', '');
    assert.equal((await iterator.next()).value.key, 's');
    assert.equal((await iterator.next()).done, true);
    await iterator.close();
    const v = { blockNum: 1, txNum: 0 };
    assert.deepEqual(stub.result().rangeQueries, [
      { startKey: 'r/', endKey: 'r0', reads: ['r/1', 'r/2', 'r/3'].map((key) => ({ key, version: v })), exhausted: true },
      { startKey: 'r/2', endKey: '', reads: [{ key: 'r/2', version: v }], exhausted: false },
      { startKey: 's', endKey: '', reads: [{ key: 's', version: v }], exhausted: true },
    ]);
    assert.equal(stub.result().reads.size, 0, 'range reads are not point reads');
  });

  it('refuses a composite key as a range bound', async () => {
    const stub = stubOn(new WorldState());
    await assert.rejects(async () => {
      for await (const kv of stub.getStateByRange('\u0000k', '')) assert.fail(`yielded ${kv.key}`);
    }, /null character/);
  });

  it('reports the transaction: id, channel, args, creator, timestamp as { seconds: Long, nanos }', () => {
    const stub = stubOn(new WorldState(), { fcn: 'anchor:GetLog', args: ['o'], creatorId: bytes('cert') });
    assert.equal(stub.getTxID(), 'tx-1');
    assert.equal(stub.getChannelID(), 'custodian');
    assert.deepEqual(stub.getArgs(), ['anchor:GetLog', 'o']);
    assert.deepEqual(stub.getFunctionAndParameters(), { fcn: 'anchor:GetLog', params: ['o'] });
    assert.deepEqual(stub.getCreator(), { mspid: 'Org1MSP', idBytes: bytes('cert') });
    const ts = stub.getTxTimestamp();
    assert.equal(String(ts.seconds), String(Date.UTC(2025, 2, 4, 5, 6, 7) / 1000));
    assert.equal(ts.nanos, 89_000_000);
    assert.equal(stub.getDateTimestamp().toISOString(), '2025-03-04T05:06:07.089Z');
  });
});

/** A contract that records what the runtime calls, to check the runner does what fabric-shim does. */
class ProbeContract extends Contract {
  readonly calls: string[] = [];

  constructor() {
    super('probe');
  }

  override async beforeTransaction(ctx: Context): Promise<void> {
    this.calls.push(`before:${ctx.stub.getTxID()}`);
  }

  override async afterTransaction(_ctx: Context, result: unknown): Promise<void> {
    this.calls.push(`after:${String(result)}`);
  }

  async Echo(ctx: Context, value: string): Promise<string> {
    this.calls.push('Echo');
    return `${value}|${ctx.clientIdentity.getMSPID()}|${ctx.clientIdentity.getID()}`;
  }

  async Count(): Promise<number> {
    return 42;
  }

  async Shape(): Promise<object> {
    return { b: 1, a: [true] };
  }

  async Fail(): Promise<string> {
    throw new Error('[FORBIDDEN] not you');
  }

  async _helper(): Promise<string> {
    this.calls.push('_helper');
    return 'leaked';
  }
}

describe('runTransaction', () => {
  const run = (contract: Contract, fcn: string, args: string[] = [], identity?: { getMSPID(): string; getID(): string }) =>
    runTransaction(contract, stubOn(new WorldState(), { fcn, args }), fcn, args, identity);

  it('exposes the own public methods of the contract, as the runtime does without decorators', () => {
    assert.deepEqual(transactionNames(new ProbeContract()).sort(), ['Count', 'Echo', 'Fail', 'Shape']);
    assert.deepEqual(transactionNames(new AnchorContract()).sort(), ['AnchorCheckpoint', 'GetAnchor', 'GetLatest', 'GetLog', 'GetRange', 'RegisterLog']);
  });

  it('calls beforeTransaction, the function and afterTransaction, and returns the string as UTF-8', async () => {
    const c = new ProbeContract();
    const r = await run(c, 'Echo', ['héllo']);
    assert.equal(r.status, 200);
    assert.equal(text(r.payload), 'héllo|Org1MSP|x509::CN=client,O=Org1MSP::CN=ca,O=Org1MSP');
    assert.deepEqual(c.calls, ['before:tx-1', 'Echo', `after:${text(r.payload)}`]);
    const custom = await run(c, 'Echo', ['x'], { getMSPID: () => 'Org9MSP', getID: () => 'x509::CN=nine' });
    assert.equal(text(custom.payload), 'x|Org9MSP|x509::CN=nine');
  });

  it('accepts the contract name as a prefix and refuses another contract', async () => {
    const c = new ProbeContract();
    assert.equal((await run(c, 'probe:Count')).status, 200);
    const other = await run(c, 'anchor:Count');
    assert.equal(other.status, 500);
    assert.match(other.message, /Contract name is not known: anchor/);
  });

  it('serialises numbers as text and objects as JSON, like the default serializer', async () => {
    const c = new ProbeContract();
    assert.equal(text((await run(c, 'Count')).payload), '42');
    assert.equal(text((await run(c, 'Shape')).payload), '{"b":1,"a":[true]}');
  });

  it('turns a thrown error into status 500 with its message', async () => {
    const r = await run(new ProbeContract(), 'Fail');
    assert.deepEqual(r, { status: 500, payload: new Uint8Array(0), message: '[FORBIDDEN] not you' });
  });

  it('refuses unknown functions, underscore helpers and the base class hooks without calling them', async () => {
    const c = new ProbeContract();
    for (const fcn of ['Nope', '_helper', 'probe:_helper', 'beforeTransaction', 'createContext', 'constructor']) {
      const r = await run(c, fcn);
      assert.equal(r.status, 500, fcn);
      assert.match(r.message, /does not exist/, fcn);
    }
    assert.deepEqual(c.calls, [], 'nothing ran, not even beforeTransaction');
  });

  it('refuses a call with the wrong number of arguments before running anything', async () => {
    const c = new ProbeContract();
    const r = await run(c, 'Echo', ['a', 'b']);
    assert.equal(r.status, 500);
    assert.equal(r.message, 'Expected 1 parameters, but 2 have been supplied');
    assert.deepEqual(c.calls, []);
  });
});
