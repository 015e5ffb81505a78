import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { readAnchorChain, EmbeddedAnchor } from '../../ledger-adapter/src/anchor/embedded-anchor.js';
import { verifyAnchorChain } from '../../ledger-adapter/src/anchor/anchor-verify.js';
import { AnchorOutbox, type AnchorAlarm } from '../../ledger-adapter/src/anchor/anchor-outbox.js';
import {
  EquivocationError,
  LedgerUnavailableError,
  type AnchorReceipt,
  type CheckpointToAnchor,
  type LedgerPort,
  type LedgerStatus,
} from '../../ledger-adapter/src/anchor/ledger-port.js';
import { MemoryLedger } from '../../ledger-adapter/src/anchor/memory-ledger.js';

function checkpoint(origin: string, size: number, variant = ''): CheckpointToAnchor {
  const rootHash = createHash('sha256').update(`${origin}|${size}|${variant}`).digest();
  const note = `${origin}\n${size}\n${rootHash.toString('base64')}\n\n\u2014 test-log AAAA\n`;
  return { origin, size, rootHash, note, signedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, size)).toISOString() };
}

const root = mkdtempSync(join(tmpdir(), 'custodian-anchor-outbox-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `outbox-${dirs++}`);
const fastRetry = { initialMs: 1, maxMs: 2 };

/** Deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A ledger that fails at random: before anchoring (nothing happened) or after anchoring
 * durably (the anchor exists, the caller sees an error), as a lost Fabric commit status would.
 */
class FlakyLedger implements LedgerPort {
  readonly name: string;
  calls = 0;
  failedBefore = 0;
  failedAfter = 0;
  constructor(
    readonly inner: LedgerPort,
    private readonly random: () => number,
    private readonly pBefore = 0.3,
    private readonly pAfter = 0.2,
  ) {
    this.name = inner.name;
  }
  async anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt> {
    this.calls++;
    await new Promise((r) => setImmediate(r));
    const roll = this.random();
    if (roll < this.pBefore) {
      this.failedBefore++;
      throw roll < this.pBefore / 2 ? new LedgerUnavailableError('peer unreachable') : new Error('socket hang up');
    }
    const receipt = await this.inner.anchor(cp);
    if (roll < this.pBefore + this.pAfter) {
      this.failedAfter++;
      throw new LedgerUnavailableError('commit status unknown', { txId: receipt.txId });
    }
    return receipt;
  }
  latest(origin: string) {
    return this.inner.latest(origin);
  }
  covering(origin: string, size: number) {
    return this.inner.covering(origin, size);
  }
  status(): Promise<LedgerStatus> {
    return this.inner.status();
  }
  close() {
    return this.inner.close();
  }
}

/** Sizes the ledger anchored, per origin, in chain order. */
function anchoredSizes(ledger: MemoryLedger, origin: string): number[] {
  return ledger
    .all()
    .filter((r) => r.origin === origin)
    .map((r) => r.size);
}

function assertStrictlyIncreasing(sizes: number[]): void {
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i] > sizes[i - 1], `not strictly increasing: ${sizes.join(',')}`);
}

