import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  canonicalJson,
  computeEntryHash,
  GENESIS_PREV,
  parseAnchorChain,
  serializeSignedEntry,
  signAnchorEntry,
  type EmbeddedAnchorProof,
  type SignedAnchorEntry,
} from '../../ledger-adapter/src/anchor/anchor-entry.js';
import { receiptHead, verifyAnchorChain, verifyAnchorReceipt, type ChainProblemKind } from '../../ledger-adapter/src/anchor/anchor-verify.js';
import { ANCHOR_KEY_FILE } from '../../ledger-adapter/src/anchor/anchor-key.js';
import { ANCHOR_CHAIN_FILE, EmbeddedAnchor, readAnchorChain } from '../../ledger-adapter/src/anchor/embedded-anchor.js';
import { AnchorChainCorruptError, type AnchorReceipt, type CheckpointToAnchor } from '../../ledger-adapter/src/anchor/ledger-port.js';

function checkpoint(origin: string, size: number, variant = ''): CheckpointToAnchor {
  const rootHash = createHash('sha256').update(`${origin}|${size}|${variant}`).digest();
  const note = `${origin}\n${size}\n${rootHash.toString('base64')}\n\n\u2014 test-log AAAA\n`;
  return { origin, size, rootHash, note, signedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, size)).toISOString() };
}

const root = mkdtempSync(join(tmpdir(), 'custodian-anchor-chain-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Lines of a chain file, without the final empty one. */
function lines(dir: string): string[] {
  return readFileSync(join(dir, ANCHOR_CHAIN_FILE), 'utf8').split('\n').slice(0, -1);
}
function writeLines(dir: string, ls: string[]): void {
  writeFileSync(join(dir, ANCHOR_CHAIN_FILE), ls.map((l) => `${l}\n`).join(''));
}
function kinds(problems: { kind: ChainProblemKind }[]): Set<ChainProblemKind> {
  return new Set(problems.map((p) => p.kind));
}

describe('canonicalJson (the chain serialiser)', () => {
  it('sorts keys at every level and writes integers and strings only', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: 'x', c: 'é\n"' } }), '{"a":{"c":"é\\n\\"","d":"x"},"b":1}');
    for (const bad of [1.5, -1, Number.MAX_SAFE_INTEGER + 1, NaN, '\uD800']) assert.throws(() => canonicalJson(bad as never), TypeError);
    assert.throws(() => canonicalJson([1] as never), TypeError);
    assert.throws(() => canonicalJson(null as never), TypeError);
  });

  it('hashes an entry the same whatever the order its fields were built in', () => {
    const e = { sequence: 0, origin: 'o', size: 1, rootHash: 'r', note: 'n', anchoredAt: 't', prevEntryHash: GENESIS_PREV };
    const shuffled = { prevEntryHash: GENESIS_PREV, note: 'n', anchoredAt: 't', size: 1, rootHash: 'r', origin: 'o', sequence: 0 };
    assert.equal(computeEntryHash(e), computeEntryHash(shuffled));
    assert.equal(computeEntryHash(e), createHash('sha256').update(canonicalJson(e)).digest('hex'));
  });
});

