import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { loadOrCreateLogKey } from '../../ledger-adapter/src/checkpoint/log-key.js';
import { MerkleLog } from '../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { verifyConsistency, verifyInclusion } from '../../ledger-adapter/src/merkle/proofs.js';
import { killAfterAcks } from '../helpers/kill-after-acks.js';

/**
 * Crash safety: a child process appends (8 concurrent writers) and signs checkpoints, printing
 * every index whose append resolved; it is killed with SIGKILL mid-stream. Reopened, the log
 * must hold every acknowledged leaf, and everything must re-verify from scratch: each leaf's
 * hash recomputed from its salt and record, the root rebuilt from all leaf hashes, every stored
 * complete-subtree node, inclusion proofs, and consistency from the latest signed checkpoint.
 * Twice over the same directory, so the second run appends to a log that survived a crash.
 */
const CHILD_ENV = 'CUSTODIAN_MERKLE_CRASH_CHILD';
const ORIGIN = 'custodian.test/crash';
const recordOf = (key: string) => ({ resourceType: 'AuditEvent', id: key });

if (process.env[CHILD_ENV]) {
  await runChild(process.env[CHILD_ENV]);
} else {
  describe('MerkleLog: crash (SIGKILL during appends)', () => {
    const root = mkdtempSync(join(tmpdir(), 'custodian-merkle-crash-'));
    after(() => rmSync(root, { recursive: true, force: true }));

    it('reopens to the last committed transaction, holding every acknowledged leaf, and re-verifies', async () => {
      const dir = join(root, 'log');
      let checkedSize = 0;
      for (const round of [1, 2]) {
        const acked = await runAndKill(dir, round, 300);
        assert.ok(acked.size >= 300, `child acknowledged ${acked.size} appends`);
        const key = await loadOrCreateLogKey(join(dir, 'keys'), ORIGIN);
        const log = await MerkleLog.open({ dir: join(dir, 'data'), origin: ORIGIN, privateKey: key.privateKey });
        try {
          assert.ok(log.size >= checkedSize, 'the log never shrinks');
          for (const [index, k] of acked) assert.equal(log.leaf(index)?.key, k, `acknowledged leaf ${index}`);
          fullyVerify(log, key.verifierKey);
          checkedSize = log.size;
          // The survivor takes new appends and signs on top of what was signed before the kill.
          await log.append([{ key: `after-${round}`, salt: newSalt(), leafHash: leafHashOf(newSalt(), {}) }]);
          const cp = await log.checkpoint();
          assert.equal(cp.size, log.size);
        } finally {
          await log.close();
        }
      }
    });
  });
}

function fullyVerify(log: MerkleLog, verifierKey: string): void {
  const tree = new MemoryTree();
  const roots = [tree.root()];
  for (let i = 0; i < log.size; i++) {
    const leaf = log.leaf(i);
    assert.ok(leaf, `leaf ${i} exists`);
    if (!leaf.key.startsWith('after-')) {
      assert.equal(Buffer.from(leafHashOf(leaf.salt, recordOf(leaf.key))).toString('hex'), Buffer.from(leaf.leafHash).toString('hex'), `leaf ${i} hash`);
    }
    tree.append(leaf.leafHash);
    roots.push(tree.root());
  }
  assert.equal(log.leaf(log.size), undefined);
  // The root at every size, from the stored nodes, equals the root rebuilt from the leaves.
  for (let size = 0; size <= log.size; size++) {
    assert.equal(Buffer.from(log.root(size)).toString('hex'), Buffer.from(roots[size]).toString('hex'), `root at ${size}`);
  }
  for (let i = 0; i < log.size; i++) {
    assert.deepEqual(verifyInclusion(tree.node(0, i), i, log.size, log.inclusionProof(i, log.size), log.root()), { ok: true });
  }
  const cp = log.latestCheckpoint();
  if (cp && cp.size > 0) {
    const opened = openCheckpoint(cp.note, verifierKey);
    assert.ok(opened.ok);
    assert.deepEqual(verifyConsistency(cp.size, log.size, opened.value.rootHash, log.root(), log.consistencyProof(cp.size, log.size)), { ok: true });
  }
}

/** Runs the child until it has acknowledged at least `atLeast` appends, then SIGKILLs it. */
async function runAndKill(dir: string, round: number, atLeast: number): Promise<Map<number, string>> {
  const acked = new Map<number, string>();
  const onLine = (line: string): void => {
    const [tag, index, key] = line.split(' ');
    if (tag === 'ack') acked.set(Number(index), key as string);
  };
  await killAfterAcks(fileURLToPath(import.meta.url), { [CHILD_ENV]: dir, CRASH_ROUND: String(round) }, onLine, () => acked.size, atLeast);
  return acked;
}

async function runChild(dir: string): Promise<void> {
  const round = process.env.CRASH_ROUND ?? '0';
  const key = await loadOrCreateLogKey(join(dir, 'keys'), ORIGIN);
  const log = await MerkleLog.open({ dir: join(dir, 'data'), origin: ORIGIN, privateKey: key.privateKey });
  let n = 0;
  const writer = async (w: number) => {
    for (;;) {
      const batch = Array.from({ length: 1 + ((n + w) % 4) }, () => {
        const k = `r${round}-w${w}-${n++}`;
        const salt = newSalt();
        return { key: k, salt, leafHash: leafHashOf(salt, recordOf(k)) };
      });
      const indices = await log.append(batch);
      process.stdout.write(indices.map((i, j) => `ack ${i} ${batch[j].key}\n`).join(''));
      if (n % 50 < 4) await log.checkpoint();
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
}
