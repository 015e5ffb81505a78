import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';
import { MerkleLog, type SignedCheckpoint } from '../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { buildReceipt, verifyReceipt, type Receipt } from '../../ledger-adapter/src/verify/receipt.js';

const ORIGIN = 'custodian.test/receipts';
const privateKey = generateKeyPairSync('ed25519').privateKey;
const records = Array.from({ length: 21 }, (_, i) => ({ resourceType: 'AuditEvent', id: `ae-${i}`, recorded: `2030-01-01T00:00:${String(i).padStart(2, '0')}Z` }));

describe('receipts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custodian-receipt-'));
  let log: MerkleLog;
  let cp: SignedCheckpoint;
  before(async () => {
    log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
    await log.append(records.map((r) => {
      const salt = newSalt();
      return { key: `AuditEvent/${r.id}`, salt, leafHash: leafHashOf(salt, r) };
    }));
    cp = await log.checkpoint();
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const checksOf = (v: ReturnType<typeof verifyReceipt>) => Object.fromEntries(v.checks.map((c) => [c.check, c.ok]));

  it('verifies every leaf of the log with its record, offline, as JSON', () => {
    for (let i = 0; i < records.length; i++) {
      const receipt = JSON.parse(JSON.stringify(buildReceipt(log, i, cp))) as Receipt;
      assert.equal(receipt.format, 'custodian-receipt/v1');
      assert.equal(receipt.key, `AuditEvent/ae-${i}`);
      assert.equal(receipt.treeSize, 21);
      const v = verifyReceipt(receipt, { verifierKey: log.verifierKey, record: records[i] });
      assert.equal(v.verdict, 'verified', JSON.stringify(v.checks));
      assert.deepEqual(checksOf(v), { format: true, signature: true, checkpoint: true, inclusion: true, record: true });
    }
    // Without the record: the four other checks.
    assert.deepEqual(checksOf(verifyReceipt(buildReceipt(log, 3, cp), { verifierKey: log.verifierKey })), { format: true, signature: true, checkpoint: true, inclusion: true });
  });

  it('reports a mismatch for the wrong record, key, proof, index, size or checkpoint', () => {
    const good = buildReceipt(log, 5, cp);
    const verdict = (r: unknown, record: unknown = records[5], verifierKey = log.verifierKey) => verifyReceipt(r, { verifierKey, record });

    assert.deepEqual(checksOf(verdict(good, records[6])), { format: true, signature: true, checkpoint: true, inclusion: true, record: false });
    assert.deepEqual(checksOf(verdict(good, { ...records[5], id: 'ae-55' })), { format: true, signature: true, checkpoint: true, inclusion: true, record: false });
    const other = verifierKeyOf(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    assert.deepEqual(checksOf(verdict(good, records[5], other)), { format: true, signature: false });

    const proof = good.inclusionProof.slice();
    const b = Buffer.from(proof[1], 'base64');
    b[0] ^= 1;
    proof[1] = b.toString('base64');
    assert.equal(checksOf(verdict({ ...good, inclusionProof: proof })).inclusion, false);
    assert.equal(checksOf(verdict({ ...good, leafIndex: 4 })).inclusion, false);
    assert.equal(checksOf(verdict({ ...good, treeSize: 20 })).checkpoint, false);
    assert.equal(checksOf(verdict({ ...good, origin: 'elsewhere.test/log' })).checkpoint, false);
    // A leaf hash swapped for another leaf's: inclusion fails (and the record no longer matches).
    const swapped = { ...good, leafHash: buildReceipt(log, 6, cp).leafHash };
    assert.deepEqual(checksOf(verdict(swapped)), { format: true, signature: true, checkpoint: true, inclusion: false, record: false });
    // A checkpoint re-signed by someone else, or altered after signing.
    assert.equal(checksOf(verdict({ ...good, checkpoint: good.checkpoint.replace('\n21\n', '\n22\n') })).signature, false);
    const forged = signNote(formatCheckpoint({ origin: ORIGIN, size: 21, rootHash: Buffer.alloc(32) }), ORIGIN, generateKeyPairSync('ed25519').privateKey);
    assert.equal(checksOf(verdict({ ...good, checkpoint: forged })).signature, false);
    // Shape problems.
    for (const bad of [null, [], 'x', { ...good, format: 'v0' }, { ...good, salt: 'AAAA' }, { ...good, inclusionProof: 'x' }, { ...good, leafIndex: -1 }]) {
      const v = verdict(bad);
      assert.equal(v.verdict, 'mismatch');
      assert.deepEqual(checksOf(v), { format: false });
    }
  });

  it('works from an older checkpoint too, and refuses leaves outside the checkpoint', async () => {
    const older = cp;
    const salt = newSalt();
    await log.append([{ key: 'late', salt, leafHash: leafHashOf(salt, { late: true }) }]);
    const newer = await log.checkpoint();
    assert.equal(verifyReceipt(buildReceipt(log, 2, older), { verifierKey: log.verifierKey, record: records[2] }).verdict, 'verified');
    assert.equal(verifyReceipt(buildReceipt(log, 21, newer), { verifierKey: log.verifierKey, record: { late: true } }).verdict, 'verified');
    assert.throws(() => buildReceipt(log, 21, older), RangeError);
  });

  it('never throws, whatever the receipt or record', () => {
    const good = buildReceipt(log, 1, cp);
    fc.assert(
      fc.property(fc.anything(), fc.constantFrom(...Object.keys(good)), fc.anything(), (junk, field, record) => {
        const v1 = verifyReceipt(junk, { verifierKey: log.verifierKey });
        assert.equal(v1.verdict, 'mismatch');
        const v2 = verifyReceipt({ ...good, [field]: junk }, { verifierKey: log.verifierKey, record });
        assert.ok(v2.verdict === 'mismatch' || field === 'anchor' || record === undefined || v2.verdict === 'verified');
      }),
      { numRuns: 300 },
    );
    assert.equal(verifyReceipt(good, { verifierKey: 'garbage' }).verdict, 'mismatch');
  });
});