describe('EmbeddedAnchor: append, reopen, verify', () => {
  const dir = join(root, 'main');
  let receipts: AnchorReceipt[] = [];
  let publicKeyPem = '';

  before(async () => {
    const anchor = await EmbeddedAnchor.open({ dir });
    receipts = [];
    for (const [origin, size] of [['audit', 1], ['audit', 4], ['versions', 2], ['audit', 9], ['versions', 5], ['audit', 12]] as const) {
      receipts.push(await anchor.anchor(checkpoint(origin, size)));
    }
    publicKeyPem = anchor.publicKeyPem;
    await anchor.close();
  });

  it('keeps the key apart, PKCS#8 PEM with mode 0600, and one signed entry per line', () => {
    assert.equal(statSync(join(dir, ANCHOR_KEY_FILE)).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, ANCHOR_KEY_FILE), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    const ls = lines(dir);
    assert.equal(ls.length, 6);
    const first = JSON.parse(ls[0]) as SignedAnchorEntry;
    assert.equal(first.entry.prevEntryHash, GENESIS_PREV);
    assert.equal(first.entry.sequence, 0);
    assert.equal(ls[0], serializeSignedEntry(first), 'lines are canonical JSON');
    assert.equal(JSON.parse(ls[1]).entry.prevEntryHash, first.entryHash);
  });

  it('reopens with the same head, receipts and key, and goes on appending', async () => {
    const anchor = await EmbeddedAnchor.open({ dir });
    try {
      assert.equal(anchor.publicKeyPem, publicKeyPem);
      assert.deepEqual(anchor.head(), { length: 6, entryHash: receipts[5].txId });
      assert.deepEqual(await anchor.latest('audit'), receipts[5]);
      assert.deepEqual(await anchor.covering('versions', 3), receipts[4]);
      assert.deepEqual(await anchor.anchor(checkpoint('audit', 9)), receipts[3], 'idempotent across a reopen');
      const next = await anchor.anchor(checkpoint('audit', 20));
      assert.equal(next.sequence, 6);
      assert.equal((next.proof as EmbeddedAnchorProof).entry.prevEntryHash, receipts[5].txId);
    } finally {
      await anchor.close();
    }
    const { entries, malformed } = await readAnchorChain(dir);
    assert.deepEqual(malformed, []);
    const verdict = verifyAnchorChain(entries, publicKeyPem, { heads: receipts.map((r) => receiptHead(r)!) });
    assert.deepEqual(verdict.problems, []);
    assert.equal(verdict.length, 7);
  });

  it('gives receipts a third party checks offline with the anchor public key alone', () => {
    const rawKey = Buffer.from(publicKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').subarray(12);
    for (const r of receipts) {
      const wire = JSON.parse(JSON.stringify(r)) as AnchorReceipt;
      assert.deepEqual(verifyAnchorReceipt(wire, publicKeyPem), { ok: true });
      assert.deepEqual(verifyAnchorReceipt(wire, rawKey.toString('base64')), { ok: true });
    }
    const r = JSON.parse(JSON.stringify(receipts[2])) as AnchorReceipt;
    const other = generateKeyPairSync('ed25519').publicKey;
    assert.equal(verifyAnchorReceipt(r, other).ok, false, 'another key');
    assert.equal(verifyAnchorReceipt({ ...r, size: 3 }, publicKeyPem).ok, false, 'receipt edited');
    assert.equal(verifyAnchorReceipt({ ...r, rootHash: receipts[1].rootHash }, publicKeyPem).ok, false, 'root swapped');
    const proof = r.proof as EmbeddedAnchorProof;
    const forgedEntry = { ...proof.entry, size: 3 };
    const forged = { ...r, size: 3, txId: computeEntryHash(forgedEntry), proof: { ...proof, entry: forgedEntry, entryHash: computeEntryHash(forgedEntry) } };
    assert.match(String((verifyAnchorReceipt(forged, publicKeyPem) as { reason: string }).reason), /signature|note/);
    assert.equal(verifyAnchorReceipt({ ...r, proof: undefined }, publicKeyPem).ok, false, 'no proof');
  });
});

describe('EmbeddedAnchor: every tamper kind is detected', () => {
  const pristine = join(root, 'pristine');
  let receipts: AnchorReceipt[] = [];
  let publicKey = '';

  before(async () => {
    const anchor = await EmbeddedAnchor.open({ dir: pristine });
    receipts = [];
    for (let size = 1; size <= 6; size++) receipts.push(await anchor.anchor(checkpoint('audit', size * 10)));
    publicKey = anchor.publicKeyPem;
    await anchor.close();
  });

  let copies = 0;
  function copy(): string {
    const dir = join(root, `tampered-${copies++}`);
    cpSync(pristine, dir, { recursive: true });
    return dir;
  }
  async function verdictOf(dir: string, heads = receipts.map((r) => receiptHead(r)!)) {
    const { entries, malformed } = await readAnchorChain(dir);
    assert.deepEqual(malformed, []);
    return verifyAnchorChain(entries, publicKey, { heads });
  }
  async function refusesToOpen(dir: string): Promise<void> {
    await assert.rejects(EmbeddedAnchor.open({ dir }), AnchorChainCorruptError);
  }

  it('the untouched chain verifies against every receipt', async () => {
    assert.deepEqual((await verdictOf(pristine)).problems, []);
  });

  it('an entry whose root was edited in the file', async () => {
    const dir = copy();
    const ls = lines(dir);
    const other = Buffer.from(checkpoint('audit', 30, 'forged').rootHash).toString('base64');
    ls[2] = ls[2].replaceAll(receipts[2].rootHash, other);
    writeLines(dir, ls);
    const v = await verdictOf(dir);
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => p.kind === 'hash' && p.index === 2), JSON.stringify(v.problems));
    assert.ok(kinds(v.problems).has('head'), 'no longer the entry the receipt names');
    await refusesToOpen(dir);
  });

  it('an edited entry whose hashes were recomputed down the chain (no key to sign)', async () => {
    const dir = copy();
    const { entries } = await readAnchorChain(dir);
    const other = Buffer.from(checkpoint('audit', 30, 'forged').rootHash).toString('base64');
    let prev = entries[1].entryHash;
    const forged = entries.map((s, i) => {
      if (i < 2) return s;
      const entry = { ...s.entry, prevEntryHash: prev };
      if (i === 2) Object.assign(entry, { rootHash: other, note: s.entry.note.replace(s.entry.rootHash, other) });
      prev = computeEntryHash(entry);
      return { ...s, entry, entryHash: prev };
    });
    writeLines(dir, forged.map(serializeSignedEntry));
    const v = await verdictOf(dir);
    assert.deepEqual([...new Set(v.problems.filter((p) => p.kind === 'signature').map((p) => p.index))], [2, 3, 4, 5]);
    assert.ok(!kinds(v.problems).has('hash') && !kinds(v.problems).has('link'), 'hashes and links were made consistent');
    const { entries: copied } = await readAnchorChain(dir);
    const lastOnly = verifyAnchorChain(copied, publicKey, { signatures: 'last' });
    assert.deepEqual(lastOnly.problems.map((p) => [p.kind, p.index]), [['signature', 5]], 'the last signature commits to the whole chain');
    await refusesToOpen(dir);
  });

  it('a deleted entry', async () => {
    const dir = copy();
    const ls = lines(dir);
    ls.splice(3, 1);
    writeLines(dir, ls);
    const v = await verdictOf(dir);
    assert.ok(v.problems.some((p) => p.kind === 'sequence' && p.index === 3));
    assert.ok(v.problems.some((p) => p.kind === 'link' && p.index === 3));
    await refusesToOpen(dir);
  });

  it('two entries swapped', async () => {
    const dir = copy();
    const ls = lines(dir);
    [ls[1], ls[2]] = [ls[2], ls[1]];
    writeLines(dir, ls);
    const v = await verdictOf(dir);
    const k = kinds(v.problems);
    assert.ok(k.has('sequence') && k.has('link') && k.has('order'), JSON.stringify(v.problems));
    await refusesToOpen(dir);
  });

  it('a truncated chain: well formed on its own, caught against a receipt for a cut entry', async () => {
    const dir = copy();
    writeLines(dir, lines(dir).slice(0, 4));
    assert.equal((await verdictOf(dir, [])).ok, true, 'truncation alone leaves a valid shorter chain');
    const v = await verdictOf(dir, [receiptHead(receipts[5])!]);
    assert.deepEqual([...kinds(v.problems)], ['truncated']);
    const reopened = await EmbeddedAnchor.open({ dir });
    assert.equal(reopened.head().length, 4);
    await reopened.close();
  });

  it('a chain re-signed with another key', async () => {
    const dir = copy();
    const { entries } = await readAnchorChain(dir);
    const attacker: KeyObject = generateKeyPairSync('ed25519').privateKey;
    writeLines(dir, entries.map((s) => serializeSignedEntry(signAnchorEntry(s.entry, attacker))));
    const v = await verdictOf(dir);
    assert.deepEqual([...kinds(v.problems)], ['signature']);
    assert.equal(v.problems.length, entries.length);
    await refusesToOpen(dir);
  });

  it('a chain rewritten with the key after a receipt was handed out', async () => {
    const dir = copy();
    const anchor = await EmbeddedAnchor.open({ dir });
    await anchor.close();
    // Someone holding the key rebuilds the chain from entry 3 on, with another root there.
    const { entries } = await readAnchorChain(dir);
    const { createPrivateKey } = await import('node:crypto');
    const key = createPrivateKey(readFileSync(join(dir, ANCHOR_KEY_FILE), 'utf8'));
    const other = Buffer.from(checkpoint('audit', 40, 'forged').rootHash).toString('base64');
    const rebuilt: SignedAnchorEntry[] = entries.slice(0, 3);
    for (const s of entries.slice(3)) {
      const entry = { ...s.entry, prevEntryHash: rebuilt[rebuilt.length - 1].entryHash };
      if (s.entry.sequence === 3) Object.assign(entry, { rootHash: other, note: s.entry.note.replace(s.entry.rootHash, other) });
      rebuilt.push(signAnchorEntry(entry, key));
    }
    writeLines(dir, rebuilt.map(serializeSignedEntry));
    assert.equal((await verdictOf(dir, [])).ok, true, 'the key holder produced a valid chain');
    const v = await verdictOf(dir, [receiptHead(receipts[4])!]);
    assert.deepEqual(v.problems.map((p) => [p.kind, p.index]), [['head', 4]]);
  });

  it('an unparsable line', async () => {
    const dir = copy();
    const ls = lines(dir);
    ls[1] = ls[1].slice(0, 40);
    writeLines(dir, ls);
    assert.deepEqual(parseAnchorChain(ls.join('\n') + '\n').malformed.map((m) => m.line), [1]);
    await refusesToOpen(dir);
  });

  it('an edit made while the chain is open is reported, not served', async () => {
    const dir = copy();
    const anchor = await EmbeddedAnchor.open({ dir });
    try {
      const ls = lines(dir);
      const other = Buffer.from(checkpoint('audit', 20, 'forged').rootHash).toString('base64');
      ls[1] = ls[1].replaceAll(receipts[1].rootHash, other);
      writeLines(dir, ls);
      await assert.rejects(anchor.covering('audit', 20), AnchorChainCorruptError);
    } finally {
      await anchor.close();
    }
  });
});