describe('AnchorOutbox', () => {
  it('anchors every checkpoint once and in order under a flaky ledger (no coalescing)', async () => {
    for (const seed of [1, 2, 3]) {
      const ledger = new MemoryLedger();
      const flaky = new FlakyLedger(ledger, prng(seed));
      const outbox = await AnchorOutbox.open({ dir: freshDir(), port: flaky, coalesce: false, retry: fastRetry, random: prng(seed + 100) });
      try {
        outbox.start();
        // Enqueue while the worker runs, two origins interleaved, some duplicates.
        for (let size = 1; size <= 40; size++) {
          await outbox.enqueue(checkpoint('audit', size));
          if (size % 3 === 0) await outbox.enqueue(checkpoint('versions', size));
          if (size % 7 === 0) await outbox.enqueue(checkpoint('audit', size));
        }
        await outbox.drain();
        const audit = anchoredSizes(ledger, 'audit');
        assert.deepEqual(audit, Array.from({ length: 40 }, (_, i) => i + 1), `seed ${seed}`);
        assert.deepEqual(anchoredSizes(ledger, 'versions'), Array.from({ length: 13 }, (_, i) => 3 * (i + 1)));
        assert.ok(flaky.failedBefore > 0 && flaky.failedAfter > 0, 'the fake did fail both ways');
        const lag = outbox.lag();
        assert.equal(lag.pending, 0);
        assert.ok(lag.anchored >= 53, 'a receipt for every checkpoint (a re-enqueued one is re-sent and deduped)');
        assert.equal(lag.coalesced, 0);
        assert.ok(lag.lastError, 'the failures were reported');
      } finally {
        await outbox.close();
      }
    }
  });

  it('coalesces a burst to its newest checkpoint and still never reorders or double-anchors', async () => {
    const ledger = new MemoryLedger();
    const flaky = new FlakyLedger(ledger, prng(7));
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: flaky, retry: fastRetry });
    try {
      for (let size = 1; size <= 20; size++) await outbox.enqueue(checkpoint('audit', size));
      assert.equal(outbox.lag().pending, 20);
      outbox.start();
      await outbox.drain();
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [20], 'only the newest of the burst');
      assert.equal(outbox.lag().coalesced, 19);
      for (let size = 21; size <= 60; size++) await outbox.enqueue(checkpoint('audit', size));
      await outbox.drain();
      const sizes = anchoredSizes(ledger, 'audit');
      assertStrictlyIncreasing(sizes);
      assert.equal(sizes[sizes.length - 1], 60);
      for (let size = 1; size <= 60; size++) assert.ok(await ledger.covering('audit', size), `size ${size} is covered`);
    } finally {
      await outbox.close();
    }
  });

  it('keeps what was enqueued across a restart, and resumes from the oldest unanchored checkpoint', async () => {
    const dir = freshDir();
    const ledger = new MemoryLedger();
    let outbox = await AnchorOutbox.open({ dir, port: ledger, coalesce: false, retry: fastRetry });
    for (let size = 1; size <= 10; size++) await outbox.enqueue(checkpoint('audit', size));
    await outbox.close();
    // Stop mid-queue: after the third receipt, close the outbox (the attempt in flight finishes).
    let closing: Promise<void> | undefined;
    outbox = await AnchorOutbox.open({
      dir,
      port: ledger,
      coalesce: false,
      retry: fastRetry,
      onAnchored: (r) => {
        if (r.size === 3) closing = outbox.close();
      },
    });
    assert.equal(outbox.lag().pending, 10, 'nothing lost across a close before the worker ran');
    outbox.start();
    await assert.rejects(outbox.drain(), /stopped/);
    await closing;
    const before = anchoredSizes(ledger, 'audit');
    assert.ok(before.length >= 3 && before.length < 10, `stopped mid-queue (${before.length} anchored)`);

    outbox = await AnchorOutbox.open({ dir, port: ledger, coalesce: false, retry: fastRetry });
    try {
      assert.equal(outbox.lag().pending, 10 - before.length);
      assert.equal(outbox.lag().oldestPendingSignedAt, checkpoint('audit', before.length + 1).signedAt);
      outbox.start();
      await outbox.drain();
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await outbox.close();
    }
  });

  it('re-sends after a restart what was anchored but not yet removed, and the ledger dedupes it', async () => {
    const dir = freshDir();
    const chainDir = join(dir, 'chain');
    const anchor = await EmbeddedAnchor.open({ dir: chainDir });
    try {
      // The ledger anchors, then the caller sees a failure: the entry stays in the outbox.
      let first = true;
      const losesFirstReply: LedgerPort = {
        name: anchor.name,
        anchor: async (cp) => {
          const r = await anchor.anchor(cp);
          if (first) {
            first = false;
            throw new Error('connection reset after commit');
          }
          return r;
        },
        latest: (o) => anchor.latest(o),
        covering: (o, s) => anchor.covering(o, s),
        status: () => anchor.status(),
        close: async () => undefined,
      };
      let outbox = await AnchorOutbox.open({ dir: join(dir, 'outbox'), port: losesFirstReply, retry: { initialMs: 60_000, maxMs: 60_000 } });
      await outbox.enqueue(checkpoint('audit', 5));
      let failedOnce!: () => void;
      const failed = new Promise<void>((r) => (failedOnce = r));
      const poll = setInterval(() => outbox.lag().lastError && failedOnce(), 1);
      outbox.start();
      await failed;
      clearInterval(poll);
      await outbox.close(); // stops during the (long) backoff
      assert.equal(anchor.head().length, 1, 'the ledger did anchor it');

      outbox = await AnchorOutbox.open({ dir: join(dir, 'outbox'), port: losesFirstReply, retry: fastRetry });
      try {
        assert.equal(outbox.lag().pending, 1);
        outbox.start();
        await outbox.drain();
        assert.equal(outbox.lag().lastAnchored?.sequence, 0, 'the first receipt came back');
      } finally {
        await outbox.close();
      }
      assert.equal(anchor.head().length, 1, 'anchored once');
      const { entries } = await readAnchorChain(chainDir);
      assert.equal(verifyAnchorChain(entries, anchor.publicKeyPem).ok, true);
    } finally {
      await anchor.close();
    }
  });

  it('stops and raises an alarm on equivocation, never skipping past it (also after a restart)', async () => {
    const dir = freshDir();
    const ledger = new MemoryLedger();
    await ledger.anchor(checkpoint('audit', 5));
    const alarms: AnchorAlarm[] = [];
    let outbox = await AnchorOutbox.open({ dir, port: ledger, coalesce: false, retry: fastRetry, onAlarm: (a) => alarms.push(a) });
    await outbox.enqueue(checkpoint('audit', 5, 'forged'));
    await outbox.enqueue(checkpoint('audit', 6));
    outbox.start();
    await assert.rejects(outbox.drain(), EquivocationError);
    let lag = outbox.lag();
    assert.equal(lag.alarm?.kind, 'equivocation');
    assert.equal(lag.alarm?.size, 5);
    assert.equal(lag.pending, 2);
    assert.equal(lag.running, false);
    assert.equal(alarms.length, 1);
    assert.deepEqual(anchoredSizes(ledger, 'audit'), [5], 'size 6 was not anchored past the alarm');
    await outbox.close();

    outbox = await AnchorOutbox.open({ dir, port: ledger, coalesce: false, retry: fastRetry, onAlarm: (a) => alarms.push(a) });
    try {
      assert.equal(outbox.lag().pending, 2, 'the equivocating checkpoint is still there');
      outbox.start();
      await assert.rejects(outbox.drain(), EquivocationError);
      lag = outbox.lag();
      assert.equal(lag.alarm?.kind, 'equivocation');
      assert.equal(alarms.length, 2);
    } finally {
      await outbox.close();
    }
  });

  it('refuses to queue a second root for a size already waiting, with an alarm', async () => {
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: new MemoryLedger(), retry: fastRetry });
    try {
      await outbox.enqueue(checkpoint('audit', 3));
      await outbox.enqueue(checkpoint('audit', 3));
      assert.equal(outbox.lag().pending, 1, 'the same checkpoint twice is one entry');
      await assert.rejects(outbox.enqueue(checkpoint('audit', 3, 'forged')), EquivocationError);
      assert.equal(outbox.lag().alarm?.kind, 'equivocation');
      assert.equal(outbox.lag().pending, 1);
    } finally {
      await outbox.close();
    }
  });

  it('drops checkpoints the ledger already covers with a larger anchor', async () => {
    const ledger = new MemoryLedger();
    await ledger.anchor(checkpoint('audit', 10));
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: ledger, coalesce: false, retry: fastRetry });
    try {
      await outbox.enqueue(checkpoint('audit', 4));
      await outbox.enqueue(checkpoint('audit', 7));
      await outbox.enqueue(checkpoint('audit', 10));
      outbox.start();
      await outbox.drain();
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [10]);
      assert.equal(outbox.lag().coalesced, 2);
      assert.equal(outbox.lag().lastAnchored?.size, 10);
    } finally {
      await outbox.close();
    }
  });

  it('reports lag: pending, the oldest waiting checkpoint, seconds behind, the last error and the last receipt', async () => {
    const t0 = Date.parse(checkpoint('audit', 1).signedAt);
    let now = t0;
    let available = false;
    let failed!: () => void;
    const firstFailure = new Promise<void>((r) => (failed = r));
    const ledger = new MemoryLedger();
    const gated: LedgerPort = {
      name: 'gated',
      anchor: async (cp) => {
        if (!available) {
          failed();
          throw new LedgerUnavailableError('peer unreachable', { retryAfterMs: 1 });
        }
        return ledger.anchor(cp);
      },
      latest: (o) => ledger.latest(o),
      covering: (o, s) => ledger.covering(o, s),
      status: () => ledger.status(),
      close: () => ledger.close(),
    };
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: gated, retry: fastRetry, now: () => now });
    try {
      assert.deepEqual(
        { pending: outbox.lag().pending, lagSeconds: outbox.lag().lagSeconds, oldest: outbox.lag().oldestPendingSignedAt },
        { pending: 0, lagSeconds: 0, oldest: undefined },
      );
      await outbox.enqueue(checkpoint('audit', 1));
      await outbox.enqueue(checkpoint('audit', 2));
      await outbox.enqueue(checkpoint('versions', 3));
      now = t0 + 42_000;
      let lag = outbox.lag();
      assert.equal(lag.pending, 3);
      assert.equal(lag.oldestPendingSignedAt, checkpoint('audit', 1).signedAt);
      assert.equal(lag.lagSeconds, 42);
      assert.equal(lag.lastAnchored, undefined);

      outbox.start();
      await firstFailure;
      lag = outbox.lag();
      assert.equal(lag.lastError?.code, 'LEDGER_UNAVAILABLE');
      assert.match(lag.lastError?.message ?? '', /peer unreachable/);
      assert.ok((lag.lastError?.consecutiveFailures ?? 0) >= 1);
      assert.equal(lag.pending, 3, 'nothing leaves while the ledger is away');

      available = true;
      await outbox.drain();
      lag = outbox.lag();
      assert.equal(lag.pending, 0);
      assert.equal(lag.lagSeconds, 0);
      assert.equal(lag.oldestPendingSignedAt, undefined);
      assert.ok(lag.lastAnchored && ['audit', 'versions'].includes(lag.lastAnchored.origin));
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [2]);
      assert.deepEqual(anchoredSizes(ledger, 'versions'), [3]);
    } finally {
      await outbox.close();
    }
  });

  it('keeps every acknowledged enqueue and anchor when the process is SIGKILLed without closing', async () => {
    const dir = freshDir();
    const src = (f: string) => pathToFileURL(resolve('ledger-adapter/src/anchor', f)).href;
    // The child acknowledges on stdout only after enqueue/anchor resolved, then kills itself.
    const script = `
      import { createHash } from 'node:crypto';
      import { AnchorOutbox } from ${JSON.stringify(src('anchor-outbox.ts'))};
      import { EmbeddedAnchor } from ${JSON.stringify(src('embedded-anchor.ts'))};
      import { MemoryLedger } from ${JSON.stringify(src('memory-ledger.ts'))};
      const cp = (size) => {
        const rootHash = createHash('sha256').update('audit|' + size + '|').digest();
        return { origin: 'audit', size, rootHash, note: 'audit\\n' + size + '\\n' + rootHash.toString('base64') + '\\n\\n— t A\\n', signedAt: new Date().toISOString() };
      };
      const anchor = await EmbeddedAnchor.open({ dir: ${JSON.stringify(join(dir, 'chain'))} });
      const outbox = await AnchorOutbox.open({ dir: ${JSON.stringify(join(dir, 'outbox'))}, port: new MemoryLedger() });
      for (let size = 1; size <= 15; size++) {
        await outbox.enqueue(cp(size));
        await anchor.anchor(cp(size));
        process.stdout.write('ack ' + size + '\\n');
      }
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const signal = await new Promise((r) => child.on('exit', (_code, sig) => r(sig)));
    assert.equal(signal, 'SIGKILL', err);
    const acked = out.split('\n').filter((l) => l.startsWith('ack ')).length;
    assert.equal(acked, 15, err);

    const anchor = await EmbeddedAnchor.open({ dir: join(dir, 'chain') });
    const ledger = new MemoryLedger();
    const outbox = await AnchorOutbox.open({ dir: join(dir, 'outbox'), port: ledger, coalesce: false, retry: fastRetry });
    try {
      assert.equal(anchor.head().length, acked, 'every acknowledged anchor is in the chain');
      assert.equal(outbox.lag().pending, acked, 'every acknowledged enqueue is in the outbox');
      outbox.start();
      await outbox.drain();
      assert.deepEqual(anchoredSizes(ledger, 'audit'), Array.from({ length: acked }, (_, i) => i + 1));
    } finally {
      await outbox.close();
      await anchor.close();
    }
  });

  it('with minIntervalMs, waits between anchors and sends only the newest of what gathered', async () => {
    const ledger = new MemoryLedger();
    let firstAnchored!: () => void;
    const anchoredOnce = new Promise<void>((r) => (firstAnchored = r));
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: ledger, minIntervalMs: 60_000, retry: fastRetry, onAnchored: () => firstAnchored() });
    try {
      await outbox.enqueue(checkpoint('audit', 1));
      outbox.start();
      await anchoredOnce;
      for (let size = 2; size <= 5; size++) await outbox.enqueue(checkpoint('audit', size));
      assert.equal(outbox.lag().pending, 4, 'nothing goes out during the interval');
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [1]);
      await outbox.stop(); // cuts the interval short
      outbox.start();
      await outbox.drain();
      assert.deepEqual(anchoredSizes(ledger, 'audit'), [1, 5]);
    } finally {
      await outbox.close();
    }
  });

  it('refuses malformed checkpoints at enqueue and work after close', async () => {
    const outbox = await AnchorOutbox.open({ dir: freshDir(), port: new MemoryLedger() });
    await assert.rejects(outbox.enqueue({ ...checkpoint('audit', 1), note: 'nonsense' }), /invalid checkpoint/);
    await assert.rejects(outbox.enqueue({ ...checkpoint('audit', 1), signedAt: 'yesterday' }), /signedAt/);
    await outbox.enqueue(checkpoint('audit', 1));
    await assert.rejects(outbox.drain(), /not running/);
    await outbox.close();
    await assert.rejects(outbox.enqueue(checkpoint('audit', 1)), LedgerUnavailableError);
    assert.throws(() => outbox.start(), LedgerUnavailableError);
  });
});
