import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { frontierOf, frontierRoot } from '../../ledger-adapter/src/merkle/frontier.js';
import { EMPTY_ROOT, nodeHash } from '../../ledger-adapter/src/merkle/hash.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import {
  consistencyProof,
  inclusionProof,
  rootAt,
  verifyConsistency,
  verifyInclusion,
  type NodeReader,
} from '../../ledger-adapter/src/merkle/proofs.js';

/**
 * Properties of the proof functions over random trees, against a plain recursive MTH written
 * from RFC 9162 §2.1.1 (the reference), and fuzzing of the verifiers.
 */

/** MTH(D[n]) exactly as RFC 9162 §2.1.1 states it. */
function naiveRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
}

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const leavesArb = (min: number, max: number) => fc.array(hash32, { minLength: min, maxLength: max });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A tree plus a size n ≤ tree size to look at. */
const treeAndSize = leavesArb(1, 150).chain((leaves) => fc.record({ leaves: fc.constant(leaves), n: fc.integer({ min: 1, max: leaves.length }) }));

function flipByte(proof: Uint8Array[], which: number, at: number, xor: number): Uint8Array[] {
  return proof.map((p, i) => {
    if (i !== which) return p;
    const q = Uint8Array.from(p);
    q[at] ^= xor;
    return q;
  });
}

function countingReader(inner: NodeReader): NodeReader & { reads: number } {
  const r = { reads: 0, node: (level: number, index: number) => (r.reads++, inner.node(level, index)) };
  return r;
}

const log2ceil = (n: number) => Math.ceil(Math.log2(Math.max(n, 1)));

