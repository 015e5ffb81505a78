import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { CheckpointConsistencyError } from '../../ledger-adapter/src/log/errors.js';
import { MerkleLog, type LeafEntry } from '../../ledger-adapter/src/log/merkle-log.js';
import { openLogEnv } from '../../ledger-adapter/src/log/schema.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { verifyConsistency } from '../../ledger-adapter/src/merkle/proofs.js';

const ORIGIN = 'custodian.test/log';
const privateKey = generateKeyPairSync('ed25519').privateKey;
const root = mkdtempSync(join(tmpdir(), 'custodian-merkle-cp-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `log-${++dirs}`);
const entries = (n: number, tag = 'k'): LeafEntry[] =>
  Array.from({ length: n }, (_, i) => {
    const salt = newSalt();
    return { key: `${tag}${i}`, salt, leafHash: leafHashOf(salt, { tag, i }) };
  });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Rewrites stored data behind the log's back (the log must be closed). */
async function tamper(dir: string, change: (env: ReturnType<typeof openLogEnv>) => void): Promise<void> {
  const env = openLogEnv(dir);
  await env.root.childTransaction(() => change(env));
  await env.root.close();
}

describe('MerkleLog: signed checkpoints', () => {
  it('signs C2SP checkpoints that only grow, each consistent with the one before, and keeps them', async () => {
    const dir = freshDir();
    let now = Date.UTC(2030, 5, 1);
    const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey, clock: () => now });
    assert.equal(log.latestCheckpoint(), undefined);

    const empty = await log.checkpoint();
    assert.equal(empty.size, 0);
    assert.equal(empty.note.split('\n').slice(0, 3).join('\n'), `${ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`);

    const signed = [empty];
    for (const n of [1, 6, 1, 25]) {
      await log.append(entries(n));
      now += 1000;
      signed.push(await log.checkpoint());
    }
    assert.deepEqual(signed.map((c) => c.size), [0, 1, 7, 8, 33]);
    assert.equal(signed[4].signedAt, '2030-06-01T00:00:04.000Z');
    for (const c of signed) {
      const opened = openCheckpoint(c.note, log.verifierKey);
      assert.ok(opened.ok, c.note);
      assert.equal(opened.value.origin, ORIGIN);
      assert.equal(opened.value.size, c.size);
      assert.equal(hex(opened.value.rootHash), hex(c.rootHash));
      assert.equal(hex(c.rootHash), hex(log.root(c.size)));
      assert.deepEqual(log.checkpointAt(c.size), c);
    }
    for (let i = 2; i < signed.length; i++) {
      const [a, b] = [signed[i - 1], signed[i]];
      assert.deepEqual(verifyConsistency(a.size, b.size, a.rootHash, b.rootHash, log.consistencyProof(a.size, b.size)), { ok: true });
    }

    // No growth: the latest comes back as it is, nothing new is signed.
    now += 1000;
    assert.deepEqual(await log.checkpoint(), signed[4]);
    // Concurrent calls are serialised: one signature for the new size.
    await log.append(entries(3, 'z'));
    const [x, y] = await Promise.all([log.checkpoint(), log.checkpoint()]);
    assert.equal(x.size, 36);
    assert.deepEqual(x, y);
    await log.close();

    const reopened = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    assert.deepEqual(reopened.latestCheckpoint(), x);
    assert.deepEqual(reopened.checkpointAt(7), signed[2]);
    assert.equal(reopened.checkpointAt(9), undefined);
    await reopened.close();
  });

  it('refuses to sign a tree that does not extend the latest signed checkpoint', async () => {
    // Log A signs a checkpoint at size 3; log B holds three different leaves and is handed
    // A's checkpoint as its latest (a restore from the wrong backup, a forked history).
    const dirA = freshDir();
    const a = await MerkleLog.open({ dir: dirA, origin: ORIGIN, privateKey });
    await a.append(entries(3, 'a'));
    const cpA = await a.checkpoint();
    await a.close();

    const dirB = freshDir();
    const b = await MerkleLog.open({ dir: dirB, origin: ORIGIN, privateKey });
    await b.append(entries(3, 'b'));
    await b.close();
    await tamper(dirB, (env) => {
      env.checkpoints.put(3, { rootHash: Buffer.from(cpA.rootHash), note: cpA.note, signedAt: cpA.signedAt });
      env.meta.put('latestCheckpoint', 3);
    });

    const forked = await MerkleLog.open({ dir: dirB, origin: ORIGIN, privateKey });
    await forked.append(entries(2, 'more'));
    await assert.rejects(forked.checkpoint(), (err: unknown) => {
      assert.ok(err instanceof CheckpointConsistencyError, String(err));
      assert.equal(err.code, 'CHECKPOINT_INCONSISTENT');
      assert.equal(err.signedSize, 3);
      assert.equal(err.newSize, 5);
      return true;
    });
    assert.equal(forked.latestCheckpoint()?.size, 3, 'nothing new was signed');
    assert.equal(forked.checkpointAt(5), undefined, 'nothing new was stored');
    // A later call refuses again (the chain of calls survives a refusal).
    await assert.rejects(forked.checkpoint(), CheckpointConsistencyError);
    await forked.close();
  });

  it('refuses when a stored node under the signed tree was altered', async () => {
    const dir = freshDir();
    const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    await log.append(entries(3));
    await log.checkpoint();
    await log.append(entries(1, 'x'));
    await log.close();
    // Node (1, 0) = hash of leaves 0 and 1: part of the old root and of the proof 3 → 4.
    await tamper(dir, (env) => env.nodes.put([1, 0], Buffer.alloc(32, 0xab)));
    const reopened = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    await assert.rejects(reopened.checkpoint(), CheckpointConsistencyError);
    await reopened.close();
  });

  it('will not open a log that holds fewer leaves than its latest checkpoint', async () => {
    const dir = freshDir();
    const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    await log.append(entries(2));
    const cp = await log.checkpoint();
    await log.close();
    await tamper(dir, (env) => {
      env.checkpoints.put(9, { rootHash: Buffer.from(cp.rootHash), note: cp.note, signedAt: cp.signedAt });
      env.meta.put('latestCheckpoint', 9);
    });
    await assert.rejects(MerkleLog.open({ dir, origin: ORIGIN, privateKey }), { code: 'LOG_CORRUPT' });
  });
});
