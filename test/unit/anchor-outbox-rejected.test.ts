import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AnchorOutbox, type AnchorAlarm } from '../../ledger-adapter/src/anchor/anchor-outbox.js';
import { LedgerRejectedError, type AnchorReceipt, type CheckpointToAnchor, type LedgerPort } from '../../ledger-adapter/src/anchor/ledger-port.js';
import { MemoryLedger } from '../../ledger-adapter/src/anchor/memory-ledger.js';

function checkpoint(origin: string, size: number): CheckpointToAnchor {
  const rootHash = createHash('sha256').update(`${origin}|${size}`).digest();
  const note = `${origin}\n${size}\n${rootHash.toString('base64')}\n\n\u2014 test-log AAAA\n`;
  return { origin, size, rootHash, note, signedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, size)).toISOString() };
}

/** A ledger whose endorsement policy refuses one size (as a Fabric network would, whatever the retries). */
class RefusingLedger implements LedgerPort {
  readonly name = 'refusing';
  readonly inner = new MemoryLedger();
  calls: number[] = [];
  constructor(private readonly refuse: number) {}
  async anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt> {
    this.calls.push(cp.size);
    if (cp.size === this.refuse) throw new LedgerRejectedError('transaction tx-1 committed with ENDORSEMENT_POLICY_FAILURE', { txId: 'tx-1' });
    return this.inner.anchor(cp);
  }
  latest(origin: string) {
    return this.inner.latest(origin);
  }
  covering(origin: string, size: number) {
    return this.inner.covering(origin, size);
  }
  status() {
    return this.inner.status();
  }
  close() {
    return this.inner.close();
  }
}

const root = mkdtempSync(join(tmpdir(), 'custodian-outbox-rejected-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('AnchorOutbox and LedgerRejectedError', () => {
  it('stops with a ledger-rejected alarm, keeps the entry and anchors nothing past it (also after a restart)', { timeout: 10_000 }, async () => {
    const dir = join(root, 'outbox');
    const ledger = new RefusingLedger(3);
    const alarms: AnchorAlarm[] = [];
    const open = () => AnchorOutbox.open({ dir, port: ledger, coalesce: false, retry: { initialMs: 1, maxMs: 2 }, onAlarm: (a) => alarms.push(a) });
    let outbox = await open();
    for (const size of [2, 3, 4]) await outbox.enqueue(checkpoint('audit', size));
    outbox.start();
    await assert.rejects(outbox.drain(), LedgerRejectedError);
    const lag = outbox.lag();
    assert.equal(lag.alarm?.kind, 'ledger-rejected');
    assert.equal(lag.alarm?.size, 3);
    assert.ok(lag.alarm?.error instanceof LedgerRejectedError);
    assert.equal(lag.running, false, 'the worker stopped instead of retrying');
    assert.equal(lag.pending, 2, 'the refused checkpoint and the one after it are kept');
    assert.deepEqual(ledger.calls, [2, 3], 'the refused size was tried once, nothing after it');
    assert.deepEqual(ledger.inner.all().map((r) => r.size), [2]);
    assert.equal(alarms.length, 1);
    await outbox.close();

    outbox = await open();
    try {
      assert.equal(outbox.lag().pending, 2);
      outbox.start();
      await assert.rejects(outbox.drain(), LedgerRejectedError);
      assert.equal(outbox.lag().alarm?.kind, 'ledger-rejected');
      assert.equal(alarms.length, 2, 'reopening retries it and raises the alarm again');
      assert.deepEqual(ledger.calls, [2, 3, 3]);
    } finally {
      await outbox.close();
    }
  });
});
