import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LogClosedError, LogOverloadedError } from '../../ledger-adapter/src/log/errors.js';
import { MerkleLog, type LeafEntry } from '../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { verifyConsistency, verifyInclusion } from '../../ledger-adapter/src/merkle/proofs.js';

const ORIGIN = 'custodian.test/log';
const privateKey = generateKeyPairSync('ed25519').privateKey;
const root = mkdtempSync(join(tmpdir(), 'custodian-merkle-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `log-${++dirs}`);

function entry(key: string, record: unknown = { key }): LeafEntry {
  const salt = newSalt();
  return { key, salt, leafHash: leafHashOf(salt, record) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('MerkleLog: appends, reopen and proofs', () => {
  it('appends, reads back leaves and keys, and serves proofs that verify against root()', async () => {
    const dir = freshDir();
    const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey, clock: () => Date.UTC(2030, 0, 2) });
    assert.equal(log.size, 0);
    assert.equal(hex(log.root()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const entries = Array.from({ length: 37 }, (_, i) => entry(`Patient/${i % 5}`, { i }));
    const first = await log.append(entries.slice(0, 10));
    const rest = await log.append(entries.slice(10));
    assert.deepEqual([...first, ...rest], Array.from({ length: 37 }, (_, i) => i));
    assert.equal(log.size, 37);

    const mirror = new MemoryTree(entries.map((e) => e.leafHash));
    assert.equal(hex(log.root()), hex(mirror.root()));
    const stored = log.leaf(12)!;
    assert.equal(stored.key, 'Patient/2');
    assert.equal(hex(stored.leafHash), hex(entries[12].leafHash));
    assert.equal(hex(stored.salt), hex(entries[12].salt));
    assert.equal(stored.appendedAt, '2030-01-02T00:00:00.000Z');
    assert.equal(log.leaf(37), undefined);
    assert.deepEqual(log.leafIndicesOf('Patient/3'), [3, 8, 13, 18, 23, 28, 33]);
    assert.deepEqual(log.leafIndicesOf('Patient/9'), []);
    assert.deepEqual(log.leafIndicesOf('Patient/'), [], 'no prefix matches');
    const [k10] = await log.append([entry('Patient/30')]);
    assert.deepEqual(log.leafIndicesOf('Patient/3'), [3, 8, 13, 18, 23, 28, 33], 'Patient/30 is another key');
    assert.deepEqual(log.leafIndicesOf('Patient/30'), [k10]);

    for (let size = 1; size <= 37; size++) {
      const r = log.root(size);
      for (let i = 0; i < size; i++) {
        assert.deepEqual(verifyInclusion(entries[i].leafHash, i, size, log.inclusionProof(i, size), r), { ok: true }, `${i}@${size}`);
      }
      for (let m = 1; m <= size; m++) {
        assert.deepEqual(verifyConsistency(m, size, log.root(m), r, log.consistencyProof(m, size)), { ok: true }, `${m}→${size}`);
      }
    }
    assert.throws(() => log.root(39), RangeError);
    assert.throws(() => log.inclusionProof(0, 39), RangeError);
    await log.close();
  });

  it('reopens to the same tree and keeps appending where it stopped', async () => {
    const dir = freshDir();
    const entries = Array.from({ length: 23 }, (_, i) => entry(`k${i}`));
    let log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    await log.append(entries.slice(0, 13));
    const rootAt13 = log.root();
    await log.close();

    log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    assert.equal(log.size, 13);
    assert.equal(hex(log.root()), hex(rootAt13));
    await log.append(entries.slice(13));
    assert.equal(hex(log.root()), hex(new MemoryTree(entries.map((e) => e.leafHash)).root()));
    assert.equal(hex(log.root(13)), hex(rootAt13));
    await log.close();

    await assert.rejects(MerkleLog.open({ dir, origin: 'another.test/log', privateKey }), { code: 'LOG_CORRUPT' });
  });

  it('batches appends made while a write is in flight into the next single transaction, in call order', async () => {
    const log = await MerkleLog.open({ dir: freshDir(), origin: ORIGIN, privateKey });
    // Same turn: one transaction for all of them.
    const same = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append([entry(`a${i}`)])));
    assert.deepEqual(same, Array.from({ length: 50 }, (_, i) => [i]));
    assert.equal(log.stats().transactions, 1);

    // One append starts a transaction; 100 more arrive while it is being written.
    const firstWrite = log.append([entry('b0')]);
    await new Promise((r) => setImmediate(r));
    assert.equal(log.stats().pendingEntries, 0, 'the first write has taken its entry');
    const waiting = Array.from({ length: 100 }, (_, i) => log.append([entry(`c${i}`), entry(`c${i}'`)]));
    assert.equal(log.stats().pendingEntries, 200);
    assert.deepEqual(await firstWrite, [50]);
    const results = await Promise.all(waiting);
    assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => [51 + 2 * i, 52 + 2 * i]));
    assert.equal(log.stats().transactions, 3, 'one for the first append, one for all hundred that waited');
    assert.equal(log.leaf(51 + 2 * 7)?.key, 'c7');
    await log.close();
  });

  it('rejects with LogOverloadedError when too many entries wait, and recovers', async () => {
    const log = await MerkleLog.open({ dir: freshDir(), origin: ORIGIN, privateKey, maxPending: 10 });
    const inFlight = log.append([entry('x')]);
    await new Promise((r) => setImmediate(r));
    const accepted = log.append(Array.from({ length: 10 }, (_, i) => entry(`y${i}`)));
    await assert.rejects(log.append([entry('z')]), (err: unknown) => {
      assert.ok(err instanceof LogOverloadedError);
      assert.equal(err.code, 'LOG_OVERLOADED');
      assert.equal(err.limit, 10);
      return true;
    });
    await inFlight;
    assert.equal((await accepted).length, 10);
    assert.deepEqual(await log.append([entry('z')]), [11]);
    await log.close();
  });

  it('validates entries and refuses appends after close, but finishes those already made', async () => {
    const log = await MerkleLog.open({ dir: freshDir(), origin: ORIGIN, privateKey });
    await assert.rejects(log.append([{ key: 'k', leafHash: new Uint8Array(31), salt: newSalt() }]), TypeError);
    await assert.rejects(log.append([{ key: 'k', leafHash: new Uint8Array(32), salt: new Uint8Array(8) }]), TypeError);
    await assert.rejects(log.append([{ key: 7 as unknown as string, leafHash: new Uint8Array(32), salt: newSalt() }]), TypeError);
    assert.deepEqual(await log.append([]), []);
    const late = log.append([entry('last')]);
    const closing = log.close();
    await assert.rejects(log.append([entry('after')]), LogClosedError);
    assert.deepEqual(await late, [0]);
    await closing;
  });

  it('refuses bad options', async () => {
    await assert.rejects(MerkleLog.open({ dir: freshDir(), origin: '', privateKey }), TypeError);
    await assert.rejects(MerkleLog.open({ dir: freshDir(), origin: 'has space', privateKey }), TypeError, 'origin is not a key name and no keyName');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    await assert.rejects(MerkleLog.open({ dir: freshDir(), origin: ORIGIN, privateKey: rsa }), TypeError);
    const ok = await MerkleLog.open({ dir: freshDir(), origin: 'Custodian audit log', keyName: 'custodian.test/log', privateKey });
    assert.match(ok.verifierKey, /^custodian\.test\/log\+[0-9a-f]{8}\+/);
    await ok.close();
  });
});