describe('EmbeddedAnchor: crash leftovers', () => {
  it('cuts off a torn last line (written, never acknowledged) and appends after it', async () => {
    const dir = join(root, 'torn');
    const anchor = await EmbeddedAnchor.open({ dir });
    const r1 = await anchor.anchor(checkpoint('audit', 1));
    await anchor.close();
    const full = lines(dir)[0];
    appendFileSync(join(dir, ANCHOR_CHAIN_FILE), full.slice(0, 50));
    const reopened = await EmbeddedAnchor.open({ dir });
    try {
      assert.deepEqual(reopened.head(), { length: 1, entryHash: r1.txId });
      const r2 = await reopened.anchor(checkpoint('audit', 2));
      assert.equal(r2.sequence, 1);
    } finally {
      await reopened.close();
    }
    const { entries, malformed } = await readAnchorChain(dir);
    assert.deepEqual(malformed, []);
    assert.equal(verifyAnchorChain(entries, reopened.publicKeyPem).ok, true);
  });

  it('refuses a second open of one directory in a process', async () => {
    const dir = join(root, 'twice');
    const a = await EmbeddedAnchor.open({ dir });
    try {
      await assert.rejects(EmbeddedAnchor.open({ dir }), /already open/);
    } finally {
      await a.close();
    }
  });
});
