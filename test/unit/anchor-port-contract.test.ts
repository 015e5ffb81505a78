import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EmbeddedAnchor } from '../../ledger-adapter/src/anchor/embedded-anchor.js';
import {
  EquivocationError,
  InvalidCheckpointError,
  LedgerUnavailableError,
  OutOfOrderError,
  type CheckpointToAnchor,
  type LedgerPort,
} from '../../ledger-adapter/src/anchor/ledger-port.js';
import { MemoryLedger } from '../../ledger-adapter/src/anchor/memory-ledger.js';

/**
 * The LedgerPort contract, run against every implementation here (the Fabric adapter of
 * issue 7 should run the same cases).
 */

function checkpoint(origin: string, size: number, variant = ''): CheckpointToAnchor {
  const rootHash = createHash('sha256').update(`${origin}|${size}|${variant}`).digest();
  const note = `${origin}\n${size}\n${rootHash.toString('base64')}\n\n\u2014 test-log AAAA\n`;
  return { origin, size, rootHash, note, signedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, size)).toISOString() };
}

const root = mkdtempSync(join(tmpdir(), 'custodian-anchor-contract-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const implementations: { name: string; open: () => Promise<LedgerPort> }[] = [
  { name: 'MemoryLedger', open: async () => new MemoryLedger() },
  { name: 'EmbeddedAnchor', open: () => EmbeddedAnchor.open({ dir: join(root, `chain-${dirs++}`) }) },
];

for (const impl of implementations) {
  describe(`LedgerPort contract: ${impl.name}`, () => {
    it('anchors checkpoints in order and returns receipts describing them', async () => {
      const port = await impl.open();
      try {
        const a = await port.anchor(checkpoint('log-a', 3));
        const b = await port.anchor(checkpoint('log-a', 7));
        assert.equal(a.ledger, port.name);
        assert.equal(a.origin, 'log-a');
        assert.equal(a.size, 3);
        assert.equal(a.rootHash, Buffer.from(checkpoint('log-a', 3).rootHash).toString('base64'));
        assert.ok(!Number.isNaN(Date.parse(a.anchoredAt)));
        assert.ok(b.sequence > a.sequence, 'sequence grows along the chain');
        assert.notEqual(a.proof, undefined);
      } finally {
        await port.close();
      }
    });

    it('is idempotent: the same (origin, size, root) again returns the first receipt, even after later anchors', async () => {
      const port = await impl.open();
      try {
        const first = await port.anchor(checkpoint('log-a', 5));
        await port.anchor(checkpoint('log-a', 9));
        const again = await port.anchor({ ...checkpoint('log-a', 5), signedAt: '2030-01-01T00:00:00.000Z' });
        assert.deepEqual(again, first);
        assert.deepEqual(await port.anchor(checkpoint('log-a', 9)), await port.latest('log-a'));
        assert.equal((await port.latest('log-a'))?.size, 9);
      } finally {
        await port.close();
      }
    });

    it('refuses a different root for an anchored size as equivocation, whether it is the latest or an older one', async () => {
      const port = await impl.open();
      try {
        const first = await port.anchor(checkpoint('log-a', 4));
        await port.anchor(checkpoint('log-a', 8));
        for (const size of [8, 4]) {
          const err = await port.anchor(checkpoint('log-a', size, 'forged')).then(
            () => assert.fail('accepted an equivocating checkpoint'),
            (e: unknown) => e,
          );
          assert.ok(err instanceof EquivocationError);
          assert.equal(err.code, 'LEDGER_EQUIVOCATION');
          assert.equal(err.size, size);
          assert.equal(err.offeredRoot, Buffer.from(checkpoint('log-a', size, 'forged').rootHash).toString('base64'));
        }
        assert.deepEqual(await port.covering('log-a', 4), first, 'the first root stays');
      } finally {
        await port.close();
      }
    });

    it('refuses a size below the latest anchored one as out of order', async () => {
      const port = await impl.open();
      try {
        await port.anchor(checkpoint('log-a', 10));
        await assert.rejects(port.anchor(checkpoint('log-a', 6)), (e: unknown) => e instanceof OutOfOrderError && e.latestSize === 10 && e.size === 6);
        // Another origin keeps its own order.
        assert.equal((await port.anchor(checkpoint('log-b', 6))).size, 6);
      } finally {
        await port.close();
      }
    });

    it('refuses malformed checkpoints, including a note that does not carry the fields', async () => {
      const port = await impl.open();
      try {
        const good = checkpoint('log-a', 2);
        const bad: CheckpointToAnchor[] = [
          { ...good, note: checkpoint('log-a', 3).note },
          { ...good, rootHash: good.rootHash.subarray(0, 31) },
          { ...good, size: -1 },
          { ...good, size: 1.5 },
          { ...good, origin: '' },
          { ...good, origin: 'two\nlines' },
        ];
        for (const cp of bad) await assert.rejects(port.anchor(cp), InvalidCheckpointError);
        assert.equal(await port.latest('log-a'), undefined);
      } finally {
        await port.close();
      }
    });

    it('answers latest and covering per origin', async () => {
      const port = await impl.open();
      try {
        assert.equal(await port.latest('log-a'), undefined);
        assert.equal(await port.covering('log-a', 1), undefined);
        const r2 = await port.anchor(checkpoint('log-a', 2));
        const rb = await port.anchor(checkpoint('log-b', 100));
        const r5 = await port.anchor(checkpoint('log-a', 5));
        const r9 = await port.anchor(checkpoint('log-a', 9));
        assert.deepEqual(await port.latest('log-a'), r9);
        assert.deepEqual(await port.latest('log-b'), rb);
        assert.deepEqual(await port.covering('log-a', 0), r2);
        assert.deepEqual(await port.covering('log-a', 2), r2);
        assert.deepEqual(await port.covering('log-a', 3), r5);
        assert.deepEqual(await port.covering('log-a', 5), r5);
        assert.deepEqual(await port.covering('log-a', 6), r9);
        assert.equal(await port.covering('log-a', 10), undefined, 'nothing covers a size beyond the latest anchor');
        assert.equal(await port.covering('log-c', 1), undefined);
      } finally {
        await port.close();
      }
    });

    it('reports status and refuses work once closed', async () => {
      const port = await impl.open();
      const s = await port.status();
      assert.equal(s.name, port.name);
      assert.equal(s.healthy, true);
      await port.close();
      await port.close();
      assert.equal((await port.status()).healthy, false);
      await assert.rejects(port.anchor(checkpoint('log-a', 1)), LedgerUnavailableError);
    });
  });
}