describe('merkle proofs (properties)', () => {
  it('rootAt equals the naive recursive MTH for every prefix size; the frontier root agrees', () => {
    fc.assert(
      fc.property(leavesArb(0, 130), (leaves) => {
        const tree = new MemoryTree(leaves);
        for (let n = 0; n <= leaves.length; n++) {
          assert.equal(hex(rootAt(tree, n)), hex(naiveRoot(leaves.slice(0, n))), `size ${n}`);
          assert.equal(hex(frontierRoot(frontierOf(tree, n))), hex(naiveRoot(leaves.slice(0, n))));
        }
        assert.equal(hex(tree.root()), hex(naiveRoot(leaves)));
      }),
      { numRuns: 60 },
    );
  });

  it('every inclusion proof verifies, reads O(log n) nodes, and any byte, index or leaf mutation fails', () => {
    fc.assert(
      fc.property(
        treeAndSize.chain(({ leaves, n }) =>
          fc.record({
            leaves: fc.constant(leaves),
            n: fc.constant(n),
            index: fc.integer({ min: 0, max: n - 1 }),
            otherIndex: fc.integer({ min: 0, max: 2 * n }),
            pick: fc.nat(),
            at: fc.integer({ min: 0, max: 31 }),
            xor: fc.integer({ min: 1, max: 255 }),
          }),
        ),
        ({ leaves, n, index, otherIndex, pick, at, xor }) => {
          const tree = new MemoryTree(leaves);
          const root = naiveRoot(leaves.slice(0, n));
          const reader = countingReader(tree);
          const proof = inclusionProof(reader, index, n);
          assert.ok(reader.reads <= 2 * log2ceil(n) + 1, `${reader.reads} reads for n=${n}`);
          assert.deepEqual(verifyInclusion(leaves[index], index, n, proof, root), { ok: true });

          if (proof.length > 0) {
            const bad = flipByte(proof, pick % proof.length, at, xor);
            assert.equal(verifyInclusion(leaves[index], index, n, bad, root).ok, false, 'flipped proof byte');
            assert.equal(verifyInclusion(leaves[index], index, n, proof.slice(1), root).ok, false, 'dropped element');
            assert.equal(verifyInclusion(leaves[index], index, n, [...proof, proof[0]], root).ok, false, 'extra element');
          }
          const [badLeaf] = flipByte([leaves[index]], 0, at, xor);
          assert.equal(verifyInclusion(badLeaf, index, n, proof, root).ok, false, 'flipped leaf byte');
          const [badRoot] = flipByte([root], 0, at, xor);
          assert.equal(verifyInclusion(leaves[index], index, n, proof, badRoot).ok, false, 'flipped root byte');
          if (otherIndex !== index) {
            assert.equal(verifyInclusion(leaves[index], otherIndex, n, proof, root).ok, false, `index ${index} → ${otherIndex}`);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a proof verified against another tree size is the proof for that size (no ambiguity)', () => {
    fc.assert(
      fc.property(
        leavesArb(2, 100).chain((leaves) =>
          fc.tuple(fc.constant(leaves), fc.integer({ min: 1, max: leaves.length }), fc.integer({ min: 1, max: leaves.length }), fc.nat()),
        ),
        ([leaves, n, n2, pos]) => {
          const index = pos % Math.min(n, n2);
          const tree = new MemoryTree(leaves);
          const proof = inclusionProof(tree, index, n);
          const ok = verifyInclusion(leaves[index], index, n2, proof, rootAt(tree, n2)).ok;
          if (ok) assert.deepEqual(inclusionProof(tree, index, n2).map(hex), proof.map(hex));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every consistency proof verifies, reads O(log n) nodes, and any byte mutation fails', () => {
    fc.assert(
      fc.property(
        treeAndSize.chain(({ leaves, n }) =>
          fc.record({
            leaves: fc.constant(leaves),
            n: fc.constant(n),
            m: fc.integer({ min: 1, max: n }),
            pick: fc.nat(),
            at: fc.integer({ min: 0, max: 31 }),
            xor: fc.integer({ min: 1, max: 255 }),
          }),
        ),
        ({ leaves, n, m, pick, at, xor }) => {
          const tree = new MemoryTree(leaves);
          const root1 = naiveRoot(leaves.slice(0, m));
          const root2 = naiveRoot(leaves.slice(0, n));
          const reader = countingReader(tree);
          const proof = consistencyProof(reader, m, n);
          assert.ok(reader.reads <= 2 * log2ceil(n) + 2, `${reader.reads} reads for ${m}→${n}`);
          assert.deepEqual(verifyConsistency(m, n, root1, root2, proof), { ok: true });
          if (m === n) assert.equal(proof.length, 0);

          if (proof.length > 0) {
            const bad = flipByte(proof, pick % proof.length, at, xor);
            assert.equal(verifyConsistency(m, n, root1, root2, bad).ok, false, 'flipped proof byte');
            assert.equal(verifyConsistency(m, n, root1, root2, proof.slice(0, -1)).ok, false, 'truncated');
            assert.equal(verifyConsistency(m, n, root1, root2, [...proof, root1]).ok, false, 'trailing element');
          }
          const [bad1] = flipByte([root1], 0, at, xor);
          const [bad2] = flipByte([root2], 0, at, xor);
          assert.equal(verifyConsistency(m, n, bad1, root2, proof).ok, false, 'flipped root1 byte');
          assert.equal(verifyConsistency(m, n, root1, bad2, proof).ok, false, 'flipped root2 byte');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a consistency proof verified for other sizes (with their true roots) is the proof for those sizes', () => {
    fc.assert(
      fc.property(
        leavesArb(2, 100).chain((leaves) =>
          fc.record({
            leaves: fc.constant(leaves),
            m: fc.integer({ min: 1, max: leaves.length }),
            n: fc.integer({ min: 1, max: leaves.length }),
            m2: fc.integer({ min: 0, max: leaves.length }),
            n2: fc.integer({ min: 0, max: leaves.length }),
          }),
        ),
        ({ leaves, m, n, m2, n2 }) => {
          if (m > n) [m, n] = [n, m];
          if (m2 === m && n2 === n) return;
          const tree = new MemoryTree(leaves);
          const proof = consistencyProof(tree, m, n);
          const ok = verifyConsistency(m2, n2, rootAt(tree, m2), rootAt(tree, n2), proof).ok;
          if (ok) assert.deepEqual(consistencyProof(tree, m2, n2).map(hex), proof.map(hex), `${m}→${n} verified as ${m2}→${n2}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('proofs between a tree and a different tree fail', () => {
    fc.assert(
      fc.property(treeAndSize, hash32, fc.nat(), ({ leaves, n }, other, pos) => {
        const changed = leaves.slice();
        const i = pos % n;
        fc.pre(hex(changed[i]) !== hex(other));
        changed[i] = other;
        const a = new MemoryTree(leaves);
        const b = new MemoryTree(changed);
        for (let m = 1; m <= n; m++) {
          const result = verifyConsistency(m, n, rootAt(a, m), rootAt(b, n), consistencyProof(b, m, n));
          // b extends a's first m leaves only when the changed leaf lies beyond them.
          assert.equal(result.ok, i >= m, `m=${m} changed=${i}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('the verifiers never throw, whatever they are given', () => {
    const junk = fc.oneof(fc.anything(), hash32, fc.array(hash32, { maxLength: 4 }), fc.integer(), fc.double());
    fc.assert(
      fc.property(junk, junk, junk, junk, junk, (a, b, c, d, e) => {
        const call = (f: (...args: unknown[]) => { ok: boolean }) => {
          const v = f(a, b, c, d, e);
          assert.equal(typeof v.ok, 'boolean');
        };
        call(verifyInclusion as unknown as (...args: unknown[]) => { ok: boolean });
        call(verifyConsistency as unknown as (...args: unknown[]) => { ok: boolean });
      }),
      { numRuns: 2000 },
    );
  });

  it('proof generation rejects sizes it cannot prove', () => {
    const tree = new MemoryTree([new Uint8Array(32)]);
    assert.throws(() => inclusionProof(tree, 1, 1), RangeError);
    assert.throws(() => inclusionProof(tree, -1, 1), RangeError);
    assert.throws(() => consistencyProof(tree, 0, 1), RangeError);
    assert.throws(() => consistencyProof(tree, 2, 1), RangeError);
    assert.throws(() => rootAt(tree, 1.5), RangeError);
    assert.throws(() => rootAt(tree, 2), RangeError, 'reads beyond the tree surface as errors, not as a made-up root');
  });
});
