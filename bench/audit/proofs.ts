/**
 * Part 2 of `npm run bench -- audit`: RFC 9162 proofs on a large durable log.
 *
 * The log (a real MerkleLog in a temp dir) is built with fixed-size batches — each batch one
 * `append` awaited before the next, so one transaction and one fsync per batch — of salted leaf
 * hashes of small leaf records (leafHashOf: RFC 8785 JSON, 32-byte salt); the build rate is
 * reported. Then, over random indices and sizes (a fixed-seed PRNG), each timed on its own:
 *
 * - inclusionProof(index, size) generation, from the stored nodes (MerkleLog.inclusionProof);
 * - verifyInclusion(leafHash, index, size, proof, root) (ledger-adapter/src/merkle/proofs.ts);
 * - consistencyProof(size1, size) generation for a random 0 < size1 < size;
 * - verifyConsistency(size1, size, root1, root, proof).
 *
 * Every verification must succeed, or the run fails. Inputs a verifier is handed (leaf hash,
 * roots) are read before the timer starts.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MerkleLog, LeafEntry } from '../../ledger-adapter/src/log/merkle-log.js';
import { LOG_FILE } from '../../ledger-adapter/src/log/schema.js';
import { leafHashOf, SALT_SIZE } from '../../ledger-adapter/src/merkle/leaf.js';
import { verifyConsistency, verifyInclusion } from '../../ledger-adapter/src/merkle/proofs.js';
import { percentile } from '../fsync-rate.js';
import { withTempLog } from './appends.js';

export interface Timing {
  samples: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

export interface ProofFigures {
  leaves: number;
  batch: number;
  build: { seconds: number; leavesPerSecond: number; transactions: number; storeBytes?: number };
  /** Mean hashes per proof. */
  inclusionProofLength: number;
  consistencyProofLength: number;
  inclusionGenerate: Timing;
  inclusionVerify: Timing;
  consistencyGenerate: Timing;
  consistencyVerify: Timing;
}

/** xorshift32: reproducible sample positions. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

function timingOf(us: number[]): Timing {
  const sorted = Float64Array.from(us).sort();
  let sum = 0;
  for (const u of us) sum += u;
  return { samples: us.length, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99), meanUs: sum / us.length };
}

const nowUs = (): number => performance.now() * 1000;

async function build(log: MerkleLog, leaves: number, batch: number, progress: (msg: string) => void): Promise<ProofFigures['build']> {
  const tx0 = log.stats().transactions;
  const t0 = performance.now();
  let lastReport = t0;
  for (let start = 0; start < leaves; start += batch) {
    const n = Math.min(batch, leaves - start);
    const salts = randomBytes(n * SALT_SIZE);
    const entries: LeafEntry[] = new Array(n);
    for (let j = 0; j < n; j++) {
      const i = start + j;
      const key = `AuditEvent/bench-${i}/_history/1`;
      const salt = salts.subarray(j * SALT_SIZE, (j + 1) * SALT_SIZE);
      entries[j] = { key, salt, leafHash: leafHashOf(salt, { format: 'custodian-leaf/v1', key, lastUpdated: '2026-01-01T00:00:00.000Z', deleted: false, n: i }) };
    }
    await log.append(entries);
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      const done = start + n;
      progress(`  ${done.toLocaleString('en-US')} / ${leaves.toLocaleString('en-US')} leaves (${Math.round(done / ((now - t0) / 1000)).toLocaleString('en-US')}/s)`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  if (log.size !== leaves) throw new Error(`proof log: built ${log.size} leaves, expected ${leaves}`);
  return { seconds, leavesPerSecond: leaves / seconds, transactions: log.stats().transactions - tx0 };
}

export async function proofBench(
  parent: string,
  opts: { leaves: number; batch: number; samples: number; warmup: number },
  progress: (msg: string) => void,
): Promise<ProofFigures> {
  return withTempLog(parent, async (log, dir) => {
    progress(`building a ${opts.leaves.toLocaleString('en-US')}-leaf log in ${opts.batch}-leaf batches ...`);
    const built = await build(log, opts.leaves, opts.batch, progress);
    try {
      built.storeBytes = statSync(join(dir, LOG_FILE)).size;
    } catch {
      // the size is only shown
    }
    progress(`  built in ${built.seconds.toFixed(1)} s (${Math.round(built.leavesPerSecond).toLocaleString('en-US')} leaves/s, ${built.transactions} transactions)`);
    const size = log.size;
    const root = log.root(size);
    const rnd = prng(0x5eed);
    const incGen: number[] = [];
    const incVer: number[] = [];
    const conGen: number[] = [];
    const conVer: number[] = [];
    let incLen = 0;
    let conLen = 0;
    const total = opts.warmup + opts.samples;
    for (let s = 0; s < total; s++) {
      const measured = s >= opts.warmup;
      // Inclusion of a random leaf in the whole tree.
      const index = Math.floor(rnd() * size);
      const leafHash = (log.leaf(index) as { leafHash: Uint8Array }).leafHash;
      let t = nowUs();
      const proof = log.inclusionProof(index, size);
      const g = nowUs() - t;
      t = nowUs();
      const v = verifyInclusion(leafHash, index, size, proof, root);
      const vt = nowUs() - t;
      if (!v.ok) throw new Error(`verifyInclusion failed for index ${index} of ${size}: ${v.reason}`);
      // Consistency of a random earlier size with the whole tree.
      const size1 = 1 + Math.floor(rnd() * (size - 1));
      const root1 = log.root(size1);
      t = nowUs();
      const cproof = log.consistencyProof(size1, size);
      const cg = nowUs() - t;
      t = nowUs();
      const cv = verifyConsistency(size1, size, root1, root, cproof);
      const cvt = nowUs() - t;
      if (!cv.ok) throw new Error(`verifyConsistency failed for ${size1} -> ${size}: ${cv.reason}`);
      if (measured) {
        incGen.push(g);
        incVer.push(vt);
        conGen.push(cg);
        conVer.push(cvt);
        incLen += proof.length;
        conLen += cproof.length;
      }
    }
    return {
      leaves: size,
      batch: opts.batch,
      build: built,
      inclusionProofLength: incLen / opts.samples,
      consistencyProofLength: conLen / opts.samples,
      inclusionGenerate: timingOf(incGen),
      inclusionVerify: timingOf(incVer),
      consistencyGenerate: timingOf(conGen),
      consistencyVerify: timingOf(conVer),
    };
  });
}
